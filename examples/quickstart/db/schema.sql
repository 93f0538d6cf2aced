-- Quickstart schema for SQLite (JSON functions built in: 3.38+, or any build with JSON1).
--
-- Tables follow the "trinity" convention: `pk_*` is the internal integer key used by joins,
-- `id` the public UUID, `identifier` a human-readable unique key; `fk_*` reference `pk_*`.
-- FraiseQL reads views (`v_*`) whose `data` column is the JSON of one entity, and calls
-- "functions" (`fn_*`) for mutations. The conventions below make every database answer with
-- the same JSON: decimals are strings with two places, booleans are JSON booleans, and
-- timestamps are ISO-8601 UTC strings `YYYY-MM-DDTHH:MM:SSZ`.

CREATE TABLE tb_customer (
    pk_customer INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    email       TEXT NOT NULL UNIQUE,
    tier        TEXT NOT NULL DEFAULT 'free' CHECK (tier IN ('free', 'pro')),
    -- Stored already formatted: 'YYYY-MM-DDTHH:MM:SSZ'.
    created_at  TEXT NOT NULL
);

CREATE TABLE tb_order (
    pk_order    INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    identifier  TEXT NOT NULL UNIQUE,
    fk_customer INTEGER NOT NULL REFERENCES tb_customer (pk_customer),
    status      TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled')),
    total       NUMERIC NOT NULL,
    paid        INTEGER NOT NULL DEFAULT 0 CHECK (paid IN (0, 1)),
    note        TEXT,
    created_at  TEXT NOT NULL
);

CREATE INDEX ix_order_customer ON tb_order (fk_customer);

CREATE TABLE tb_order_item (
    pk_order_item INTEGER PRIMARY KEY,
    fk_order      INTEGER NOT NULL REFERENCES tb_order (pk_order),
    position      INTEGER NOT NULL,
    sku           TEXT NOT NULL,
    quantity      INTEGER NOT NULL CHECK (quantity > 0),
    unit_price    NUMERIC NOT NULL,
    UNIQUE (fk_order, position)
);

-- One row per customer; `data` keys are the snake_case of the GraphQL fields.
CREATE VIEW v_customer AS
SELECT
    c.id AS id,
    json_object(
        'id', c.id,
        'name', c.name,
        'email', c.email,
        'tier', c.tier,
        'created_at', c.created_at
    ) AS data
FROM tb_customer c;

-- One row per order, with the customer summary and the items embedded. `customer_id` is also
-- a column so the `Customer.orders` relation can filter on it.
CREATE VIEW v_order AS
SELECT
    o.id AS id,
    c.id AS customer_id,
    json_object(
        'id', o.id,
        'identifier', o.identifier,
        'status', o.status,
        'total', printf('%.2f', o.total),
        'paid', json(CASE WHEN o.paid THEN 'true' ELSE 'false' END),
        'created_at', o.created_at,
        'customer_id', c.id,
        'customer', json_object('id', c.id, 'name', c.name),
        -- A subquery's result loses its JSON subtype: json(...) marks it as JSON again.
        -- The inner ORDER BY keeps items in entry order (json_group_array follows row order).
        'items', json((
            SELECT json_group_array(json_object(
                'sku', i.sku,
                'quantity', i.quantity,
                'unit_price', printf('%.2f', i.unit_price)
            ))
            FROM (
                SELECT sku, quantity, unit_price
                FROM tb_order_item
                WHERE fk_order = o.pk_order
                ORDER BY position
            ) i
        )),
        'note', o.note
    ) AS data
FROM tb_order o
JOIN tb_customer c ON c.pk_customer = o.fk_customer;

-- Each change of an order's status, written by the event handler below (not by the mutation):
-- the path is mutation -> tb_order UPDATE -> outbox -> event `orders.status.<status>` ->
-- fn_on_order_status_changed, all inside the server (the memory backend of fraiseql.toml).
CREATE TABLE tb_order_status_change (
    pk_order_status_change INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    order_id    TEXT NOT NULL,
    status      TEXT NOT NULL,
    changed_at  TEXT NOT NULL
);

CREATE INDEX ix_order_status_change_order ON tb_order_status_change (order_id);

CREATE VIEW v_order_status_change AS
SELECT
    id,
    order_id,
    json_object('id', id, 'order_id', order_id, 'status', status, 'changed_at', changed_at)
        AS data
FROM tb_order_status_change;

-- The event handler: like a mutation, a view whose INSTEAD OF INSERT trigger does the work.
-- `event` is the message body, here the changed tb_order row as JSON.
CREATE VIEW fn_on_order_status_changed AS SELECT NULL AS event WHERE 0;

CREATE TRIGGER fn_on_order_status_changed_call
INSTEAD OF INSERT ON fn_on_order_status_changed
BEGIN
    INSERT INTO tb_order_status_change (id, order_id, status, changed_at)
    VALUES (
        lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4'
            || substr(lower(hex(randomblob(2))), 2) || '-'
            || substr('89ab', 1 + abs(random()) % 4, 1) || substr(lower(hex(randomblob(2))), 2)
            || '-' || lower(hex(randomblob(6))),
        json_extract(NEW.event, '$.id'),
        json_extract(NEW.event, '$.status'),
        strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    );
END;

-- Mutations. SQLite has no stored functions: a mutation is an INSERT into a view named like
-- the function, whose columns are the parameters. Its INSTEAD OF INSERT trigger does the work
-- and writes exactly one row into fraiseql_mutation_response, which the engine takes back in
-- the same transaction. A status other than 'success' becomes a GraphQL error:
-- 'failed:not_found' -> NOT_FOUND, 'conflict:*' -> CONFLICT, 'failed:validation' ->
-- BAD_USER_INPUT; the transaction is then rolled back.
CREATE TABLE fraiseql_mutation_response (
    status      TEXT NOT NULL,
    message     TEXT,
    entity_id   TEXT,
    entity_type TEXT,
    entity      TEXT,
    metadata    TEXT
);

-- fn_create_order(p_customer_id, p_identifier, p_total, p_note)
CREATE VIEW fn_create_order AS
SELECT NULL AS p_customer_id, NULL AS p_identifier, NULL AS p_total, NULL AS p_note
WHERE 0;

CREATE TRIGGER fn_create_order_call
INSTEAD OF INSERT ON fn_create_order
BEGIN
    -- Checks, in this order; each writes the response only if no earlier one did.
    INSERT INTO fraiseql_mutation_response (status, message, entity_type)
    SELECT 'failed:not_found', 'customer does not exist', 'Order'
    WHERE NOT EXISTS (SELECT 1 FROM tb_customer WHERE id = NEW.p_customer_id);

    INSERT INTO fraiseql_mutation_response (status, message, entity_type)
    SELECT 'failed:validation', 'total must not be negative', 'Order'
    WHERE CAST(NEW.p_total AS NUMERIC) < 0
      AND NOT EXISTS (SELECT 1 FROM fraiseql_mutation_response);

    INSERT INTO fraiseql_mutation_response (status, message, entity_type)
    SELECT 'conflict:duplicate_identifier',
           'an order with identifier ' || NEW.p_identifier || ' already exists', 'Order'
    WHERE EXISTS (SELECT 1 FROM tb_order WHERE identifier = NEW.p_identifier)
      AND NOT EXISTS (SELECT 1 FROM fraiseql_mutation_response);

    -- The work: only when every check passed.
    INSERT INTO tb_order (id, identifier, fk_customer, status, total, paid, note, created_at)
    SELECT
        -- A random version-4 UUID, 8-4-4-4-12.
        lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4'
            || substr(lower(hex(randomblob(2))), 2) || '-'
            || substr('89ab', 1 + abs(random()) % 4, 1) || substr(lower(hex(randomblob(2))), 2)
            || '-' || lower(hex(randomblob(6))),
        NEW.p_identifier,
        c.pk_customer,
        'pending',
        CAST(NEW.p_total AS NUMERIC),
        0,
        NEW.p_note,
        strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
    FROM tb_customer c
    WHERE c.id = NEW.p_customer_id
      AND NOT EXISTS (SELECT 1 FROM fraiseql_mutation_response);

    INSERT INTO fraiseql_mutation_response (status, message, entity_id, entity_type)
    SELECT 'success', 'order created', o.id, 'Order'
    FROM tb_order o
    WHERE o.identifier = NEW.p_identifier
      AND NOT EXISTS (SELECT 1 FROM fraiseql_mutation_response);
END;

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

    -- Paying or shipping an order marks it paid; nothing marks it unpaid.
    UPDATE tb_order
    SET status = NEW.p_status,
        paid = CASE WHEN paid = 1 OR NEW.p_status IN ('paid', 'shipped') THEN 1 ELSE 0 END
    WHERE id = NEW.p_id
      AND NOT EXISTS (SELECT 1 FROM fraiseql_mutation_response);

    INSERT INTO fraiseql_mutation_response (status, message, entity_id, entity_type)
    SELECT 'success', 'order status updated', NEW.p_id, 'Order'
    WHERE NOT EXISTS (SELECT 1 FROM fraiseql_mutation_response);
END;
