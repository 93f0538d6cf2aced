//! HTTP: the one port every client talks to. `/graphql` (GraphQL over HTTP, POST and GET,
//! plus GraphiQL for browsers), health and readiness probes, and `/metrics`. Every request
//! passes [`track`] first: it takes or makes the request id, opens the tracing span, and
//! records the request in the log and in metrics.

pub(crate) mod admission;
mod graphiql;
mod graphql;
pub(crate) use graphql::socket_operation;
mod health;
mod negotiate;

use crate::auth::AuthError;
use crate::context::RequestContext;
use crate::listen::ConnPhase;
use crate::metrics::method_label;
use crate::state::AppState;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use fraiseql_engine::error::{ErrorCode, GraphQLError};
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// The request id header, read from clients and echoed back.
pub(crate) const REQUEST_ID: &str = "x-request-id";

/// Every route of the server.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let limit =
        usize::try_from(state.config.server.limits.max_request_size.0).unwrap_or(usize::MAX);
    let mut router = Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/ws", get(socket))
        .route("/subscriptions", get(socket))
        .route("/health", get(health::health))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics));
    if state.config.server.playground {
        router = router
            .route("/playground", get(graphiql::page))
            .route("/graphiql", get(graphiql::page))
            .route(graphiql::ASSETS_ROUTE, get(graphiql::asset));
    }
    router
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// `/ws` and `/subscriptions`: WebSocket only (`/graphql` takes upgrades too, in
/// `graphql::get`).
async fn socket(
    State(state): State<Arc<AppState>>,
    ConnectInfo(conn): ConnectInfo<ConnPhase>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match ws {
        Ok(ws) if state.config.subscriptions.enabled => {
            crate::subscriptions::upgrade(state, ws, &conn, &headers)
        }
        Ok(_) => error_response(
            &state,
            StatusCode::NOT_FOUND,
            ErrorCode::BadRequest,
            "subscriptions are disabled on this server ([subscriptions] enabled = false)",
        ),
        Err(rejection) => rejection.into_response(),
    }
}

/// Request id, span, access log line and HTTP metrics for every request.
async fn track(State(state): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    // The head is parsed: the connection's head timer stops until the next request.
    let _serving = req
        .extensions()
        .get::<ConnectInfo<ConnPhase>>()
        .map(|ConnectInfo(phase)| phase.serving());
    let id = request_id(req.headers());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let path = crate::log::clip(req.uri().path());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = method_label(&method),
        path = %path,
        operation = tracing::field::Empty,
        kind = tracing::field::Empty,
    );
    let _in_flight = state.metrics.in_flight();
    let mut response = next.run(req).instrument(span.clone()).await;
    let status = response.status();
    let elapsed = started.elapsed();
    state
        .metrics
        .observe_http(&method, status, elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// The request's id, for the handlers (set by the tracking layer).
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub(crate) String);

/// Who is calling: the `Authorization` header checked by `[auth]`. Without `[auth]`, every
/// request is anonymous; a refusal is the 401 to send (`WWW-Authenticate: Bearer`, GraphQL
/// error UNAUTHENTICATED), before any other work.
pub(crate) async fn caller(
    state: &AppState,
    headers: &HeaderMap,
    id: Option<RequestId>,
) -> Result<RequestContext, Response> {
    let id = id.map_or_else(|| uuid::Uuid::new_v4().to_string(), |RequestId(id)| id);
    let mut ctx = match &state.auth {
        None => RequestContext::anonymous(id),
        Some(auth) => {
            let token = match headers.get(axum::http::header::AUTHORIZATION) {
                None => None,
                Some(v) => match v.to_str() {
                    Ok(v) => Some(v),
                    Err(_) => {
                        return Err(unauthenticated(
                            state,
                            &AuthError::Invalid("not text".into()),
                        ))
                    }
                },
            };
            auth.context(id, token)
                .await
                .map_err(|e| unauthenticated(state, &e))?
        }
    };
    // A federation gateway asks a subgraph for an inline trace.
    ctx.trace = state.api.subgraph.is_some()
        && fraiseql_engine::ftv1::HEADERS.iter().any(|h| {
            headers
                .get(*h)
                .is_some_and(|v| v.as_bytes() == fraiseql_engine::ftv1::FTV1.as_bytes())
        });
    if let Some(t) = state.config.multi_tenancy.as_ref().filter(|t| t.enabled) {
        let header = match headers.get(t.auth_header.as_str()).map(|v| v.to_str()) {
            None => None,
            Some(Ok(v)) => Some(v),
            Some(Err(_)) => Some("\u{fffd}"), // not text: refused as an invalid id
        };
        match crate::tenancy::resolve(t, state.auth.is_some(), header, &ctx) {
            Ok(tenant) => crate::tenancy::enter(&mut ctx, tenant),
            Err(e) => {
                let status = match e.code() {
                    ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
                    ErrorCode::Forbidden => StatusCode::FORBIDDEN,
                    _ => StatusCode::BAD_REQUEST,
                };
                return Err(error_response(state, status, e.code(), e.message()));
            }
        }
    }
    Ok(ctx)
}

/// The 401 of a refused token.
pub(crate) fn unauthenticated(state: &AppState, e: &AuthError) -> Response {
    let mut response = error_response(
        state,
        StatusCode::UNAUTHORIZED,
        ErrorCode::Unauthenticated,
        e.message(),
    );
    response.headers_mut().insert(
        axum::http::header::WWW_AUTHENTICATE,
        HeaderValue::from_static(e.challenge()),
    );
    response
}

/// The client's request id when it is a safe token (at most 64 of `[A-Za-z0-9._-]`, other
/// characters dropped), else a fresh UUID.
fn request_id(headers: &HeaderMap) -> String {
    let given: String = headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(64)
        .collect();
    if given.is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        given
    }
}

/// A GraphQL-shaped error body (`{"errors":[…]}`) for failures before execution, counted
/// in `fraiseql_graphql_errors_total`.
pub(crate) fn error_response(
    state: &AppState,
    status: StatusCode,
    code: ErrorCode,
    message: impl Into<String>,
) -> Response {
    state.metrics.count_error(code.as_str());
    let body = serde_json::json!({ "errors": [GraphQLError::new(code, message)] });
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_sanitized() {
        let mut h = HeaderMap::new();
        h.insert(REQUEST_ID, HeaderValue::from_static("abc-123_x.y"));
        assert_eq!(request_id(&h), "abc-123_x.y");
        h.insert(REQUEST_ID, HeaderValue::from_static("a b<script>"));
        assert_eq!(request_id(&h), "abscript");
        let long = "x".repeat(100);
        h.insert(REQUEST_ID, HeaderValue::from_str(&long).expect("ascii"));
        assert_eq!(request_id(&h).len(), 64);
        h.insert(REQUEST_ID, HeaderValue::from_static("<>"));
        assert_eq!(request_id(&h).len(), 36);
        assert_eq!(request_id(&HeaderMap::new()).len(), 36);
    }
}
