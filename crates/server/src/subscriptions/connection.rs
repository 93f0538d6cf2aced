//! One WebSocket connection: the protocol's states (waiting for `connection_init`, then
//! acknowledged), its operations by id (subscriptions registered with the hub; queries and
//! mutations run as tasks), keep-alive, and every limit's close code.
//!
//! A reader loop (this task) handles the client's messages; a writer task drains the
//! connection's bounded queue ([`Out`]) into the socket, so neither a slow client nor a slow
//! database holds the other side up.

use super::hooks::Refused;
use super::hub::{Admitted, Out, Registration, Sink};
use super::protocol::{self, close, ClientMessage, Operation, Protocol};
use crate::context::RequestContext;
use crate::execute::{prepared, GraphQLRequest};
use crate::state::AppState;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use fraiseql_engine::error::{ErrorCode, GraphQLError};
use fraiseql_engine::plan::{plan, RootAction};
use fraiseql_engine::request::OperationKind;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;

/// An operation in progress.
enum Running {
    /// A subscription: events arrive until it is completed or the connection closes.
    Subscription(#[allow(dead_code)] Registration),
    /// A query or mutation being executed; `None` once it has finished.
    Request(Option<AbortHandle>),
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Running::Request(Some(task)) = self {
            task.abort();
        }
    }
}

/// Serves one upgraded connection until either side closes it.
pub(crate) async fn serve(
    state: Arc<AppState>,
    socket: WebSocket,
    protocol: Protocol,
    admitted: Admitted,
    (header_token, header_tenant): (Option<String>, Option<String>),
) {
    let config = state.subscriptions.config().clone();
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Out>(config.send_queue.max(1));
    let out = Sink::new(
        tx.clone(),
        protocol,
        config.slow_consumer,
        state.subscriptions.metrics().clone(),
    );
    let writer = tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            let frame = match message {
                Out::Text(text) => Message::Text(text.into()),
                Out::Ping => Message::Ping(Default::default()),
                Out::Close(code, reason) => {
                    let frame = CloseFrame {
                        code,
                        reason: fit_reason(reason).into(),
                    };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break;
                }
            };
            if sink.send(frame).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });

    let mut conn = Connection {
        state: state.clone(),
        protocol,
        out,
        running: HashMap::new(),
        initialised: false,
        done: mpsc::unbounded_channel(),
        id: uuid::Uuid::new_v4().to_string(),
        peer: admitted.ip().to_string(),
        init_payload: Map::new(),
        opened: Instant::now(),
        header_token,
        header_tenant,
        ctx: RequestContext::anonymous(String::new()),
    };
    conn.ctx.request_id = conn.id.clone();
    let init_deadline = Instant::now() + Duration::from_millis(config.connection_init_timeout_ms.0);
    // Pings keep the connection's bytes moving under the server's idle limit too.
    let idle = Duration::from_secs(state.config.server.keep_alive_secs.max(1));
    let every = Duration::from_millis(config.keep_alive_ms.0).min(idle / 2);
    let mut ticker = tokio::time::interval_at(Instant::now() + every, every);
    let mut heard = Instant::now();
    let mut stopping = state.subscriptions.stopping();
    let max_message = usize::try_from(config.max_message_size.0).unwrap_or(usize::MAX);

    let ending: Option<(u16, String)> = loop {
        // Set at connection_init: the connection ends with its token.
        let (expires, expiry) = (conn.ctx.expires_at.is_some(), conn.expiry());
        tokio::select! {
            // The client's frames last: a client that floods cannot starve the timers, and a
            // finished request's id is free before the next frame is read.
            biased;
            Some(id) = conn.done.1.recv() => {
                // Finished: let it send its last messages.
                if let Some(Running::Request(task)) = conn.running.get_mut(&id) {
                    task.take();
                }
                conn.running.remove(&id);
            }
            () = tokio::time::sleep_until(expiry), if expires => {
                break Some((close::FORBIDDEN, "Token expired".to_owned()));
            }
            () = tokio::time::sleep_until(init_deadline), if !conn.initialised => {
                break Some((close::INIT_TIMEOUT, "Connection initialisation timeout".to_owned()));
            }
            _ = ticker.tick() => {
                if heard.elapsed() > every * 2 {
                    break Some((close::GOING_AWAY, "No answer to pings".to_owned()));
                }
                let _ = conn.out.tx.try_send(Out::Ping);
                if protocol == Protocol::Legacy && conn.initialised {
                    let _ = conn.out.tx.try_send(Out::Text(protocol::keep_alive()));
                }
            }
            () = conn.out.slow.notified() => {
                state.subscriptions.metrics().refused.with_label_values(&["slow_consumer"]).inc();
                break Some((close::TRY_AGAIN, "Slow consumer: messages were not read in time".to_owned()));
            }
            // Only ever turns true.
            _ = stopping.changed() => {
                break Some((close::GOING_AWAY, "Server shutting down".to_owned()));
            }
            frame = stream.next() => {
                heard = Instant::now();
                match frame {
                    None | Some(Ok(Message::Close(_))) => break None,
                    Some(Err(e)) => {
                        break too_big(&e).then(|| (close::TOO_BIG, "Message too big".to_owned()));
                    }
                    Some(Ok(Message::Text(text))) => {
                        if text.len() > max_message {
                            break Some((close::TOO_BIG, "Message too big".to_owned()));
                        }
                        if let Some(end) = conn.message(text.as_str()).await {
                            break Some(end);
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        break Some((close::BAD_REQUEST, "Invalid message: binary frames are not accepted".to_owned()));
                    }
                    // Answered by the WebSocket layer; hearing it is what counts.
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                }
            }
        }
    };
    // Subscriptions and requests end with the connection.
    conn.running.clear();
    if conn.initialised {
        if let Some(url) = state.subscriptions.hooks().on_disconnect() {
            let mut body = conn.hook_body("disconnect");
            body["duration_ms"] = json!(conn.opened.elapsed().as_millis() as u64);
            state.subscriptions.hooks().tell(url, body);
        }
    }
    if let Some((code, reason)) = ending {
        // The close goes after what is queued; a full queue (a slow consumer) is cut short.
        if tx.try_send(Out::Close(code, reason)).is_err() {
            writer.abort();
        }
    }
    drop(conn);
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    drop(admitted);
}

struct Connection {
    state: Arc<AppState>,
    protocol: Protocol,
    out: Sink,
    running: HashMap<String, Running>,
    initialised: bool,
    /// Requests that finished, by id.
    done: (
        mpsc::UnboundedSender<String>,
        mpsc::UnboundedReceiver<String>,
    ),
    /// Names the connection to the hooks.
    id: String,
    peer: String,
    /// The `connection_init` payload (auth for the hooks; `{}` when none).
    init_payload: Map<String, Value>,
    opened: Instant,
    /// The upgrade request's `Authorization` header, for clients that can set one.
    header_token: Option<String>,
    /// The upgrade request's tenant header (`[multi_tenancy] auth_header`).
    header_tenant: Option<String>,
    /// Who the connection is, once `connection_init` was checked by `[auth]`.
    ctx: RequestContext,
}

impl Connection {
    /// Handles one client message; `Some` closes the connection with that code and reason.
    async fn message(&mut self, text: &str) -> Option<(u16, String)> {
        let message = match protocol::parse(self.protocol, text) {
            Ok(m) => m,
            Err(v) => return Some((close::BAD_REQUEST, v.0)),
        };
        match message {
            ClientMessage::Init(payload) => {
                if self.initialised {
                    return Some((
                        close::TOO_MANY,
                        "Too many initialisation requests".to_owned(),
                    ));
                }
                self.init_payload = payload.unwrap_or_default();
                if let Some(auth) = &self.state.auth {
                    let token = init_token(&self.init_payload).or(self.header_token.as_deref());
                    match auth.context(self.id.clone(), token).await {
                        Ok(ctx) => self.ctx = ctx,
                        Err(e) => {
                            tracing::info!(connection = %self.id, peer = %self.peer, reason = ?e, "[auth] WebSocket connection refused");
                            return Some(self.forbidden("unauthenticated"));
                        }
                    }
                }
                if let Some(t) = self
                    .state
                    .config
                    .multi_tenancy
                    .as_ref()
                    .filter(|t| t.enabled)
                {
                    let named = init_tenant(&self.init_payload, &t.auth_header)
                        .or(self.header_tenant.as_deref());
                    match crate::tenancy::resolve(t, self.state.auth.is_some(), named, &self.ctx) {
                        Ok(tenant) => crate::tenancy::enter(&mut self.ctx, tenant),
                        Err(e) => {
                            tracing::info!(connection = %self.id, peer = %self.peer, reason = %e.message(), "[multi_tenancy] WebSocket connection refused");
                            return Some(self.forbidden("tenant"));
                        }
                    }
                }
                let hooks = self.state.subscriptions.hooks();
                if let Some(url) = hooks.on_connect() {
                    if let Err(Refused(why)) = hooks.ask(url, &self.hook_body("connect")).await {
                        tracing::info!(connection = %self.id, peer = %self.peer, reason = %why, "[subscriptions.hooks] on_connect refused a connection");
                        return Some(self.forbidden("on_connect"));
                    }
                }
                self.initialised = true;
                self.send(protocol::ack()).await;
                if self.protocol == Protocol::Legacy {
                    // subscriptions-transport-ws clients expect a keep-alive at once.
                    self.send(protocol::keep_alive()).await;
                }
            }
            ClientMessage::Ping(payload) => self.send(protocol::pong(payload.as_ref())).await,
            ClientMessage::Pong => {}
            ClientMessage::Terminate => return Some((close::NORMAL, String::new())),
            ClientMessage::Complete { id } => {
                self.running.remove(&id);
            }
            ClientMessage::Subscribe { id, payload } => {
                if !self.initialised {
                    return Some((close::UNAUTHORIZED, "Unauthorized".to_owned()));
                }
                if self.running.contains_key(&id) {
                    let reason = format!(
                        "Subscriber for {} already exists",
                        id.chars().take(64).collect::<String>()
                    );
                    return Some((close::DUPLICATE_ID, reason));
                }
                let max = self
                    .state
                    .subscriptions
                    .config()
                    .max_subscriptions_per_connection;
                if self.running.len() >= max {
                    let e = GraphQLError::new(
                        ErrorCode::BadRequest,
                        format!(
                            "this connection already runs {max} operations, the most \
                             [subscriptions] max_subscriptions_per_connection allows; \
                             complete one first"
                        ),
                    );
                    self.send(protocol::error(&id, &[e])).await;
                    return None;
                }
                self.start(id, payload).await;
            }
        }
        None
    }

    /// Queues a reply to the client's own message. A full queue makes a slow consumer: a
    /// client that sends without reading cannot hold the connection's loop.
    async fn send(&self, text: String) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.out.tx.try_send(Out::Text(text)) {
            self.out.slow.notify_one();
        }
    }

    /// Starts operation `id`: a subscription is registered; a query or mutation runs.
    async fn start(&mut self, id: String, op: Operation) {
        let request = GraphQLRequest {
            query: op.query,
            operation_name: op.operation_name,
            variables: op.variables,
        };
        let p = match prepared(&self.state, &request) {
            Ok(p) => p,
            Err(errors) => return self.send(protocol::error(&id, &errors)).await,
        };
        let kind = p.kind;
        if kind == OperationKind::Subscription {
            if let Err(errors) = crate::execute::permitted(&self.state, &p, &self.ctx) {
                return self.send(protocol::error(&id, &errors)).await;
            }
            if let Err(e) = self
                .admit_subscription(&id, &request, p.depth, p.fields)
                .await
            {
                return self.send(protocol::error(&id, &[e])).await;
            }
        }
        if kind != OperationKind::Subscription {
            let state = self.state.clone();
            let out = self.out.clone();
            let done = self.done.0.clone();
            let task_id = id.clone();
            let ctx = self.ctx.clone();
            let task = tokio::spawn(async move {
                let messages = match crate::http::socket_operation(&state, request, &ctx).await {
                    Ok(body) => {
                        let body = String::from_utf8_lossy(&body);
                        let next = protocol::next(out.protocol, &task_id, &body);
                        vec![next, protocol::complete(&task_id)]
                    }
                    // Nothing ran: an `error` ends the operation (no `complete`).
                    Err(errors) => vec![protocol::error_raw(&task_id, &errors)],
                };
                // The id is free before the client can read the last message, so it may
                // use the id again at once.
                let _ = done.send(task_id);
                for m in messages {
                    let _ = out.tx.send(Out::Text(m)).await;
                }
            });
            self.running
                .insert(id, Running::Request(Some(task.abort_handle())));
            return;
        }
        match self.subscribe(&id, &request) {
            Ok(registration) => {
                self.running.insert(id, Running::Subscription(registration));
            }
            Err(errors) => self.send(protocol::error(&id, &errors)).await,
        }
    }

    /// A subscription's own limits, then the `on_subscribe` hook.
    async fn admit_subscription(
        &self,
        id: &str,
        request: &GraphQLRequest,
        depth: usize,
        fields: usize,
    ) -> Result<(), GraphQLError> {
        let config = self.state.subscriptions.config();
        let over = |what: &str, got: usize, max: Option<usize>| {
            max.filter(|m| got > *m).map(|m| {
                GraphQLError::new(
                    ErrorCode::GraphqlValidationFailed,
                    format!(
                        "subscription {what} {got} exceeds the maximum of {m} \
                         ([subscriptions] max_{})",
                        what.replace(' ', "_")
                    ),
                )
            })
        };
        if let Some(e) = over("selection depth", depth, config.max_selection_depth)
            .or_else(|| over("selected fields", fields, config.max_selected_fields))
        {
            return Err(e);
        }
        let hooks = self.state.subscriptions.hooks();
        if let Some(url) = hooks.on_subscribe() {
            let mut body = self.hook_body("subscribe");
            body["id"] = json!(id);
            body["query"] = json!(request.query);
            body["operation_name"] = json!(request.operation_name);
            body["variables"] = Value::Object(request.variables.clone());
            if let Err(Refused(why)) = hooks.ask(url, &body).await {
                tracing::info!(connection = %self.id, peer = %self.peer, reason = %why, "[subscriptions.hooks] on_subscribe refused a subscription");
                return Err(GraphQLError::new(
                    ErrorCode::Forbidden,
                    "the subscription was refused ([subscriptions.hooks] on_subscribe)",
                ));
            }
        }
        Ok(())
    }

    /// When the connection's token expires (leeway included: the token was accepted within
    /// it); far in the future when it has none.
    fn expiry(&self) -> Instant {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let leeway = self.state.config.auth.as_ref().map_or(0, |a| a.leeway_secs);
        match self.ctx.expires_at {
            Some(exp) => Instant::now() + Duration::from_secs((exp + leeway).saturating_sub(now)),
            None => Instant::now() + Duration::from_secs(86_400 * 365),
        }
    }

    /// The close of a refused `connection_init`, counted under `reason`.
    fn forbidden(&self, reason: &str) -> (u16, String) {
        let metrics = self.state.subscriptions.metrics();
        metrics.refused.with_label_values(&[reason]).inc();
        (close::FORBIDDEN, "Forbidden".to_owned())
    }

    /// What every hook is told about this connection.
    fn hook_body(&self, event: &str) -> Value {
        let protocol = match self.protocol {
            Protocol::TransportWs => Protocol::TRANSPORT_WS,
            Protocol::Legacy => Protocol::LEGACY,
        };
        json!({
            "event": event,
            "connection_id": self.id,
            "remote_addr": self.peer,
            "protocol": protocol,
            "payload": Value::Object(self.init_payload.clone()),
        })
    }

    fn subscribe(
        &self,
        id: &str,
        request: &GraphQLRequest,
    ) -> Result<Registration, Vec<GraphQLError>> {
        let prepared = prepared(&self.state, request)?;
        let mut plan = plan(
            &self.state.api,
            &prepared,
            &request.variables,
            &self.ctx.caller(),
        )?;
        let root = plan.roots.pop().filter(|_| plan.roots.is_empty());
        let Some(root) = root else {
            return Err(vec![GraphQLError::new(
                ErrorCode::GraphqlValidationFailed,
                "a subscription selects exactly one root field",
            )]);
        };
        let RootAction::Subscribe(sub) = root.action else {
            return Err(vec![GraphQLError::new(
                ErrorCode::GraphqlValidationFailed,
                "a subscription's root field must be a field of `Subscription`",
            )]);
        };
        self.state
            .subscriptions
            .subscribe(
                *sub,
                plan.steps,
                self.out.clone(),
                id.to_owned(),
                root.key,
                &self.ctx,
            )
            .map_err(|m| vec![GraphQLError::new(ErrorCode::ServiceUnavailable, m)])
    }
}

/// The token a `connection_init` payload carries: `authToken` (the seeds' and Apollo's
/// spelling), `Authorization`/`authorization` (headers-as-payload clients) or `token`.
fn init_token(payload: &Map<String, Value>) -> Option<&str> {
    ["authToken", "Authorization", "authorization", "token"]
        .iter()
        .find_map(|k| payload.get(*k).and_then(Value::as_str))
}

/// The tenant a `connection_init` payload names: `tenantId` (the seeds' spelling),
/// `tenant_id`, or the tenant header's name.
fn init_tenant<'a>(payload: &'a Map<String, Value>, header: &str) -> Option<&'a str> {
    ["tenantId", "tenant_id", header]
        .iter()
        .find_map(|k| payload.get(*k).and_then(Value::as_str))
}

/// Whether a read error is a message over `max_message_size`.
fn too_big(e: &axum::Error) -> bool {
    let text = e.to_string();
    text.contains("Space limit exceeded") || text.contains("too long") || text.contains("too big")
}

/// A close reason fits in 123 bytes (RFC 6455, 5.5): cut at a character boundary.
fn fit_reason(mut reason: String) -> String {
    if reason.len() > 123 {
        let mut end = 123;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}
