//! `fraiseql run`: loads the config and schema, then serves until Ctrl-C/SIGTERM.

use crate::project::{
    load_config, load_schema_file, minimal_config, override_primary, schema_path, DEFAULT_CONFIG,
};
use crate::{Failure, Outcome};
use anyhow::anyhow;
use clap::Args;
use fraiseql_server::{serve, ServeError, ServeOptions};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// A config file (`*.toml`), or a schema file (`.json`, `.graphql`, compiled) to serve with
    /// `--config` or `--database`/`DATABASE_URL`.
    #[arg(default_value = DEFAULT_CONFIG)]
    input: PathBuf,
    /// Port to listen on (overrides `[server] port`).
    #[arg(long, env = "FRAISEQL_PORT")]
    port: Option<u16>,
    /// Address to listen on (overrides `[server] host`).
    #[arg(long, env = "FRAISEQL_HOST")]
    bind: Option<String>,
    /// URL of the `primary` database (overrides the config's). Without a config file,
    /// `DATABASE_URL` is used when this is not given.
    #[arg(long)]
    database: Option<String>,
    /// Config file to use with a schema file INPUT.
    #[arg(long)]
    config: Option<PathBuf>,
}

pub(crate) async fn run(args: RunArgs) -> Outcome {
    let is_config = args
        .input
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let (config, schema_file) = if is_config {
        let mut config = load_config(&args.input)?;
        if let Some(url) = &args.database {
            override_primary(&mut config, url);
        }
        let schema = schema_path(&args.input, &config);
        (config, schema)
    } else {
        let config = match &args.config {
            Some(path) => {
                let mut config = load_config(path)?;
                if let Some(url) = &args.database {
                    override_primary(&mut config, url);
                }
                config
            }
            None => minimal_config(args.database.as_deref())?,
        };
        (config, args.input.clone())
    };
    let schema = load_schema_file(&schema_file)?;
    let opts = ServeOptions {
        port: args.port,
        host: args.bind,
    };
    serve(config, schema, opts).await.map_err(|e| match e {
        ServeError::Schema(_) => Failure::schema(anyhow!(e)),
        ServeError::UnknownDatabase { .. }
        | ServeError::Database { .. }
        | ServeError::Bind { .. }
        | ServeError::UnknownBreakerEntry(_)
        | ServeError::Events(_) => Failure::config(anyhow!(e)),
        ServeError::Io(_) => Failure::schema(anyhow!(e)),
    })
}
