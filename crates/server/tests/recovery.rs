//! A PostgreSQL database that is down when the server starts, comes up, then goes away and
//! comes back: the server starts anyway, reports degraded health, answers requests for that
//! database with `DATABASE_UNAVAILABLE` instead of hanging, and recovers without a restart.
//!
//! The real PostgreSQL (`FRAISEQL_TEST_PG_URL`) sits behind a TCP gate this test opens and
//! closes; closing it also cuts the connections the pool holds.

use fraiseql_engine::config::{Config, DatabaseConfig};
use fraiseql_engine::schema::load_schema;
use fraiseql_server::{spawn, ServeOptions};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

mod support;

const SDL: &str = r#"
type Post @source(view: "v_post") { id: ID! title: String }
type Query { posts: [Post!]! }
"#;

/// Where the real PostgreSQL listens.
fn pg_addr() -> SocketAddr {
    let config: tokio_postgres::Config = support::pg_url()
        .parse()
        .expect("FRAISEQL_TEST_PG_URL parses");
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        other => panic!("the recovery test needs a TCP host, not {other:?}"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let host = if host == "localhost" {
        "127.0.0.1".into()
    } else {
        host
    };
    format!("{host}:{port}").parse().expect("host:port")
}

/// A TCP forwarder to PostgreSQL on a fixed local port that can be opened and closed.
struct Gate {
    port: u16,
    tasks: Option<JoinSet<()>>,
}

impl Gate {
    /// A port that nothing listens on yet.
    async fn closed() -> Self {
        let probe = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = probe.local_addr().expect("addr").port();
        Self { port, tasks: None }
    }

    async fn open(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("the gate's port is free again");
        let target = pg_addr();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut links = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                links.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        self.tasks = Some(tasks);
    }

    /// Stops listening and drops every forwarded connection (aborting the accept task drops
    /// its set of links, which aborts them).
    async fn close(&mut self) {
        if let Some(mut tasks) = self.tasks.take() {
            tasks.shutdown().await;
        }
    }
}

/// A schema of its own in the test database, with one view; dropped at the end.
async fn scratch() -> (String, tokio_postgres::Client) {
    let (client, connection) = tokio_postgres::connect(&support::pg_url(), tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {} is needed: {e}", support::pg_url()));
    tokio::spawn(connection);
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
    (schema, client)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_down_at_start_and_lost_later_recovers_without_restart() {
    let (schema, admin) = scratch().await;
    let mut gate = Gate::closed().await;
    let mut config = Config::default();
    config.databases.insert(
        "primary".into(),
        DatabaseConfig {
            kind: Some(fraiseql_engine::config::DatabaseKind::Postgresql),
            url: Some(format!(
                "postgresql://postgres@127.0.0.1:{}/postgres?options=-c%20search_path%3D{schema}",
                gate.port
            )),
            connect_timeout_ms: 2000,
            ..DatabaseConfig::default()
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
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .expect("cleanup");
}
