//! The outbox against real PostgreSQL, MariaDB and SQLite: one scenario run on each
//! (install, capture, rollback, conditions, old and new rows, payload views written later in
//! the transaction, pending order, marks, purge, leases, handlers once per event id), and
//! the hostile rules install refuses. Each test has a database of its own.

use super::outbox::{self, Handled, Lease};
use crate::db::{Database, DbError};
use fraiseql_engine::config::{parse, DatabaseKind, ObserversConfig};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A database of the test's own, dropped at the end.
struct Scratch {
    db: Arc<Database>,
    drop: Option<Box<dyn FnOnce() + Send>>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(f) = self.drop.take() {
            let _ = std::thread::spawn(f).join();
        }
    }
}

async fn scratch(kind: DatabaseKind) -> Scratch {
    let name = format!("fraiseql_t_{}", uuid::Uuid::new_v4().simple());
    let (url, drop, dir): (String, Box<dyn FnOnce() + Send>, _) = match kind {
        DatabaseKind::Postgresql => {
            let admin = crate::db::postgres_test_url();
            let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
                .await
                .expect("PostgreSQL must be reachable");
            tokio::spawn(conn);
            client
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            let url = crate::db::with_database(&admin, &name);
            let drop_name = name.clone();
            let drop = Box::new(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok((c, conn)) =
                        tokio_postgres::connect(&admin, tokio_postgres::NoTls).await
                    {
                        tokio::spawn(conn);
                        let q = format!("DROP DATABASE IF EXISTS {drop_name} WITH (FORCE)");
                        let _ = c.batch_execute(&q).await;
                    }
                });
            });
            (url, drop, None)
        }
        DatabaseKind::Mysql => {
            let mysql = crate::db::MysqlScratch::new("").await;
            let url = mysql.url.clone();
            (url, Box::new(move || drop(mysql)), None)
        }
        DatabaseKind::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("app.db").display());
            (url, Box::new(|| {}), Some(dir))
        }
    };
    let cfg = fraiseql_engine::config::DatabaseConfig {
        kind: Some(kind),
        url: Some(url),
        ..Default::default()
    };
    Scratch {
        db: Arc::new(Database::new("primary", &cfg).expect("pool")),
        drop: Some(drop),
        _dir: dir,
    }
}

/// Runs plain SQL in one transaction (committed).
async fn run(db: &Database, sql: &[&str]) {
    let mut tx = db.begin().await.unwrap();
    for s in sql {
        tx.script(s).await.unwrap_or_else(|e| panic!("{s}: {e:?}"));
    }
    tx.commit().await.unwrap();
}

/// The tables, the payload view and the handlers of the scenario, per dialect.
fn schema(kind: DatabaseKind) -> Vec<&'static str> {
    match kind {
        DatabaseKind::Postgresql => vec![
            "CREATE TABLE tb_order (id text PRIMARY KEY, status text NOT NULL)",
            "CREATE TABLE tb_item (order_id text NOT NULL, sku text NOT NULL)",
            "CREATE VIEW v_order_event AS SELECT o.id, jsonb_build_object('order_id', o.id, \
             'items', (SELECT count(*) FROM tb_item i WHERE i.order_id = o.id)) AS data FROM tb_order o",
            "CREATE TABLE tb_seen (event text, headers text)",
            "CREATE FUNCTION fn_seen(p_event jsonb, p_headers jsonb) RETURNS void LANGUAGE sql AS \
             $$ INSERT INTO tb_seen VALUES (p_event->>'text', p_headers->>'ce-id') $$",
            "CREATE FUNCTION fn_bad(p_event jsonb) RETURNS void LANGUAGE plpgsql AS \
             $$ BEGIN INSERT INTO tb_seen VALUES ('bad', NULL); RAISE EXCEPTION 'no'; END $$",
        ],
        DatabaseKind::Mysql => vec![
            "CREATE TABLE tb_order (id VARCHAR(20) PRIMARY KEY, status VARCHAR(20) NOT NULL)",
            "CREATE TABLE tb_item (order_id VARCHAR(20) NOT NULL, sku VARCHAR(20) NOT NULL)",
            "CREATE VIEW v_order_event AS SELECT o.id, JSON_OBJECT('order_id', o.id, \
             'items', (SELECT COUNT(*) FROM tb_item i WHERE i.order_id = o.id)) AS data FROM tb_order o",
            "CREATE TABLE tb_seen (event TEXT, headers TEXT)",
            "CREATE PROCEDURE fn_seen(p_event LONGTEXT, p_headers LONGTEXT) \
             INSERT INTO tb_seen VALUES (JSON_VALUE(p_event, '$.text'), JSON_VALUE(p_headers, '$.\"ce-id\"'))",
            "CREATE PROCEDURE fn_bad(p_event LONGTEXT) BEGIN INSERT INTO tb_seen VALUES ('bad', NULL); \
             SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'no'; END",
        ],
        DatabaseKind::Sqlite => vec![
            "CREATE TABLE tb_order (id TEXT PRIMARY KEY, status TEXT NOT NULL)",
            "CREATE TABLE tb_item (order_id TEXT NOT NULL, sku TEXT NOT NULL)",
            "CREATE VIEW v_order_event AS SELECT o.id, json_object('order_id', o.id, \
             'items', (SELECT count(*) FROM tb_item i WHERE i.order_id = o.id)) AS data FROM tb_order o",
            "CREATE TABLE tb_seen (event TEXT, headers TEXT)",
            "CREATE VIEW fn_seen AS SELECT NULL AS event, NULL AS headers WHERE 0",
            "CREATE TRIGGER fn_seen_call INSTEAD OF INSERT ON fn_seen BEGIN \
             INSERT INTO tb_seen VALUES (json_extract(NEW.event, '$.text'), json_extract(NEW.headers, '$.\"ce-id\"')); END",
            "CREATE VIEW fn_bad AS SELECT NULL AS event WHERE 0",
            "CREATE TRIGGER fn_bad_call INSTEAD OF INSERT ON fn_bad BEGIN \
             INSERT INTO tb_seen VALUES ('bad', NULL); SELECT RAISE(ABORT, 'no'); END",
        ],
    }
}

fn observers(rules: &str) -> ObserversConfig {
    let text =
        format!("[database]\nurl = 'sqlite::memory:'\n[observers]\nbackend = 'memory'\n{rules}");
    parse(&text, "fraiseql.toml", &|_| None)
        .unwrap_or_else(|e| panic!("{e}"))
        .observers
}

const RULES: &str = r#"
[[observers.rules]]
table = "tb_order"
event = "INSERT"
subject = "orders.{op}.{status}"
payload_view = "v_order_event"

[[observers.rules]]
table = "tb_order"
event = "UPDATE"
subject = "orders.updated"
condition = "status <> 'draft'"
include_old = true

[[observers.rules]]
table = "tb_order"
event = "DELETE"
subject = "orders.deleted"
"#;

async fn pending(db: &Database) -> Vec<outbox::OutboxRow> {
    outbox::pending(db, 100).await.unwrap()
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

async fn scenario(kind: DatabaseKind) {
    let s = scratch(kind).await;
    let db = &s.db;
    run(db, &schema(kind)).await;
    let o = observers(RULES);
    outbox::install(db, &o).await.unwrap();
    outbox::install(db, &o)
        .await
        .expect("install is idempotent");
    assert!(pending(db).await.is_empty());

    // The order, then its items, in one transaction: the body counts the items.
    run(
        db,
        &[
            "INSERT INTO tb_order (id, status) VALUES ('o1', 'new')",
            "INSERT INTO tb_item (order_id, sku) VALUES ('o1', 'a'), ('o1', 'b')",
        ],
    )
    .await;
    // Rolled back: nothing.
    let mut tx = db.begin().await.unwrap();
    tx.script("INSERT INTO tb_order (id, status) VALUES ('o2', 'new')")
        .await
        .unwrap();
    drop(tx);
    // The condition refuses the draft; the next update is captured with its old row.
    run(
        db,
        &["UPDATE tb_order SET status = 'draft' WHERE id = 'o1'"],
    )
    .await;
    run(db, &["UPDATE tb_order SET status = 'paid' WHERE id = 'o1'"]).await;
    run(db, &["DELETE FROM tb_order WHERE id = 'o1'"]).await;

    let rows = pending(db).await;
    let ops: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.op.as_str(), r.subject.as_str()))
        .collect();
    assert_eq!(
        ops,
        [
            ("INSERT", "orders.{op}.{status}"),
            ("UPDATE", "orders.updated"),
            ("DELETE", "orders.deleted")
        ],
        "{kind:?}"
    );
    assert!(rows.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(rows[0].source.as_deref(), Some("tb_order"));
    assert_eq!(json_of(&rows[0].row)["status"], "new", "{kind:?}");
    // PostgreSQL reads the view at commit; the others when the relay publishes, after the
    // order was deleted: then the row itself is the body.
    let first = json_of(&rows[0].body);
    if kind == DatabaseKind::Postgresql {
        assert_eq!(first, json!({"order_id": "o1", "items": 2}));
    } else {
        assert_eq!(first["status"], "new", "{kind:?}: {first}");
    }
    let update = json_of(&rows[1].body);
    assert_eq!(update["old"]["status"], "draft", "{kind:?}: {update}");
    assert_eq!(update["new"]["status"], "paid", "{kind:?}: {update}");
    assert_eq!(
        json_of(&rows[2].body)["status"],
        "paid",
        "the old row of a DELETE"
    );
    assert!(uuid::Uuid::parse_str(&rows[0].id).is_ok(), "{}", rows[0].id);
    assert!(
        time::OffsetDateTime::parse(
            &rows[0].time,
            &time::format_description::well_known::Rfc3339
        )
        .is_ok(),
        "{kind:?}: {}",
        rows[0].time
    );

    // A payload view read at publication, where the dialect does that.
    run(
        db,
        &[
            "INSERT INTO tb_order (id, status) VALUES ('o3', 'new')",
            "INSERT INTO tb_item (order_id, sku) VALUES ('o3', 'c')",
        ],
    )
    .await;
    let rows = pending(db).await;
    assert_eq!(
        json_of(&rows[3].body),
        json!({"order_id": "o3", "items": 1}),
        "{kind:?}"
    );

    // Marks, limits, depth, purge.
    assert_eq!(outbox::pending(db, 2).await.unwrap().len(), 2);
    outbox::mark_published(db, &[rows[0].seq, rows[1].seq])
        .await
        .unwrap();
    outbox::mark_failed(db, rows[2].seq, "no stream takes it")
        .await
        .unwrap();
    let left = pending(db).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].seq, rows[3].seq);
    let (depth, age) = outbox::depth(db).await.unwrap();
    assert_eq!(depth, 1);
    assert!(age.is_some_and(|a| a >= 0.0), "{age:?}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        outbox::purge(db, Duration::from_secs(3600)).await.unwrap(),
        0
    );
    assert_eq!(outbox::purge(db, Duration::ZERO).await.unwrap(), 2);

    // One lease per database.
    let a = Lease::try_acquire(db)
        .await
        .unwrap()
        .expect("the first takes the lease");
    assert!(
        Lease::try_acquire(db).await.unwrap().is_none(),
        "{kind:?}: a second waits"
    );
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut b = loop {
        if let Some(b) = Lease::try_acquire(db).await.unwrap() {
            break b;
        }
        assert!(
            Instant::now() < deadline,
            "{kind:?}: the lease was not let go"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    b.wait(Duration::from_millis(10)).await.unwrap();

    // Handlers: once per event id, with the headers; a failure leaves no trace.
    let odd = "it's \"odd\" \\ é 😀";
    let body = json!({"text": odd}).to_string();
    let headers = json!({"ce-id": "e1", "subject": "x"}).to_string();
    let once = Some(("consumer", "e1"));
    let handled = outbox::handle(
        db,
        "fn_seen",
        once,
        &body,
        &headers,
        &crate::db::settings::none(),
    )
    .await
    .unwrap();
    assert_eq!(handled, Handled::Done);
    let again = outbox::handle(
        db,
        "fn_seen",
        once,
        &body,
        &headers,
        &crate::db::settings::none(),
    )
    .await
    .unwrap();
    assert_eq!(again, Handled::Duplicate);
    let other = outbox::handle(
        db,
        "fn_seen",
        Some(("other", "e1")),
        &body,
        &headers,
        &crate::db::settings::none(),
    )
    .await;
    assert_eq!(
        other.unwrap(),
        Handled::Done,
        "another consumer handles it too"
    );
    let seen = db
        .fetch_all(&fraiseql_engine::sql::SqlQuery {
            text: "SELECT event, headers FROM tb_seen".into(),
            params: vec![],
        })
        .await
        .unwrap();
    assert_eq!(
        seen,
        vec![vec![Some(odd.to_owned()), Some("e1".to_owned())]; 2],
        "{kind:?}"
    );
    // Inbox records end with the retention: the same id is then new again.
    tokio::time::sleep(Duration::from_millis(20)).await;
    outbox::purge(db, Duration::ZERO).await.unwrap();
    let after = outbox::handle(
        db,
        "fn_seen",
        once,
        &body,
        &headers,
        &crate::db::settings::none(),
    )
    .await
    .unwrap();
    assert_eq!(after, Handled::Done, "{kind:?}: the purged inbox forgot e1");
    for _ in 0..2 {
        let failed = outbox::handle(
            db,
            "fn_bad",
            Some(("c", "b1")),
            "{}",
            "{}",
            &crate::db::settings::none(),
        )
        .await;
        assert!(
            failed.is_err(),
            "{kind:?}: a raising handler fails, every time"
        );
    }
    let missing: Result<Handled, DbError> = outbox::handle(
        db,
        "fn_nope",
        Some(("c", "m1")),
        "{}",
        "{}",
        &crate::db::settings::none(),
    )
    .await;
    assert!(missing.unwrap_err().message.contains("does not exist"));
    outbox::dead_letter(db, "c", "s", "b1", "{}", &headers, "no", 5)
        .await
        .unwrap();

    // Publishing from SQL, as docs/events.md shows it.
    let emit = match kind {
        DatabaseKind::Postgresql => "SELECT fraiseql.emit('billing.sent', '{\"n\": 1}'::jsonb)",
        DatabaseKind::Mysql => {
            "INSERT INTO fraiseql_outbox (id, subject, op, row_data, body, created_at) \
             VALUES (UUID(), 'billing.sent', 'EMIT', '{\"n\": 1}', '{\"n\": 1}', UTC_TIMESTAMP(6))"
        }
        DatabaseKind::Sqlite => {
            "INSERT INTO fraiseql_outbox (id, subject, op, row_data, body, created_at) \
             VALUES (lower(hex(randomblob(16))), 'billing.sent', 'EMIT', '{\"n\": 1}', \
             '{\"n\": 1}', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
        }
    };
    run(db, &[emit]).await;
    let rows = pending(db).await;
    let last = rows.last().unwrap();
    assert_eq!(
        (last.op.as_str(), last.subject.as_str()),
        ("EMIT", "billing.sent")
    );
    assert_eq!(json_of(&last.body), json!({"n": 1}), "{kind:?}");
}

#[tokio::test]
async fn capture_relay_statements_and_handlers_on_postgresql() {
    scenario(DatabaseKind::Postgresql).await;
}

#[tokio::test]
async fn capture_relay_statements_and_handlers_on_mariadb() {
    scenario(DatabaseKind::Mysql).await;
}

#[tokio::test]
async fn capture_relay_statements_and_handlers_on_sqlite() {
    scenario(DatabaseKind::Sqlite).await;
}

/// What install refuses, on every dialect, naming the rule.
#[tokio::test]
async fn install_refuses_rules_the_database_cannot_serve() {
    for kind in [
        DatabaseKind::Postgresql,
        DatabaseKind::Mysql,
        DatabaseKind::Sqlite,
    ] {
        let s = scratch(kind).await;
        run(&s.db, &schema(kind)).await;
        let cases = [
            ("table = \"tb_nope\"\nsubject = \"s\"", "has no table `tb_nope`"),
            ("table = \"tb_order\"\nsubject = \"s.{nope}\"", "`{nope}`, which is no column"),
            (
                "table = \"tb_order\"\nsubject = \"s\"\npayload_view = \"v_nope\"",
                "payload_view `v_nope` does not exist",
            ),
            (
                "table = \"tb_order\"\nsubject = \"s\"\npayload_view = \"v_order_event\"\npayload_key = \"status\"",
                "payload_key `status` must be a column of both",
            ),
            (
                "table = \"tb_order\"\nsubject = \"s\"\ncondition = \"nope = 1 OR status = 'x'\"",
                "condition `nope = 1 OR status = 'x'` is not valid SQL",
            ),
        ];
        for (rule, expected) in cases {
            let o = observers(&format!("[[observers.rules]]\n{rule}\n"));
            let err = outbox::install(&s.db, &o).await.unwrap_err().to_string();
            assert!(err.contains(expected), "{kind:?}: {err}");
            assert!(err.contains("[[observers.rules]] #1"), "{kind:?}: {err}");
        }
        // The table survived the hostile condition.
        run(
            &s.db,
            &["INSERT INTO tb_order (id, status) VALUES ('x', 'y')"],
        )
        .await;
    }
}

/// PostgreSQL wakes the relay at commit, and `fraiseql.emit` publishes from SQL.
#[tokio::test]
async fn postgresql_commits_wake_the_relay_and_emit_publishes() {
    let s = scratch(DatabaseKind::Postgresql).await;
    let db = &s.db;
    run(db, &schema(DatabaseKind::Postgresql)).await;
    outbox::install(db, &observers(RULES)).await.unwrap();
    let mut lease = Lease::try_acquire(db).await.unwrap().unwrap();
    let writer = db.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        run(
            &writer,
            &["SELECT fraiseql.emit('billing.sent', '{\"n\": 1}')"],
        )
        .await;
    });
    let started = Instant::now();
    lease.wait(Duration::from_secs(20)).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let rows = pending(db).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].op.as_str(), rows[0].subject.as_str()),
        ("EMIT", "billing.sent")
    );
    assert_eq!(json_of(&rows[0].body), json!({"n": 1}));
}

/// SQLite: a BLOB column is captured as hex instead of failing the write.
#[tokio::test]
async fn sqlite_blobs_are_captured_as_hex() {
    let s = scratch(DatabaseKind::Sqlite).await;
    run(
        &s.db,
        &["CREATE TABLE tb_file (id TEXT PRIMARY KEY, content BLOB)"],
    )
    .await;
    let o = observers("[[observers.rules]]\ntable = \"tb_file\"\nsubject = \"files\"\n");
    outbox::install(&s.db, &o).await.unwrap();
    run(&s.db, &["INSERT INTO tb_file VALUES ('f1', x'00ff10')"]).await;
    let rows = pending(&s.db).await;
    assert_eq!(
        json_of(&rows[0].row),
        json!({"id": "f1", "content": "00FF10"})
    );
}

/// MariaDB: a later writer of the same table waits for the first to commit, so `seq` is
/// commit order.
#[tokio::test]
async fn mariadb_writers_of_one_table_capture_in_commit_order() {
    let s = scratch(DatabaseKind::Mysql).await;
    let db = &s.db;
    run(db, &schema(DatabaseKind::Mysql)).await;
    outbox::install(db, &observers(RULES)).await.unwrap();
    let mut first = db.begin().await.unwrap();
    first
        .script("INSERT INTO tb_order (id, status) VALUES ('first', 'new')")
        .await
        .unwrap();
    let other = db.clone();
    let second = tokio::spawn(async move {
        run(
            &other,
            &["INSERT INTO tb_order (id, status) VALUES ('second', 'new')"],
        )
        .await;
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !second.is_finished(),
        "the second writer waits for the first"
    );
    first.commit().await.unwrap();
    second.await.unwrap();
    let ids: Vec<String> = pending(db)
        .await
        .iter()
        .map(|r| json_of(&r.row)["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["first", "second"]);
}

/// `ordering = "row"`: writers of different rows of a captured table do not wait for each
/// other (MariaDB and PostgreSQL), and their changes are still captured.
#[tokio::test]
async fn row_ordering_lets_writers_of_different_rows_commit_independently() {
    for kind in [DatabaseKind::Mysql, DatabaseKind::Postgresql] {
        let s = scratch(kind).await;
        let db = &s.db;
        run(db, &schema(kind)).await;
        let o = observers(&format!("ordering = \"row\"\n{RULES}"));
        outbox::install(db, &o).await.unwrap();
        let mut first = db.begin().await.unwrap();
        first
            .script("INSERT INTO tb_order (id, status) VALUES ('first', 'new')")
            .await
            .unwrap();
        // (PostgreSQL captures at commit, so there its writers never wait for an open
        // transaction; MariaDB captures at the write, where `table` would make it wait.)
        let other = db.clone();
        let second = tokio::spawn(async move {
            run(
                &other,
                &["INSERT INTO tb_order (id, status) VALUES ('second', 'new')"],
            )
            .await;
        });
        tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .unwrap_or_else(|_| panic!("{kind:?}: the second writer waited"))
            .unwrap();
        first.commit().await.unwrap();
        let mut ids: Vec<String> = pending(db)
            .await
            .iter()
            .map(|r| json_of(&r.row)["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        assert_eq!(ids, ["first", "second"], "{kind:?}");
    }
}
