//! What the commands share: loading `fraiseql.toml` (exit 2 on problems) and the schema file
//! it names (exit 1 on problems), with `schema_file` relative to the config's directory.

use crate::Failure;
use anyhow::anyhow;
use fraiseql_engine::config::{self, process_env, Config};
use fraiseql_engine::schema::{load_schema, CompiledSchema};
use std::path::{Path, PathBuf};

/// The config file commands look for when none is named.
pub(crate) const DEFAULT_CONFIG: &str = "fraiseql.toml";

/// Loads and checks a config file.
pub(crate) fn load_config(path: &Path) -> Result<Config, Failure> {
    if !path.is_file() {
        return Err(Failure::config(anyhow!(
            "config file {} not found (run `fraiseql init` to create a project)",
            path.display()
        )));
    }
    config::load(path).map_err(|e| Failure::config(anyhow!("invalid configuration:\n{e}")))
}

/// A config with only `primary` = `url` (or `DATABASE_URL`), for running a bare schema file.
pub(crate) fn minimal_config(url: Option<&str>) -> Result<Config, Failure> {
    let from_env = process_env("DATABASE_URL").is_some_and(|u| !u.is_empty());
    if url.is_none() && !from_env {
        return Err(Failure::config(anyhow!(
            "no database: pass --database URL, set DATABASE_URL, or use a fraiseql.toml"
        )));
    }
    let text = match url {
        Some(url) => format!("[database]\nurl = {}\n", toml_string(url)),
        None => String::new(),
    };
    config::parse(&text, "<command line>", &process_env)
        .map_err(|e| Failure::config(anyhow!("invalid configuration:\n{e}")))
}

/// Points database `primary` at `url` (the `--database` flag).
pub(crate) fn override_primary(config: &mut Config, url: &str) {
    let primary = config.databases.entry("primary".into()).or_default();
    primary.point_at(url);
}

/// The schema file a config names, resolved against the config's directory.
pub(crate) fn schema_path(config_path: &Path, config: &Config) -> PathBuf {
    let dir = config_path.parent().unwrap_or_else(|| Path::new(""));
    dir.join(&config.fraiseql.schema_file)
}

/// Reads and compiles a schema file (`.json`, `.graphql`, or compiled JSON).
pub(crate) fn load_schema_file(path: &Path) -> Result<CompiledSchema, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::schema(anyhow!("cannot read schema file {}: {e}", path.display())))?;
    load_schema(&text, &path.display().to_string()).map_err(|errors| {
        let mut message = format!("Schema compilation failed ({}):", path.display());
        for e in &errors.0 {
            message.push_str(&format!("\n  {e}"));
        }
        Failure::schema(anyhow!(message))
    })
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_strings_escape() {
        assert_eq!(toml_string(r#"a"b\c"#), r#""a\"b\\c""#);
        let parsed: toml::Table =
            toml::from_str(&format!("x = {}", toml_string("p\"w\\d\n"))).expect("valid");
        assert_eq!(parsed["x"].as_str(), Some("p\"w\\d\n"));
    }

    #[test]
    fn schema_file_is_relative_to_the_config() {
        let config = Config::default();
        assert_eq!(
            schema_path(Path::new("app/fraiseql.toml"), &config),
            Path::new("app/schema.json")
        );
        assert_eq!(
            schema_path(Path::new("fraiseql.toml"), &config),
            Path::new("schema.json")
        );
    }
}
