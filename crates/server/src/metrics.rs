//! Prometheus metrics served at `/metrics`. Each server owns its registry (several servers
//! can run in one test process). HTTP metrics are recorded by the request middleware,
//! GraphQL and database ones by execution; pool gauges are refreshed when scraped.
//!
//! Every label value comes from a closed set (method names, status codes, error codes,
//! operation kinds, configured database names, the subgraph's entity types,
//! connection-drop reasons), never from request
//! text: each new value is a new series, so a client inventing values could grow `/metrics`
//! and the server's memory without bound. The one open set, tenant ids (`[multi_tenancy]`),
//! is capped: the first `max_tenant_labels` tenants seen are named, the rest are `other`.

mod circuits;

use crate::db::{Database, ReadObserver, Role};
use crate::resilience::Circuit;
use axum::http::{Method, StatusCode};
use circuits::CircuitStates;
use indexmap::IndexMap;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::sync::Arc;

/// The event metrics.
#[derive(Clone)]
struct EventMetrics {
    published: IntCounterVec,
    publish_failed: IntCounterVec,
    outbox_depth: IntGaugeVec,
    outbox_lag: IntGaugeVec,
    processed: IntCounterVec,
    consumer_lag: IntGaugeVec,
    handler_failed: IntCounterVec,
    dead_lettered: IntCounterVec,
}

/// Every metric the server exports.
#[derive(Clone)]
pub(crate) struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    operations: IntCounterVec,
    errors: IntCounterVec,
    db_queries: IntCounterVec,
    db_duration: HistogramVec,
    db_reads: IntCounterVec,
    pool_size: IntGaugeVec,
    pool_idle: IntGaugeVec,
    replica_up: IntGaugeVec,
    replica_pool_size: IntGaugeVec,
    replica_pool_idle: IntGaugeVec,
    circuit_state: CircuitStates,
    in_flight: IntGauge,
    /// Events (`[observers]`); labels are configured database, subject and consumer names.
    events: EventMetrics,
    /// Client connections, counted by the listener.
    pub(crate) connections: ConnectionMetrics,
    /// GraphQL subscriptions over WebSocket.
    pub(crate) subscriptions: SubscriptionMetrics,
    /// Requests per tenant (`[multi_tenancy]`).
    pub(crate) tenants: TenantMetrics,
}

/// Per-tenant series, their tenant labels capped.
#[derive(Clone)]
pub(crate) struct TenantMetrics {
    requests: IntCounterVec,
    latency: HistogramVec,
    errors: IntCounterVec,
    /// Tenant databases open now (`database_per_tenant`), set when scraped.
    pub(crate) pools: IntGauge,
    /// The tenants named in labels so far, and how many may be.
    named: Arc<std::sync::Mutex<(std::collections::HashSet<String>, usize)>>,
}

impl TenantMetrics {
    /// At most `max` tenants get series of their own.
    pub(crate) fn cap(&self, max: usize) {
        self.named.lock().unwrap_or_else(|e| e.into_inner()).1 = max;
    }

    /// `tenant`'s label: itself while there is room, else `other`.
    fn label(&self, tenant: &str) -> String {
        let mut named = self.named.lock().unwrap_or_else(|e| e.into_inner());
        let (seen, max) = &mut *named;
        if seen.contains(tenant) || (seen.len() < *max && seen.insert(tenant.to_owned())) {
            tenant.to_owned()
        } else {
            "other".to_owned()
        }
    }

    /// One request of `tenant` to `endpoint`: its operation kind, latency and the code of
    /// its first error, if any.
    pub(crate) fn observe(
        &self,
        tenant: &str,
        endpoint: &'static str,
        operation: &'static str,
        seconds: f64,
        error: Option<&'static str>,
    ) {
        let tenant = self.label(tenant);
        self.requests.with_label_values(&[&tenant, endpoint]).inc();
        self.latency
            .with_label_values(&[&tenant, operation])
            .observe(seconds);
        if let Some(code) = error {
            self.errors.with_label_values(&[&tenant, code]).inc();
        }
    }
}

/// WebSocket connections and what they were sent. Labels come from closed sets.
#[derive(Clone)]
pub(crate) struct SubscriptionMetrics {
    /// WebSocket connections open now.
    pub(crate) connections: IntGauge,
    /// Subscriptions registered now.
    pub(crate) active: IntGauge,
    /// Event messages (`next`) queued for clients.
    pub(crate) pushed: IntCounter,
    /// Events not delivered, by reason (`slow_consumer`, `no_key`).
    pub(crate) dropped: IntCounterVec,
    /// Connections refused or closed by a limit, by reason.
    pub(crate) refused: IntCounterVec,
    /// From the event's commit (`ce-time`) to its message being queued for the client.
    pub(crate) latency: prometheus::Histogram,
}

impl Metrics {
    /// Creates and registers the metrics; fails only on a duplicate or malformed name.
    pub(crate) fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, prometheus::Error>(c)
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            let h = HistogramVec::new(HistogramOpts::new(name, help), labels)?;
            registry.register(Box::new(h.clone()))?;
            Ok::<_, prometheus::Error>(h)
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(g.clone()))?;
            Ok::<_, prometheus::Error>(g)
        };
        let circuit_state = CircuitStates::new()?;
        registry.register(Box::new(circuit_state.clone()))?;
        let in_flight = IntGauge::new(
            "fraiseql_requests_in_flight",
            "HTTP requests being handled now",
        )?;
        registry.register(Box::new(in_flight.clone()))?;
        let open = IntGauge::new("fraiseql_connections_open", "Client connections open now")?;
        registry.register(Box::new(open.clone()))?;
        let closed = counter(
            "fraiseql_connections_closed_by_server_total",
            "Client connections the server closed itself, by reason",
            &["reason"],
        )?;
        let connections = ConnectionMetrics {
            open,
            over_limit: closed.with_label_values(&[ConnectionDrop::OverLimit.label()]),
            header_timeout: closed.with_label_values(&[ConnectionDrop::HeaderTimeout.label()]),
            idle_timeout: closed.with_label_values(&[ConnectionDrop::IdleTimeout.label()]),
        };
        let ws_open = IntGauge::new(
            "fraiseql_subscriptions_connections",
            "WebSocket (subscriptions) connections open now",
        )?;
        registry.register(Box::new(ws_open.clone()))?;
        let active = IntGauge::new(
            "fraiseql_subscriptions_active",
            "GraphQL subscriptions registered now",
        )?;
        registry.register(Box::new(active.clone()))?;
        let pushed = IntCounter::new(
            "fraiseql_subscriptions_events_total",
            "Subscription event messages queued for clients",
        )?;
        registry.register(Box::new(pushed.clone()))?;
        let latency = prometheus::Histogram::with_opts(
            HistogramOpts::new(
                "fraiseql_subscriptions_latency_seconds",
                "From an event's commit to its message being queued for a client",
            )
            .buckets(vec![
                0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
        )?;
        registry.register(Box::new(latency.clone()))?;
        let subscriptions = SubscriptionMetrics {
            connections: ws_open,
            active,
            pushed,
            dropped: counter(
                "fraiseql_subscriptions_dropped_total",
                "Subscription events not delivered, by reason",
                &["reason"],
            )?,
            refused: counter(
                "fraiseql_subscriptions_refused_total",
                "WebSocket connections refused or closed by a limit, by reason",
                &["reason"],
            )?,
            latency,
        };
        let tenants = TenantMetrics {
            requests: counter(
                "fraiseql_tenant_requests_total",
                "GraphQL requests per tenant and endpoint",
                &["tenant_id", "endpoint"],
            )?,
            latency: histogram(
                "fraiseql_tenant_latency_seconds",
                "GraphQL request latency per tenant and operation kind",
                &["tenant_id", "operation"],
            )?,
            errors: counter(
                "fraiseql_tenant_errors_total",
                "GraphQL requests that failed, per tenant and the code of their first error",
                &["tenant_id", "error_type"],
            )?,
            pools: {
                let g = IntGauge::new(
                    "fraiseql_tenant_pools_open",
                    "Tenant databases open now (database_per_tenant)",
                )?;
                registry.register(Box::new(g.clone()))?;
                g
            },
            named: Arc::default(),
        };
        Ok(Self {
            tenants,
            connections,
            subscriptions,
            http_requests: counter(
                "fraiseql_http_requests_total",
                "HTTP requests by method and status",
                &["method", "status"],
            )?,
            http_duration: histogram(
                "fraiseql_http_request_duration_seconds",
                "HTTP request latency",
                &["method"],
            )?,
            operations: counter(
                "fraiseql_graphql_operations_total",
                "GraphQL operations by kind and outcome",
                &["operation", "outcome"],
            )?,
            errors: counter(
                "fraiseql_graphql_errors_total",
                "GraphQL errors by extensions.code",
                &["code"],
            )?,
            db_queries: counter(
                "fraiseql_database_queries_total",
                "Statements sent to each database by outcome",
                &["database", "outcome"],
            )?,
            db_duration: histogram(
                "fraiseql_database_query_duration_seconds",
                "Statement latency per database",
                &["database"],
            )?,
            db_reads: counter(
                "fraiseql_database_reads_total",
                "Reads sent to each server of a database (role primary or replica; target \
                 primary, replica0, replica1, ...) by outcome; a read that fails over is \
                 counted on every server it tried",
                &["database", "role", "target", "outcome"],
            )?,
            replica_up: gauge(
                "fraiseql_database_replica_up",
                "1 while a read replica takes reads, 0 while it is down",
                &["database", "target"],
            )?,
            replica_pool_size: gauge(
                "fraiseql_database_replica_pool_size",
                "Open connections per read replica",
                &["database", "target"],
            )?,
            replica_pool_idle: gauge(
                "fraiseql_database_replica_pool_idle",
                "Idle connections per read replica",
                &["database", "target"],
            )?,
            pool_size: gauge(
                "fraiseql_database_pool_size",
                "Open connections per database (its primary)",
                &["database"],
            )?,
            pool_idle: gauge(
                "fraiseql_database_pool_idle",
                "Idle connections per database (its primary)",
                &["database"],
            )?,
            circuit_state,
            in_flight,
            events: EventMetrics {
                published: counter(
                    "fraiseql_events_published_total",
                    "Events the relay published (stream acknowledged), per database",
                    &["database"],
                )?,
                publish_failed: counter(
                    "fraiseql_events_publish_failed_total",
                    "Publish attempts that failed (the events stay in the outbox), per database",
                    &["database"],
                )?,
                outbox_depth: gauge(
                    "fraiseql_outbox_depth",
                    "Outbox rows waiting to be published, per database",
                    &["database"],
                )?,
                outbox_lag: gauge(
                    "fraiseql_outbox_lag_seconds",
                    "Seconds the oldest waiting outbox row has waited, per database",
                    &["database"],
                )?,
                processed: counter(
                    "fraiseql_nats_events_processed",
                    "Inbound events a SQL handler committed, by subscription subject",
                    &["event_type"],
                )?,
                consumer_lag: gauge(
                    "fraiseql_nats_consumer_lag",
                    "Messages waiting for a durable consumer",
                    &["consumer"],
                )?,
                handler_failed: counter(
                    "fraiseql_events_handler_failures_total",
                    "Inbound deliveries whose handler failed, per consumer",
                    &["consumer"],
                )?,
                dead_lettered: counter(
                    "fraiseql_events_dead_lettered_total",
                    "Inbound events sent to the dead letters, per consumer",
                    &["consumer"],
                )?,
            },
            registry,
        })
    }

    pub(crate) fn events_published(&self, database: &str, n: u64) {
        self.events
            .published
            .with_label_values(&[database])
            .inc_by(n);
    }

    pub(crate) fn events_failed(&self, database: &str) {
        self.events
            .publish_failed
            .with_label_values(&[database])
            .inc();
    }

    pub(crate) fn outbox_depth(&self, database: &str, depth: u64, age_secs: f64) {
        let e = &self.events;
        e.outbox_depth
            .with_label_values(&[database])
            .set(depth as i64);
        e.outbox_lag
            .with_label_values(&[database])
            .set(age_secs as i64);
    }

    /// `subject` is the subscription's configured subject, never a message's.
    pub(crate) fn event_processed(&self, subject: &str) {
        self.events.processed.with_label_values(&[subject]).inc();
    }

    pub(crate) fn consumer_lag(&self, consumer: &str, pending: u64) {
        self.events
            .consumer_lag
            .with_label_values(&[consumer])
            .set(pending as i64);
    }

    pub(crate) fn handler_failed(&self, consumer: &str) {
        self.events
            .handler_failed
            .with_label_values(&[consumer])
            .inc();
    }

    pub(crate) fn dead_lettered(&self, consumer: &str) {
        self.events
            .dead_lettered
            .with_label_values(&[consumer])
            .inc();
    }

    /// One finished HTTP request. Both labels come from closed sets (see [`method_label`]), so
    /// clients cannot grow the exposition by inventing methods.
    pub(crate) fn observe_http(&self, method: &Method, status: StatusCode, seconds: f64) {
        let method = method_label(method);
        self.http_requests
            .with_label_values(&[method, status.as_str()])
            .inc();
        self.http_duration
            .with_label_values(&[method])
            .observe(seconds);
    }

    /// One statement on `database` (a configured name, never request text).
    pub(crate) fn observe_db(&self, database: &str, ok: bool, seconds: f64) {
        self.db_queries
            .with_label_values(&[database, outcome(ok)])
            .inc();
        self.db_duration
            .with_label_values(&[database])
            .observe(seconds);
    }

    /// Counts the reads `database` sends to each of its servers, the primary and its
    /// `replicas` replicas. The series exist from the start (at 0) and are resolved here
    /// once, so counting a read looks nothing up.
    pub(crate) fn read_observer(&self, database: &str, replicas: usize) -> ReadObserver {
        let series = |role: Role| {
            let (role_label, target) = (role_label(role), target_label(role));
            [outcome(true), outcome(false)].map(|outcome| {
                self.db_reads
                    .with_label_values(&[database, role_label, &target, outcome])
            })
        };
        let primary = series(Role::Primary);
        let replicas: Vec<_> = (0..replicas).map(|i| series(Role::Replica(i))).collect();
        Box::new(move |role, ok| {
            let counters = match role {
                Role::Primary => Some(&primary),
                Role::Replica(i) => replicas.get(i),
            };
            if let Some([ok_count, error_count]) = counters {
                if ok { ok_count } else { error_count }.inc();
            }
        })
    }

    /// The state of a circuit breaker (a configured database's, or the one guarding an
    /// entity of the subgraph): 0 closed, 1 open, 2 half-open.
    pub(crate) fn set_circuit_state(&self, circuit: Circuit<'_>, state: i64) {
        self.circuit_state.set(circuit, state);
    }

    /// One error returned to a client, by its `extensions.code` (`ErrorCode::as_str`; the
    /// `'static` keeps request text out of the label).
    pub(crate) fn count_error(&self, code: &'static str) {
        self.errors.with_label_values(&[code]).inc();
    }

    /// One executed operation (`kind`: `query`, `mutation`).
    pub(crate) fn count_operation(&self, kind: &'static str, ok: bool) {
        self.operations
            .with_label_values(&[kind, outcome(ok)])
            .inc();
    }

    /// Tracks a request in flight until the guard drops.
    pub(crate) fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// The text exposition, with pool gauges read now.
    pub(crate) fn render(&self, databases: &IndexMap<String, Arc<Database>>) -> String {
        for (name, db) in databases {
            let status = db.pool_status();
            self.pool_size
                .with_label_values(&[name])
                .set(status.size as i64);
            self.pool_idle
                .with_label_values(&[name])
                .set(status.idle as i64);
            for replica in db.replicas() {
                let labels = [name.as_str(), &target_label(Role::Replica(replica.index))];
                let status = replica.target.pool_status();
                self.replica_up
                    .with_label_values(&labels)
                    .set(i64::from(replica.is_up()));
                self.replica_pool_size
                    .with_label_values(&labels)
                    .set(status.size as i64);
                self.replica_pool_idle
                    .with_label_values(&labels)
                    .set(status.idle as i64);
            }
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// The `method` label: the standard methods by name, anything else (HTTP allows any token
/// as a method) as `OTHER`.
pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// The `role` label: which kind of server of a database.
fn role_label(role: Role) -> &'static str {
    match role {
        Role::Primary => "primary",
        Role::Replica(_) => "replica",
    }
}

/// The `target` label: which server of a database, `primary` or `replica<i>` (its place in
/// `replicas`, a closed set fixed by the config).
fn target_label(role: Role) -> String {
    match role {
        Role::Primary => "primary".to_string(),
        Role::Replica(i) => format!("replica{i}"),
    }
}

fn outcome(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "error"
    }
}

/// Decrements the in-flight gauge when dropped (also when a request is cancelled).
pub(crate) struct InFlight(IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Why the server closed a client connection itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectionDrop {
    /// `server.limits.max_connections` were already open.
    OverLimit,
    /// The request head did not arrive within `server.header_read_timeout_ms`.
    HeaderTimeout,
    /// No byte moved for `server.keep_alive_secs`.
    IdleTimeout,
}

impl ConnectionDrop {
    fn label(self) -> &'static str {
        match self {
            Self::OverLimit => "over_limit",
            Self::HeaderTimeout => "header_timeout",
            Self::IdleTimeout => "idle_timeout",
        }
    }
}

/// The connection metrics, cheap to clone into every connection.
#[derive(Clone)]
pub(crate) struct ConnectionMetrics {
    open: IntGauge,
    over_limit: IntCounter,
    header_timeout: IntCounter,
    idle_timeout: IntCounter,
}

impl ConnectionMetrics {
    /// Counts a connection as open until the guard drops.
    pub(crate) fn opened(&self) -> OpenConnection {
        self.open.inc();
        OpenConnection(self.open.clone())
    }

    /// One connection closed by the server.
    pub(crate) fn dropped(&self, why: ConnectionDrop) {
        match why {
            ConnectionDrop::OverLimit => &self.over_limit,
            ConnectionDrop::HeaderTimeout => &self.header_timeout,
            ConnectionDrop::IdleTimeout => &self.idle_timeout,
        }
        .inc();
    }
}

/// Decrements the open-connections gauge when the connection is dropped.
pub(crate) struct OpenConnection(IntGauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        let metrics = Metrics::new().expect("metrics");
        for i in 0..50 {
            let method = Method::from_bytes(format!("INVENTED{i}").as_bytes()).expect("token");
            metrics.observe_http(&method, StatusCode::NOT_FOUND, 0.001);
        }
        metrics.observe_http(&Method::GET, StatusCode::OK, 0.001);
        let text = metrics.render(&IndexMap::new());
        assert!(!text.contains("INVENTED"), "{text}");
        assert!(
            text.contains(r#"method="OTHER",status="404"} 50"#),
            "{text}"
        );
        assert!(text.contains(r#"method="GET",status="200"} 1"#), "{text}");
    }
}
