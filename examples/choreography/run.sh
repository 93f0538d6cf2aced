#!/usr/bin/env bash
# Runs the choreography example (seed 002): builds `fraiseql` if needed, drops and recreates
# the PostgreSQL database `fraiseql_choreography` from db/orders.sql, starts the four
# workers (inventory, payment, shipping, monitor; Python with nats-py and asyncpg in
# target/venv-choreography, installed on first run), then serves the order service on
# http://localhost:8080/graphql. Ctrl-C stops everything. Extra arguments go to
# `fraiseql run` (e.g. `--port 9000`). CHOREOGRAPHY_DATABASE_URL, NATS_URL and
# CHOREOGRAPHY_STREAM change the database, the NATS server and the stream.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=../prepare.sh
. "$here/../prepare.sh"

export DATABASE_URL="${CHOREOGRAPHY_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/fraiseql_choreography}"
export NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"
export CHOREOGRAPHY_STREAM="${CHOREOGRAPHY_STREAM:-fraiseql_choreography}"

check_urls "$here" "$DATABASE_URL"
bin="$(fraiseql_bin "$root")"
recreate_postgres "$DATABASE_URL" "$here/db/orders.sql"

venv="${CHOREOGRAPHY_VENV:-$root/target/venv-choreography}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import nats, asyncpg, websockets' 2>/dev/null; then
    echo "==> installing the workers' packages into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q -r "$here/workers/requirements.txt"
fi

pids=()
stop() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT TERM

cd "$here"
for worker in inventory payment shipping monitor; do
    "$venv/bin/python" "workers/$worker.py" &
    pids+=($!)
done

port="$(port_of 8080 "$@")"
cat >&2 <<MSG

==> starting the order service on http://localhost:$port/graphql (Ctrl-C to stop). Try:

curl -s http://localhost:$port/graphql -H 'Content-Type: application/json' \\
  -d '{"query":"mutation { createOrder(input: { identifier: \"ord-001\", total: \"49.99\" }) { id status } }"}'

MSG

"$bin" run fraiseql.toml "$@" &
pids+=($!)
wait "${pids[-1]}"
