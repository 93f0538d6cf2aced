#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine. In order: the checks that keep main clean
# (rustfmt, clippy with warnings as errors, rustdoc with warnings as errors), then makes sure
# PostgreSQL, MariaDB and NATS (JetStream) are installed (apt) and answering, builds once,
# runs the Rust tests, then the Python SDK tests (in a venv at target/venv) against the built
# binary, then GraphiQL in headless Chromium (apt `chromium`, npm packages under
# tests/browser), then the WebSocket tests (npm packages under tests/ws). Tests never skip a
# missing service: they fail.
#
# PostgreSQL (FRAISEQL_TEST_PG_URL) and MariaDB (FRAISEQL_TEST_MYSQL_URL) are what the Rust and
# spec tests use; NATS (FRAISEQL_TEST_NATS_URL) is started and exported for the event tests as
# they land. SQLite is embedded. The TLS tests start private PostgreSQL and MariaDB servers of
# their own from the same packages.
set -euo pipefail
cd "$(dirname "$0")/.."

section() { printf '\n==== %s ====\n' "$*"; }

# Fast checks first, so a formatting slip or a new warning fails in minutes, not after the
# long tests.
section "format, lints, docs"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

need_install=()
command -v pg_ctlcluster >/dev/null 2>&1 || need_install+=(postgresql)
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need_install+=(mariadb-server)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need_install+=(nats-server)
# `python3 -m venv` needs Debian's python3-venv (ensurepip) for the SDK tests.
python3 -c 'import ensurepip' >/dev/null 2>&1 || need_install+=(python3-venv)
if [ ${#need_install[@]} -gt 0 ]; then
  section "installing ${need_install[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q "${need_install[@]}"
fi

wait_for() { # name, check command
  local name=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "ERROR: $name did not come up within 60 s" >&2
  exit 1
}
pg_up() { pg_isready -h 127.0.0.1 -p 5432; }
mariadb_up() { mariadb -uroot -e 'select 1'; }
nats_up() { (exec 3<>/dev/tcp/127.0.0.1/4222) ; }

section "services"
if ! pg_up >/dev/null 2>&1; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
wait_for PostgreSQL pg_up
if ! psql -h 127.0.0.1 -U postgres -d postgres -c 'select 1' >/dev/null 2>&1; then
  # A fresh install uses peer/scram auth; the tests use trust on loopback.
  hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -n1)
  # Every local/host line (any database, any user: Debian's first line is `local all
  # postgres peer`), keeping the columns and changing only the method.
  sed -i -E 's/^(local|host)(\s.*\s)(peer|ident|scram-sha-256|md5|password)\s*$/\1\2trust/' "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main reload
  wait_for "PostgreSQL trust auth" psql -h 127.0.0.1 -U postgres -d postgres -c 'select 1'
fi
if ! mariadb_up >/dev/null 2>&1; then
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
wait_for MariaDB mariadb_up
if ! mariadb -uroot -h127.0.0.1 -P3306 -e 'select 1' >/dev/null 2>&1; then
  # A fresh install lets root in through the unix socket only; the tests connect over TCP
  # as root without a password (mysql://root@127.0.0.1:3306), like PostgreSQL's trust.
  mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
    CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
    GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; FLUSH PRIVILEGES;"
  wait_for "MariaDB root over TCP" mariadb -uroot -h127.0.0.1 -P3306 -e 'select 1'
fi
if ! nats_up 2>/dev/null; then
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log || true
fi
wait_for NATS nats_up
echo "PostgreSQL, MariaDB and NATS are up"

export FRAISEQL_TEST_PG_URL=${FRAISEQL_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
export FRAISEQL_TEST_MYSQL_URL=${FRAISEQL_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306}
export FRAISEQL_TEST_NATS_URL=${FRAISEQL_TEST_NATS_URL:-nats://127.0.0.1:4222}

section "build"
cargo build --workspace --all-targets

section "rust tests"
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo test --workspace --doc --quiet
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace
fi

if [ -d sdk/python ]; then
  section "python sdk tests"
  python3 -m venv target/venv
  target/venv/bin/pip install -q -e "sdk/python[test]"
  # Unit tests and the integration tests that drive target/debug/fraiseql (compile, sdl, a
  # real server over SQLite).
  FRAISEQL_BIN="$PWD/target/debug/fraiseql" target/venv/bin/python -m pytest -q sdk/python/tests
fi

section "choreography example (seed 002: order service, four Python workers, NATS)"
# run.sh as its README runs it, then its pytest suite (examples/choreography/tests).
FRAISEQL_BIN="$PWD/target/debug/fraiseql" bash examples/choreography/test.sh

section "SaaS example (seed 000: a database per tenant, shared analytics, NATS)"
# run.sh, its README walkthrough, then the seed's pytest suite through FraiseQLTestClient.
FRAISEQL_BIN="$PWD/target/debug/fraiseql" bash examples/saas/test.sh

section "browser test (GraphiQL in headless Chromium)"
# GraphiQL served by target/debug/fraiseql, driven by Playwright in Debian's Chromium with
# every request outside the server blocked (see tests/browser/README.md).
if [ ! -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q chromium
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1 \
    || ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  echo "ERROR: the browser test needs Node.js 20 or newer with npm (playwright-core requires it)" >&2
  exit 1
fi
npm ci --prefix tests/browser --no-audit --no-fund --quiet
FRAISEQL_BIN=target/debug/fraiseql node tests/browser/graphiql.test.mjs

section "Apollo Federation (Apollo's subgraph compatibility suite; @apollo/gateway over fraiseql subgraphs)"
# Apollo's subgraph compatibility suite against examples/apollo-products (its run.sh, on
# PostgreSQL) composed with the suite's users and inventory subgraphs, and Apollo's gateway
# over two fraiseql subgraphs on their own databases (see tests/apollo/README.md).
# --ignore-scripts: the suite's package depends on @apollo/rover, whose install script
# downloads a binary from GitHub; nothing here uses it.
npm ci --prefix tests/apollo --no-audit --no-fund --quiet --ignore-scripts
FRAISEQL_BIN=target/debug/fraiseql node --test --test-concurrency=1 tests/apollo/

section "WebSocket tests (graphql-ws client and raw frames)"
# Subscriptions, queries and mutations over WebSocket against the quickstart, with the
# graphql-ws npm client and frames written by hand (see tests/ws/README.md).
npm ci --prefix tests/ws --no-audit --no-fund --quiet
FRAISEQL_BIN=target/debug/fraiseql node --test tests/ws/
