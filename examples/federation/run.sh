#!/usr/bin/env bash
# Runs the federation example: builds `fraiseql` if needed, drops and recreates its three
# databases (PostgreSQL `fraiseql_federation`, MariaDB `fraiseql_federation_analytics` and
# `fraiseql_federation_legacy`), loads db/*.sql, then serves http://localhost:8080/graphql.
# Extra arguments go to `fraiseql run` (e.g. `--port 9000`). The URLs can be changed with
# FEDERATION_PRIMARY_URL, FEDERATION_ANALYTICS_URL and FEDERATION_LEGACY_URL.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=../prepare.sh
. "$here/../prepare.sh"

export FEDERATION_PRIMARY_URL="${FEDERATION_PRIMARY_URL:-postgresql://postgres@127.0.0.1:5432/fraiseql_federation}"
export FEDERATION_ANALYTICS_URL="${FEDERATION_ANALYTICS_URL:-mysql://root@127.0.0.1:3306/fraiseql_federation_analytics}"
export FEDERATION_LEGACY_URL="${FEDERATION_LEGACY_URL:-mysql://root@127.0.0.1:3306/fraiseql_federation_legacy}"

check_urls "$here" "$FEDERATION_PRIMARY_URL" "$FEDERATION_ANALYTICS_URL" "$FEDERATION_LEGACY_URL"
bin="$(fraiseql_bin "$root")"
recreate_postgres "$FEDERATION_PRIMARY_URL" "$here/db/primary.sql"
recreate_mariadb "$FEDERATION_ANALYTICS_URL" "$here/db/analytics.sql"
recreate_mariadb "$FEDERATION_LEGACY_URL" "$here/db/legacy.sql"

port="$(port_of 8080 "$@")"
cat >&2 <<MSG

==> starting fraiseql on http://localhost:$port/graphql (Ctrl-C to stop). Try:

curl -s http://localhost:$port/graphql -H 'Content-Type: application/json' \\
  -d '{"query":"{ user(id: \"usr_123\") { name email analytics { totalOrders lifetimeValue lastOrderDate } } }"}'

MSG

cd "$here"
exec "$bin" run fraiseql.toml "$@"
