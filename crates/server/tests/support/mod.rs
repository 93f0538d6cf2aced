//! What the server's integration tests share: where PostgreSQL is, an admin connection to
//! it, database entries for a config, a server on a free loopback port, and a GraphQL POST.
//! Each test binary uses part of it.
#![allow(dead_code)]

use fraiseql_engine::config::{Config, DatabaseConfig, DatabaseKind};
use fraiseql_engine::schema::load_schema;
use fraiseql_server::{spawn, Running, ServeOptions};
use reqwest::StatusCode;
use serde_json::Value;

/// `FRAISEQL_TEST_PG_URL`, or the local default.
pub(crate) fn pg_url() -> String {
    std::env::var("FRAISEQL_TEST_PG_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "postgresql://postgres@127.0.0.1:5432/postgres".into())
}

/// A connection to the test PostgreSQL server; the test fails when it cannot be reached.
pub(crate) async fn pg_admin() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {} is required: {e}", pg_url()));
    tokio::spawn(connection);
    client
}

/// A database entry with `url`, its kind resolved from the URL as config loading does, and
/// every other key at its default.
pub(crate) fn database(url: impl Into<String>) -> DatabaseConfig {
    let url = url.into();
    DatabaseConfig {
        kind: DatabaseKind::from_url(&url),
        url: Some(url),
        ..DatabaseConfig::default()
    }
}

/// A SQLite file `app.db` in `dir`.
pub(crate) fn sqlite_in(dir: &tempfile::TempDir) -> DatabaseConfig {
    database(format!("sqlite://{}", dir.path().join("app.db").display()))
}

/// The default config with `db` as its `primary` database.
pub(crate) fn with_primary(db: DatabaseConfig) -> Config {
    let mut config = Config::default();
    config.databases.insert("primary".into(), db);
    config
}

/// A server for `config` and the SDL schema `sdl` on a free port of 127.0.0.1.
pub(crate) async fn serve(config: Config, sdl: &str) -> Running {
    let schema = load_schema(sdl, "schema.graphql").expect("schema compiles");
    spawn(config, schema, local()).await.expect("server starts")
}

/// Listen on a free port of 127.0.0.1.
pub(crate) fn local() -> ServeOptions {
    ServeOptions {
        port: Some(0),
        host: Some("127.0.0.1".into()),
    }
}

/// `http://<addr>` of a running server.
pub(crate) fn base(running: &Running) -> String {
    format!("http://{}", running.addr)
}

/// POSTs `body` to `<base>/graphql`; the status and the JSON body.
pub(crate) async fn graphql(
    http: &reqwest::Client,
    base: &str,
    body: Value,
) -> (StatusCode, Value) {
    let response = http
        .post(format!("{base}/graphql"))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.json().await.expect("JSON body"))
}
