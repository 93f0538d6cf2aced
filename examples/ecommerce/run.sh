#!/usr/bin/env bash
# Runs the e-commerce example: builds `fraiseql` if needed, drops and recreates its three
# databases (PostgreSQL `fraiseql_ecommerce`, MariaDB `fraiseql_ecommerce_inventory`, SQLite
# data/fraiseql_ecommerce_payments.db), loads db/*.sql, then serves
# http://localhost:8080/graphql. Extra arguments go to `fraiseql run` (e.g. `--port 9000`).
# The URLs can be changed with ECOMMERCE_PRIMARY_URL, ECOMMERCE_INVENTORY_URL and
# ECOMMERCE_PAYMENTS_URL.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=../prepare.sh
. "$here/../prepare.sh"

export ECOMMERCE_PRIMARY_URL="${ECOMMERCE_PRIMARY_URL:-postgresql://postgres@127.0.0.1:5432/fraiseql_ecommerce}"
export ECOMMERCE_INVENTORY_URL="${ECOMMERCE_INVENTORY_URL:-mysql://root@127.0.0.1:3306/fraiseql_ecommerce_inventory}"
export ECOMMERCE_PAYMENTS_URL="${ECOMMERCE_PAYMENTS_URL:-sqlite://./data/fraiseql_ecommerce_payments.db}"

check_urls "$here" "$ECOMMERCE_PRIMARY_URL" "$ECOMMERCE_INVENTORY_URL" "$ECOMMERCE_PAYMENTS_URL"
bin="$(fraiseql_bin "$root")"
recreate_postgres "$ECOMMERCE_PRIMARY_URL" "$here/db/primary.sql"
recreate_mariadb "$ECOMMERCE_INVENTORY_URL" "$here/db/inventory.sql"
recreate_sqlite "$ECOMMERCE_PAYMENTS_URL" "$here" "$here/db/payments.sql"

port="$(port_of 8080 "$@")"
cat >&2 <<MSG

==> starting fraiseql on http://localhost:$port/graphql (Ctrl-C to stop). Try:

curl -s http://localhost:$port/graphql -H 'Content-Type: application/json' \\
  -d '{"query":"{ order(id: \"550e8400-e29b-41d4-a716-446655440000\") { identifier status customer { name paymentMethods { type isDefault } } items { quantity product { sku } } payment { status } } }"}'

MSG

cd "$here"
exec "$bin" run fraiseql.toml "$@"
