//! The entry points: `fraiseql.toml` text in, a checked [`Config`] or every problem out.
//! The stages, in order: TOML syntax, `${ENV}` expansion (`env`), serde with unknown-key
//! and wrong-type reporting (`decode`), `[database]` folding, `FRAISEQL_*` overrides
//! (`env`), then type inference and cross-key rules (`check`).

use std::path::Path;

use toml::de::DeTable;

use super::check::Checker;
use super::decode::decode;
use super::document::lift_observer_rules;
use super::env::{apply_overrides, expand_document, process_env};
use super::error::{ConfigError, Problem};
use super::model::Config;

/// Reads and checks the config file at `path`, expanding `${…}` from the process environment
/// and applying the `FRAISEQL_*` overrides. Problems are reported against the path as given.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            &origin,
            vec![Problem::new(format!("cannot read the config file: {e}"))],
        )
    })?;
    parse(&text, &origin, &process_env)
}

/// Checks config `text`, with `${…}` and overrides looked up through `env` (use
/// [`process_env`] for the real environment). `origin` names the text in messages, usually
/// its file name. On success every database has its `kind` set and `database` is folded
/// into `databases["primary"]`; on failure the error lists every problem found.
pub fn parse(
    text: &str,
    origin: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let root = DeTable::parse(text).map_err(|e| {
        // toml's syntax messages span lines (message, then what it expected); keep one line.
        let message = format!("invalid TOML: {}", e.message().trim().replace('\n', "; "));
        ConfigError::new(origin, vec![Problem::new(message).at_span(text, e.span())])
    })?;
    let root_span = root.span();
    let mut doc = root.into_inner();

    lift_observer_rules(&mut doc);
    let expansion = expand_document(&mut doc, env, text);
    let decoded = decode(&doc, root_span, text);
    let mut problems = expansion.problems;
    problems.extend(decoded.problems);
    let Some(mut config) = decoded.config else {
        return Err(ConfigError::new(origin, problems));
    };
    let mut dropped = expansion.dropped;
    dropped.extend(decoded.dropped);

    let mut checker = Checker::new(&doc, text, &dropped);
    let shorthand = checker.fold(&mut config);
    problems.extend(apply_overrides(&mut config, env));
    checker.check(&mut config, shorthand);
    problems.extend(checker.problems);

    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::new(origin, problems))
    }
}
