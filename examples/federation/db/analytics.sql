-- The analytics database (MariaDB): engagement metrics per user, kept apart from the
-- transactional database. Loaded by run.sh into a fresh database created with the
-- utf8mb4_nopad_bin collation (byte order, no padding: the collation FraiseQL compares
-- text with, so lookups by `user_id` use its index).
--
-- It knows users only by their id (`usr_123`): there are no foreign keys across databases.

CREATE TABLE tb_user_analytics (
    user_id         VARCHAR(20) NOT NULL PRIMARY KEY,
    total_orders    INT NOT NULL CHECK (total_orders >= 0),
    lifetime_value  DECIMAL(12, 2) NOT NULL CHECK (lifetime_value >= 0),
    last_order_date DATE
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

-- `lifetime_value` is a JSON number (GraphQL Float), `last_order_date` 'YYYY-MM-DD'.
CREATE VIEW v_user_analytics AS
SELECT
    a.user_id,
    JSON_OBJECT(
        'user_id', a.user_id,
        'total_orders', a.total_orders,
        'lifetime_value', a.lifetime_value,
        'last_order_date', DATE_FORMAT(a.last_order_date, '%Y-%m-%d')
    ) AS data
FROM tb_user_analytics a;

-- A mutation on MariaDB is a stored procedure whose result set has the mutation_response
-- columns (status, message, entity_id, entity_type). Adds one purchase to a user's
-- metrics; FraiseQL reads the row back through v_user_analytics by `user_id`.
DELIMITER //

CREATE PROCEDURE fn_record_purchase(
    IN p_user_id VARCHAR(20),
    IN p_amount  DECIMAL(12, 2),
    IN p_date    DATE
)
BEGIN
    IF p_amount IS NULL OR p_amount <= 0 THEN
        SELECT 'failed:validation' AS status, 'amount must be positive' AS message,
               NULL AS entity_id, 'UserAnalytics' AS entity_type;
    ELSE
        INSERT INTO tb_user_analytics (user_id, total_orders, lifetime_value, last_order_date)
        VALUES (p_user_id, 1, p_amount, p_date)
        ON DUPLICATE KEY UPDATE
            total_orders = total_orders + 1,
            lifetime_value = lifetime_value + p_amount,
            last_order_date = GREATEST(COALESCE(last_order_date, p_date), p_date);
        SELECT 'success' AS status, 'purchase recorded' AS message, p_user_id AS entity_id,
               'UserAnalytics' AS entity_type;
    END IF;
END //

DELIMITER ;

-- Metrics for usr_001 to usr_500, except every hundredth user (usr_100, usr_200, ...), who
-- has no metrics yet. usr_123 (Alice) has the figures of the docs' example.
INSERT INTO tb_user_analytics (user_id, total_orders, lifetime_value, last_order_date)
WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
SELECT
    CONCAT('usr_', LPAD(i, 3, '0')),
    1 + (i * 37) % 60,
    (1 + (i * 37) % 60) * (20 + (i * 13) % 80) + (i % 4) * 0.25,
    DATE_ADD('2024-01-01', INTERVAL (i * 7) % 180 DAY)
FROM n
WHERE i % 100 <> 0;

UPDATE tb_user_analytics
SET total_orders = 47, lifetime_value = 3240.50, last_order_date = '2024-01-10'
WHERE user_id = 'usr_123';
