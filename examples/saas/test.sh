#!/usr/bin/env bash
# The SaaS example end to end, as its README runs it: run.sh on a free port (the shared
# database and the tenants acme_corp and global_corp recreated), the README's curl
# walkthrough with its answers checked, the analytics row checked with psql, then the
# seed's pytest suite in tests/ (its own server through FraiseQLTestClient, its own tenants).
# Needs PostgreSQL and NATS with JetStream (scripts/test.sh starts them); fails when either
# is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${SAAS_VENV:-$root/target/venv-saas}"
export NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"
shared="${SAAS_SHARED_URL:-postgresql://postgres@127.0.0.1:5432/fraiseql_saas_shared}"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import nats, pytest_asyncio, fraiseql.testing' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q -r "$here/tests/requirements.txt" -e "$root/sdk/python"
fi
py="$venv/bin/python"

port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
log="$(mktemp)"
bash "$here/run.sh" --port "$port" >"$log" 2>&1 &
runner=$!
finish() {
    kill "$runner" 2>/dev/null || true
    wait "$runner" 2>/dev/null || true
    rm -f "$log"
}
trap finish EXIT
fail() {
    echo "FAIL: $*" >&2
    echo "--- the example's output:" >&2
    cat "$log" >&2
    exit 1
}

for _ in $(seq 1 600); do
    if "$py" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/health/ready', timeout=1)" 2>/dev/null; then
        break
    fi
    kill -0 "$runner" 2>/dev/null || fail "the example stopped during start-up"
    sleep 0.1
done

# POSTs $2 as tenant $1; prints the answer.
ask() {
    curl -s "http://127.0.0.1:$port/graphql" -H 'Content-Type: application/json' \
        -H "X-Tenant-ID: $1" -d "$2"
}
# Reads a value from JSON on stdin with a Python expression over `d`.
pick() { "$py" -c "import json, sys; d = json.load(sys.stdin); print(($1))"; }

echo "==> walkthrough: create an organization as acme_corp" >&2
out="$(ask acme_corp '{"query":"mutation { createOrganization(name: \"Acme Corp\") { id name subscriptionTier } }"}')"
[ "$(printf '%s' "$out" | pick 'd["data"]["createOrganization"]["name"], d["data"]["createOrganization"]["subscriptionTier"]')" = "('Acme Corp', 'free')" ] \
    || fail "createOrganization answered $out"
org="$(printf '%s' "$out" | pick 'd["data"]["createOrganization"]["id"]')"

echo "==> walkthrough: global_corp sees no organization" >&2
out="$(ask global_corp '{"query":"query { organizations { id name } }"}')"
[ "$out" = '{"data":{"organizations":[]}}' ] || fail "global_corp's organizations: $out"

echo "==> walkthrough: create a project as acme_corp" >&2
out="$(ask acme_corp "{\"query\":\"mutation { createProject(orgId: \\\"$org\\\", name: \\\"Project Alpha\\\") { id name taskCount } }\"}")"
[ "$(printf '%s' "$out" | pick 'd["data"]["createProject"]["name"], d["data"]["createProject"]["taskCount"]')" = "('Project Alpha', 0)" ] \
    || fail "createProject answered $out"

echo "==> walkthrough: the event is in the shared analytics table" >&2
row=""
for _ in $(seq 1 100); do
    row="$(psql "$shared" -Atc "SELECT event_type, tenant_id, data->>'project_name' FROM tb_analytics_event WHERE tenant_id = 'acme_corp'")"
    [ -n "$row" ] && break
    sleep 0.1
done
[ "$row" = "analytics.project_created|acme_corp|Project Alpha" ] || fail "tb_analytics_event: '$row'"

echo "==> walkthrough: per-tenant metrics" >&2
curl -s "http://127.0.0.1:$port/metrics" | grep -q 'fraiseql_tenant_requests_total{endpoint="/graphql",tenant_id="acme_corp"}' \
    || fail "no fraiseql_tenant_requests_total for acme_corp in /metrics"

echo "==> the seed's tests (tests/)" >&2
cd "$here"
"$py" -m pytest -q -p no:cacheprovider tests || fail "pytest"
