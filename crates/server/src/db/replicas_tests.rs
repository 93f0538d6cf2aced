//! Read replicas against real servers: the primary and each replica are databases of their
//! own holding the same view, `v_src`, whose one row names the server (`primary`,
//! `replica-0`, …), so where a read went shows in its answer. PostgreSQL, MariaDB and SQLite
//! files; replicas refused at a closed port, replicas that do not exist yet, replicas
//! dropped while in use, and replicas that reject the statement.

use super::PROBE_EVERY;
use crate::db::mysql::tests::with_database;
use crate::db::mysql_test_url;
use crate::db::postgres_test_url;
use crate::db::{Database, DbErrorKind, MysqlScratch, PgScratch};
use fraiseql_engine::config::{DatabaseConfig, DatabaseKind};
use fraiseql_engine::sql::SqlQuery;
use mysql_async::prelude::Queryable;
use std::time::{Duration, Instant};

/// Nothing listens on port 1: connecting is refused at once.
const PG_CLOSED: &str = "postgresql://postgres@127.0.0.1:1/postgres";
const MYSQL_CLOSED: &str = "mysql://root@127.0.0.1:1/mysql";

/// The view every server holds, naming `source`.
fn pg_source(source: &str) -> String {
    format!("CREATE VIEW v_src AS SELECT '{source}'::text AS source;")
}

fn mysql_source(source: &str) -> String {
    format!("CREATE VIEW v_src AS SELECT '{source}' AS source;")
}

/// `primary` with `replicas`, every other key at its default but a short connect timeout.
fn config(kind: DatabaseKind, primary: &str, replicas: &[&str]) -> DatabaseConfig {
    DatabaseConfig {
        kind: Some(kind),
        url: Some(primary.to_string()),
        replicas: replicas.iter().map(|r| r.to_string()).collect(),
        connect_timeout_ms: 2000,
        ..DatabaseConfig::default()
    }
}

fn open(cfg: &DatabaseConfig) -> Database {
    Database::new("primary", cfg).expect("pools build without connecting")
}

/// Which server answered a read.
async fn source(db: &Database) -> String {
    let q = SqlQuery {
        text: "SELECT source FROM v_src".into(),
        params: Vec::new(),
    };
    match db.fetch_texts(&q).await {
        Ok(row) => row.into_iter().next().flatten().expect("one column"),
        Err(e) => panic!("the read failed: {e}"),
    }
}

/// Reads `n` times; the servers that answered, in order.
async fn sources(db: &Database, n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(source(db).await);
    }
    out
}

/// The same read inside a transaction (what a mutation's read-back does).
async fn source_in_transaction(db: &Database) -> String {
    let mut tx = db.begin().await.expect("begin");
    let q = SqlQuery {
        text: "SELECT source FROM v_src".into(),
        params: Vec::new(),
    };
    let rows = tx.fetch_rows(&q).await.expect("read in the transaction");
    tx.commit().await.expect("commit");
    rows.into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten())
        .expect("one row")
}

/// Reads until `want` answers, or fails after `limit`; how long it took.
async fn until_source(db: &Database, want: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let got = source(db).await;
        if got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "still `{got}` {limit:?} after `{want}` became reachable"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Turns alternate between two replicas that answer, and never reach the primary.
fn assert_alternate(seen: &[String]) {
    assert!(
        seen.iter().all(|s| s.starts_with("replica-")),
        "a read went to the primary: {seen:?}"
    );
    for pair in seen.windows(2) {
        assert_ne!(
            pair[0], pair[1],
            "the same replica twice in a row: {seen:?}"
        );
    }
}

async fn pg_admin(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} is required: {e}"));
    tokio::spawn(connection);
    client
}

/// A PostgreSQL database that does not exist until [`PgLater::create`]; dropped (if it
/// exists) with the value.
struct PgLater {
    name: String,
    url: String,
}

impl PgLater {
    fn new() -> Self {
        let name = format!("fraiseql_replica_{}", uuid::Uuid::new_v4().simple());
        let url = with_database(&postgres_test_url(), &name);
        Self { name, url }
    }

    async fn create(&self, source: &str) {
        pg_admin(&postgres_test_url())
            .await
            .batch_execute(&format!("CREATE DATABASE {}", self.name))
            .await
            .expect("create database");
        pg_admin(&self.url)
            .await
            .batch_execute(&pg_source(source))
            .await
            .expect("create view");
    }

    /// Drops it, ending the sessions connected to it.
    async fn drop_now(&self) {
        pg_admin(&postgres_test_url())
            .await
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await
            .expect("drop database");
    }
}

impl Drop for PgLater {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = pg_admin(&postgres_test_url())
                        .await
                        .batch_execute(&sql)
                        .await;
                });
            }
        })
        .join();
    }
}

async fn mysql_admin() -> mysql_async::Conn {
    let url = mysql_test_url();
    let opts = mysql_async::Opts::from_url(&url).expect("FRAISEQL_TEST_MYSQL_URL parses");
    mysql_async::Conn::new(opts)
        .await
        .unwrap_or_else(|e| panic!("MySQL/MariaDB at {url} is required: {e}"))
}

/// A MariaDB database that does not exist until [`MysqlLater::create`]; dropped (if it
/// exists) with the value.
struct MysqlLater {
    name: String,
    url: String,
}

impl MysqlLater {
    fn new() -> Self {
        let name = format!("fraiseql_replica_{}", uuid::Uuid::new_v4().simple());
        let url = with_database(&mysql_test_url(), &name);
        Self { name, url }
    }

    async fn create(&self, source: &str) {
        let mut admin = mysql_admin().await;
        admin
            .query_drop(format!(
                "CREATE DATABASE `{}` CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin",
                self.name
            ))
            .await
            .expect("create database");
        admin
            .query_drop(format!(
                "CREATE VIEW `{}`.v_src AS SELECT '{source}' AS source",
                self.name
            ))
            .await
            .expect("create view");
    }

    /// Ends every session whose database is this one (they keep its name once dropped).
    async fn kill_sessions(&self) {
        let mut admin = mysql_admin().await;
        let ids: Vec<u64> = admin
            .exec(
                "SELECT id FROM information_schema.processlist WHERE db = ?",
                (self.name.as_str(),),
            )
            .await
            .expect("sessions");
        for id in ids {
            // One may have ended meanwhile.
            let _ = admin.query_drop(format!("KILL CONNECTION {id}")).await;
        }
    }

    async fn drop_now(&self) {
        mysql_admin()
            .await
            .query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name))
            .await
            .expect("drop database");
    }
}

impl Drop for MysqlLater {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    let sql = format!("DROP DATABASE IF EXISTS `{name}`");
                    let _ = mysql_admin().await.query_drop(sql).await;
                });
            }
        })
        .join();
    }
}

#[tokio::test]
async fn postgres_reads_take_turns_on_the_replicas_and_transactions_use_the_primary() {
    let primary = PgScratch::new(&pg_source("primary")).await;
    let r0 = PgScratch::new(&pg_source("replica-0")).await;
    let r1 = PgScratch::new(&pg_source("replica-1")).await;
    let db = open(&config(
        DatabaseKind::Postgresql,
        &primary.url,
        &[&r0.url, &r1.url],
    ));
    let seen = sources(&db, 6).await;
    assert_alternate(&seen);
    // Reads of many rows (the dependent fetches of relations across databases) too.
    let both = SqlQuery {
        text: "SELECT source FROM v_src UNION ALL SELECT source FROM v_src".into(),
        params: Vec::new(),
    };
    let rows = db.fetch_all(&both).await.expect("rows");
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter().all(|r| r[0] == Some("replica-0".into())),
        "{rows:?}"
    );
    assert_eq!(source_in_transaction(&db).await, "primary");
    assert!(db.replicas().iter().all(|r| r.is_up()));
    // Everything `check`, `explain` and the catalog use is the primary's.
    db.ping().await.expect("the primary answers");
    let catalog = db.load_catalog().await.expect("catalog");
    assert!(catalog.relations.contains_key("v_src"));
}

#[tokio::test]
async fn postgres_unreachable_replicas_are_skipped_without_an_error() {
    let primary = PgScratch::new(&pg_source("primary")).await;
    let r1 = PgScratch::new(&pg_source("replica-1")).await;
    let db = open(&config(
        DatabaseKind::Postgresql,
        &primary.url,
        &[PG_CLOSED, &r1.url],
    ));
    // Whoever's turn it is, the answer comes from the replica that answers.
    assert_eq!(sources(&db, 4).await, ["replica-1"; 4]);
    let [closed, open] = db.replicas() else {
        panic!("two replicas")
    };
    assert!(!closed.is_up(), "the refused replica is marked down");
    assert!(open.is_up());

    // No replica answers: the primary does.
    let alone = open_alone(&primary.url).await;
    assert_eq!(sources(&alone, 3).await, ["primary"; 3]);
    assert!(!alone.replicas()[0].is_up());
}

/// A replica that accepts connections and never says a word (a hung host, a black hole):
/// the read waits `connect_timeout_ms` for it once, then the primary answers, and later
/// reads do not wait for it at all.
#[tokio::test]
async fn postgres_a_silent_replica_costs_one_connect_timeout() {
    let primary = PgScratch::new(&pg_source("primary")).await;
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let cfg = DatabaseConfig {
        connect_timeout_ms: 300,
        pool_min: 0,
        ..config(
            DatabaseKind::Postgresql,
            &primary.url,
            &[&format!("postgresql://postgres@127.0.0.1:{port}/postgres")],
        )
    };
    let db = open(&cfg);
    let start = Instant::now();
    assert_eq!(source(&db).await, "primary");
    let first = start.elapsed();
    assert!(
        first >= Duration::from_millis(300) && first < Duration::from_secs(3),
        "{first:?}"
    );
    assert!(!db.replicas()[0].is_up());
    let start = Instant::now();
    assert_eq!(sources(&db, 3).await, ["primary"; 3]);
    assert!(
        start.elapsed() < Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    hold.abort();
}

async fn open_alone(primary: &str) -> Database {
    open(&config(
        DatabaseKind::Postgresql,
        primary,
        &[PG_CLOSED, "postgresql://postgres@127.0.0.1:1/other"],
    ))
}

#[tokio::test]
async fn postgres_replica_comes_back_when_it_answers_and_leaves_when_dropped() {
    let primary = PgScratch::new(&pg_source("primary")).await;
    let later = PgLater::new();
    let db = open(&config(
        DatabaseKind::Postgresql,
        &primary.url,
        &[&later.url],
    ));
    // The database does not exist yet ("database … does not exist" at connect).
    assert_eq!(source(&db).await, "primary");
    assert!(!db.replicas()[0].is_up());

    later.create("replica-0").await;
    let took = until_source(&db, "replica-0", PROBE_EVERY * 10).await;
    assert!(db.replicas()[0].is_up(), "back after {took:?}");
    assert_eq!(sources(&db, 3).await, ["replica-0"; 3]);

    // Dropped while its pool holds connections: the next reads go to the primary, no error.
    later.drop_now().await;
    assert_eq!(sources(&db, 3).await, ["primary"; 3]);
    assert!(!db.replicas()[0].is_up());

    // And back again, in the same process.
    later.create("replica-0").await;
    until_source(&db, "replica-0", PROBE_EVERY * 10).await;
}

#[tokio::test]
async fn postgres_rejections_and_timeouts_are_not_failed_over() {
    let primary = PgScratch::new(&pg_source("primary")).await;
    // The view is missing there: the statement is rejected, which another server would not
    // change for a copy of the same database.
    let empty = PgScratch::new("").await;
    let db = open(&config(
        DatabaseKind::Postgresql,
        &primary.url,
        &[&empty.url],
    ));
    let q = SqlQuery {
        text: "SELECT source FROM v_src".into(),
        params: Vec::new(),
    };
    let e = db
        .fetch_texts(&q)
        .await
        .expect_err("rejected by the replica");
    assert_eq!(e.kind, DbErrorKind::Other, "{e}");
    assert!(
        db.replicas()[0].is_up(),
        "a rejection does not mark it down"
    );

    // A replica too slow for the statement timeout: the time is used up, no second try.
    let slow = PgScratch::new(
        "CREATE VIEW v_src AS SELECT 'replica-slow'::text AS source FROM pg_sleep(2);",
    )
    .await;
    let cfg = DatabaseConfig {
        statement_timeout_ms: Some(200),
        ..config(DatabaseKind::Postgresql, &primary.url, &[&slow.url])
    };
    let db = open(&cfg);
    let e = db.fetch_texts(&q).await.expect_err("timed out");
    assert_eq!(e.kind, DbErrorKind::Timeout, "{e}");
    assert!(db.replicas()[0].is_up());
}

#[tokio::test]
async fn mysql_reads_take_turns_on_the_replicas_and_transactions_use_the_primary() {
    let primary = MysqlScratch::new(&mysql_source("primary")).await;
    let r0 = MysqlScratch::new(&mysql_source("replica-0")).await;
    let r1 = MysqlScratch::new(&mysql_source("replica-1")).await;
    let db = open(&config(
        DatabaseKind::Mysql,
        &primary.url,
        &[&r0.url, &r1.url],
    ));
    assert_alternate(&sources(&db, 6).await);
    assert_eq!(source_in_transaction(&db).await, "primary");

    // A replica refused at its port is skipped; with none answering the primary reads.
    let db = open(&config(
        DatabaseKind::Mysql,
        &primary.url,
        &[MYSQL_CLOSED, &r1.url],
    ));
    assert_eq!(sources(&db, 4).await, ["replica-1"; 4]);
    let db = open(&config(DatabaseKind::Mysql, &primary.url, &[MYSQL_CLOSED]));
    assert_eq!(sources(&db, 2).await, ["primary"; 2]);
}

#[tokio::test]
async fn mysql_replica_comes_back_when_it_answers_and_leaves_when_dropped() {
    let primary = MysqlScratch::new(&mysql_source("primary")).await;
    let later = MysqlLater::new();
    let db = open(&config(DatabaseKind::Mysql, &primary.url, &[&later.url]));
    // "Unknown database" at connect.
    assert_eq!(source(&db).await, "primary");
    assert!(!db.replicas()[0].is_up());

    later.create("replica-0").await;
    until_source(&db, "replica-0", PROBE_EVERY * 10).await;
    assert_eq!(sources(&db, 3).await, ["replica-0"; 3]);

    // Dropped: MariaDB keeps the sessions, but the view is gone, a rejection like any
    // other, so that read is not failed over.
    later.drop_now().await;
    let e = db
        .fetch_texts(&SqlQuery {
            text: "SELECT source FROM v_src".into(),
            params: Vec::new(),
        })
        .await
        .expect_err("the view is gone");
    assert_ne!(e.kind, DbErrorKind::Unavailable, "{e}");
    assert!(db.replicas()[0].is_up());
    // Its sessions are killed (the server went away): the reads go to the primary.
    later.kill_sessions().await;
    assert_eq!(sources(&db, 3).await, ["primary"; 3]);
    assert!(!db.replicas()[0].is_up());
    // And back again, in the same process.
    later.create("replica-0").await;
    until_source(&db, "replica-0", PROBE_EVERY * 10).await;
}

#[tokio::test]
async fn sqlite_file_replicas_take_turns() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = |name: &str, source: &str| {
        let path = dir.path().join(format!("{name}.db"));
        rusqlite::Connection::open(&path)
            .and_then(|c| {
                c.execute_batch(&format!(
                    "CREATE VIEW v_src AS SELECT '{source}' AS source;"
                ))
            })
            .expect("setup");
        format!("sqlite://{}", path.display())
    };
    let primary = file("primary", "primary");
    let r0 = file("r0", "replica-0");
    let r1 = file("r1", "replica-1");
    let db = open(&config(DatabaseKind::Sqlite, &primary, &[&r0, &r1]));
    assert_alternate(&sources(&db, 4).await);
    assert_eq!(source_in_transaction(&db).await, "primary");
    // A replica file in a directory that does not exist cannot be opened: skipped.
    let missing = format!("sqlite://{}", dir.path().join("no/such/dir.db").display());
    let db = open(&config(DatabaseKind::Sqlite, &primary, &[&missing]));
    assert_eq!(sources(&db, 2).await, ["primary"; 2]);
}

/// A replica file is someone else's copy: a missing one is not created (it is skipped until
/// it appears), a WAL one is read as it is, and its connections cannot write.
#[tokio::test]
async fn sqlite_replica_files_are_opened_read_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    // `%` and `#` in the path: the read-only URI escapes them (a `?` ends the path of any
    // SQLite url here).
    let path = |name: &str| dir.path().join(format!("{name} 50%#.db"));
    let url = |name: &str| format!("sqlite://{}", path(name).display());
    let make = |name: &str, source: &str, journal: &str| {
        rusqlite::Connection::open(path(name))
            .and_then(|c| {
                c.execute_batch(&format!(
                    "PRAGMA journal_mode = {journal};
                     CREATE TABLE tb (v TEXT); INSERT INTO tb VALUES ('{source}');
                     CREATE VIEW v_src AS SELECT v AS source FROM tb;"
                ))
            })
            .expect("setup");
    };
    make("primary", "primary", "DELETE");
    let db = open(&config(
        DatabaseKind::Sqlite,
        &url("primary"),
        &[&url("copy")],
    ));
    assert_eq!(source(&db).await, "primary");
    assert!(!path("copy").exists(), "the replica's file was created");
    assert!(!db.replicas()[0].is_up());

    make("copy", "replica-0", "WAL");
    until_source(&db, "replica-0", PROBE_EVERY * 10).await;
    let journal = |name: &str| -> String {
        rusqlite::Connection::open(path(name))
            .and_then(|c| c.query_row("PRAGMA journal_mode", [], |r| r.get(0)))
            .expect("journal mode")
    };
    assert_eq!(journal("copy"), "wal");
    let insert = SqlQuery {
        text: "INSERT INTO tb VALUES ('x') RETURNING v".into(),
        params: Vec::new(),
    };
    let e = db.replicas()[0]
        .target
        .fetch_texts(&insert)
        .await
        .expect_err("a replica connection cannot write");
    assert_ne!(e.kind, DbErrorKind::Unavailable, "{e}");

    // The primary's own file is still switched to WAL, as before.
    db.ping().await.expect("primary");
    assert_eq!(journal("primary"), "wal");
}

#[test]
fn in_memory_sqlite_has_no_replicas() {
    for (primary, replica) in [
        ("sqlite::memory:", "sqlite://./r.db"),
        ("sqlite://./p.db", "sqlite::memory:"),
    ] {
        let cfg = config(DatabaseKind::Sqlite, primary, &[replica]);
        let e = Database::new("primary", &cfg).expect_err("refused");
        assert!(e.message.contains("in-memory"), "{e}");
    }
}

#[test]
fn a_malformed_replica_url_is_an_error_naming_the_replica() {
    let cfg = config(
        DatabaseKind::Postgresql,
        "postgresql://postgres@127.0.0.1/postgres",
        &[
            "postgresql://postgres@127.0.0.1/postgres",
            "postgresql://u:secret@h:notaport/db",
        ],
    );
    let e = Database::new("primary", &cfg).expect_err("refused");
    assert!(
        e.message.starts_with("replica 1: invalid PostgreSQL url"),
        "{e}"
    );
    assert!(!e.message.contains("secret"), "{e}");
    let cfg = config(
        DatabaseKind::Postgresql,
        "postgresql://postgres@127.0.0.1/postgres",
        &["postgresql://h/db?sslmode=sometimes"],
    );
    let e = Database::new("primary", &cfg).expect_err("refused");
    assert!(e.message.contains("replica 0: unknown sslmode"), "{e}");
}
