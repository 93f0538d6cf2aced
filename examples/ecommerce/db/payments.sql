-- The payments database (SQLite): payment methods, transactions (the ledger) and refunds.
-- Loaded by run.sh into a fresh file.
--
-- Customers and orders live in the primary database: `customer_id` and `order_id` are
-- plain values, no foreign keys. Amounts are stored in cents (integers: exact) and shown as
-- decimal strings with two places; timestamps are stored already formatted, UTC
-- 'YYYY-MM-DDTHH:MM:SSZ'.

CREATE TABLE tb_payment_method (
    pk_payment_method INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    customer_id       TEXT NOT NULL,
    type              TEXT NOT NULL CHECK (type IN ('card', 'paypal', 'bank_transfer')),
    label             TEXT NOT NULL,
    is_default        INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    created_at        TEXT NOT NULL
);

CREATE INDEX ix_payment_method_customer ON tb_payment_method (customer_id);

CREATE TABLE tb_transaction (
    pk_transaction    INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    order_id          TEXT NOT NULL,
    customer_id       TEXT NOT NULL,
    fk_payment_method INTEGER NOT NULL REFERENCES tb_payment_method (pk_payment_method),
    amount_cents      INTEGER NOT NULL CHECK (amount_cents >= 0),
    status            TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'refunded')),
    gateway           TEXT,
    created_at        TEXT NOT NULL,
    processed_at      TEXT
);

CREATE INDEX ix_transaction_order ON tb_transaction (order_id);

CREATE TABLE tb_refund (
    pk_refund      INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    fk_transaction INTEGER NOT NULL REFERENCES tb_transaction (pk_transaction),
    amount_cents   INTEGER NOT NULL CHECK (amount_cents > 0),
    reason         TEXT,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'completed')),
    created_at     TEXT NOT NULL
);

CREATE VIEW v_payment_method AS
SELECT
    m.id,
    m.customer_id,
    json_object(
        'id', m.id,
        'customer_id', m.customer_id,
        'type', m.type,
        'label', m.label,
        'is_default', json(CASE WHEN m.is_default THEN 'true' ELSE 'false' END)
    ) AS data
FROM tb_payment_method m;

CREATE VIEW v_transaction AS
SELECT
    t.id,
    t.order_id,
    json_object(
        'id', t.id,
        'order_id', t.order_id,
        'customer_id', t.customer_id,
        'payment_method_id', m.id,
        'amount', printf('%.2f', t.amount_cents / 100.0),
        'status', t.status,
        'gateway', t.gateway,
        'created_at', t.created_at,
        'processed_at', t.processed_at
    ) AS data
FROM tb_transaction t
JOIN tb_payment_method m ON m.pk_payment_method = t.fk_payment_method;

CREATE VIEW v_refund AS
SELECT
    r.id,
    t.id AS transaction_id,
    json_object(
        'id', r.id,
        'transaction_id', t.id,
        'order_id', t.order_id,
        'amount', printf('%.2f', r.amount_cents / 100.0),
        'reason', r.reason,
        'status', r.status,
        'created_at', r.created_at
    ) AS data
FROM tb_refund r
JOIN tb_transaction t ON t.pk_transaction = r.fk_transaction;

-- Data.

INSERT INTO tb_payment_method (pk_payment_method, id, customer_id, type, label, is_default, created_at) VALUES
    (1, 'f1000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001', 'card', 'Visa ending 4242', 1, '2023-10-02T09:05:00Z'),
    (2, 'f1000000-0000-4000-8000-000000000002', 'c1000000-0000-4000-8000-000000000001', 'paypal', 'maria@example.com', 0, '2024-01-12T19:00:00Z'),
    (3, 'f1000000-0000-4000-8000-000000000003', 'c1000000-0000-4000-8000-000000000002', 'bank_transfer', 'IBAN ending 0042', 1, '2023-11-15T14:35:00Z');

INSERT INTO tb_transaction (pk_transaction, id, order_id, customer_id, fk_payment_method, amount_cents, status, gateway, created_at, processed_at) VALUES
    (1, 'd1000000-0000-4000-8000-000000000001', '550e8400-e29b-41d4-a716-446655440000', 'c1000000-0000-4000-8000-000000000001', 1, 21497, 'succeeded', 'stripe', '2024-03-01T10:00:10Z', '2024-03-01T10:00:12Z'),
    (2, 'd1000000-0000-4000-8000-000000000002', '0d000000-0000-4000-8000-000000000002', 'c1000000-0000-4000-8000-000000000001', 2, 4500, 'pending', 'paypal', '2024-03-05T18:20:10Z', NULL),
    (3, 'd1000000-0000-4000-8000-000000000003', '0d000000-0000-4000-8000-000000000003', 'c1000000-0000-4000-8000-000000000002', 3, 12900, 'refunded', NULL, '2024-02-10T12:00:10Z', '2024-02-11T09:00:00Z');

INSERT INTO tb_refund (id, fk_transaction, amount_cents, reason, status, created_at) VALUES
    ('d2000000-0000-4000-8000-000000000001', 3, 12900, 'arrived damaged', 'completed', '2024-02-15T10:00:00Z');
