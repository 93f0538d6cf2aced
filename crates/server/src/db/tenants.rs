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

use super::{Database, DbError};
use fraiseql_engine::config::DatabaseKind;
use fraiseql_engine::config::{DatabaseConfig, TENANT_PLACEHOLDER};
use indexmap::IndexMap;
use std::sync::Arc;
use std::time::Duration;

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

/// The per-tenant databases of one server.
pub(crate) struct TenantDatabases {
    /// Logical name -> its config, `url` with `{tenant}`.
    configs: IndexMap<String, DatabaseConfig>,
    request_deadline: Duration,
    /// Open pools by (logical name, tenant).
    pools: moka::future::Cache<(String, String), Arc<Database>>,
    /// Opens that failed lately, by (logical name, tenant).
    failed: moka::sync::Cache<(String, String), TenantDbError>,
}

impl TenantDatabases {
    /// The databases of `configs` whose url holds `{tenant}`; `None` when there are none.
    pub(crate) fn new(
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
            // Its upkeep ends now; the pool closes when the last request using it is done.
            .eviction_listener(|_, db: Arc<Database>, _| db.stop_upkeep())
            .build();
        let failed = moka::sync::Cache::builder()
            .max_capacity(10_000)
            .time_to_live(FAILED_FOR)
            .build();
        Some(Self {
            configs,
            request_deadline,
            pools,
            failed,
        })
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
                    let mut cfg = cfg.clone();
                    cfg.url = cfg.url.map(|u| u.replace(TENANT_PLACEHOLDER, tenant));
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
                        Ok(_) => Ok(Arc::new(db)),
                        Err(e) if super::missing_database(kind, &e) => Err(TenantDbError::Unknown),
                        Err(e) => Err(TenantDbError::Down(e)),
                    }
                }),
            )
            .await;
        opened.map_err(|e| {
            let e = TenantDbError::clone(&e);
            self.failed.insert(key, e.clone());
            e
        })
    }

    /// Tenant databases open now (as of the cache's last upkeep).
    pub(crate) fn open(&self) -> u64 {
        self.pools.entry_count()
    }

    /// Ends every open pool's upkeep (shutdown).
    pub(crate) fn stop(&self) {
        for (_, db) in self.pools.iter() {
            db.stop_upkeep();
        }
    }
}

/// Whether a database's url makes it one per tenant.
pub(crate) fn per_tenant(cfg: &DatabaseConfig) -> bool {
    cfg.url
        .as_deref()
        .is_some_and(|u| u.contains(TENANT_PLACEHOLDER))
}
