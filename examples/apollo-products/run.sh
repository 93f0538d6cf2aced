#!/usr/bin/env bash
# Runs the Apollo products subgraph: builds `fraiseql` if needed, drops and recreates its
# PostgreSQL database `fraiseql_apollo_products`, loads db/schema.sql, then serves
# http://localhost:4001/graphql. Extra arguments go to `fraiseql run` (e.g. `--port 9000`).
# The URL can be changed with APOLLO_PRODUCTS_URL.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=../prepare.sh
. "$here/../prepare.sh"

export APOLLO_PRODUCTS_URL="${APOLLO_PRODUCTS_URL:-postgresql://postgres@127.0.0.1:5432/fraiseql_apollo_products}"

check_urls "$here" "$APOLLO_PRODUCTS_URL"
bin="$(fraiseql_bin "$root")"
recreate_postgres "$APOLLO_PRODUCTS_URL" "$here/db/schema.sql"

port="$(port_of 4001 "$@")"
cat >&2 <<MSG

==> starting the products subgraph on http://localhost:$port/graphql (Ctrl-C to stop). Try:

curl -s http://localhost:$port/graphql -H 'Content-Type: application/json' \\
  -d '{"query":"{ _service { sdl } }"}'
curl -s http://localhost:$port/graphql -H 'Content-Type: application/json' \\
  -d '{"query":"query(\$r: [_Any!]!) { _entities(representations: \$r) { ... on User { email name averageProductsCreatedPerYear } } }","variables":{"r":[{"__typename":"User","email":"support@apollographql.com","totalProductsCreated":1337,"yearsOfEmployment":10}]}}'

MSG

cd "$here"
exec "$bin" run fraiseql.toml "$@"
