//! Tests of the PostgreSQL driver against a real server (`FRAISEQL_TEST_PG_URL`, default
//! `postgresql://postgres@127.0.0.1:5432/postgres`). Each test works in its own schema,
//! reached through the connection's `search_path`, and drops it afterwards. A server that
//! cannot be reached fails the test.

use crate::db::{Database, DbErrorKind};
use fraiseql_engine::catalog::{FunctionReturn, SqlType};
use fraiseql_engine::config::DatabaseConfig;
use fraiseql_engine::sql::{Param, SqlQuery};
use std::time::Duration;

use crate::db::postgres_test_url as base_url;

/// A schema private to one test; dropped when the value is.
pub(crate) struct Scratch {
    pub(crate) schema: String,
    pub(crate) url: String,
}

impl Scratch {
    /// Creates the schema and runs `setup` in it.
    pub(crate) async fn new(setup: &str) -> Self {
        let schema = format!("fraiseql_t_{}", uuid::Uuid::new_v4().simple());
        let client = admin().await;
        client
            .batch_execute(&format!(
                "CREATE SCHEMA {schema}; SET search_path = {schema}; {setup}"
            ))
            .await
            .unwrap_or_else(|e| panic!("test setup failed: {e:?}"));
        let sep = if base_url().contains('?') { '&' } else { '?' };
        // The application name marks this test's connections so cleanup can end them.
        let url = format!(
            "{}{sep}options=-c%20search_path%3D{schema}&application_name={schema}",
            base_url()
        );
        Self { schema, url }
    }

    pub(crate) fn config(&self) -> DatabaseConfig {
        DatabaseConfig {
            kind: Some(fraiseql_engine::config::DatabaseKind::Postgresql),
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
        // Drop runs outside async context; a short-lived runtime on its own thread does the
        // cleanup even when the test itself panicked.
        let schema = self.schema.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    let client = admin().await;
                    // A transaction left open by a failed assertion (or a rollback still
                    // queued on the test's own, now blocked, runtime) would hold locks the
                    // DROP waits for.
                    let _ = client
                        .batch_execute(&format!(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                             WHERE application_name = '{schema}'; DROP SCHEMA {schema} CASCADE"
                        ))
                        .await;
                });
            }
        })
        .join();
    }
}

async fn admin() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&base_url(), tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {}: {e}", base_url()));
    tokio::spawn(connection);
    client
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
            "SELECT $1::text, ($2::int8 + 1)::text, ($3::float8 * 2)::text, (NOT $4::bool)::text, \
             NULL::text, 7, '{\"a\": 1}'::jsonb",
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
            Some("false".into()),
            None,
            Some("7".into()),
            Some("{\"a\": 1}".into()),
        ]
    );
    // Prepared once per connection, run again with other values.
    let again = db
        .fetch_texts(&sql("SELECT $1::text", vec![Param::Text("second".into())]))
        .await
        .expect("statement runs");
    assert_eq!(again, vec![Some("second".into())]);
}

#[tokio::test]
async fn fetch_texts_wants_exactly_one_row() {
    let scratch = Scratch::new("CREATE TABLE t (id int8);").await;
    let err = scratch
        .database()
        .fetch_texts(&sql("SELECT id::text FROM t", vec![]))
        .await;
    assert_eq!(err.expect_err("no rows").kind, DbErrorKind::Other);
}

#[tokio::test]
async fn transactions_commit_and_roll_back() {
    let scratch = Scratch::new("CREATE TABLE t (id int8 PRIMARY KEY, v text);").await;
    let db = scratch.database();
    let insert = |id: i64| {
        sql(
            "INSERT INTO t (id, v) VALUES ($1::int8, $2::text)",
            vec![Param::Int(id), Param::Text("x".into())],
        )
    };
    let count = sql("SELECT count(*)::text FROM t", vec![]);

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
    let mut tx = db.begin().await.expect("begin");
    tx.execute(&insert(3)).await.expect("insert");
    let err = tx.execute(&insert(3)).await.expect_err("duplicate");
    assert_eq!(err.kind, DbErrorKind::UniqueViolation);
    drop(tx);

    assert_eq!(
        db.fetch_texts(&count).await.expect("count"),
        vec![Some("1".into())]
    );
    let rows = db
        .begin()
        .await
        .expect("begin")
        .fetch_rows(&sql("SELECT id::text FROM t ORDER BY id", vec![]))
        .await;
    assert_eq!(rows.expect("rows"), vec![vec![Some("1".into())]]);
}

/// BEGIN and COMMIT travel with the first and last statements; whatever fails, the one
/// pooled connection comes back outside any transaction and nothing half-done is kept.
#[tokio::test]
async fn pipelined_transactions_commit_or_leave_nothing() {
    let scratch = Scratch::new(
        "CREATE TABLE t (id int8 PRIMARY KEY); \
         CREATE FUNCTION add(p int8) RETURNS text LANGUAGE sql AS \
         'INSERT INTO t VALUES (p) RETURNING id::text';",
    )
    .await;
    let db = Database::new(
        "primary",
        &DatabaseConfig {
            pool_max: 1,
            ..scratch.config()
        },
    )
    .expect("pool builds");
    let add = |id: i64| sql("SELECT add($1::int8)", vec![Param::Int(id)]);
    let ids = sql(
        "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM t",
        vec![],
    );

    // Call + read-back + commit: two round trips, both statements kept.
    let mut tx = db.begin().await.expect("begin");
    tx.fetch_rows(&add(1)).await.expect("first statement");
    let rows = tx
        .fetch_rows_and_commit(&ids)
        .await
        .expect("last statement");
    assert_eq!(rows, vec![vec![Some("1".into())]]);

    // A single statement with BEGIN and COMMIT around it.
    let tx = db.begin().await.expect("begin");
    tx.fetch_rows_and_commit(&add(2))
        .await
        .expect("one-statement transaction");

    // The last statement fails at run time (duplicate key): the pipelined COMMIT rolls back.
    let mut tx = db.begin().await.expect("begin");
    tx.fetch_rows(&add(3)).await.expect("insert 3");
    let err = tx
        .fetch_rows_and_commit(&add(1))
        .await
        .expect_err("duplicate");
    assert_eq!(err.kind, DbErrorKind::UniqueViolation);

    // The last statement fails to prepare: no COMMIT was sent; the transaction's drop (in
    // `fetch_rows_and_commit`) rolls back.
    let mut tx = db.begin().await.expect("begin");
    tx.fetch_rows(&add(4)).await.expect("insert 4");
    let err = tx
        .fetch_rows_and_commit(&sql("SELECT nope FROM t", vec![]))
        .await
        .expect_err("unknown column");
    assert_eq!(
        (err.kind, err.code.as_deref()),
        (DbErrorKind::Other, Some("42703"))
    );

    // The first statement fails: BEGIN had gone with it, the drop rolls back.
    let mut tx = db.begin().await.expect("begin");
    tx.fetch_rows(&add(2)).await.expect_err("duplicate");
    drop(tx);

    // A request cancelled mid-statement (the client went away): the drop rolls back.
    let mut tx = db.begin().await.expect("begin");
    let slow = sql("SELECT add(6) || pg_sleep(0.3)::text", vec![]);
    let cancelled = tokio::time::timeout(Duration::from_millis(50), tx.fetch_rows(&slow)).await;
    assert!(cancelled.is_err(), "the statement outlives the timeout");
    drop(tx);

    // A transaction that ran nothing sends nothing.
    db.begin()
        .await
        .expect("begin")
        .commit()
        .await
        .expect("empty commit");

    // The rollbacks above run off the dropping task, holding the one connection until done.
    // Outside any transaction, an autocommitted statement is seen by another session at once.
    db.fetch_texts(&add(5)).await.expect("autocommit");
    let seen = admin()
        .await
        .query_one(
            &format!(
                "SELECT string_agg(id::text, ',' ORDER BY id) FROM {}.t",
                scratch.schema
            ),
            &[],
        )
        .await
        .expect("read from another session")
        .get::<_, String>(0);
    assert_eq!(seen, "1,2,5");
}

#[tokio::test]
async fn unique_violation_keeps_code_and_detail_for_the_log() {
    let scratch =
        Scratch::new("CREATE TABLE t (id int8 PRIMARY KEY); INSERT INTO t VALUES (1);").await;
    let mut tx = scratch.database().begin().await.expect("begin");
    let err = tx
        .execute(&sql("INSERT INTO t VALUES ($1::int8)", vec![Param::Int(1)]))
        .await
        .expect_err("duplicate key");
    assert_eq!(err.kind, DbErrorKind::UniqueViolation);
    // The SQLSTATE stays for the log.
    assert_eq!(err.code.as_deref(), Some("23505"));
    assert!(err.message.contains("duplicate key"), "{}", err.message);
    assert!(
        err.detail
            .as_deref()
            .unwrap_or_default()
            .contains("(id)=(1)"),
        "{err:?}"
    );
}

#[tokio::test]
async fn errors_carry_hints() {
    let scratch = Scratch::new(
        "CREATE FUNCTION fail() RETURNS text LANGUAGE plpgsql AS $$ BEGIN \
         RAISE EXCEPTION 'nope' USING HINT = 'try again', DETAIL = 'why', ERRCODE = 'P0001'; END $$;",
    )
    .await;
    let err = scratch
        .database()
        .fetch_texts(&sql("SELECT fail()", vec![]))
        .await
        .expect_err("raises");
    assert_eq!(err.kind, DbErrorKind::Raised);
    assert_eq!(
        (
            err.message.as_str(),
            err.detail.as_deref(),
            err.hint.as_deref()
        ),
        ("nope", Some("why"), Some("try again"))
    );
}

#[tokio::test]
async fn unreachable_database_is_unavailable() {
    let cfg = DatabaseConfig {
        kind: Some(fraiseql_engine::config::DatabaseKind::Postgresql),
        url: Some("postgresql://postgres@127.0.0.1:1/postgres".into()),
        connect_timeout_ms: 2000,
        ..DatabaseConfig::default()
    };
    let db = Database::new("down", &cfg).expect("a pool builds without connecting");
    let err = db
        .fetch_texts(&sql("SELECT 1", vec![]))
        .await
        .expect_err("unreachable");
    assert_eq!(err.kind, DbErrorKind::Unavailable, "{err}");
    assert_eq!(
        db.ping().await.expect_err("unreachable").kind,
        DbErrorKind::Unavailable
    );
    assert!(db.begin().await.is_err());
    assert!(db.load_catalog().await.is_err());
    assert!(db.catalog().is_none());
}

#[tokio::test]
async fn malformed_url_is_rejected_at_build() {
    let cfg = DatabaseConfig {
        kind: Some(fraiseql_engine::config::DatabaseKind::Postgresql),
        url: Some("postgresql://host:notaport/db".into()),
        ..DatabaseConfig::default()
    };
    assert!(Database::new("bad", &cfg).is_err());
    let cfg = DatabaseConfig {
        kind: None,
        url: Some("mysql://root@localhost".into()),
        ..DatabaseConfig::default()
    };
    assert!(Database::new("bad", &cfg).is_err());
    assert!(Database::new("none", &DatabaseConfig::default()).is_err());
}

#[tokio::test]
async fn statement_timeout_is_a_timeout() {
    let scratch = Scratch::new("").await;
    let cfg = DatabaseConfig {
        statement_timeout_ms: Some(100),
        ..scratch.config()
    };
    let db = Database::new("primary", &cfg).expect("pool");
    let err = db
        .fetch_texts(&sql("SELECT pg_sleep(2)::text", vec![]))
        .await
        .expect_err("cancelled");
    assert_eq!(err.kind, DbErrorKind::Timeout);
}

#[tokio::test]
async fn waiting_for_a_busy_pool_times_out() {
    let scratch = Scratch::new("").await;
    let cfg = DatabaseConfig {
        pool_max: 1,
        connect_timeout_ms: 200,
        ..scratch.config()
    };
    let db = Database::new("primary", &cfg).expect("pool");
    let held = db.begin().await.expect("begin");
    let status = db.pool_status();
    assert_eq!((status.size, status.idle, status.max), (1, 0, 1));
    let err = db
        .fetch_texts(&sql("SELECT 1", vec![]))
        .await
        .expect_err("pool exhausted");
    assert_eq!(err.kind, DbErrorKind::Timeout);
    drop(held);
    // The detached rollback hands the connection back.
    tokio::time::sleep(Duration::from_millis(100)).await;
    db.ping().await.expect("pool usable again");
}

#[tokio::test]
async fn catalog_reads_views_and_functions() {
    let scratch = Scratch::new(
        "CREATE TABLE tb_order (pk_order int8 PRIMARY KEY, id uuid NOT NULL, identifier text, total numeric);
         CREATE VIEW v_order AS SELECT id, identifier, jsonb_build_object('id', id, 'total', total) AS data FROM tb_order;
         CREATE TYPE mutation_response AS (status text, message text, entity_id text, entity_type text,
             entity jsonb, updated_fields text[], cascade jsonb, metadata jsonb);
         CREATE FUNCTION fn_create_order(p_identifier text, p_total numeric DEFAULT 0, OUT r mutation_response)
             LANGUAGE sql AS $$ SELECT ROW('new', 'ok', NULL, 'Order', NULL, NULL, NULL, NULL)::mutation_response $$;
         CREATE FUNCTION fn_update_order(input jsonb) RETURNS mutation_response
             LANGUAGE sql AS $$ SELECT ROW('updated', 'ok', NULL, 'Order', NULL, NULL, NULL, NULL)::mutation_response $$;
         CREATE FUNCTION fn_orders(status text, lim int4 DEFAULT 10) RETURNS SETOF v_order
             LANGUAGE sql AS $$ SELECT * FROM v_order LIMIT lim $$;
         CREATE FUNCTION fn_count() RETURNS int8 LANGUAGE sql AS $$ SELECT 1::int8 $$;",
    )
    .await;
    let db = scratch.database();
    assert!(db.catalog().is_none());
    let catalog = db.load_catalog().await.expect("catalog loads");
    assert!(db.catalog().is_some());

    assert_eq!(catalog.column("v_order", "data"), Some(SqlType::Jsonb));
    assert_eq!(catalog.column("v_order", "id"), Some(SqlType::Uuid));
    assert_eq!(catalog.column("v_order", "identifier"), Some(SqlType::Text));
    let qualified = format!("{}.v_order", scratch.schema);
    assert_eq!(catalog.column(&qualified, "data"), Some(SqlType::Jsonb));
    let columns: Vec<&String> = catalog.relations["v_order"].columns.keys().collect();
    assert_eq!(columns, ["id", "identifier", "data"]);
    assert_eq!(catalog.column("tb_order", "total"), Some(SqlType::Numeric));

    let create = &catalog.functions["fn_create_order"];
    assert_eq!(create.returns, FunctionReturn::MutationResponse);
    let params: Vec<(&str, &str, bool)> = create
        .params
        .iter()
        .map(|p| (p.name.as_str(), p.type_name.as_str(), p.has_default))
        .collect();
    assert_eq!(
        params,
        [
            ("p_identifier", "text", false),
            ("p_total", "numeric", true)
        ]
    );

    let update = &catalog.functions["fn_update_order"];
    assert_eq!(update.returns, FunctionReturn::MutationResponse);
    assert_eq!(update.params[0].type_name, "jsonb");

    let list = &catalog.functions["fn_orders"];
    assert_eq!(
        list.returns,
        FunctionReturn::Rows {
            relation: "v_order".into()
        }
    );
    assert_eq!(
        list.params
            .iter()
            .map(|p| p.has_default)
            .collect::<Vec<_>>(),
        [false, true]
    );
    assert_eq!(
        catalog.functions["fn_count"].returns,
        FunctionReturn::Other("bigint".into())
    );
    assert!(catalog
        .functions
        .contains_key(&format!("{}.fn_orders", scratch.schema)));
}

/// 200,000 posts behind a view whose `title` costs a little per row (as a wide JSON build
/// or a slow function would): a lookup by id reads one row, a filter on the title reads
/// them all and runs for a minute or more.
pub(crate) const SLOW_POSTS: &str = "
    CREATE TABLE tb_post (id uuid PRIMARY KEY, title text NOT NULL);
    INSERT INTO tb_post SELECT md5(i::text)::uuid, 'post ' || i FROM generate_series(1, 200000) i;
    CREATE FUNCTION slow_title(t text) RETURNS text LANGUAGE plpgsql STABLE AS
        $$ BEGIN PERFORM pg_sleep(0.0002); RETURN t; END $$;
    CREATE VIEW v_post AS SELECT id, jsonb_build_object('id', id, 'title', slow_title(title)) AS data
        FROM tb_post;";

const SLOW_FILTER: &str = "SELECT count(*)::text FROM v_post WHERE data->>'title' ILIKE $1::text";

fn by_id(i: u32) -> SqlQuery {
    sql(
        "SELECT data->>'title' FROM v_post WHERE id = md5($1::text)::uuid",
        vec![Param::Text(i.to_string())],
    )
}

/// Statements of this test's connections that are running now, as `pg_stat_activity` sees
/// them (the test's connections carry its schema as application name).
async fn running(scratch: &Scratch, like: &str) -> i64 {
    admin()
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
             AND state = 'active' AND query LIKE $2",
            &[&scratch.schema, &like],
        )
        .await
        .expect("pg_stat_activity")
        .get(0)
}

/// Polls `running` until it is 0, failing after `limit`.
async fn until_gone(scratch: &Scratch, like: &str, limit: Duration) {
    let start = std::time::Instant::now();
    while running(scratch, like).await > 0 {
        assert!(
            start.elapsed() < limit,
            "the abandoned statement still runs {limit:?} later"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Connections this test holds open to the server.
async fn backends(scratch: &Scratch) -> i64 {
    admin()
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&scratch.schema],
        )
        .await
        .expect("pg_stat_activity")
        .get(0)
}

/// Polls `backends` until it is `want`, failing after `limit`.
async fn until_backends(scratch: &Scratch, want: i64, limit: Duration) {
    let start = std::time::Instant::now();
    loop {
        let now = backends(scratch).await;
        if now == want {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "{now} connections open after {limit:?}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Issue 9: a request that gives up on its statement (deadline passed, client gone) used to
/// leave it running on the server and put its busy connection back in the pool, so the next
/// request queued behind it. Now the statement is cancelled and the connection replaced.
#[tokio::test]
async fn an_abandoned_statement_is_cancelled_and_its_connection_not_reused() {
    let scratch = Scratch::new(SLOW_POSTS).await;
    let db = Database::new(
        "primary",
        &DatabaseConfig {
            pool_max: 1,
            // Disabled, so only the cancel on drop can end the statement.
            statement_timeout_ms: Some(0),
            ..scratch.config()
        },
    )
    .expect("pool builds");
    let slow = sql(SLOW_FILTER, vec![Param::Text("%zzz%".into())]);
    let gave_up = tokio::time::timeout(Duration::from_secs(2), db.fetch_texts(&slow)).await;
    assert!(gave_up.is_err(), "the filter outlives the deadline");

    let lookup = tokio::time::timeout(Duration::from_secs(2), db.fetch_texts(&by_id(7)))
        .await
        .expect("the lookup is not queued behind the abandoned statement")
        .expect("lookup");
    assert_eq!(lookup, vec![Some("post 7".into())]);
    until_gone(&scratch, "%ILIKE%", Duration::from_secs(2)).await;
}

/// The same for a transaction dropped in the middle of a statement: cancelled, rolled back,
/// and the pool's one connection is free at once.
#[tokio::test]
async fn a_transaction_dropped_mid_statement_is_cancelled_and_rolled_back() {
    let scratch = Scratch::new(&format!(
        "{SLOW_POSTS} CREATE TABLE t (id int8 PRIMARY KEY);"
    ))
    .await;
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
    let slow = sql(SLOW_FILTER, vec![Param::Text("%zzz%".into())]);
    let gave_up = tokio::time::timeout(Duration::from_millis(500), tx.fetch_rows(&slow)).await;
    assert!(gave_up.is_err(), "the filter outlives the deadline");
    drop(tx);

    let count = tokio::time::timeout(
        Duration::from_secs(2),
        db.fetch_texts(&sql("SELECT count(*)::text FROM t", vec![])),
    )
    .await
    .expect("the pool's connection is free again")
    .expect("count");
    assert_eq!(count, vec![Some("0".into())], "the insert was rolled back");
    until_gone(&scratch, "%ILIKE%", Duration::from_secs(2)).await;
    db.begin()
        .await
        .expect("begin")
        .fetch_rows_and_commit(&sql("INSERT INTO t VALUES (2) RETURNING id::text", vec![]))
        .await
        .expect("a new transaction runs");
}

/// A statement finished (or failed) normally keeps its connection: only abandoned ones are
/// replaced.
#[tokio::test]
async fn a_finished_statement_keeps_its_connection() {
    let scratch = Scratch::new("").await;
    let db = Database::new(
        "primary",
        &DatabaseConfig {
            pool_max: 1,
            pool_min: 0,
            ..scratch.config()
        },
    )
    .expect("pool builds");
    let pid = sql("SELECT pg_backend_pid()::text", vec![]);
    let first = db.fetch_texts(&pid).await.expect("pid");
    db.fetch_texts(&sql("SELECT nope", vec![]))
        .await
        .expect_err("fails");
    assert_eq!(db.fetch_texts(&pid).await.expect("pid"), first);
}

/// Without `statement_timeout_ms`, a server's statements end at its request deadline; a
/// one-off command (`Database::new`) has none; 0 disables it.
#[tokio::test]
async fn statement_timeout_defaults_to_the_request_deadline() {
    let scratch = Scratch::new("").await;
    let show = sql("SHOW statement_timeout", vec![]);
    let serving = Database::serving("primary", &scratch.config(), Duration::from_millis(300))
        .expect("pool builds");
    assert_eq!(
        serving.fetch_texts(&show).await.expect("show"),
        vec![Some("300ms".into())]
    );
    let err = serving
        .fetch_texts(&sql("SELECT pg_sleep(5)::text", vec![]))
        .await
        .expect_err("cancelled at the deadline");
    assert_eq!(err.kind, DbErrorKind::Timeout);
    let explicit = DatabaseConfig {
        statement_timeout_ms: Some(1500),
        ..scratch.config()
    };
    let db = Database::serving("primary", &explicit, Duration::from_millis(300)).expect("pool");
    assert_eq!(
        db.fetch_texts(&show).await.expect("show"),
        vec![Some("1500ms".into())]
    );
    let disabled = DatabaseConfig {
        statement_timeout_ms: Some(0),
        ..scratch.config()
    };
    let db = Database::serving("primary", &disabled, Duration::from_millis(300)).expect("pool");
    assert_eq!(
        db.fetch_texts(&show).await.expect("show"),
        vec![Some("0".into())]
    );
    let db = Database::new("primary", &scratch.config()).expect("pool");
    assert_eq!(
        db.fetch_texts(&show).await.expect("show"),
        vec![Some("0".into())]
    );
    // Past what PostgreSQL accepts: its maximum, not a connection refused.
    let huge = DatabaseConfig {
        statement_timeout_ms: Some(u64::MAX),
        ..scratch.config()
    };
    let db = Database::serving("primary", &huge, Duration::from_millis(300)).expect("pool");
    assert_eq!(
        db.fetch_texts(&show).await.expect("show"),
        vec![Some("2147483647ms".into())]
    );
}

/// Issue 9: every distinct statement text stayed prepared on its connection for good (490 MB
/// in one backend after 600 shapes). Now at most `statement_cache_size` stay, the least
/// recently used closed on the server, and a shape in steady use stays prepared.
#[tokio::test]
async fn prepared_statements_per_connection_are_bounded() {
    let scratch = Scratch::new("").await;
    let db = Database::new(
        "primary",
        &DatabaseConfig {
            pool_max: 1,
            statement_cache_size: 8,
            ..scratch.config()
        },
    )
    .expect("pool builds");
    let hot = sql("SELECT 'hot shape'::text", vec![]);
    for shape in 0..40 {
        let q = sql(
            &format!("SELECT ($1::int8 + {shape})::text"),
            vec![Param::Int(1)],
        );
        assert_eq!(
            db.fetch_texts(&q).await.expect("shape runs"),
            vec![Some((shape + 1).to_string())]
        );
        db.fetch_texts(&hot).await.expect("hot shape runs");
    }
    let prepared = sql(
        "SELECT count(*)::text, \
         count(*) FILTER (WHERE statement = 'SELECT ''hot shape''::text')::text \
         FROM pg_prepared_statements",
        vec![],
    );
    let row = db.fetch_texts(&prepared).await.expect("count");
    let count: usize = row[0].as_deref().unwrap_or("").parse().expect("a count");
    assert!(count <= 8, "{count} statements prepared on one connection");
    assert_eq!(row[1].as_deref(), Some("1"), "the hot shape stays prepared");

    // 0: nothing kept; only the statement running now is prepared.
    let db = Database::new(
        "primary",
        &DatabaseConfig {
            pool_max: 1,
            statement_cache_size: 0,
            ..scratch.config()
        },
    )
    .expect("pool builds");
    for shape in 0..5 {
        db.fetch_texts(&sql(&format!("SELECT '{shape}'::text"), vec![]))
            .await
            .expect("shape runs");
    }
    let row = db.fetch_texts(&prepared).await.expect("count");
    assert_eq!(row[0].as_deref(), Some("1"));

    // The largest size allocates nothing up front.
    let db = Database::new(
        "primary",
        &DatabaseConfig {
            statement_cache_size: usize::MAX,
            ..scratch.config()
        },
    )
    .expect("pool builds");
    db.ping().await.expect("runs");
}

/// `pool_min` connections are opened in the background without any request.
#[tokio::test]
async fn pool_min_connections_are_opened_in_the_background() {
    let scratch = Scratch::new("").await;
    let _db = Database::new(
        "primary",
        &DatabaseConfig {
            pool_min: 3,
            pool_max: 5,
            ..scratch.config()
        },
    )
    .expect("pool builds");
    until_backends(&scratch, 3, Duration::from_secs(5)).await;
    // Kept, not opened again and again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(backends(&scratch).await, 3);
}

/// A database that is down does not hold up building the pool with `pool_min`, and is
/// warmed once it answers (here: it never does, and requests fail promptly).
#[tokio::test]
async fn pool_min_does_not_wait_for_a_database_that_is_down() {
    let started = std::time::Instant::now();
    let db = Database::new(
        "down",
        &DatabaseConfig {
            kind: Some(fraiseql_engine::config::DatabaseKind::Postgresql),
            url: Some("postgresql://postgres@127.0.0.1:1/postgres".into()),
            pool_min: 4,
            connect_timeout_ms: 500,
            ..DatabaseConfig::default()
        },
    )
    .expect("builds without connecting");
    assert!(started.elapsed() < Duration::from_millis(200));
    let err = db.ping().await.expect_err("down");
    assert_eq!(err.kind, DbErrorKind::Unavailable);
    assert_eq!(db.pool_status().size, 0);
}

/// Connections idle past `idle_timeout_ms` are closed, down to `pool_min`.
#[tokio::test]
async fn idle_connections_are_closed_down_to_pool_min() {
    let scratch = Scratch::new("").await;
    let db = Database::new(
        "primary",
        &DatabaseConfig {
            pool_min: 1,
            pool_max: 4,
            // Long enough that none of the four closes before the last one is done.
            idle_timeout_ms: 1500,
            ..scratch.config()
        },
    )
    .expect("pool builds");
    let nap = sql("SELECT pg_sleep(0.2)::text", vec![]);
    let busy = futures::future::join_all((0..4).map(|_| db.fetch_texts(&nap))).await;
    assert!(busy.iter().all(Result::is_ok), "{busy:?}");
    assert_eq!(db.pool_status().size, 4);
    until_backends(&scratch, 1, Duration::from_secs(10)).await;
    assert_eq!(db.pool_status().size, 1);
    db.ping().await.expect("the kept connection works");
}

/// SQLSTATEs the driver suite cannot provoke on every dialect still map to their kind.
#[test]
fn sqlstates_map_to_portable_kinds() {
    use super::sqlstate_kind;
    for (code, kind) in [
        ("40001", DbErrorKind::Serialization),
        ("40P01", DbErrorKind::Deadlock),
        ("22003", DbErrorKind::InvalidInput),
        ("08006", DbErrorKind::Unavailable),
        ("57P01", DbErrorKind::Unavailable),
        ("57P03", DbErrorKind::Unavailable),
        ("57014", DbErrorKind::Timeout),
        ("P0001", DbErrorKind::Raised),
        ("42703", DbErrorKind::Other),
    ] {
        assert_eq!(sqlstate_kind(code), kind, "{code}");
    }
}

#[tokio::test]
async fn a_missing_database_or_role_is_told_apart_from_an_outage() {
    let url = base_url();
    let (prefix, _) = url.split_once("://").unwrap();
    let rest = url.split_once('@').map_or(url.as_str(), |(_, r)| r);
    let host = rest.split('/').next().unwrap();
    let open = |url: String| {
        let cfg = DatabaseConfig {
            url: Some(url),
            kind: Some(fraiseql_engine::config::DatabaseKind::Postgresql),
            ..DatabaseConfig::default()
        };
        let db = Database::new("t", &cfg).unwrap();
        async move { db.load_catalog().await.unwrap_err() }
    };
    let missing_db = open(format!("{prefix}://postgres@{host}/fraiseql_no_such_db")).await;
    assert!(super::missing_database(&missing_db), "{missing_db:?}");
    let missing_role = open(format!("{prefix}://fraiseql_no_such_role@{host}/postgres")).await;
    assert!(super::missing_database(&missing_role), "{missing_role:?}");
    let refused = open(format!("{prefix}://postgres@127.0.0.1:1/postgres")).await;
    assert!(!super::missing_database(&refused), "{refused:?}");
}
