//! `/graphql` over HTTP, per the GraphQL-over-HTTP spec: decode a POST (JSON object, or an
//! array for a batch) or a GET (query string), check media types, size and shape, pass
//! each request through the admission gate and the request deadline to `execute`, and map
//! its outcome to a status code for the negotiated media type.

use super::negotiate::{prefers_html, response_media, Media};
use super::{caller, error_response, graphiql, RequestId};
use crate::context::RequestContext;
use crate::execute::{execute, GraphQLRequest, Outcome, OutcomeStatus, Transport};
use crate::listen::ConnPhase;
use crate::resilience::with_deadline;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use fraiseql_engine::error::{ErrorCode, GraphQLError};
use fraiseql_engine::response::request_error;
use futures::StreamExt;
use serde_json::{Map, Value};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// `POST /graphql`.
pub(super) async fn post(
    State(state): State<Arc<AppState>>,
    id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(media) = response_media(accept(&headers)) else {
        return not_acceptable(&state);
    };
    if !is_json(headers.get(header::CONTENT_TYPE)) {
        return error_response(
            &state,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::BadRequest,
            "requests must be sent as Content-Type: application/json",
        );
    }
    // Before the body is read: a caller without a valid token costs no more than this.
    let ctx = match caller(&state, &headers, id.map(|Extension(id)| id)).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let body = match read_body(&state, &headers, body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(&state, format!("malformed JSON body: {e}")),
    };
    match value {
        Value::Array(items) => {
            if items.is_empty() {
                return bad_request(&state, "a batch must contain at least one request");
            }
            let max = state.config.server.max_batch;
            if max == 0 {
                return bad_request(
                    &state,
                    "batching is disabled on this server (server.max_batch = 0); send one \
                     request per POST",
                );
            }
            if items.len() > max {
                return bad_request(
                    &state,
                    format!(
                        "a batch may hold at most {max} requests (server.max_batch); this one \
                         has {}",
                        items.len()
                    ),
                );
            }
            let mut requests = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                match request_from_json(item) {
                    Ok(r) => requests.push(r),
                    Err(m) => return bad_request(&state, format!("batch item {i}: {m}")),
                }
            }
            batch(state, media, requests, ctx).await
        }
        other => match request_from_json(other) {
            Ok(request) => single(state, media, request, Transport::Post, ctx).await,
            Err(message) => bad_request(&state, message),
        },
    }
}

/// Why a request body could not be read.
enum BodyError {
    TooLarge,
    Broken(axum::Error),
}

/// Reads the whole body, at most `max_request_size` bytes and within
/// `body_read_timeout_ms`: a body that dribbles in (or stops) cannot hold the connection
/// and its memory for longer than that.
async fn read_body(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, Response> {
    let limits = &state.config.server.limits;
    let limit = usize::try_from(limits.max_request_size.0).unwrap_or(usize::MAX);
    let too_large = || {
        error_response(
            state,
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RequestTooLarge,
            format!("request body exceeds the limit of {limit} bytes"),
        )
    };
    // A declared length over the limit is refused before a byte of the body is read.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_request_size.0) {
        return Err(too_large());
    }
    let capacity = declared.map_or(0, |n| usize::try_from(n).unwrap_or(0));
    let collect = async {
        let mut out = Vec::with_capacity(capacity);
        let mut chunks = body.into_data_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(BodyError::Broken)?;
            if out.len() + chunk.len() > limit {
                return Err(BodyError::TooLarge);
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    };
    let timeout = Duration::from_millis(state.config.server.body_read_timeout_ms.max(1));
    match tokio::time::timeout(timeout, collect).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(BodyError::TooLarge)) => Err(too_large()),
        Ok(Err(BodyError::Broken(e))) => Err(bad_request(
            state,
            format!("cannot read the request body: {e}"),
        )),
        Err(_) => {
            let mut response = error_response(
                state,
                StatusCode::REQUEST_TIMEOUT,
                ErrorCode::Timeout,
                format!(
                    "the request body was not received within {} ms",
                    timeout.as_millis()
                ),
            );
            // The rest of the body is still on the way: the connection cannot be reused.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            Err(response)
        }
    }
}

/// `GET /graphql`: GraphiQL for browsers, else a query from the URL.
pub(super) async fn get(
    State(state): State<Arc<AppState>>,
    ConnectInfo(conn): ConnectInfo<ConnPhase>,
    id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    // A WebSocket upgrade: subscriptions (and queries, mutations) over graphql-transport-ws.
    if headers.contains_key(header::UPGRADE) {
        if let (Ok(ws), true) = (ws, state.config.subscriptions.enabled) {
            return crate::subscriptions::upgrade(state, ws, &conn, &headers);
        }
    }
    if state.config.server.playground && prefers_html(accept(&headers)) {
        return graphiql::page().await.into_response();
    }
    let Some(media) = response_media(accept(&headers)) else {
        return not_acceptable(&state);
    };
    let ctx = match caller(&state, &headers, id.map(|Extension(id)| id)).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    match request_from_query(query.as_deref().unwrap_or_default()) {
        Ok(request) => single(state, media, request, Transport::Get, ctx).await,
        Err(message) => bad_request(&state, message),
    }
}

fn accept(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())
}

/// `application/json`, any parameters (`charset=utf-8`) allowed.
fn is_json(content_type: Option<&HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

fn bad_request(state: &AppState, message: impl Into<String>) -> Response {
    error_response(
        state,
        StatusCode::BAD_REQUEST,
        ErrorCode::BadRequest,
        message,
    )
}

fn not_acceptable(state: &AppState) -> Response {
    error_response(
        state,
        StatusCode::NOT_ACCEPTABLE,
        ErrorCode::BadRequest,
        "Accept must allow application/graphql-response+json or application/json",
    )
}

/// Decodes `{"query", "operationName", "variables", "extensions"}`.
fn request_from_json(value: Value) -> Result<GraphQLRequest, String> {
    let Value::Object(mut map) = value else {
        return Err("the body must be a JSON object (or an array of them)".into());
    };
    let query = match map.remove("query") {
        Some(Value::String(q)) => q,
        Some(_) => return Err("`query` must be a string".into()),
        None => return Err("missing `query`".into()),
    };
    let operation_name = match map.remove("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err("`operationName` must be a string or null".into()),
    };
    let variables = match map.remove("variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return Err("`variables` must be an object or null".into()),
    };
    match map.get("extensions") {
        None | Some(Value::Null) | Some(Value::Object(_)) => {}
        Some(_) => return Err("`extensions` must be an object or null".into()),
    }
    Ok(GraphQLRequest {
        query,
        operation_name,
        variables,
    })
}

/// Decodes `?query=…&operationName=…&variables=<JSON>`.
fn request_from_query(raw: &str) -> Result<GraphQLRequest, String> {
    let mut query = None;
    let mut operation_name = None;
    let mut variables = Map::new();
    for (key, value) in form_pairs(raw) {
        match key.as_str() {
            "query" => query = Some(value),
            "operationName" if !value.is_empty() => operation_name = Some(value),
            "variables" if !value.is_empty() => {
                variables = match serde_json::from_str::<Value>(&value) {
                    Ok(Value::Object(m)) => m,
                    Ok(Value::Null) => Map::new(),
                    Ok(_) => return Err("`variables` must be a JSON object".into()),
                    Err(e) => return Err(format!("`variables` is not valid JSON: {e}")),
                }
            }
            _ => {}
        }
    }
    let query = query.ok_or("missing `query` parameter")?;
    Ok(GraphQLRequest {
        query,
        operation_name,
        variables,
    })
}

/// `application/x-www-form-urlencoded` pairs (`+` is a space, `%XX` a byte).
fn form_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One request: gate, deadline, execute, cap the response size, map the outcome.
async fn single(
    state: Arc<AppState>,
    media: Media,
    request: GraphQLRequest,
    transport: Transport,
    ctx: RequestContext,
) -> Response {
    record_operation_name(request.operation_name.as_deref());
    let s = state.clone();
    let outcome = guarded(&state, async move {
        execute(&s, request, transport, &ctx).await
    })
    .await;
    match outcome {
        Ok(outcome) => match oversized(&state, outcome.body.len(), outcome.operation) {
            None => respond(media, outcome),
            Some(error) => respond(media, error),
        },
        Err(response) => response,
    }
}

/// A query or mutation sent over a subscriptions WebSocket: the same gate, deadline and
/// response size limit as over HTTP. `Ok`: the serialized response (`{"data":…}`);
/// `Err`: the errors (a JSON array) of a request that did not run (bad variables, refused,
/// too large).
pub(crate) async fn socket_operation(
    state: &Arc<AppState>,
    request: GraphQLRequest,
    ctx: &RequestContext,
) -> Result<Vec<u8>, String> {
    let outcome = admitted(state, execute(state, request, Transport::Socket, ctx)).await;
    let outcome = match outcome {
        Ok(outcome) => match oversized(state, outcome.body.len(), outcome.operation) {
            None => outcome,
            Some(error) => error,
        },
        Err(refusal) => {
            let e = refusal.error();
            state.metrics.count_error(e.code().as_str());
            return Err(serde_json::to_string(&[e]).unwrap_or_else(|_| "[]".into()));
        }
    };
    if !matches!(
        outcome.status,
        OutcomeStatus::RequestError | OutcomeStatus::Denied { .. }
    ) {
        return Ok(outcome.body);
    }
    match serde_json::from_slice::<Value>(&outcome.body) {
        Ok(Value::Object(mut body)) => match body.remove("errors") {
            Some(errors) => Err(errors.to_string()),
            None => Ok(serde_json::to_vec(&body).unwrap_or_default()),
        },
        _ => Ok(outcome.body),
    }
}

/// A batch: the requests run one after another under one slot and one deadline; the answer
/// is the array of their responses, always 200. The whole array is held to
/// `max_response_size`: once it is crossed the rest is not run, and the answer is that one
/// error instead of the array.
async fn batch(
    state: Arc<AppState>,
    media: Media,
    requests: Vec<GraphQLRequest>,
    ctx: RequestContext,
) -> Response {
    let s = state.clone();
    let outcomes = guarded(&state, async move {
        let mut bodies = Vec::with_capacity(requests.len());
        let mut total = 2; // the brackets
        for request in requests {
            // An operation answered without awaiting (introspection, `__typename`, a
            // request error) would otherwise run the whole batch in one poll, out of the
            // deadline's reach: yielding lets the timeout fire between operations.
            tokio::task::yield_now().await;
            let outcome = execute(&s, request, Transport::Post, &ctx).await;
            total += outcome.body.len() + 1;
            if let Some(error) = oversized(&s, total, outcome.operation) {
                return Err(error);
            }
            bodies.push(outcome.body);
        }
        Ok(bodies)
    })
    .await;
    match outcomes {
        Ok(Ok(bodies)) => {
            let mut out = Vec::with_capacity(bodies.iter().map(|b| b.len() + 1).sum::<usize>() + 2);
            out.push(b'[');
            for (i, body) in bodies.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(body);
            }
            out.push(b']');
            with_media(StatusCode::OK, media, out)
        }
        Ok(Err(error)) => respond(media, error),
        Err(response) => response,
    }
}

/// The `RESPONSE_TOO_LARGE` request error that replaces a response of `len` bytes, if that
/// is over `max_response_size`. The response is already assembled by then (the size is
/// known only after the database answered), but it is never sent.
fn oversized(state: &AppState, len: usize, operation: Option<&'static str>) -> Option<Outcome> {
    let max = state.config.server.limits.max_response_size.0;
    if u64::try_from(len).unwrap_or(u64::MAX) <= max {
        return None;
    }
    tracing::warn!(
        bytes = len,
        max,
        "response over server.limits.max_response_size withheld"
    );
    let applied = if operation == Some("mutation") {
        " (the mutation was applied)"
    } else {
        ""
    };
    let message = format!(
        "the response is larger than the server's limit of {max} bytes and was not sent{applied}; \
         select fewer fields or ask for a smaller page"
    );
    let error = GraphQLError::new(ErrorCode::ResponseTooLarge, message);
    state.metrics.count_error(error.code().as_str());
    let mut body = Vec::new();
    request_error(&mut body, &[error]);
    Some(Outcome {
        body,
        status: OutcomeStatus::RequestError,
        operation,
        error: Some(ErrorCode::ResponseTooLarge.as_str()),
    })
}

/// Why a request did not run to its end.
pub(crate) enum Refusal {
    /// Every slot and the waiting room are taken.
    Overloaded,
    /// The request deadline passed (while waiting or running).
    Timeout(Duration),
}

impl Refusal {
    /// The error a client gets.
    pub(crate) fn error(&self) -> GraphQLError {
        match self {
            Refusal::Overloaded => GraphQLError::new(
                ErrorCode::ServiceUnavailable,
                "the server is at capacity; retry shortly",
            ),
            Refusal::Timeout(d) => GraphQLError::new(
                ErrorCode::Timeout,
                format!("the request did not finish within {} ms", d.as_millis()),
            ),
        }
    }
}

/// Runs `work` once admitted, within the request deadline: the gate and the deadline every
/// operation passes, over HTTP or a WebSocket.
pub(crate) async fn admitted<T>(
    state: &AppState,
    work: impl Future<Output = T>,
) -> Result<T, Refusal> {
    let deadline = Duration::from_millis(state.config.server.request_timeout_ms.max(1));
    let ends = tokio::time::Instant::now() + deadline;
    let run = async {
        match state.admission.enter().await {
            Ok(_permit) => Ok(with_deadline(ends, work).await),
            Err(_) => Err(Refusal::Overloaded),
        }
    };
    match tokio::time::timeout_at(ends, run).await {
        Ok(result) => result,
        Err(_) => Err(Refusal::Timeout(deadline)),
    }
}

/// [`admitted`], a refusal answered as HTTP (503 with `Retry-After`, or 504).
async fn guarded<T>(state: &AppState, work: impl Future<Output = T>) -> Result<T, Response> {
    admitted(state, work).await.map_err(|refusal| {
        let e = refusal.error();
        match refusal {
            Refusal::Overloaded => {
                let mut response = error_response(
                    state,
                    StatusCode::SERVICE_UNAVAILABLE,
                    e.code(),
                    e.message.clone(),
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
            Refusal::Timeout(_) => error_response(
                state,
                StatusCode::GATEWAY_TIMEOUT,
                e.code(),
                e.message.clone(),
            ),
        }
    })
}

/// Records the client's operation name in the request span, bounded: it is client text of
/// any length (the body limit is the only other bound).
fn record_operation_name(name: Option<&str>) {
    if let Some(name) = name {
        tracing::Span::current().record("operation", &*crate::log::clip(name));
    }
}

/// Status codes per the GraphQL-over-HTTP spec: with `application/json` every well-formed
/// request gets 200; with `application/graphql-response+json` request errors get 400.
fn respond(media: Media, outcome: Outcome) -> Response {
    if let Some(kind) = outcome.operation {
        tracing::Span::current().record("kind", kind);
    }
    let status = match (outcome.status, media) {
        (OutcomeStatus::MethodNotAllowed, _) => StatusCode::METHOD_NOT_ALLOWED,
        (OutcomeStatus::CircuitOpen { .. }, _) => StatusCode::SERVICE_UNAVAILABLE,
        (
            OutcomeStatus::Denied {
                unauthenticated: true,
            },
            _,
        ) => StatusCode::UNAUTHORIZED,
        (OutcomeStatus::Denied { .. }, _) => StatusCode::FORBIDDEN,
        (OutcomeStatus::RequestError, Media::GraphqlResponse) => StatusCode::BAD_REQUEST,
        (OutcomeStatus::RequestError, Media::Json) | (OutcomeStatus::Ok, _) => StatusCode::OK,
    };
    let mut response = with_media(status, media, outcome.body);
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if let OutcomeStatus::CircuitOpen { retry_after } = outcome.status {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    }
    response
}

fn with_media(status: StatusCode, media: Media, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media.as_str()),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_bodies_decode() {
        let r = request_from_json(
            json!({"query": "{ a }", "operationName": null, "variables": {"x": 1}}),
        )
        .expect("valid");
        assert_eq!(
            (r.query.as_str(), r.operation_name, r.variables.len()),
            ("{ a }", None, 1)
        );
        assert!(request_from_json(json!({"query": 1})).is_err());
        assert!(request_from_json(json!({})).is_err());
        assert!(request_from_json(json!({"query": "{a}", "variables": "{}"})).is_err());
        assert!(request_from_json(json!({"query": "{a}", "operationName": 3})).is_err());
        assert!(request_from_json(json!("{a}")).is_err());
    }

    #[test]
    fn query_strings_decode() {
        let r = request_from_query("query=%7B+a+%7D&operationName=Op&variables=%7B%22x%22%3A1%7D")
            .expect("valid");
        assert_eq!(r.query, "{ a }");
        assert_eq!(r.operation_name.as_deref(), Some("Op"));
        assert_eq!(r.variables.get("x"), Some(&json!(1)));
        assert!(request_from_query("operationName=Op").is_err());
        assert!(request_from_query("query=%7Ba%7D&variables=%5B%5D").is_err());
        assert!(request_from_query("query=%7Ba%7D&variables=nope").is_err());
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz%41"), "%zzA");
    }

    fn state(timeout_ms: u64, concurrent: usize, queue: usize) -> AppState {
        let mut config = fraiseql_engine::config::Config::default();
        config.server.request_timeout_ms = timeout_ms;
        config.server.limits.max_concurrent_requests = concurrent;
        config.server.limits.max_queue_depth = queue;
        let schema = fraiseql_engine::schema::load_schema(
            "type Post { id: ID! } type Query { posts: [Post!]! }",
            "schema.graphql",
        )
        .expect("schema");
        let api = fraiseql_engine::request::ApiSchema::new(
            schema,
            config.query_defaults.clone(),
            config.validation.clone(),
            true,
        )
        .expect("api");
        let metrics = crate::metrics::Metrics::new().expect("metrics");
        AppState::new(config, Arc::new(api), Default::default(), None, metrics)
    }

    async fn body_code(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        let v: Value = serde_json::from_slice(&bytes).expect("json");
        v["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    #[tokio::test]
    async fn slow_requests_time_out_with_504() {
        let state = state(50, 10, 10);
        let slow = guarded(&state, tokio::time::sleep(Duration::from_secs(5)));
        let response = slow.await.expect_err("deadline passed");
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(body_code(response).await, "TIMEOUT");
    }

    #[tokio::test]
    async fn overload_is_503_with_retry_after() {
        let state = state(10_000, 1, 0);
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let busy = guarded(&state, async move {
            let _ = wait.await;
        });
        tokio::pin!(busy);
        // Let the first request take the only slot.
        assert!(tokio::time::timeout(Duration::from_millis(20), &mut busy)
            .await
            .is_err());
        let response = guarded(&state, async {})
            .await
            .expect_err("no slot, no queue");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response
                .headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        assert_eq!(body_code(response).await, "SERVICE_UNAVAILABLE");
        let _ = release.send(());
        busy.await.expect("the first request finishes");
        guarded(&state, async {})
            .await
            .expect("a slot is free again");
    }

    /// Keeps the longest value recorded into any span field named `operation`.
    #[derive(Clone, Default)]
    struct Longest(Arc<std::sync::Mutex<usize>>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Longest {
        fn on_record(
            &self,
            _: &tracing::span::Id,
            values: &tracing::span::Record<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            let mut visitor = self;
            values.record(&mut visitor);
        }
    }

    impl tracing::field::Visit for &Longest {
        fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
            if field.name() == "operation" {
                let mut longest = self.0.lock().expect("lock");
                *longest = (*longest).max(value.chars().count());
            }
        }

        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            self.record_str(field, &format!("{value:?}"));
        }
    }

    /// An `operationName` of 1 MB is recorded clipped (`log::clip`).
    #[test]
    fn operation_names_are_recorded_bounded() {
        use tracing_subscriber::layer::SubscriberExt;
        let longest = Longest::default();
        let subscriber = tracing_subscriber::registry().with(longest.clone());
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", operation = tracing::field::Empty);
            let _entered = span.enter();
            record_operation_name(Some(&"Op".repeat(1 << 19)));
        });
        assert!(*longest.0.lock().expect("lock") <= crate::log::MAX_LOGGED + 40);
    }

    #[test]
    fn content_types() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert!(is_json(Some(&v("application/json"))));
        assert!(is_json(Some(&v("Application/JSON; charset=utf-8"))));
        assert!(!is_json(Some(&v("text/plain"))));
        assert!(!is_json(Some(&v("application/graphql"))));
        assert!(!is_json(None));
    }
}
