//! GraphQL subscriptions over WebSocket: `graphql-transport-ws` (and the legacy `graphql-ws`
//! subprotocol) on `/graphql`, `/ws` and `/subscriptions`, fed by the events `[observers]`
//! publishes. A client subscribes to a `Subscription` field bound to a topic; each event on
//! the topic names an entity, which is read through its view with the client's selection
//! and pushed. Queries and mutations can be sent over the same socket.
//!
//! - `protocol.rs`: the two subprotocols' messages and the close codes.
//! - `connection.rs`: one socket: states, operations, keep-alive, limits.
//! - `hub.rs`: taps per topic, subscriptions grouped by shape, one read per event and group,
//!   bounded per-connection queues, the connection limits.
//!
//! The upgrade itself (here) picks the subprotocol (none offered: graphql-transport-ws;
//! only others offered: HTTP 400), checks the origin and takes a place under the connection
//! limits; a refusal past the handshake is a close frame with the limit's code, so every
//! WebSocket client sees why.

mod connection;
mod hooks;
mod hub;
mod protocol;

pub(crate) use hub::Hub;

use crate::http::error_response;
use crate::listen::ConnPhase;
use crate::state::AppState;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use fraiseql_engine::error::ErrorCode;
use protocol::{close, Protocol};
use std::sync::Arc;

/// Takes a WebSocket upgrade request on one of the subscription paths.
pub(crate) fn upgrade(
    state: Arc<AppState>,
    ws: WebSocketUpgrade,
    conn: &ConnPhase,
    headers: &HeaderMap,
) -> Response {
    let config = state.subscriptions.config();
    let offered = ws.requested_protocols().count();
    let ws = ws.protocols([Protocol::TRANSPORT_WS, Protocol::LEGACY]);
    let protocol = match ws.selected_protocol().map(|p| p.as_bytes()) {
        Some(p) if p == Protocol::LEGACY.as_bytes() => Protocol::Legacy,
        Some(_) => Protocol::TransportWs,
        // No subprotocol asked for: graphql-transport-ws.
        None if offered == 0 => Protocol::TransportWs,
        // Offered only others: a client that asked for a subprotocol fails the handshake
        // when none is chosen, so the refusal is an HTTP answer it can show.
        None => {
            state
                .subscriptions
                .metrics()
                .refused
                .with_label_values(&["subprotocol"])
                .inc();
            return error_response(
                &state,
                StatusCode::BAD_REQUEST,
                ErrorCode::BadRequest,
                "unsupported WebSocket subprotocol: use graphql-transport-ws (or the legacy \
                 graphql-ws)",
            );
        }
    };
    if !config.allowed_origins.is_empty() {
        let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
        let allowed = origin.is_some_and(|o| config.allowed_origins.iter().any(|a| a == o));
        if !allowed {
            return refuse(&state, ws, close::FORBIDDEN, "Forbidden origin", "origin");
        }
    }
    let admitted = match state.subscriptions.admit(conn.peer.ip()) {
        Ok(a) => a,
        Err((code, reason)) => return close_at_once(ws, code, reason),
    };
    conn.upgraded();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let tenant = state
        .config
        .multi_tenancy
        .as_ref()
        .and_then(|t| headers.get(t.auth_header.as_str()))
        .map(|v| v.to_str().unwrap_or("\u{fffd}").to_owned());
    let max = usize::try_from(config.max_message_size.0).unwrap_or(usize::MAX);
    // The read buffer is each connection's fixed cost (128 KiB by default, allocated up
    // front): 4 KiB holds any client message but a large one, which grows it as needed.
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| {
            connection::serve(state, socket, protocol, admitted, (token, tenant))
        })
}

/// The WebSocket read buffer of a connection.
const READ_BUFFER: usize = 4 * 1024;

/// Completes the upgrade only to close with `code`, counted under `reason_label`.
fn refuse(
    state: &AppState,
    ws: WebSocketUpgrade,
    code: u16,
    reason: &'static str,
    reason_label: &str,
) -> Response {
    state
        .subscriptions
        .metrics()
        .refused
        .with_label_values(&[reason_label])
        .inc();
    close_at_once(ws, code, reason)
}

fn close_at_once(ws: WebSocketUpgrade, code: u16, reason: &'static str) -> Response {
    ws.on_upgrade(move |mut socket| async move {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = socket.send(Message::Close(Some(frame))).await;
    })
}
