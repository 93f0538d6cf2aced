//! The circuit breakers of Apollo Federation entities end to end: a subgraph whose `primary`
//! holds two entities, `Order` and `Customer`.
//!
//! - An entity with a breaker entry of its own opens it on its view's failures alone (the
//!   same scenario on PostgreSQL, MariaDB and SQLite, each view failing for one order in
//!   its own dialect): its `_entities` reads are then a 503 while the other entities and
//!   the ordinary queries on its database are answered; the gauge shows each entity
//!   (`entity="Order"`) beside the databases, and `/health` lists the entity's own circuit,
//!   open then closed, without changing its status.
//! - An entry with `enabled = false` leaves the entity's reads unguarded: no failure opens
//!   anything, and it has no series.
//! - An entry naming the database guards every other entity as before; one naming neither
//!   stops start-up.

use super::{breaker, closed_port, code, post, post_body, statements, support, PgScratch};
use fraiseql_engine::config::{Config, DatabaseBreakerConfig};
use fraiseql_server::Running;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// Two Apollo Federation entities on one database: `Order`, whose view fails for an order
/// it cannot read (`o2`), and `Customer`.
const ENTITY_SDL: &str = r#"
type Order @source(view: "v_order") @key(fields: "id") { id: ID! total: Int! }
type Customer @source(view: "v_customer") @key(fields: "id") { id: ID! name: String! }
type Query { orders: [Order!]! customers: [Customer!]! }
"#;

/// `o2` is marked broken: the view's function raises an internal error for it (`XX000`,
/// not the author's own `P0001`, so it is no message for clients).
const PG_ENTITIES: &str = "
CREATE TABLE tb_order (id text PRIMARY KEY, total int NOT NULL, broken bool NOT NULL);
INSERT INTO tb_order VALUES ('o1', 10, false), ('o2', 20, true);
CREATE TABLE tb_customer (id text PRIMARY KEY, name text NOT NULL);
INSERT INTO tb_customer VALUES ('c1', 'Ada');
CREATE FUNCTION order_data(p_id text, p_total int, p_broken bool) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_broken THEN
        RAISE EXCEPTION 'order % is broken', p_id USING ERRCODE = 'XX000';
    END IF;
    RETURN jsonb_build_object('id', p_id, 'total', p_total);
END $$;
CREATE VIEW v_order AS SELECT id, order_data(id, total, broken) AS data FROM tb_order;
CREATE VIEW v_customer AS SELECT id, jsonb_build_object('id', id, 'name', name) AS data
FROM tb_customer;
";

/// As [`PG_ENTITIES`]: MariaDB's `SIGNAL` with an error number of its own (1105, unknown
/// error) is that internal error; without one it would be 1644, the author's own. A stored
/// function's value is a string to `JSON_OBJECT`, hence the `CAST`.
const MYSQL_ENTITIES: &str = "
CREATE TABLE tb_order (id VARCHAR(16) PRIMARY KEY, total INT NOT NULL, broken BOOL NOT NULL);
INSERT INTO tb_order VALUES ('o1', 10, false), ('o2', 20, true);
CREATE TABLE tb_customer (id VARCHAR(16) PRIMARY KEY, name TEXT NOT NULL);
INSERT INTO tb_customer VALUES ('c1', 'Ada');
CREATE FUNCTION order_total(p_total INT, p_broken BOOL) RETURNS INT DETERMINISTIC
BEGIN
    IF p_broken THEN
        SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1105, MESSAGE_TEXT = 'the order is broken';
    END IF;
    RETURN p_total;
END;
CREATE VIEW v_order AS
    SELECT id, JSON_OBJECT('id', id, 'total', CAST(order_total(total, broken) AS SIGNED)) AS data
    FROM tb_order;
CREATE VIEW v_customer AS SELECT id, JSON_OBJECT('id', id, 'name', name) AS data
FROM tb_customer;
";

/// SQLite has no function that raises in a query: `o2`'s stored document is malformed JSON,
/// which `json_extract` refuses (for that row only).
const SQLITE_ENTITIES: &str = r#"
CREATE TABLE tb_order (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
INSERT INTO tb_order VALUES ('o1', '{"total": 10}'), ('o2', '{"total": 20');
CREATE TABLE tb_customer (id TEXT PRIMARY KEY, name TEXT NOT NULL);
INSERT INTO tb_customer VALUES ('c1', 'Ada');
CREATE VIEW v_order AS
    SELECT id, json_object('id', id, 'total', json_extract(doc, '$.total')) AS data
    FROM tb_order;
CREATE VIEW v_customer AS SELECT id, json_object('id', id, 'name', name) AS data
FROM tb_customer;
"#;

const ENTITIES: &str = "query($r: [_Any!]!) { _entities(representations: $r) { __typename \
    ... on Order { total } ... on Customer { name } } }";

/// `_entities` for `representations` (`["Order", "o1"]`, …).
async fn entities(
    running: &Running,
    representations: &[[&str; 2]],
) -> (StatusCode, Option<String>, Value) {
    let reps: Vec<Value> = representations
        .iter()
        .map(|[ty, id]| json!({ "__typename": ty, "id": id }))
        .collect();
    post_body(
        running,
        json!({ "query": ENTITIES, "variables": { "r": reps } }),
    )
    .await
}

const GAUGE: &str = "fraiseql_federation_circuit_breaker_state";

/// `/metrics`, after checking that it holds the circuit gauge's family once, every series
/// labelled `database` or `entity`, and that every line of the exposition parses.
async fn circuit_gauge(running: &Running) -> String {
    let text = support::metrics(&reqwest::Client::new(), &support::base(running)).await;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        // `name value` or `name{label="v",...} value`.
        let (series, value) = line.rsplit_once(' ').expect("a sample and its value");
        assert!(value.parse::<f64>().is_ok(), "{line}");
        if let Some((name, labels)) = series.split_once('{') {
            assert!(!name.is_empty() && labels.ends_with('}'), "{line}");
            for pair in labels.trim_end_matches('}').split("\",") {
                let (label, v) = pair.split_once("=\"").expect("label=\"value\"");
                assert!(
                    label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line}"
                );
                assert!(!v.contains('"') || v.ends_with('"'), "{line}");
            }
        }
    }
    let count = |prefix: String| text.lines().filter(|l| l.starts_with(&prefix)).count();
    assert_eq!(count(format!("# HELP {GAUGE} ")), 1, "{text}");
    assert_eq!(count(format!("# TYPE {GAUGE} gauge")), 1, "{text}");
    for sample in text
        .lines()
        .filter(|l| l.starts_with(&format!("{GAUGE}{{")))
    {
        let labels = &sample[GAUGE.len()..sample.rfind(' ').expect("value")];
        assert!(
            (labels.starts_with("{database=\"") || labels.starts_with("{entity=\""))
                && labels.ends_with("\"}")
                && !labels.contains(','),
            "one label, database or entity: {sample}"
        );
    }
    text
}

/// The gauge's value for `series` (`entity="Order"`) in `text`, `None` without the series.
fn gauge_of(text: &str, series: &str) -> Option<f64> {
    let prefix = format!("{GAUGE}{{{series}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix)?.parse::<f64>().ok())
}

/// The states of the circuit gauge's series for `primary`, `Order` and `Customer`
/// ([`circuit_gauge`]'s checks first).
async fn entity_circuits(running: &Running) -> [f64; 3] {
    let text = circuit_gauge(running).await;
    [
        "database=\"primary\"",
        "entity=\"Order\"",
        "entity=\"Customer\"",
    ]
    .map(|series| gauge_of(&text, series).unwrap_or_else(|| panic!("no series {series}: {text}")))
}

/// `/health`: its HTTP status, its `status` and its `entities` (`Null` when absent).
async fn health(running: &Running) -> (StatusCode, Value, Value) {
    let response = reqwest::get(format!("{}/health", support::base(running)))
        .await
        .expect("health");
    let status = response.status();
    let body: Value = response.json().await.expect("health JSON");
    (status, body["status"].clone(), body["entities"].clone())
}

/// What `/health` says when `primary` answers and Order's own circuit is in `circuit`: the
/// service is up whatever the circuit's state (as with a database's circuit, the status is
/// what the databases answer now), and Customer, behind its database's breaker, is not
/// listed.
fn order_in_health(circuit: &str) -> (StatusCode, Value, Value) {
    (
        StatusCode::OK,
        json!("ok"),
        json!({ "Order": { "database": "primary", "circuit": circuit } }),
    )
}

/// A subgraph on `url` whose circuit breaker entries are `entries`; no retries.
fn subgraph_config(url: String, entries: Vec<DatabaseBreakerConfig>) -> Config {
    let mut config = support::with_primary(support::database(url));
    config.federation.enabled = true;
    config.federation.retry.max_attempts = 1;
    config.federation.circuit_breaker.per_database = entries;
    config
}

fn entry(name: &str, failures: u32, recovery_secs: u64, successes: u32) -> DatabaseBreakerConfig {
    DatabaseBreakerConfig {
        database: name.into(),
        ..breaker(failures, recovery_secs, successes)
    }
}

/// `[[federation.circuit_breaker.per_database]] database = "Order"` on the subgraph at `url`
/// (its views made from one of the setups above): the entity's own breaker opens on its
/// view's failures alone; then `_entities` of Order is a 503 while Customer's and the
/// ordinary queries on the same database are answered; it half-opens after its recovery
/// time, a failed probe reopens it, and two successes close it. The gauge shows each
/// entity and the database; `/health` shows Order's circuit at each step.
async fn an_entity_breaker_opens_alone_and_closes(url: String) {
    let config = subgraph_config(url, vec![entry("Order", 2, 1, 2)]);
    let running = support::serve(config, ENTITY_SDL).await;
    let order = json!({ "__typename": "Order", "total": 10 });
    let customer = json!({ "__typename": "Customer", "name": "Ada" });
    assert_eq!(entity_circuits(&running).await, [0.0, 0.0, 0.0]);
    assert_eq!(health(&running).await, order_in_health("closed"));

    // The view fails for o2: two failed reads open Order's circuit, not the database's.
    // Order's rows are read in a statement of their own, so Customer's come back beside
    // the failure.
    let (status, _, body) = entities(&running, &[["Order", "o2"], ["Customer", "c1"]]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({ "_entities": [null, customer] }),
        "{body}"
    );
    assert_eq!(code(&body), "DATABASE_ERROR", "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["_entities"]), "{body}");
    assert_eq!(entity_circuits(&running).await, [0.0, 0.0, 0.0]);
    let (status, _, body) = entities(&running, &[["Order", "o2"]]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({ "_entities": [null] }), "{body}");
    assert_eq!(code(&body), "DATABASE_ERROR", "{body}");
    assert_eq!(entity_circuits(&running).await, [0.0, 1.0, 0.0]);
    assert_eq!(health(&running).await, order_in_health("open"));

    // Open: Order's reads are refused without a statement, with when to come back.
    let sent = statements(&running, "primary").await;
    let (status, retry_after, body) = entities(&running, &[["Order", "o1"]]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(
        body,
        json!({
            "data": { "_entities": [null] },
            "errors": [{
                "message": "Entity 'Order' is temporarily unavailable (circuit open)",
                "path": ["_entities"],
                "extensions": { "code": "SERVICE_UNAVAILABLE", "database": "primary" },
            }],
        })
    );
    assert_eq!(
        statements(&running, "primary").await,
        sent,
        "nothing was sent"
    );

    // Customer, on the same database, is read; so are ordinary queries, Order's view too.
    let (status, _, body) = entities(&running, &[["Customer", "c1"]]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "data": { "_entities": [customer] } }));
    let (status, _, body) = post(
        &running,
        r#"{ orders(where: {id: {eq: "o1"}}) { total } customers { name } }"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({ "data": { "orders": [{ "total": 10 }], "customers": [{ "name": "Ada" }] } })
    );
    // Both in one `_entities`: Customer's rows were read, so it is answered, not a 503.
    let (status, retry_after, body) =
        entities(&running, &[["Order", "o1"], ["Customer", "c1"]]).await;
    assert_eq!((status, retry_after), (StatusCode::OK, None), "{body}");
    assert_eq!(body["data"], json!({ "_entities": [null, customer] }));
    assert_eq!(code(&body), "SERVICE_UNAVAILABLE", "{body}");
    assert_eq!(
        super::circuit(&running, "primary").await,
        0.0,
        "the database is closed"
    );
    assert_eq!(entity_circuits(&running).await, [0.0, 1.0, 0.0]);

    // After the recovery time a probe goes through; still failing, it reopens the circuit.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _, body) = entities(&running, &[["Order", "o2"]]).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::OK, "DATABASE_ERROR"),
        "{body}"
    );
    assert_eq!(entity_circuits(&running).await, [0.0, 1.0, 0.0]);
    let (status, _, _) = entities(&running, &[["Order", "o1"]]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    // Two successful probes close it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let answered = json!({ "data": { "_entities": [order] } });
    assert_eq!(entities(&running, &[["Order", "o1"]]).await.2, answered);
    assert_eq!(
        entity_circuits(&running).await,
        [0.0, 2.0, 0.0],
        "half-open: one success of two"
    );
    assert_eq!(health(&running).await, order_in_health("half_open"));
    assert_eq!(entities(&running, &[["Order", "o1"]]).await.2, answered);
    assert_eq!(entity_circuits(&running).await, [0.0, 0.0, 0.0], "closed");
    assert_eq!(health(&running).await, order_in_health("closed"));
    running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entity_with_a_breaker_of_its_own_opens_alone_and_closes_after_its_probes_on_postgres() {
    let scratch = PgScratch::new(PG_ENTITIES).await;
    an_entity_breaker_opens_alone_and_closes(scratch.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entity_with_a_breaker_of_its_own_opens_alone_and_closes_after_its_probes_on_mysql() {
    let scratch = support::MysqlScratch::new(MYSQL_ENTITIES).await;
    an_entity_breaker_opens_alone_and_closes(scratch.url.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entity_with_a_breaker_of_its_own_opens_alone_and_closes_after_its_probes_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = support::sqlite_in(&dir);
    rusqlite::Connection::open(dir.path().join("app.db"))
        .expect("open SQLite")
        .execute_batch(SQLITE_ENTITIES)
        .expect("setup");
    an_entity_breaker_opens_alone_and_closes(db.url.expect("url")).await;
}

/// `enabled = false` in Order's entry: no breaker guards its `_entities` reads, neither its
/// own nor its database's. On a database that is down, with the database's breaker opening
/// at its first failure, Order's reads keep reaching the database and failing as such, even
/// once that circuit is open; Order has no series in the gauge and no place in `/health`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entity_whose_entry_disables_its_breaker_is_never_refused() {
    let down = format!(
        "postgresql://postgres@127.0.0.1:{}/nowhere",
        closed_port().await
    );
    let unguarded = DatabaseBreakerConfig {
        enabled: Some(false),
        ..entry("Order", 1, 30, 1)
    };
    let config = subgraph_config(down, vec![entry("primary", 1, 30, 1), unguarded]);
    let running = support::serve(config, ENTITY_SDL).await;
    let series = |text: &str| {
        [
            "database=\"primary\"",
            "entity=\"Order\"",
            "entity=\"Customer\"",
        ]
        .map(|s| gauge_of(text, s))
    };
    let gauge = circuit_gauge(&running).await;
    assert_eq!(series(&gauge), [Some(0.0), None, Some(0.0)], "{gauge}");

    // Each of Order's reads reaches the database and fails there; nothing opens.
    for n in 1..=3 {
        let (status, retry_after, body) = entities(&running, &[["Order", "o1"]]).await;
        assert_eq!((status, retry_after), (StatusCode::OK, None), "{body}");
        assert_eq!(code(&body), "DATABASE_UNAVAILABLE", "{body}");
        assert_eq!(statements(&running, "primary").await, f64::from(n));
    }
    let gauge = circuit_gauge(&running).await;
    assert_eq!(series(&gauge), [Some(0.0), None, Some(0.0)], "{gauge}");

    // Customer's first failure opens the database's circuit (Customer's with it); Order's
    // reads still go to the database.
    let (_, _, body) = entities(&running, &[["Customer", "c1"]]).await;
    assert_eq!(code(&body), "DATABASE_UNAVAILABLE", "{body}");
    let gauge = circuit_gauge(&running).await;
    assert_eq!(series(&gauge), [Some(1.0), None, Some(1.0)], "{gauge}");
    let (status, _, body) = entities(&running, &[["Customer", "c1"]]).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE"),
        "{body}"
    );
    let (status, retry_after, body) = entities(&running, &[["Order", "o1"]]).await;
    assert_eq!((status, retry_after), (StatusCode::OK, None), "{body}");
    assert_eq!(code(&body), "DATABASE_UNAVAILABLE", "{body}");
    assert_eq!(statements(&running, "primary").await, 5.0);

    // The database is down (503), and no entity has a circuit of its own to list.
    let (status, _, entities) = health(&running).await;
    assert_eq!(
        (status, entities),
        (StatusCode::SERVICE_UNAVAILABLE, Value::Null)
    );
    running.stop().await.expect("stops");
}

/// An entry naming the database keeps working as before in a subgraph: its breaker guards
/// every entity without one of its own, and the gauge shows them with its state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_subgraph_a_database_entry_guards_its_entities_as_before() {
    let down = format!(
        "postgresql://postgres@127.0.0.1:{}/nowhere",
        closed_port().await
    );
    let config = subgraph_config(down, vec![entry("primary", 1, 30, 1)]);
    let running = support::serve(config, ENTITY_SDL).await;
    assert_eq!(entity_circuits(&running).await, [0.0, 0.0, 0.0]);
    let (status, _, body) = entities(&running, &[["Customer", "c1"]]).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::OK, "DATABASE_UNAVAILABLE"),
        "{body}"
    );
    assert_eq!(entity_circuits(&running).await, [1.0, 1.0, 1.0]);
    let (status, retry_after, body) =
        entities(&running, &[["Order", "o1"], ["Customer", "c1"]]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(retry_after.is_some());
    assert_eq!(
        body["errors"][0]["message"],
        "Database 'primary' is temporarily unavailable (circuit open)"
    );
    running.stop().await.expect("stops");
}

/// A circuit breaker entry that names neither a configured database nor an entity of the
/// subgraph stops start-up, naming it; outside a subgraph an entity's name is refused too.
#[tokio::test]
async fn a_breaker_entry_naming_no_database_or_entity_stops_start_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = support::sqlite_in(&dir).url.expect("url");
    let start = |config: Config| async move {
        let schema = fraiseql_engine::schema::load_schema(ENTITY_SDL, "schema.graphql")
            .expect("schema compiles");
        match fraiseql_server::spawn(config, schema, support::local()).await {
            Ok(running) => {
                running.stop().await.expect("stops");
                panic!("started");
            }
            Err(e) => {
                assert!(matches!(
                    e,
                    fraiseql_server::ServeError::UnknownBreakerEntry(_)
                ));
                e.to_string()
            }
        }
    };
    let config = subgraph_config(url.clone(), vec![entry("Ordr", 1, 1, 1)]);
    assert_eq!(
        start(config).await,
        "`Ordr` in [[federation.circuit_breaker.per_database]] is neither a configured \
         database nor an entity of this subgraph; did you mean `Order`?"
    );
    let mut config = subgraph_config(url.clone(), vec![entry("Order", 1, 1, 1)]);
    config.federation.enabled = false;
    assert_eq!(
        start(config).await,
        "`Order` in [[federation.circuit_breaker.per_database]] is not a configured database \
         (an entity's name is accepted only in an Apollo Federation subgraph, [federation] \
         enabled = true); configured databases: `primary`"
    );
    // Named right, it starts.
    let config = subgraph_config(url, vec![entry("Order", 1, 1, 1)]);
    let schema =
        fraiseql_engine::schema::load_schema(ENTITY_SDL, "schema.graphql").expect("schema");
    let running = fraiseql_server::spawn(config, schema, support::local())
        .await
        .expect("starts");
    running.stop().await.expect("stops");
}
