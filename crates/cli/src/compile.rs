//! `fraiseql compile` and `fraiseql sdl`: a schema file in, the compiled document or the
//! executable SDL out. Without INPUT, the schema comes from `./fraiseql.toml` when present,
//! else `schema.json`.

use crate::output::{out, outln};
use crate::project::{load_config, load_schema_file, schema_path, DEFAULT_CONFIG};
use crate::Outcome;
use anyhow::Context;
use clap::Args;
use fraiseql_engine::config::{Config, QueryDefaults};
use fraiseql_engine::schema::{executable_sdl, CompiledDocument};
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub(crate) struct CompileArgs {
    /// Schema file: schema.json, schema.graphql, or a compiled schema.
    input: Option<PathBuf>,
    /// Where to write the compiled schema (default: `[fraiseql] output_file`, else
    /// schema.compiled.json).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct SdlArgs {
    /// Schema file: schema.json, schema.graphql, or a compiled schema.
    input: Option<PathBuf>,
}

/// The schema file to use and the project config, when `./fraiseql.toml` exists.
fn resolve(input: Option<PathBuf>) -> Result<(PathBuf, Option<(PathBuf, Config)>), crate::Failure> {
    let config_path = Path::new(DEFAULT_CONFIG);
    let project = if config_path.is_file() {
        Some((config_path.to_path_buf(), load_config(config_path)?))
    } else {
        None
    };
    let schema = match (input, &project) {
        (Some(input), _) => input,
        (None, Some((path, config))) => schema_path(path, config),
        (None, None) => PathBuf::from("schema.json"),
    };
    Ok((schema, project))
}

pub(crate) fn compile(args: CompileArgs) -> Outcome {
    let (input, project) = resolve(args.input)?;
    let schema = load_schema_file(&input)?;
    let output = args.output.unwrap_or_else(|| match &project {
        Some((path, config)) => path
            .parent()
            .unwrap_or_else(|| Path::new(""))
            .join(&config.fraiseql.output_file),
        None => PathBuf::from("schema.compiled.json"),
    });
    let (types, queries, mutations) = (
        schema.types.len(),
        schema.queries.len(),
        schema.mutations.len(),
    );
    let document = CompiledDocument {
        compiled_version: 1,
        schema,
    };
    let mut json = serde_json::to_string_pretty(&document).context("serializing the schema")?;
    json.push('\n');
    std::fs::write(&output, json).with_context(|| format!("cannot write {}", output.display()))?;
    outln!(
        "Compiled {types} types, {queries} queries, {mutations} mutations -> {}",
        output.display()
    )?;
    Ok(())
}

pub(crate) fn sdl(args: SdlArgs) -> Outcome {
    let (input, project) = resolve(args.input)?;
    let schema = load_schema_file(&input)?;
    let defaults = project
        .map(|(_, c)| c.query_defaults)
        .unwrap_or_else(QueryDefaults::default);
    out!("{}", executable_sdl(&schema, &defaults))?;
    Ok(())
}
