-- `--events` only (bench/harness/events.py): what the events benchmark adds to its copy of
-- the dataset (`fraiseql_bench_events`, made from `fraiseql_bench` as a template, so the
-- other modes never see its orders or the outbox).
--
-- createOrder -> fn_create_order: a new pending order of an existing customer, with one
-- line, returning mutation_response. It needs no unique input (the keys come from
-- sequences, the public id from gen_random_uuid()), so every request may send the same
-- body; the load sends a random customer per request. With observers on, the INSERT into
-- tb_order is what the `[[observers.rules]]` table rule captures.

CREATE SEQUENCE bench_order_pk;
CREATE SEQUENCE bench_order_item_pk;
SELECT setval('bench_order_pk', (SELECT COALESCE(max(pk_order), 0) + 1 FROM tb_order), false);
SELECT setval('bench_order_item_pk', (SELECT COALESCE(max(pk_order_item), 0) + 1 FROM tb_order_item), false);

CREATE FUNCTION fn_create_order(p_customer uuid, p_total numeric) RETURNS mutation_response
LANGUAGE plpgsql AS $$
DECLARE
    r          mutation_response;
    v_customer tb_customer%ROWTYPE;
    v_pk       bigint;
    v_id       uuid := gen_random_uuid();
BEGIN
    r.entity_type := 'Order';
    IF p_total IS NULL OR p_total < 0 THEN
        r.status := 'failed:validation';
        r.message := 'total must not be negative';
        RETURN r;
    END IF;
    SELECT * INTO v_customer FROM tb_customer WHERE id = p_customer;
    IF NOT FOUND THEN
        r.status := 'failed:not_found';
        r.message := 'customer does not exist';
        RETURN r;
    END IF;
    v_pk := nextval('bench_order_pk');
    INSERT INTO tb_order (pk_order, id, identifier, fk_customer, status, total, paid, note,
                          ship_street, ship_city, ship_postal_code, ship_country, created_at)
    VALUES (v_pk, v_id, 'EVT-' || lpad(v_pk::text, 9, '0'), v_customer.pk_customer, 'pending',
            p_total, false, NULL, v_customer.street, v_customer.city, v_customer.postal_code,
            v_customer.country, now());
    INSERT INTO tb_order_item (pk_order_item, id, fk_order, position, sku, name, quantity, unit_price)
    VALUES (nextval('bench_order_item_pk'), gen_random_uuid(), v_pk, 1, 'SKU-EVENTS',
            'Benchmark item', 1, p_total);
    r.status := 'success';
    r.message := 'order created';
    r.entity_id := v_id::text;
    RETURN r;
END
$$;

-- Where the sessions of this database wait, sampled while a point runs: every `pause`
-- seconds, the wait event (or `CPU` when none) of each active session but this one, each
-- sample its own transaction (the activity view is read once per transaction).
CREATE PROCEDURE bench_wait_samples(n int, pause float8, INOUT samples text[] DEFAULT '{}')
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..n LOOP
        samples := samples || ARRAY(
            SELECT COALESCE(wait_event_type || ':' || wait_event, 'CPU')
            FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'
              AND backend_type = 'client backend');
        COMMIT;
        PERFORM pg_sleep(pause);
    END LOOP;
END
$$;
