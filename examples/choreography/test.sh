#!/usr/bin/env bash
# The choreography example end to end, as its README runs it: run.sh on a free port (the
# database fraiseql_choreography recreated, the four workers, the order service), then the
# pytest suite in tests/ against it. The example's JetStream stream is deleted before and
# after (a previous run's consumers would carry its state). Needs PostgreSQL and NATS with
# JetStream (scripts/test.sh starts them); fails when either is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${CHOREOGRAPHY_VENV:-$root/target/venv-choreography}"
export NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"
export CHOREOGRAPHY_STREAM="${CHOREOGRAPHY_STREAM:-fraiseql_choreography}"
export DATABASE_URL="${CHOREOGRAPHY_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/fraiseql_choreography}"
export CHOREOGRAPHY_DATABASE_URL="$DATABASE_URL"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import nats, asyncpg, pytest, websockets' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q -r "$here/workers/requirements.txt" -r "$here/tests/requirements.txt"
fi

delete_stream() {
    "$venv/bin/python" - <<'PY'
import asyncio, os, nats
async def main():
    nc = await nats.connect(os.environ["NATS_URL"], connect_timeout=5, max_reconnect_attempts=1)
    try:
        await nc.jetstream().delete_stream(os.environ["CHOREOGRAPHY_STREAM"])
    except nats.js.errors.NotFoundError:
        pass
    await nc.close()
asyncio.run(main())
PY
}
delete_stream

port="$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
log="$(mktemp)"
bash "$here/run.sh" --port "$port" >"$log" 2>&1 &
runner=$!
finish() {
    kill "$runner" 2>/dev/null || true
    wait "$runner" 2>/dev/null || true
    delete_stream || true
    rm -f "$log"
}
trap finish EXIT

for _ in $(seq 1 600); do
    if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/health/ready', timeout=1)" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$runner" 2>/dev/null; then
        echo "the example stopped during start-up:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.1
done

CHOREOGRAPHY_URL="http://127.0.0.1:$port" "$venv/bin/python" -m pytest -q "$here/tests" || {
    echo "--- the example's output:" >&2
    cat "$log" >&2
    exit 1
}
