-- Benchmark schema for PostgreSQL: customers, orders and order items, in the quickstart's
-- conventions (tests/spec/fixtures/postgres.sql): `pk_*` integer keys for joins, `id` the
-- public UUID, `fk_*` references; views `v_*` whose `data` jsonb column is one entity with
-- snake_case keys; decimals as strings with two places, timestamps as ISO-8601 UTC strings.
--
-- Loaded into a fresh `fraiseql_bench` database by bench/harness/dataset.py, which then fills
-- the tables and runs postgres_indexes.sql: foreign keys and secondary indexes come after
-- the bulk load (faster).

CREATE TABLE tb_customer (
    pk_customer bigint PRIMARY KEY,
    id          uuid NOT NULL,
    name        text NOT NULL,
    email       text NOT NULL,
    tier        text NOT NULL CHECK (tier IN ('free', 'pro')),
    street      text NOT NULL,
    city        text NOT NULL,
    postal_code text NOT NULL,
    country     text NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE tb_order (
    pk_order         bigint PRIMARY KEY,
    id               uuid NOT NULL,
    identifier       text NOT NULL,
    fk_customer      bigint NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled')),
    total            numeric(12, 2) NOT NULL,
    paid             boolean NOT NULL,
    note             text,
    ship_street      text NOT NULL,
    ship_city        text NOT NULL,
    ship_postal_code text NOT NULL,
    ship_country     text NOT NULL,
    created_at       timestamptz NOT NULL
);

CREATE TABLE tb_order_item (
    pk_order_item bigint PRIMARY KEY,
    id            uuid NOT NULL,
    fk_order      bigint NOT NULL,
    position      integer NOT NULL,
    sku           text NOT NULL,
    name          text NOT NULL,
    quantity      integer NOT NULL CHECK (quantity > 0),
    unit_price    numeric(10, 2) NOT NULL
);

-- One row per customer, with the postal address as a nested object.
CREATE VIEW v_customer AS
SELECT
    c.id AS id,
    jsonb_build_object(
        'id', c.id,
        'name', c.name,
        'email', c.email,
        'tier', c.tier,
        'created_at', to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'address', jsonb_build_object(
            'street', c.street,
            'city', c.city,
            'postal_code', c.postal_code,
            'country', c.country
        )
    ) AS data
FROM tb_customer c;

-- One row per order. The columns next to `data` let FraiseQL filter on the table's own
-- columns (and so use their indexes): `id` (W2), `customer_id` (relations), `status` and
-- `total` (W4). Items and the customer are separate views reached through @relation.
CREATE VIEW v_order AS
SELECT
    o.id AS id,
    c.id AS customer_id,
    o.status AS status,
    o.total AS total,
    o.created_at AS created_at,
    jsonb_build_object(
        'id', o.id,
        'identifier', o.identifier,
        'status', o.status,
        'total', o.total::text,
        'paid', o.paid,
        'created_at', to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'customer_id', c.id,
        'note', o.note,
        'shipping_address', jsonb_build_object(
            'street', o.ship_street,
            'city', o.ship_city,
            'postal_code', o.ship_postal_code,
            'country', o.ship_country
        )
    ) AS data
FROM tb_order o
JOIN tb_customer c ON c.pk_customer = o.fk_customer;

-- One row per order line; `order_id` is the column the `Order.items` relation filters on.
CREATE VIEW v_order_item AS
SELECT
    i.id AS id,
    o.id AS order_id,
    jsonb_build_object(
        'id', i.id,
        'order_id', o.id,
        'position', i.position,
        'sku', i.sku,
        'name', i.name,
        'quantity', i.quantity,
        'unit_price', i.unit_price::text
    ) AS data
FROM tb_order_item i
JOIN tb_order o ON o.pk_order = i.fk_order;

-- The result of every mutation function (FraiseQL's contract).
CREATE TYPE mutation_response AS (
    status         text,
    message        text,
    entity_id      text,
    entity_type    text,
    entity         jsonb,
    updated_fields text[],
    cascade        jsonb,
    metadata       jsonb
);

-- W5. p_status is the stored (lowercase) value. Same checks as the spec fixture's function.
CREATE FUNCTION fn_update_order_status(p_id uuid, p_status text) RETURNS mutation_response
LANGUAGE plpgsql AS $$
DECLARE
    r mutation_response;
BEGIN
    r.entity_type := 'Order';
    IF p_status IS NULL OR p_status NOT IN ('pending', 'paid', 'shipped', 'cancelled') THEN
        r.status := 'failed:validation';
        r.message := 'unknown order status';
        RETURN r;
    END IF;
    -- Paying or shipping an order marks it paid; nothing marks it unpaid.
    UPDATE tb_order
    SET status = p_status,
        paid = paid OR p_status IN ('paid', 'shipped')
    WHERE id = p_id;
    IF NOT FOUND THEN
        r.status := 'failed:not_found';
        r.message := 'order does not exist';
        RETURN r;
    END IF;
    r.status := 'success';
    r.message := 'order status updated';
    r.entity_id := p_id::text;
    RETURN r;
END
$$;

-- For the PostGraphile peer only: the same function, then the updated row, so that its W5
-- does the work FraiseQL's does (call + read-back) and returns the order's fields.
CREATE FUNCTION pgl_update_order_status(p_id uuid, p_status text) RETURNS tb_order
LANGUAGE plpgsql AS $$
DECLARE
    r mutation_response;
    o tb_order;
BEGIN
    r := fn_update_order_status(p_id, p_status);
    IF r.status <> 'success' THEN
        RAISE EXCEPTION '%', r.message;
    END IF;
    SELECT * INTO o FROM tb_order WHERE id = p_id;
    RETURN o;
END
$$;
