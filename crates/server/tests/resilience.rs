//! Per-database resilience end to end, against real databases: `analytics` (PostgreSQL or
//! MariaDB) beside a SQLite `primary` that always answers.
//!
//! - A database that is down opens its circuit after `failure_threshold` requests; then it
//!   is refused at once (`SERVICE_UNAVAILABLE`, nothing sent: the statement counter stands
//!   still) while `primary` still answers in the same request; a request whose every root
//!   is refused is a 503 with `Retry-After`; mutations are refused too.
//! - After `recovery_timeout_secs` a probe goes through: a failed one reopens the circuit,
//!   and once the database is back `success_threshold` probes close it.
//! - A statement past its database's `[federation]` timeout is `TIMEOUT` for its fields
//!   only, is not retried, and is gone from the server afterwards.
//! - A read that fails with a passing error (a serialization failure raised by the view, a
//!   pooled connection killed on the server) is retried and answered; with `max_attempts =
//!   1` it is not; a mutation never is, and neither is a refused statement counted against
//!   the database.
//! - The breakers of Apollo Federation entities: `resilience/entities.rs`.

use fraiseql_engine::config::{Config, DatabaseBreakerConfig, DatabaseConfig, Millis};
use fraiseql_server::Running;
use mysql_async::prelude::Queryable;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

#[path = "resilience/entities.rs"]
mod entities;
mod support;

const SDL: &str = r#"
type Post @source(view: "v_post") { id: ID! title: String }
type Stat @source(view: "v_stat", database: "analytics") { id: ID! n: Int }
type Query { posts: [Post!]! stats: [Stat!]! }
type Mutation { addStat(n: Int!): Stat @function(name: "fn_add_stat") }
"#;

const BOTH: &str = "{ posts { title } stats { n } }";
const STATS: &str = "{ stats { n } }";

/// A SQLite `primary` with one post, `hello`.
fn primary(dir: &tempfile::TempDir) -> DatabaseConfig {
    let db = support::sqlite_in(dir);
    let path = dir.path().join("app.db");
    rusqlite::Connection::open(&path)
        .expect("open SQLite")
        .execute_batch(
            "CREATE TABLE tb_post (id TEXT PRIMARY KEY, title TEXT);
             INSERT INTO tb_post VALUES ('p1', 'hello');
             CREATE VIEW v_post AS SELECT id, json_object('id', id, 'title', title) AS data
             FROM tb_post;",
        )
        .expect("setup");
    db
}

/// `primary` and `analytics`, with the breaker of `analytics` as given.
fn config(
    dir: &tempfile::TempDir,
    analytics: DatabaseConfig,
    breaker: DatabaseBreakerConfig,
) -> Config {
    let mut config = support::with_primary(primary(dir));
    config.databases.insert("analytics".into(), analytics);
    config.federation.circuit_breaker.per_database.push(breaker);
    config
}

fn breaker(failures: u32, recovery_secs: u64, successes: u32) -> DatabaseBreakerConfig {
    DatabaseBreakerConfig {
        database: "analytics".into(),
        enabled: None,
        failure_threshold: Some(failures),
        recovery_timeout_secs: Some(recovery_secs),
        success_threshold: Some(successes),
    }
}

/// A PostgreSQL database of a test's own; `setup` runs in it. Its connections from the
/// server under test carry its name as `application_name`.
struct PgScratch {
    name: String,
}

impl PgScratch {
    async fn new(setup: &str) -> Self {
        let name = format!("fraiseql_resil_{}", uuid::Uuid::new_v4().simple());
        support::pg_admin()
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        let scratch = Self { name };
        scratch
            .client()
            .await
            .batch_execute(setup)
            .await
            .expect("setup");
        scratch
    }

    fn url(&self) -> String {
        let url = support::with_database(&support::pg_url(), &self.name);
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}application_name={}", self.name)
    }

    async fn client(&self) -> tokio_postgres::Client {
        let url = support::with_database(&support::pg_url(), &self.name);
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect to the scratch database");
        tokio::spawn(connection);
        client
    }

    /// The value of a sequence counting calls (0 before the first).
    async fn calls(&self, sequence: &str) -> i64 {
        self.client()
            .await
            .query_one(
                &format!("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {sequence}"),
                &[],
            )
            .await
            .expect("sequence")
            .get(0)
    }
}

impl Drop for PgScratch {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    let _ = support::pg_admin()
                        .await
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                });
            }
        })
        .join();
    }
}

/// `v_stat` with one row (n = 7), and `fn_add_stat` inserting one.
const PG_STATS: &str = "
CREATE TABLE tb_stat (id int PRIMARY KEY, n int);
INSERT INTO tb_stat VALUES (1, 7);
CREATE VIEW v_stat AS SELECT id, jsonb_build_object('id', id::text, 'n', n) AS data FROM tb_stat;
CREATE FUNCTION fn_add_stat(p_n int) RETURNS SETOF v_stat LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tb_stat VALUES (p_n, p_n);
    RETURN QUERY SELECT * FROM v_stat WHERE id = p_n;
END $$;
";

async fn post(running: &Running, query: &str) -> (StatusCode, Option<String>, Value) {
    post_body(running, json!({ "query": query })).await
}

/// Posts `body` (a GraphQL request): the status, the `Retry-After` header and the JSON answer.
async fn post_body(running: &Running, body: Value) -> (StatusCode, Option<String>, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", support::base(running)))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("ascii").to_string());
    (
        status,
        retry_after,
        response.json().await.expect("JSON body"),
    )
}

/// The value of the sample `name{labels}` in `/metrics` (0 when absent).
async fn metric(running: &Running, sample: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", support::base(running)))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// The circuit's state in the gauge, checked against what `/health` says of it.
async fn circuit(running: &Running, database: &str) -> f64 {
    let sample = format!("fraiseql_federation_circuit_breaker_state{{database=\"{database}\"}}");
    let gauge = metric(running, &sample).await;
    let health: Value = reqwest::get(format!("{}/health", support::base(running)))
        .await
        .expect("health")
        .json()
        .await
        .expect("health JSON");
    let label = ["closed", "open", "half_open"][gauge as usize];
    assert_eq!(health["databases"][database]["circuit"], label, "{health}");
    gauge
}

/// Statements sent to `database`, whatever their outcome.
async fn statements(running: &Running, database: &str) -> f64 {
    let sample = |outcome| {
        format!("fraiseql_database_queries_total{{database=\"{database}\",outcome=\"{outcome}\"}}")
    };
    metric(running, &sample("ok")).await + metric(running, &sample("error")).await
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

/// The error of `stats` when its circuit refused it.
fn refused() -> Value {
    json!({
        "message": "Database 'analytics' is temporarily unavailable (circuit open)",
        "path": ["stats"],
        "extensions": { "code": "SERVICE_UNAVAILABLE", "database": "analytics" },
    })
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let probe = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    probe.local_addr().expect("addr").port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_is_down_is_refused_at_once_once_its_circuit_opens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let down = support::database(format!(
        "postgresql://postgres@127.0.0.1:{}/analytics",
        closed_port().await
    ));
    let running = support::serve(config(&dir, down, breaker(3, 30, 1)), SDL).await;
    assert_eq!(circuit(&running, "analytics").await, 0.0);

    // Closed: each request tries the database (and retries once: refused is passing).
    for n in 1..=3 {
        assert_eq!(
            circuit(&running, "analytics").await,
            0.0,
            "before request {n}"
        );
        let (status, _, body) = post(&running, BOTH).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body["data"]["posts"],
            json!([{ "title": "hello" }]),
            "{body}"
        );
        assert_eq!(body["data"]["stats"], Value::Null, "{body}");
        assert_eq!(code(&body), "DATABASE_UNAVAILABLE", "{body}");
    }
    assert_eq!(
        statements(&running, "analytics").await,
        6.0,
        "3 requests, 2 attempts each"
    );
    assert_eq!(
        circuit(&running, "analytics").await,
        1.0,
        "open after 3 failures"
    );
    assert_eq!(circuit(&running, "primary").await, 0.0);

    // Open: refused without a statement, the other database still answers.
    let (status, retry_after, body) = post(&running, BOTH).await;
    assert_eq!((status, retry_after), (StatusCode::OK, None));
    assert_eq!(
        body,
        json!({ "data": { "posts": [{ "title": "hello" }], "stats": null }, "errors": [refused()] })
    );
    assert_eq!(
        statements(&running, "analytics").await,
        6.0,
        "nothing was sent"
    );

    // Every root refused: 503, and when to come back.
    let (status, retry_after, body) = post(&running, STATS).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let secs: u64 = retry_after.expect("Retry-After").parse().expect("seconds");
    assert!((1..=30).contains(&secs), "{secs}");
    assert_eq!(
        body,
        json!({ "data": { "stats": null }, "errors": [refused()] })
    );

    // A mutation is refused the same way.
    let (status, retry_after, body) = post(&running, "mutation { addStat(n: 2) { n } }").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(retry_after.is_some());
    assert_eq!(body["data"], json!({ "addStat": null }));
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "SERVICE_UNAVAILABLE"
    );
    assert_eq!(body["errors"][0]["extensions"]["database"], "analytics");
    assert_eq!(
        statements(&running, "analytics").await,
        6.0,
        "nothing was sent"
    );

    // `__typename` alone needs no database: never a 503.
    let (status, _, _) = post(&running, "{ __typename }").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        metric(
            &running,
            "fraiseql_database_queries_total{database=\"primary\",outcome=\"ok\"}"
        )
        .await,
        4.0
    );
    running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_circuit_probes_after_its_recovery_time_and_closes_when_the_database_is_back() {
    let scratch = PgScratch::new(PG_STATS).await;
    let mut gate = support::Gate::closed(support::server_addr(&support::pg_url(), 5432)).await;
    gate.open().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let analytics = DatabaseConfig {
        connect_timeout_ms: 2000,
        ..support::database(support::through(&scratch.url(), gate.port))
    };
    let mut config = config(&dir, analytics, breaker(2, 1, 2));
    config.federation.retry.max_attempts = 1;
    let running = support::serve(config, SDL).await;
    let answered = json!({ "data": { "posts": [{ "title": "hello" }], "stats": [{ "n": 7 }] } });
    assert_eq!(post(&running, BOTH).await.2, answered);

    // The database goes away: two failures open the circuit.
    gate.close().await;
    for _ in 0..2 {
        let (_, _, body) = post(&running, BOTH).await;
        assert_eq!(code(&body), "DATABASE_UNAVAILABLE", "{body}");
    }
    assert_eq!(circuit(&running, "analytics").await, 1.0);
    let (status, retry_after, _) = post(&running, STATS).await;
    assert_eq!(
        (status, retry_after.as_deref()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("1"))
    );

    // Still away after the recovery time: the probe goes through, fails, and reopens it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _, body) = post(&running, BOTH).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::OK, "DATABASE_UNAVAILABLE"),
        "{body}"
    );
    assert_eq!(circuit(&running, "analytics").await, 1.0);
    assert_eq!(post(&running, BOTH).await.2["errors"][0], refused());

    // Back: after the recovery time, two successful probes close it.
    gate.open().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(post(&running, BOTH).await.2, answered);
    assert_eq!(
        circuit(&running, "analytics").await,
        2.0,
        "half-open: one success of two"
    );
    let (status, _, body) = post(&running, "mutation { addStat(n: 3) { n } }").await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({ "data": { "addStat": { "n": 3 } } }))
    );
    assert_eq!(circuit(&running, "analytics").await, 0.0, "closed");
    let (_, _, body) = post(&running, STATS).await;
    assert_eq!(
        body,
        json!({ "data": { "stats": [{ "n": 7 }, { "n": 3 }] } })
    );
    gate.close().await;
    running.stop().await.expect("stops");
}

/// Waits until `running()` says 0, or fails after `limit`.
async fn until_none<F, Fut>(limit: Duration, mut running: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = i64>,
{
    let start = Instant::now();
    while running().await > 0 {
        assert!(
            start.elapsed() < limit,
            "the statement still runs after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `running()` says at least 1, or fails after `limit`.
async fn until_seen<F, Fut>(limit: Duration, mut running: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = i64>,
{
    let start = Instant::now();
    while running().await == 0 {
        assert!(
            start.elapsed() < limit,
            "the slow statement never showed as running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The request of the timeout tests and what it must get: `stats` timed out, `posts` read.
async fn times_out(running: &Running, seen: impl std::future::Future<Output = ()>) {
    let request = tokio::spawn({
        let base = support::base(running);
        async move { support::graphql(&reqwest::Client::new(), &base, json!({ "query": BOTH })).await }
    });
    seen.await;
    let (status, body) = request.await.expect("request task");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "data": { "posts": [{ "title": "hello" }], "stats": null },
            "errors": [{
                "message": "Database 'analytics' did not answer in time",
                "path": ["stats"],
                "extensions": { "code": "TIMEOUT", "database": "analytics" },
            }],
        })
    );
}

fn timeout_config(dir: &tempfile::TempDir, url: String) -> Config {
    let mut config = config(dir, support::database(url), breaker(5, 30, 1));
    // The request deadline (30 s) is far; the database's own is what ends the call.
    config
        .federation
        .database_timeouts
        .insert("analytics".into(), Millis(1500));
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_its_database_timeout_is_cancelled_on_postgres() {
    let scratch = PgScratch::new(
        "CREATE SEQUENCE calls;
         CREATE TABLE tb_stat (id int PRIMARY KEY, n int);
         INSERT INTO tb_stat VALUES (1, 7);
         CREATE FUNCTION slow(n int) RETURNS int LANGUAGE plpgsql VOLATILE AS
             $$ BEGIN PERFORM nextval('calls'); PERFORM pg_sleep(30); RETURN n; END $$;
         CREATE VIEW v_stat AS
             SELECT id, jsonb_build_object('id', id::text, 'n', slow(n)) AS data FROM tb_stat;",
    )
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let running = support::serve(timeout_config(&dir, scratch.url()), SDL).await;
    let name = scratch.name.clone();
    let active = move || {
        let name = name.clone();
        async move {
            support::pg_admin()
                .await
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
                     AND state = 'active' AND query LIKE '%v_stat%'",
                    &[&name],
                )
                .await
                .expect("pg_stat_activity")
                .get::<_, i64>(0)
        }
    };
    times_out(
        &running,
        until_seen(Duration::from_millis(1400), active.clone()),
    )
    .await;
    until_none(Duration::from_secs(3), active).await;
    assert_eq!(scratch.calls("calls").await, 1, "a timeout is not retried");
    running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_its_database_timeout_is_cancelled_on_mysql() {
    let scratch = support::MysqlScratch::new(
        "CREATE TABLE tb_stat (id INT PRIMARY KEY, n INT);
         INSERT INTO tb_stat VALUES (1, 7);
         CREATE VIEW v_stat AS
             SELECT id, JSON_OBJECT('id', CAST(id AS CHAR), 'n', n + SLEEP(30)) AS data
             FROM tb_stat;",
    )
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let running = support::serve(timeout_config(&dir, scratch.url.clone()), SDL).await;
    let name = scratch.name.clone();
    let active = move || {
        let name = name.clone();
        async move {
            support::mysql_connect(&support::mysql_url())
                .await
                .exec_first(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
                     WHERE DB = ? AND COMMAND <> 'Sleep' AND INFO LIKE '%v_stat%'",
                    (name.as_str(),),
                )
                .await
                .expect("processlist")
                .unwrap_or_default()
        }
    };
    times_out(
        &running,
        until_seen(Duration::from_millis(1400), active.clone()),
    )
    .await;
    until_none(Duration::from_secs(3), active).await;
    running.stop().await.expect("stops");
}

/// `v_stat` fails its first read with a serialization failure (SQLSTATE 40001) and answers
/// after; `fn_add_stat` always fails so. The sequences count the calls: `nextval` is not
/// rolled back with the failed transaction.
const PG_FLAKY: &str = "
CREATE SEQUENCE reads;
CREATE SEQUENCE writes;
CREATE TABLE tb_stat (id int PRIMARY KEY, n int);
INSERT INTO tb_stat VALUES (1, 7);
CREATE FUNCTION first_read_fails() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF nextval('reads') = 1 THEN
        RAISE EXCEPTION 'could not serialize access' USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN true;
END $$;
CREATE VIEW v_stat AS
    SELECT id, jsonb_build_object('id', id::text, 'n', n) AS data FROM tb_stat
    WHERE first_read_fails();
CREATE FUNCTION fn_add_stat(p_n int) RETURNS SETOF v_stat LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval('writes');
    RAISE EXCEPTION 'could not serialize access' USING ERRCODE = 'serialization_failure';
END $$;
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serialization_failure_is_retried_for_a_read_and_never_for_a_mutation() {
    let scratch = PgScratch::new(PG_FLAKY).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let analytics = support::database(scratch.url());
    let running = support::serve(config(&dir, analytics, breaker(2, 30, 1)), SDL).await;

    let (status, _, body) = post(&running, STATS).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({ "data": { "stats": [{ "n": 7 }] } }))
    );
    assert_eq!(
        scratch.calls("reads").await,
        2,
        "failed once, answered the second time"
    );
    let errors = "fraiseql_database_queries_total{database=\"analytics\",outcome=\"error\"}";
    assert_eq!(
        metric(&running, errors).await,
        1.0,
        "each attempt is a statement"
    );

    for n in 1..=3 {
        let (status, _, body) = post(&running, "mutation { addStat(n: 2) { n } }").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(code(&body), "DATABASE_ERROR", "{body}");
        assert_eq!(scratch.calls("writes").await, n, "one call per mutation");
    }
    // The database answered every time (it refused): no reason to open the circuit.
    assert_eq!(circuit(&running, "analytics").await, 0.0);
    running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_retries_the_serialization_failure_reaches_the_client() {
    let scratch = PgScratch::new(PG_FLAKY).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = config(&dir, support::database(scratch.url()), breaker(2, 30, 1));
    config.federation.retry.max_attempts = 1;
    let running = support::serve(config, SDL).await;
    let (_, _, body) = post(&running, STATS).await;
    assert_eq!(code(&body), "DATABASE_ERROR", "{body}");
    assert_eq!(scratch.calls("reads").await, 1);
    let (_, _, body) = post(&running, STATS).await;
    assert_eq!(body, json!({ "data": { "stats": [{ "n": 7 }] } }));
    running.stop().await.expect("stops");
}

const MYSQL_STATS: &str = "
CREATE TABLE tb_stat (id INT PRIMARY KEY, n INT);
INSERT INTO tb_stat VALUES (1, 7);
CREATE VIEW v_stat AS SELECT id, JSON_OBJECT('id', CAST(id AS CHAR), 'n', n) AS data FROM tb_stat;
CREATE PROCEDURE fn_add_stat(IN p_n INT)
BEGIN
    INSERT INTO tb_stat VALUES (p_n, p_n);
    SELECT 'success' AS status, CAST(p_n AS CHAR) AS entity_id, 'Stat' AS entity_type;
END;
";

/// Kills, on the server, every connection the server under test holds to `scratch`.
async fn kill_pooled_connections(scratch: &support::MysqlScratch) {
    let mut admin = support::mysql_connect(&support::mysql_url()).await;
    let ids: Vec<u64> = admin
        .exec(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ?",
            (scratch.name.as_str(),),
        )
        .await
        .expect("processlist");
    assert!(!ids.is_empty(), "the pool holds a connection");
    for id in ids {
        admin
            .query_drop(format!("KILL CONNECTION {id}"))
            .await
            .expect("kill");
    }
}

/// `analytics` on MariaDB with a pool of one connection, opened by a first request.
async fn one_connection(
    scratch: &support::MysqlScratch,
    dir: &tempfile::TempDir,
    attempts: u32,
) -> Running {
    let analytics = DatabaseConfig {
        pool_min: 1,
        pool_max: 1,
        ..support::database(scratch.url.clone())
    };
    let mut config = config(dir, analytics, breaker(5, 30, 1));
    config.federation.retry.max_attempts = attempts;
    let running = support::serve(config, SDL).await;
    assert_eq!(
        post(&running, STATS).await.2,
        json!({ "data": { "stats": [{ "n": 7 }] } })
    );
    running
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_on_a_connection_killed_between_requests_is_retried_on_mysql() {
    let scratch = support::MysqlScratch::new(MYSQL_STATS).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let running = one_connection(&scratch, &dir, 2).await;
    kill_pooled_connections(&scratch).await;
    let (status, _, body) = post(&running, STATS).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({ "data": { "stats": [{ "n": 7 }] } }))
    );
    let errors = "fraiseql_database_queries_total{database=\"analytics\",outcome=\"error\"}";
    assert_eq!(
        metric(&running, errors).await,
        1.0,
        "the attempt on the dead connection"
    );
    running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_killed_between_requests_fails_a_read_without_retries_and_a_mutation_always_on_mysql(
) {
    let scratch = support::MysqlScratch::new(MYSQL_STATS).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let running = one_connection(&scratch, &dir, 1).await;
    kill_pooled_connections(&scratch).await;
    let (_, _, body) = post(&running, STATS).await;
    assert_eq!(code(&body), "DATABASE_UNAVAILABLE", "{body}");
    running.stop().await.expect("stops");

    // Retries on, but a mutation: its first attempt fails and it is not tried again (a
    // second would have inserted the row).
    let dir = tempfile::tempdir().expect("temp dir");
    let running = one_connection(&scratch, &dir, 3).await;
    kill_pooled_connections(&scratch).await;
    let (_, _, body) = post(&running, "mutation { addStat(n: 2) { n } }").await;
    assert_eq!(code(&body), "DATABASE_UNAVAILABLE", "{body}");
    let rows: Option<i64> = scratch
        .conn()
        .await
        .query_first("SELECT COUNT(*) FROM tb_stat")
        .await
        .expect("count");
    assert_eq!(rows, Some(1), "the procedure never ran");
    running.stop().await.expect("stops");
}

/// A relation into a database whose circuit is open: the parents are answered (200) and
/// only the related fields are refused, each with its path; the 503 is for requests whose
/// every root was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relation_into_an_open_circuit_costs_only_its_fields() {
    const RELATED: &str = r#"
type Post @source(view: "v_post") {
  id: ID!
  title: String
  stats: [Stat!]! @relation(localKey: "id", remoteKey: "post_id")
}
type Stat @source(view: "v_stat", database: "analytics") { id: ID! n: Int }
type Query { posts: [Post!]! stats: [Stat!]! }
"#;
    let dir = tempfile::tempdir().expect("temp dir");
    let down = support::database(format!(
        "postgresql://postgres@127.0.0.1:{}/analytics",
        closed_port().await
    ));
    let mut config = config(&dir, down, breaker(1, 30, 1));
    config.federation.retry.max_attempts = 1;
    let running = support::serve(config, RELATED).await;
    let query = "{ posts { title stats { n } } }";

    let (status, _, body) = post(&running, query).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"],
        json!({ "posts": [{ "title": "hello", "stats": null }] })
    );
    assert_eq!(
        body["errors"][0]["path"],
        json!(["posts", 0, "stats"]),
        "{body}"
    );
    assert_eq!(code(&body), "DATABASE_UNAVAILABLE", "{body}");
    assert_eq!(circuit(&running, "analytics").await, 1.0);

    let (status, retry_after, body) = post(&running, query).await;
    assert_eq!((status, retry_after), (StatusCode::OK, None), "{body}");
    assert_eq!(
        body["data"],
        json!({ "posts": [{ "title": "hello", "stats": null }] })
    );
    assert_eq!(
        body["errors"][0]["path"],
        json!(["posts", 0, "stats"]),
        "{body}"
    );
    assert_eq!(code(&body), "SERVICE_UNAVAILABLE", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["database"], "analytics");

    let (status, retry_after, _) = post(&running, STATS).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(retry_after.is_some());
    running.stop().await.expect("stops");
}
