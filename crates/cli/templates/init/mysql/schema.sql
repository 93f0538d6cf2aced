-- Tables (tb_*), views with one JSON `data` column per entity (v_*), and the mutation
-- procedure fn_create_post, for MariaDB 10.6 or newer. Load it once into an empty database
-- with the mariadb client, which understands the DELIMITER lines (README.md says how):
--   mariadb -h 127.0.0.1 -u root {{db}} < db/schema.sql
--
-- Text compares byte by byte without padding (utf8mb4_nopad_bin), as FraiseQL compares: under
-- a case-insensitive collation it could not use the id columns' indexes.

CREATE TABLE tb_author (
    pk_author  BIGINT AUTO_INCREMENT PRIMARY KEY,
    id         CHAR(36) NOT NULL UNIQUE,
    name       VARCHAR(200) NOT NULL,
    email      VARCHAR(200) NOT NULL UNIQUE
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

-- Timestamps are stored in UTC.
CREATE TABLE tb_post (
    pk_post    BIGINT AUTO_INCREMENT PRIMARY KEY,
    id         CHAR(36) NOT NULL UNIQUE,
    fk_author  BIGINT NOT NULL,
    title      VARCHAR(500) NOT NULL,
    body       TEXT NOT NULL,
    published  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at DATETIME NOT NULL DEFAULT (UTC_TIMESTAMP()),
    FOREIGN KEY (fk_author) REFERENCES tb_author (pk_author)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

CREATE VIEW v_author AS
SELECT a.id AS id,
       JSON_OBJECT('id', a.id, 'name', a.name, 'email', a.email) AS data
FROM tb_author a;

-- `author_id` is also a column so the Author.posts relation can filter on it. Booleans are
-- JSON true/false (not 1/0) and timestamps ISO 8601 in UTC, as in the SQLite and PostgreSQL
-- versions of this file.
CREATE VIEW v_post AS
SELECT p.id AS id,
       a.id AS author_id,
       JSON_OBJECT(
           'id', p.id,
           'title', p.title,
           'body', p.body,
           'published', IF(p.published, JSON_EXTRACT('true', '$'), JSON_EXTRACT('false', '$')),
           'created_at', DATE_FORMAT(p.created_at, '%Y-%m-%dT%H:%i:%sZ'),
           'author_id', a.id,
           'author', JSON_OBJECT('id', a.id, 'name', a.name)
       ) AS data
FROM tb_post p
JOIN tb_author a ON a.pk_author = p.fk_author;

-- Mutations are stored procedures whose result set has the mutation_response columns
-- (status, message, entity_id, entity_type). A status other than 'success' becomes a GraphQL
-- error ('failed:not_found' -> NOT_FOUND, 'failed:validation' -> BAD_USER_INPUT) and the
-- transaction is rolled back; on success FraiseQL reads entity_id back through the view.
DELIMITER //

CREATE PROCEDURE fn_create_post(IN p_author_id CHAR(36), IN p_title VARCHAR(500), IN p_body TEXT)
BEGIN
    DECLARE v_author BIGINT DEFAULT NULL;
    DECLARE v_id CHAR(36);
    SELECT pk_author INTO v_author FROM tb_author WHERE id = p_author_id;
    IF v_author IS NULL THEN
        SELECT 'failed:not_found' AS status, 'author does not exist' AS message,
               NULL AS entity_id, 'Post' AS entity_type;
    ELSEIF TRIM(COALESCE(p_title, '')) = '' THEN
        SELECT 'failed:validation' AS status, 'title must not be empty' AS message,
               NULL AS entity_id, 'Post' AS entity_type;
    ELSE
        SET v_id = UUID();
        INSERT INTO tb_post (id, fk_author, title, body) VALUES (v_id, v_author, p_title, p_body);
        SELECT 'success' AS status, 'post created' AS message, v_id AS entity_id,
               'Post' AS entity_type;
    END IF;
END //

DELIMITER ;

-- Sample data. A fresh database numbers the authors 1 and 2.
INSERT INTO tb_author (id, name, email) VALUES
    ('a1000000-0000-4000-8000-000000000001', 'Ada Lovelace', 'ada@example.com'),
    ('a1000000-0000-4000-8000-000000000002', 'Alan Turing', 'alan@example.com');

INSERT INTO tb_post (id, fk_author, title, body, published, created_at) VALUES
    ('b1000000-0000-4000-8000-000000000001', 1, 'Notes on the Analytical Engine',
     'The engine weaves algebraic patterns.', TRUE, '2024-01-15 10:00:00'),
    ('b1000000-0000-4000-8000-000000000002', 2, 'Computing Machinery and Intelligence',
     'Can machines think?', TRUE, '2024-02-01 09:30:00'),
    ('b1000000-0000-4000-8000-000000000003', 2, 'On Computable Numbers (draft)',
     'A draft that is not published yet.', FALSE, '2024-03-10 16:45:00');
