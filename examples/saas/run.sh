#!/usr/bin/env bash
# Runs the multi-tenant SaaS example (seed 000): builds `fraiseql` if needed, recreates the
# shared analytics database (PostgreSQL `fraiseql_saas_shared`) and the databases of the
# tenants `acme_corp` and `global_corp` (`fraiseql tenant create`: database and role
# `fraiseql_saas_<tenant>`, db/tenant.sql, the events outbox), then serves
# http://localhost:8080/graphql with NATS at $NATS_URL (default nats://127.0.0.1:4222).
# Extra arguments go to `fraiseql run` (e.g. `--port 9000`). SAAS_TENANTS (space-separated)
# names other tenants to create; SAAS_SHARED_URL, SAAS_TENANT_URL and SAAS_ADMIN_URL change
# where the databases are.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=../prepare.sh
. "$here/../prepare.sh"

export SAAS_SHARED_URL="${SAAS_SHARED_URL:-postgresql://postgres@127.0.0.1:5432/fraiseql_saas_shared}"
export SAAS_ADMIN_URL="${SAAS_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
tenants="${SAAS_TENANTS:-acme_corp global_corp}"

check_urls "$here" "$SAAS_SHARED_URL"
bin="$(fraiseql_bin "$root")"
recreate_postgres "$SAAS_SHARED_URL" "$here/db/shared.sql"

cd "$here"
existing="$("$bin" tenant list --config fraiseql.toml --admin-url "$SAAS_ADMIN_URL")"
for tenant in $tenants; do
    if printf '%s\n' "$existing" | grep -qx -- "$tenant"; then
        "$bin" tenant drop "$tenant" --yes --config fraiseql.toml --admin-url "$SAAS_ADMIN_URL" >&2
    fi
    "$bin" tenant create "$tenant" --sql db/tenant.sql --config fraiseql.toml \
        --admin-url "$SAAS_ADMIN_URL" >&2
done

port="$(port_of 8080 "$@")"
cat >&2 <<MSG

==> starting fraiseql on http://localhost:$port/graphql (Ctrl-C to stop). Try:

curl -s http://localhost:$port/graphql -H 'Content-Type: application/json' -H 'X-Tenant-ID: acme_corp' \\
  -d '{"query":"mutation { createOrganization(name: \"Acme Corp\") { id name subscriptionTier } }"}'

MSG

exec "$bin" run fraiseql.toml "$@"
