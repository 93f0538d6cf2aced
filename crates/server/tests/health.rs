//! `/health` and `/health/ready` with databases down (PostgreSQL and MariaDB): anyone learns
//! which database is down, only a request with the admin token (`server.admin_token`,
//! `Authorization: Bearer …`) learns the connection error's text, and a wrong or missing
//! token gets the plain answer.

use fraiseql_engine::config::{Config, DatabaseConfig};
use fraiseql_server::Running;
use reqwest::header::AUTHORIZATION;
use reqwest::StatusCode;
use serde_json::{json, Value};

mod support;

const TOKEN: &str = "0123456789abcdef0123456789abcdef-health";

const SDL: &str = r#"
type Post @source(view: "v_post") { id: ID! title: String }
type Query { posts: [Post!]! }
"#;

/// A healthy SQLite primary, and a PostgreSQL `analytics` and a MariaDB `archive` nobody
/// listens for (port 1).
async fn start(admin_token: Option<&str>, dir: &tempfile::TempDir) -> Running {
    let mut config = Config::default();
    config.server.admin_token = admin_token.map(str::to_string);
    config.databases.insert(
        "primary".into(),
        DatabaseConfig {
            kind: Some(fraiseql_engine::config::DatabaseKind::Sqlite),
            url: Some(format!("sqlite://{}", dir.path().join("app.db").display())),
            ..DatabaseConfig::default()
        },
    );
    config.databases.insert(
        "analytics".into(),
        DatabaseConfig {
            kind: Some(fraiseql_engine::config::DatabaseKind::Postgresql),
            url: Some("postgresql://postgres@127.0.0.1:1/postgres".into()),
            connect_timeout_ms: 500,
            ..DatabaseConfig::default()
        },
    );
    config.databases.insert(
        "archive".into(),
        DatabaseConfig {
            connect_timeout_ms: 500,
            ..support::database("mysql://root@127.0.0.1:1/archive")
        },
    );
    support::serve(config, SDL).await
}

async fn probe(running: &Running, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().get(format!("http://{}{path}", running.addr));
    if let Some(t) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.json().await.expect("JSON body"))
}

/// (status, error text if shown) of `analytics` and `archive`, from `/health` and then from
/// `/health/ready`.
async fn down(running: &Running, token: Option<&str>) -> [(Value, Option<String>); 4] {
    let (status, health) = probe(running, "/health", token).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{health}");
    assert_eq!(health["databases"]["primary"]["status"], "ok", "{health}");
    assert!(health["databases"]["primary"].get("error").is_none());
    let (status, ready) = probe(running, "/health/ready", token).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert_eq!(ready["status"], "not_ready");
    let entry = |body: &Value, name: &str| {
        let db = &body["databases"][name];
        (
            db["status"].clone(),
            db.get("error").and_then(Value::as_str).map(str::to_string),
        )
    };
    [
        entry(&health, "analytics"),
        entry(&health, "archive"),
        entry(&ready, "analytics"),
        entry(&ready, "archive"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_say_down_without_the_error_text() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start(None, &dir).await;
    let plain: [(Value, Option<String>); 4] = std::array::from_fn(|_| (json!("error"), None));
    assert_eq!(down(&running, None).await, plain);
    // Without a configured token, no token unlocks anything (an empty one neither).
    assert_eq!(down(&running, Some(TOKEN)).await, plain);
    assert_eq!(down(&running, Some("")).await, plain);
    running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_token_unlocks_the_error_text() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start(Some(TOKEN), &dir).await;
    for (status, error) in down(&running, Some(TOKEN)).await {
        assert_eq!(status, "error");
        assert!(error.is_some_and(|e| !e.is_empty()));
    }
    // Missing, wrong, a prefix, or longer: the plain answer, and the probe still answers.
    let plain: [(Value, Option<String>); 4] = std::array::from_fn(|_| (json!("error"), None));
    let wrong = TOKEN.replace('0', "1");
    let longer = format!("{TOKEN}x");
    for token in [
        None,
        Some(wrong.as_str()),
        Some(&TOKEN[..32]),
        Some(longer.as_str()),
    ] {
        assert_eq!(down(&running, token).await, plain, "{token:?}");
    }
    let (status, _) = probe(&running, "/health/live", None).await;
    assert_eq!(status, StatusCode::OK);
    running.stop().await.expect("stops");
}
