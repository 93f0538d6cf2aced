#!/usr/bin/env bash
# The load benchmark in one command (see bench/README.md):
#
#   bash bench/run.sh            # full run: ~1M items, W1-W5 at 1/16/64 connections, 10 s each
#   bash bench/run.sh --quick    # smoke test: small data, 3 s per point, report in target/bench/quick/
#   bash bench/run.sh --compare-mariadb   # FraiseQL on PostgreSQL beside FraiseQL on MariaDB
#   bash bench/run.sh --federation        # W6: a relation into a second database (PostgreSQL, MariaDB)
#   bash bench/run.sh --events            # observers off vs on, commit-to-JetStream latency (NATS)
#   bash bench/run.sh --subscriptions     # 1 vs 1,000 WebSocket subscribers: commit-to-client latency, memory
#   bash bench/run.sh --auth              # W1/W2 with [auth] (HS256 + claims prelude) vs without
#   bash bench/run.sh --tenancy           # W1/W2 with row-level security vs without; 1,000 tenant DBs
#   bash bench/run.sh --apollo            # Apollo subgraph: _entities vs a list query by ids; @requires
#   bash bench/run.sh --help     # every flag
#
# On a fresh Debian machine it installs what it needs: PostgreSQL (started, trust auth on
# loopback, as scripts/test.sh does), wrk, Node.js + PostGraphile (unless --skip-peer,
# --compare-mariadb or --federation), MariaDB (with --compare-mariadb or --federation; root
# over TCP without a password, as scripts/test.sh does),
# matplotlib in target/bench-venv (for the chart; with --events and --subscriptions also nats-py, which only
# bench/harness/events.py imports; NATS itself, JetStream enabled, is expected running at
# --nats-url / BENCH_NATS_URL, default nats://127.0.0.1:4222), and builds the release binary into its own
# target dir (target/bench) so it never waits on the test build. FRAISEQL_BIN=/path/to/fraiseql
# uses that binary instead of building. Then it runs bench/harness (Python 3 standard library).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

say() { printf '[bench] %s\n' "$*" >&2; }

peer=1
report_only=0
maria=0
events=0
subs=0
for arg in "$@"; do
  case "$arg" in
    --skip-peer) peer=0 ;;
    --events) events=1; peer=0 ;;
    --subscriptions) events=1; subs=1; peer=0 ;;
    --auth|--tenancy|--apollo) peer=0 ;;
    --compare-mariadb|--federation) maria=1; peer=0 ;;
    --report-only) report_only=1 ;;
    -h|--help) cd "$here" && exec python3 -m harness --help ;;
  esac
done

# --- system packages -------------------------------------------------------------------
# (--report-only measures nothing: it needs only Python, and matplotlib for the chart.)
need=()
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
command -v pgbench >/dev/null 2>&1 || need+=(postgresql-contrib)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v python3 >/dev/null 2>&1 || need+=(python3 python3-venv)
if [ "$maria" = 1 ]; then
  command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
  command -v mariadb >/dev/null 2>&1 || need+=(mariadb-client)
fi
if [ "$peer" = 1 ]; then
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
fi
if [ "$report_only" = 1 ]; then
  need=()
  command -v python3 >/dev/null 2>&1 || need+=(python3 python3-venv)
fi
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q "${need[@]}"
fi

# --- PostgreSQL up, trust auth on loopback (the same steps as scripts/test.sh) ------------
pg_up() { pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; }
if [ "$report_only" = 0 ] && ! pg_up; then
  say "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 60); do pg_up && break; sleep 1; done
  pg_up || { say "PostgreSQL did not come up"; exit 1; }
fi
if [ "$report_only" = 0 ] && ! psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
  say "switching PostgreSQL to trust auth on loopback"
  hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -n1)
  sed -i -E 's/^(local|host)(\s.*\s)(peer|ident|scram-sha-256|md5|password)\s*$/\1\2trust/' "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main reload
  sleep 1
fi

# --- MariaDB up, root over TCP without a password (the same steps as scripts/test.sh) ----
# (Only with --compare-mariadb or --federation; BENCH_MARIADB_URL or --mariadb-url point elsewhere.)
mariadb_up() { mariadb -uroot -e 'select 1' >/dev/null 2>&1; }
if [ "$report_only" = 0 ] && [ "$maria" = 1 ]; then
  if ! mariadb_up; then
    say "starting MariaDB"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
    for _ in $(seq 1 60); do mariadb_up && break; sleep 1; done
    mariadb_up || { say "MariaDB did not come up"; exit 1; }
  fi
  if ! mariadb -uroot -h127.0.0.1 -P3306 -e 'select 1' >/dev/null 2>&1; then
    say "letting root in over TCP without a password"
    mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
      CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
      GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; FLUSH PRIVILEGES;"
  fi
fi

# --- PostGraphile (pinned), into target/bench-tools/node --------------------------------
node_dir="$root/target/bench-tools/node"
if [ "$report_only" = 0 ] && [ "$peer" = 1 ] && [ ! -x "$node_dir/node_modules/.bin/postgraphile" ]; then
  say "installing PostGraphile into $node_dir"
  mkdir -p "$node_dir"
  [ -f "$node_dir/package.json" ] || echo '{"private": true}' > "$node_dir/package.json"
  (cd "$node_dir" && npm install --no-audit --no-fund --loglevel=error \
      postgraphile@4.14.1 postgraphile-plugin-connection-filter@2.3.0)
fi

# --- the WebSocket client of --subscriptions (ws, pinned by its package-lock.json) ---------
if [ "$report_only" = 0 ] && [ "$subs" = 1 ]; then
  command -v node >/dev/null 2>&1 || { say "--subscriptions needs Node.js 20+ with npm"; exit 1; }
  npm ci --prefix "$here/subscriptions" --no-audit --no-fund --loglevel=error
fi

# --- Python with matplotlib (the chart; the harness itself needs only the stdlib) -------
venv="$root/target/bench-venv"
python=python3
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" 2>/dev/null || say "cannot create $venv; running without matplotlib (no chart)"
fi
if [ -x "$venv/bin/python" ]; then
  python="$venv/bin/python"
  if ! "$python" -c 'import matplotlib' >/dev/null 2>&1; then
    say "installing matplotlib into $venv"
    "$venv/bin/pip" install -q matplotlib || say "matplotlib not installed: no chart"
  fi
  if [ "$events" = 1 ] && ! "$python" -c 'import nats' >/dev/null 2>&1; then
    say "installing nats-py into $venv (--events)"
    "$venv/bin/pip" install -q nats-py || { say "nats-py not installed: --events cannot run"; exit 1; }
  fi
elif [ "$events" = 1 ] && [ "$report_only" = 0 ] && ! python3 -c 'import nats' >/dev/null 2>&1; then
  say "--events needs nats-py, in $venv (python3-venv) or the system Python"; exit 1
fi

# --- the binary under test --------------------------------------------------------------
if [ "$report_only" = 0 ] && [ -z "${FRAISEQL_BIN:-}" ]; then
  say "building fraiseql (release, CARGO_TARGET_DIR=target/bench)"
  CARGO_TARGET_DIR="$root/target/bench" cargo build --release -q -p fraiseql
  export FRAISEQL_BIN="$root/target/bench/release/fraiseql"
fi

export BENCH_COMMAND="bash bench/run.sh${*:+ $*}"
cd "$here"
exec "$python" -m harness "$@"
