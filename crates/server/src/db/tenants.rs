//! Databases per tenant (`[multi_tenancy] strategy = "database_per_tenant"`): a configured
//! database whose `url` holds `{tenant}` is one database per tenant. Its pool is opened on
//! the tenant's first request (the URL with the tenant id, which `tenancy.rs` validated, in
//! place of `{tenant}`; the catalog read at once, so an unknown tenant fails there), kept
//! while used, closed after `tenant_pool_idle_secs` unused, and at most
//! `max_tenant_pools` are open: the least recently used one is closed to open another.
//!
//! A tenant database that is down fails its own tenant's requests only: it has no circuit
//! breaker shared with the other tenants (each is bounded by `statement_timeout_ms` and the
//! request deadline instead). A failed open is remembered for [`FAILED_FOR`], so a burst of
//! requests for a missing tenant costs one connection attempt.
//!
//! What else lives as long as a tenant's pool (its event relay) is started by a
//! [`TenantWatcher`] when the pool opens and told to stop when the pool closes.

use super::{Database, DbError};
use fraiseql_engine::config::DatabaseKind;
use fraiseql_engine::config::{DatabaseConfig, TENANT_PLACEHOLDER};
use indexmap::IndexMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::watch;

/// How long a failed open answers for its tenant before it is tried again.
pub(crate) const FAILED_FOR: Duration = Duration::from_secs(2);

/// Why a tenant's database cannot be used.
#[derive(Debug, Clone)]
pub(crate) enum TenantDbError {
    /// It does not exist: the tenant is unknown.
    Unknown,
    /// It exists (or may) but cannot be reached.
    Down(DbError),
}

/// Starts what runs beside a tenant's open pool (`events/tenants.rs`: its outbox relay).
pub(crate) trait TenantWatcher: Send + Sync {
    /// `tenant`'s database `name` just opened, before any request uses it (an error fails
    /// the open); the sender, when something started, is sent `true` when the pool closes
    /// (evicted, idle, or at shutdown).
    fn opened<'a>(
        &'a self,
        name: &'a str,
        tenant: &'a str,
        db: &'a Arc<Database>,
    ) -> futures::future::BoxFuture<'a, Result<Option<Stop>, DbError>>;
}

/// Tells what a [`TenantWatcher`] started to stop.
pub(crate) type Stop = Arc<watch::Sender<bool>>;

/// An open tenant pool and what runs beside it.
#[derive(Clone)]
struct Open {
    db: Arc<Database>,
    stop: Option<Stop>,
}

impl Open {
    fn close(&self) {
        self.db.stop_upkeep();
        if let Some(stop) = &self.stop {
            let _ = stop.send(true);
        }
    }
}

/// The per-tenant databases of one server.
pub(crate) struct TenantDatabases {
    /// Logical name -> its config, `url` with `{tenant}`.
    configs: IndexMap<String, DatabaseConfig>,
    request_deadline: Duration,
    /// Open pools by (logical name, tenant).
    pools: moka::future::Cache<(String, String), Open>,
    watcher: OnceLock<Arc<dyn TenantWatcher>>,
    /// Opens that failed lately, by (logical name, tenant).
    failed: moka::sync::Cache<(String, String), TenantDbError>,
}

impl TenantDatabases {
    /// The databases per tenant of `config`; `None` without `[multi_tenancy]` or when no
    /// url holds `{tenant}`.
    pub(crate) fn from_config(config: &fraiseql_engine::config::Config) -> Option<Arc<Self>> {
        let t = config.multi_tenancy.as_ref()?;
        Self::new(
            &config.databases,
            Duration::from_millis(config.server.request_timeout_ms.max(1)),
            t.max_tenant_pools,
            Duration::from_secs(t.tenant_pool_idle_secs),
        )
        .map(Arc::new)
    }

    /// The databases of `configs` whose url holds `{tenant}`; `None` when there are none.
    fn new(
        configs: &IndexMap<String, DatabaseConfig>,
        request_deadline: Duration,
        max_pools: usize,
        idle: Duration,
    ) -> Option<Self> {
        let configs: IndexMap<String, DatabaseConfig> = configs
            .iter()
            .filter(|(_, c)| per_tenant(c))
            .map(|(n, c)| (n.clone(), c.clone()))
            .collect();
        if configs.is_empty() {
            return None;
        }
        let pools = moka::future::Cache::builder()
            .max_capacity(max_pools.max(1) as u64)
            .time_to_idle(idle)
            // Its upkeep and relay end now; the pool closes when the last request using it
            // is done.
            .eviction_listener(|_, open: Open, _| open.close())
            .build();
        let failed = moka::sync::Cache::builder()
            .max_capacity(10_000)
            .time_to_live(FAILED_FOR)
            .build();
        Some(Self {
            configs,
            request_deadline,
            pools,
            watcher: OnceLock::new(),
            failed,
        })
    }

    /// From now on, `watcher` hears of every pool that opens (set once, before requests).
    pub(crate) fn watch(&self, watcher: Arc<dyn TenantWatcher>) {
        let _ = self.watcher.set(watcher);
    }

    /// Whether `name` is a database per tenant.
    pub(crate) fn serves(&self, name: &str) -> bool {
        self.configs.contains_key(name)
    }

    /// `tenant`'s database `name`, opened (and its catalog read) on first use.
    pub(crate) async fn get(
        &self,
        name: &str,
        tenant: &str,
    ) -> Result<Arc<Database>, TenantDbError> {
        let key = (name.to_owned(), tenant.to_owned());
        if let Some(e) = self.failed.get(&key) {
            return Err(e);
        }
        let Some(cfg) = self.configs.get(name) else {
            return Err(TenantDbError::Down(DbError::unavailable(format!(
                "database '{name}' is not per tenant"
            ))));
        };
        let opened = self
            .pools
            // Boxed: opening a pool and reading a catalog is a large future, and unoptimised
            // builds copy it onto the worker's stack at every layer that holds it.
            .try_get_with(
                key.clone(),
                Box::pin(async {
                    let cfg = tenant_config(cfg, tenant);
                    let kind = cfg.kind.unwrap_or(DatabaseKind::Postgresql);
                    // A tenant's SQLite file is never created by a request naming it.
                    if kind == DatabaseKind::Sqlite
                        && !super::sqlite_exists(cfg.url.as_deref().unwrap_or_default())
                    {
                        return Err(TenantDbError::Unknown);
                    }
                    let db = Database::serving(name, &cfg, self.request_deadline)
                        .map_err(TenantDbError::Down)?;
                    match db.load_catalog().await {
                        Ok(_) => {
                            let db = Arc::new(db);
                            let stop = match self.watcher.get() {
                                Some(w) => w.opened(name, tenant, &db).await.map_err(|e| {
                                    db.stop_upkeep();
                                    TenantDbError::Down(e)
                                })?,
                                None => None,
                            };
                            Ok(Open { db, stop })
                        }
                        Err(e) if super::missing_database(kind, &e) => Err(TenantDbError::Unknown),
                        Err(e) => Err(TenantDbError::Down(e)),
                    }
                }),
            )
            .await;
        opened.map(|open| open.db).map_err(|e| {
            let e = TenantDbError::clone(&e);
            self.failed.insert(key, e.clone());
            e
        })
    }

    /// Tenant databases open now (as of the cache's last upkeep).
    pub(crate) fn open(&self) -> u64 {
        self.pools.entry_count()
    }

    /// Ends every open pool's upkeep and tells what runs beside it to stop (shutdown).
    pub(crate) fn stop(&self) {
        for (_, open) in self.pools.iter() {
            open.close();
        }
    }
}

/// Whether a database's url makes it one per tenant.
pub(crate) fn per_tenant(cfg: &DatabaseConfig) -> bool {
    cfg.url
        .as_deref()
        .is_some_and(|u| u.contains(TENANT_PLACEHOLDER))
}

/// A per-tenant database's config for `tenant` (a valid tenant id): its url with the id in
/// place of `{tenant}`.
pub(crate) fn tenant_config(cfg: &DatabaseConfig, tenant: &str) -> DatabaseConfig {
    let mut cfg = cfg.clone();
    cfg.url = cfg.url.map(|u| u.replace(TENANT_PLACEHOLDER, tenant));
    cfg
}
