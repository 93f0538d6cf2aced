//! What the server's integration tests share: where PostgreSQL and MariaDB are, an admin
//! connection to each, a MariaDB database of a test's own, database entries for a config, a
//! server on a free loopback port, and a GraphQL POST. Each test binary uses part of it.
#![allow(dead_code)]

pub(crate) mod jwt;
pub(crate) mod nats;
pub(crate) mod orders;
pub(crate) mod quickstart;
pub(crate) mod ws;

use fraiseql_engine::config::{Config, DatabaseConfig, DatabaseKind};
use fraiseql_engine::schema::load_schema;
use fraiseql_server::{spawn, Running, ServeOptions};
use mysql_async::prelude::Queryable;
use reqwest::StatusCode;
use serde_json::Value;
use std::net::{SocketAddr, ToSocketAddrs};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

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

/// The server's `/metrics` text.
pub(crate) async fn metrics(http: &reqwest::Client, base: &str) -> String {
    http.get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
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
pub(crate) fn server_addr(url: &str, default_port: u16) -> SocketAddr {
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
pub(crate) fn through(url: &str, port: u16) -> String {
    let (start, end) = authority(url);
    format!("{}127.0.0.1:{port}{}", &url[..start], &url[end..])
}

/// A TCP forwarder to a database server on a fixed local port that can be opened and
/// closed.
pub(crate) struct Gate {
    pub(crate) port: u16,
    target: SocketAddr,
    tasks: Option<JoinSet<()>>,
}

impl Gate {
    /// A port that nothing listens on yet, forwarding to `target` once open.
    pub(crate) async fn closed(target: SocketAddr) -> Self {
        let probe = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = probe.local_addr().expect("addr").port();
        Self {
            port,
            target,
            tasks: None,
        }
    }

    pub(crate) async fn open(&mut self) {
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
    pub(crate) async fn close(&mut self) {
        if let Some(mut tasks) = self.tasks.take() {
            tasks.shutdown().await;
        }
    }
}
