//! The HTTP rules of `/graphql` and the probes, against a server started in-process on a
//! free port (GraphQL over HTTP: media types, status codes, request errors; request ids;
//! health with a database down; startup errors).

use fraiseql_engine::config::{ByteSize, Config, DatabaseConfig};
use fraiseql_engine::schema::{load_schema, CompiledSchema};
use fraiseql_server::{spawn, Running, ServeError, ServeOptions};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

mod support;

const SDL: &str = r#"
type Post @source(view: "v_post") { id: ID! title: String }
type Query { posts: [Post!]! }
type Mutation { createPost(title: String!): Post! @function(name: "fn_create_post") }
"#;

fn schema() -> CompiledSchema {
    load_schema(SDL, "schema.graphql").unwrap_or_else(|e| panic!("schema compiles: {e:?}"))
}

/// A SQLite-backed config on a temp file; the directory lives as long as the guard.
fn config() -> (Config, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::default();
    config.server.limits.max_request_size = ByteSize(2048);
    config.databases.insert(
        "primary".into(),
        DatabaseConfig {
            kind: Some(fraiseql_engine::config::DatabaseKind::Sqlite),
            url: Some(format!("sqlite://{}", dir.path().join("app.db").display())),
            ..DatabaseConfig::default()
        },
    );
    (config, dir)
}

fn local() -> ServeOptions {
    ServeOptions {
        port: Some(0),
        host: Some("127.0.0.1".into()),
    }
}

struct Server {
    running: Running,
    base: String,
    http: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    async fn start(config: Config, dir: Option<tempfile::TempDir>) -> Self {
        let running = spawn(config, schema(), local())
            .await
            .expect("server starts");
        let base = format!("http://{}", running.addr);
        Self {
            running,
            base,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    async fn default() -> Self {
        let (config, dir) = config();
        Self::start(config, Some(dir)).await
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.base))
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.base))
    }

    fn graphql(&self, body: &Value) -> reqwest::RequestBuilder {
        self.post("/graphql")
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string())
    }
}

async fn read(response: reqwest::Response) -> (StatusCode, String, Value) {
    let status = response.status();
    let media = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, media, body)
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn post_requires_json_content_type() {
    let server = Server::default().await;
    let response = server
        .post("/graphql")
        .header(CONTENT_TYPE, "text/plain")
        .body(r#"{"query":"{ __typename }"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let response = server
        .post("/graphql")
        .body(r#"{"query":"{ __typename }"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let response = server
        .post("/graphql")
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .body(r#"{"query":"{ __typename }"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let server = Server::default().await;
    let query = format!("{{ __typename }} #{}", "x".repeat(4096));
    let (status, media, body) = read(
        server
            .graphql(&json!({ "query": query }))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(media, "application/json");
    assert_eq!(code(&body), "REQUEST_TOO_LARGE");
}

#[tokio::test]
async fn malformed_requests_are_400() {
    let server = Server::default().await;
    let send = |body: &'static str| {
        server
            .post("/graphql")
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
    };
    let (status, _, body) = read(send("{\"query\": ").await.expect("request")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["errors"][0]["extensions"],
        json!({ "code": "BAD_REQUEST" })
    );
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("malformed JSON"));
    assert!(body.get("data").is_none());
    for bad in [
        r#"{}"#,
        r#"{"query": 1}"#,
        r#"{"query": "{ __typename }", "variables": [1]}"#,
        r#"{"query": "{ __typename }", "operationName": 1}"#,
        r#""{ __typename }""#,
        r#"[]"#,
    ] {
        let (status, _, body) = read(send(bad).await.expect("request")).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            "{bad}"
        );
    }
    let (status, _, body) = read(server.get("/graphql").send().await.expect("request")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "BAD_REQUEST")
    );
}

#[tokio::test]
async fn unacceptable_media_is_406() {
    let server = Server::default().await;
    let response = server
        .graphql(&json!({ "query": "{ __typename }" }))
        .header(ACCEPT, "text/plain")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);
    let response = server
        .get("/graphql?query=%7B__typename%7D")
        .header(ACCEPT, "application/xml")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn mutations_over_get_are_405() {
    let server = Server::default().await;
    let response = server
        .get(
            "/graphql?query=mutation%20%7B%20createPost(title%3A%20%22x%22)%20%7B%20id%20%7D%20%7D",
        )
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    let (_, _, body) = read(response).await;
    assert_eq!(code(&body), "MUTATION_NOT_ALLOWED");
}

#[tokio::test]
async fn status_codes_follow_the_media_type() {
    let server = Server::default().await;
    let invalid = json!({ "query": "{ nope }" });
    let unparsable = json!({ "query": "{" });
    let ok = json!({ "query": "{ __typename }" });
    let gql = "application/graphql-response+json";

    for request in [&invalid, &unparsable] {
        let (status, media, body) = read(
            server
                .graphql(request)
                .header(ACCEPT, gql)
                .send()
                .await
                .expect("request"),
        )
        .await;
        assert_eq!(
            (status, media.as_str()),
            (StatusCode::BAD_REQUEST, gql),
            "{request}"
        );
        assert!(body.get("data").is_none(), "{body}");
        assert!(!body["errors"].as_array().map(Vec::is_empty).unwrap_or(true));

        let (status, media, _) = read(
            server
                .graphql(request)
                .header(ACCEPT, "application/json")
                .send()
                .await
                .expect("request"),
        )
        .await;
        assert_eq!(
            (status, media.as_str()),
            (StatusCode::OK, "application/json")
        );

        let (status, media, _) = read(server.graphql(request).send().await.expect("request")).await;
        assert_eq!(
            (status, media.as_str()),
            (StatusCode::OK, "application/json")
        );
    }
    let (status, media, body) = read(
        server
            .graphql(&ok)
            .header(ACCEPT, format!("{gql}, application/json;q=0.9"))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!((status, media.as_str()), (StatusCode::OK, gql));
    assert!(body.get("data").is_some(), "{body}");
    let (status, media, _) = read(
        server
            .get("/graphql?query=%7B%20nope%20%7D")
            .header(ACCEPT, gql)
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!((status, media.as_str()), (StatusCode::BAD_REQUEST, gql));
    let (_, media, _) = read(
        server
            .graphql(&ok)
            .header(ACCEPT, "*/*")
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(media, "application/json");
}

#[tokio::test]
async fn batches_answer_arrays() {
    let server = Server::default().await;
    let (status, _, body) = read(
        server
            .graphql(&json!([{ "query": "{ __typename }" }, { "query": "{ nope }" }]))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let items = body.as_array().expect("an array");
    assert_eq!(items.len(), 2);
    assert_eq!(code(&items[1]), "GRAPHQL_VALIDATION_FAILED");
}

#[tokio::test]
async fn request_ids_are_echoed_or_made() {
    let server = Server::default().await;
    let response = server
        .get("/health/live")
        .header("x-request-id", "trace-42.a_b")
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers()["x-request-id"], "trace-42.a_b");
    let response = server
        .get("/health/live")
        .header("x-request-id", "bad id!")
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers()["x-request-id"], "badid");
    let response = server
        .graphql(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .expect("request");
    let made = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");
}

/// SQLite and MariaDB up, PostgreSQL and MariaDB down: each with its type and pool.
#[tokio::test]
async fn health_reports_each_database() {
    let (mut config, dir) = config();
    config.databases.insert(
        "analytics".into(),
        DatabaseConfig {
            kind: Some(fraiseql_engine::config::DatabaseKind::Postgresql),
            url: Some("postgresql://postgres@127.0.0.1:1/postgres".into()),
            connect_timeout_ms: 500,
            ..DatabaseConfig::default()
        },
    );
    let orders_db = support::MysqlScratch::new("").await;
    config.databases.insert(
        "orders".into(),
        DatabaseConfig {
            pool_max: 4,
            ..support::database(orders_db.url.clone())
        },
    );
    config.databases.insert(
        "archive".into(),
        DatabaseConfig {
            connect_timeout_ms: 500,
            ..support::database("mysql://root@127.0.0.1:1/archive")
        },
    );
    let server = Server::start(config, Some(dir)).await;
    let (status, _, body) = read(server.get("/health").send().await.expect("request")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime_seconds"].is_u64());
    let primary = &body["databases"]["primary"];
    assert_eq!(
        (primary["status"].as_str(), primary["type"].as_str()),
        (Some("ok"), Some("sqlite"))
    );
    assert_eq!(primary["pool_max"], 20);
    assert!(primary.get("error").is_none());
    let analytics = &body["databases"]["analytics"];
    assert_eq!(
        (analytics["status"].as_str(), analytics["type"].as_str()),
        (Some("error"), Some("postgresql"))
    );
    // The connection error's text is for operators (tests/health.rs).
    assert!(analytics.get("error").is_none(), "{analytics}");
    let orders = &body["databases"]["orders"];
    assert_eq!(
        (orders["status"].as_str(), orders["type"].as_str()),
        (Some("ok"), Some("mysql"))
    );
    // The probe's connection is back in the pool.
    let size = orders["pool_size"].as_u64().unwrap_or_default();
    assert!((1..=4).contains(&size), "{orders}");
    assert!(orders["pool_idle"].as_u64() >= Some(1), "{orders}");
    assert_eq!(orders["pool_max"], 4);
    let archive = &body["databases"]["archive"];
    assert_eq!(
        (archive["status"].as_str(), archive["type"].as_str()),
        (Some("error"), Some("mysql"))
    );
    assert!(archive.get("error").is_none(), "{archive}");

    let (status, _, body) = read(server.get("/health/live").send().await.expect("request")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "status": "ok" })));
    for path in ["/health/ready", "/ready"] {
        let response = server.get(path).send().await.expect("request");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
    }
}

#[tokio::test]
async fn healthy_server_is_ready() {
    let server = Server::default().await;
    let (status, _, body) = read(server.get("/health").send().await.expect("request")).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    for path in ["/health/ready", "/ready"] {
        assert_eq!(
            server.get(path).send().await.expect("request").status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let server = Server::default().await;
    server
        .graphql(&json!({ "query": "{ nope }" }))
        .send()
        .await
        .expect("request");
    let response = server.get("/metrics").send().await.expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("body");
    for needle in [
        "fraiseql_http_requests_total{method=\"POST\",status=\"200\"} 1",
        "fraiseql_http_request_duration_seconds_bucket{method=\"POST\"",
        "fraiseql_graphql_errors_total{code=\"GRAPHQL_VALIDATION_FAILED\"} 1",
        "fraiseql_database_pool_size{database=\"primary\"}",
        "fraiseql_database_pool_idle{database=\"primary\"}",
        "fraiseql_requests_in_flight 1",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

#[tokio::test]
async fn browsers_get_graphiql() {
    let server = Server::default().await;
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    for path in ["/graphql", "/playground", "/graphiql"] {
        let response = server
            .get(path)
            .header(ACCEPT, browser)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let media = response.headers()[CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .to_string();
        assert!(media.starts_with("text/html"), "{path}: {media}");
        assert!(response.text().await.expect("body").contains("graphiql"));
    }

    let (mut config, dir) = config();
    config.server.playground = false;
    let server = Server::start(config, Some(dir)).await;
    let response = server.get("/playground").send().await.expect("request");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = server
        .get("/graphql")
        .header(ACCEPT, browser)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn shutdown_is_graceful_and_stops_listening() {
    let server = Server::default().await;
    let addr = server.running.addr;
    assert_eq!(
        server
            .get("/health/live")
            .send()
            .await
            .expect("request")
            .status(),
        StatusCode::OK
    );
    server.running.stop().await.expect("clean stop");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn startup_errors_are_clear() {
    let (config, _dir) = config();
    let first = spawn(config.clone(), schema(), local())
        .await
        .expect("first server");
    let taken = ServeOptions {
        port: Some(first.addr.port()),
        host: Some("127.0.0.1".into()),
    };
    match spawn(config.clone(), schema(), taken).await {
        Err(e @ ServeError::Bind { .. }) => {
            assert!(e.to_string().contains("Address already in use"), "{e}")
        }
        other => panic!("expected a bind error, got {:?}", other.map(|r| r.addr)),
    }
    first.stop().await.expect("stop");

    // A database no `[databases.*]` declares, and one misspelt.
    let mut other = config.clone();
    other.databases.clear();
    let mut misspelt = config;
    let primary = misspelt.databases.shift_remove("primary").expect("primary");
    misspelt.databases.insert("primray".into(), primary);
    for (config, hint) in [
        (other, "add [databases.primary] to the config"),
        (misspelt, "did you mean 'primray'?"),
    ] {
        match spawn(config, schema(), local()).await {
            Err(e @ ServeError::UnknownDatabase { .. }) => assert_eq!(
                e.to_string(),
                format!("type 'Post' uses database 'primary', which is not configured ({hint})")
            ),
            other => panic!(
                "expected an unknown database error, got {:?}",
                other.map(|r| r.addr)
            ),
        }
    }
}

/// `server.keep_alive_secs`: a keep-alive connection serves request after request, and is
/// closed by the server once idle for the limit (here the request deadline, its floor).
#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut config, dir) = config();
    config.server.keep_alive_secs = 0;
    config.server.request_timeout_ms = 400;
    let server = Server::start(config, Some(dir)).await;
    let mut conn = tokio::net::TcpStream::connect(server.running.addr)
        .await
        .expect("connect");
    let request = b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n";
    let mut buf = vec![0u8; 4096];
    for _ in 0..2 {
        conn.write_all(request).await.expect("send");
        let n = conn.read(&mut buf).await.expect("answer");
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
    }
    let closed = tokio::time::timeout(Duration::from_secs(3), conn.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "idle connection left open: {closed:?}"
    );
}
