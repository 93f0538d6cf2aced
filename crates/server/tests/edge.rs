//! The HTTP edge against hostile clients, over real sockets to a server started in-process:
//! clients that stall or drip their head or body, more connections than the cap, batches
//! past `server.max_batch` or the deadline, responses past `max_response_size`, and
//! invented HTTP methods that must not grow `/metrics` (issue 9).

use fraiseql_engine::config::{ByteSize, Config, DatabaseConfig};
use fraiseql_engine::schema::load_schema;
use fraiseql_server::{spawn, Running, ServeOptions};
use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const SDL: &str = r#"
type Post @source(view: "v_post") { id: ID! title: String }
type Query { posts: [Post!]! }
"#;

/// A request `__typename` answers without a database.
const TYPENAME: &str = r#"{"query":"{ __typename }"}"#;

struct Server {
    running: Running,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Server {
    /// A SQLite-backed server on a free port, with `tune` applied to the config.
    async fn start(tune: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::default();
        config.databases.insert(
            "primary".into(),
            DatabaseConfig {
                kind: Some(fraiseql_engine::config::DatabaseKind::Sqlite),
                url: Some(format!("sqlite://{}", dir.path().join("app.db").display())),
                ..DatabaseConfig::default()
            },
        );
        tune(&mut config);
        let schema = load_schema(SDL, "schema.graphql").expect("schema");
        let opts = ServeOptions {
            port: Some(0),
            host: Some("127.0.0.1".into()),
        };
        let running = spawn(config, schema, opts).await.expect("server starts");
        Self {
            running,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    async fn graphql(&self, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url("/graphql"))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    async fn metrics(&self) -> String {
        let response = self.http.get(self.url("/metrics")).send().await;
        response.expect("metrics").text().await.expect("text")
    }

    /// A plain request on a fresh client answers.
    async fn answers(&self) {
        let (status, body) = self.graphql(&json!({ "query": "{ __typename }" })).await;
        assert_eq!(
            (status, &body),
            (StatusCode::OK, &json!({"data": {"__typename": "Query"}}))
        );
    }
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

fn post(body: &str) -> String {
    format!(
        "POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Reads until the connection closes or `limit` passes; `None` if it was still open then.
async fn until_closed(conn: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, conn.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&seen).into_owned()),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// One answer on a kept-alive connection (the response must fit one read; ours are small).
async fn answer(conn: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 8192];
    let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
        .await
        .expect("answered in time")
        .expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Half a head, then silence: disconnected at the head timeout (not the 75 s keep-alive).
#[tokio::test]
async fn a_stalled_head_is_disconnected() {
    let server = Server::start(|c| c.server.header_read_timeout_ms = 500).await;
    let mut conn = TcpStream::connect(server.addr()).await.expect("connect");
    conn.write_all(b"POST /graphql HTTP/1.1\r\nHost: te")
        .await
        .expect("send");
    let started = Instant::now();
    let closed = until_closed(&mut conn, Duration::from_secs(5)).await;
    assert!(
        closed.is_some(),
        "a stalled head held the connection for 5 s"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "closed before its time"
    );
    server.answers().await;
}

/// A head dripped a byte at a time keeps bytes moving (so the idle timer never fires) but
/// is cut off at the head timeout.
#[tokio::test]
async fn a_dripping_head_is_disconnected() {
    let server = Server::start(|c| c.server.header_read_timeout_ms = 600).await;
    let mut conn = TcpStream::connect(server.addr()).await.expect("connect");
    let head = "GET /health/live HTTP/1.1\r\nX-Slow: ".to_string() + &"a".repeat(1000);
    let started = Instant::now();
    let mut cut = false;
    for byte in head.bytes() {
        if conn.write_all(&[byte]).await.is_err() {
            cut = true;
            break;
        }
        let mut buf = [0u8; 64];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(100), conn.read(&mut buf)).await
        {
            cut = true;
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "dripping head held for 10 s"
        );
    }
    assert!(cut, "the dripping head was never cut off");
    server.answers().await;
}

/// The head timer starts at a request's first byte on a kept-alive connection: a
/// connection idle between requests for longer than the head timeout (but inside
/// keep-alive) still serves the next request.
#[tokio::test]
async fn keep_alive_outlasts_the_head_timeout() {
    let server = Server::start(|c| {
        c.server.header_read_timeout_ms = 300;
        c.server.keep_alive_secs = 30;
    })
    .await;
    let mut conn = TcpStream::connect(server.addr()).await.expect("connect");
    let unknown = "GET /nowhere HTTP/1.1\r\nHost: test\r\n\r\n".to_string();
    let steps = [
        (post(TYPENAME), "200"),
        (unknown, "404"),
        (post(TYPENAME), "200"),
    ];
    for (request, status) in steps {
        conn.write_all(request.as_bytes()).await.expect("send");
        let response = answer(&mut conn).await;
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status}")),
            "{response}"
        );
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
}

/// A body dripped one byte per 300 ms is answered 408 at the body timeout, and the
/// connection closed; a body sent at once is unaffected.
#[tokio::test]
async fn a_dripping_body_is_cut_off_with_408() {
    let server = Server::start(|c| c.server.body_read_timeout_ms = 1000).await;
    let mut conn = TcpStream::connect(server.addr()).await.expect("connect");
    let request = post(TYPENAME);
    let split = request.find("\r\n\r\n").expect("head") + 4;
    conn.write_all(&request.as_bytes()[..split])
        .await
        .expect("head");
    let started = Instant::now();
    let mut seen = String::new();
    for byte in request[split..].bytes() {
        if conn.write_all(&[byte]).await.is_err() {
            break;
        }
        let mut buf = [0u8; 4096];
        match tokio::time::timeout(Duration::from_millis(300), conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
                break;
            }
            Err(_) => {}
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the body was read for 5 s"
    );
    assert!(seen.starts_with("HTTP/1.1 408"), "{seen:?}");
    assert!(seen.contains("\"code\":\"TIMEOUT\""), "{seen}");
    assert!(
        seen.to_ascii_lowercase().contains("connection: close"),
        "{seen}"
    );
    assert!(
        until_closed(&mut conn, Duration::from_secs(3))
            .await
            .is_some(),
        "the connection was kept after a timed-out body"
    );
    server.answers().await;
}

/// A route that does not read bodies answers at once, and the rest of a dripping body does
/// not hold the connection: hyper closes it (were the body drained instead, its bytes would
/// count as the next request's head and meet the head timeout).
#[tokio::test]
async fn a_body_dripped_to_a_route_that_ignores_it_is_cut_off() {
    let server = Server::start(|c| c.server.header_read_timeout_ms = 600).await;
    let mut conn = TcpStream::connect(server.addr()).await.expect("connect");
    conn.write_all(b"POST /health/live HTTP/1.1\r\nHost: test\r\nContent-Length: 100000\r\n\r\n")
        .await
        .expect("head");
    let started = Instant::now();
    let mut cut = false;
    while started.elapsed() < Duration::from_secs(10) {
        if conn.write_all(b"x").await.is_err() {
            cut = true;
            break;
        }
        let mut buf = [0u8; 4096];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(100), conn.read(&mut buf)).await
        {
            cut = true;
            break;
        }
    }
    assert!(cut, "a dripping body was held for 10 s");
    server.answers().await;
}

/// With `max_connections = 3`, a fourth connection is closed as it arrives while the three
/// keep working; once one of them closes, a new connection is served again.
#[tokio::test]
async fn connections_beyond_the_cap_are_refused() {
    let server = Server::start(|c| c.server.limits.max_connections = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut conn = TcpStream::connect(server.addr()).await.expect("connect");
        conn.write_all(post(TYPENAME).as_bytes())
            .await
            .expect("send");
        assert!(answer(&mut conn).await.starts_with("HTTP/1.1 200"));
        held.push(conn);
    }
    let mut extra = TcpStream::connect(server.addr()).await.expect("connect");
    let _ = extra.write_all(post(TYPENAME).as_bytes()).await;
    let refused = until_closed(&mut extra, Duration::from_secs(3)).await;
    assert_eq!(
        refused.as_deref(),
        Some(""),
        "over the cap: closed without an answer"
    );
    for conn in &mut held {
        conn.write_all(post(TYPENAME).as_bytes())
            .await
            .expect("send");
        assert!(answer(conn).await.starts_with("HTTP/1.1 200"));
    }
    let metrics = server.metrics_over(&mut held[0]).await;
    assert!(
        metrics.contains(r#"fraiseql_connections_closed_by_server_total{reason="over_limit"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("fraiseql_connections_open 3"), "{metrics}");
    held.pop();
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut conn = TcpStream::connect(server.addr()).await.expect("connect");
        if conn.write_all(post(TYPENAME).as_bytes()).await.is_ok()
            && until_closed(&mut conn, Duration::from_millis(500))
                .await
                .is_none()
        {
            break; // still open: it got a slot
        }
        assert!(
            Instant::now() < deadline,
            "a freed slot was not given to a new connection"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Server {
    /// `/metrics` over a connection that already holds a slot.
    async fn metrics_over(&self, conn: &mut TcpStream) -> String {
        conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .expect("send");
        let mut seen = Vec::new();
        let mut buf = [0u8; 65536];
        // Until the last metric family is in (the exposition is a few reads long).
        while !String::from_utf8_lossy(&seen).contains("fraiseql_requests_in_flight ") {
            let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
                .await
                .expect("metrics in time")
                .expect("read");
            assert!(n > 0, "closed while reading /metrics");
            seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    }
}

#[tokio::test]
async fn batches_past_max_batch_are_refused_before_any_work() {
    let server = Server::start(|c| c.server.max_batch = 3).await;
    let item = json!({ "query": "{ __typename }" });
    let (status, body) = server.graphql(&json!([item, item, item])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_array().map(Vec::len), Some(3), "{body}");
    // The fourth item is not even a valid request: refused for its size, before decoding.
    let (status, body) = server.graphql(&json!([item, item, item, 7])).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "BAD_REQUEST")
    );
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("at most 3") && message.contains("has 4"),
        "{message}"
    );
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(r#"fraiseql_graphql_operations_total{operation="query",outcome="ok"} 3"#),
        "only the first batch ran: {metrics}"
    );

    let off = Server::start(|c| c.server.max_batch = 0).await;
    let (status, body) = off.graphql(&json!([item])).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "BAD_REQUEST")
    );
    off.answers().await;
}

/// Operations answered without awaiting (introspection) used to run the whole batch in one
/// poll, past the deadline; the batch now yields between operations, so the deadline ends it.
#[tokio::test]
async fn the_deadline_ends_a_cpu_bound_batch() {
    let server = Server::start(|c| {
        c.server.max_batch = 2000;
        c.server.request_timeout_ms = 100;
    })
    .await;
    let item = json!({ "query": "{ __schema { types { name fields { name type { name } } } } }" });
    let batch = Value::Array(vec![item; 2000]);
    let started = Instant::now();
    let (status, body) = server.graphql(&batch).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::GATEWAY_TIMEOUT, "TIMEOUT"),
        "took {:?}",
        started.elapsed()
    );
    server.answers().await;
}

#[tokio::test]
async fn responses_past_max_response_size_are_replaced_by_an_error() {
    let server = Server::start(|c| c.server.limits.max_response_size = ByteSize(300)).await;
    server.answers().await;
    let big = json!({ "query": "{ __schema { types { name } } }" });
    let (status, body) = server.graphql(&big).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::OK, "RESPONSE_TOO_LARGE"),
        "{body}"
    );
    assert!(body.get("data").is_none(), "{body}");
    // With the GraphQL response media type a request error is 400.
    let response = server
        .http
        .post(server.url("/graphql"))
        .header(CONTENT_TYPE, "application/json")
        .header("accept", "application/graphql-response+json")
        .body(big.to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // A batch is bounded as a whole: small items that add up past the limit.
    let item = json!({ "query": "{ __typename }" });
    let (status, body) = server.graphql(&json!([item, item])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_array().map(Vec::len), Some(2), "{body}");
    let (status, body) = server.graphql(&Value::Array(vec![item; 10])).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::OK, "RESPONSE_TOO_LARGE"),
        "{body}"
    );
}

/// 50 invented methods add one label value (`OTHER`), not 50.
#[tokio::test]
async fn invented_methods_do_not_grow_metrics() {
    let server = Server::start(|_| {}).await;
    server.answers().await;
    let before = server.metrics().await;
    for i in 0..50 {
        let method = reqwest::Method::from_bytes(format!("INVENT{i}").as_bytes()).expect("token");
        let response = server
            .http
            .request(method, server.url("/graphql"))
            .send()
            .await
            .expect("request");
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    let after = server.metrics().await;
    assert!(!after.contains("INVENT"), "{after}");
    let methods = |text: &str| {
        let mut seen: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("fraiseql_http_requests_total{"))
            .filter_map(|l| l.split("method=\"").nth(1))
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_owned)
            .collect();
        seen.sort();
        seen.dedup();
        seen
    };
    assert_eq!(methods(&before), ["POST"]);
    // The scrape before is counted as GET; every invented method as OTHER.
    assert_eq!(methods(&after), ["GET", "OTHER", "POST"]);
    assert!(
        after.len() < before.len() + 10_000,
        "metrics grew by {} bytes",
        after.len() - before.len()
    );
}
