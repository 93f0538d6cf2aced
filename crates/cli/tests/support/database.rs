//! Fresh databases for the spec harness: one per spec file and dialect, loaded with the
//! dialect's fixture SQL. PostgreSQL databases are created on the server named by
//! `FRAISEQL_TEST_PG_URL`, MySQL/MariaDB ones on `FRAISEQL_TEST_MYSQL_URL`, and dropped
//! afterwards; SQLite databases are files in the case's temporary directory. Nothing is
//! mocked and nothing is skipped: an unreachable server fails the run.

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where PostgreSQL tests connect when `FRAISEQL_TEST_PG_URL` is unset.
pub(crate) const DEFAULT_PG_URL: &str = "postgresql://postgres@127.0.0.1:5432/postgres";

/// Where MySQL/MariaDB tests connect when `FRAISEQL_TEST_MYSQL_URL` is unset.
pub(crate) const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/mysql";

/// The databases the suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

impl Dialect {
    /// The fixture SQL files, relative to the repository root, loaded in order. SQLite uses
    /// the quickstart's own files, so the spec suite also tests the quickstart end to end;
    /// PostgreSQL has the same tables, views, functions and data in its own dialect.
    pub(crate) fn fixtures(self) -> &'static [&'static str] {
        match self {
            Self::Sqlite => &[
                "examples/quickstart/db/schema.sql",
                "examples/quickstart/db/seed.sql",
            ],
            Self::Postgres => &["tests/spec/fixtures/postgres.sql"],
            Self::Mysql => &["tests/spec/fixtures/mysql.sql"],
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
            Self::Mysql => "mysql",
        })
    }
}

/// A database created for one spec file.
pub(crate) struct FreshDatabase {
    /// The `[database] url` for `fraiseql.toml`.
    pub(crate) url: String,
    /// The server's admin URL and the database's name, to drop at the end (not SQLite).
    server: Option<(Dialect, String, String)>,
}

impl FreshDatabase {
    /// Creates a database named after `label` and loads `fixture_sql` into it. SQLite files go
    /// into `dir`, which becomes the server's working directory.
    pub(crate) async fn create(
        dialect: Dialect,
        label: &str,
        fixture_sql: &str,
        dir: &Path,
    ) -> Result<Self, String> {
        match dialect {
            Dialect::Sqlite => {
                let path = dir.join("spec.db");
                let conn = rusqlite::Connection::open(&path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                conn.execute_batch(fixture_sql)
                    .map_err(|e| format!("loading {}: {e}", dialect.fixtures().join(" + ")))?;
                // Relative to the server's working directory (`dir`).
                Ok(Self {
                    url: "sqlite://./spec.db".into(),
                    server: None,
                })
            }
            Dialect::Postgres => {
                let admin = pg_admin_url();
                let name = unique_name(label);
                let client = pg_connect(&admin).await?;
                // Binary collation, like SQLite's default: text sorts byte by byte whatever
                // the server's locale, so one expected order holds on both.
                client
                    .batch_execute(&format!(
                        "CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
                    ))
                    .await
                    .map_err(|e| format!("CREATE DATABASE {name} on {admin}: {}", pg_error(&e)))?;
                let db = Self {
                    url: with_database(&admin, &name),
                    server: Some((dialect, admin, name)),
                };
                let loaded = async {
                    let client = pg_connect(&db.url).await?;
                    client.batch_execute(fixture_sql).await.map_err(|e| {
                        format!(
                            "loading {}: {}",
                            dialect.fixtures().join(" + "),
                            pg_error(&e)
                        )
                    })
                }
                .await;
                match loaded {
                    Ok(()) => Ok(db),
                    Err(e) => {
                        db.drop_database().await;
                        Err(e)
                    }
                }
            }
            Dialect::Mysql => {
                let admin = mysql_admin_url();
                let name = unique_name(label);
                // Byte order without padding, like PostgreSQL's C collation and SQLite.
                mysql_run(
                    &admin,
                    &[format!(
                        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin"
                    )],
                )
                .await?;
                let db = Self {
                    url: with_database(&admin, &name),
                    server: Some((dialect, admin, name)),
                };
                let loaded = mysql_run(&db.url, &split_mysql_script(fixture_sql))
                    .await
                    .map_err(|e| format!("loading {}: {e}", dialect.fixtures().join(" + ")));
                match loaded {
                    Ok(()) => Ok(db),
                    Err(e) => {
                        db.drop_database().await;
                        Err(e)
                    }
                }
            }
        }
    }

    /// Drops a PostgreSQL database (the server must be stopped); SQLite files go with their
    /// temporary directory. Failures are printed, not raised: the cases decide the verdict.
    pub(crate) async fn drop_database(&self) {
        let Some((dialect, admin, name)) = &self.server else {
            return;
        };
        let result = match dialect {
            Dialect::Mysql => {
                mysql_run(admin, &[format!("DROP DATABASE IF EXISTS `{name}`")]).await
            }
            _ => {
                async {
                    let client = pg_connect(admin).await?;
                    client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .await
                        .map_err(|e| pg_error(&e))
                }
                .await
            }
        };
        if let Err(e) = result {
            eprintln!("warning: could not drop database {name}: {e}");
        }
    }
}

/// `FRAISEQL_TEST_PG_URL`, or the local default.
pub(crate) fn pg_admin_url() -> String {
    std::env::var("FRAISEQL_TEST_PG_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_PG_URL.into())
}

async fn pg_connect(url: &str) -> Result<tokio_postgres::Client, String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.map_err(|e| {
        format!(
            "cannot connect to PostgreSQL at {url}: {}\n(the spec suite needs a running PostgreSQL; \
             set FRAISEQL_TEST_PG_URL to point elsewhere)",
            pg_error(&e)
        )
    })?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

fn pg_error(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let context = db.where_().map(|w| format!(" ({w})")).unwrap_or_default();
        return format!("{}: {}{context}", db.code().code(), db.message());
    }
    // The driver's top-level message is generic ("error connecting to server"): add causes.
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// `FRAISEQL_TEST_MYSQL_URL`, or the local default.
pub(crate) fn mysql_admin_url() -> String {
    std::env::var("FRAISEQL_TEST_MYSQL_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_MYSQL_URL.into())
}

/// Runs `statements` one by one on a new connection to `url`.
async fn mysql_run(url: &str, statements: &[String]) -> Result<(), String> {
    use mysql_async::prelude::Queryable;
    let opts = mysql_async::Opts::from_url(url).map_err(|e| format!("{url}: {e}"))?;
    let mut conn = mysql_async::Conn::new(opts).await.map_err(|e| {
        format!(
            "cannot connect to MySQL/MariaDB at {url}: {e}\n(the spec suite needs a running \
             MariaDB or MySQL; set FRAISEQL_TEST_MYSQL_URL to point elsewhere)"
        )
    })?;
    for statement in statements {
        conn.query_drop(statement)
            .await
            .map_err(|e| format!("{e}\nin: {statement}"))?;
    }
    conn.disconnect().await.map_err(|e| e.to_string())
}

/// Splits a script the way the `mysql` client does: statements end with the current
/// delimiter (`;`, changed by `DELIMITER` lines, so procedure bodies stay whole).
fn split_mysql_script(script: &str) -> Vec<String> {
    let mut delimiter = ";".to_string();
    let mut statements = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        let trimmed = line.trim();
        if let Some(d) = trimmed.strip_prefix("DELIMITER ") {
            delimiter = d.trim().to_string();
            continue;
        }
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with("--")) {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if trimmed.ends_with(delimiter.as_str()) {
            let end = current.trim_end().len() - delimiter.len();
            statements.push(current[..end].to_string());
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        statements.push(current);
    }
    statements
}

/// `fraiseql_spec_<label>_<pid>_<n>`: unique across parallel tests and concurrent runs.
fn unique_name(label: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let label: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("fraiseql_spec_{label}_{}_{n}_{nanos}", std::process::id())
}

/// The URL with its database (path) replaced: `postgresql://u@h:5432/x?y` -> `…/name?y`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{split_mysql_script, with_database};

    #[test]
    fn mysql_scripts_split_on_the_current_delimiter() {
        let script = "-- c\nCREATE TABLE t (a int);\nDELIMITER //\nCREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\nEND //\nDELIMITER ;\nINSERT INTO t VALUES (1);\n";
        assert_eq!(
            split_mysql_script(script),
            [
                "CREATE TABLE t (a int)",
                "CREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\nEND ",
                "INSERT INTO t VALUES (1)",
            ]
        );
    }

    #[test]
    fn replaces_the_database_of_a_url() {
        assert_eq!(
            with_database("postgresql://p@h:5432/postgres", "x"),
            "postgresql://p@h:5432/x"
        );
        assert_eq!(with_database("postgresql://p@h", "x"), "postgresql://p@h/x");
        assert_eq!(
            with_database("postgres://p@h/db?sslmode=disable", "x"),
            "postgres://p@h/x?sslmode=disable"
        );
    }
}
