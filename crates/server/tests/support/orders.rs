//! The orders scenario on PostgreSQL shared by the event and subscription tests: orders
//! with items, `fn_create_order` (which rolls back on a negative total) and
//! `fn_set_status`, the order view and an event payload view with the items.

pub(crate) const SDL: &str = r#"
type Order @source(view: "v_order") {
  id: ID!
  identifier: String!
  total: Int!
  status: String!
}
type Query {
  orders: [Order!]!
}
type Mutation {
  createOrder(identifier: String!, total: Int!): Order @function(name: "fn_create_order")
  setStatus(id: ID!, status: String!): Order @function(name: "fn_set_status")
}
"#;

/// Orders with items; `fn_create_order` writes the order, then its two items, then fails
/// when the total is negative (so the whole transaction rolls back).
pub(crate) const ORDERS: &str = r#"
CREATE TYPE mutation_response AS (status text, message text, entity_id text,
  entity_type text, entity jsonb, updated_fields text[], cascade jsonb, metadata jsonb);
CREATE TABLE tb_order (pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE, identifier text NOT NULL UNIQUE,
  total int NOT NULL, status text NOT NULL DEFAULT 'pending');
CREATE TABLE tb_order_item (pk serial PRIMARY KEY, order_id uuid NOT NULL REFERENCES tb_order (id),
  sku text NOT NULL, quantity int NOT NULL);
CREATE VIEW v_order AS SELECT id, jsonb_build_object('id', id, 'identifier', identifier,
  'total', total, 'status', status) AS data FROM tb_order;
CREATE VIEW v_order_event AS SELECT o.id, jsonb_build_object('order_id', o.id,
  'identifier', o.identifier, 'items', COALESCE((SELECT jsonb_agg(jsonb_build_object('sku', i.sku,
  'quantity', i.quantity) ORDER BY i.pk) FROM tb_order_item i WHERE i.order_id = o.id), '[]'))
  AS data FROM tb_order o;
CREATE FUNCTION fn_create_order(p_identifier text, p_total int) RETURNS mutation_response
LANGUAGE plpgsql AS $$
DECLARE r mutation_response; v_id uuid;
BEGIN
  INSERT INTO tb_order (identifier, total) VALUES (p_identifier, p_total) RETURNING id INTO v_id;
  INSERT INTO tb_order_item (order_id, sku, quantity) VALUES (v_id, 'sku-a', 1), (v_id, 'sku-b', 2);
  IF p_total < 0 THEN RAISE EXCEPTION 'total must not be negative'; END IF;
  r.status := 'success'; r.entity_id := v_id::text; r.entity_type := 'Order';
  RETURN r;
END $$;
CREATE FUNCTION fn_set_status(p_id text, p_status text) RETURNS mutation_response
LANGUAGE plpgsql AS $$
DECLARE r mutation_response;
BEGIN
  UPDATE tb_order SET status = p_status WHERE id = p_id::uuid;
  r.status := 'success'; r.entity_id := p_id; r.entity_type := 'Order';
  RETURN r;
END $$;
"#;
