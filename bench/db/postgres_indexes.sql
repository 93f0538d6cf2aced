-- Foreign keys and indexes for the workloads, created after the bulk load, then statistics and the
-- visibility map (VACUUM ANALYZE) so that the first measured point sees a settled database.

ALTER TABLE tb_order ADD FOREIGN KEY (fk_customer) REFERENCES tb_customer (pk_customer);
ALTER TABLE tb_order_item ADD FOREIGN KEY (fk_order) REFERENCES tb_order (pk_order);

-- W2 and W5 (order by id), relations (customer by id, items by order id).
-- Unique constraints (not only unique indexes) so that PostGraphile, which reads
-- constraints, offers its by-id lookups (`tbOrderById`).
ALTER TABLE tb_customer ADD CONSTRAINT ux_customer_id UNIQUE (id);
ALTER TABLE tb_customer ADD CONSTRAINT ux_customer_email UNIQUE (email);
ALTER TABLE tb_order ADD CONSTRAINT ux_order_id UNIQUE (id);
ALTER TABLE tb_order ADD CONSTRAINT ux_order_identifier UNIQUE (identifier);
CREATE INDEX ix_order_customer ON tb_order (fk_customer);
-- W4: `status = $1 AND total >= $2`.
CREATE INDEX ix_order_status_total ON tb_order (status, total);
ALTER TABLE tb_order_item ADD CONSTRAINT ux_order_item_id UNIQUE (id);
ALTER TABLE tb_order_item ADD CONSTRAINT ux_order_item_order_position UNIQUE (fk_order, position);

VACUUM (ANALYZE) tb_customer;
VACUUM (ANALYZE) tb_order;
VACUUM (ANALYZE) tb_order_item;
