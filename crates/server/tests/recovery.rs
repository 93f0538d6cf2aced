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
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

mod support;

const SDL: &str = r#"
type Post @source(view: "v_post") { id: ID! title: String }
type Query { posts: [Post!]! }
"#;

/// The `host:port` part of a database URL, and where the rest starts.
fn authority(url: &str) -> (usize, usize) {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| start + i);
    // After any `user[:password]@`.
    let host = url[start..end].rfind('@').map_or(start, |i| start + i + 1);
    (host, end)
}

/// Where the server of `url` listens (`default_port` when the URL names none).
fn server_addr(url: &str, default_port: u16) -> SocketAddr {
    let (start, end) = authority(url);
    let hostport = &url[start..end];
    let hostport = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:{default_port}")
    };
    hostport
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .unwrap_or_else(|| panic!("the recovery test needs a TCP host, not {hostport}"))
}

/// `url` pointed at `127.0.0.1:port` instead.
fn through(url: &str, port: u16) -> String {
    let (start, end) = authority(url);
    format!("{}127.0.0.1:{port}{}", &url[..start], &url[end..])
}

/// A TCP forwarder to a database server on a fixed local port that can be opened and
/// closed.
struct Gate {
    port: u16,
    target: SocketAddr,
    tasks: Option<JoinSet<()>>,
}

impl Gate {
    /// A port that nothing listens on yet, forwarding to `target` once open.
    async fn closed(target: SocketAddr) -> Self {
        let probe = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = probe.local_addr().expect("addr").port();
        Self {
            port,
            target,
            tasks: None,
        }
    }

    async fn open(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("the gate's port is free again");
        let target = self.target;
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
    let mut gate = Gate::closed(target).await;
    let url = through(url, gate.port);
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
    recovers_without_restart(&url, server_addr(&support::pg_url(), 5432)).await;
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
    recovers_without_restart(&scratch.url, server_addr(&scratch.url, 3306)).await;
}
