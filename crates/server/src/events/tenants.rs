//! Events of databases per tenant (`database_per_tenant`): each tenant database with an
//! outbox gets its own relay while its pool is open. When the pool opens (`db/tenants.rs`
//! calls [`TenantRelays::opened`] before any request uses it), the outbox and capture
//! triggers are installed there first when `install_triggers` asks — once per tenant
//! database and process, as a fixed database's are at start-up, so that the request that
//! opened the pool is captured — and the relay starts; it drains and stops when the pool
//! closes (least recently used, idle, shutdown). Its events name the database's tenant
//! (`ce-tenant`) and come from `/fraiseql/<project>/<database>/<tenant>`.
//!
//! A change written while the tenant's pool is closed (by a writer other than this server)
//! waits in that tenant's outbox until the pool next opens: the server's own writes always
//! happen with the pool open, and a closing pool drains first.

use super::bus::Bus;
use super::relay::Relay;
use super::status::RelayStatus;
use crate::db::tenants::{Stop, TenantWatcher};
use crate::db::{Database, DbError, DbErrorKind};
use crate::metrics::Metrics;
use fraiseql_engine::config::ObserversConfig;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Tenant relays listed by name in `/health` (the rest are counted).
const LISTED: usize = 20;
/// Tenant databases remembered as installed by this process (beyond, one installs again).
const INSTALLED: u64 = 100_000;

/// One running tenant relay.
struct Running {
    database: String,
    tenant: String,
    status: Arc<RelayStatus>,
    stop: Stop,
    task: JoinHandle<()>,
}

/// The relays of the databases per tenant that have an outbox.
pub(crate) struct TenantRelays {
    /// The per-tenant databases with an outbox.
    pub(super) databases: Vec<String>,
    pub(super) bus: Arc<Bus>,
    pub(super) metrics: Metrics,
    pub(super) observers: ObserversConfig,
    pub(super) project: String,
    running: Mutex<Vec<Running>>,
    /// (database, tenant) whose outbox this process installed.
    installed: moka::sync::Cache<(String, String), ()>,
}

impl TenantRelays {
    pub(super) fn new(
        databases: Vec<String>,
        bus: Arc<Bus>,
        metrics: Metrics,
        observers: ObserversConfig,
        project: String,
    ) -> Self {
        Self {
            databases,
            bus,
            metrics,
            observers,
            project,
            running: Mutex::new(Vec::new()),
            installed: moka::sync::Cache::new(INSTALLED),
        }
    }

    /// Tells every relay to drain and stop, and waits for them (up to `wait`).
    pub(super) async fn stop(&self, wait: Duration) {
        let running = std::mem::take(&mut *super::lock(&self.running));
        for r in &running {
            let _ = r.stop.send(true);
        }
        let tasks = running.into_iter().map(|r| r.task);
        let _ = tokio::time::timeout(wait, futures::future::join_all(tasks)).await;
    }

    /// The `/health` entry: how many run, and the first [`LISTED`] of them (failing first).
    pub(super) fn health(&self, details: bool) -> Value {
        let mut running = super::lock(&self.running);
        running.retain(|r| !r.task.is_finished());
        let mut listed: Vec<&Running> = running.iter().collect();
        listed.sort_by_key(|r| !r.status.is_error());
        let relays: serde_json::Map<String, Value> = listed
            .iter()
            .take(LISTED)
            .map(|r| {
                let name = format!("{}/{}", r.database, r.tenant);
                (name, r.status.to_json(details))
            })
            .collect();
        json!({
            "running": running.len(),
            "failing": running.iter().filter(|r| r.status.is_error()).count(),
            "relays": relays,
        })
    }
}

impl TenantWatcher for TenantRelays {
    fn opened<'a>(
        &'a self,
        name: &'a str,
        tenant: &'a str,
        db: &'a Arc<Database>,
    ) -> futures::future::BoxFuture<'a, Result<Option<Stop>, DbError>> {
        Box::pin(async move {
            if !self.databases.iter().any(|d| d == name) {
                return Ok(None);
            }
            let key = (name.to_owned(), tenant.to_owned());
            if self.observers.install_triggers && !self.installed.contains_key(&key) {
                super::outbox::install(db, &self.observers)
                    .await
                    .map_err(|e| match e {
                        super::outbox::InstallError::Database(e) => e,
                        super::outbox::InstallError::Invalid(why) => DbError::new(
                            DbErrorKind::Other,
                            format!("its events outbox cannot be installed: {why}"),
                        ),
                    })?;
                self.installed.insert(key, ());
            }
            Ok(Some(self.start(name, tenant, db)))
        })
    }
}

impl TenantRelays {
    /// Starts the relay of `tenant`'s database `name`.
    fn start(&self, name: &str, tenant: &str, db: &Arc<Database>) -> Stop {
        let o = &self.observers;
        let status = Arc::new(RelayStatus::default());
        let relay = Arc::new(Relay {
            db: db.clone(),
            bus: self.bus.clone(),
            status: status.clone(),
            metrics: self.metrics.clone(),
            source: format!(
                "{}/{}",
                super::message::source(&self.project, name),
                super::message::token(tenant)
            ),
            tenant: Some(tenant.to_owned()),
            batch: o.batch_size,
            poll: Duration::from_millis(o.poll_interval_ms.0.max(1)),
            retention: Duration::from_secs(o.retention_secs),
            install: None,
        });
        let (stop, rx) = watch::channel(false);
        let stop = Arc::new(stop);
        let task = super::supervise(format!("relay {name}/{tenant}"), rx, move |stop| {
            relay.clone().run(stop)
        });
        let mut running = super::lock(&self.running);
        // Relays of closed pools end by themselves; forget them here.
        running.retain(|r| !r.task.is_finished());
        running.push(Running {
            database: name.to_owned(),
            tenant: tenant.to_owned(),
            status,
            stop: stop.clone(),
            task,
        });
        stop
    }
}
