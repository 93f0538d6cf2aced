//! Probes and metrics: `/health` (per-database status, 503 when any is down; each read
//! replica up or down, a replica down only degrades its database; the state of each circuit
//! breaker, a database's and an Apollo Federation entity's own), `/health/live` (the
//! process answers), `/health/ready` and `/ready` (serving, and every database's primary
//! answers: replicas are not needed to serve), `/metrics` (Prometheus text).
//!
//! Probes are unauthenticated, so they say only "ok"/"error" per database: a connection
//! error's text names hosts, ports, users and files. It goes to the log, and to a request
//! that presents `server.admin_token` as `Authorization: Bearer …`.

use crate::db::{Database, DbError, PoolStatus, Replica};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How long a probe waits for any one database.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Pings every database's primary at once; `(name, error)` for each, `None` when it
/// answered.
async fn ping_all(state: &AppState) -> Vec<(&str, &Arc<Database>, Option<String>)> {
    let pings = state.databases.iter().map(|(name, db)| async move {
        let error = bounded(db.ping()).await;
        if let Some(e) = &error {
            tracing::warn!(database = %name, error = %crate::log::clip(e), "health probe: database is down");
        }
        (name.as_str(), db, error)
    });
    futures::future::join_all(pings).await
}

/// Pings every read replica of `db` at once (which also marks each up or down for reads);
/// the error of each, `None` when it answered.
async fn ping_replicas(db: &Database) -> Vec<(&Arc<Replica>, Option<String>)> {
    let pings = db
        .replicas()
        .iter()
        .map(|replica| async move { (replica, bounded(replica.check()).await) });
    futures::future::join_all(pings).await
}

/// The error of a ping, or of its not answering within [`PING_TIMEOUT`].
async fn bounded(ping: impl std::future::Future<Output = Result<(), DbError>>) -> Option<String> {
    match tokio::time::timeout(PING_TIMEOUT, ping).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.message),
        Err(_) => Some(format!("no answer within {} s", PING_TIMEOUT.as_secs())),
    }
}

/// A pool's figures as `/health` shows them.
fn pool_fields(entry: &mut Map<String, Value>, pool: PoolStatus) {
    entry.insert("pool_size".into(), json!(pool.size));
    entry.insert("pool_idle".into(), json!(pool.idle));
    entry.insert(
        "pool_in_use".into(),
        json!(pool.size.saturating_sub(pool.idle)),
    );
    entry.insert("pool_max".into(), json!(pool.max));
}

/// Whether the request presents the admin token (compared in constant time, so the time a
/// wrong guess takes says nothing about how much of it was right).
fn wants_details(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(token) = state.config.server.admin_token.as_deref() else {
        return false;
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    constant_time_eq(presented.as_bytes(), token.as_bytes())
}

/// Equal byte strings, in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// `GET /health`.
pub(super) async fn health(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let details = wants_details(&state, &headers);
    let (results, replicas) = futures::future::join(
        ping_all(&state),
        futures::future::join_all(state.databases.values().map(|db| ping_replicas(db))),
    )
    .await;
    let mut databases = Map::new();
    let (mut any_down, mut any_degraded) = (false, false);
    for ((name, db, error), replicas) in results.iter().zip(&replicas) {
        let replica_down = replicas.iter().any(|(_, e)| e.is_some());
        // The primary serves everything a replica would: a replica down degrades the
        // database, it does not take it down.
        let status = match (error, replica_down) {
            (Some(_), _) => "error",
            (None, true) => "degraded",
            (None, false) => "ok",
        };
        any_down |= error.is_some();
        any_degraded |= replica_down;
        let mut entry = Map::new();
        entry.insert("status".into(), json!(status));
        entry.insert("type".into(), json!(kind_name(db)));
        pool_fields(&mut entry, db.pool_status());
        if let Some(circuit) = state.resilience.circuit(name) {
            entry.insert("circuit".into(), json!(circuit.label()));
        }
        if let (Some(e), true) = (error, details) {
            entry.insert("error".into(), Value::String(e.clone()));
        }
        if !replicas.is_empty() {
            let list = replicas
                .iter()
                .map(|(replica, error)| replica_entry(replica, error.as_deref(), details))
                .collect();
            entry.insert("replicas".into(), Value::Array(list));
        }
        databases.insert((*name).to_string(), Value::Object(entry));
    }
    // Events run in the background: trouble there degrades, it does not stop serving.
    let events = state
        .events
        .as_ref()
        .map(|e| (e.health(details), e.degraded()));
    any_degraded |= events.as_ref().is_some_and(|(_, degraded)| *degraded);
    let serving = state.ready.load(Ordering::SeqCst);
    let (status, code) = match (serving, any_down, any_degraded) {
        (false, _, _) => ("shutting_down", StatusCode::SERVICE_UNAVAILABLE),
        (true, true, _) => ("degraded", StatusCode::SERVICE_UNAVAILABLE),
        // Every database can serve every request: degraded, but up.
        (true, false, true) => ("degraded", StatusCode::OK),
        (true, false, false) => ("ok", StatusCode::OK),
    };
    // `[project]`: which API this is (`version` is the FraiseQL build).
    let project = &state.config.project;
    let mut about = json!({ "name": project.name, "version": project.version });
    if let (Some(d), Value::Object(map)) = (&project.description, &mut about) {
        map.insert("description".into(), Value::String(d.clone()));
    }
    let mut body = json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "project": about,
        "uptime_seconds": state.started.elapsed().as_secs(),
        "databases": databases,
    });
    let entities = entity_circuits(&state);
    if let (false, Value::Object(map)) = (entities.is_empty(), &mut body) {
        map.insert("entities".into(), Value::Object(entities));
    }
    if let (Some((events, _)), Value::Object(map)) = (events, &mut body) {
        map.insert("events".into(), events);
    }
    (code, Json(body)).into_response()
}

/// The Apollo Federation entities with a circuit breaker of their own, each with its
/// database and its circuit's state, as a database's `circuit` is shown. Like that one, an
/// open circuit is reported and leaves the status alone: it refuses calls because of past
/// failures, while the status says what the database answers now (an entity's view failing
/// is not its database down, and the other entities and queries go on).
fn entity_circuits(state: &AppState) -> Map<String, Value> {
    state
        .resilience
        .entity_circuits()
        .into_iter()
        .map(|(entity, database, circuit)| {
            let entry = json!({ "database": database, "circuit": circuit.label() });
            (entity.to_owned(), entry)
        })
        .collect()
}

/// One replica in `/health`: its place in `replicas`, up or down, its pool, and (with the
/// admin token) why it is down.
fn replica_entry(replica: &Replica, error: Option<&str>, details: bool) -> Value {
    let mut entry = Map::new();
    entry.insert("replica".into(), json!(replica.index));
    let status = if error.is_none() { "up" } else { "down" };
    entry.insert("status".into(), json!(status));
    pool_fields(&mut entry, replica.target.pool_status());
    if let (Some(e), true) = (error, details) {
        entry.insert("error".into(), json!(e));
    }
    Value::Object(entry)
}

fn kind_name(db: &Database) -> &'static str {
    db.kind.name()
}

/// `GET /health/live`.
pub(super) async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /health/ready` and `GET /ready`.
pub(super) async fn ready(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if !state.ready.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "shutting_down" })),
        )
            .into_response();
    }
    let details = wants_details(&state, &headers);
    let down: Map<String, Value> = ping_all(&state)
        .await
        .into_iter()
        .filter_map(|(name, _, e)| {
            let entry = match (e, details) {
                (None, _) => return None,
                (Some(e), true) => json!({ "status": "error", "error": e }),
                (Some(_), false) => json!({ "status": "error" }),
            };
            Some((name.to_string(), entry))
        })
        .collect();
    if down.is_empty() {
        (StatusCode::OK, Json(json!({ "status": "ready" }))).into_response()
    } else {
        let body = json!({ "status": "not_ready", "databases": down });
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

/// `GET /metrics`.
pub(super) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    if let Some(tenants) = &state.tenants {
        state.metrics.tenants.pools.set(tenants.open() as i64);
    }
    let mut response = state.metrics.render(&state.databases).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn tokens_compare_by_every_byte_and_the_length() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret!"));
        assert!(!constant_time_eq(b"", b"secret"));
        assert!(constant_time_eq(b"", b""));
    }
}
