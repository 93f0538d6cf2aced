//! `[observers]`: database changes published as events, and events handled by SQL.
//!
//! Three lists hang off the section: table rules (a change to a table becomes a message on a
//! subject, captured through the transactional outbox), channel rules (a user's own
//! `pg_notify` channel forwarded as it is, best-effort) and subscriptions (a subject whose
//! messages call a SQL handler). The seed's top-level `[[observers]]` array of rules is
//! rewritten into `[observers] rules = [...]` before serde sees it (`load.rs`). The
//! cross-key rules (databases configured, subjects well formed, one rule shape at a time)
//! live in `check.rs`.

use serde::{Deserialize, Serialize};

use super::env::PRIMARY;
use super::federation::Millis;

/// `[observers]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObserversConfig {
    /// Unset: on when there is a rule or a subscription.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Where events go: JetStream, or the embedded single-process bus.
    #[serde(default, alias = "transport")]
    pub backend: Backend,
    /// The NATS server(s), comma separated. Unset: `[observers.nats] url`, else the
    /// `NATS_URL` environment variable, else `nats://127.0.0.1:4222`.
    #[serde(default)]
    pub nats_url: Option<String>,
    /// `[observers.nats]`: the seed's other spelling of the connection.
    #[serde(default)]
    pub nats: NatsSection,
    /// The JetStream stream events are published to; created (covering every rule subject)
    /// when absent.
    #[serde(default = "default_stream", alias = "stream_name")]
    pub stream: String,
    /// More subjects the stream must take (wildcards allowed), beside the rule and
    /// subscription subjects: those other services publish into the same stream.
    #[serde(default)]
    pub stream_subjects: Vec<String>,
    /// The order events of one table are published in: `table` (commit order across the
    /// table's rows: writers of a captured table commit one after another) or `row` (each
    /// row's changes in order, the row lock already orders them; concurrent writers of
    /// different rows do not wait for each other).
    #[serde(default)]
    pub ordering: Ordering,
    /// Install the outbox and the capture triggers at start (else `fraiseql observers
    /// install`).
    #[serde(default = "yes")]
    pub install_triggers: bool,
    /// Outbox rows the relay publishes per round.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// How often the relay looks at an outbox that nothing woke it for, in milliseconds
    /// (PostgreSQL wakes it with `NOTIFY` at each commit; this is then only a fallback).
    #[serde(default = "default_poll_interval")]
    pub poll_interval_ms: Millis,
    /// How long published outbox rows are kept before they are deleted, in seconds.
    #[serde(default = "default_retention_secs")]
    pub retention_secs: u64,
    /// JetStream's duplicate window for a stream the server creates, in seconds: a
    /// message whose `Nats-Msg-Id` was seen within it is dropped.
    #[serde(default = "default_duplicate_window_secs")]
    pub duplicate_window_secs: u64,
    /// `[[observers.rules]]`: table changes and `pg_notify` channels to subjects.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// `[[observers.subscribe]]`: subjects to SQL handlers.
    #[serde(default)]
    pub subscribe: Vec<SubscribeConfig>,
}

impl Default for ObserversConfig {
    fn default() -> Self {
        Self {
            enabled: None,
            backend: Backend::default(),
            nats_url: None,
            nats: NatsSection::default(),
            stream: default_stream(),
            stream_subjects: Vec::new(),
            ordering: Ordering::default(),
            install_triggers: true,
            batch_size: default_batch_size(),
            poll_interval_ms: default_poll_interval(),
            retention_secs: default_retention_secs(),
            duplicate_window_secs: default_duplicate_window_secs(),
            rules: Vec::new(),
            subscribe: Vec::new(),
        }
    }
}

impl ObserversConfig {
    /// Whether anything runs: `enabled` when set, else whether there is any rule or
    /// subscription.
    pub fn is_on(&self) -> bool {
        self.enabled
            .unwrap_or(!self.rules.is_empty() || !self.subscribe.is_empty())
    }

    /// The NATS server(s) to connect to, after `load` resolved the fallbacks.
    pub fn url(&self) -> &str {
        self.nats_url.as_deref().unwrap_or(DEFAULT_NATS_URL)
    }

    /// The rules that capture table changes.
    pub fn table_rules(&self) -> impl Iterator<Item = (usize, &RuleConfig)> {
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.table.is_some())
    }

    /// The rules that forward a `pg_notify` channel.
    pub fn channel_rules(&self) -> impl Iterator<Item = (usize, &RuleConfig)> {
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.channel.is_some())
    }

    /// Every database with the events tables (outbox, inbox, dead letters) and a relay:
    /// the primary (the `emit` helper writes there), those with a table rule and those a
    /// subscription's handler lives in, in that order, each once.
    pub fn outbox_databases<'a>(&'a self, configured: &[&'a str]) -> Vec<&'a str> {
        let mut out: Vec<&str> = Vec::new();
        if configured.contains(&PRIMARY) {
            out.push(PRIMARY);
        }
        let rules = self.table_rules().map(|(_, r)| r.database());
        for db in rules.chain(self.subscribe.iter().map(SubscribeConfig::database)) {
            if !out.contains(&db) {
                out.push(db);
            }
        }
        out
    }
}

pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// `[observers.nats]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSection {
    #[serde(default)]
    pub url: Option<String>,
}

/// How strictly a table's events keep the order of their transactions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ordering {
    /// Commit order across the whole table.
    #[default]
    Table,
    /// Each row's changes in order.
    Row,
}

/// Where published events go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// NATS JetStream: durable, shared by every process.
    #[default]
    Nats,
    /// One process's in-memory bus: no external service, nothing survives a restart.
    #[serde(alias = "in-memory", alias = "in_memory")]
    Memory,
}

/// One `[[observers.rules]]` entry: either a table rule (`table`, `subject`) or a channel
/// rule (`channel`, `nats_subject`); `check.rs` refuses a mix.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// The table whose changes are captured.
    #[serde(default)]
    pub table: Option<String>,
    /// Which changes: `INSERT`, `UPDATE`, `DELETE`, or a list; default all three.
    #[serde(default, alias = "event_type", alias = "events")]
    pub event: Option<Ops>,
    /// The subject; `{op}`, `{table}` and `{<column>}` are replaced per row.
    #[serde(default, alias = "nats_subject")]
    pub subject: Option<String>,
    /// The message body is this view's `data` for the changed row (else the row itself).
    #[serde(default)]
    pub payload_view: Option<String>,
    /// The view column matched to the changed row's column of the same name.
    #[serde(default)]
    pub payload_key: Option<String>,
    /// SQL over the row's columns; the change is captured only when it holds.
    #[serde(default)]
    pub condition: Option<String>,
    /// UPDATE bodies are `{"old": …, "new": …}`.
    #[serde(default)]
    pub include_old: bool,
    /// The database the table (or channel) is in; default `primary`.
    #[serde(default)]
    pub database: Option<String>,
    /// A `pg_notify` channel forwarded to `subject` (PostgreSQL only, best-effort).
    #[serde(default)]
    pub channel: Option<String>,
}

impl RuleConfig {
    pub fn database(&self) -> &str {
        self.database.as_deref().unwrap_or(PRIMARY)
    }

    /// The operations captured.
    pub fn ops(&self) -> Vec<Op> {
        match &self.event {
            None => vec![Op::Insert, Op::Update, Op::Delete],
            Some(Ops::One(op)) => vec![*op],
            Some(Ops::Many(ops)) => ops.clone(),
        }
    }

    /// The view column the payload view is matched on.
    pub fn key(&self) -> &str {
        self.payload_key.as_deref().unwrap_or("id")
    }
}

/// `event = "INSERT"` or `event = ["INSERT", "UPDATE"]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Ops {
    One(Op),
    Many(Vec<Op>),
}

impl<'de> Deserialize<'de> for Ops {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A visitor rather than `untagged`, so a wrong value says what is expected.
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Ops;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("INSERT, UPDATE or DELETE, or a list of them")
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Ops, E> {
                one(s).map(Ops::One)
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Ops, A::Error> {
                let mut ops = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    ops.push(one(&s)?);
                }
                Ok(Ops::Many(ops))
            }
        }
        d.deserialize_any(Visitor)
    }
}

fn one<E: serde::de::Error>(s: &str) -> Result<Op, E> {
    Op::parse(s).ok_or_else(|| {
        E::custom(format!(
            "unknown event `{s}`: expected INSERT, UPDATE or DELETE"
        ))
    })
}

/// A captured change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Op {
    Insert,
    Update,
    Delete,
}

impl Op {
    /// `INSERT`, `UPDATE`, `DELETE` in any case; `CREATE` is the seeds' word for INSERT.
    fn parse(s: &str) -> Option<Op> {
        match s.to_ascii_uppercase().as_str() {
            "INSERT" | "CREATE" => Some(Op::Insert),
            "UPDATE" => Some(Op::Update),
            "DELETE" => Some(Op::Delete),
            _ => None,
        }
    }

    /// The spelling stored in the outbox and sent in the `ce-op` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Insert => "INSERT",
            Op::Update => "UPDATE",
            Op::Delete => "DELETE",
        }
    }
}

/// One `[[observers.subscribe]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeConfig {
    /// The subject (wildcards allowed) whose messages call the handler.
    pub subject: String,
    /// The durable consumer's name, shared by every replica; default derived from the
    /// handler's name.
    #[serde(default, alias = "consumer_group", alias = "consumer_name")]
    pub durable: Option<String>,
    /// The SQL function (procedure on MySQL, trigger view on SQLite) called with the body.
    pub handler: String,
    #[serde(default)]
    pub database: Option<String>,
    /// Deliveries before the event goes to the dead letters; at least 1.
    #[serde(default = "default_max_deliver")]
    pub max_deliver: u32,
    /// The delays before each redelivery (the last one repeats).
    #[serde(default = "default_backoff")]
    pub backoff: Vec<Millis>,
    /// How long a delivery may take before JetStream offers it again, in seconds.
    #[serde(default = "default_ack_wait_secs")]
    pub ack_wait_secs: u64,
}

impl SubscribeConfig {
    pub fn database(&self) -> &str {
        self.database.as_deref().unwrap_or(PRIMARY)
    }

    /// The durable consumer name: as configured, else `fraiseql_<handler>`.
    pub fn durable_name(&self) -> String {
        self.durable
            .clone()
            .unwrap_or_else(|| format!("fraiseql_{}", self.handler.replace('.', "_")))
    }
}

fn yes() -> bool {
    true
}
fn default_stream() -> String {
    "fraiseql_events".into()
}
fn default_batch_size() -> usize {
    100
}
fn default_poll_interval() -> Millis {
    Millis(100)
}
fn default_retention_secs() -> u64 {
    3600
}
fn default_duplicate_window_secs() -> u64 {
    120
}
fn default_max_deliver() -> u32 {
    5
}
fn default_backoff() -> Vec<Millis> {
    vec![Millis(1000), Millis(5000), Millis(30_000)]
}
fn default_ack_wait_secs() -> u64 {
    30
}
