//! `[project]` name, version and description are reported by `GET /health`, so an operator
//! or a load balancer can tell which API answers.

use fraiseql_engine::config::{Config, DatabaseConfig};
use serde_json::{json, Value};

mod support;

const SDL: &str = r#"
type Post @source(view: "v_post") { id: ID! title: String }
type Query { posts: [Post!]! }
"#;

async fn health(project: fraiseql_engine::config::ProjectConfig) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config {
        project,
        ..Config::default()
    };
    config.databases.insert(
        "primary".into(),
        DatabaseConfig {
            kind: Some(fraiseql_engine::config::DatabaseKind::Sqlite),
            url: Some(format!("sqlite://{}", dir.path().join("app.db").display())),
            ..DatabaseConfig::default()
        },
    );
    let running = support::serve(config, SDL).await;
    let body = reqwest::get(format!("http://{}/health", running.addr))
        .await
        .expect("health answers")
        .json::<Value>()
        .await
        .expect("json");
    running.stop().await.expect("stops");
    body
}

#[tokio::test]
async fn health_names_the_project() {
    let project = fraiseql_engine::config::ProjectConfig {
        name: "orders-api".into(),
        version: "2.1.0".into(),
        description: Some("Orders \"and\" customers\n".into()),
        ..Default::default()
    };
    let body = health(project).await;
    assert_eq!(
        body["project"],
        json!({"name": "orders-api", "version": "2.1.0", "description": "Orders \"and\" customers\n"})
    );
    // `version` stays the FraiseQL build.
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));

    let body = health(fraiseql_engine::config::ProjectConfig::default()).await;
    assert_eq!(
        body["project"],
        json!({"name": "my-fraiseql-app", "version": "1.0.0"})
    );
}
