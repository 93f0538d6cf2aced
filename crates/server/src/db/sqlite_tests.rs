//! Tests of the SQLite driver on temporary files.

use super::{location, Location};
use crate::db::{Database, DbErrorKind};
use fraiseql_engine::catalog::{FunctionReturn, SqlType};
use fraiseql_engine::config::DatabaseConfig;
use fraiseql_engine::sql::{Param, SqlQuery};
use std::path::PathBuf;
use std::time::Duration;

fn sql(text: &str, params: Vec<Param>) -> SqlQuery {
    SqlQuery {
        text: text.into(),
        params,
    }
}

/// A database on a fresh file in its own temporary directory, after running `setup`.
async fn database(setup: &str) -> (Database, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("test.db");
    if !setup.is_empty() {
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch(setup).expect("setup");
    }
    let cfg = DatabaseConfig {
        kind: Some(fraiseql_engine::config::DatabaseKind::Sqlite),
        url: Some(format!("sqlite://{}", path.display())),
        ..DatabaseConfig::default()
    };
    (Database::new("primary", &cfg).expect("pool"), dir)
}

#[test]
fn url_forms() {
    let file = |p: &str| Ok(Location::File(PathBuf::from(p)));
    assert_eq!(
        location("sqlite::memory:").map_err(|e| e.message),
        Ok(Location::Memory)
    );
    assert_eq!(
        location(":memory:").map_err(|e| e.message),
        Ok(Location::Memory)
    );
    assert_eq!(
        location("sqlite://./app.db").map_err(|e| e.message),
        file("./app.db")
    );
    assert_eq!(
        location("sqlite:///var/lib/app.db").map_err(|e| e.message),
        file("/var/lib/app.db")
    );
    assert_eq!(
        location("sqlite://app.db").map_err(|e| e.message),
        file("app.db")
    );
    assert_eq!(
        location("sqlite:app.db").map_err(|e| e.message),
        file("app.db")
    );
    assert_eq!(
        location("sqlite://app.db?mode=rwc").map_err(|e| e.message),
        file("app.db")
    );
    assert_eq!(
        location("data/app.sqlite").map_err(|e| e.message),
        file("data/app.sqlite")
    );
    assert!(location("sqlite://").is_err());
}

#[tokio::test]
async fn fetch_texts_binds_every_param_kind() {
    let (db, _dir) = database("").await;
    let row = db
        .fetch_texts(&sql(
            "SELECT ?1, ?2 + 1, ?3 * 2, NOT ?4, NULL, json_object('a', 1)",
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
            Some("{\"a\":1}".into())
        ]
    );
}

#[tokio::test]
async fn connections_are_set_up() {
    let (db, dir) = database("").await;
    let row = db
        .fetch_texts(&sql(
            "SELECT 'ABC' LIKE 'abc', 'abc' LIKE 'a%', (SELECT foreign_keys FROM pragma_foreign_keys), \
             (SELECT journal_mode FROM pragma_journal_mode), (SELECT timeout FROM pragma_busy_timeout)",
            vec![],
        ))
        .await
        .expect("pragmas");
    let texts: Vec<&str> = row.iter().map(|c| c.as_deref().unwrap_or("NULL")).collect();
    assert_eq!(texts, ["0", "1", "1", "wal", "5000"]);
    // The file did not exist before the first connection.
    assert!(dir.path().join("test.db").exists());
}

#[tokio::test]
async fn memory_database_keeps_one_connection() {
    let cfg = DatabaseConfig {
        kind: Some(fraiseql_engine::config::DatabaseKind::Sqlite),
        url: Some("sqlite::memory:".into()),
        ..DatabaseConfig::default()
    };
    let db = Database::new("mem", &cfg).expect("pool");
    assert_eq!(db.pool_status().max, 1);
    let mut tx = db.begin().await.expect("begin");
    tx.execute(&sql("CREATE TABLE t (v text)", vec![]))
        .await
        .expect("create");
    tx.execute(&sql(
        "INSERT INTO t VALUES (?1)",
        vec![Param::Text("kept".into())],
    ))
    .await
    .expect("insert");
    tx.commit().await.expect("commit");
    assert_eq!(
        db.fetch_texts(&sql("SELECT v FROM t", vec![]))
            .await
            .expect("read"),
        vec![Some("kept".into())]
    );
}

#[tokio::test]
async fn transactions_commit_and_roll_back() {
    let (db, _dir) = database("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);").await;
    let insert = |id: i64| {
        sql(
            "INSERT INTO t (id, v) VALUES (?1, ?2)",
            vec![Param::Int(id), Param::Text("x".into())],
        )
    };
    let count = sql("SELECT count(*) FROM t", vec![]);

    let mut tx = db.begin().await.expect("begin");
    assert_eq!(tx.execute(&insert(1)).await.expect("insert"), 1);
    assert_eq!(
        tx.fetch_rows(&count).await.expect("count"),
        vec![vec![Some("1".into())]]
    );
    tx.commit().await.expect("commit");

    let mut tx = db.begin().await.expect("begin");
    tx.execute(&insert(2)).await.expect("insert");
    drop(tx);
    // The rollback runs detached; a new transaction waits for the write lock (busy_timeout).
    let mut tx = db.begin().await.expect("begin");
    assert_eq!(
        tx.fetch_rows(&count).await.expect("count"),
        vec![vec![Some("1".into())]]
    );
    // `execute` also accepts statements that return rows.
    assert_eq!(
        tx.execute(&sql("SELECT id FROM t", vec![]))
            .await
            .expect("select"),
        1
    );
    tx.commit().await.expect("commit");
}

/// A request cancelled while its `BEGIN IMMEDIATE` waits for the write lock (the client went
/// away) must not put a connection back in the pool inside a transaction: before the fix,
/// every later write failed with "cannot start a transaction within a transaction", and the
/// stray transaction held the write lock.
#[tokio::test]
async fn a_cancelled_begin_leaves_no_transaction_behind() {
    let (db, dir) = database("CREATE TABLE t (id INTEGER PRIMARY KEY);").await;
    let insert = |id: i64| sql("INSERT INTO t (id) VALUES (?1)", vec![Param::Int(id)]);

    // A first connection puts the file in WAL mode (its setup cannot while a lock is held).
    db.fetch_texts(&sql("SELECT 1", vec![]))
        .await
        .expect("connect");
    // Another process holds the file's write lock (this process's own writers take turns
    // before ever reaching BEGIN, so the lock must come from outside).
    let holder = rusqlite::Connection::open(dir.path().join("test.db")).expect("open");
    holder
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO t (id) VALUES (1);")
        .expect("hold the write lock");
    // Our BEGIN IMMEDIATE waits in the busy handler; give up on it (a cancelled request).
    let waited = tokio::time::timeout(Duration::from_millis(200), db.begin()).await;
    assert!(
        waited.is_err(),
        "the write lock is held, so BEGIN must wait"
    );
    holder.execute_batch("COMMIT").expect("commit 1");

    // Every connection of the pool can write again, one transaction after another.
    for id in 2..12 {
        let mut tx = tokio::time::timeout(Duration::from_secs(3), db.begin())
            .await
            .expect("the write lock is free again")
            .expect("begin");
        tx.execute(&insert(id)).await.expect("insert");
        tx.commit().await.expect("commit");
    }
    assert_eq!(
        db.fetch_texts(&sql("SELECT count(*) FROM t", vec![]))
            .await
            .expect("count"),
        vec![Some("11".into())]
    );
}

/// Writers of one process take turns instead of sleeping in SQLite's busy handler; a
/// transaction rolled back (dropped) hands its turn on like a committed one.
#[tokio::test]
async fn concurrent_writers_take_turns() {
    let (db, _dir) = database("CREATE TABLE t (id INTEGER PRIMARY KEY);").await;
    let db = std::sync::Arc::new(db);
    let writers = (0..32i64).map(|id| {
        let db = db.clone();
        tokio::spawn(async move {
            let mut tx = db.begin().await.expect("begin");
            tx.execute(&sql("INSERT INTO t (id) VALUES (?1)", vec![Param::Int(id)]))
                .await
                .expect("insert");
            if id % 4 == 0 {
                drop(tx);
            } else {
                tx.commit().await.expect("commit");
            }
        })
    });
    let all = futures::future::join_all(writers);
    for done in tokio::time::timeout(Duration::from_secs(10), all)
        .await
        .expect("no writer waits forever")
    {
        done.expect("writer task");
    }
    assert_eq!(
        db.fetch_texts(&sql("SELECT count(*) FROM t", vec![]))
            .await
            .expect("count"),
        vec![Some("24".into())]
    );
}

#[tokio::test]
async fn constraint_failures_map_to_portable_kinds() {
    let (db, _dir) = database(
        "CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
         CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a(id));
         INSERT INTO a VALUES (1, 'one');",
    )
    .await;
    let mut tx = db.begin().await.expect("begin");
    let unique = tx
        .execute(&sql(
            "INSERT INTO a VALUES (2, ?1)",
            vec![Param::Text("one".into())],
        ))
        .await
        .expect_err("duplicate");
    assert_eq!(unique.kind, DbErrorKind::UniqueViolation);
    assert!(unique.message.contains("UNIQUE"), "{}", unique.message);
    let fk = tx
        .execute(&sql("INSERT INTO b VALUES (1, 99)", vec![]))
        .await
        .expect_err("fk");
    assert_eq!(fk.kind, DbErrorKind::ForeignKeyViolation);
    let not_null = tx
        .execute(&sql("INSERT INTO a VALUES (3, NULL)", vec![]))
        .await
        .expect_err("nn");
    assert_eq!(not_null.kind, DbErrorKind::NotNullViolation);
    let syntax = tx
        .execute(&sql("SELEC 1", vec![]))
        .await
        .expect_err("syntax");
    assert_eq!(syntax.kind, DbErrorKind::Other);
}

#[tokio::test]
async fn unopenable_file_is_unavailable() {
    let cfg = DatabaseConfig {
        kind: Some(fraiseql_engine::config::DatabaseKind::Sqlite),
        url: Some("sqlite:///nonexistent-dir/for/sure/app.db".into()),
        ..DatabaseConfig::default()
    };
    let db = Database::new("gone", &cfg).expect("pool builds without opening");
    let err = db.ping().await.expect_err("cannot open");
    assert_eq!(err.kind, DbErrorKind::Unavailable, "{err}");
}

#[tokio::test]
async fn catalog_lists_relations_and_fn_views() {
    let (db, _dir) = database(
        "CREATE TABLE tb_post (pk_post INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, title TEXT, created_at TIMESTAMP);
         CREATE VIEW v_post AS SELECT id, json_object('id', id, 'title', title) AS data FROM tb_post;
         CREATE TABLE fraiseql_mutation_response (status TEXT, message TEXT, entity_id TEXT,
             entity_type TEXT, entity TEXT, metadata TEXT);
         CREATE VIEW fn_create_post AS SELECT NULL AS title, CAST(NULL AS INTEGER) AS author_id;
         CREATE TRIGGER fn_create_post_insert INSTEAD OF INSERT ON fn_create_post BEGIN
             INSERT INTO tb_post (id, title) VALUES (lower(hex(randomblob(16))), NEW.title);
         END;",
    )
    .await;
    let catalog = db.load_catalog().await.expect("catalog");
    assert_eq!(catalog.column("tb_post", "title"), Some(SqlType::Text));
    assert_eq!(
        catalog.column("tb_post", "created_at"),
        Some(SqlType::Timestamp)
    );
    assert_eq!(catalog.column("v_post", "data"), Some(SqlType::Other));
    assert_eq!(catalog.column("main.v_post", "id"), Some(SqlType::Text));
    assert!(catalog.relations.contains_key("fn_create_post"));
    assert!(!catalog.functions.contains_key("v_post"));

    let function = &catalog.functions["fn_create_post"];
    assert_eq!(function.returns, FunctionReturn::MutationResponse);
    let params: Vec<(&str, &str, bool)> = function
        .params
        .iter()
        .map(|p| (p.name.as_str(), p.type_name.as_str(), p.has_default))
        .collect();
    assert_eq!(
        params,
        [("title", "text", true), ("author_id", "INT", true)]
    );
    assert_eq!(db.catalog().as_deref(), Some(&*catalog));
}

/// A statement that runs for minutes: counts to ten billion.
const SLOW: &str =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10000000000) \
                    SELECT count(*) FROM c";

/// A database on a fresh file with its own settings.
fn with(dir: &tempfile::TempDir, cfg: DatabaseConfig) -> Database {
    let cfg = DatabaseConfig {
        kind: Some(fraiseql_engine::config::DatabaseKind::Sqlite),
        url: Some(format!("sqlite://{}", dir.path().join("test.db").display())),
        ..cfg
    };
    Database::new("primary", &cfg).expect("pool")
}

/// Issue 9: a statement whose request gave up kept running on its blocking thread, holding
/// the connection, so the next request on it waited for the end. Now it is interrupted.
#[tokio::test]
async fn an_abandoned_statement_is_interrupted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = with(
        &dir,
        DatabaseConfig {
            pool_max: 1,
            statement_timeout_ms: Some(0),
            ..DatabaseConfig::default()
        },
    );
    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        db.fetch_texts(&sql(SLOW, vec![])),
    )
    .await;
    assert!(gave_up.is_err(), "the statement outlives the deadline");
    let answer = tokio::time::timeout(
        Duration::from_secs(2),
        db.fetch_texts(&sql("SELECT 1", vec![])),
    )
    .await
    .expect("the connection is free again")
    .expect("statement runs");
    assert_eq!(answer, vec![Some("1".into())]);
}

/// The same inside a write transaction: interrupted, rolled back, the write turn handed on.
#[tokio::test]
async fn a_transaction_dropped_mid_statement_is_interrupted_and_rolled_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = with(
        &dir,
        DatabaseConfig {
            pool_max: 1,
            statement_timeout_ms: Some(0),
            ..DatabaseConfig::default()
        },
    );
    let mut tx = db.begin().await.expect("begin");
    tx.execute(&sql(
        "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY)",
        vec![],
    ))
    .await
    .expect("create");
    tx.execute(&sql("INSERT INTO t VALUES (1)", vec![]))
        .await
        .expect("insert");
    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        tx.fetch_rows(&sql(SLOW, vec![])),
    )
    .await;
    assert!(gave_up.is_err(), "the statement outlives the deadline");
    drop(tx);
    let next = tokio::time::timeout(Duration::from_secs(2), async {
        let mut tx = db.begin().await.expect("begin");
        tx.execute(&sql(
            "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY)",
            vec![],
        ))
        .await
        .expect("create");
        let rows = tx
            .fetch_rows(&sql("SELECT count(*) FROM t", vec![]))
            .await
            .expect("count");
        tx.commit().await.expect("commit");
        rows
    })
    .await
    .expect("the connection and the write turn are free again");
    assert_eq!(
        next,
        vec![vec![Some("0".into())]],
        "the insert was rolled back"
    );
}

/// `statement_timeout_ms` interrupts a statement and reports `Timeout`; the connection is
/// usable right after. A server's default is its request deadline.
#[tokio::test]
async fn statement_timeout_interrupts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = with(
        &dir,
        DatabaseConfig {
            pool_max: 1,
            statement_timeout_ms: Some(200),
            ..DatabaseConfig::default()
        },
    );
    let started = std::time::Instant::now();
    let err = db
        .fetch_texts(&sql(SLOW, vec![]))
        .await
        .expect_err("interrupted");
    assert_eq!(err.kind, DbErrorKind::Timeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        db.fetch_texts(&sql("SELECT 2", vec![]))
            .await
            .expect("runs"),
        vec![Some("2".into())]
    );

    let cfg = DatabaseConfig {
        kind: Some(fraiseql_engine::config::DatabaseKind::Sqlite),
        url: Some(format!("sqlite://{}", dir.path().join("test.db").display())),
        ..DatabaseConfig::default()
    };
    let serving = Database::serving("primary", &cfg, Duration::from_millis(200)).expect("pool");
    let err = serving
        .fetch_texts(&sql(SLOW, vec![]))
        .await
        .expect_err("interrupted at the request deadline");
    assert_eq!(err.kind, DbErrorKind::Timeout, "{err}");

    // A huge timeout is no timeout to speak of, not an overflow.
    let huge = DatabaseConfig {
        statement_timeout_ms: Some(u64::MAX),
        ..cfg
    };
    let db = Database::serving("primary", &huge, Duration::from_millis(200)).expect("pool");
    assert_eq!(
        db.fetch_texts(&sql("SELECT 3", vec![]))
            .await
            .expect("runs"),
        vec![Some("3".into())]
    );
}

/// Polls the pool's size until it is `want`, failing after `limit`.
async fn until_size(db: &Database, want: usize, limit: Duration) {
    let start = std::time::Instant::now();
    while db.pool_status().size != want {
        assert!(
            start.elapsed() < limit,
            "{} connections open after {limit:?}, expected {want}",
            db.pool_status().size
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `pool_min` connections are opened without any request; connections idle past
/// `idle_timeout_ms` are closed down to `pool_min`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_min_and_idle_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = with(
        &dir,
        DatabaseConfig {
            pool_min: 2,
            pool_max: 4,
            // Long enough that none of the four closes before the last one is done.
            idle_timeout_ms: 1500,
            ..DatabaseConfig::default()
        },
    );
    until_size(&db, 2, Duration::from_secs(5)).await;
    let count = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100000) \
                 SELECT count(*) FROM c";
    let q = sql(count, vec![]);
    let busy = futures::future::join_all((0..4).map(|_| db.fetch_texts(&q))).await;
    assert!(busy.iter().all(Result::is_ok), "{busy:?}");
    assert_eq!(db.pool_status().size, 4);
    until_size(&db, 2, Duration::from_secs(10)).await;
}

/// An in-memory database lives in its one connection: idleness never closes it.
#[tokio::test]
async fn memory_database_survives_idle_timeout() {
    let cfg = DatabaseConfig {
        kind: Some(fraiseql_engine::config::DatabaseKind::Sqlite),
        url: Some("sqlite::memory:".into()),
        pool_min: 0,
        idle_timeout_ms: 50,
        ..DatabaseConfig::default()
    };
    let db = Database::new("mem", &cfg).expect("pool");
    let mut tx = db.begin().await.expect("begin");
    tx.execute(&sql("CREATE TABLE kept (v text)", vec![]))
        .await
        .expect("create");
    tx.commit().await.expect("commit");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        db.fetch_texts(&sql("SELECT count(*) FROM kept", vec![]))
            .await
            .expect("the table is still there"),
        vec![Some("0".into())]
    );
}

/// `statement_cache_size` at its extremes: 0 (rusqlite keeps one) and the largest number
/// (no allocation up front).
#[tokio::test]
async fn statement_cache_size_extremes() {
    for size in [0, usize::MAX] {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = with(
            &dir,
            DatabaseConfig {
                statement_cache_size: size,
                ..DatabaseConfig::default()
            },
        );
        for shape in 0..3 {
            assert_eq!(
                db.fetch_texts(&sql(&format!("SELECT {shape}"), vec![]))
                    .await
                    .expect("runs"),
                vec![Some(shape.to_string())]
            );
        }
    }
}

/// A fresh file opened by many connections at once (requests racing the `pool_min`
/// warm-up): each connection's setup switches the file to WAL, which must not fail one of
/// them with "database is locked".
#[tokio::test]
async fn connections_opened_at_once_all_set_up() {
    for _ in 0..40 {
        let (db, _dir) = database("CREATE TABLE t (id INTEGER PRIMARY KEY);").await;
        let db = std::sync::Arc::new(db);
        let checkouts = (0..16).map(|_| {
            let db = db.clone();
            tokio::spawn(async move { db.fetch_texts(&sql("SELECT 1", vec![])).await })
        });
        for r in futures::future::join_all(checkouts).await {
            assert_eq!(r.expect("task").expect("set up"), vec![Some("1".into())]);
        }
    }
}

/// Config is resolved once, at load: opening a database reads its resolved kind and never
/// guesses it again from the URL (a config that skipped loading has none).
#[tokio::test]
async fn the_kind_comes_from_the_resolved_config_not_the_url() {
    let unresolved = DatabaseConfig {
        url: Some("sqlite::memory:".into()),
        ..DatabaseConfig::default()
    };
    let err = Database::new("primary", &unresolved).expect_err("no resolved kind");
    assert!(err.message.contains("no resolved type"), "{err}");
    let resolved = DatabaseConfig {
        kind: Some(fraiseql_engine::config::DatabaseKind::Sqlite),
        ..unresolved
    };
    assert_eq!(
        Database::new("primary", &resolved).expect("opens").kind,
        fraiseql_engine::config::DatabaseKind::Sqlite
    );
}
