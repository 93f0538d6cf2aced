-- Indexes for the workloads (the same as postgres_indexes.sql), created after the bulk load,
-- then statistics, so that the first measured point sees a settled database.

ALTER TABLE tb_customer
    ADD CONSTRAINT ux_customer_id UNIQUE (id),
    ADD CONSTRAINT ux_customer_email UNIQUE (email);
ALTER TABLE tb_order
    ADD CONSTRAINT ux_order_id UNIQUE (id),
    ADD CONSTRAINT ux_order_identifier UNIQUE (identifier),
    ADD INDEX ix_order_customer (fk_customer),
    -- W4: `status = ? AND total >= ?`.
    ADD INDEX ix_order_status_total (status, total),
    ADD FOREIGN KEY (fk_customer) REFERENCES tb_customer (pk_customer);
ALTER TABLE tb_order_item
    ADD CONSTRAINT ux_order_item_id UNIQUE (id),
    ADD CONSTRAINT ux_order_item_order_position UNIQUE (fk_order, position),
    ADD FOREIGN KEY (fk_order) REFERENCES tb_order (pk_order);

ANALYZE TABLE tb_customer, tb_order, tb_order_item;
