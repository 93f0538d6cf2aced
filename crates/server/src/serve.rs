//! Startup and shutdown. `start` checks that every database the schema names is
//! configured, builds the executable schema, checks that every circuit breaker entry names
//! a database or an entity, builds the pools (without connecting), reads each catalog once
//! (retrying in the background for databases that are down), and binds the port. `run`
//! serves until a shutdown signal, then stops accepting, reports not-ready and drains
//! in-flight requests for up to `shutdown_timeout_secs`.

use crate::db::{redact, Database};
use crate::http;
use crate::listen::{ClientListener, ConnLimits, ConnPhase};
use crate::metrics::Metrics;
use crate::state::AppState;
use fraiseql_engine::config::Config;
use fraiseql_engine::request::ApiSchema;
use fraiseql_engine::schema::CompiledSchema;
use indexmap::IndexMap;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::net::TcpListener;

/// How often a database whose catalog could not be read is tried again.
const CATALOG_RETRY: Duration = Duration::from_secs(2);

/// Overrides from the command line (they win over `[server]`).
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Listen on this port instead of `server.port` (0 picks a free one).
    pub port: Option<u16>,
    /// Listen on this address instead of `server.host`.
    pub host: Option<String>,
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The schema names a database the config does not define.
    #[error("{used_by} uses database '{database}', which is not configured ({hint})")]
    UnknownDatabase {
        used_by: String,
        database: String,
        /// `did you mean 'x'?`, or how to add it.
        hint: String,
    },
    /// A `[[federation.circuit_breaker.per_database]]` entry names neither a configured
    /// database nor (in a subgraph) an entity; the message names each such entry.
    #[error("{0}")]
    UnknownBreakerEntry(String),
    /// A configured database cannot be set up (missing or malformed URL).
    #[error("database '{name}': {message}")]
    Database { name: String, message: String },
    /// The executable GraphQL schema cannot be built.
    #[error("schema: {0}")]
    Schema(String),
    /// The listening address cannot be bound.
    #[error("cannot listen on {addr}: {message}")]
    Bind { addr: String, message: String },
    /// `[observers]` cannot start (a stream without the rule subjects, capture triggers
    /// that cannot be installed).
    #[error("{0}")]
    Events(String),
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// A started server: its state and bound listener.
pub(crate) struct Started {
    pub(crate) state: Arc<AppState>,
    pub(crate) listener: TcpListener,
    pub(crate) addr: SocketAddr,
}

/// Everything up to and including binding the port.
pub(crate) async fn start(
    config: Config,
    schema: CompiledSchema,
    opts: &ServeOptions,
) -> Result<Started, ServeError> {
    check_databases(&config, &schema)?;
    let api = ApiSchema::for_config(schema, &config).map_err(ServeError::Schema)?;
    check_breaker_entries(&config, &api)?;
    let metrics = Metrics::new().map_err(|e| ServeError::Schema(format!("metrics: {e}")))?;
    let mut databases = IndexMap::new();
    let deadline = Duration::from_millis(config.server.request_timeout_ms.max(1));
    for (name, cfg) in &config.databases {
        if crate::db::tenants::per_tenant(cfg) {
            // One per tenant, opened on the tenant's first request (`db/tenants.rs`).
            continue;
        }
        let mut db = Database::serving(name, cfg, deadline).map_err(|e| ServeError::Database {
            name: name.clone(),
            message: e.message,
        })?;
        db.observe_reads(metrics.read_observer(name, db.replicas().len()));
        databases.insert(name.clone(), Arc::new(db));
    }
    load_catalogs(&databases).await;

    let host = opts
        .host
        .clone()
        .unwrap_or_else(|| config.server.host.clone());
    let port = opts.port.unwrap_or(config.server.port);
    let bind_to = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let listener = TcpListener::bind(&bind_to)
        .await
        .map_err(|e| ServeError::Bind {
            addr: bind_to.clone(),
            message: match e.kind() {
                std::io::ErrorKind::AddrInUse => {
                    format!("{e}; stop the other process or pick another port with --port")
                }
                _ => e.to_string(),
            },
        })?;
    let addr = listener.local_addr()?;
    // After the port is ours: a server that cannot listen installs and relays nothing.
    let topics = api
        .compiled
        .subscriptions
        .values()
        .filter_map(|s| s.topic.clone())
        .collect();
    let tenants = crate::db::tenants::TenantDatabases::from_config(&config);
    let events = crate::events::start(&config, &databases, tenants.as_ref(), &metrics, topics)
        .await
        .map_err(ServeError::Events)?;
    let mut state = AppState::new(config, Arc::new(api), databases, tenants, metrics);
    state.events = events;
    let state = Arc::new(state);
    state.subscriptions.start(&state);
    if state.auth.is_some() {
        // The keys before the first request needs them (a failure is retried on use).
        let s = state.clone();
        tokio::spawn(async move {
            if let Some(auth) = &s.auth {
                auth.warm().await;
            }
        });
    }
    Ok(Started {
        state,
        listener,
        addr,
    })
}

/// Every database the schema uses must be configured.
fn check_databases(config: &Config, schema: &CompiledSchema) -> Result<(), ServeError> {
    let users = schema
        .types
        .iter()
        .map(|(n, t)| (format!("type '{n}'"), &t.database))
        .chain(
            schema
                .queries
                .iter()
                .map(|(n, q)| (format!("query '{n}'"), &q.database)),
        )
        .chain(
            schema
                .mutations
                .iter()
                .map(|(n, m)| (format!("mutation '{n}'"), &m.database)),
        );
    for (used_by, database) in users {
        if !config.databases.contains_key(database) {
            let names = config.databases.keys().map(String::as_str);
            let hint = match fraiseql_engine::suggest::closest(database, names) {
                Some(name) => format!("did you mean '{name}'?"),
                None => format!("add [databases.{database}] to the config"),
            };
            return Err(ServeError::UnknownDatabase {
                used_by,
                database: database.clone(),
                hint,
            });
        }
    }
    Ok(())
}

/// Every circuit breaker entry names a configured database or, in a subgraph, an entity:
/// the config check could not know the entities, so it let those names through.
fn check_breaker_entries(config: &Config, api: &ApiSchema) -> Result<(), ServeError> {
    let databases: Vec<&str> = config.databases.keys().map(String::as_str).collect();
    let entities: Option<Vec<&str>> = api
        .subgraph
        .as_ref()
        .map(|s| s.entities.iter().map(|e| e.type_name.as_str()).collect());
    crate::resilience::check_entries(&config.federation, &databases, entities.as_deref())
        .map_err(ServeError::UnknownBreakerEntry)
}

/// Reads every catalog once, concurrently; a database that is down is retried in the
/// background until it answers, so the server recovers without a restart.
async fn load_catalogs(databases: &IndexMap<String, Arc<Database>>) {
    let loads = databases.values().map(|db| async move {
        if let Err(e) = db.load_catalog().await {
            tracing::warn!(
                database = %db.name,
                error = %e,
                "cannot read the database catalog; retrying every {} s",
                CATALOG_RETRY.as_secs()
            );
            tokio::spawn(retry_catalog(Arc::downgrade(db)));
        }
    });
    futures::future::join_all(loads).await;
}

async fn retry_catalog(db: Weak<Database>) {
    loop {
        tokio::time::sleep(CATALOG_RETRY).await;
        // The server is gone once nothing else holds the database.
        let Some(db) = db.upgrade() else { return };
        if db.load_catalog().await.is_ok() {
            tracing::info!(database = %db.name, "database catalog loaded");
            return;
        }
    }
}

/// Serves until `shutdown` resolves, then drains.
pub(crate) async fn run(
    started: Started,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let Started {
        state, listener, ..
    } = started;
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server_cfg = &state.config.server;
    let limits = ConnLimits {
        idle: Duration::from_secs(server_cfg.keep_alive_secs)
            .max(Duration::from_millis(server_cfg.request_timeout_ms)),
        header: Duration::from_millis(server_cfg.header_read_timeout_ms.max(1)),
        max_connections: server_cfg.limits.max_connections,
    };
    let listener = ClientListener::new(listener, limits, state.metrics.connections.clone());
    // The connection's phase rides along as `ConnectInfo`, for `http::track` to mark.
    let app = http::router(state.clone()).into_make_service_with_connect_info::<ConnPhase>();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        })
        .into_future();
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return result.map_err(ServeError::Io),
        () = shutdown => {}
    }
    state.ready.store(false, Ordering::SeqCst);
    let drain = Duration::from_secs(state.config.server.shutdown_timeout_secs);
    tracing::info!(
        "shutting down: draining in-flight requests for up to {} s",
        drain.as_secs()
    );
    let _ = stop_tx.send(true);
    // WebSocket connections are no longer the HTTP server's: they close on their own.
    state.subscriptions.shutdown();
    let served = match tokio::time::timeout(drain, &mut server).await {
        Ok(result) => result.map_err(ServeError::Io),
        Err(_) => {
            tracing::warn!(
                "requests still running after {} s; stopping anyway",
                drain.as_secs()
            );
            Ok(())
        }
    };
    // HTTP first (a mutation in flight still writes its outbox row), then the consumers,
    // then the relays, which publish what is waiting.
    if let Some(events) = &state.events {
        events.stop().await;
    }
    for db in state.databases.values() {
        db.stop_upkeep();
    }
    if let Some(tenants) = &state.tenants {
        tenants.stop();
    }
    // Let the aborted upkeep tasks be dropped before the runtime goes.
    tokio::task::yield_now().await;
    served
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// The startup banner.
pub(crate) fn banner(state: &AppState, addr: SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() {
        "localhost".to_string()
    } else {
        addr.ip().to_string()
    };
    let host = if addr.is_ipv6() && !addr.ip().is_unspecified() {
        format!("[{host}]")
    } else {
        host
    };
    let base = format!("http://{host}:{}", addr.port());
    let schema = &state.api.compiled;
    let mut out = format!(
        "🍓 FraiseQL v{}\nGraphQL endpoint: {base}/graphql\nHealth check: {base}/health\n\
         Schema: {} types, {} queries, {} mutations\n",
        env!("CARGO_PKG_VERSION"),
        schema.types.len(),
        schema.queries.len(),
        schema.mutations.len(),
    );
    let project = &state.config.project;
    out.push_str(&format!(
        "Project: {} {}\n",
        printable(&project.name),
        printable(&project.version)
    ));
    if let Some(description) = &project.description {
        out.push_str(&format!("  {}\n", printable(description)));
    }
    for (name, db) in &state.databases {
        let replicas = match db.replicas().len() {
            0 => String::new(),
            1 => ", 1 read replica".to_string(),
            n => format!(", {n} read replicas"),
        };
        out.push_str(&format!(
            "Database {name}: {} (pool: max {}{replicas})\n",
            db.kind.label(),
            db.pool_status().max
        ));
    }
    if let Some(t) = state.config.multi_tenancy.as_ref().filter(|t| t.enabled) {
        let per_tenant: Vec<&str> = state
            .config
            .databases
            .iter()
            .filter(|(_, c)| crate::db::tenants::per_tenant(c))
            .map(|(n, _)| n.as_str())
            .collect();
        let databases = if per_tenant.is_empty() {
            String::new()
        } else {
            format!(", per tenant: {}", per_tenant.join(", "))
        };
        out.push_str(&format!(
            "Multi-tenancy: {} (tenant from {}{}{databases})\n",
            t.strategy.name(),
            if state.auth.is_some() {
                format!("the `{}` claim", t.tenant_claim)
            } else {
                String::new()
            },
            if t.trusts_header(state.auth.is_some()) {
                format!(
                    "{}{}",
                    if state.auth.is_some() { " or " } else { "" },
                    t.auth_header
                )
            } else {
                String::new()
            },
        ));
    }
    if let Some(subgraph) = &state.api.subgraph {
        let name = state.config.federation.service_name.as_deref();
        out.push_str(&format!(
            "Apollo Federation 2 subgraph{}: {} entit{} ({})\n",
            name.map(|n| format!(" {n}")).unwrap_or_default(),
            subgraph.entities.len(),
            if subgraph.entities.len() == 1 {
                "y"
            } else {
                "ies"
            },
            subgraph
                .entities
                .iter()
                .map(|e| e.type_name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(events) = &state.events {
        let o = &state.config.observers;
        let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        out.push_str(&format!(
            "Events: {} ({}, {})\n",
            events.summary(),
            count(o.rules.len(), "rule"),
            count(o.subscribe.len(), "subscription")
        ));
    }
    out.push_str("Press Ctrl+C to stop\n");
    out
}

/// `[project]` text for one banner line: control characters (a newline or terminal escape
/// from an environment variable) become `?`, and it is cut at 200 characters.
fn printable(text: &str) -> String {
    text.chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Logged at startup so an operator sees which URLs were used, without passwords.
pub(crate) fn log_databases(config: &Config) {
    for (name, db) in &config.databases {
        if let Some(url) = &db.url {
            tracing::debug!(database = %name, url = %redact(url), "database configured");
        }
        for (i, url) in db.replicas.iter().enumerate() {
            tracing::debug!(database = %name, replica = i, url = %redact(url), "read replica configured");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fraiseql_engine::config::DatabaseConfig;

    #[tokio::test]
    async fn the_banner_names_the_project() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut config = Config::default();
        config.databases.insert(
            "primary".into(),
            DatabaseConfig {
                kind: Some(fraiseql_engine::config::DatabaseKind::Sqlite),
                url: Some(format!("sqlite://{}", tmp.path().join("app.db").display())),
                ..DatabaseConfig::default()
            },
        );
        config.project.name = "orders-api".into();
        config.project.version = "2.1.0".into();
        config.project.description = Some("Orders\n\u{1b}[31mred".into());
        let schema = fraiseql_engine::schema::load_schema(
            "type Post @source(view: \"v_post\") { id: ID! }\ntype Query { posts: [Post!]! }",
            "schema.graphql",
        )
        .expect("schema");
        let opts = ServeOptions {
            port: Some(0),
            host: Some("127.0.0.1".into()),
        };
        let started = start(config, schema, &opts).await.expect("starts");
        let banner = banner(&started.state, started.addr);
        assert!(banner.contains("\nProject: orders-api 2.1.0\n"), "{banner}");
        // A description cannot add lines or colour the terminal.
        assert!(banner.contains("\n  Orders??[31mred\n"), "{banner}");
        let long = printable(&"x".repeat(10_000));
        assert_eq!(long.len(), 200);
    }

    #[tokio::test]
    async fn catalogs_load_once_the_database_appears() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("later");
        let cfg = DatabaseConfig {
            kind: Some(fraiseql_engine::config::DatabaseKind::Sqlite),
            url: Some(format!("sqlite://{}", dir.join("app.db").display())),
            ..DatabaseConfig::default()
        };
        let db = Arc::new(Database::new("primary", &cfg).expect("pool"));
        let databases: IndexMap<String, Arc<Database>> =
            [("primary".to_string(), db.clone())].into();
        // The directory is missing: the file cannot be opened, startup carries on.
        load_catalogs(&databases).await;
        assert!(db.catalog().is_none());
        std::fs::create_dir(&dir).expect("create dir");
        let deadline = tokio::time::Instant::now() + CATALOG_RETRY * 3;
        while db.catalog().is_none() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            db.catalog().is_some(),
            "the background retry loaded the catalog"
        );
    }
}
