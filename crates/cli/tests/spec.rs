//! The spec suite: end-to-end behaviour written as Markdown files in `tests/spec/`, run
//! against the real `fraiseql` binary on every database dialect, with ONE expected response
//! per case shared by all dialects (a dialect that answers differently fails).
//!
//! # Spec file format
//!
//! Each `tests/spec/*.md` file (except `README.md`) is a list of cases. A case is a
//! `## <title>` section holding:
//!
//! - a ```` ```graphql ```` block: the request's query;
//! - optionally a ```` ```json variables ```` block: the request's variables;
//! - a ```` ```json response ```` block: the expected response body.
//!
//! Other text and other code blocks are documentation and are ignored. Responses are compared
//! as JSON re-serialized with key order preserved, so field order matters; whitespace does not.
//! Two extensions keep cases exact where values cannot be known in advance:
//!
//! - `"<any>"` in the expected response matches any value (ids and timestamps the database
//!   generates, opaque cursors, messages written by a third-party library);
//! - `{{prev.<path>}}` in a case's query or variables is replaced by a value of the previous
//!   case's actual response (`{{prev.data.ordersPage.pageInfo.endCursor}}`, array elements by
//!   index: `{{prev.data.ordersPage.edges.0.cursor}}`). A string is inserted without its
//!   quotes, JSON-escaped; any other value as JSON.
//!
//! Cases of a file run in order against one server, so a mutation's effect is visible to the
//! cases after it. Each file gets a fresh database per dialect: on SQLite the quickstart's own
//! `examples/quickstart/db/{schema,seed}.sql`, on PostgreSQL `tests/spec/fixtures/postgres.sql`,
//! on MySQL/MariaDB `tests/spec/fixtures/mysql.sql` (the same data); the schema is
//! `examples/quickstart/schema.graphql`.
//!
//! # Running
//!
//! `cargo test -p fraiseql --test spec` runs `spec_sqlite`, `spec_postgres` and `spec_mysql`
//! in parallel. PostgreSQL is reached at `FRAISEQL_TEST_PG_URL` (default
//! `postgresql://postgres@127.0.0.1:5432/postgres`), MariaDB/MySQL at
//! `FRAISEQL_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306/mysql`); if one is
//! unreachable its test fails.
//! `FRAISEQL_SPEC_BIN=<path>` tests another `fraiseql` binary than this build's.
//! `FRAISEQL_SPEC_FILTER=<text>` runs only the cases whose `file/title` contains `<text>`
//! (the cases before them in the same file still run, unchecked, to build up state).
//! Every failing case is reported (file, title, dialect, expected and actual) before the test
//! fails.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use support::database::{Dialect, FreshDatabase};
use support::server::Server;
use support::spec_file::{self, Case, SpecFile};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_sqlite() {
    run(Setup::one(Dialect::Sqlite)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_postgres() {
    run(Setup::one(Dialect::Postgres)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_mysql() {
    run(Setup::one(Dialect::Mysql)).await;
}

/// Customers on PostgreSQL, orders on MariaDB: `Customer.orders` crosses databases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_postgres_with_orders_on_mysql() {
    run(Setup {
        primary: Dialect::Postgres,
        orders: Some(Dialect::Mysql),
    })
    .await;
}

/// Customers on PostgreSQL, orders on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_postgres_with_orders_on_sqlite() {
    run(Setup {
        primary: Dialect::Postgres,
        orders: Some(Dialect::Sqlite),
    })
    .await;
}

/// Where the schema's types live: everything on `primary`, or `Order` (and the root fields
/// returning it) on a second database named `orders`, so that every case reading
/// `Customer.orders` reads it across databases. Each database gets the whole fixture of its
/// dialect; the expected responses are the same.
#[derive(Debug, Clone, Copy)]
struct Setup {
    primary: Dialect,
    orders: Option<Dialect>,
}

impl Setup {
    fn one(primary: Dialect) -> Self {
        Self {
            primary,
            orders: None,
        }
    }

    /// The quickstart's schema, with `Order` moved to the `orders` database when there is
    /// one.
    fn schema(self, quickstart: &str) -> String {
        if self.orders.is_none() {
            return quickstart.to_string();
        }
        let from = r#"type Order @source(view: "v_order")"#;
        assert!(
            quickstart.contains(from),
            "the quickstart schema changed: {from}"
        );
        quickstart.replace(
            from,
            r#"type Order @source(view: "v_order", database: "orders")"#,
        )
    }
}

impl std::fmt::Display for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.orders {
            None => write!(f, "{}", self.primary),
            Some(o) => write!(f, "{}+orders-on-{o}", self.primary),
        }
    }
}

fn spec_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/spec");
    dir.canonicalize().unwrap_or(dir)
}

/// Runs every spec file on `setup`, then fails listing every failing case.
async fn run(setup: Setup) {
    let dialect = setup;
    let dir = spec_dir();
    let files = spec_file::load_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let root = dir.join("../..");
    let read = |name: &str| {
        std::fs::read_to_string(root.join(name))
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", root.join(name).display()))
    };
    let schema = setup.schema(&read("examples/quickstart/schema.graphql"));
    let fixtures = |d: Dialect| -> String { d.fixtures().iter().map(|f| read(f) + "\n").collect() };
    let fixture_sql = fixtures(setup.primary);
    let orders_sql = setup.orders.map(fixtures);
    let filter = std::env::var("FRAISEQL_SPEC_FILTER")
        .ok()
        .filter(|f| !f.is_empty());
    if let Some(f) = &filter {
        eprintln!("[{dialect}] FRAISEQL_SPEC_FILTER={f}: checking only the matching cases");
    }
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("http client: {e}"));

    let mut failures: Vec<String> = Vec::new();
    let (mut checked, mut total) = (0usize, 0usize);
    for file in &files {
        let selected = |c: &Case| {
            filter
                .as_ref()
                .is_none_or(|f| format!("{}/{}", file.name, c.title).contains(f.as_str()))
        };
        let last = match file.cases.iter().rposition(&selected) {
            Some(i) => i,
            None => continue,
        };
        let cases = &file.cases[..=last];
        let wanted = cases.iter().filter(|c| selected(c)).count();
        total += wanted;
        match run_file(
            setup,
            file,
            cases,
            &selected,
            &schema,
            (&fixture_sql, orders_sql.as_deref()),
            &http,
        )
        .await
        {
            Ok(file_failures) => {
                checked += wanted;
                eprintln!(
                    "[{dialect}] {}: {}/{wanted} passed",
                    file.name,
                    wanted.saturating_sub(file_failures.len())
                );
                failures.extend(file_failures);
            }
            Err(setup) => {
                eprintln!("[{dialect}] {}: could not run", file.name);
                failures.push(format!(
                    "=== {} [{dialect}]: could not run the file\n{setup}",
                    file.path.display()
                ));
            }
        }
    }
    if !failures.is_empty() {
        panic!(
            "\n{} failure(s) on {dialect} ({checked} of {total} cases run):\n\n{}\n",
            failures.len(),
            failures.join("\n\n")
        );
    }
    assert!(total > 0, "no spec case matched FRAISEQL_SPEC_FILTER");
}

/// Runs the cases of one file against a fresh database and server; returns the failures.
/// `Err` when the file could not run at all (database or server setup).
async fn run_file(
    setup: Setup,
    file: &SpecFile,
    cases: &[Case],
    selected: &dyn Fn(&Case) -> bool,
    schema: &str,
    (fixture_sql, orders_sql): (&str, Option<&str>),
    http: &reqwest::Client,
) -> Result<Vec<String>, String> {
    let dialect = setup;
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let db = FreshDatabase::create(setup.primary, &file.name, fixture_sql, dir.path()).await?;
    let orders_dir = dir.path().join("orders");
    let orders = match (setup.orders, orders_sql) {
        (Some(d), Some(sql)) => {
            std::fs::create_dir_all(&orders_dir).map_err(|e| e.to_string())?;
            match FreshDatabase::create(d, &file.name, sql, &orders_dir).await {
                Ok(o) => Some(o),
                Err(e) => {
                    db.drop_database().await;
                    return Err(e);
                }
            }
        }
        _ => None,
    };
    let result = async {
        std::fs::write(dir.path().join("schema.graphql"), schema).map_err(|e| e.to_string())?;
        // An SQLite URL is relative to the directory its file was made in.
        let orders_url = orders.as_ref().map(|o| o.url.replace("./", "./orders/"));
        std::fs::write(
            dir.path().join("fraiseql.toml"),
            config(&file.name, &db.url, orders_url.as_deref()),
        )
        .map_err(|e| e.to_string())?;
        let mut server = Server::start(&binary(), dir.path(), http).await?;
        let mut failures = Vec::new();
        let mut prev: Option<Value> = None;
        for case in cases {
            let outcome = run_case(&mut server, http, case, prev.as_ref()).await;
            let report = |detail: String| {
                format!(
                    "=== {}:{} `{}` [{dialect}]\n{detail}",
                    file.path.display(),
                    case.line,
                    case.title
                )
            };
            match outcome {
                Ok(actual) => {
                    if selected(case) && !spec_file::matches(&case.response, &actual) {
                        let variables = case
                            .variables
                            .as_ref()
                            .map(|v| format!("variables:\n{}\n", v.trim_end()))
                            .unwrap_or_default();
                        failures.push(report(format!(
                            "query:\n{}\n{variables}expected:\n{}\nactual:\n{}",
                            case.query.trim_end(),
                            pretty(&case.response),
                            pretty(&actual)
                        )));
                    }
                    prev = Some(actual);
                }
                Err(e) => {
                    failures.push(report(e));
                    prev = None;
                    if !server.is_running() {
                        failures.push(format!("(stopped {}: the server is gone)", file.name));
                        break;
                    }
                }
            }
        }
        drop(server);
        Ok(failures)
    }
    .await;
    db.drop_database().await;
    if let Some(o) = orders {
        o.drop_database().await;
    }
    result
}

async fn run_case(
    server: &mut Server,
    http: &reqwest::Client,
    case: &Case,
    prev: Option<&Value>,
) -> Result<Value, String> {
    let query = spec_file::substitute(&case.query, prev)?;
    let variables = match &case.variables {
        None => None,
        Some(text) => {
            let text = spec_file::substitute(text, prev)?;
            Some(
                serde_json::from_str(&text)
                    .map_err(|e| format!("the json variables block is not JSON: {e}\n{text}"))?,
            )
        }
    };
    server.graphql(http, &query, variables).await
}

/// The binary under test: this build's `fraiseql`, or `FRAISEQL_SPEC_BIN` (e.g. a release
/// build or an installed binary).
fn binary() -> PathBuf {
    std::env::var_os("FRAISEQL_SPEC_BIN")
        .filter(|b| !b.is_empty())
        .map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_fraiseql")),
            PathBuf::from,
        )
}

/// The `fraiseql.toml` of a spec run; paths are relative to the server's working directory.
fn config(name: &str, url: &str, orders: Option<&str>) -> String {
    let quote = |s: &str| Value::String(s.to_string()).to_string();
    let orders = orders
        .map(|u| format!("[databases.orders]\nurl = {}\n\n", quote(u)))
        .unwrap_or_default();
    format!(
        "[project]\nname = {}\n\n[database]\nurl = {}\n\n{orders}[fraiseql]\nschema_file = \"schema.graphql\"\n",
        quote(&format!("spec-{name}")),
        quote(url)
    )
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}
