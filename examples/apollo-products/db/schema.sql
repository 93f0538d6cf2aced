-- The compatibility suite's products data set (COMPATIBILITY.md, "Expected Data Sets"),
-- in tables, and the views FraiseQL reads: one row per entity, its JSON in `data`.

CREATE TABLE tb_user (
  email text PRIMARY KEY,
  name text,
  total_products_created int,
  years_of_employment int NOT NULL
);

CREATE TABLE tb_product (
  id text PRIMARY KEY,
  sku text,
  package text,
  variation_id text,
  size text,
  weight double precision,
  unit text,
  created_by text REFERENCES tb_user (email),
  notes text
);

CREATE TABLE tb_case_study (
  case_number text PRIMARY KEY,
  product_id text NOT NULL REFERENCES tb_product (id),
  description text,
  outcome text
);

CREATE TABLE tb_inventory (id text PRIMARY KEY);

CREATE TABLE tb_deprecated_product (
  sku text,
  package text,
  reason text,
  created_by text REFERENCES tb_user (email),
  inventory_id text REFERENCES tb_inventory (id),
  PRIMARY KEY (sku, package)
);

INSERT INTO tb_user VALUES ('support@apollographql.com', 'Jane Smith', 1337, 10);
INSERT INTO tb_product VALUES
  ('apollo-federation', 'federation', '@apollo/federation', 'OSS', 'small', 1, 'kg',
   'support@apollographql.com', NULL),
  ('apollo-studio', 'studio', '', 'platform', 'small', 1, 'kg',
   'support@apollographql.com', NULL);
INSERT INTO tb_case_study VALUES
  ('1234', 'apollo-federation', 'Federation Study', NULL),
  ('1235', 'apollo-studio', 'Studio Study', NULL);
INSERT INTO tb_inventory VALUES ('apollo-oss');
INSERT INTO tb_deprecated_product VALUES
  ('apollo-federation-v1', '@apollo/federation-v1', 'Migrate to Federation V2',
   'support@apollographql.com', 'apollo-oss');

CREATE VIEW v_user AS
SELECT email, jsonb_build_object(
  'email', email,
  'name', name,
  'total_products_created', total_products_created,
  'years_of_employment', years_of_employment) AS data
FROM tb_user;

CREATE VIEW v_product AS
SELECT id, jsonb_build_object(
  'id', id,
  'sku', sku,
  'package', package,
  'variation', jsonb_build_object('id', variation_id),
  'dimensions', jsonb_build_object('size', size, 'weight', weight, 'unit', unit),
  'created_by', created_by,
  'notes', notes) AS data
FROM tb_product;

CREATE VIEW v_product_research AS
SELECT case_number, product_id, jsonb_build_object(
  'study', jsonb_build_object('case_number', case_number, 'description', description),
  'outcome', outcome,
  'product_id', product_id) AS data
FROM tb_case_study;

CREATE VIEW v_deprecated_product AS
SELECT sku, package, inventory_id, jsonb_build_object(
  'sku', sku,
  'package', package,
  'reason', reason,
  'created_by', created_by,
  'inventory_id', inventory_id) AS data
FROM tb_deprecated_product;

CREATE VIEW v_inventory AS
SELECT id, jsonb_build_object('id', id) AS data
FROM tb_inventory;
