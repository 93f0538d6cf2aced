-- The order service's database (seed 002, "Microservices choreography"), fixed: the seed's
-- tables reference tb_user and tb_product without creating them, and its workers use
-- tb_inventory, tb_payment, tb_shipping and tb_order.shipping_address, which it never
-- creates. Loaded by run.sh into the PostgreSQL database `fraiseql_choreography`.

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

CREATE TABLE tb_user (
    pk_user    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    identifier text NOT NULL UNIQUE,
    name       text NOT NULL
);

CREATE TABLE tb_product (
    pk_product bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    identifier text NOT NULL UNIQUE,              -- the SKU
    name       text NOT NULL,
    unit_price numeric(10, 2) NOT NULL
);

CREATE TABLE tb_inventory (
    pk_inventory bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fk_product   bigint NOT NULL UNIQUE REFERENCES tb_product (pk_product),
    quantity     integer NOT NULL CHECK (quantity >= 0),
    reserved     integer NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= quantity)
);

CREATE TABLE tb_order (
    pk_order         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    identifier       text NOT NULL UNIQUE,
    fk_user          bigint NOT NULL REFERENCES tb_user (pk_user),
    total            numeric(10, 2) NOT NULL CHECK (total >= 0),
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'paid', 'shipped', 'failed')),
    shipping_address text NOT NULL DEFAULT '1 Demo Street, Springfield',
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_tb_order_fk_user ON tb_order (fk_user);
CREATE INDEX idx_tb_order_status ON tb_order (status);

CREATE TABLE tb_order_item (
    pk_order_item bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    fk_order      bigint NOT NULL REFERENCES tb_order (pk_order),
    fk_product    bigint NOT NULL REFERENCES tb_product (pk_product),
    quantity      integer NOT NULL CHECK (quantity > 0),
    unit_price    numeric(10, 2) NOT NULL
);
CREATE INDEX idx_tb_order_item_fk_order ON tb_order_item (fk_order);

CREATE TABLE tb_payment (
    pk_payment  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    fk_order    bigint NOT NULL UNIQUE REFERENCES tb_order (pk_order),
    amount      numeric(10, 2) NOT NULL,
    status      text NOT NULL,
    provider_id text NOT NULL
);

CREATE TABLE tb_shipping (
    pk_shipping       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    fk_order          bigint NOT NULL UNIQUE REFERENCES tb_order (pk_order),
    provider_label_id text NOT NULL,
    carrier           text NOT NULL,
    tracking_number   text NOT NULL
);

-- Every event seen on events.>, once each (the monitor worker); ordered by pk_event_log.
CREATE TABLE tb_event_log (
    pk_event_log bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     text NOT NULL UNIQUE,
    event_type   text NOT NULL,
    fk_order     bigint REFERENCES tb_order (pk_order),
    data         jsonb NOT NULL DEFAULT '{}',
    recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX idx_tb_event_log_fk_order ON tb_event_log (fk_order);

-- What each worker has done, by event id: a redelivered event is acknowledged, not redone.
CREATE TABLE tb_processed (
    worker   text NOT NULL,
    event_id text NOT NULL,
    PRIMARY KEY (worker, event_id)
);

-- Read view: an order.
CREATE VIEW v_order AS
SELECT o.id,
       jsonb_build_object(
           'id', o.id::text,
           'identifier', o.identifier,
           'total', o.total::text,
           'status', o.status,
           'created_at', to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
       ) AS data
FROM tb_order o;

-- The body of events.order.created: what the inventory worker reads. Read when the order's
-- transaction commits, so the items written after the order are in it.
CREATE VIEW v_order_event AS
SELECT o.id,
       jsonb_build_object(
           'order_id', o.id::text,
           'identifier', o.identifier,
           'total', o.total,
           'items', COALESCE((
               SELECT jsonb_agg(jsonb_build_object('sku', p.identifier, 'quantity', i.quantity)
                                ORDER BY i.pk_order_item)
               FROM tb_order_item i JOIN tb_product p ON p.pk_product = i.fk_product
               WHERE i.fk_order = o.pk_order), '[]'::jsonb)
       ) AS data
FROM tb_order o;

-- createOrder: the order and its one line (the demo store sells one product per order;
-- `sku` and `quantity` default to one WIDGET-1), for the demo user.
CREATE FUNCTION fn_create_order(
    p_identifier text,
    p_total      numeric,
    p_sku        text DEFAULT NULL,
    p_quantity   integer DEFAULT NULL
) RETURNS mutation_response
LANGUAGE plpgsql AS $$
DECLARE
    v_order    bigint;
    v_id       uuid;
    v_product  tb_product%ROWTYPE;
    v_result   mutation_response;
BEGIN
    SELECT * INTO v_product FROM tb_product WHERE identifier = COALESCE(p_sku, 'WIDGET-1');
    IF NOT FOUND THEN
        v_result.status := 'failed:not_found';
        v_result.message := 'unknown sku ' || COALESCE(p_sku, 'WIDGET-1');
        v_result.entity_type := 'Order';
        RETURN v_result;
    END IF;
    IF COALESCE(p_quantity, 1) < 1 OR p_total < 0 THEN
        v_result.status := 'failed:validation';
        v_result.message := 'quantity must be positive and total not negative';
        v_result.entity_type := 'Order';
        RETURN v_result;
    END IF;
    IF EXISTS (SELECT 1 FROM tb_order WHERE identifier = p_identifier) THEN
        v_result.status := 'conflict:duplicate_identifier';
        v_result.message := 'an order with identifier ' || p_identifier || ' already exists';
        v_result.entity_type := 'Order';
        RETURN v_result;
    END IF;
    INSERT INTO tb_order (identifier, fk_user, total, status)
    VALUES (p_identifier, (SELECT pk_user FROM tb_user WHERE identifier = 'demo'), p_total, 'pending')
    RETURNING pk_order, id INTO v_order, v_id;
    INSERT INTO tb_order_item (fk_order, fk_product, quantity, unit_price)
    VALUES (v_order, v_product.pk_product, COALESCE(p_quantity, 1), v_product.unit_price);

    v_result.status := 'success';
    v_result.entity_id := v_id;
    v_result.entity_type := 'Order';
    RETURN v_result;
END;
$$;

-- Moves an order along; statuses only move forward (pending -> paid -> shipped; failed
-- ends it), so events that arrive out of order cannot move an order back.
CREATE FUNCTION fn_update_order_status(p_order_id uuid, p_status text)
RETURNS mutation_response
LANGUAGE plpgsql AS $$
DECLARE v_result mutation_response;
BEGIN
    UPDATE tb_order SET status = p_status
    WHERE id = p_order_id
      AND CASE p_status
              WHEN 'paid'    THEN status = 'pending'
              WHEN 'shipped' THEN status IN ('pending', 'paid')
              WHEN 'failed'  THEN status IN ('pending', 'paid')
              ELSE false
          END;
    v_result.status := 'success';
    v_result.entity_id := p_order_id;
    v_result.entity_type := 'Order';
    RETURN v_result;
END;
$$;

-- The order service's inbound handlers ([[observers.subscribe]] in fraiseql.toml): each
-- gets the event's body; FraiseQL runs it in a transaction, once per event id.
CREATE FUNCTION fn_on_payment_charged(p_event jsonb) RETURNS void
LANGUAGE sql AS $$ SELECT fn_update_order_status((p_event->>'order_id')::uuid, 'paid') $$;

CREATE FUNCTION fn_on_order_shipped(p_event jsonb) RETURNS void
LANGUAGE sql AS $$ SELECT fn_update_order_status((p_event->>'order_id')::uuid, 'shipped') $$;

CREATE FUNCTION fn_on_order_failed(p_event jsonb) RETURNS void
LANGUAGE sql AS $$ SELECT fn_update_order_status((p_event->>'order_id')::uuid, 'failed') $$;

-- Demo data: one user; WIDGET-1 in stock, SOLD-OUT never in stock.
INSERT INTO tb_user (identifier, name) VALUES ('demo', 'Demo Customer');
INSERT INTO tb_product (identifier, name, unit_price) VALUES
    ('WIDGET-1', 'Widget', 49.99),
    ('SOLD-OUT', 'Sold-out gadget', 19.99);
INSERT INTO tb_inventory (fk_product, quantity)
SELECT pk_product, CASE identifier WHEN 'WIDGET-1' THEN 1000 ELSE 0 END FROM tb_product;
