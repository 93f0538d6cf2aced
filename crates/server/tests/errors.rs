//! What a client learns when the database refuses a statement: a stable code and a fixed
//! message, never the database's own text (which quotes the input, types, tables and
//! constraints) nor its SQLSTATE. The schema author's own `RAISE` (MySQL/MariaDB: `SIGNAL
//! SQLSTATE '45000'`) is the exception: that message was written for clients. Every dialect,
//! each against a real database, with the same expected answers.

use fraiseql_server::Running;
use serde_json::{json, Value};

mod support;

const SDL: &str = r#"
type Post @source(view: "v_post") { id: ID! title: String }
type Query { posts: [Post!]! }
type Mutation { createPost(title: String!): Post @function(name: "fn_create_post") }
"#;

/// Text of the database's own messages that must not reach a client.
const LEAKS: &[&str] = &[
    "sqlstate",
    "tb_post",
    "evil",
    "uuid",
    "violates",
    "duplicate key",
    "Failing row",
    "UNIQUE constraint",
    "CHECK constraint",
    "INTEGER column",
    "constraint failed",
    "SQLSTATE",
    "invalid input syntax",
    "cannot store",
    "Duplicate entry",
    "CONSTRAINT",
    "Incorrect",
    "45000",
];

/// The schema of the PostgreSQL case: posts and a function that fails in chosen ways.
const PG_SETUP: &str = r#"
CREATE TABLE tb_post (
    id    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    title text NOT NULL UNIQUE CHECK (length(title) <= 20)
);
CREATE VIEW v_post AS
    SELECT id, jsonb_build_object('id', id::text, 'title', title) AS data FROM tb_post;
CREATE FUNCTION fn_create_post(p_title text) RETURNS SETOF v_post
LANGUAGE plpgsql AS $$
BEGIN
    IF p_title = 'raise' THEN
        RAISE EXCEPTION 'that title is reserved';
    END IF;
    IF p_title LIKE 'cast:%' THEN
        PERFORM substr(p_title, 6)::uuid;
    END IF;
    INSERT INTO tb_post (title) VALUES (p_title);
    RETURN QUERY SELECT * FROM v_post WHERE data->>'title' = p_title;
END
$$;
"#;

/// A SQLite database with the same shape: a STRICT table (so a wrong type is an error, as on
/// PostgreSQL) and the mutation as a view with an INSTEAD OF INSERT trigger.
fn sqlite_db(dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("app.db");
    let conn = rusqlite::Connection::open(&path).expect("open SQLite");
    conn.execute_batch(
        r#"
CREATE TABLE tb_post (
    id    TEXT PRIMARY KEY,
    title TEXT NOT NULL UNIQUE CHECK (length(title) <= 20),
    n     INTEGER
) STRICT;
CREATE VIEW v_post AS SELECT id, json_object('id', id, 'title', title) AS data FROM tb_post;
CREATE TABLE fraiseql_mutation_response (
    status TEXT NOT NULL, message TEXT, entity_id TEXT, entity_type TEXT, entity TEXT,
    metadata TEXT
);
CREATE VIEW fn_create_post AS SELECT NULL AS p_title WHERE 0;
CREATE TRIGGER fn_create_post_call INSTEAD OF INSERT ON fn_create_post
BEGIN
    SELECT RAISE(ABORT, 'that title is reserved') WHERE NEW.p_title = 'raise';
    INSERT INTO tb_post (id, title, n)
    VALUES (
        lower(hex(randomblob(16))),
        NEW.p_title,
        CASE WHEN NEW.p_title LIKE 'cast:%' THEN substr(NEW.p_title, 6) ELSE 1 END
    );
    INSERT INTO fraiseql_mutation_response (status, message, entity_id, entity_type)
    SELECT 'success', 'post created', id, 'Post' FROM tb_post WHERE title = NEW.p_title;
END;
"#,
    )
    .expect("setup");
    format!("sqlite://{}", path.display())
}

/// A MySQL/MariaDB database with the same shape: a strict `sql_mode` (the server's default,
/// kept by the procedure), so a wrong type is an error, and the mutation as a stored
/// procedure that returns the `mutation_response` columns and `SIGNAL`s the author's error.
const MYSQL_SETUP: &str = r#"
CREATE TABLE tb_post (
    id    CHAR(36) PRIMARY KEY,
    title VARCHAR(100) NOT NULL UNIQUE CHECK (CHAR_LENGTH(title) <= 20),
    n     INT
);
CREATE VIEW v_post AS SELECT id, JSON_OBJECT('id', id, 'title', title) AS data FROM tb_post;
CREATE PROCEDURE fn_create_post(IN p_title VARCHAR(100))
proc: BEGIN
    DECLARE v_id CHAR(36) DEFAULT UUID();
    -- Result sets that are neither a mutation_response nor rows of the view.
    IF p_title = 'shapeless' THEN
        SELECT 1 AS x;
        LEAVE proc;
    END IF;
    IF p_title = 'rowless' THEN
        SELECT 'success' AS status FROM DUAL WHERE 1 = 0;
        LEAVE proc;
    END IF;
    IF p_title = 'raise' THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'that title is reserved';
    END IF;
    INSERT INTO tb_post (id, title, n)
    VALUES (v_id, p_title, IF(p_title LIKE 'cast:%', SUBSTR(p_title, 6), 1));
    SELECT 'success' AS status, 'post created' AS message, v_id AS entity_id,
           'Post' AS entity_type;
END;
"#;

async fn start(url: String) -> Running {
    let config = support::with_primary(support::database(url));
    support::serve(config, SDL).await
}

async fn create(running: &Running, title: &str) -> (String, Value) {
    let body = json!({
        "query": "mutation ($t: String!) { createPost(title: $t) { title } }",
        "variables": {"t": title},
    });
    let text = reqwest::Client::new()
        .post(format!("http://{}/graphql", running.addr))
        .json(&body)
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (text, value)
}

/// The error of a refused `createPost`, checked for leaks; returns (code, message).
async fn refused(running: &Running, title: &str) -> (String, String) {
    let (text, body) = create(running, title).await;
    for leak in LEAKS {
        assert!(
            !text.contains(leak),
            "`{leak}` reached the client for {title:?}: {text}"
        );
    }
    let error = &body["errors"][0];
    assert_eq!(body["data"]["createPost"], Value::Null, "{text}");
    assert_eq!(error["extensions"]["database"], "primary", "{text}");
    let keys: Vec<&String> = error["extensions"]
        .as_object()
        .expect("extensions")
        .keys()
        .collect();
    assert_eq!(keys, ["code", "database"], "{text}");
    (
        error["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        error["message"].as_str().unwrap_or_default().to_string(),
    )
}

/// The cases every dialect must answer alike.
async fn database_text_stays_in_the_log(running: &Running) {
    // Text that quoting and padding collations get wrong is stored and read back as sent
    // (`a` and `a ` are two titles under the unique constraint).
    for title in ["hello", r"a\'b", r"ends\", "a", "a "] {
        let (_, ok) = create(running, title).await;
        assert_eq!(ok, json!({"data": {"createPost": {"title": title}}}));
    }
    assert_eq!(
        refused(running, "hello").await,
        (
            "CONFLICT".into(),
            "a record with the same unique value already exists".into()
        )
    );
    assert_eq!(
        refused(running, "evil title\nthat is far too long").await,
        (
            "BAD_USER_INPUT".into(),
            "a value breaks a check constraint".into()
        )
    );
    // The author's RAISE is meant for clients and passes through.
    let (text, body) = create(running, "raise").await;
    assert_eq!(
        body["errors"][0]["message"], "that title is reserved",
        "{text}"
    );
    assert_eq!(body["errors"][0]["extensions"]["code"], "MUTATION_FAILED");
    assert!(!text.contains("sqlstate"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_errors_reach_clients_without_database_text() {
    let scratch = support::PgScratch::new(PG_SETUP).await;
    let running = start(scratch.url.clone()).await;
    database_text_stays_in_the_log(&running).await;
    // A value the column type cannot read (22P02 quotes it back).
    assert_eq!(
        refused(&running, "cast:evil\nvalue").await,
        ("BAD_USER_INPUT".into(), "invalid input value".into())
    );
    running.stop().await.expect("stops");
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_errors_reach_clients_without_database_text() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start(sqlite_db(&dir)).await;
    database_text_stays_in_the_log(&running).await;
    // A STRICT column refusing a text value ("cannot store TEXT value in INTEGER column")
    // is the same portable kind as PostgreSQL's 22P02, so both dialects answer alike.
    assert_eq!(
        refused(&running, "cast:evil").await,
        ("BAD_USER_INPUT".into(), "invalid input value".into())
    );
    running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_errors_reach_clients_without_database_text() {
    let scratch = support::MysqlScratch::new(MYSQL_SETUP).await;
    let running = start(scratch.url.clone()).await;
    database_text_stays_in_the_log(&running).await;
    // Text into an INT column (1366 "Incorrect integer value", SQLSTATE 22007): the same
    // portable kind as PostgreSQL's 22P02.
    assert_eq!(
        refused(&running, "cast:evil\nvalue").await,
        ("BAD_USER_INPUT".into(), "invalid input value".into())
    );
    // A procedure whose result set has neither a `status` nor a `data` column, or no row,
    // is an error, not a silent null.
    for title in ["shapeless", "rowless"] {
        let (text, body) = create(&running, title).await;
        assert_eq!(body["data"]["createPost"], Value::Null, "{text}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "DATABASE_ERROR",
            "{text}"
        );
        assert_eq!(
            body["errors"][0]["message"], "function `fn_create_post` returned no mutation_response",
            "{text}"
        );
    }
    running.stop().await.expect("stops");
}
