//! A WebSocket client for the subscription tests (tokio-tungstenite, raw frames): connect
//! with a subprotocol and headers, send JSON or any frame, read the next message as JSON,
//! or read until the server's close frame and return its code and reason.

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for one message.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

pub(crate) struct Ws {
    pub(crate) socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    /// Connects to `ws://<addr><path>` offering `protocol` (none: no header).
    pub(crate) async fn connect(addr: &str, path: &str, protocol: Option<&str>) -> Ws {
        Self::connect_with(addr, path, protocol, &[])
            .await
            .unwrap_or_else(|e| panic!("WebSocket handshake failed: {e}"))
    }

    /// As [`Ws::connect`], with extra request headers; the handshake's error when it fails.
    pub(crate) async fn connect_with(
        addr: &str,
        path: &str,
        protocol: Option<&str>,
        headers: &[(&'static str, &str)],
    ) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        let mut request = format!("ws://{addr}{path}").into_client_request()?;
        if let Some(p) = protocol {
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", HeaderValue::from_str(p).unwrap());
        }
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(*name, HeaderValue::from_str(value).unwrap());
        }
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Ws { socket })
    }

    /// graphql-transport-ws on `/graphql`, initialised.
    pub(crate) async fn ready(addr: &str) -> Ws {
        let mut ws = Self::connect(addr, "/graphql", Some("graphql-transport-ws")).await;
        ws.send(json!({"type": "connection_init"})).await;
        assert_eq!(ws.recv().await, json!({"type": "connection_ack"}));
        ws
    }

    pub(crate) async fn send(&mut self, message: Value) {
        self.send_text(&message.to_string()).await;
    }

    pub(crate) async fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    pub(crate) async fn send_frame(&mut self, frame: Message) {
        self.socket.send(frame).await.expect("send");
    }

    /// `subscribe` with `query` as operation `id`.
    pub(crate) async fn subscribe(&mut self, id: &str, query: &str) {
        let m = json!({"id": id, "type": "subscribe", "payload": {"query": query}});
        self.send(m).await;
    }

    /// The next text message as JSON (ping and pong frames passed over).
    pub(crate) async fn recv(&mut self) -> Value {
        self.recv_within(WAIT)
            .await
            .unwrap_or_else(|| panic!("no message within {WAIT:?}"))
    }

    /// The next text message within `wait`, or `None`.
    pub(crate) async fn recv_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()?;
            match frame {
                Some(Ok(Message::Text(t))) => {
                    return Some(serde_json::from_str(t.as_str()).expect("JSON message"))
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }

    /// Reads until the close frame; its code and reason (1006 when the connection ended
    /// without one).
    pub(crate) async fn closed(&mut self) -> (u16, String) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("not closed within {WAIT:?}"));
            match frame {
                Some(Ok(Message::Close(Some(f)))) => return (f.code.into(), f.reason.to_string()),
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => {
                    return (1006, String::new())
                }
                Some(Ok(_)) => {}
            }
        }
    }
}
