-- Tables (tb_*), views with one JSON `data` column per entity (v_*), and the mutation
-- function fn_create_post. Load it once into an empty database (README.md says how):
--   psql -h localhost -U postgres -d {{db}} -v ON_ERROR_STOP=1 -f db/schema.sql

CREATE TABLE tb_author (
    pk_author  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    name       text NOT NULL,
    email      text NOT NULL UNIQUE
);

CREATE TABLE tb_post (
    pk_post    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    fk_author  bigint NOT NULL REFERENCES tb_author (pk_author),
    title      text NOT NULL,
    body       text NOT NULL,
    published  boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT date_trunc('second', now())
);

-- Author.posts reads an author's posts.
CREATE INDEX ix_post_author ON tb_post (fk_author);

-- `data` is jsonb: FraiseQL reads fields out of it and builds the response from them.
CREATE VIEW v_author AS
SELECT a.id AS id,
       jsonb_build_object('id', a.id, 'name', a.name, 'email', a.email) AS data
FROM tb_author a;

-- `author_id` is also a column so the Author.posts relation can filter on it. Timestamps are
-- ISO 8601 in UTC, as in the SQLite and MySQL versions of this file.
CREATE VIEW v_post AS
SELECT p.id AS id,
       a.id AS author_id,
       jsonb_build_object(
           'id', p.id,
           'title', p.title,
           'body', p.body,
           'published', p.published,
           'created_at', to_char(p.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           'author_id', a.id,
           'author', jsonb_build_object('id', a.id, 'name', a.name)
       ) AS data
FROM tb_post p
JOIN tb_author a ON a.pk_author = p.fk_author;

-- What every mutation function returns. A status other than 'success' becomes a GraphQL
-- error ('failed:not_found' -> NOT_FOUND, 'failed:validation' -> BAD_USER_INPUT) and the
-- transaction is rolled back; on success FraiseQL reads entity_id back through the view.
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

CREATE FUNCTION fn_create_post(p_author_id uuid, p_title text, p_body text)
RETURNS mutation_response
LANGUAGE plpgsql AS $$
DECLARE
    v_author bigint;
    r        mutation_response;
BEGIN
    r.entity_type := 'Post';
    SELECT pk_author INTO v_author FROM tb_author WHERE id = p_author_id;
    IF NOT FOUND THEN
        r.status := 'failed:not_found';
        r.message := 'author does not exist';
        RETURN r;
    END IF;
    IF trim(coalesce(p_title, '')) = '' THEN
        r.status := 'failed:validation';
        r.message := 'title must not be empty';
        RETURN r;
    END IF;
    INSERT INTO tb_post (fk_author, title, body)
    VALUES (v_author, p_title, p_body)
    RETURNING id::text INTO r.entity_id;
    r.status := 'success';
    r.message := 'post created';
    RETURN r;
END
$$;

-- Sample data.
INSERT INTO tb_author (id, name, email) VALUES
    ('a1000000-0000-4000-8000-000000000001', 'Ada Lovelace', 'ada@example.com'),
    ('a1000000-0000-4000-8000-000000000002', 'Alan Turing', 'alan@example.com');

-- A fresh database numbers the authors 1 and 2.
INSERT INTO tb_post (id, fk_author, title, body, published, created_at) VALUES
    ('b1000000-0000-4000-8000-000000000001', 1, 'Notes on the Analytical Engine',
     'The engine weaves algebraic patterns.', true, '2024-01-15T10:00:00Z'),
    ('b1000000-0000-4000-8000-000000000002', 2, 'Computing Machinery and Intelligence',
     'Can machines think?', true, '2024-02-01T09:30:00Z'),
    ('b1000000-0000-4000-8000-000000000003', 2, 'On Computable Numbers (draft)',
     'A draft that is not published yet.', false, '2024-03-10T16:45:00Z');
