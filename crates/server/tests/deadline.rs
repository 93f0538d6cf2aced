//! Issue 9, end to end: a request that passes its deadline answers 504 `TIMEOUT`, and its
//! statement does not outlive it. Before, the PostgreSQL statement kept running (minutes)
//! and its busy connection went back to the pool, so every later request timed out too.
//!
//! A server with a 2 s request deadline and a one-connection pool over 200,000 posts; a
//! slow `icontains` filter passes the deadline, and a lookup by id right after answers
//! within a couple of seconds while `pg_stat_activity` shows the filter gone.

use fraiseql_engine::config::{Config, DatabaseConfig};
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

mod support;

const SDL: &str = r#"
type Post @source(view: "v_post") { id: ID! title: String }
type Query { posts: [Post!]! post(id: ID!): Post }
"#;

/// A schema of its own with 200,000 posts behind a view whose title costs a little per row
/// (a filter on it reads every row and runs for a minute or more; a lookup by id reads
/// one). Its connections carry the schema's name as application name.
struct Scratch {
    schema: String,
}

impl Scratch {
    async fn new() -> Self {
        let schema = format!("fraiseql_deadline_{}", uuid::Uuid::new_v4().simple());
        support::pg_admin()
            .await
            .batch_execute(&format!(
                "CREATE SCHEMA {schema}; SET search_path = {schema};
                 CREATE TABLE tb_post (id uuid PRIMARY KEY, title text NOT NULL);
                 INSERT INTO tb_post
                     SELECT md5(i::text)::uuid, 'post ' || i FROM generate_series(1, 200000) i;
                 CREATE FUNCTION slow_title(t text) RETURNS text LANGUAGE plpgsql STABLE AS
                     $$ BEGIN PERFORM pg_sleep(0.0002); RETURN t; END $$;
                 CREATE VIEW v_post AS
                     SELECT id, jsonb_build_object('id', id, 'title', slow_title(title)) AS data
                     FROM tb_post;"
            ))
            .await
            .expect("setup");
        Self { schema }
    }

    fn url(&self) -> String {
        let schema = &self.schema;
        let sep = if support::pg_url().contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{sep}options=-c%20search_path%3D{schema}&application_name={schema}",
            support::pg_url()
        )
    }

    /// This test's statements running now whose text contains `like`.
    async fn running(&self, like: &str) -> i64 {
        support::pg_admin()
            .await
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
                 AND state = 'active' AND query LIKE $2",
                &[&self.schema, &like],
            )
            .await
            .expect("pg_stat_activity")
            .get(0)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let schema = self.schema.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    let _ = support::pg_admin()
                        .await
                        .batch_execute(&format!(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                             WHERE application_name = '{schema}'; DROP SCHEMA {schema} CASCADE"
                        ))
                        .await;
                });
            }
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_request_leaves_no_statement_behind() {
    let scratch = Scratch::new().await;
    let mut config = Config::default();
    config.server.request_timeout_ms = 2000;
    config.databases.insert(
        "primary".into(),
        DatabaseConfig {
            kind: Some(fraiseql_engine::config::DatabaseKind::Postgresql),
            url: Some(scratch.url()),
            pool_min: 1,
            pool_max: 1,
            // Off, so the request deadline (not the statement timeout it would default to,
            // which fires at the same moment) is what ends the slow statement here.
            statement_timeout_ms: Some(0),
            ..DatabaseConfig::default()
        },
    );
    let running = support::serve(config, SDL).await;
    let base = support::base(&running);
    let http = reqwest::Client::new();

    let (status, body) = support::graphql(
        &http,
        &base,
        json!({ "query": r#"{ posts(where: {title: {icontains: "zzz"}}) { id } }"# }),
    )
    .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "TIMEOUT", "{body}");

    let asked = Instant::now();
    let (status, body) = support::graphql(
        &http,
        &base,
        json!({
            "query": "query ($id: ID!) { post(id: $id) { title } }",
            "variables": { "id": "8f14e45f-ceea-167a-5a36-dedd4bea2543" },
        }),
    )
    .await;
    assert_eq!(
        (status, body.clone()),
        (
            StatusCode::OK,
            json!({ "data": { "post": { "title": "post 7" } } })
        )
    );
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "the lookup took {:?}",
        asked.elapsed()
    );

    let start = Instant::now();
    while scratch.running("%ILIKE%").await > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "the timed-out statement still runs"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.stop().await.expect("stops");
}

/// A client that gives up (closes its connection) before the deadline: its statement is
/// cancelled too, without waiting for the deadline or a statement timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_leaves_no_statement_behind() {
    let scratch = Scratch::new().await;
    let mut config = Config::default();
    config.server.request_timeout_ms = 60_000;
    config.databases.insert(
        "primary".into(),
        DatabaseConfig {
            kind: Some(fraiseql_engine::config::DatabaseKind::Postgresql),
            url: Some(scratch.url()),
            pool_max: 1,
            statement_timeout_ms: Some(0),
            ..DatabaseConfig::default()
        },
    );
    let running = support::serve(config, SDL).await;
    let base = support::base(&running);
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(800))
        .build()
        .expect("client");
    let gave_up = impatient
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": r#"{ posts(where: {title: {icontains: "zzz"}}) { id } }"# }))
        .send()
        .await;
    assert!(gave_up.is_err(), "the client gives up first");
    drop(impatient);

    let start = Instant::now();
    while scratch.running("%ILIKE%").await > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "the abandoned statement still runs"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = support::graphql(
        &reqwest::Client::new(),
        &base,
        json!({
            "query": "query ($id: ID!) { post(id: $id) { title } }",
            "variables": { "id": "8f14e45f-ceea-167a-5a36-dedd4bea2543" },
        }),
    )
    .await;
    assert_eq!(
        (status, body["data"]["post"]["title"].clone()),
        (StatusCode::OK, json!("post 7"))
    );
    running.stop().await.expect("stops");
}

/// The same on SQLite: the statement runs on a blocking thread that holds the connection;
/// at the deadline it is interrupted, so the next request on the one connection answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_request_leaves_sqlite_free() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("app.db");
    rusqlite::Connection::open(&path)
        .expect("open")
        .execute_batch(
            "CREATE TABLE tb_post (id TEXT PRIMARY KEY, title TEXT NOT NULL);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 200000)
             INSERT INTO tb_post SELECT 'p' || i, 'post ' || i FROM n;
             -- A title that costs a few thousand steps per row to build.
             CREATE VIEW v_post AS SELECT id, json_object('id', id, 'title',
                 (WITH RECURSIVE c(x) AS (SELECT length(tb_post.title)
                                          UNION ALL SELECT x + 1 FROM c WHERE x < 3000)
                  SELECT tb_post.title FROM c WHERE x = 3000)) AS data
             FROM tb_post;",
        )
        .expect("setup");
    let mut config = Config::default();
    config.server.request_timeout_ms = 2000;
    config.databases.insert(
        "primary".into(),
        DatabaseConfig {
            kind: Some(fraiseql_engine::config::DatabaseKind::Sqlite),
            url: Some(format!("sqlite://{}", path.display())),
            pool_max: 1,
            ..DatabaseConfig::default()
        },
    );
    let running = support::serve(config, SDL).await;
    let base = support::base(&running);
    let http = reqwest::Client::new();

    let (status, body) = support::graphql(
        &http,
        &base,
        json!({ "query": r#"{ posts(where: {title: {icontains: "zzz"}}) { id } }"# }),
    )
    .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "TIMEOUT", "{body}");

    let asked = Instant::now();
    let (status, body) = support::graphql(
        &http,
        &base,
        json!({ "query": r#"{ post(id: "p7") { title } }"# }),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!({ "data": { "post": { "title": "post 7" } } })
        )
    );
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "the lookup took {:?}",
        asked.elapsed()
    );
    running.stop().await.expect("stops");
}
