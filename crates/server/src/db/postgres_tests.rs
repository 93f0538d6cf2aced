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
    assert_eq!(err.expect_err("no rows").kind, DbErrorKind::Query);
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
    assert_eq!(err.sqlstate.as_deref(), Some("23505"));
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
    assert_eq!(err.sqlstate.as_deref(), Some("23505"));

    // The last statement fails to prepare: no COMMIT was sent; the transaction's drop (in
    // `fetch_rows_and_commit`) rolls back.
    let mut tx = db.begin().await.expect("begin");
    tx.fetch_rows(&add(4)).await.expect("insert 4");
    let err = tx
        .fetch_rows_and_commit(&sql("SELECT nope FROM t", vec![]))
        .await
        .expect_err("unknown column");
    assert_eq!(err.sqlstate.as_deref(), Some("42703"));

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
async fn unique_violation_keeps_sqlstate_detail() {
    let scratch =
        Scratch::new("CREATE TABLE t (id int8 PRIMARY KEY); INSERT INTO t VALUES (1);").await;
    let mut tx = scratch.database().begin().await.expect("begin");
    let err = tx
        .execute(&sql("INSERT INTO t VALUES ($1::int8)", vec![Param::Int(1)]))
        .await
        .expect_err("duplicate key");
    assert_eq!(err.kind, DbErrorKind::Query);
    assert_eq!(err.sqlstate.as_deref(), Some("23505"));
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
    assert_eq!(
        (err.kind, err.sqlstate.as_deref()),
        (DbErrorKind::Query, Some("P0001"))
    );
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
        url: Some("postgresql://host:notaport/db".into()),
        ..DatabaseConfig::default()
    };
    assert!(Database::new("bad", &cfg).is_err());
    let cfg = DatabaseConfig {
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
    assert_eq!(
        (err.kind, err.sqlstate.as_deref()),
        (DbErrorKind::Timeout, Some("57014"))
    );
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
