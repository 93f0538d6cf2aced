-- The inventory database (MariaDB): products, stock per warehouse, and the stock reserved
-- for orders. Loaded by run.sh into a fresh database created with the utf8mb4_nopad_bin
-- collation (byte order, no padding: the collation FraiseQL compares text with, so lookups
-- by `id`, `order_id` and `product_id` use their indexes).
--
-- Orders live in the primary database: `order_id` is a plain value, no foreign key.

CREATE TABLE tb_product (
    pk_product INT AUTO_INCREMENT PRIMARY KEY,
    id         CHAR(36) NOT NULL UNIQUE,
    sku        VARCHAR(40) NOT NULL UNIQUE,
    name       VARCHAR(200) NOT NULL,
    price      DECIMAL(10, 2) NOT NULL CHECK (price >= 0),
    created_at DATETIME NOT NULL
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

CREATE TABLE tb_inventory (
    pk_inventory INT AUTO_INCREMENT PRIMARY KEY,
    fk_product   INT NOT NULL,
    warehouse    VARCHAR(40) NOT NULL,
    quantity     INT NOT NULL CHECK (quantity >= 0),
    reserved     INT NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    UNIQUE (fk_product, warehouse),
    FOREIGN KEY (fk_product) REFERENCES tb_product (pk_product)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

CREATE TABLE tb_reservation (
    pk_reservation INT AUTO_INCREMENT PRIMARY KEY,
    id             CHAR(36) NOT NULL UNIQUE,
    order_id       CHAR(36) NOT NULL,
    fk_product     INT NOT NULL,
    quantity       INT NOT NULL CHECK (quantity > 0),
    status         VARCHAR(20) NOT NULL CHECK (status IN ('held', 'committed', 'released')),
    created_at     DATETIME NOT NULL,
    expires_at     DATETIME,
    released_at    DATETIME,
    KEY ix_reservation_order (order_id),
    FOREIGN KEY (fk_product) REFERENCES tb_product (pk_product)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

CREATE VIEW v_product AS
SELECT
    p.id,
    JSON_OBJECT(
        'id', p.id,
        'sku', p.sku,
        'name', p.name,
        'price', CAST(p.price AS CHAR)
    ) AS data
FROM tb_product p;

-- One row per product and warehouse. `product_id` and `warehouse` are columns too: the
-- `inventoryStatus(productId:)` argument and the default order (the type's key) use them.
CREATE VIEW v_inventory_status AS
SELECT
    p.id AS product_id,
    i.warehouse,
    JSON_OBJECT(
        'product_id', p.id,
        'sku', p.sku,
        'name', p.name,
        'warehouse', i.warehouse,
        'quantity', i.quantity,
        'reserved', i.reserved,
        'available', i.quantity - i.reserved
    ) AS data
FROM tb_inventory i
JOIN tb_product p ON p.pk_product = i.fk_product;

CREATE VIEW v_reservation AS
SELECT
    r.id,
    r.order_id,
    JSON_OBJECT(
        'id', r.id,
        'order_id', r.order_id,
        'product_id', p.id,
        'quantity', r.quantity,
        'status', r.status,
        'created_at', DATE_FORMAT(r.created_at, '%Y-%m-%dT%H:%i:%sZ'),
        'expires_at', DATE_FORMAT(r.expires_at, '%Y-%m-%dT%H:%i:%sZ'),
        'released_at', DATE_FORMAT(r.released_at, '%Y-%m-%dT%H:%i:%sZ')
    ) AS data
FROM tb_reservation r
JOIN tb_product p ON p.pk_product = r.fk_product;

-- Data (times in UTC). Current prices may differ from what an order paid (`unitPrice`);
-- `reserved` counts the stock held for orders not yet paid.

INSERT INTO tb_product (pk_product, id, sku, name, price, created_at) VALUES
    (1, 'b1000000-0000-4000-8000-000000000001', 'KB-MECH-01', 'Mechanical Keyboard', 139.00, '2023-06-01 00:00:00'),
    (2, 'b1000000-0000-4000-8000-000000000002', 'MS-WL-02', 'Wireless Mouse', 49.99, '2023-06-01 00:00:00'),
    (3, 'b1000000-0000-4000-8000-000000000003', 'CB-USBC-2M', 'USB-C Cable 2 m', 17.99, '2023-06-01 00:00:00'),
    (4, 'b1000000-0000-4000-8000-000000000004', 'LMP-DESK-01', 'Desk Lamp', 45.00, '2023-09-15 00:00:00'),
    (5, 'b1000000-0000-4000-8000-000000000005', 'MON-27-4K', '27" 4K Monitor', 399.00, '2024-01-10 00:00:00');

INSERT INTO tb_inventory (fk_product, warehouse, quantity, reserved) VALUES
    (1, 'AMS-1', 40, 0),
    (1, 'NYC-1', 15, 0),
    (2, 'AMS-1', 120, 0),
    (3, 'AMS-1', 300, 0),
    (3, 'NYC-1', 80, 0),
    (4, 'AMS-1', 12, 1),
    (5, 'NYC-1', 0, 0);

INSERT INTO tb_reservation (id, order_id, fk_product, quantity, status, created_at, expires_at, released_at) VALUES
    ('e1000000-0000-4000-8000-000000000001', '550e8400-e29b-41d4-a716-446655440000', 1, 1, 'committed', '2024-03-01 10:00:05', NULL, NULL),
    ('e1000000-0000-4000-8000-000000000002', '550e8400-e29b-41d4-a716-446655440000', 2, 1, 'committed', '2024-03-01 10:00:05', NULL, NULL),
    ('e1000000-0000-4000-8000-000000000003', '550e8400-e29b-41d4-a716-446655440000', 3, 2, 'committed', '2024-03-01 10:00:05', NULL, NULL),
    ('e1000000-0000-4000-8000-000000000004', '0d000000-0000-4000-8000-000000000002', 4, 1, 'held', '2024-03-05 18:20:05', '2024-03-06 18:20:05', NULL),
    ('e1000000-0000-4000-8000-000000000005', '0d000000-0000-4000-8000-000000000003', 1, 1, 'committed', '2024-02-10 12:00:05', NULL, NULL);
