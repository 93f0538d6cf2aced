//! The two WebSocket subprotocols: `graphql-transport-ws` (the graphql-ws library's
//! protocol, the default) and the legacy `graphql-ws` (subscriptions-transport-ws). Client
//! messages are parsed into one [`ClientMessage`]; server messages are written per protocol.
//! A message that breaks the protocol is a [`Violation`]: the connection closes with 4400.

use fraiseql_engine::error::GraphQLError;
use serde_json::{Map, Value};

/// Which subprotocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    TransportWs,
    Legacy,
}

impl Protocol {
    pub(crate) const TRANSPORT_WS: &'static str = "graphql-transport-ws";
    pub(crate) const LEGACY: &'static str = "graphql-ws";
}

/// Close codes, as graphql-transport-ws defines them, and the WebSocket ones used for
/// limits.
pub(crate) mod close {
    /// A message that breaks the protocol.
    pub(crate) const BAD_REQUEST: u16 = 4400;
    /// `subscribe` before `connection_ack`.
    pub(crate) const UNAUTHORIZED: u16 = 4401;
    /// The connection is refused (an origin not in `[subscriptions] allowed_origins`).
    pub(crate) const FORBIDDEN: u16 = 4403;
    /// No `connection_init` within `connection_init_timeout_ms`.
    pub(crate) const INIT_TIMEOUT: u16 = 4408;
    /// `subscribe` with the id of an operation still running.
    pub(crate) const DUPLICATE_ID: u16 = 4409;
    /// A second `connection_init`, or too many connections from one address.
    pub(crate) const TOO_MANY: u16 = 4429;
    /// The server is shutting down, or the client stopped answering pings.
    pub(crate) const GOING_AWAY: u16 = 1001;
    /// A message larger than `max_message_size`.
    pub(crate) const TOO_BIG: u16 = 1009;
    /// The server is at `max_connections`, or the client reads too slowly.
    pub(crate) const TRY_AGAIN: u16 = 1013;
    /// The legacy `connection_terminate`.
    pub(crate) const NORMAL: u16 = 1000;
}

/// A message from the client.
#[derive(Debug, PartialEq)]
pub(crate) enum ClientMessage {
    /// `connection_init`, with its payload object (auth for later).
    Init(Option<Map<String, Value>>),
    Ping(Option<Value>),
    Pong,
    /// `subscribe` (legacy: `start`).
    Subscribe {
        id: String,
        payload: Operation,
    },
    /// `complete` (legacy: `stop`).
    Complete {
        id: String,
    },
    /// Legacy `connection_terminate`.
    Terminate,
}

/// The operation a `subscribe` carries.
#[derive(Debug, PartialEq)]
pub(crate) struct Operation {
    pub(crate) query: String,
    pub(crate) operation_name: Option<String>,
    pub(crate) variables: Map<String, Value>,
}

/// Why a message breaks the protocol: the close reason (at most 123 bytes on the wire).
#[derive(Debug, PartialEq)]
pub(crate) struct Violation(pub(crate) String);

/// Parses one text message.
pub(crate) fn parse(protocol: Protocol, text: &str) -> Result<ClientMessage, Violation> {
    let bad = |why: &str| Violation(why.to_owned());
    let value: Value = serde_json::from_str(text).map_err(|_| bad("Invalid message: not JSON"))?;
    let Value::Object(mut m) = value else {
        return Err(bad("Invalid message: not a JSON object"));
    };
    let kind = match m.get("type") {
        Some(Value::String(t)) => t.clone(),
        _ => return Err(bad("Invalid message: no `type`")),
    };
    let id = |m: &Map<String, Value>| match m.get("id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
        _ => Err(bad("Invalid message: `id` must be a non-empty string")),
    };
    match (protocol, kind.as_str()) {
        (_, "connection_init") => match m.remove("payload") {
            None | Some(Value::Null) => Ok(ClientMessage::Init(None)),
            Some(Value::Object(p)) => Ok(ClientMessage::Init(Some(p))),
            Some(_) => Err(bad("Invalid message: `payload` must be an object")),
        },
        (Protocol::TransportWs, "ping") => Ok(ClientMessage::Ping(m.remove("payload"))),
        (Protocol::TransportWs, "pong") => Ok(ClientMessage::Pong),
        (Protocol::TransportWs, "subscribe") | (Protocol::Legacy, "start") => {
            let id = id(&m)?;
            let Some(Value::Object(mut p)) = m.remove("payload") else {
                return Err(bad("Invalid message: `payload` must be an object"));
            };
            let query = match p.remove("query") {
                Some(Value::String(q)) => q,
                _ => return Err(bad("Invalid message: `payload.query` must be a string")),
            };
            let operation_name = match p.remove("operationName") {
                None | Some(Value::Null) => None,
                Some(Value::String(n)) => Some(n),
                Some(_) => {
                    return Err(bad(
                        "Invalid message: `payload.operationName` must be a string",
                    ))
                }
            };
            let variables = match p.remove("variables") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(v)) => v,
                Some(_) => {
                    return Err(bad(
                        "Invalid message: `payload.variables` must be an object",
                    ))
                }
            };
            let payload = Operation {
                query,
                operation_name,
                variables,
            };
            Ok(ClientMessage::Subscribe { id, payload })
        }
        (Protocol::TransportWs, "complete") | (Protocol::Legacy, "stop") => {
            Ok(ClientMessage::Complete { id: id(&m)? })
        }
        (Protocol::Legacy, "connection_terminate") => Ok(ClientMessage::Terminate),
        _ => Err(Violation(format!(
            "Invalid message: unknown type `{}`",
            kind.chars().take(32).collect::<String>()
        ))),
    }
}

/// `connection_ack`.
pub(crate) fn ack() -> String {
    r#"{"type":"connection_ack"}"#.to_owned()
}

/// The answer to a client `ping`.
pub(crate) fn pong(payload: Option<&Value>) -> String {
    match payload {
        Some(p) if !p.is_null() => format!(r#"{{"type":"pong","payload":{p}}}"#),
        _ => r#"{"type":"pong"}"#.to_owned(),
    }
}

/// The legacy protocol's keep-alive.
pub(crate) fn keep_alive() -> String {
    r#"{"type":"ka"}"#.to_owned()
}

/// A result for operation `id`: `payload` is a serialized GraphQL response
/// (`{"data":…,"errors":[…]}`).
pub(crate) fn next(protocol: Protocol, id: &str, payload: &str) -> String {
    let kind = match protocol {
        Protocol::TransportWs => "next",
        Protocol::Legacy => "data",
    };
    format!(
        r#"{{"id":{},"type":"{kind}","payload":{payload}}}"#,
        Value::String(id.to_owned())
    )
}

/// Operation `id` failed before it ran (it will send nothing more).
pub(crate) fn error(id: &str, errors: &[GraphQLError]) -> String {
    error_raw(
        id,
        &serde_json::to_string(errors).unwrap_or_else(|_| "[]".into()),
    )
}

/// [`error`] with the errors already serialized (a JSON array).
pub(crate) fn error_raw(id: &str, payload: &str) -> String {
    format!(
        r#"{{"id":{},"type":"error","payload":{payload}}}"#,
        Value::String(id.to_owned())
    )
}

/// Operation `id` is done.
pub(crate) fn complete(id: &str) -> String {
    format!(
        r#"{{"id":{},"type":"complete"}}"#,
        Value::String(id.to_owned())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_of_both_protocols_parse() {
        let t = Protocol::TransportWs;
        let l = Protocol::Legacy;
        assert_eq!(
            parse(t, r#"{"type":"connection_init"}"#),
            Ok(ClientMessage::Init(None))
        );
        assert!(matches!(
            parse(
                t,
                r#"{"type":"connection_init","payload":{"authToken":"x"}}"#
            ),
            Ok(ClientMessage::Init(Some(_)))
        ));
        let sub = r#"{"id":"1","type":"subscribe","payload":{"query":"{a}","variables":{"x":1}}}"#;
        let Ok(ClientMessage::Subscribe { id, payload }) = parse(t, sub) else {
            panic!()
        };
        assert_eq!((id.as_str(), payload.query.as_str()), ("1", "{a}"));
        assert_eq!(payload.variables["x"], 1);
        let start = r#"{"id":"1","type":"start","payload":{"query":"{a}"}}"#;
        assert!(matches!(
            parse(l, start),
            Ok(ClientMessage::Subscribe { .. })
        ));
        assert_eq!(
            parse(l, r#"{"id":"1","type":"stop"}"#),
            Ok(ClientMessage::Complete { id: "1".into() })
        );
        assert_eq!(
            parse(t, r#"{"type":"ping","payload":{"a":1}}"#),
            Ok(ClientMessage::Ping(Some(serde_json::json!({"a":1}))))
        );
        assert_eq!(
            parse(l, r#"{"type":"connection_terminate"}"#),
            Ok(ClientMessage::Terminate)
        );
    }

    #[test]
    fn hostile_messages_are_violations() {
        let t = Protocol::TransportWs;
        for bad in [
            "",
            "not json",
            "[]",
            "null",
            r#"{"type":1}"#,
            r#"{"type":"start","id":"1","payload":{"query":"{a}"}}"#,
            r#"{"type":"subscribe","payload":{"query":"{a}"}}"#,
            r#"{"type":"subscribe","id":"","payload":{"query":"{a}"}}"#,
            r#"{"type":"subscribe","id":7,"payload":{"query":"{a}"}}"#,
            r#"{"type":"subscribe","id":"1"}"#,
            r#"{"type":"subscribe","id":"1","payload":{"query":5}}"#,
            r#"{"type":"subscribe","id":"1","payload":{"query":"{a}","variables":[1]}}"#,
            r#"{"type":"subscribe","id":"1","payload":{"query":"{a}","operationName":3}}"#,
            r#"{"type":"complete"}"#,
            r#"{"type":"connection_init","payload":"token"}"#,
            r#"{"type":"ka"}"#,
        ] {
            assert!(parse(t, bad).is_err(), "{bad}");
        }
        let long = format!(r#"{{"type":"{}"}}"#, "x".repeat(10_000));
        let Err(Violation(why)) = parse(t, &long) else {
            panic!()
        };
        assert!(why.len() <= 123, "a close reason fits its frame");
    }

    #[test]
    fn server_messages_escape_ids() {
        let id = "a\"b";
        let m: Value = serde_json::from_str(&next(Protocol::TransportWs, id, "{}")).unwrap();
        assert_eq!(m["id"], id);
        assert_eq!(m["type"], "next");
        let m: Value = serde_json::from_str(&next(Protocol::Legacy, id, "{}")).unwrap();
        assert_eq!(m["type"], "data");
        let m: Value = serde_json::from_str(&complete(id)).unwrap();
        assert_eq!(m["id"], id);
    }
}
