//! One driver suite for every dialect: the same failures, provoked on each database, map to
//! the same portable [`DbErrorKind`], so callers never look at a driver's own codes. Each case
//! runs on PostgreSQL (a scratch schema on `FRAISEQL_TEST_PG_URL`), MySQL/MariaDB (a scratch
//! database on `FRAISEQL_TEST_MYSQL_URL`) and SQLite (a temporary file); a server that cannot
//! be reached fails the test.

use crate::db::{Database, DbError, DbErrorKind, MysqlScratch, PgScratch};
use fraiseql_engine::config::{DatabaseConfig, DatabaseKind};
use fraiseql_engine::sql::{Param, SqlQuery};

/// The dialects the suite runs on.
const DIALECTS: [DatabaseKind; 3] = [
    DatabaseKind::Postgresql,
    DatabaseKind::Mysql,
    DatabaseKind::Sqlite,
];

/// A table per constraint, and a trigger that raises the author's own error.
const PG_SETUP: &str = "
    CREATE TABLE parent (id int8 PRIMARY KEY, name text NOT NULL UNIQUE, qty int8 CHECK (qty >= 0));
    CREATE TABLE child (id int8 PRIMARY KEY, parent_id int8 REFERENCES parent(id));
    CREATE TABLE typed (n int8);
    CREATE TABLE guarded (id int8);
    CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'guests are not allowed'; END $$;
    CREATE TRIGGER guard BEFORE INSERT ON guarded FOR EACH ROW EXECUTE FUNCTION refuse();
    INSERT INTO parent VALUES (1, 'one', 1);";

const MYSQL_SETUP: &str = "
    CREATE TABLE parent (id BIGINT PRIMARY KEY, name VARCHAR(50) NOT NULL UNIQUE, qty BIGINT CHECK (qty >= 0));
    CREATE TABLE child (id BIGINT PRIMARY KEY, parent_id BIGINT, FOREIGN KEY (parent_id) REFERENCES parent(id));
    CREATE TABLE typed (n BIGINT);
    CREATE TABLE guarded (id BIGINT);
    CREATE TRIGGER guard BEFORE INSERT ON guarded FOR EACH ROW
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'guests are not allowed';
    INSERT INTO parent VALUES (1, 'one', 1);";

const SQLITE_SETUP: &str = "
    CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, qty INTEGER CHECK (qty >= 0));
    CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id));
    CREATE TABLE typed (n INTEGER) STRICT;
    CREATE TABLE guarded (id INTEGER);
    CREATE TRIGGER guard BEFORE INSERT ON guarded BEGIN
        SELECT RAISE(ABORT, 'guests are not allowed'); END;
    INSERT INTO parent VALUES (1, 'one', 1);";

/// A statement that never finishes on its own.
fn slow(kind: DatabaseKind) -> &'static str {
    match kind {
        DatabaseKind::Postgresql => "SELECT pg_sleep(30)::text",
        DatabaseKind::Mysql => "SELECT SLEEP(30)",
        DatabaseKind::Sqlite => {
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
        }
    }
}

/// One failure: a statement per dialect (placeholders `$1`/`?`/`?1`) and the kind it must map
/// to.
struct Case {
    name: &'static str,
    want: DbErrorKind,
    postgres: &'static str,
    mysql: &'static str,
    sqlite: &'static str,
    params: fn() -> Vec<Param>,
}

fn none() -> Vec<Param> {
    Vec::new()
}

fn abc() -> Vec<Param> {
    vec![Param::Text("abc".into())]
}

const CASES: &[Case] = &[
    Case {
        name: "unique",
        want: DbErrorKind::UniqueViolation,
        postgres: "INSERT INTO parent VALUES (2, 'one', 1)",
        mysql: "INSERT INTO parent VALUES (2, 'one', 1)",
        sqlite: "INSERT INTO parent VALUES (2, 'one', 1)",
        params: none,
    },
    Case {
        name: "primary key",
        want: DbErrorKind::UniqueViolation,
        postgres: "INSERT INTO parent VALUES (1, 'other', 1)",
        mysql: "INSERT INTO parent VALUES (1, 'other', 1)",
        sqlite: "INSERT INTO parent VALUES (1, 'other', 1)",
        params: none,
    },
    Case {
        name: "foreign key",
        want: DbErrorKind::ForeignKeyViolation,
        postgres: "INSERT INTO child VALUES (1, 99)",
        mysql: "INSERT INTO child VALUES (1, 99)",
        sqlite: "INSERT INTO child VALUES (1, 99)",
        params: none,
    },
    Case {
        name: "not null",
        want: DbErrorKind::NotNullViolation,
        postgres: "INSERT INTO parent VALUES (3, NULL, 1)",
        mysql: "INSERT INTO parent VALUES (3, NULL, 1)",
        sqlite: "INSERT INTO parent VALUES (3, NULL, 1)",
        params: none,
    },
    Case {
        name: "check",
        want: DbErrorKind::CheckViolation,
        postgres: "INSERT INTO parent VALUES (4, 'four', -1)",
        mysql: "INSERT INTO parent VALUES (4, 'four', -1)",
        sqlite: "INSERT INTO parent VALUES (4, 'four', -1)",
        params: none,
    },
    Case {
        name: "invalid input",
        want: DbErrorKind::InvalidInput,
        postgres: "INSERT INTO typed VALUES (($1::text)::int8)",
        mysql: "INSERT INTO typed VALUES (?)",
        sqlite: "INSERT INTO typed VALUES (?1)",
        params: abc,
    },
    Case {
        name: "raise",
        want: DbErrorKind::Raised,
        postgres: "INSERT INTO guarded VALUES (1)",
        mysql: "INSERT INTO guarded VALUES (1)",
        sqlite: "INSERT INTO guarded VALUES (1)",
        params: none,
    },
    Case {
        name: "syntax",
        want: DbErrorKind::Other,
        postgres: "SELEC 1",
        mysql: "SELEC 1",
        sqlite: "SELEC 1",
        params: none,
    },
];

/// The configuration of a database of `kind` set up for the cases; the guard keeps it alive
/// (drops the scratch schema or the temporary directory).
async fn setup(kind: DatabaseKind) -> (DatabaseConfig, Box<dyn std::any::Any>) {
    match kind {
        DatabaseKind::Postgresql => {
            let scratch = PgScratch::new(PG_SETUP).await;
            (scratch.config(), Box::new(scratch))
        }
        DatabaseKind::Mysql => {
            let scratch = MysqlScratch::new(MYSQL_SETUP).await;
            (scratch.config(), Box::new(scratch))
        }
        DatabaseKind::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("drivers.db");
            rusqlite::Connection::open(&path)
                .and_then(|c| c.execute_batch(SQLITE_SETUP))
                .expect("setup");
            let cfg = DatabaseConfig {
                kind: Some(DatabaseKind::Sqlite),
                url: Some(format!("sqlite://{}", path.display())),
                ..DatabaseConfig::default()
            };
            (cfg, Box::new(dir))
        }
    }
}

/// Runs `q` in its own transaction and returns its failure.
async fn fail(db: &Database, q: SqlQuery) -> DbError {
    let mut tx = db.begin().await.expect("begin");
    tx.fetch_rows(&q).await.expect_err("the statement fails")
}

#[tokio::test]
async fn every_dialect_maps_statement_failures_to_the_same_kind() {
    for kind in DIALECTS {
        let (cfg, _guard) = setup(kind).await;
        let db = Database::new("primary", &cfg).expect("pool");
        for case in CASES {
            let text = match kind {
                DatabaseKind::Postgresql => case.postgres,
                DatabaseKind::Mysql => case.mysql,
                DatabaseKind::Sqlite => case.sqlite,
            };
            let err = fail(
                &db,
                SqlQuery {
                    text: text.into(),
                    params: (case.params)(),
                },
            )
            .await;
            assert_eq!(err.kind, case.want, "{} on {kind:?}: {err}", case.name);
            // The driver's own code stays, for the log.
            assert!(err.code.is_some(), "{} on {kind:?}: {err}", case.name);
            if case.want == DbErrorKind::Raised {
                assert_eq!(err.message, "guests are not allowed", "{kind:?}");
            }
        }
    }
}

#[tokio::test]
async fn every_dialect_reports_a_statement_timeout_as_timeout() {
    for kind in DIALECTS {
        let (cfg, _guard) = setup(kind).await;
        let cfg = DatabaseConfig {
            statement_timeout_ms: Some(200),
            ..cfg
        };
        let db = Database::new("primary", &cfg).expect("pool");
        let started = std::time::Instant::now();
        let err = db
            .fetch_texts(&SqlQuery {
                text: slow(kind).into(),
                params: Vec::new(),
            })
            .await
            .expect_err("interrupted");
        assert_eq!(err.kind, DbErrorKind::Timeout, "{kind:?}: {err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
}

#[tokio::test]
async fn every_dialect_reports_an_unreachable_database_as_unavailable() {
    let dir = tempfile::tempdir().expect("temp dir");
    for kind in DIALECTS {
        let url = match kind {
            DatabaseKind::Postgresql => "postgresql://postgres@127.0.0.1:1/postgres".to_string(),
            DatabaseKind::Mysql => "mysql://root@127.0.0.1:1/mysql".to_string(),
            DatabaseKind::Sqlite => format!(
                "sqlite://{}",
                dir.path().join("no-such-dir").join("app.db").display()
            ),
        };
        let cfg = DatabaseConfig {
            kind: Some(kind),
            url: Some(url),
            connect_timeout_ms: 2000,
            ..DatabaseConfig::default()
        };
        let db = Database::new("down", &cfg).expect("a pool builds without connecting");
        let err = db
            .fetch_texts(&SqlQuery {
                text: "SELECT 1".into(),
                params: Vec::new(),
            })
            .await
            .expect_err("unreachable");
        assert_eq!(err.kind, DbErrorKind::Unavailable, "{kind:?}: {err}");
    }
}

/// Request settings as the context makes them.
fn who(pairs: &[(&str, &str)]) -> crate::db::Settings {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The value of `app.user_id` the statement sees (`''` when unset or cleared).
async fn seen(db: &Database, settings: &crate::db::Settings, kind: DatabaseKind) -> String {
    let q = SqlQuery {
        text: match kind {
            DatabaseKind::Mysql => "SELECT COALESCE(@`app.user_id`, '')".into(),
            _ => "SELECT COALESCE(current_setting('app.user_id', true), '')".into(),
        },
        params: Vec::new(),
    };
    let row = db.fetch_texts_as(&q, settings).await.expect("read");
    row[0].clone().unwrap_or_default()
}

#[tokio::test]
async fn every_dialect_runs_each_statement_with_exactly_its_settings() {
    for kind in DIALECTS {
        let (cfg, _guard) = setup(kind).await;
        // One connection: every statement below shares its session.
        let cfg = DatabaseConfig {
            pool_min: 1,
            pool_max: 1,
            ..cfg
        };
        let db = Database::new("primary", &cfg).expect("pool");
        let none = crate::db::settings::none();
        let alice = who(&[("app.user_id", "alice")]);
        assert_eq!(seen(&db, &alice, kind).await, "alice", "{kind:?}");
        assert_eq!(seen(&db, &alice, kind).await, "alice", "{kind:?}: kept");
        assert_eq!(
            seen(&db, &none, kind).await,
            "",
            "{kind:?}: the server's own"
        );
        // A transaction's settings are the connection's from its first statement, and a
        // rollback does not bring back the previous caller's.
        let bob = who(&[("app.user_id", "bob")]);
        assert_eq!(seen(&db, &alice, kind).await, "alice");
        let mut tx = db.begin_as(&bob).await.expect("begin");
        let q = SqlQuery {
            text: match kind {
                DatabaseKind::Mysql => "SELECT @`app.user_id`".into(),
                _ => "SELECT current_setting('app.user_id')".into(),
            },
            params: Vec::new(),
        };
        assert_eq!(
            tx.fetch_rows(&q).await.expect("read")[0][0].as_deref(),
            Some("bob")
        );
        drop(tx);
        assert_eq!(seen(&db, &bob, kind).await, "bob", "{kind:?}");
        let tx = db.begin().await.expect("begin");
        let q = SqlQuery {
            text: match kind {
                DatabaseKind::Mysql => "SELECT COALESCE(@`app.user_id`, '')".into(),
                _ => "SELECT COALESCE(current_setting('app.user_id', true), '')".into(),
            },
            params: Vec::new(),
        };
        let rows = tx.fetch_rows_and_commit(&q);
        assert_eq!(
            rows.await.expect("read")[0][0].as_deref(),
            Some(""),
            "{kind:?}: a server transaction"
        );
        // A value is data, whatever it holds.
        let hostile = who(&[("app.user_id", "x'); DROP TABLE parent; --")]);
        assert_eq!(
            seen(&db, &hostile, kind).await,
            "x'); DROP TABLE parent; --"
        );
        assert_eq!(seen(&db, &none, kind).await, "");
    }
}

#[tokio::test]
async fn a_postgresql_connection_whose_settings_failed_is_never_reused() {
    let (cfg, _guard) = setup(DatabaseKind::Postgresql).await;
    let cfg = DatabaseConfig { pool_max: 1, ..cfg };
    let db = Database::new("primary", &cfg).expect("pool");
    let pid = SqlQuery {
        text: "SELECT pg_backend_pid()::text, COALESCE(current_setting('app.user_id', true), '')"
            .into(),
        params: Vec::new(),
    };
    let alice = who(&[("app.user_id", "alice")]);
    let before = db.fetch_texts_as(&pid, &alice).await.expect("read");
    assert_eq!(before[1].as_deref(), Some("alice"));
    // A name PostgreSQL refuses: the prelude fails, the statement's rows are not used.
    let bad = who(&[("app.user_id", "bob"), ("no dot", "x")]);
    let err = db.fetch_texts_as(&pid, &bad).await.expect_err("refused");
    assert_eq!(err.kind, DbErrorKind::Other, "{err}");
    // The connection's settings are unknown now: the next checkout opens another one.
    let after = db
        .fetch_texts_as(&pid, &crate::db::settings::none())
        .await
        .expect("read");
    assert_ne!(after[0], before[0], "a fresh connection");
    assert_eq!(after[1].as_deref(), Some(""));
}
