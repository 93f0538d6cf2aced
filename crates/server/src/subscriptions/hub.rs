//! The hub: which connection listens to what, and each event's way to them.
//!
//! One tap per subscription topic (`events/tap.rs`) feeds one dispatch task. Subscriptions
//! with the same selection, arguments and topic form a group: an event is read once per
//! group (one statement through the entity's view, `execute::read_event`) and the row is
//! queued for every member. A group whose key argument pins another entity is passed over
//! without a read. Events of one topic are handled one after another, so each client sees
//! them in the order the bus delivered them.
//!
//! A connection's outbound queue ([`Sink`]) is bounded; the hub never waits for a client.
//! When the queue is full the connection is a slow consumer: it is closed, or its events
//! are dropped and counted (`[subscriptions] slow_consumer`).

use super::hooks::Hooks;
use super::protocol::{self, Protocol};
use crate::context::RequestContext;
use crate::events::Tapped;
use crate::execute::read_event;
use crate::metrics::SubscriptionMetrics;
use crate::state::AppState;
use fraiseql_engine::config::{SlowConsumer, SubscriptionsConfig};
use fraiseql_engine::error::{GraphQLError, PathSegment};
use fraiseql_engine::plan::{Filter, Item, Op, Selection, Shape, Step, Subscribe};
use fraiseql_engine::response::{assemble, RootValue};
use fraiseql_engine::schema::snake_case;
use indexmap::IndexMap;
use serde_json::Value;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::{mpsc, watch, Notify};

/// What a connection's writer sends.
#[derive(Debug)]
pub(crate) enum Out {
    Text(String),
    /// A WebSocket ping frame (clients answer it on their own).
    Ping,
    Close(u16, String),
}

/// A connection's outbound queue, as the hub and the connection's operations use it.
#[derive(Clone)]
pub(crate) struct Sink {
    pub(crate) tx: mpsc::Sender<Out>,
    pub(crate) protocol: Protocol,
    /// Woken when the connection must close as a slow consumer.
    pub(crate) slow: Arc<Notify>,
    policy: SlowConsumer,
    metrics: SubscriptionMetrics,
}

impl Sink {
    pub(crate) fn new(
        tx: mpsc::Sender<Out>,
        protocol: Protocol,
        policy: SlowConsumer,
        metrics: SubscriptionMetrics,
    ) -> Self {
        Self {
            tx,
            protocol,
            slow: Arc::new(Notify::new()),
            policy,
            metrics,
        }
    }

    /// Queues an event message without waiting; a full queue makes a slow consumer.
    fn event(&self, text: String) {
        match self.tx.try_send(Out::Text(text)) {
            Ok(()) => self.metrics.pushed.inc(),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics
                    .dropped
                    .with_label_values(&["slow_consumer"])
                    .inc();
                if self.policy == SlowConsumer::Close {
                    self.slow.notify_one();
                }
            }
            // The connection is closing.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// Subscriptions that share a topic, a selection and arguments: one read per event.
struct Group {
    sub: Arc<Subscribe>,
    steps: Arc<[Step]>,
    /// Whose settings the reads carry: a group holds only members with the same ones.
    ctx: RequestContext,
    /// `<entity>_<key>` (`order_id`): the data key naming the entity in other rows.
    key_alias: String,
    members: Vec<Member>,
}

#[derive(Clone)]
struct Member {
    id: u64,
    sink: Sink,
    /// The operation id the client chose.
    op_id: String,
    /// The response key (alias or field name).
    key: String,
}

/// What a dispatch task takes from the registry for one event.
struct Snapshot {
    sub: Arc<Subscribe>,
    steps: Arc<[Step]>,
    ctx: RequestContext,
    key_alias: String,
    members: Vec<Member>,
}

/// Every subscription and connection of this server.
pub(crate) struct Hub {
    config: SubscriptionsConfig,
    metrics: SubscriptionMetrics,
    /// Topic -> groups by shape.
    topics: Mutex<HashMap<String, IndexMap<String, Group>>>,
    next_id: AtomicU64,
    /// Whether events arrive (the taps run).
    live: AtomicBool,
    /// Turns true at shutdown: taps end, connections close with 1001.
    stop: watch::Sender<bool>,
    /// Connections open, in all and per client address.
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
    hooks: Hooks,
}

/// A connection's place under the connection limits; freed when dropped.
pub(crate) struct Admitted {
    hub: Arc<Hub>,
    ip: IpAddr,
}

impl Admitted {
    /// The client's address.
    pub(crate) fn ip(&self) -> IpAddr {
        self.ip
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = lock(&self.hub.open);
        open.0 = open.0.saturating_sub(1);
        if let Some(n) = open.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.ip);
            }
        }
        self.hub.metrics.connections.dec();
    }
}

/// A registered subscription; removed from the hub when dropped.
pub(crate) struct Registration {
    hub: Arc<Hub>,
    topic: String,
    shape: String,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut topics = lock(&self.hub.topics);
        if let Some(groups) = topics.get_mut(&self.topic) {
            if let Some(g) = groups.get_mut(&self.shape) {
                g.members.retain(|m| m.id != self.id);
                if g.members.is_empty() {
                    groups.shift_remove(&self.shape);
                }
            }
        }
        self.hub.metrics.active.dec();
    }
}

impl Hub {
    pub(crate) fn new(config: SubscriptionsConfig, metrics: SubscriptionMetrics) -> Self {
        Self {
            metrics,
            topics: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            live: AtomicBool::new(false),
            stop: watch::channel(false).0,
            open: Mutex::new((0, HashMap::new())),
            hooks: Hooks::new(config.hooks.clone()),
            config,
        }
    }

    pub(crate) fn hooks(&self) -> &Hooks {
        &self.hooks
    }

    pub(crate) fn config(&self) -> &SubscriptionsConfig {
        &self.config
    }

    pub(crate) fn metrics(&self) -> &SubscriptionMetrics {
        &self.metrics
    }

    /// Starts one tap per topic the schema's subscriptions name, when `[observers]` runs.
    pub(crate) fn start(self: &Arc<Self>, state: &Arc<AppState>) {
        let mut topics: Vec<&str> = state
            .api
            .compiled
            .subscriptions
            .values()
            .filter_map(|s| s.topic.as_deref())
            .collect();
        topics.sort_unstable();
        topics.dedup();
        if topics.is_empty() {
            return;
        }
        let Some(events) = &state.events else {
            tracing::warn!(
                "[subscriptions] the schema has subscriptions but [observers] is off: nothing \
                 feeds them, and subscribing answers an error (docs/subscriptions.md)"
            );
            return;
        };
        for topic in topics {
            let rx = events.tap(topic, self.stop.subscribe());
            let hub = self.clone();
            let weak = Arc::downgrade(state);
            let topic = topic.to_owned();
            tokio::spawn(async move { hub.dispatch(weak, topic, rx).await });
        }
        self.live.store(true, Ordering::Release);
    }

    /// Ends the taps and tells every connection to close.
    pub(crate) fn shutdown(&self) {
        let _ = self.stop.send(true);
    }

    /// Turns true at shutdown.
    pub(crate) fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Takes a place for a new connection from `ip`, or says which limit it meets.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, (u16, &'static str)> {
        let mut open = lock(&self.open);
        let refused = |reason: &'static str| {
            self.metrics.refused.with_label_values(&[reason]).inc();
        };
        if open.0 >= self.config.max_connections {
            refused("max_connections");
            return Err((
                protocol::close::TRY_AGAIN,
                "Too many connections to this server",
            ));
        }
        let from_ip = open.1.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.config.max_connections_per_ip {
            refused("max_connections_per_ip");
            return Err((
                protocol::close::TOO_MANY,
                "Too many connections from this address",
            ));
        }
        open.0 += 1;
        open.1.insert(ip, from_ip + 1);
        self.metrics.connections.inc();
        Ok(Admitted {
            hub: self.clone(),
            ip,
        })
    }

    /// Registers a subscription: its events go to `sink` as operation `op_id` under the
    /// response key `key`.
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        sub: Subscribe,
        steps: Vec<Step>,
        sink: Sink,
        op_id: String,
        key: String,
        ctx: &RequestContext,
    ) -> Result<Registration, String> {
        if !self.live.load(Ordering::Acquire) {
            return Err(
                "subscriptions receive no events on this server: [observers] is not \
                        configured (see docs/subscriptions.md)"
                    .to_owned(),
            );
        }
        let topic = sub.topic.clone();
        // Subscribers who read alike: the same selection, arguments and SQL settings (with
        // row-level security, two callers may see different rows).
        let shape = format!("{sub:?}{steps:?}{:?}", ctx.settings);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let member = Member {
            id,
            sink,
            op_id,
            key,
        };
        let mut topics = lock(&self.topics);
        let groups = topics.entry(topic.clone()).or_default();
        match groups.get_mut(&shape) {
            Some(g) => g.members.push(member),
            None => {
                let entity = match &sub.fetch.shape {
                    Shape::One(s) => snake_case(&s.type_name),
                    _ => String::new(),
                };
                let key_alias = format!("{entity}_{}", sub.key.path.join("."));
                groups.insert(
                    shape.clone(),
                    Group {
                        sub: Arc::new(sub),
                        steps: steps.into(),
                        ctx: ctx.clone(),
                        key_alias,
                        members: vec![member],
                    },
                );
            }
        }
        self.metrics.active.inc();
        Ok(Registration {
            hub: self.clone(),
            topic,
            shape,
            id,
        })
    }

    fn snapshot(&self, topic: &str) -> Vec<Snapshot> {
        let topics = lock(&self.topics);
        let Some(groups) = topics.get(topic) else {
            return Vec::new();
        };
        groups
            .values()
            .map(|g| Snapshot {
                sub: g.sub.clone(),
                steps: g.steps.clone(),
                ctx: g.ctx.clone(),
                key_alias: g.key_alias.clone(),
                members: g.members.clone(),
            })
            .collect()
    }

    async fn dispatch(
        self: Arc<Self>,
        state: Weak<AppState>,
        topic: String,
        mut rx: mpsc::Receiver<Tapped>,
    ) {
        let mut warned = false;
        while let Some(event) = rx.recv().await {
            let groups = self.snapshot(&topic);
            if groups.is_empty() {
                continue;
            }
            let Some(state) = state.upgrade() else { return };
            let unkeyed = self.deliver(&state, &event, groups).await;
            if unkeyed && !warned {
                warned = true;
                tracing::warn!(
                    topic = %topic,
                    subject = %crate::log::clip(&event.subject),
                    "[subscriptions] an event names no entity (its body has neither the \
                     entity's key nor `<entity>_<key>`, and no ce-subject header); such events \
                     are dropped and counted (reason no_key)"
                );
            }
        }
    }

    /// Reads the event's entity once per interested group and queues it for every member.
    /// True when the event named no entity.
    async fn deliver(&self, state: &AppState, event: &Tapped, groups: Vec<Snapshot>) -> bool {
        let body: Value = serde_json::from_slice(&event.body).unwrap_or(Value::Null);
        let body = &body;
        let deleted = event
            .op
            .as_deref()
            .is_some_and(|o| o.eq_ignore_ascii_case("DELETE"));
        let mut unkeyed = false;
        let mut reads = Vec::new();
        for g in groups {
            // A tenant's subscribers hear only their tenant's changes (a deleted entity is
            // sent from the event itself, with no read to filter it).
            if g.ctx.tenant.is_some() && g.ctx.tenant != event.tenant {
                continue;
            }
            if let Some(op) = &g.sub.operation {
                if !event
                    .op
                    .as_deref()
                    .is_some_and(|o| o.eq_ignore_ascii_case(op))
                {
                    continue;
                }
            }
            let Some(key) = event_key(body, event, &g.sub, &g.key_alias) else {
                unkeyed = true;
                self.metrics
                    .dropped
                    .with_label_values(&["no_key"])
                    .inc_by(g.members.len() as u64);
                continue;
            };
            if let Some(pinned) = &g.sub.key_value {
                if !same_value(pinned, &key) {
                    continue;
                }
            }
            reads.push(async move {
                let read = if deleted {
                    // The row is gone from the view: what the event carries is all there is.
                    (deleted_entity(&g.sub, body), Vec::new())
                } else {
                    let field = g.sub.field.clone();
                    read_event(state, &field, g.sub.read(key), &g.steps, &g.ctx).await
                };
                (g, read)
            });
        }
        let results = futures::future::join_all(reads).await;
        let latency = event.time.as_deref().and_then(since);
        for (g, (value, errors)) in results {
            // No row and no error: the entity is gone, or the arguments filter it out. An
            // error (the database is down) is sent, with the field null.
            let root = match &value {
                Some(text) => RootValue::Raw(text),
                None if errors.is_empty() => continue,
                None => RootValue::Null,
            };
            for m in &g.members {
                let errors: Vec<GraphQLError> = errors
                    .iter()
                    .map(|e| e.clone().at(vec![PathSegment::Key(m.key.clone())]))
                    .collect();
                let mut payload = Vec::with_capacity(value.as_ref().map_or(0, String::len) + 64);
                assemble(&mut payload, &[(&m.key, root)], &errors, None);
                let payload = String::from_utf8_lossy(&payload);
                m.sink
                    .event(protocol::next(m.sink.protocol, &m.op_id, &payload));
                if let Some(seconds) = latency {
                    self.metrics.latency.observe(seconds);
                }
            }
        }
        unkeyed
    }
}

/// The entity an event names: `<entity>_<key>` or the key in the changed row (`new` of an
/// UPDATE body with old and new), else the `ce-subject` header (the row's own id).
fn event_key(body: &Value, event: &Tapped, sub: &Subscribe, key_alias: &str) -> Option<Value> {
    let row = body.get("new").filter(|v| v.is_object()).unwrap_or(body);
    let scalar = |v: &&Value| matches!(v, Value::String(_) | Value::Number(_));
    row.get(key_alias)
        .filter(scalar)
        .or_else(|| sub.key.path.first().and_then(|k| row.get(k)).filter(scalar))
        .cloned()
        .or_else(|| event.about.clone().map(Value::String))
}

/// Whether two keys are the same entity: compared as text, UUIDs in any case.
fn same_value(a: &Value, b: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.to_ascii_lowercase(),
        other => other.to_string(),
    };
    text(a) == text(b)
}

/// A deleted entity as the event's row has it (`old` of an UPDATE-shaped body, else the
/// body): the selection's own fields, relations and computed fields (SQL over a row that
/// is gone) `null`. `None` when the other arguments
/// filter it out.
fn deleted_entity(sub: &Subscribe, body: &Value) -> Option<String> {
    let row = body.get("old").filter(|v| v.is_object()).unwrap_or(body);
    if let Some(filter) = &sub.fetch.filter {
        if !row_matches(filter, row) {
            return None;
        }
    }
    let Shape::One(selection) = &sub.fetch.shape else {
        return None;
    };
    Some(project(selection, row).to_string())
}

fn project(selection: &Selection, row: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for item in &selection.items {
        match item {
            Item::Typename { key } => {
                out.insert(key.clone(), Value::String(selection.type_name.clone()));
            }
            Item::Value {
                key,
                path,
                enum_map,
            } => {
                let mut v = path.iter().try_fold(row, |v, p| v.get(p)).cloned();
                if let (Some(Value::String(stored)), Some(map)) = (&v, enum_map) {
                    if let Some((_, name)) = map.iter().find(|(s, _)| s == stored) {
                        v = Some(Value::String(name.clone()));
                    }
                }
                out.insert(key.clone(), v.unwrap_or(Value::Null));
            }
            Item::Object { key, .. }
            | Item::ObjectList { key, .. }
            | Item::Related { key, .. }
            | Item::Remote { key, .. }
            | Item::Computed { key, .. } => {
                out.insert(key.clone(), Value::Null);
            }
        }
    }
    Value::Object(out)
}

/// A subscription's argument filter (equalities and lists, all of them) over a row.
fn row_matches(filter: &Filter, row: &Value) -> bool {
    match filter {
        Filter::And(all) => all.iter().all(|f| row_matches(f, row)),
        Filter::Compare { target, op, value } => {
            let got = target.path.iter().try_fold(row, |v, p| v.get(p));
            let Some(got) = got else { return false };
            match (op, value) {
                (Op::In, Value::Array(options)) => options.iter().any(|o| same_value(o, got)),
                _ => same_value(value, got),
            }
        }
        _ => true,
    }
}

/// Seconds since an RFC 3339 time, when it parses and is not in the future.
fn since(time: &str) -> Option<f64> {
    let t =
        time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339).ok()?;
    let seconds = (time::OffsetDateTime::now_utc() - t).as_seconds_f64();
    (seconds >= 0.0).then_some(seconds)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fraiseql_engine::plan::{Fetch, Target};
    use fraiseql_engine::schema::ScalarKind;
    use serde_json::json;

    fn subscription(filter: Option<Filter>) -> Subscribe {
        Subscribe {
            field: "orderUpdated".into(),
            topic: "orders.>".into(),
            operation: None,
            key: Target {
                path: vec!["id".into()],
                kind: ScalarKind::Id,
            },
            key_value: None,
            fetch: Fetch {
                field: "orderUpdated".into(),
                database: "primary".into(),
                view: "v_order".into(),
                shape: Shape::One(Selection {
                    type_name: "Order".into(),
                    items: vec![
                        Item::Typename {
                            key: "__typename".into(),
                        },
                        Item::Value {
                            key: "id".into(),
                            path: vec!["id".into()],
                            enum_map: None,
                        },
                        Item::Value {
                            key: "status".into(),
                            path: vec!["status".into()],
                            enum_map: Some(vec![("shipped".into(), "SHIPPED".into())]),
                        },
                    ],
                }),
                filter,
                order: Vec::new(),
                entity: None,
            },
        }
    }

    fn tapped(about: Option<&str>) -> Tapped {
        Tapped {
            subject: "orders.x".into(),
            op: Some("UPDATE".into()),
            about: about.map(str::to_owned),
            time: None,
            tenant: None,
            body: bytes::Bytes::new(),
        }
    }

    #[test]
    fn the_entity_key_comes_from_the_row_then_the_header() {
        let sub = subscription(None);
        let ev = tapped(Some("from-header"));
        let key = |body: Value| event_key(&body, &ev, &sub, "order_id");
        assert_eq!(key(json!({"order_id": "A", "id": "B"})), Some(json!("A")));
        assert_eq!(key(json!({"id": 7})), Some(json!(7)));
        assert_eq!(
            key(json!({"old": {"id": "X"}, "new": {"id": "Y"}})),
            Some(json!("Y"))
        );
        assert_eq!(
            key(json!({"id": {"nested": 1}})),
            Some(json!("from-header"))
        );
        assert_eq!(key(json!("not an object")), Some(json!("from-header")));
        let no_header = tapped(None);
        assert_eq!(
            event_key(&json!({"x": 1}), &no_header, &sub, "order_id"),
            None
        );
    }

    #[test]
    fn keys_compare_as_text_and_uuids_in_any_case() {
        assert!(same_value(&json!("AB-cd"), &json!("ab-CD")));
        assert!(same_value(&json!(7), &json!(7)));
        assert!(!same_value(&json!("7"), &json!(8)));
    }

    #[test]
    fn a_deleted_entity_is_projected_from_the_event_and_filtered() {
        let sub = subscription(None);
        let text = deleted_entity(&sub, &json!({"id": "A", "status": "shipped", "x": 1})).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"__typename": "Order", "id": "A", "status": "SHIPPED"})
        );
        let filtered = subscription(Some(Filter::Compare {
            target: Target {
                path: vec!["status".into()],
                kind: ScalarKind::Text,
            },
            op: Op::Eq,
            value: json!("pending"),
        }));
        assert_eq!(
            deleted_entity(&filtered, &json!({"id": "A", "status": "shipped"})),
            None
        );
        assert!(
            deleted_entity(&filtered, &json!({"old": {"id": "A", "status": "pending"}})).is_some()
        );
    }
}
