//! What the server's integration tests share: where PostgreSQL and MariaDB are, an admin
//! connection to each, a MariaDB database of a test's own, database entries for a config, a
//! server on a free loopback port, and a GraphQL POST. Each test binary uses part of it.
#![allow(dead_code)]

use fraiseql_engine::config::{Config, DatabaseConfig, DatabaseKind};
use fraiseql_engine::schema::load_schema;
use fraiseql_server::{spawn, Running, ServeOptions};
use mysql_async::prelude::Queryable;
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

/// `FRAISEQL_TEST_MYSQL_URL`, or the local default.
pub(crate) fn mysql_url() -> String {
    std::env::var("FRAISEQL_TEST_MYSQL_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "mysql://root@127.0.0.1:3306/mysql".into())
}

/// A connection to `url` on the test MySQL/MariaDB server; the test fails when it cannot be
/// reached.
pub(crate) async fn mysql_connect(url: &str) -> mysql_async::Conn {
    let opts = mysql_async::Opts::from_url(url).expect("FRAISEQL_TEST_MYSQL_URL parses");
    mysql_async::Conn::new(opts)
        .await
        .unwrap_or_else(|e| panic!("MySQL/MariaDB at {url} is required: {e}"))
}

/// A MySQL/MariaDB database private to one test (utf8mb4, `utf8mb4_nopad_bin` like the spec
/// fixtures: byte order, no padding); dropped when the value is.
pub(crate) struct MysqlScratch {
    pub(crate) name: String,
    /// The database's URL, for a config.
    pub(crate) url: String,
}

impl MysqlScratch {
    /// Creates the database and runs `setup` in it: several statements in one piece, so a
    /// procedure body needs no `DELIMITER`.
    pub(crate) async fn new(setup: &str) -> Self {
        let name = format!("fraiseql_t_{}", uuid::Uuid::new_v4().simple());
        mysql_connect(&mysql_url())
            .await
            .query_drop(format!(
                "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin"
            ))
            .await
            .expect("create database");
        let scratch = Self {
            url: with_database(&mysql_url(), &name),
            name,
        };
        if !setup.trim().is_empty() {
            scratch
                .conn()
                .await
                .query_drop(setup)
                .await
                .unwrap_or_else(|e| panic!("setup failed: {e}"));
        }
        scratch
    }

    /// A new connection to the database.
    pub(crate) async fn conn(&self) -> mysql_async::Conn {
        mysql_connect(&self.url).await
    }
}

impl Drop for MysqlScratch {
    fn drop(&mut self) {
        // Outside async context; a runtime of its own on its own thread cleans up even when
        // the test panicked.
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    let _ = mysql_connect(&mysql_url())
                        .await
                        .query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
                        .await;
                });
            }
        })
        .join();
    }
}

/// A PostgreSQL database private to one test; [`PgScratch::drop`] removes it.
pub(crate) struct PgScratch {
    pub(crate) name: String,
    /// The database's URL, for a config.
    pub(crate) url: String,
    admin: tokio_postgres::Client,
}

impl PgScratch {
    /// Creates the database and runs `setup` (any number of statements) in it.
    pub(crate) async fn new(setup: &str) -> Self {
        let admin = pg_admin().await;
        let name = format!("fraiseql_t_{}", uuid::Uuid::new_v4().simple());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        let url = with_database(&pg_url(), &name);
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect to the scratch database");
        tokio::spawn(connection);
        client
            .batch_execute(setup)
            .await
            .unwrap_or_else(|e| panic!("setup failed: {e:?}"));
        Self { name, url, admin }
    }

    pub(crate) async fn drop(self) {
        let _ = self
            .admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await;
    }
}

/// `url` with its database (path) replaced by `name`, the query kept.
pub(crate) fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[start..].find('/') {
        Some(slash) => &base[..start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
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
