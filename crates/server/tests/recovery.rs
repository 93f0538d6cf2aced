//! A database that is down when the server starts, comes up, then goes away and comes back:
//! the server starts anyway, reports degraded health, answers requests for that database
//! with `DATABASE_UNAVAILABLE` instead of hanging, and recovers without a restart. The same
//! test on PostgreSQL and on MySQL/MariaDB.
//!
//! The real server (`FRAISEQL_TEST_PG_URL`, `FRAISEQL_TEST_MYSQL_URL`) sits behind a TCP
//! gate this test opens and closes; closing it also cuts the connections the pool holds.

use fraiseql_engine::config::{Config, DatabaseConfig};
use fraiseql_engine::schema::load_schema;
use fraiseql_server::{spawn, ServeOptions};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod support;

const SDL: &str = r#"
type Post @source(view: "v_post") { id: ID! title: String }
type Query { posts: [Post!]! }
"#;

/// A schema of its own in the PostgreSQL test database, with one view; its URL (the
/// schema is the connection's search path) and the admin connection that drops it.
async fn pg_scratch() -> (String, String, tokio_postgres::Client) {
    let client = support::pg_admin().await;
    let schema = format!("fraiseql_recovery_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema};
             CREATE TABLE {schema}.tb_post (id int PRIMARY KEY, title text);
             INSERT INTO {schema}.tb_post VALUES (1, 'hello');
             CREATE VIEW {schema}.v_post AS
               SELECT id, jsonb_build_object('id', id::text, 'title', title) AS data
               FROM {schema}.tb_post;"
        ))
        .await
        .expect("setup");
    let sep = if support::pg_url().contains('?') {
        '&'
    } else {
        '?'
    };
    let url = format!(
        "{}{sep}options=-c%20search_path%3D{schema}",
        support::pg_url()
    );
    (schema, url, client)
}

async fn status(http: &reqwest::Client, url: &str) -> StatusCode {
    http.get(url).send().await.expect("request").status()
}

async fn posts(http: &reqwest::Client, base: &str) -> Value {
    let response = http
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": "{ posts { title } }" }))
        .send()
        .await
        .expect("request");
    response.json().await.expect("JSON body")
}

/// Polls until `/health/ready` says 200, or fails after `limit`.
async fn until_ready(http: &reqwest::Client, base: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    while status(http, &format!("{base}/health/ready")).await != StatusCode::OK {
        assert!(
            start.elapsed() < limit,
            "not ready {} s after the database came back",
            limit.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    start.elapsed()
}

fn assert_unavailable(body: &Value) {
    assert_eq!(body["data"]["posts"], Value::Null, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "DATABASE_UNAVAILABLE",
        "{body}"
    );
}

/// The whole story against the database at `url` (one `v_post` with one post, `hello`),
/// reached through a gate to the server at `target`.
async fn recovers_without_restart(url: &str, target: SocketAddr) {
    let mut gate = support::Gate::closed(target).await;
    let url = support::through(url, gate.port);
    let mut config = Config::default();
    config.databases.insert(
        "primary".into(),
        DatabaseConfig {
            connect_timeout_ms: 2000,
            ..support::database(url)
        },
    );
    let schema_model = load_schema(SDL, "schema.graphql").expect("schema compiles");
    let options = ServeOptions {
        port: Some(0),
        host: Some("127.0.0.1".into()),
    };
    // Down at start: the server still starts.
    let running = spawn(config, schema_model, options)
        .await
        .expect("the server starts with its database down");
    let base = support::base(&running);
    let http = reqwest::Client::new();

    assert_eq!(
        status(&http, &format!("{base}/health")).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        status(&http, &format!("{base}/health/ready")).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        status(&http, &format!("{base}/health/live")).await,
        StatusCode::OK
    );
    assert_unavailable(&posts(&http, &base).await);

    // The database comes up: ready and answering, same process.
    gate.open().await;
    until_ready(&http, &base, Duration::from_secs(15)).await;
    assert_eq!(
        posts(&http, &base).await,
        json!({ "data": { "posts": [{ "title": "hello" }] } })
    );

    // It goes away with connections in the pool: a clear error, promptly, not a hang.
    gate.close().await;
    let asked = Instant::now();
    assert_unavailable(&posts(&http, &base).await);
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "the error took {:?}",
        asked.elapsed()
    );
    assert_eq!(
        status(&http, &format!("{base}/health/ready")).await,
        StatusCode::SERVICE_UNAVAILABLE
    );

    // And back again.
    gate.open().await;
    until_ready(&http, &base, Duration::from_secs(15)).await;
    assert_eq!(
        posts(&http, &base).await,
        json!({ "data": { "posts": [{ "title": "hello" }] } })
    );
    gate.close().await;
    running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_at_start_and_lost_later_recovers_without_restart() {
    let (schema, url, admin) = pg_scratch().await;
    recovers_without_restart(&url, support::server_addr(&support::pg_url(), 5432)).await;
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .expect("cleanup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_down_at_start_and_lost_later_recovers_without_restart() {
    let scratch = support::MysqlScratch::new(
        "CREATE TABLE tb_post (id INT PRIMARY KEY, title TEXT);
         INSERT INTO tb_post VALUES (1, 'hello');
         CREATE VIEW v_post AS
           SELECT id, JSON_OBJECT('id', CAST(id AS CHAR), 'title', title) AS data FROM tb_post;",
    )
    .await;
    recovers_without_restart(&scratch.url, support::server_addr(&scratch.url, 3306)).await;
}
