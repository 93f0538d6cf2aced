//! The MySQL/MariaDB driver against the real server (`FRAISEQL_TEST_MYSQL_URL`): parameter
//! binding, the session the dialect relies on, the catalog, procedures, and statements that
//! outlive their request. Each test gets a database of its own.

use super::IDLE_PING_AFTER;
use crate::db::mysql_test_url as base_url;
use crate::db::{Database, DbErrorKind};
use fraiseql_engine::catalog::{FunctionReturn, SqlType};
use fraiseql_engine::config::{DatabaseConfig, DatabaseKind};
use fraiseql_engine::sql::{Param, SqlQuery};
use mysql_async::prelude::Queryable;
use std::time::{Duration, Instant};

/// A database private to one test; dropped when the value is.
pub(crate) struct Scratch {
    pub(crate) name: String,
    pub(crate) url: String,
}

impl Scratch {
    /// Creates the database (utf8mb4, `utf8mb4_nopad_bin`) and runs `setup` in it (several
    /// statements allowed, procedure bodies included: they go to the server in one piece).
    pub(crate) async fn new(setup: &str) -> Self {
        let name = format!("fraiseql_t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = admin().await;
        admin
            .query_drop(format!(
                "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin"
            ))
            .await
            .unwrap_or_else(|e| panic!("test setup failed: {e}"));
        let url = with_database(&base_url(), &name);
        if !setup.trim().is_empty() {
            let mut conn = connect(&url).await;
            conn.query_drop(setup)
                .await
                .unwrap_or_else(|e| panic!("test setup failed: {e}"));
            let _ = conn.disconnect().await;
        }
        Self { name, url }
    }

    pub(crate) fn config(&self) -> DatabaseConfig {
        DatabaseConfig {
            kind: Some(DatabaseKind::Mysql),
            url: Some(self.url.clone()),
            ..DatabaseConfig::default()
        }
    }

    pub(crate) fn database(&self) -> Database {
        Database::new("primary", &self.config()).expect("pool builds")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Outside async context; a short-lived runtime on its own thread cleans up even when
        // the test panicked.
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    let mut admin = admin().await;
                    let _ = admin
                        .query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
                        .await;
                });
            }
        })
        .join();
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

async fn connect(url: &str) -> mysql_async::Conn {
    let opts = mysql_async::Opts::from_url(url).expect("test url parses");
    mysql_async::Conn::new(opts)
        .await
        .unwrap_or_else(|e| panic!("cannot reach MySQL/MariaDB at {url}: {e}"))
}

async fn admin() -> mysql_async::Conn {
    connect(&base_url()).await
}

fn sql(text: &str, params: Vec<Param>) -> SqlQuery {
    SqlQuery {
        text: text.into(),
        params,
    }
}

#[tokio::test]
async fn fetch_texts_binds_every_param_kind() {
    let scratch = Scratch::new("").await;
    let db = scratch.database();
    let row = db
        .fetch_texts(&sql(
            "SELECT ?, ? + 1, ? * 2, NOT ?, NULL, 7, JSON_OBJECT('a', 1), CAST('2024-01-02 03:04:05' AS DATETIME)",
            vec![
                Param::Text("héllo".into()),
                Param::Int(41),
                Param::Float(1.25),
                Param::Bool(true),
            ],
        ))
        .await
        .expect("statement runs");
    assert_eq!(
        row,
        vec![
            Some("héllo".into()),
            Some("42".into()),
            Some("2.5".into()),
            Some("0".into()),
            None,
            Some("7".into()),
            Some("{\"a\": 1}".into()),
            Some("2024-01-02 03:04:05.000000".into()),
        ]
    );
}

/// What `sql/mysql.rs` relies on: a backslash in a literal is a plain character (so a
/// literal ending in one cannot swallow its closing quote), text compares exactly, and a
/// long JSON array is not cut at MariaDB's default 1 MB `group_concat_max_len`.
#[tokio::test]
async fn connections_are_set_up_for_the_dialect() {
    let scratch = Scratch::new("").await;
    let db = scratch.database();
    let row = db
        .fetch_texts(&sql(
            "SELECT 'a\\', 'a' = 'A', 'a' = 'a ', \
             LENGTH((SELECT JSON_ARRAYAGG(REPEAT('x', 1000)) FROM seq_1_to_3000)), \
             COALESCE((SELECT VARIABLE_VALUE FROM information_schema.SESSION_VARIABLES \
                       WHERE VARIABLE_NAME = 'OPTIMIZER_JOIN_LIMIT_PREF_RATIO'), '100')",
            vec![],
        ))
        .await
        .expect("statement runs");
    assert_eq!(
        row,
        vec![
            Some("a\\".into()),
            Some("0".into()),
            Some("0".into()),
            Some((3000 * 1003 + 1).to_string()),
            // Where the server has it, a page's join order weighs the LIMIT.
            Some("100".into()),
        ]
    );
}

#[tokio::test]
async fn the_catalog_reads_views_column_types_and_procedures() {
    let scratch = Scratch::new(
        "CREATE TABLE tb (id CHAR(36) COLLATE utf8mb4_nopad_bin, name VARCHAR(20) COLLATE utf8mb4_general_ci, \
           flag BOOLEAN, n INT, d DECIMAL(10,2), at DATETIME, day DATE);
         CREATE VIEW v_t AS SELECT id, name, flag, n, d, at, day, JSON_OBJECT('id', id) AS data FROM tb;
         CREATE PROCEDURE fn_make(IN p_name VARCHAR(20), IN p_n INT) BEGIN SELECT 'success' AS status; END;
         CREATE PROCEDURE fn_none() BEGIN SELECT 1; END;",
    )
    .await;
    let db = scratch.database();
    let catalog = db.load_catalog().await.expect("catalog");
    let v = catalog.relations.get("v_t").expect("view");
    let types: Vec<(&str, SqlType)> = v.columns.iter().map(|(k, t)| (k.as_str(), *t)).collect();
    assert_eq!(
        types,
        [
            ("id", SqlType::Text),
            ("name", SqlType::Other),
            ("flag", SqlType::Boolean),
            ("n", SqlType::Integer),
            ("d", SqlType::Numeric),
            ("at", SqlType::Timestamp),
            ("day", SqlType::Date),
            // The database's collation is exact, so the JSON text reads as text.
            ("data", SqlType::Text),
        ]
    );
    assert!(catalog
        .relations
        .contains_key(&format!("{}.v_t", scratch.name)));
    let make = catalog.functions.get("fn_make").expect("procedure");
    assert_eq!(make.returns, FunctionReturn::Procedure);
    let params: Vec<(&str, &str)> = make
        .params
        .iter()
        .map(|p| (p.name.as_str(), p.type_name.as_str()))
        .collect();
    assert_eq!(params, [("p_name", "varchar"), ("p_n", "int")]);
    assert!(make.params.iter().all(|p| p.has_default));
    assert!(catalog
        .functions
        .get("fn_none")
        .is_some_and(|f| f.params.is_empty()));
}

/// A `CALL` returns its result set with the column names, and the trailing OK packet is
/// drained so the connection serves the next statement.
#[tokio::test]
async fn a_procedure_result_set_comes_with_its_column_names() {
    let scratch = Scratch::new(
        "CREATE TABLE t (id INT PRIMARY KEY);
         CREATE PROCEDURE fn_add(IN p_id INT) BEGIN
           INSERT INTO t VALUES (p_id);
           SELECT 'success' AS status, 'added' AS message, p_id AS entity_id;
         END;",
    )
    .await;
    let db = scratch.database();
    let mut tx = db.begin().await.expect("begin");
    let (columns, rows) = tx
        .fetch_named(&sql("CALL fn_add(?)", vec![Param::Int(5)]))
        .await
        .expect("call");
    assert_eq!(columns, ["status", "message", "entity_id"]);
    assert_eq!(
        rows,
        [[
            Some("success".to_string()),
            Some("added".into()),
            Some("5".into())
        ]]
    );
    let rows = tx
        .fetch_rows(&sql("SELECT COUNT(*) FROM t", vec![]))
        .await
        .expect("the connection is free after the CALL");
    assert_eq!(rows, [[Some("1".to_string())]]);
    tx.commit().await.expect("commit");
}

/// Waits until no statement matching `pattern` runs in the scratch database.
async fn until_gone(scratch: &Scratch, pattern: &str, limit: Duration) {
    let mut admin = admin().await;
    let start = Instant::now();
    loop {
        let running: Vec<u64> = admin
            .exec(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE ?",
                (scratch.name.as_str(), pattern),
            )
            .await
            .expect("processlist");
        if running.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "still running after {limit:?}: {running:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A statement whose future is dropped is killed on the server, and its connection is not
/// handed out again (the next request would queue behind it).
#[tokio::test]
async fn an_abandoned_statement_is_killed_and_its_connection_not_reused() {
    let scratch = Scratch::new("").await;
    let db = Database::new(
        "primary",
        &DatabaseConfig {
            pool_max: 1,
            statement_timeout_ms: Some(0),
            ..scratch.config()
        },
    )
    .expect("pool builds");
    let slow = sql("SELECT SLEEP(30)", vec![]);
    let gave_up = tokio::time::timeout(Duration::from_millis(500), db.fetch_texts(&slow)).await;
    assert!(gave_up.is_err(), "the sleep outlives the deadline");
    let started = Instant::now();
    let row = tokio::time::timeout(
        Duration::from_secs(3),
        db.fetch_texts(&sql("SELECT 1", vec![])),
    )
    .await
    .expect("not queued behind the abandoned statement")
    .expect("select");
    assert_eq!(row, [Some("1".to_string())]);
    assert!(started.elapsed() < Duration::from_secs(3));
    until_gone(&scratch, "SELECT SLEEP%", Duration::from_secs(5)).await;
}

/// A transaction dropped in the middle of a statement: killed, rolled back, and the pool's
/// one connection is free at once.
#[tokio::test]
async fn a_transaction_dropped_mid_statement_is_killed_and_rolled_back() {
    let scratch = Scratch::new("CREATE TABLE t (id INT PRIMARY KEY);").await;
    let db = Database::new(
        "primary",
        &DatabaseConfig {
            pool_max: 1,
            statement_timeout_ms: Some(0),
            ..scratch.config()
        },
    )
    .expect("pool builds");
    let mut tx = db.begin().await.expect("begin");
    tx.execute(&sql("INSERT INTO t VALUES (1)", vec![]))
        .await
        .expect("insert");
    let slow = sql("SELECT SLEEP(30)", vec![]);
    let gave_up = tokio::time::timeout(Duration::from_millis(500), tx.fetch_rows(&slow)).await;
    assert!(gave_up.is_err());
    drop(tx);
    let count = tokio::time::timeout(
        Duration::from_secs(3),
        db.fetch_texts(&sql("SELECT COUNT(*) FROM t", vec![])),
    )
    .await
    .expect("the pool's connection is free again")
    .expect("count");
    assert_eq!(count, [Some("0".to_string())], "the insert was rolled back");
    until_gone(&scratch, "SELECT SLEEP%", Duration::from_secs(5)).await;
}

/// `statement_timeout_ms` defaults to the request deadline (MariaDB's `max_statement_time`).
#[tokio::test]
async fn statement_timeout_defaults_to_the_request_deadline() {
    let scratch = Scratch::new("").await;
    let db = Database::serving("primary", &scratch.config(), Duration::from_millis(300))
        .expect("pool builds");
    let started = Instant::now();
    let err = db
        .fetch_texts(&sql(
            "SELECT COUNT(*) FROM seq_1_to_1000000000 a WHERE a.seq % 7 = 8",
            vec![],
        ))
        .await
        .expect_err("ended by the server");
    assert_eq!(err.kind, DbErrorKind::Timeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A connection the server ends (killed, server restarted) fails the statement that meets
/// it as unavailable, and the pool replaces it: the next statement works.
#[tokio::test]
async fn a_killed_connection_is_replaced() {
    let scratch = Scratch::new("").await;
    let db = Database::new(
        "primary",
        &DatabaseConfig {
            pool_max: 1,
            ..scratch.config()
        },
    )
    .expect("pool builds");
    let id = db
        .fetch_texts(&sql("SELECT CONNECTION_ID()", vec![]))
        .await
        .expect("id")
        .remove(0)
        .expect("an id");
    admin()
        .await
        .query_drop(format!("KILL CONNECTION {id}"))
        .await
        .expect("kill");
    // Right away the closed connection may still be handed out (a ping on every checkout
    // would cost a round trip each); once it has rested it is pinged and replaced, so a
    // server restart costs no request.
    tokio::time::sleep(IDLE_PING_AFTER).await;
    let first = db.fetch_texts(&sql("SELECT 1", vec![])).await;
    assert_eq!(first.expect("a fresh connection"), [Some("1".to_string())]);
    let again = db
        .fetch_texts(&sql("SELECT CONNECTION_ID()", vec![]))
        .await
        .expect("a fresh connection");
    assert_ne!(again, [Some(id)]);
}
