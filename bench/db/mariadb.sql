-- Benchmark schema for MariaDB: the same tables, views and JSON as bench/db/postgres.sql, in
-- the conventions of tests/spec/fixtures/mysql.sql: ids as CHAR(36), timestamps as DATETIME
-- in UTC formatted in the view, decimals printed with two places, booleans as JSON
-- true/false, and the mutation a stored procedure whose result set has the
-- mutation_response columns.
--
-- Every text column is utf8mb4_nopad_bin (byte order, no padding): the collation FraiseQL
-- compares with, so its lookups by `id`, `order_id`, `customer_id` and `status` compare the
-- column as it is and use its index (under a case-insensitive collation FraiseQL compares
-- the JSON value instead, without the index). The database is created with it too, so the
-- procedure's parameters compare the same way.
--
-- Loaded into a fresh `fraiseql_bench` database by bench/harness/dataset.py, which then
-- loads the rows (LOAD DATA, the same rows as on PostgreSQL) and runs mariadb_indexes.sql.

CREATE TABLE tb_customer (
    pk_customer BIGINT PRIMARY KEY,
    id          CHAR(36) NOT NULL,
    name        VARCHAR(200) NOT NULL,
    email       VARCHAR(200) NOT NULL,
    tier        VARCHAR(10) NOT NULL CHECK (tier IN ('free', 'pro')),
    street      VARCHAR(200) NOT NULL,
    city        VARCHAR(100) NOT NULL,
    postal_code VARCHAR(20) NOT NULL,
    country     VARCHAR(100) NOT NULL,
    created_at  DATETIME NOT NULL
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

CREATE TABLE tb_order (
    pk_order         BIGINT PRIMARY KEY,
    id               CHAR(36) NOT NULL,
    identifier       VARCHAR(20) NOT NULL,
    fk_customer      BIGINT NOT NULL,
    status           VARCHAR(20) NOT NULL
                     CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled')),
    total            DECIMAL(12, 2) NOT NULL,
    paid             BOOLEAN NOT NULL,
    note             VARCHAR(200),
    ship_street      VARCHAR(200) NOT NULL,
    ship_city        VARCHAR(100) NOT NULL,
    ship_postal_code VARCHAR(20) NOT NULL,
    ship_country     VARCHAR(100) NOT NULL,
    created_at       DATETIME NOT NULL
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

CREATE TABLE tb_order_item (
    pk_order_item BIGINT PRIMARY KEY,
    id            CHAR(36) NOT NULL,
    fk_order      BIGINT NOT NULL,
    position      INT NOT NULL,
    sku           VARCHAR(20) NOT NULL,
    name          VARCHAR(200) NOT NULL,
    quantity      INT NOT NULL CHECK (quantity > 0),
    unit_price    DECIMAL(10, 2) NOT NULL
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

-- One row per customer, with the postal address as a nested object.
CREATE VIEW v_customer AS
SELECT
    c.id AS id,
    JSON_OBJECT(
        'id', c.id,
        'name', c.name,
        'email', c.email,
        'tier', c.tier,
        'created_at', DATE_FORMAT(c.created_at, '%Y-%m-%dT%H:%i:%sZ'),
        'address', JSON_OBJECT(
            'street', c.street,
            'city', c.city,
            'postal_code', c.postal_code,
            'country', c.country
        )
    ) AS data
FROM tb_customer c;

-- One row per order; the columns next to `data` are the ones postgres.sql exposes, for the
-- same filters on the table's own columns and indexes.
CREATE VIEW v_order AS
SELECT
    o.id AS id,
    c.id AS customer_id,
    o.status AS status,
    o.total AS total,
    o.created_at AS created_at,
    JSON_OBJECT(
        'id', o.id,
        'identifier', o.identifier,
        'status', o.status,
        'total', CAST(o.total AS CHAR),
        'paid', IF(o.paid, JSON_EXTRACT('true', '$'), JSON_EXTRACT('false', '$')),
        'created_at', DATE_FORMAT(o.created_at, '%Y-%m-%dT%H:%i:%sZ'),
        'customer_id', c.id,
        'note', o.note,
        'shipping_address', JSON_OBJECT(
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
    JSON_OBJECT(
        'id', i.id,
        'order_id', o.id,
        'position', i.position,
        'sku', i.sku,
        'name', i.name,
        'quantity', i.quantity,
        'unit_price', CAST(i.unit_price AS CHAR)
    ) AS data
FROM tb_order_item i
JOIN tb_order o ON o.pk_order = i.fk_order;

-- W5. p_status is the stored (lowercase) value; same checks, statuses and messages as the
-- PostgreSQL function. The order is looked up before the update because ROW_COUNT() counts
-- changed rows, not matched ones: setting a shipped order to shipped again changes none.
DELIMITER //

CREATE PROCEDURE fn_update_order_status(IN p_id CHAR(36), IN p_status VARCHAR(20))
BEGIN
    IF p_status IS NULL OR p_status NOT IN ('pending', 'paid', 'shipped', 'cancelled') THEN
        SELECT 'failed:validation' AS status, 'unknown order status' AS message,
               NULL AS entity_id, 'Order' AS entity_type;
    ELSEIF NOT EXISTS (SELECT 1 FROM tb_order WHERE id = p_id) THEN
        SELECT 'failed:not_found' AS status, 'order does not exist' AS message,
               NULL AS entity_id, 'Order' AS entity_type;
    ELSE
        -- Paying or shipping an order marks it paid; nothing marks it unpaid.
        UPDATE tb_order
        SET status = p_status,
            paid = paid OR p_status IN ('paid', 'shipped')
        WHERE id = p_id;
        SELECT 'success' AS status, 'order status updated' AS message, p_id AS entity_id,
               'Order' AS entity_type;
    END IF;
END //

DELIMITER ;
