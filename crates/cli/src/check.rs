//! `fraiseql check` (and `fraiseql config validate`): the config loads, the schema
//! compiles, and every database is reachable and holds what the schema reads and calls.

use crate::output::outln;
use crate::project::{load_config, load_schema_file, schema_path, DEFAULT_CONFIG};
use crate::{Failure, Outcome};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Config file.
    #[arg(long, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
}

pub(crate) async fn check(args: CheckArgs) -> Outcome {
    let config = load_config(&args.config)?;
    outln!("ok    config {}", args.config.display())?;
    let schema_file = schema_path(&args.config, &config);
    let schema = load_schema_file(&schema_file)?;
    outln!(
        "ok    schema {} ({} types, {} queries, {} mutations)",
        schema_file.display(),
        schema.types.len(),
        schema.queries.len(),
        schema.mutations.len()
    )?;
    let report = fraiseql_server::check(&config, &schema).await;
    for line in &report.ok {
        outln!("ok    {line}")?;
    }
    for warning in &report.warnings {
        outln!("WARN  {warning}")?;
    }
    for problem in &report.problems {
        outln!("FAIL  {problem}")?;
    }
    if report.is_ok() {
        outln!("All checks passed.")?;
        return Ok(());
    }
    crate::report_error(&format!("{} problem(s) found", report.problems.len()));
    Err(Failure::silent(if report.unreachable() { 3 } else { 1 }))
}
