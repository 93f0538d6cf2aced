//! `[subscriptions]`: GraphQL subscriptions over WebSocket. Every limit a client could push
//! against has a key and a default here; the server (`server/src/subscriptions/`) enforces
//! each and says in `docs/subscriptions.md` what a client sees when it is reached.

use super::federation::Millis;
use super::model::ByteSize;
use serde::{Deserialize, Serialize};

/// `[subscriptions]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionsConfig {
    /// Accept WebSocket connections on `/graphql`, `/ws` and `/subscriptions`.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// WebSocket connections open at once on this server.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// WebSocket connections open at once from one client address.
    #[serde(default = "default_max_connections_per_ip")]
    pub max_connections_per_ip: usize,
    /// Operations (subscriptions, and queries or mutations in flight) one connection runs
    /// at once.
    #[serde(
        default = "default_max_subscriptions",
        alias = "max_active_per_connection"
    )]
    pub max_subscriptions_per_connection: usize,
    /// Largest message a client may send.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: ByteSize,
    /// How long a new connection has to send `connection_init`.
    #[serde(default = "default_init_timeout")]
    pub connection_init_timeout_ms: Millis,
    /// How often the server pings an idle connection; one that sends nothing (not even
    /// the pong) for twice this long is closed.
    #[serde(default = "default_keep_alive")]
    pub keep_alive_ms: Millis,
    /// Messages queued for one connection before it counts as a slow consumer.
    #[serde(default = "default_send_queue")]
    pub send_queue: usize,
    /// Origins (`https://app.example.com`) a browser may open a connection from; a
    /// connection from another is closed with 4403. Empty: any origin.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// What happens to a slow consumer: `close` it (the client reconnects and reads again),
    /// or `drop` the events it has no room for (counted) and keep it open.
    #[serde(default)]
    pub slow_consumer: SlowConsumer,
    /// How deep a subscription's selection may nest (its root field is 1), below
    /// `[validation] max_query_depth`: each event runs the selection once per group of
    /// subscribers, for as long as they stay. None: only the request limits.
    #[serde(default)]
    pub max_selection_depth: Option<usize>,
    /// How many fields a subscription may select. None: only the request limits.
    #[serde(default, alias = "max_fields_per_subscription")]
    pub max_selected_fields: Option<usize>,
    /// HTTP endpoints told of connections and subscriptions (`[subscriptions.hooks]`).
    #[serde(default)]
    pub hooks: SubscriptionHooks,
}

/// `[subscriptions.hooks]`: URLs the server POSTs JSON to. `on_connect` and `on_subscribe`
/// decide (fail-closed: an answer other than 2xx, or none within `timeout_ms`, refuses);
/// `on_disconnect` is told and not waited for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionHooks {
    /// Asked after `connection_init`, before `connection_ack`: refused closes with 4403.
    #[serde(default)]
    pub on_connect: Option<String>,
    /// Asked before a subscription starts: refused sends `error` (FORBIDDEN) for its id.
    #[serde(default)]
    pub on_subscribe: Option<String>,
    /// Told when an initialised connection ends.
    #[serde(default)]
    pub on_disconnect: Option<String>,
    /// How long a hook may take.
    #[serde(default = "default_hook_timeout")]
    pub timeout_ms: Millis,
}

impl Default for SubscriptionHooks {
    fn default() -> Self {
        Self {
            on_connect: None,
            on_subscribe: None,
            on_disconnect: None,
            timeout_ms: default_hook_timeout(),
        }
    }
}

impl SubscriptionHooks {
    /// Each configured hook with its key.
    pub fn urls(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("on_connect", &self.on_connect),
            ("on_subscribe", &self.on_subscribe),
            ("on_disconnect", &self.on_disconnect),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
    }
}

impl Default for SubscriptionsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_connections: default_max_connections(),
            max_connections_per_ip: default_max_connections_per_ip(),
            max_subscriptions_per_connection: default_max_subscriptions(),
            max_message_size: default_max_message_size(),
            connection_init_timeout_ms: default_init_timeout(),
            keep_alive_ms: default_keep_alive(),
            send_queue: default_send_queue(),
            allowed_origins: Vec::new(),
            slow_consumer: SlowConsumer::default(),
            max_selection_depth: None,
            max_selected_fields: None,
            hooks: SubscriptionHooks::default(),
        }
    }
}

/// What to do with a connection whose queue is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlowConsumer {
    #[default]
    Close,
    Drop,
}

fn yes() -> bool {
    true
}
fn default_max_connections() -> usize {
    10_000
}
fn default_max_connections_per_ip() -> usize {
    100
}
fn default_max_subscriptions() -> usize {
    100
}
fn default_max_message_size() -> ByteSize {
    ByteSize(64 * 1024)
}
fn default_init_timeout() -> Millis {
    Millis(3_000)
}
fn default_keep_alive() -> Millis {
    Millis(15_000)
}
fn default_send_queue() -> usize {
    256
}
fn default_hook_timeout() -> Millis {
    Millis(500)
}
