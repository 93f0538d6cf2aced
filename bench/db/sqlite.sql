-- Benchmark schema for SQLite: the same tables, views and JSON as bench/db/postgres.sql, in
-- the quickstart's SQLite conventions (examples/quickstart/db/schema.sql): ids and
-- timestamps are stored as text already formatted, decimals are printed with two places,
-- and the mutation is an INSERT into a view whose INSTEAD OF INSERT trigger does the work.
-- bench/harness/dataset.py fills the tables with the same rows as on PostgreSQL.

CREATE TABLE tb_customer (
    pk_customer INTEGER PRIMARY KEY,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    email       TEXT NOT NULL,
    tier        TEXT NOT NULL CHECK (tier IN ('free', 'pro')),
    street      TEXT NOT NULL,
    city        TEXT NOT NULL,
    postal_code TEXT NOT NULL,
    country     TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE tb_order (
    pk_order         INTEGER PRIMARY KEY,
    id               TEXT NOT NULL,
    identifier       TEXT NOT NULL,
    fk_customer      INTEGER NOT NULL REFERENCES tb_customer (pk_customer),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled')),
    total            NUMERIC NOT NULL,
    paid             INTEGER NOT NULL CHECK (paid IN (0, 1)),
    note             TEXT,
    ship_street      TEXT NOT NULL,
    ship_city        TEXT NOT NULL,
    ship_postal_code TEXT NOT NULL,
    ship_country     TEXT NOT NULL,
    created_at       TEXT NOT NULL
);

CREATE TABLE tb_order_item (
    pk_order_item INTEGER PRIMARY KEY,
    id            TEXT NOT NULL,
    fk_order      INTEGER NOT NULL REFERENCES tb_order (pk_order),
    position      INTEGER NOT NULL,
    sku           TEXT NOT NULL,
    name          TEXT NOT NULL,
    quantity      INTEGER NOT NULL CHECK (quantity > 0),
    unit_price    NUMERIC NOT NULL
);

CREATE VIEW v_customer AS
SELECT
    c.id AS id,
    json_object(
        'id', c.id,
        'name', c.name,
        'email', c.email,
        'tier', c.tier,
        'created_at', c.created_at,
        'address', json_object(
            'street', c.street,
            'city', c.city,
            'postal_code', c.postal_code,
            'country', c.country
        )
    ) AS data
FROM tb_customer c;

CREATE VIEW v_order AS
SELECT
    o.id AS id,
    c.id AS customer_id,
    o.status AS status,
    o.total AS total,
    o.created_at AS created_at,
    json_object(
        'id', o.id,
        'identifier', o.identifier,
        'status', o.status,
        'total', printf('%.2f', o.total),
        'paid', json(CASE WHEN o.paid THEN 'true' ELSE 'false' END),
        'created_at', o.created_at,
        'customer_id', c.id,
        'note', o.note,
        'shipping_address', json_object(
            'street', o.ship_street,
            'city', o.ship_city,
            'postal_code', o.ship_postal_code,
            'country', o.ship_country
        )
    ) AS data
FROM tb_order o
JOIN tb_customer c ON c.pk_customer = o.fk_customer;

CREATE VIEW v_order_item AS
SELECT
    i.id AS id,
    o.id AS order_id,
    json_object(
        'id', i.id,
        'order_id', o.id,
        'position', i.position,
        'sku', i.sku,
        'name', i.name,
        'quantity', i.quantity,
        'unit_price', printf('%.2f', i.unit_price)
    ) AS data
FROM tb_order_item i
JOIN tb_order o ON o.pk_order = i.fk_order;

-- Mutations (see the quickstart): the trigger writes exactly one row here, which the engine
-- takes back in the same transaction.
CREATE TABLE fraiseql_mutation_response (
    status      TEXT NOT NULL,
    message     TEXT,
    entity_id   TEXT,
    entity_type TEXT,
    entity      TEXT,
    metadata    TEXT
);

-- fn_update_order_status(p_id, p_status): p_status is the stored (lowercase) value.
CREATE VIEW fn_update_order_status AS
SELECT NULL AS p_id, NULL AS p_status
WHERE 0;

CREATE TRIGGER fn_update_order_status_call
INSTEAD OF INSERT ON fn_update_order_status
BEGIN
    INSERT INTO fraiseql_mutation_response (status, message, entity_type)
    SELECT 'failed:not_found', 'order does not exist', 'Order'
    WHERE NOT EXISTS (SELECT 1 FROM tb_order WHERE id = NEW.p_id);

    INSERT INTO fraiseql_mutation_response (status, message, entity_type)
    SELECT 'failed:validation', 'unknown order status', 'Order'
    WHERE NEW.p_status NOT IN ('pending', 'paid', 'shipped', 'cancelled')
      AND NOT EXISTS (SELECT 1 FROM fraiseql_mutation_response);

    UPDATE tb_order
    SET status = NEW.p_status,
        paid = CASE WHEN paid = 1 OR NEW.p_status IN ('paid', 'shipped') THEN 1 ELSE 0 END
    WHERE id = NEW.p_id
      AND NOT EXISTS (SELECT 1 FROM fraiseql_mutation_response);

    INSERT INTO fraiseql_mutation_response (status, message, entity_id, entity_type)
    SELECT 'success', 'order status updated', NEW.p_id, 'Order'
    WHERE NOT EXISTS (SELECT 1 FROM fraiseql_mutation_response);
END;
