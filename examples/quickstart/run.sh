#!/usr/bin/env bash
# Runs the quickstart: builds `fraiseql` if needed, creates data/quickstart.db from
# db/schema.sql + db/seed.sql on first run, then serves http://localhost:8080/graphql.
# Extra arguments go to `fraiseql run` (e.g. `--port 9000`). Delete data/ to start over.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
bin="$target/debug/fraiseql"

# Build when the binary is missing or older than any source file.
if [ ! -x "$bin" ] || [ -n "$(find "$root/crates" "$root/Cargo.toml" "$root/Cargo.lock" \
        -newer "$bin" -type f -print -quit 2>/dev/null)" ]; then
    echo "==> building fraiseql (cargo build -p fraiseql)" >&2
    (cd "$root" && cargo build -p fraiseql)
fi

# Create the database on first run. No sqlite3 CLI needed: Python's built-in sqlite3 module
# loads the SQL (the sqlite3 CLI is used only when Python 3 is missing).
db="$here/data/quickstart.db"
if [ ! -f "$db" ]; then
    echo "==> creating $db from db/schema.sql and db/seed.sql" >&2
    mkdir -p "$here/data"
    tmp="$db.tmp.$$"
    rm -f "$tmp"
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$tmp" "$here/db/schema.sql" "$here/db/seed.sql" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
for path in sys.argv[2:]:
    with open(path, encoding="utf-8") as f:
        con.executescript(f.read())
con.commit()
con.close()
PY
    elif command -v sqlite3 >/dev/null 2>&1; then
        cat "$here/db/schema.sql" "$here/db/seed.sql" | sqlite3 "$tmp"
    else
        echo "error: creating the database needs python3 (or the sqlite3 CLI)" >&2
        exit 1
    fi
    mv "$tmp" "$db"
fi

port=8080
prev=""
for arg in "$@"; do
    case "$arg" in --port=*) port="${arg#--port=}" ;; esac
    if [ "$prev" = "--port" ]; then port="$arg"; fi
    prev="$arg"
done

cat >&2 <<MSG

==> starting fraiseql on http://localhost:$port/graphql (Ctrl-C to stop). Try:

curl -s http://localhost:$port/graphql -H 'Content-Type: application/json' \\
  -d '{"query":"{ orders(limit: 3, orderBy: [{identifier: ASC}]) { identifier status total customer { name } items { sku quantity } } }"}'

MSG

cd "$here"
exec "$bin" run fraiseql.toml "$@"
