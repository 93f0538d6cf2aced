-- Tables (tb_*), views with one JSON `data` column per entity (v_*), and the mutation
-- "function" fn_create_post. `fraiseql init` ran this file to create app.db; to start over,
-- delete app.db and run it again: sqlite3 app.db < db/schema.sql

CREATE TABLE tb_author (
    pk_author  INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL UNIQUE
);

CREATE TABLE tb_post (
    pk_post    INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    fk_author  INTEGER NOT NULL REFERENCES tb_author (pk_author),
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    published  INTEGER NOT NULL DEFAULT 0 CHECK (published IN (0, 1)),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE VIEW v_author AS
SELECT a.id AS id,
       json_object('id', a.id, 'name', a.name, 'email', a.email) AS data
FROM tb_author a;

-- `author_id` is also a column so the Author.posts relation can filter on it.
CREATE VIEW v_post AS
SELECT p.id AS id,
       a.id AS author_id,
       json_object(
           'id', p.id,
           'title', p.title,
           'body', p.body,
           'published', json(CASE WHEN p.published THEN 'true' ELSE 'false' END),
           'created_at', p.created_at,
           'author_id', a.id,
           'author', json_object('id', a.id, 'name', a.name)
       ) AS data
FROM tb_post p
JOIN tb_author a ON a.pk_author = p.fk_author;

-- Mutations. SQLite has no stored functions: a mutation is an INSERT into a view named like
-- the function, whose columns are its parameters. The INSTEAD OF INSERT trigger does the work
-- and writes exactly one row into fraiseql_mutation_response, which FraiseQL reads back in the
-- same transaction. A status other than 'success' becomes a GraphQL error
-- ('failed:not_found' -> NOT_FOUND, 'failed:validation' -> BAD_USER_INPUT) and rolls back.
CREATE TABLE fraiseql_mutation_response (
    status      TEXT NOT NULL,
    message     TEXT,
    entity_id   TEXT,
    entity_type TEXT,
    entity      TEXT,
    metadata    TEXT
);

-- fn_create_post(p_author_id, p_title, p_body)
CREATE VIEW fn_create_post AS
SELECT NULL AS p_author_id, NULL AS p_title, NULL AS p_body
WHERE 0;

CREATE TRIGGER fn_create_post_call
INSTEAD OF INSERT ON fn_create_post
BEGIN
    INSERT INTO fraiseql_mutation_response (status, message, entity_type)
    SELECT 'failed:not_found', 'author does not exist', 'Post'
    WHERE NOT EXISTS (SELECT 1 FROM tb_author WHERE id = NEW.p_author_id);

    INSERT INTO fraiseql_mutation_response (status, message, entity_type)
    SELECT 'failed:validation', 'title must not be empty', 'Post'
    WHERE trim(coalesce(NEW.p_title, '')) = ''
      AND NOT EXISTS (SELECT 1 FROM fraiseql_mutation_response);

    INSERT INTO tb_post (id, fk_author, title, body)
    SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||
                 substr(hex(randomblob(2)), 2) || '-' ||
                 substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) ||
                 '-' || hex(randomblob(6))),
           a.pk_author, NEW.p_title, NEW.p_body
    FROM tb_author a
    WHERE a.id = NEW.p_author_id
      AND NOT EXISTS (SELECT 1 FROM fraiseql_mutation_response);

    -- Inside a trigger, last_insert_rowid() is the row this trigger just inserted.
    INSERT INTO fraiseql_mutation_response (status, message, entity_id, entity_type)
    SELECT 'success', 'post created', p.id, 'Post'
    FROM tb_post p
    WHERE p.pk_post = last_insert_rowid()
      AND NOT EXISTS (SELECT 1 FROM fraiseql_mutation_response);
END;

-- Sample data.
INSERT INTO tb_author (id, name, email) VALUES
    ('a1000000-0000-4000-8000-000000000001', 'Ada Lovelace', 'ada@example.com'),
    ('a1000000-0000-4000-8000-000000000002', 'Alan Turing', 'alan@example.com');

INSERT INTO tb_post (id, fk_author, title, body, published, created_at) VALUES
    ('b1000000-0000-4000-8000-000000000001', 1, 'Notes on the Analytical Engine',
     'The engine weaves algebraic patterns.', 1, '2024-01-15T10:00:00Z'),
    ('b1000000-0000-4000-8000-000000000002', 2, 'Computing Machinery and Intelligence',
     'Can machines think?', 1, '2024-02-01T09:30:00Z'),
    ('b1000000-0000-4000-8000-000000000003', 2, 'On Computable Numbers (draft)',
     'A draft that is not published yet.', 0, '2024-03-10T16:45:00Z');
