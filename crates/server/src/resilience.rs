//! Per-database resilience, around every database call `execute` makes: the call runs under
//! its database's deadline (`[federation] database_timeouts` / `default_timeout`), a read
//! that failed for a passing reason is tried again (`[federation.retry]`), and each
//! database has a circuit breaker (`[federation.circuit_breaker]`, state machine in
//! `resilience/breaker.rs`) that refuses calls at once, without touching the pool, while the
//! database keeps failing. In an Apollo Federation subgraph an entity may have a breaker of
//! its own for its `_entities` reads (`resilience/entities.rs`).
//!
//! Sits between execution and the drivers: `execute.rs` hands a call to
//! [`Resilience::read`] (or [`Resilience::read_as`] for an entity's read) or
//! [`Resilience::write`] and gets the driver's `Result` back, a refusal being a
//! [`DbErrorKind::CircuitOpen`] error. Each attempt that reaches a database is counted in
//! `fraiseql_database_queries_total`; each change of a circuit's state is set in
//! `fraiseql_federation_circuit_breaker_state` and logged.
//!
//! Order of the layers: the breaker is outside the retries (one admitted call, however many
//! attempts, is one verdict, so `failure_threshold` counts failed requests, not attempts),
//! and the deadline is inside them (each attempt gets the whole deadline). A call whose
//! deadline passes is dropped, which cancels its statement on the server (see `db/mod.rs`).

mod breaker;
mod entities;

use crate::db::{DbError, DbErrorKind};
use crate::metrics::Metrics;
use breaker::{Breaker, CircuitState, Health, Pass};
pub(crate) use entities::check_entries;
use entities::Entities;
use fraiseql_engine::config::{FederationConfig, RetryPolicy};
use fraiseql_engine::error::{ErrorCode, GraphQLError, PathSegment};
use fraiseql_engine::plan::{Plan, Root, RootAction};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

tokio::task_local! {
    /// When the request being served must be answered: retries never sleep past it.
    static REQUEST_DEADLINE: Instant;
}

/// Runs `work` (a request) with `deadline` as its deadline, for the retries inside it.
/// Calls made on other tasks (`tokio::spawn`) do not see it.
pub(crate) fn with_deadline<F: Future>(
    deadline: Instant,
    work: F,
) -> impl Future<Output = F::Output> {
    // Boxed (see [`Resilience::write`]).
    REQUEST_DEADLINE.scope(deadline, Box::pin(work))
}

fn request_deadline() -> Option<Instant> {
    REQUEST_DEADLINE.try_with(|d| *d).ok()
}

/// A call's error, as the resilience layer needs to see it: the database's error, if that is
/// what it is (a mutation's own failure status is not one).
pub(crate) trait CallError: From<DbError> {
    fn db_error(&self) -> Option<&DbError>;
}

impl CallError for DbError {
    fn db_error(&self) -> Option<&DbError> {
        Some(self)
    }
}

/// Whose circuit breaker a call passes, and the label of its series in the gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Circuit<'a> {
    /// A configured database's: every call to it but the reads below.
    Database(&'a str),
    /// An entity's own: the `_entities` reads of that type, when it has one.
    Entity(&'a str),
}

/// The deadline, retries and breaker of every configured database, and the breakers of the
/// entities that have their own.
pub(crate) struct Resilience {
    databases: HashMap<String, Guard>,
    entities: Entities,
    /// For a database without a guard (none configured under that name).
    retry: RetryPolicy,
    metrics: Metrics,
}

/// One database's deadline, retries and breaker.
struct Guard {
    timeout: Option<Duration>,
    retry: RetryPolicy,
    breaker: Option<Mutex<Breaker>>,
}

impl Resilience {
    /// The policies of `databases` (configured names) from `[federation]`, and the breakers
    /// of `entities` (a subgraph's entity types with their databases; none elsewhere) that
    /// have an entry of their own; every circuit starts closed, and says so in the gauge.
    pub(crate) fn new<'a>(
        config: &FederationConfig,
        databases: impl IntoIterator<Item = &'a str>,
        entities: impl IntoIterator<Item = (&'a str, &'a str)>,
        metrics: Metrics,
    ) -> Self {
        let databases: HashMap<String, Guard> = databases
            .into_iter()
            .map(|name| {
                let policy = config.policy(name);
                if policy.breaker.is_some() {
                    let closed = CircuitState::Closed.gauge();
                    metrics.set_circuit_state(Circuit::Database(name), closed);
                }
                let guard = Guard {
                    timeout: policy.timeout,
                    retry: policy.retry,
                    breaker: policy.breaker.map(|s| Mutex::new(Breaker::new(s))),
                };
                (name.to_owned(), guard)
            })
            .collect();
        let entities = Entities::new(config, &databases, entities, &metrics);
        Self {
            databases,
            entities,
            retry: config.policy("").retry,
            metrics,
        }
    }

    /// A read on `database`: refused at once while its circuit is open; else `call` runs
    /// under the database's deadline, again (after a backoff) while it fails with a passing
    /// error and attempts and the request deadline allow.
    pub(crate) async fn read<T, F, Fut>(&self, database: &str, call: F) -> Result<T, DbError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, DbError>>,
    {
        self.read_as(database, None, call).await
    }

    /// A read on `database` for `entity`'s `_entities` rows ([`Resilience::own_breaker`]),
    /// or for anything else with `None`: as [`Resilience::read`], with the entity's breaker
    /// in place of the database's when it has one (the deadline and retries stay the
    /// database's).
    pub(crate) async fn read_as<T, F, Fut>(
        &self,
        database: &str,
        entity: Option<&str>,
        mut call: F,
    ) -> Result<T, DbError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, DbError>>,
    {
        let guard = self.databases.get(database);
        let ticket = self.admit(self.guarding(database, guard, entity))?;
        let timeout = guard.and_then(|g| g.timeout);
        let retry = guard.map_or(self.retry, |g| g.retry);
        let mut attempt = 1;
        let result = loop {
            // Boxed at once (see [`Resilience::write`]).
            let result = self.attempt(database, timeout, Box::pin(call())).await;
            let Err(e) = &result else { break result };
            if !transient(e.kind) || attempt >= retry.max_attempts {
                break result;
            }
            let delay = jittered(retry.delay(attempt));
            // Sleeping into the deadline would only trade this error for a 504.
            if request_deadline().is_some_and(|d| Instant::now() + delay >= d) {
                break result;
            }
            tracing::debug!(
                database,
                attempt,
                kind = ?e.kind,
                delay_ms = delay.as_millis() as u64,
                "retrying a read"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        };
        ticket.finish(&result);
        result
    }

    /// A write (a mutation's transaction) on `database`: refused at once while its circuit
    /// is open, else run once under the database's deadline. Never retried: it may have
    /// been applied even when its answer was lost.
    ///
    /// Not an `async fn`: that would keep `call` in its future beside the boxed copy it
    /// awaits. A driver's call is a large future, and in unoptimised builds every layer
    /// that holds one by value adds its size to a worker's stack when polled (enough to
    /// overflow it); boxed here, each layer above holds a pointer.
    pub(crate) fn write<'a, T, E: CallError>(
        &'a self,
        database: &'a str,
        call: impl Future<Output = Result<T, E>> + 'a,
    ) -> impl Future<Output = Result<T, E>> + 'a {
        let call = Box::pin(call);
        async move {
            let guard = self.databases.get(database);
            let ticket = self.admit(self.guarding(database, guard, None))?;
            let result = self
                .attempt(database, guard.and_then(|g| g.timeout), call)
                .await;
            ticket.finish(&result);
            result
        }
    }

    /// The state of `database`'s circuit (`/health`); `None` without a breaker.
    pub(crate) fn circuit(&self, database: &str) -> Option<CircuitState> {
        let breaker = self.databases.get(database)?.breaker.as_ref()?;
        Some(lock(breaker).state())
    }

    /// The state of each entity's own circuit (`/health`), by entity name: the entity, the
    /// database its view is read from and the state. An entity whose reads its database's
    /// breaker guards, or none, is not listed.
    pub(crate) fn entity_circuits(&self) -> Vec<(&str, &str, CircuitState)> {
        self.entities
            .breakers()
            .into_iter()
            .map(|(entity, database, breaker)| (entity, database, lock(breaker).state()))
            .collect()
    }

    /// How long until `circuit` lets a call through (`None`: it does now, or there is none).
    fn retry_after(&self, circuit: Circuit<'_>) -> Option<Duration> {
        let breaker = match circuit {
            Circuit::Database(name) => self.databases.get(name)?.breaker.as_ref(),
            Circuit::Entity(name) => self.entities.breaker(name),
        }?;
        lock(breaker).retry_after(Instant::now())
    }

    /// The entity whose own breaker guards `root`: an `_entities` read (a hidden root) of a
    /// type with a breaker entry of its own. Such reads go in statements of their own
    /// (`execute.rs`), so that what fails there is only that entity's.
    pub(crate) fn own_breaker<'r>(&self, root: &'r Root) -> Option<&'r str> {
        self.entities.read_of(root)
    }

    /// Whether open circuits refused every read and write of `plan` (at least one was
    /// needed): then nothing reached a database, and the answer is HTTP 503 with a
    /// `Retry-After` of this many seconds (until the earliest of those circuits lets a call
    /// through, at least 1).
    ///
    /// `errors` are those of the roots, before `assemble_entities` moves the errors of
    /// `_entities`' hidden reads (one per entity type) to `_entities`: each of those reads
    /// counts on its own, as a root field does. So an `_entities` that asks for an entity
    /// whose circuit is open and one whose circuit is closed is answered (200, the rows of
    /// the second, `null` and `SERVICE_UNAVAILABLE` for the first), as a request for two root
    /// fields on two databases, one of them open, is.
    pub(crate) fn refused_all(&self, plan: &Plan, errors: &[GraphQLError]) -> Option<u64> {
        // `_entities` itself reads nothing: its hidden roots do.
        let needed: HashSet<&str> = plan
            .roots
            .iter()
            .filter(|r| matches!(r.action, RootAction::Fetch(_) | RootAction::Mutate(_)))
            .map(|r| r.key.as_str())
            .collect();
        let mut refused = HashSet::new();
        let mut earliest: Option<Duration> = None;
        for e in errors {
            // Errors of the root fields only: a nested field refused says nothing of its root.
            let (ErrorCode::ServiceUnavailable, [PathSegment::Key(key)], Some(db)) = (
                e.code(),
                e.path.as_slice(),
                e.extensions.database.as_deref(),
            ) else {
                continue;
            };
            refused.insert(key.as_str());
            let entity = plan
                .roots
                .iter()
                .find(|r| r.key == *key)
                .and_then(|r| self.own_breaker(r));
            let circuit = entity.map_or(Circuit::Database(db), Circuit::Entity);
            let wait = self.retry_after(circuit).unwrap_or(Duration::ZERO);
            earliest = Some(earliest.map_or(wait, |w| w.min(wait)));
        }
        if needed.is_empty() || !needed.is_subset(&refused) {
            return None;
        }
        // Whole seconds, rounded up: a client coming back earlier would be refused again.
        earliest.map(|w| (w.as_millis().div_ceil(1000) as u64).max(1))
    }

    /// The circuit a call on `database` (its `guard`) passes: `entity`'s own when it has
    /// one, else the database's; and its breaker, if any.
    fn guarding<'a>(
        &'a self,
        database: &'a str,
        guard: Option<&'a Guard>,
        entity: Option<&'a str>,
    ) -> (Circuit<'a>, Option<&'a Mutex<Breaker>>) {
        match entity.and_then(|e| self.entities.own(e)) {
            Some((name, breaker)) => (Circuit::Entity(name), breaker),
            None => (
                Circuit::Database(database),
                guard.and_then(|g| g.breaker.as_ref()),
            ),
        }
    }

    /// Asks the circuit's breaker for leave to call.
    fn admit<'a>(
        &'a self,
        (circuit, breaker): (Circuit<'a>, Option<&'a Mutex<Breaker>>),
    ) -> Result<Ticket<'a>, DbError> {
        let Some(breaker) = breaker else {
            return Ok(Ticket {
                breaker: None,
                circuit,
                layer: self,
            });
        };
        let mut b = lock(breaker);
        let before = b.state();
        let admitted = b.admit(Instant::now());
        self.publish(circuit, before, b.state());
        drop(b);
        match admitted {
            Ok(pass) => Ok(Ticket {
                breaker: Some((breaker, pass, request_deadline())),
                circuit,
                layer: self,
            }),
            Err(wait) => {
                tracing::debug!(
                    circuit = ?circuit,
                    retry_after_ms = wait.as_millis() as u64,
                    "circuit open: call refused"
                );
                let message = match circuit {
                    Circuit::Database(name) => format!("the circuit of database '{name}' is open"),
                    Circuit::Entity(name) => format!("the circuit of entity '{name}' is open"),
                };
                Err(DbError::new(DbErrorKind::CircuitOpen, message))
            }
        }
    }

    /// Sets the gauge and logs when a circuit changed state. A database's state is also the
    /// state of the entities whose reads its breaker guards.
    fn publish(&self, circuit: Circuit<'_>, before: CircuitState, after: CircuitState) {
        if before == after {
            return;
        }
        self.metrics.set_circuit_state(circuit, after.gauge());
        match circuit {
            Circuit::Database(database) => {
                for entity in self.entities.following(database) {
                    let series = Circuit::Entity(entity);
                    self.metrics.set_circuit_state(series, after.gauge());
                }
                match after {
                    CircuitState::Open => tracing::warn!(
                        database,
                        "circuit opened: calls to this database are refused"
                    ),
                    CircuitState::HalfOpen => {
                        tracing::info!(database, "circuit half-open: probing the database")
                    }
                    CircuitState::Closed => {
                        tracing::info!(database, "circuit closed: the database answers")
                    }
                }
            }
            Circuit::Entity(entity) => match after {
                CircuitState::Open => tracing::warn!(
                    entity,
                    "circuit opened: _entities reads of this entity are refused"
                ),
                CircuitState::HalfOpen => {
                    tracing::info!(entity, "circuit half-open: probing the entity's reads")
                }
                CircuitState::Closed => {
                    tracing::info!(entity, "circuit closed: the entity's reads answer")
                }
            },
        }
    }

    /// One attempt: under the deadline, timed and counted as a statement.
    async fn attempt<T, E: CallError, F: Future<Output = Result<T, E>>>(
        &self,
        database: &str,
        timeout: Option<Duration>,
        call: Pin<Box<F>>,
    ) -> Result<T, E> {
        let start = Instant::now();
        let result = match timeout {
            None => call.await,
            // Dropping the call's future at the deadline cancels its statement on the server.
            Some(limit) => tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
                Err(E::from(DbError::new(
                    DbErrorKind::Timeout,
                    format!(
                        "no answer within {} ms ([federation] timeout of this database)",
                        limit.as_millis()
                    ),
                )))
            }),
        };
        let failed = result
            .as_ref()
            .err()
            .and_then(CallError::db_error)
            .is_some();
        self.metrics
            .observe_db(database, !failed, start.elapsed().as_secs_f64());
        result
    }
}

/// A call admitted by its breaker: its outcome is recorded when it finishes, or, when its
/// future is dropped first, on the drop.
struct Ticket<'a> {
    /// The breaker, the pass and the request's deadline; `None` without a breaker.
    breaker: Option<(&'a Mutex<Breaker>, Pass, Option<Instant>)>,
    circuit: Circuit<'a>,
    layer: &'a Resilience,
}

impl Ticket<'_> {
    fn finish<T, E: CallError>(mut self, result: &Result<T, E>) {
        let health = match result.as_ref().err().and_then(CallError::db_error) {
            Some(e) if unhealthy(self.circuit, e.kind) => Health::Unhealthy,
            _ => Health::Answered,
        };
        self.record(health);
    }

    fn record(&mut self, health: Health) {
        let Some((breaker, pass, _)) = self.breaker.take() else {
            return;
        };
        let mut b = lock(breaker);
        let before = b.state();
        b.record(pass, health, Instant::now());
        self.layer.publish(self.circuit, before, b.state());
    }
}

/// Whether an error of a call says the circuit's side is failing. A database is unhealthy
/// when it cannot be reached or does not answer in time; a statement it refuses is an
/// answer (it is up). An entity's read is a statement the engine wrote from the schema, so
/// its view refusing it (missing, raising an error, broken: `Other`, `Raised`) is the
/// entity failing too; a value of the request its column cannot hold (`InvalidInput`) is
/// the caller's mistake, and transient conflicts are nobody's.
fn unhealthy(circuit: Circuit<'_>, kind: DbErrorKind) -> bool {
    match kind {
        DbErrorKind::Unavailable | DbErrorKind::Timeout => true,
        DbErrorKind::Other | DbErrorKind::Raised => matches!(circuit, Circuit::Entity(_)),
        _ => false,
    }
}

impl Drop for Ticket<'_> {
    /// Dropped unfinished: the request ended first. At its deadline the database did not
    /// answer in time, which counts like a timeout (so a database that hangs opens its
    /// circuit even without a `[federation]` timeout); before it, the client went away,
    /// which says nothing about the database.
    fn drop(&mut self) {
        let Some((_, _, deadline)) = self.breaker else {
            return;
        };
        let health = if deadline.is_some_and(|d| Instant::now() >= d) {
            Health::Unhealthy
        } else {
            Health::Unknown
        };
        self.record(health);
    }
}

/// A poisoned lock only means a panic between two whole updates of the state.
fn lock(breaker: &Mutex<Breaker>) -> std::sync::MutexGuard<'_, Breaker> {
    breaker.lock().unwrap_or_else(|e| e.into_inner())
}

/// Errors a second attempt may not meet: the connection was refused or lost, or the
/// database gave up on the transaction to let another through. Never a timeout (waiting as
/// long again helps nobody) nor anything the statement itself caused.
fn transient(kind: DbErrorKind) -> bool {
    matches!(
        kind,
        DbErrorKind::Unavailable | DbErrorKind::Serialization | DbErrorKind::Deadlock
    )
}

/// A delay drawn between half of `delay` and all of it, so that clients failing together do
/// not retry together.
fn jittered(delay: Duration) -> Duration {
    let half = delay / 2;
    half + half.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests;
