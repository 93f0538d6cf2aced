//! Events: committed database changes published to NATS JetStream (or the embedded memory
//! bus) through a transactional outbox, and inbound events handled by SQL functions.
//!
//! - `outbox.rs`: everything the database side does (the outbox and its capture triggers,
//!   the relay's lease and statements, handler calls with their dedupe, dead letters).
//! - `message.rs`: an outbox row as a message (subject template, CloudEvents headers).
//! - `bus.rs`: JetStream or the memory bus; the stream.
//! - `relay.rs`: outbox to bus, one task per database; `forward.rs`: `pg_notify` channels.
//! - `inbound.rs`: durable consumers calling SQL handlers; `replay.rs`: history replayed.
//! - `status.rs`: what the tasks report to `/health`.
//! - `tap.rs`: a subject's messages fed to the GraphQL subscriptions of this process.
//! - `tenants.rs`: a relay per open tenant database (`database_per_tenant`).
//!
//! [`Events`] owns the tasks: each is supervised (a panic restarts it after a backoff),
//! and [`Events::stop`] stops them in order: consumers first, then the relays, which drain.

mod bus;
mod forward;
mod inbound;
mod message;
mod outbox;
#[cfg(test)]
mod outbox_tests;
mod relay;
mod replay;
mod status;
mod tap;
mod tenants;

pub use replay::{replay, ReplayError, ReplayOptions};
pub(crate) use tap::Tapped;

use crate::db::tenants::TenantDatabases;
use crate::db::Database;
use crate::metrics::Metrics;
use bus::Bus;
use fraiseql_engine::config::{Backend, Config};
use indexmap::IndexMap;
use serde_json::{json, Value};
use status::{Backoff, ConsumerStatus, RelayStatus};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long start-up waits for NATS before going on without it (it connects later).
const STARTUP_NATS_WAIT: Duration = Duration::from_secs(3);
/// How long consumers get to finish the message in hand at shutdown.
const CONSUMER_STOP: Duration = Duration::from_secs(10);

/// The running event machinery of one server.
pub(crate) struct Events {
    bus: Arc<Bus>,
    backend: Backend,
    stream: String,
    relays: IndexMap<String, Arc<RelayStatus>>,
    /// The relays of open tenant databases, when a database per tenant has an outbox.
    tenant_relays: Option<Arc<tenants::TenantRelays>>,
    consumers: IndexMap<String, Arc<ConsumerStatus>>,
    stop_consumers: watch::Sender<bool>,
    stop_relays: watch::Sender<bool>,
    consumer_tasks: Mutex<Vec<JoinHandle<()>>>,
    relay_tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// Starts the relays, channel forwarders and consumers `[observers]` asks for; `None` when
/// it asks for nothing. Fails on what a restart would not fix: a stream that exists without
/// the rule subjects, capture triggers that cannot be installed on a database that answers.
/// `topics` are the subjects the schema's subscriptions listen on: the stream must take
/// them too. A database per tenant (in `tenants`) gets a relay per open tenant database,
/// and a handler there runs in the event's tenant's database.
pub(crate) async fn start(
    config: &Config,
    databases: &IndexMap<String, Arc<Database>>,
    tenants: Option<&Arc<TenantDatabases>>,
    metrics: &Metrics,
    topics: Vec<String>,
) -> Result<Option<Events>, String> {
    let o = &config.observers;
    if !o.is_on() {
        return Ok(None);
    }
    let mut subjects = subjects(config);
    subjects.extend(topics);
    let bus = Arc::new(Bus::connect(o, subjects).await?);
    if let Bus::Nats(nats) = &*bus {
        tracing::info!(
            "[observers] transport: nats ({}), stream: {}",
            o.url(),
            o.stream
        );
        match tokio::time::timeout(STARTUP_NATS_WAIT, nats.ensure_stream()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e @ (bus::StreamError::Uncovered(_) | bus::StreamError::Refused(_)))) => {
                return Err(format!("[observers] stream `{}`: {e}", o.stream));
            }
            Ok(Err(e)) => {
                tracing::warn!("[observers] {e}; events wait in the outbox until NATS answers")
            }
            Err(_) => tracing::warn!(
                "[observers] NATS does not answer yet; events wait in the outbox until it does"
            ),
        }
    } else {
        tracing::info!("[observers] transport: memory (this process only)");
    }

    let names: Vec<&str> = config.databases.keys().map(String::as_str).collect();
    let per_tenant = |name: &str| tenants.is_some_and(|t| t.serves(name));
    let (tenant_outboxes, outboxes): (Vec<&str>, Vec<&str>) = o
        .outbox_databases(&names)
        .into_iter()
        .partition(|name| per_tenant(name));
    let mut installed = Vec::new();
    for &name in &outboxes {
        let db = &databases[name];
        if o.install_triggers && db.ping().await.is_ok() {
            outbox::install(db, o)
                .await
                .map_err(|e| format!("[observers] database `{name}`: {e}"))?;
            installed.push(name);
        }
    }

    let (stop_consumers, consumers_rx) = watch::channel(false);
    let (stop_relays, relays_rx) = watch::channel(false);
    let mut events = Events {
        bus: bus.clone(),
        backend: o.backend,
        stream: o.stream.clone(),
        relays: IndexMap::new(),
        tenant_relays: None,
        consumers: IndexMap::new(),
        stop_consumers,
        stop_relays,
        consumer_tasks: Mutex::new(Vec::new()),
        relay_tasks: Mutex::new(Vec::new()),
    };
    if let (Some(t), false) = (tenants, tenant_outboxes.is_empty()) {
        let relays = Arc::new(tenants::TenantRelays::new(
            tenant_outboxes.iter().map(|n| (*n).to_owned()).collect(),
            bus.clone(),
            metrics.clone(),
            o.clone(),
            config.project.name.clone(),
        ));
        t.watch(relays.clone());
        events.tenant_relays = Some(relays);
    }
    let mut relay_tasks = Vec::new();
    for name in outboxes {
        let status = Arc::new(RelayStatus::default());
        events.relays.insert(name.to_owned(), status.clone());
        let source = message::source(&config.project.name, name);
        let relay = Arc::new(relay::Relay {
            db: databases[name].clone(),
            bus: bus.clone(),
            status: status.clone(),
            metrics: metrics.clone(),
            source: source.clone(),
            tenant: None,
            batch: o.batch_size,
            poll: Duration::from_millis(o.poll_interval_ms.0.max(1)),
            retention: Duration::from_secs(o.retention_secs),
            install: (o.install_triggers && !installed.contains(&name)).then(|| o.clone()),
        });
        relay_tasks.push(supervise(format!("relay {name}"), relays_rx.clone(), {
            let relay = relay.clone();
            move |stop| relay.clone().run(stop)
        }));
        let routes: Vec<(String, String)> = o
            .channel_rules()
            .filter(|(_, r)| r.database() == name)
            .filter_map(|(_, r)| Some((r.channel.clone()?, r.subject.clone()?)))
            .collect();
        if !routes.is_empty() {
            let forward = Arc::new(forward::Forward {
                db: databases[name].clone(),
                bus: bus.clone(),
                routes,
                relay: status,
                source,
                metrics: metrics.clone(),
            });
            relay_tasks.push(supervise(format!("pg_notify {name}"), relays_rx.clone(), {
                move |stop| forward.clone().run(stop)
            }));
        }
    }
    let mut consumer_tasks = Vec::new();
    for sub in &o.subscribe {
        let durable = sub.durable_name();
        let status = Arc::new(ConsumerStatus::default());
        events.consumers.insert(durable.clone(), status.clone());
        let consumer = Arc::new(inbound::Consumer {
            sub: sub.clone(),
            durable: durable.clone(),
            target: match tenants.filter(|t| t.serves(sub.database())) {
                Some(t) => inbound::Target::PerTenant(sub.database().to_owned(), t.clone()),
                None => inbound::Target::Fixed(databases[sub.database()].clone()),
            },
            bus: bus.clone(),
            status,
            metrics: metrics.clone(),
        });
        consumer_tasks.push(supervise(
            format!("consumer {durable}"),
            consumers_rx.clone(),
            move |stop| consumer.clone().run(stop),
        ));
    }
    events.relay_tasks = Mutex::new(relay_tasks);
    events.consumer_tasks = Mutex::new(consumer_tasks);
    Ok(Some(events))
}

/// Every subject the stream must take: each table rule's subject (placeholders as `*`),
/// each channel rule's, each subscription's, and `stream_subjects`.
fn subjects(config: &Config) -> Vec<String> {
    let o = &config.observers;
    let rules = o
        .rules
        .iter()
        .filter_map(|r| r.subject.as_deref())
        .map(bus::template_pattern);
    let subscriptions = o.subscribe.iter().map(|s| s.subject.clone());
    let extra = o.stream_subjects.iter().cloned();
    rules.chain(subscriptions).chain(extra).collect()
}

/// Runs `task` until it returns; a panic is logged and the task started again after a
/// backoff, until `stop` turns true.
fn supervise<F, Fut>(name: String, stop: watch::Receiver<bool>, task: F) -> JoinHandle<()>
where
    F: Fn(watch::Receiver<bool>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut backoff = Backoff::new();
        loop {
            match tokio::spawn(task(stop.clone())).await {
                Ok(()) => return,
                // The runtime is shutting down.
                Err(e) if e.is_cancelled() => return,
                Err(e) => {
                    tracing::error!(task = %name, error = %e, "[observers] background task panicked; starting it again");
                }
            }
            let mut stop = stop.clone();
            if relay::sleep_or_stop(backoff.next(), &mut stop).await {
                return;
            }
        }
    })
}

impl Events {
    /// Stops consumers (each finishes the message in hand), then the relays (each
    /// publishes what is waiting for a few seconds).
    pub(crate) async fn stop(&self) {
        let _ = self.stop_consumers.send(true);
        let tasks = std::mem::take(&mut *lock(&self.consumer_tasks));
        let _ = tokio::time::timeout(CONSUMER_STOP, futures::future::join_all(tasks)).await;
        let _ = self.stop_relays.send(true);
        let tasks = std::mem::take(&mut *lock(&self.relay_tasks));
        let tenants = async {
            if let Some(t) = &self.tenant_relays {
                t.stop(CONSUMER_STOP).await;
            }
        };
        let all = futures::future::join(futures::future::join_all(tasks), tenants);
        let _ = tokio::time::timeout(CONSUMER_STOP, all).await;
        if let Bus::Nats(nats) = &*self.bus {
            let _ = nats.client.flush().await;
        }
    }

    /// Whether something is wrong: NATS away, a relay or consumer failing.
    pub(crate) fn degraded(&self) -> bool {
        !self.bus.connected()
            || self.relays.values().any(|r| r.is_error())
            || self.consumers.values().any(|c| c.is_error())
    }

    /// The `/health` entry; error texts only for `details`.
    pub(crate) fn health(&self, details: bool) -> Value {
        let relays: serde_json::Map<String, Value> = self
            .relays
            .iter()
            .map(|(db, s)| (db.clone(), s.to_json(details)))
            .collect();
        let consumers: serde_json::Map<String, Value> = self
            .consumers
            .iter()
            .map(|(name, s)| (name.clone(), s.to_json(details)))
            .collect();
        let mut v = json!({
            "status": if self.degraded() { "degraded" } else { "ok" },
            "backend": match self.backend { Backend::Nats => "nats", Backend::Memory => "memory" },
            "relays": relays,
            "consumers": consumers,
        });
        if let (Some(t), Value::Object(map)) = (&self.tenant_relays, &mut v) {
            map.insert("tenant_relays".into(), t.health(details));
        }
        if let (Bus::Nats(_), Value::Object(map)) = (&*self.bus, &mut v) {
            let state = if self.bus.connected() {
                "connected"
            } else {
                "disconnected"
            };
            map.insert("nats".into(), json!(state));
            map.insert("stream".into(), json!(self.stream));
        }
        v
    }

    /// One line for the startup banner: the transport and where it goes.
    pub(crate) fn summary(&self) -> String {
        match &*self.bus {
            Bus::Nats(_) => format!(
                "NATS {}, stream {}",
                if self.bus.connected() {
                    "connected"
                } else {
                    "not connected yet"
                },
                self.stream
            ),
            Bus::Memory(_) => "in-process memory bus".to_owned(),
        }
    }

    /// The messages on `subject` from now on, for the subscriptions of this process
    /// (`tap.rs`); the feed ends when `stop` turns true.
    pub(crate) fn tap(
        &self,
        subject: &str,
        stop: watch::Receiver<bool>,
    ) -> tokio::sync::mpsc::Receiver<Tapped> {
        tap::start(&self.bus, subject, stop)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Why `fraiseql observers install` stopped.
#[derive(Debug, thiserror::Error)]
pub enum InstallFailure {
    /// A database did not answer (exit 3).
    #[error("{0}")]
    Unreachable(String),
    /// A rule or database name is wrong (exit 2).
    #[error("{0}")]
    Invalid(String),
}

/// Installs the outbox and capture triggers in a tenant's new database `db` when
/// `[observers]` gives its logical database one (`fraiseql tenant create`); whether it did.
pub(crate) async fn install_tenant_outbox(config: &Config, db: &Database) -> Result<bool, String> {
    let o = &config.observers;
    let names: Vec<&str> = config.databases.keys().map(String::as_str).collect();
    if !o.is_on() || !o.outbox_databases(&names).contains(&db.name.as_str()) {
        return Ok(false);
    }
    outbox::install(db, o).await.map_err(|e| e.to_string())?;
    Ok(true)
}

/// `fraiseql observers install`: the outbox and capture-trigger statements of each database
/// with an outbox (or only `database`), applied when `apply`; per database, its name and
/// the statements.
pub async fn install(
    config: &Config,
    database: Option<&str>,
    apply: bool,
) -> Result<Vec<(String, Vec<String>)>, InstallFailure> {
    let o = &config.observers;
    let names: Vec<&str> = config.databases.keys().map(String::as_str).collect();
    let targets: Vec<&str> = o
        .outbox_databases(&names)
        .into_iter()
        .filter(|name| database.is_none_or(|d| d == *name))
        .collect();
    // A database per tenant has one outbox per tenant: `fraiseql tenant create` installs it,
    // and its relay does when the tenant's pool opens.
    if let Some(name) = targets
        .iter()
        .find(|n| crate::db::tenants::per_tenant(&config.databases[**n]))
    {
        if database.is_some() {
            return Err(InstallFailure::Invalid(format!(
                "database `{name}` is one per tenant: `fraiseql tenant create` installs each                  tenant's outbox, and the server does when a tenant's database opens"
            )));
        }
    }
    let targets: Vec<&str> = targets
        .into_iter()
        .filter(|n| !crate::db::tenants::per_tenant(&config.databases[*n]))
        .collect();
    if let Some(d) = database.filter(|_| targets.is_empty()) {
        return Err(InstallFailure::Invalid(format!(
            "database `{d}` has no outbox: it is not configured, or no [[observers.rules]] \
             table rule names it (the primary always has one)"
        )));
    }
    let failure = |name: &str, e: outbox::InstallError| match e {
        outbox::InstallError::Database(db) => {
            InstallFailure::Unreachable(format!("database `{name}`: {}", db.message))
        }
        outbox::InstallError::Invalid(why) => {
            InstallFailure::Invalid(format!("database `{name}`: {why}"))
        }
    };
    let mut out = Vec::new();
    for name in targets {
        let db = Database::new(name, &config.databases[name])
            .map_err(|e| InstallFailure::Invalid(format!("database `{name}`: {}", e.message)))?;
        let statements = outbox::install_script(&db, o)
            .await
            .map_err(|e| failure(name, e))?;
        if apply {
            outbox::install(&db, o)
                .await
                .map_err(|e| failure(name, e))?;
        }
        out.push((name.to_owned(), statements));
    }
    Ok(out)
}
