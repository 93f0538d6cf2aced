//! `fraiseql tenant create|list|drop`: the databases of `[multi_tenancy] strategy =
//! "database_per_tenant"` (every database whose url holds `{tenant}`), made and removed the
//! way the server finds them (docs/multi-tenancy.md).

use crate::output::outln;
use crate::project::{load_config, DEFAULT_CONFIG};
use crate::{Failure, Outcome};
use anyhow::anyhow;
use clap::{Args, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub(crate) enum TenantCommand {
    /// Create a tenant's databases (and their owner, when the url's user names the tenant)
    /// and run the schema files in each.
    Create(CreateArgs),
    /// List the tenants that have their databases.
    List(Common),
    /// Drop a tenant's databases (and owners). Asks for the tenant's name again unless
    /// --yes is given.
    Drop(DropArgs),
}

#[derive(Debug, Args)]
pub(crate) struct Common {
    /// Config file.
    #[arg(long, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// Only this per-tenant database of the config.
    #[arg(long)]
    database: Option<String>,
    /// Connect with this URL to create, list and drop databases (default: the tenant url
    /// with the maintenance database).
    #[arg(long)]
    admin_url: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// The tenant id (1 to 63 letters, digits, `_` or `-`).
    name: String,
    #[command(flatten)]
    common: Common,
    /// SQL file to run in each new database, as the tenant's user; repeat for several, run
    /// in order.
    #[arg(long = "sql")]
    sql: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct DropArgs {
    /// The tenant id.
    name: String,
    #[command(flatten)]
    common: Common,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
}

pub(crate) async fn run(command: TenantCommand) -> Outcome {
    match command {
        TenantCommand::Create(args) => {
            let config = load_config(&args.common.config)?;
            let mut sql = Vec::new();
            for path in &args.sql {
                sql.push(std::fs::read_to_string(path).map_err(|e| {
                    Failure::config(anyhow!("cannot read {}: {e}", path.display()))
                })?);
            }
            let done = fraiseql_server::create_tenant(
                &config,
                &args.name,
                args.common.database.as_deref(),
                args.common.admin_url.as_deref(),
                &sql,
            )
            .await
            .map_err(Failure::schema)?;
            for line in done {
                outln!("{line}")?;
            }
        }
        TenantCommand::List(common) => {
            let config = load_config(&common.config)?;
            let tenants = fraiseql_server::list_tenants(
                &config,
                common.database.as_deref(),
                common.admin_url.as_deref(),
            )
            .await
            .map_err(Failure::schema)?;
            for tenant in tenants {
                outln!("{tenant}")?;
            }
        }
        TenantCommand::Drop(args) => {
            let config = load_config(&args.common.config)?;
            if !args.yes {
                confirm(&args.name)?;
            }
            let done = fraiseql_server::drop_tenant(
                &config,
                &args.name,
                args.common.database.as_deref(),
                args.common.admin_url.as_deref(),
            )
            .await
            .map_err(Failure::schema)?;
            for line in done {
                outln!("{line}")?;
            }
        }
    }
    Ok(())
}

/// Asks for the tenant's name again on a terminal; anywhere else, --yes is required.
fn confirm(name: &str) -> Outcome {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::config(anyhow!(
            "dropping tenant '{name}' deletes its databases: pass --yes to confirm"
        )));
    }
    eprint!("This deletes the databases of tenant '{name}'. Type the tenant's name to confirm: ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Failure::config(anyhow!("cannot read the confirmation: {e}")))?;
    if answer.trim() == name {
        Ok(())
    } else {
        Err(Failure::config(anyhow!(
            "not confirmed; nothing was dropped"
        )))
    }
}
