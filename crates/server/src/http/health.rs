//! Probes and metrics: `/health` (per-database status, 503 when any is down),
//! `/health/live` (the process answers), `/health/ready` and `/ready` (serving, and every
//! database answers), `/metrics` (Prometheus text).
//!
//! Probes are unauthenticated, so they say only "ok"/"error" per database: a connection
//! error's text names hosts, ports, users and files. It goes to the log, and to a request
//! that presents `server.admin_token` as `Authorization: Bearer …`.

use crate::db::Database;
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

/// Pings every database at once; `(name, error)` for each, `None` when it answered.
async fn ping_all(state: &AppState) -> Vec<(&str, &Arc<Database>, Option<String>)> {
    let pings = state.databases.iter().map(|(name, db)| async move {
        let error = match tokio::time::timeout(PING_TIMEOUT, db.ping()).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.message),
            Err(_) => Some(format!("no answer within {} s", PING_TIMEOUT.as_secs())),
        };
        if let Some(e) = &error {
            tracing::warn!(database = %name, error = %crate::log::clip(e), "health probe: database is down");
        }
        (name.as_str(), db, error)
    });
    futures::future::join_all(pings).await
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
    let results = ping_all(&state).await;
    let mut databases = Map::new();
    for (name, db, error) in &results {
        let pool = db.pool_status();
        let mut entry = json!({
            "status": if error.is_none() { "ok" } else { "error" },
            "type": kind_name(db),
            "pool_size": pool.size,
            "pool_idle": pool.idle,
            "pool_max": pool.max,
        });
        if let (Some(e), Value::Object(map), true) = (error, &mut entry, details) {
            map.insert("error".into(), Value::String(e.clone()));
        }
        databases.insert((*name).to_string(), entry);
    }
    let all_up = results.iter().all(|(_, _, e)| e.is_none());
    let serving = state.ready.load(Ordering::SeqCst);
    let (status, code) = match (serving, all_up) {
        (false, _) => ("shutting_down", StatusCode::SERVICE_UNAVAILABLE),
        (true, false) => ("degraded", StatusCode::SERVICE_UNAVAILABLE),
        (true, true) => ("ok", StatusCode::OK),
    };
    // `[project]`: which API this is (`version` is the FraiseQL build).
    let project = &state.config.project;
    let mut about = json!({ "name": project.name, "version": project.version });
    if let (Some(d), Value::Object(map)) = (&project.description, &mut about) {
        map.insert("description".into(), Value::String(d.clone()));
    }
    let body = json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "project": about,
        "uptime_seconds": state.started.elapsed().as_secs(),
        "databases": databases,
    });
    (code, Json(body)).into_response()
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
