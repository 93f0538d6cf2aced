//! Issue 9, end to end: a request that passes its deadline answers 504 `TIMEOUT`, and its
//! statement does not outlive it. Before, the PostgreSQL statement kept running (minutes)
//! and its busy connection went back to the pool, so every later request timed out too.
//!
//! A server with a 2 s request deadline and a one-connection pool over a view of many posts
//! whose title costs a little per row; a slow `icontains` filter passes the deadline, and a
//! lookup by id right after answers within a couple of seconds while the server's list of
//! running statements (`pg_stat_activity`, MariaDB's `information_schema.PROCESSLIST`) shows
//! the filter gone. The same on PostgreSQL and MySQL/MariaDB; SQLite has its own variant.

use fraiseql_engine::config::{Config, DatabaseConfig};
use mysql_async::prelude::Queryable;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

mod support;

const SDL: &str = r#"
type Post @source(view: "v_post") { id: ID! title: String }
type Query { posts: [Post!]! post(id: ID!): Post }
"#;

/// The id of post 7 (`md5('7')` as a UUID).
const POST_7: &str = "8f14e45f-ceea-167a-5a36-dedd4bea2543";

/// A database (PostgreSQL: a schema) of its own with many posts behind a view whose title
/// costs a little per row (at least 0.2 ms: a filter on it reads every row and runs for 20 s
/// or more; a lookup by id reads one). Post `i` has id `md5(i)` and title `post i`.
enum Scratch {
    /// The schema, also the application name of its connections.
    Postgres {
        schema: String,
    },
    Mysql(support::MysqlScratch),
}

impl Scratch {
    async fn postgres() -> Self {
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
        Self::Postgres { schema }
    }

    async fn mysql() -> Self {
        Self::Mysql(
            support::MysqlScratch::new(
                "CREATE TABLE tb_post (id CHAR(36) PRIMARY KEY, title VARCHAR(100) NOT NULL);
                 INSERT INTO tb_post
                     SELECT INSERT(INSERT(INSERT(INSERT(MD5(seq), 9, 0, '-'), 14, 0, '-'),
                                          19, 0, '-'), 24, 0, '-'),
                            CONCAT('post ', seq)
                     FROM seq_1_to_100000;
                 CREATE FUNCTION slow_title(t VARCHAR(100)) RETURNS VARCHAR(100) NOT DETERMINISTIC
                     BEGIN DO SLEEP(0.0002); RETURN t; END;
                 CREATE VIEW v_post AS
                     SELECT id, JSON_OBJECT('id', id, 'title', slow_title(title)) AS data
                     FROM tb_post;",
            )
            .await,
        )
    }

    /// The primary database of the server under test: a one-connection pool without a
    /// statement timeout, so the request deadline (or the client leaving), not the statement
    /// timeout it would default to, is what ends the slow statement.
    fn config(&self) -> DatabaseConfig {
        let url = match self {
            Self::Postgres { schema } => {
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
            Self::Mysql(scratch) => scratch.url.clone(),
        };
        DatabaseConfig {
            pool_min: 1,
            pool_max: 1,
            statement_timeout_ms: Some(0),
            ..support::database(url)
        }
    }

    /// How many of this test's statements run the slow filter now.
    async fn running(&self) -> i64 {
        match self {
            Self::Postgres { schema } => support::pg_admin()
                .await
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
                     AND state = 'active' AND query LIKE '%ILIKE%'",
                    &[schema],
                )
                .await
                .expect("pg_stat_activity")
                .get(0),
            Self::Mysql(scratch) => support::mysql_connect(&support::mysql_url())
                .await
                .exec_first(
                    // INFO shows the statement running inside the view's function (`DO
                    // SLEEP(…)`) most of the time, the filter itself between two calls.
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
                     WHERE DB = ? AND (INFO LIKE '%SLEEP%' OR INFO LIKE '%LIKE%')",
                    (scratch.name.as_str(),),
                )
                .await
                .expect("processlist")
                .unwrap_or_default(),
        }
    }

    /// Waits until no statement runs the slow filter, or fails after `limit`.
    async fn until_gone(&self, limit: Duration) {
        let start = Instant::now();
        while self.running().await > 0 {
            assert!(
                start.elapsed() < limit,
                "the abandoned statement still runs after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // A MariaDB database drops itself.
        let Self::Postgres { schema } = self else {
            return;
        };
        let schema = schema.clone();
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

/// A lookup of post 7: its status and body.
async fn post_7(http: &reqwest::Client, base: &str) -> (StatusCode, serde_json::Value) {
    support::graphql(
        http,
        base,
        json!({
            "query": "query ($id: ID!) { post(id: $id) { title } }",
            "variables": { "id": POST_7 },
        }),
    )
    .await
}

/// The slow filter.
fn slow() -> serde_json::Value {
    json!({ "query": r#"{ posts(where: {title: {icontains: "zzz"}}) { id } }"# })
}

async fn a_timed_out_request_leaves_no_statement_behind(scratch: Scratch) {
    let mut config = Config::default();
    config.server.request_timeout_ms = 2000;
    config.databases.insert("primary".into(), scratch.config());
    let running = support::serve(config, SDL).await;
    let base = support::base(&running);
    let http = reqwest::Client::new();

    let request = tokio::spawn({
        let (http, base) = (http.clone(), base.clone());
        async move { support::graphql(&http, &base, slow()).await }
    });
    // Seen running, so its absence later means something.
    let start = Instant::now();
    while scratch.running().await == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "the slow filter never showed as running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, body) = request.await.expect("request task");
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "TIMEOUT", "{body}");

    let asked = Instant::now();
    assert_eq!(
        post_7(&http, &base).await,
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
    scratch.until_gone(Duration::from_secs(2)).await;
    running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_request_leaves_no_statement_behind_on_postgres() {
    a_timed_out_request_leaves_no_statement_behind(Scratch::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_request_leaves_no_statement_behind_on_mysql() {
    a_timed_out_request_leaves_no_statement_behind(Scratch::mysql().await).await;
}

/// A client that gives up (closes its connection) before the deadline: its statement is
/// cancelled too, without waiting for the deadline or a statement timeout.
async fn a_client_that_goes_away_leaves_no_statement_behind(scratch: Scratch) {
    let mut config = Config::default();
    config.server.request_timeout_ms = 60_000;
    config.databases.insert("primary".into(), scratch.config());
    let running = support::serve(config, SDL).await;
    let base = support::base(&running);
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(800))
        .build()
        .expect("client");
    let gave_up = impatient
        .post(format!("{base}/graphql"))
        .json(&slow())
        .send()
        .await;
    assert!(gave_up.is_err(), "the client gives up first");
    drop(impatient);

    scratch.until_gone(Duration::from_secs(3)).await;
    let (status, body) = post_7(&reqwest::Client::new(), &base).await;
    assert_eq!(
        (status, body["data"]["post"]["title"].clone()),
        (StatusCode::OK, json!("post 7"))
    );
    running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_leaves_no_statement_behind_on_postgres() {
    a_client_that_goes_away_leaves_no_statement_behind(Scratch::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_leaves_no_statement_behind_on_mysql() {
    a_client_that_goes_away_leaves_no_statement_behind(Scratch::mysql().await).await;
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
