-- Indexes for the workloads (the same as postgres_indexes.sql), created after the bulk load.
CREATE UNIQUE INDEX ux_customer_id ON tb_customer (id);
CREATE UNIQUE INDEX ux_customer_email ON tb_customer (email);
CREATE UNIQUE INDEX ux_order_id ON tb_order (id);
CREATE UNIQUE INDEX ux_order_identifier ON tb_order (identifier);
CREATE INDEX ix_order_customer ON tb_order (fk_customer);
CREATE INDEX ix_order_status_total ON tb_order (status, total);
CREATE UNIQUE INDEX ux_order_item_id ON tb_order_item (id);
CREATE UNIQUE INDEX ux_order_item_order_position ON tb_order_item (fk_order, position);
ANALYZE;
