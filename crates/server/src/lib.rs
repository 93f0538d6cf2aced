//! FraiseQL server: the I/O half. HTTP (GraphQL over HTTP, health, metrics), database
//! pools and drivers, execution of the engine's plans, startup and graceful shutdown.
//!
//! The public surface is what the `fraiseql` binary needs: [`serve()`], [`check()`] and the
//! `explain` helpers. Everything else is crate-private.

mod auth;
mod check;
mod context;
mod db;
mod events;
mod execute;
mod explain;
mod http;
mod listen;
mod log;
mod metrics;
mod provision;
mod remote;
mod resilience;
mod serve;
mod state;
mod subscriptions;
mod tenancy;

pub use auth::{identity, Identity};
pub use check::{check, CheckReport, Problem, ProblemKind};
pub use events::{
    install as install_observers, replay, InstallFailure, ReplayError, ReplayOptions,
};
pub use explain::{explain_sql, introspect, DatabaseError};
pub use provision::{create_tenant, drop_tenant, list_tenants, ProvisionError};
pub use serve::{ServeError, ServeOptions};

use fraiseql_engine::config::Config;
use fraiseql_engine::schema::CompiledSchema;
use std::net::SocketAddr;

/// Runs the server until Ctrl-C or SIGTERM, then drains in-flight requests and returns.
/// Databases that are down at start do not stop it; it prints the startup banner to stdout
/// once the port is bound.
pub async fn serve(
    config: Config,
    schema: CompiledSchema,
    opts: ServeOptions,
) -> Result<(), ServeError> {
    serve::log_databases(&config);
    let started = serve::start(config, schema, &opts).await?;
    // Nobody reading stdout (`fraiseql run | head -1`, a closed pipe) must not stop a
    // server: the banner is for people, the log and the probes say it runs.
    let banner = serve::banner(&started.state, started.addr);
    let mut stdout = std::io::stdout().lock();
    let _ = std::io::Write::write_all(&mut stdout, banner.as_bytes())
        .and_then(|()| std::io::Write::flush(&mut stdout));
    drop(stdout);
    serve::run(started, serve::shutdown_signal()).await
}

/// A server running in the background, for tests: started by [`spawn`], stopped (with the
/// same graceful drain as a signal) by [`Running::stop`].
#[doc(hidden)]
pub struct Running {
    /// Where it listens (use port 0 in [`ServeOptions`] for a free one).
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ServeError>>,
}

impl Running {
    /// Signals shutdown and waits for the drain to finish.
    pub async fn stop(mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(ServeError::Io(std::io::Error::other(e))),
        }
    }
}

/// Test hook: starts the server in a background task without printing the banner.
#[doc(hidden)]
pub async fn spawn(
    config: Config,
    schema: CompiledSchema,
    opts: ServeOptions,
) -> Result<Running, ServeError> {
    let started = serve::start(config, schema, &opts).await?;
    let addr = started.addr;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve::run(started, async move {
        let _ = stopped.await;
    }));
    Ok(Running {
        addr,
        stop: Some(stop),
        task,
    })
}
