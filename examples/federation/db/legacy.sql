-- The legacy database (MariaDB): the old order system, still serving the orders not yet
-- migrated to PostgreSQL. Its table keeps the old system's names and codes; the view
-- translates them into the shape the new `v_order` has, so `Order` and `LegacyOrder` answer
-- alike and a client does not see where the boundary is. Loaded by run.sh into a fresh
-- database created with the utf8mb4_nopad_bin collation.

CREATE TABLE orders (
    order_no INT NOT NULL PRIMARY KEY,
    cust_ref VARCHAR(20) NOT NULL,
    amount   DECIMAL(10, 2) NOT NULL,
    -- P placed, S shipped, D delivered, C cancelled
    state    CHAR(1) NOT NULL,
    created  DATETIME NOT NULL,
    KEY ix_orders_cust (cust_ref)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

-- `id` and `user_id` are columns too, so lookups by id and the `User.legacyOrders`
-- relation compare them directly.
CREATE VIEW v_legacy_order AS
SELECT
    CONCAT('ord_', LPAD(o.order_no, 4, '0')) AS id,
    o.cust_ref AS user_id,
    JSON_OBJECT(
        'id', CONCAT('ord_', LPAD(o.order_no, 4, '0')),
        'user_id', o.cust_ref,
        'total', CAST(o.amount AS CHAR),
        'status', CASE o.state
            WHEN 'P' THEN 'placed'
            WHEN 'S' THEN 'shipped'
            WHEN 'D' THEN 'delivered'
            ELSE 'cancelled'
        END,
        'placed_at', DATE_FORMAT(o.created, '%Y-%m-%dT%H:%i:%sZ')
    ) AS data
FROM orders o;

-- Orders from 2023, before the migration (times in UTC).
INSERT INTO orders (order_no, cust_ref, amount, state, created) VALUES
    (42, 'usr_123', 59.99, 'D', '2023-03-14 09:26:53'),
    (97, 'usr_123', 249.00, 'D', '2023-07-02 16:00:00'),
    (311, 'usr_001', 18.50, 'C', '2023-09-30 12:45:10'),
    (512, 'usr_002', 75.00, 'D', '2023-11-11 11:11:11'),
    (640, 'usr_123', 12.40, 'S', '2023-12-28 08:30:00');
