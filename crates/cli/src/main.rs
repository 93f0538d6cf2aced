//! The `fraiseql` binary: parses the command line (clap), runs one command, and turns its
//! failure into a documented exit code. Commands live one per module; `project` loads what
//! they share (config file, schema file).

mod check;
mod compile;
mod events;
mod explain;
mod init;
mod logging;
mod output;
mod project;
mod run;
mod tenant;

use clap::{Parser, Subcommand};
use std::io::Write;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: building SQL and JSON allocates many small
/// strings per request, and glibc's malloc/free were about a third of the engine's
/// instructions per request (callgrind, see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  schema, validation or check failure (also any other error)
  2  configuration error (config file, missing database, address in use)
  3  database connection failure
A reader that closes stdout early (`fraiseql explain … | head -1`) ends a command quietly
with exit 0.";

/// FraiseQL: a GraphQL API served straight from SQL views.
#[derive(Debug, Parser)]
#[command(name = "fraiseql", version, about, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format on stderr: `text` (one escaped line per event) or `json` (one object per
    /// line).
    #[arg(
        long,
        global = true,
        env = "FRAISEQL_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: logging::LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the GraphQL API.
    #[command(visible_alias = "serve", after_help = EXIT_CODES)]
    Run(run::RunArgs),
    /// Compile a schema (schema.json or schema.graphql) into schema.compiled.json.
    #[command(after_help = EXIT_CODES)]
    Compile(compile::CompileArgs),
    /// Print the executable GraphQL SDL the server exposes.
    #[command(after_help = EXIT_CODES)]
    Sdl(compile::SdlArgs),
    /// Check the schema against the configured databases (views, data columns, functions).
    #[command(after_help = EXIT_CODES)]
    Check(check::CheckArgs),
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Show the SQL a query runs and the database's plan for it.
    #[command(after_help = EXIT_CODES)]
    Explain(explain::ExplainArgs),
    /// Event commands (`[observers]`).
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// Observer commands (`[observers]`): the outbox and its capture triggers.
    #[command(subcommand)]
    Observers(events::ObserversCommand),
    /// Create a new project with sample data: SQLite (runs as is), PostgreSQL or MySQL/MariaDB.
    #[command(after_help = EXIT_CODES)]
    Init(init::InitArgs),
    /// Tenant databases (`[multi_tenancy] strategy = "database_per_tenant"`).
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the config and verify every database is reachable and matches the schema
    /// (same as `fraiseql check`).
    #[command(after_help = EXIT_CODES)]
    Validate(check::CheckArgs),
}

/// A command's failure and the exit code it maps to.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) error: anyhow::Error,
}

impl Failure {
    /// Schema, validation or check failure (exit 1).
    pub(crate) fn schema(error: impl Into<anyhow::Error>) -> Self {
        Self {
            code: 1,
            error: error.into(),
        }
    }

    /// Configuration error (exit 2).
    pub(crate) fn config(error: impl Into<anyhow::Error>) -> Self {
        Self {
            code: 2,
            error: error.into(),
        }
    }

    /// Failure already reported on the terminal; only the exit code remains.
    pub(crate) fn silent(code: u8) -> Self {
        Self {
            code,
            error: anyhow::Error::msg(String::new()),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Self { code: 1, error }
    }
}

pub(crate) type Outcome = Result<(), Failure>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            report_error(&format!("cannot start the async runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::Compile(args) => compile::compile(args),
            Command::Sdl(args) => compile::sdl(args),
            Command::Check(args) | Command::Config(ConfigCommand::Validate(args)) => {
                check::check(args).await
            }
            Command::Explain(args) => explain::explain(args).await,
            Command::Init(args) => init::init(args),
            Command::Events(command) => events::run(command).await,
            Command::Observers(command) => events::observers(command).await,
            Command::Tenant(command) => tenant::run(command).await,
        }
    });
    // The command is done. A background task cut short as the runtime shuts down (a pool
    // connection its upkeep was still opening, whose blocking thread is cancelled) may
    // panic; that says nothing about the command, so it stays off stderr.
    std::panic::set_hook(Box::new(|_| {}));
    drop(runtime);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let message = format!("{:#}", failure.error);
            if !message.is_empty() {
                report_error(message.trim_end());
            }
            ExitCode::from(failure.code)
        }
    }
}

/// `Error: …` on stderr. A closed stderr is ignored: the exit code still tells.
pub(crate) fn report_error(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "Error: {message}");
}
