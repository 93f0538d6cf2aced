# Sourced by the run.sh of the multi-database examples (federation, ecommerce): finds or
# builds `fraiseql`, and drops, recreates and loads an example's databases from their URLs.
# Not meant to be run on its own.
#
# Every database it is given is DROPPED first. To make that hard to do by mistake, it only
# touches databases whose name starts with `fraiseql_` (SQLite: files whose name does).

# The `fraiseql` binary: $FRAISEQL_BIN when set (the tests pass the binary cargo built),
# else target/debug/fraiseql, built first when it is missing or older than any source file.
fraiseql_bin() {
    local root="$1"
    if [ -n "${FRAISEQL_BIN:-}" ]; then
        # A relative path is the caller's: the examples `cd` before they run it.
        case "$FRAISEQL_BIN" in
            /*) printf '%s\n' "$FRAISEQL_BIN" ;;
            */*) printf '%s\n' "$PWD/$FRAISEQL_BIN" ;;
            *) printf '%s\n' "$FRAISEQL_BIN" ;;
        esac
        return
    fi
    local target="${CARGO_TARGET_DIR:-$root/target}"
    case "$target" in /*) ;; *) target="$root/$target" ;; esac
    local bin="$target/debug/fraiseql"
    if [ ! -x "$bin" ] || [ -n "$(find "$root/crates" "$root/Cargo.toml" "$root/Cargo.lock" \
            -newer "$bin" -type f -print -quit 2>/dev/null)" ]; then
        echo "==> building fraiseql (cargo build -p fraiseql)" >&2
        (cd "$root" && cargo build -p fraiseql >&2)
    fi
    printf '%s\n' "$bin"
}

# The port among `fraiseql run` arguments (`--port N` or `--port=N`), else $1.
port_of() {
    local port="$1" prev="" arg
    shift
    for arg in "$@"; do
        case "$arg" in --port=*) port="${arg#--port=}" ;; esac
        if [ "$prev" = "--port" ]; then port="$arg"; fi
        prev="$arg"
    done
    printf '%s\n' "$port"
}

# Refuses a database name that this script must not drop.
guard_name() {
    case "$1" in
        fraiseql_*) ;;
        *)
            echo "error: refusing to drop and recreate '$1': example databases must be named fraiseql_*" >&2
            exit 1
            ;;
    esac
    case "$1" in
        *[!A-Za-z0-9_]*)
            echo "error: database name '$1' may hold only letters, digits and _" >&2
            exit 1
            ;;
    esac
}

# The parts of a URL, in globals: url_name (the database, or the SQLite file's name without
# `.db`), and url_server, url_params (PostgreSQL), url_user, url_password, url_host,
# url_port (MySQL/MariaDB), url_path (SQLite, relative paths against $2).
parse_url() {
    local url="$1"
    case "$url" in
        postgres://* | postgresql://*)
            if [[ ! "$url" =~ ^(postgres(ql)?://[^/]*)/([^?]+)(\?.*)?$ ]]; then
                echo "error: not a PostgreSQL URL with a database name: $url" >&2
                exit 1
            fi
            url_server="${BASH_REMATCH[1]}" url_name="${BASH_REMATCH[3]}"
            url_params="${BASH_REMATCH[4]}"
            ;;
        mysql://* | mariadb://*)
            if [[ ! "$url" =~ ^(mysql|mariadb)://(([^:@/]*)(:([^@/]*))?@)?([^:/?]+)(:([0-9]+))?/([^?]+)(\?.*)?$ ]]; then
                echo "error: not a MySQL/MariaDB URL with a database name: $url" >&2
                exit 1
            fi
            url_user="${BASH_REMATCH[3]:-root}" url_password="${BASH_REMATCH[5]}"
            url_host="${BASH_REMATCH[6]}" url_port="${BASH_REMATCH[8]:-3306}"
            url_name="${BASH_REMATCH[9]}"
            ;;
        sqlite://*)
            url_path="${url#sqlite://}"
            url_path="${url_path%%\?*}"
            case "$url_path" in /*) ;; *) url_path="$2/$url_path" ;; esac
            url_name="$(basename "$url_path" .db)"
            ;;
        *)
            echo "error: not a postgresql://, mysql:// or sqlite:// URL: $url" >&2
            exit 1
            ;;
    esac
}

# check_urls DIR URL...: every URL must name a database this script may drop. Run before
# any is touched.
check_urls() {
    local dir="$1" url
    shift
    for url in "$@"; do
        parse_url "$url" "$dir"
        guard_name "$url_name"
    done
}

# recreate_postgres URL FILE...: drops and creates the database of URL
# (postgresql://user[:password]@host[:port]/name[?params]) and loads FILEs with psql.
recreate_postgres() {
    local url="$1"
    shift
    parse_url "$url" .
    guard_name "$url_name"
    echo "==> PostgreSQL: recreating $url_name and loading $*" >&2
    # From the maintenance database `postgres` on the same server. Notices (the database
    # did not exist) are not worth showing.
    PGOPTIONS="--client-min-messages=warning" psql "$url_server/postgres$url_params" -q \
        -v ON_ERROR_STOP=1 \
        -c "DROP DATABASE IF EXISTS \"$url_name\" WITH (FORCE)" \
        -c "CREATE DATABASE \"$url_name\"" >/dev/null
    local file
    for file in "$@"; do
        PGOPTIONS="--client-min-messages=warning" psql "$url" -q -v ON_ERROR_STOP=1 \
            -f "$file" >/dev/null
    done
}

# recreate_mariadb URL FILE...: drops and creates the database of URL
# (mysql://user[:password]@host[:port]/name, also mariadb://) with the utf8mb4_nopad_bin
# collation and loads FILEs with the mariadb client (or mysql).
recreate_mariadb() {
    local url="$1"
    shift
    parse_url "$url" .
    guard_name "$url_name"
    local client=mariadb
    command -v mariadb >/dev/null 2>&1 || client=mysql
    # TCP always: the client would take `localhost` for its unix socket, FraiseQL does not.
    local args=(--protocol=TCP -h "$url_host" -P "$url_port" -u "$url_user"
        --default-character-set=utf8mb4)
    echo "==> MariaDB: recreating $url_name and loading $*" >&2
    MYSQL_PWD="$url_password" "$client" "${args[@]}" -e \
        "DROP DATABASE IF EXISTS \`$url_name\`;
         CREATE DATABASE \`$url_name\` CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin"
    local file
    for file in "$@"; do
        MYSQL_PWD="$url_password" "$client" "${args[@]}" "$url_name" <"$file"
    done
}

# recreate_sqlite URL DIR FILE...: deletes and creates the SQLite file of URL
# (sqlite://./relative/to/DIR.db or sqlite:///absolute.db) and loads FILEs, with Python 3's
# built-in sqlite3 module (or the sqlite3 command-line tool).
recreate_sqlite() {
    local url="$1" dir="$2"
    shift 2
    parse_url "$url" "$dir"
    guard_name "$url_name"
    local path="$url_path"
    echo "==> SQLite: recreating $path and loading $*" >&2
    mkdir -p "$(dirname "$path")"
    rm -f "$path" "$path-wal" "$path-shm" "$path-journal"
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$path" "$@" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
for path in sys.argv[2:]:
    with open(path, encoding="utf-8") as f:
        con.executescript(f.read())
con.commit()
con.close()
PY
    elif command -v sqlite3 >/dev/null 2>&1; then
        cat "$@" | sqlite3 "$path"
    else
        echo "error: creating the SQLite database needs python3 (or the sqlite3 CLI)" >&2
        exit 1
    fi
}
