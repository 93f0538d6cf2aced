//! The layer's rules with calls that fail on cue, on tokio's paused clock (sleeps and
//! deadlines take no real time): which errors are retried, that writes never are, that no
//! retry sleeps past the request deadline, that a deadline abandons the call, and how the
//! breaker sees it all. The same rules against real databases are in
//! `crates/server/tests/resilience.rs`.

use super::*;
use fraiseql_engine::config::{CircuitBreakerConfig, Millis, RetryConfig};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

fn layer(breaker: CircuitBreakerConfig, timeout: Option<u64>) -> Resilience {
    let config = FederationConfig {
        default_timeout: timeout.map(Millis),
        retry: RetryConfig {
            max_attempts: 3,
            initial_delay_ms: Millis(100),
            max_delay_ms: Millis(1000),
            ..RetryConfig::default()
        },
        circuit_breaker: breaker,
        ..FederationConfig::default()
    };
    Resilience::new(
        &config,
        ["db"],
        NO_ENTITIES,
        Metrics::new().expect("metrics"),
    )
}

/// Not a subgraph.
const NO_ENTITIES: [(&str, &str); 0] = [];

fn no_breaker() -> CircuitBreakerConfig {
    CircuitBreakerConfig {
        enabled: false,
        ..CircuitBreakerConfig::default()
    }
}

fn fail(kind: DbErrorKind) -> Result<u32, DbError> {
    Err(DbError::new(kind, "on cue"))
}

/// A read whose first `failures` attempts fail with `kind`; the attempts it took.
async fn read_failing(
    r: &Resilience,
    failures: u32,
    kind: DbErrorKind,
) -> (Result<u32, DbError>, u32) {
    let calls = AtomicU32::new(0);
    let result = r
        .read("db", || async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            if n <= failures {
                fail(kind)
            } else {
                Ok(n)
            }
        })
        .await;
    (result, calls.load(Ordering::SeqCst))
}

/// `[federation.retry.per_database.<name>]` keys replace the `[federation.retry]` ones for
/// that database only.
#[tokio::test(start_paused = true)]
async fn a_database_can_have_retries_of_its_own() {
    let mut config = FederationConfig {
        circuit_breaker: no_breaker(),
        ..FederationConfig::default()
    };
    config.retry.max_attempts = 3;
    let own = fraiseql_engine::config::DatabaseRetryConfig {
        max_attempts: Some(1),
        backoff: None,
        initial_delay_ms: None,
        max_delay_ms: None,
    };
    config.retry.per_database.insert("db".into(), own);
    let metrics = Metrics::new().expect("metrics");
    let r = Resilience::new(&config, ["db", "other"], NO_ENTITIES, metrics);
    let (result, calls) = read_failing(&r, 1, DbErrorKind::Unavailable).await;
    assert_eq!((result.is_err(), calls), (true, 1), "no retry on `db`");
    let calls = AtomicU32::new(0);
    let other = r
        .read("other", || async {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                fail(DbErrorKind::Unavailable)
            } else {
                Ok(2)
            }
        })
        .await;
    assert_eq!(other.ok(), Some(2), "`other` keeps [federation.retry]");
}

#[tokio::test(start_paused = true)]
async fn passing_errors_are_retried_until_an_attempt_answers() {
    let r = layer(no_breaker(), None);
    for kind in [
        DbErrorKind::Unavailable,
        DbErrorKind::Serialization,
        DbErrorKind::Deadlock,
    ] {
        let started = Instant::now();
        let (result, calls) = read_failing(&r, 2, kind).await;
        assert_eq!((result.ok(), calls), (Some(3), 3), "{kind:?}");
        // Two backoffs: 50..100 ms, then 100..200 ms.
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(150) && waited <= Duration::from_millis(300),
            "{waited:?}"
        );
    }
    let (result, calls) = read_failing(&r, 5, DbErrorKind::Unavailable).await;
    assert_eq!(
        (result.map_err(|e| e.kind), calls),
        (Err(DbErrorKind::Unavailable), 3),
        "max_attempts in all"
    );
}

#[tokio::test(start_paused = true)]
async fn other_errors_are_never_retried() {
    let r = layer(no_breaker(), None);
    for kind in [
        DbErrorKind::Timeout,
        DbErrorKind::InvalidInput,
        DbErrorKind::UniqueViolation,
        DbErrorKind::Raised,
        DbErrorKind::Other,
    ] {
        let (result, calls) = read_failing(&r, 1, kind).await;
        assert_eq!((result.map_err(|e| e.kind), calls), (Err(kind), 1));
    }
}

#[tokio::test(start_paused = true)]
async fn writes_are_never_retried() {
    let r = layer(no_breaker(), None);
    let calls = AtomicU32::new(0);
    let result = r
        .write("db", async {
            calls.fetch_add(1, Ordering::SeqCst);
            fail(DbErrorKind::Unavailable)
        })
        .await;
    assert_eq!(result.map_err(|e| e.kind), Err(DbErrorKind::Unavailable));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn no_retry_sleeps_past_the_request_deadline() {
    let r = layer(no_breaker(), None);
    let started = Instant::now();
    // The first backoff (50..100 ms) would end after the deadline: the error comes at once.
    let (result, calls) = with_deadline(
        started + Duration::from_millis(40),
        read_failing(&r, 1, DbErrorKind::Unavailable),
    )
    .await;
    assert_eq!(
        (result.map_err(|e| e.kind), calls),
        (Err(DbErrorKind::Unavailable), 1)
    );
    assert_eq!(started.elapsed(), Duration::ZERO);
    // With room for it, the retry happens.
    let (result, calls) = with_deadline(
        Instant::now() + Duration::from_secs(1),
        read_failing(&r, 1, DbErrorKind::Unavailable),
    )
    .await;
    assert_eq!((result.ok(), calls), (Some(2), 2));
}

#[tokio::test(start_paused = true)]
async fn a_call_past_its_database_deadline_is_dropped_as_a_timeout() {
    let r = layer(no_breaker(), Some(250));
    let dropped = Arc::new(AtomicU32::new(0));
    struct CountDrop(Arc<AtomicU32>);
    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let started = Instant::now();
    let calls = AtomicU32::new(0);
    let result: Result<u32, DbError> = r
        .read("db", || {
            calls.fetch_add(1, Ordering::SeqCst);
            let guard = CountDrop(dropped.clone());
            async move {
                tokio::time::sleep(Duration::from_secs(60)).await;
                drop(guard);
                Ok(1)
            }
        })
        .await;
    assert_eq!(result.map_err(|e| e.kind), Err(DbErrorKind::Timeout));
    assert_eq!(started.elapsed(), Duration::from_millis(250));
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "the call was dropped");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a timeout is not retried");
}

fn breaker(failures: u32) -> CircuitBreakerConfig {
    CircuitBreakerConfig {
        failure_threshold: failures,
        recovery_timeout_secs: 5,
        success_threshold: 1,
        ..CircuitBreakerConfig::default()
    }
}

fn gauge(r: &Resilience) -> String {
    let text = r.metrics.render(&Default::default());
    text.lines()
        .find(|l| l.starts_with("fraiseql_federation_circuit_breaker_state{database=\"db\"}"))
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(start_paused = true)]
async fn unhealthy_calls_open_the_circuit_and_refusals_never_call() {
    let r = layer(breaker(2), None);
    assert!(gauge(&r).ends_with(" 0"), "{}", gauge(&r));
    // Refused statements are answers: the database is up.
    for _ in 0..3 {
        let _ = read_failing(&r, 1, DbErrorKind::UniqueViolation).await;
    }
    assert_eq!(r.retry_after(Circuit::Database("db")), None);
    // One request, three failed attempts: one failure for the breaker.
    let _ = read_failing(&r, 9, DbErrorKind::Unavailable).await;
    assert_eq!(r.retry_after(Circuit::Database("db")), None);
    let _ = read_failing(&r, 9, DbErrorKind::Unavailable).await;
    assert_eq!(
        r.retry_after(Circuit::Database("db")),
        Some(Duration::from_secs(5))
    );
    assert!(gauge(&r).ends_with(" 1"), "{}", gauge(&r));

    let (result, calls) = read_failing(&r, 0, DbErrorKind::Unavailable).await;
    assert_eq!(
        (result.map_err(|e| e.kind), calls),
        (Err(DbErrorKind::CircuitOpen), 0)
    );
    let calls = AtomicU32::new(0);
    let write = r
        .write("db", async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, DbError>(())
        })
        .await;
    assert_eq!(write.map_err(|e| e.kind), Err(DbErrorKind::CircuitOpen));
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    tokio::time::advance(Duration::from_secs(5)).await;
    let (result, calls) = read_failing(&r, 0, DbErrorKind::Unavailable).await;
    assert_eq!((result.ok(), calls), (Some(1), 1), "the probe");
    assert!(gauge(&r).ends_with(" 0"), "{}", gauge(&r));
}

#[tokio::test(start_paused = true)]
async fn a_call_dropped_at_the_request_deadline_counts_as_unhealthy() {
    let r = layer(breaker(1), None);
    let hang = || async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<_, DbError>(())
    };
    // The client goes away: no verdict.
    let gone = tokio::time::timeout(Duration::from_millis(10), r.read("db", hang)).await;
    assert!(gone.is_err());
    assert_eq!(r.retry_after(Circuit::Database("db")), None);
    // The request deadline passes: the database did not answer in time.
    let ends = Instant::now() + Duration::from_millis(10);
    let late = tokio::time::timeout_at(ends, with_deadline(ends, r.read("db", hang))).await;
    assert!(late.is_err());
    assert_eq!(
        r.retry_after(Circuit::Database("db")),
        Some(Duration::from_secs(5))
    );
}

#[tokio::test(start_paused = true)]
async fn every_root_refused_is_a_503_after_the_earliest_probe() {
    use fraiseql_engine::plan::{Fetch, Root, Selection, Shape};
    let r = layer(breaker(1), None);
    let root = |key: &str, action| Root {
        key: key.into(),
        action,
    };
    let read = |key: &str| {
        let fetch = Fetch {
            field: key.into(),
            database: "db".into(),
            view: "v".into(),
            shape: Shape::One(Selection {
                type_name: "T".into(),
                items: Vec::new(),
            }),
            filter: None,
            order: Vec::new(),
            entity: None,
        };
        root(key, RootAction::Fetch(fetch))
    };
    let plan = |roots| Plan {
        kind: fraiseql_engine::request::OperationKind::Query,
        roots,
        steps: Vec::new(),
    };
    let refused = |key: &str| {
        GraphQLError::new(ErrorCode::ServiceUnavailable, "circuit open")
            .database("db")
            .at(vec![PathSegment::Key(key.into())])
    };
    let typename = root("__typename", RootAction::Typename("Query".into()));
    let introspection = root("__schema", RootAction::Introspection);
    assert_eq!(
        r.refused_all(&plan(vec![typename.clone()]), &[]),
        None,
        "no database root"
    );

    let _ = read_failing(&r, 9, DbErrorKind::Unavailable).await;
    tokio::time::advance(Duration::from_millis(1500)).await;
    let p = plan(vec![typename, introspection, read("a"), read("b")]);
    // 3.5 s until the probe: come back in 4.
    assert_eq!(r.refused_all(&p, &[refused("a"), refused("b")]), Some(4));
    assert_eq!(
        r.refused_all(&p, &[refused("a")]),
        None,
        "b reached its database"
    );
    let nested = refused("a").at(vec![
        PathSegment::Key("a".into()),
        PathSegment::Key("x".into()),
    ]);
    assert_eq!(
        r.refused_all(&p, &[nested, refused("b")]),
        None,
        "a answered"
    );
}

/// A subgraph of two entities on `primary`: `Order` with a breaker of its own (2 failures,
/// 5 s, 1 success), `Customer` behind the database's (3 failures); no retries.
fn subgraph() -> (Resilience, Arc<fraiseql_engine::request::ApiSchema>) {
    subgraph_with(None)
}

/// [`subgraph`], Order's entry saying `enabled = order_enabled`.
fn subgraph_with(
    order_enabled: Option<bool>,
) -> (Resilience, Arc<fraiseql_engine::request::ApiSchema>) {
    let sdl = r#"
type Order @key(fields: "id") { id: ID! total: Int }
type Customer @key(fields: "id") { id: ID! name: String }
type Query { orders: [Order!]! customers: [Customer!]! }
"#;
    let mut config = fraiseql_engine::config::Config::default();
    config.federation.enabled = true;
    config.federation.retry.max_attempts = 1;
    config.federation.circuit_breaker.failure_threshold = 3;
    config.federation.circuit_breaker.recovery_timeout_secs = 5;
    config.federation.circuit_breaker.success_threshold = 1;
    config.federation.circuit_breaker.per_database.push(
        fraiseql_engine::config::DatabaseBreakerConfig {
            database: "Order".into(),
            enabled: order_enabled,
            failure_threshold: Some(2),
            recovery_timeout_secs: None,
            success_threshold: None,
        },
    );
    let schema = fraiseql_engine::schema::load_schema(sdl, "schema.graphql").expect("schema");
    let api = fraiseql_engine::request::ApiSchema::for_config(schema, &config).expect("api");
    let entities = [("Order", "primary"), ("Customer", "primary")];
    let metrics = Metrics::new().expect("metrics");
    let r = Resilience::new(&config.federation, ["primary"], entities, metrics);
    (r, Arc::new(api))
}

/// The plan of `_entities` for `representations`.
fn entities_plan(
    api: &fraiseql_engine::request::ApiSchema,
    representations: serde_json::Value,
) -> Plan {
    let query = "query($r: [_Any!]!) { _entities(representations: $r) { __typename \
                 ... on Order { total } ... on Customer { name } } }";
    let prepared = fraiseql_engine::request::prepare(api, query, None).expect("prepares");
    let mut variables = serde_json::Map::new();
    variables.insert("r".into(), representations);
    let caller = fraiseql_engine::authorize::Caller::ANONYMOUS;
    fraiseql_engine::plan::plan(api, &prepared, &variables, &caller).expect("plans")
}

/// The gauge's sample of `series` (`database="primary"`, `entity="Order"`).
fn state_of(r: &Resilience, series: &str) -> String {
    let text = r.metrics.render(&Default::default());
    let prefix = format!("fraiseql_federation_circuit_breaker_state{{{series}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or("absent")
        .to_string()
}

/// A read as `entity` (`None`: the database's) that fails with `kind`, or answers.
async fn entity_read(
    r: &Resilience,
    entity: Option<&str>,
    kind: Option<DbErrorKind>,
) -> Result<u32, DbErrorKind> {
    r.read_as("primary", entity, || async {
        match kind {
            Some(kind) => fail(kind),
            None => Ok(1),
        }
    })
    .await
    .map_err(|e| e.kind)
}

#[tokio::test(start_paused = true)]
async fn an_entity_with_a_breaker_of_its_own_opens_and_closes_alone() {
    let (r, _) = subgraph();
    let states = || {
        [
            "database=\"primary\"",
            "entity=\"Order\"",
            "entity=\"Customer\"",
        ]
        .map(|series| state_of(&r, series))
    };
    assert_eq!(states(), ["0", "0", "0"]);
    let order = |state| vec![("Order", "primary", state)];
    assert_eq!(r.entity_circuits(), order(CircuitState::Closed), "/health");

    // The database opens: Customer's reads with it, Order's own breaker lets its reads by.
    for _ in 0..3 {
        let _ = entity_read(&r, None, Some(DbErrorKind::Unavailable)).await;
    }
    assert_eq!(states(), ["1", "0", "1"], "Customer follows its database");
    let open = Err(DbErrorKind::CircuitOpen);
    assert_eq!(entity_read(&r, Some("Customer"), None).await, open);
    assert_eq!(entity_read(&r, Some("Order"), None).await, Ok(1));
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(entity_read(&r, None, None).await, Ok(1), "the probe");
    assert_eq!(states(), ["0", "0", "0"]);

    // A view that fails opens the entity's circuit, never the database's: for the database
    // a refused statement is an answer, for the entity a broken read. A value its column
    // cannot hold is the caller's mistake.
    for kind in [DbErrorKind::Other, DbErrorKind::Raised, DbErrorKind::Other] {
        let _ = entity_read(&r, None, Some(kind)).await;
    }
    let _ = entity_read(&r, Some("Order"), Some(DbErrorKind::InvalidInput)).await;
    let _ = entity_read(&r, Some("Order"), Some(DbErrorKind::Other)).await;
    assert_eq!(states(), ["0", "0", "0"], "one failure of two");
    let _ = entity_read(&r, Some("Order"), Some(DbErrorKind::Raised)).await;
    assert_eq!(states(), ["0", "1", "0"]);
    assert_eq!(r.entity_circuits(), order(CircuitState::Open));
    assert_eq!(entity_read(&r, Some("Order"), None).await, open);
    assert_eq!(entity_read(&r, Some("Customer"), None).await, Ok(1));
    assert_eq!(entity_read(&r, None, None).await, Ok(1));

    // Half-open after its recovery time (inherited, 5 s); one success (inherited) closes it.
    tokio::time::advance(Duration::from_secs(5)).await;
    let probe = r.read_as("primary", Some("Order"), || async {
        assert_eq!(
            state_of(&r, "entity=\"Order\""),
            "2",
            "half-open while probing"
        );
        Ok::<_, DbError>(1)
    });
    assert_eq!(probe.await.ok(), Some(1));
    assert_eq!(states(), ["0", "0", "0"]);
    assert_eq!(r.entity_circuits(), order(CircuitState::Closed));
}

/// `enabled = false` in an entity's entry: no breaker guards its reads, neither its own
/// nor its database's, so no failure of any kind refuses them or opens anything; it has no
/// series and `/health` lists no circuit of it.
#[tokio::test(start_paused = true)]
async fn an_entity_whose_entry_disables_its_breaker_is_unguarded() {
    let (r, _) = subgraph_with(Some(false));
    let states = || {
        [
            "database=\"primary\"",
            "entity=\"Order\"",
            "entity=\"Customer\"",
        ]
        .map(|series| state_of(&r, series))
    };
    assert_eq!(states(), ["0", "absent", "0"]);
    assert!(r.entity_circuits().is_empty());
    for kind in [
        DbErrorKind::Unavailable,
        DbErrorKind::Timeout,
        DbErrorKind::Other,
        DbErrorKind::Raised,
    ] {
        for _ in 0..3 {
            assert_eq!(entity_read(&r, Some("Order"), Some(kind)).await, Err(kind));
        }
    }
    assert_eq!(states(), ["0", "absent", "0"], "nothing opened");

    // The database's circuit open (Customer's with it), Order's reads still go through.
    for _ in 0..3 {
        let _ = entity_read(&r, None, Some(DbErrorKind::Unavailable)).await;
    }
    assert_eq!(states(), ["1", "absent", "1"]);
    assert_eq!(
        entity_read(&r, Some("Customer"), None).await,
        Err(DbErrorKind::CircuitOpen)
    );
    assert_eq!(entity_read(&r, Some("Order"), None).await, Ok(1));
}

#[tokio::test(start_paused = true)]
async fn an_entities_read_refused_alone_is_a_503_and_beside_an_answer_is_not() {
    let (r, api) = subgraph();
    let order = serde_json::json!({ "__typename": "Order", "id": "o1" });
    let customer = serde_json::json!({ "__typename": "Customer", "id": "c1" });
    let both = entities_plan(&api, serde_json::json!([order, customer]));
    let keys: Vec<&str> = both.roots.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["_entities", "_entities#0", "_entities#1"]);
    let owners: Vec<Option<&str>> = both.roots.iter().map(|root| r.own_breaker(root)).collect();
    assert_eq!(
        owners,
        [None, Some("Order"), None],
        "Customer has no breaker of its own"
    );

    for _ in 0..2 {
        let _ = entity_read(&r, Some("Order"), Some(DbErrorKind::Other)).await;
    }
    tokio::time::advance(Duration::from_millis(1500)).await;
    let refused = |key: &str| {
        GraphQLError::new(ErrorCode::ServiceUnavailable, "circuit open")
            .database("primary")
            .at(vec![PathSegment::Key(key.into())])
    };
    // Order refused, Customer read: answered with what was read.
    assert_eq!(r.refused_all(&both, &[refused("_entities#0")]), None);
    // Order alone: nothing reached a database; Order's circuit probes in 3.5 s.
    let alone = entities_plan(&api, serde_json::json!([order]));
    assert_eq!(r.refused_all(&alone, &[refused("_entities#0")]), Some(4));
    // No representation reads nothing: never a 503.
    let none = entities_plan(&api, serde_json::json!([]));
    assert_eq!(r.refused_all(&none, &[]), None);
}
