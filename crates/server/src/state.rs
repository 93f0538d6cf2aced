//! The state every request shares: configuration, the executable schema, the databases and
//! their resilience (deadlines, retries, circuit breakers), the prepared-operation cache,
//! metrics and the admission gate. Built once at startup.

use crate::db::Database;
use crate::http::admission::Admission;
use crate::metrics::Metrics;
use crate::resilience::Resilience;
use fraiseql_engine::config::Config;
use fraiseql_engine::request::{ApiSchema, Prepared};
use indexmap::IndexMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

/// Prepared operations kept at most.
pub(crate) const PREPARED_CAPACITY: u64 = 1000;

/// Shared by every request.
pub(crate) struct AppState {
    pub(crate) config: Config,
    pub(crate) api: Arc<ApiSchema>,
    /// Every database the config names, in config order.
    pub(crate) databases: IndexMap<String, Arc<Database>>,
    /// Parsed and validated operations by [`AppState::prepared_key`].
    pub(crate) prepared: moka::sync::Cache<u64, Arc<Prepared>>,
    pub(crate) metrics: Metrics,
    /// Per-database deadlines, retries and circuit breakers around every database call.
    pub(crate) resilience: Resilience,
    /// False once shutdown has begun: readiness answers 503.
    pub(crate) ready: AtomicBool,
    pub(crate) started: Instant,
    /// Bounds the GraphQL requests executing and waiting.
    pub(crate) admission: Admission,
    /// The outbox relays and inbound consumers (`[observers]`), when configured.
    pub(crate) events: Option<crate::events::Events>,
    /// WebSocket connections and their subscriptions.
    pub(crate) subscriptions: Arc<crate::subscriptions::Hub>,
    /// `[auth]`: verifies tokens; `None` serves every request anonymously.
    pub(crate) auth: Option<crate::auth::Authenticator>,
    /// The databases per tenant (`database_per_tenant`), when the config has any.
    pub(crate) tenants: Option<Arc<crate::db::tenants::TenantDatabases>>,
    /// Keyed per process so cache keys cannot be aimed at collisions from outside.
    hasher: std::collections::hash_map::RandomState,
}

impl AppState {
    pub(crate) fn new(
        config: Config,
        api: Arc<ApiSchema>,
        databases: IndexMap<String, Arc<Database>>,
        tenants: Option<Arc<crate::db::tenants::TenantDatabases>>,
        metrics: Metrics,
    ) -> Self {
        let admission = Admission::new(
            config.server.limits.max_concurrent_requests,
            config.server.limits.max_queue_depth,
        );
        // The subgraph's entities, each with the database its `_entities` reads go to.
        let entities = api
            .subgraph
            .iter()
            .flat_map(|s| &s.entities)
            .filter_map(|e| {
                let ty = api.compiled.types.get(&e.type_name)?;
                Some((e.type_name.as_str(), ty.database.as_str()))
            });
        let resilience = Resilience::new(
            &config.federation,
            databases.keys().map(String::as_str),
            entities,
            metrics.clone(),
        );
        let subscriptions = Arc::new(crate::subscriptions::Hub::new(
            config.subscriptions.clone(),
            metrics.subscriptions.clone(),
        ));
        let auth = config.auth.as_ref().map(crate::auth::Authenticator::new);
        if let Some(t) = &config.multi_tenancy {
            metrics.tenants.cap(t.max_tenant_labels);
        }
        Self {
            auth,
            tenants,
            config,
            api,
            databases,
            prepared: moka::sync::Cache::new(PREPARED_CAPACITY),
            metrics,
            resilience,
            ready: AtomicBool::new(true),
            started: Instant::now(),
            admission,
            events: None,
            subscriptions,
            hasher: Default::default(),
        }
    }

    /// The configured database a plan's logical name stands for (a database per tenant is
    /// resolved with the request's tenant by [`AppState::tenant_database`]). Every name a
    /// plan holds comes from the schema, which startup checked against the config, so a
    /// miss is an internal error (reported, never a panic).
    pub(crate) fn database(
        &self,
        name: &str,
    ) -> Result<&Arc<Database>, Box<fraiseql_engine::error::GraphQLError>> {
        self.databases.get(name).ok_or_else(|| {
            Box::new(fraiseql_engine::error::GraphQLError::new(
                fraiseql_engine::error::ErrorCode::InternalServerError,
                format!("database '{name}' is not configured"),
            ))
        })
    }

    /// `ctx`'s own database `name` when `name` is a database per tenant (opened on first
    /// use), `None` when it is a configured one. An unknown tenant is NOT_FOUND, a tenant
    /// database that cannot be reached DATABASE_UNAVAILABLE, a request without a tenant
    /// UNAUTHENTICATED.
    pub(crate) async fn tenant_database(
        &self,
        name: &str,
        ctx: &crate::context::RequestContext,
    ) -> Option<Result<Arc<Database>, fraiseql_engine::error::GraphQLError>> {
        use crate::db::tenants::TenantDbError;
        use fraiseql_engine::error::{ErrorCode, GraphQLError};
        let tenants = self.tenants.as_ref().filter(|t| t.serves(name))?;
        let Some(tenant) = &ctx.tenant else {
            return Some(Err(GraphQLError::new(
                ErrorCode::Unauthenticated,
                "missing tenant context",
            )));
        };
        Some(tenants.get(name, tenant).await.map_err(|e| match e {
            TenantDbError::Unknown => GraphQLError::new(
                ErrorCode::NotFound,
                format!("unknown tenant '{tenant}': it has no database"),
            ),
            TenantDbError::Down(e) => {
                let mut error = crate::execute::db_error(name, &e);
                error.message = format!("tenant '{tenant}': {}", error.message);
                error
            }
        }))
    }

    /// The cache key of an operation: its text and the operation name chosen from it.
    pub(crate) fn prepared_key(&self, query: &str, operation_name: Option<&str>) -> u64 {
        let mut h = self.hasher.build_hasher();
        query.hash(&mut h);
        operation_name.hash(&mut h);
        h.finish()
    }
}
