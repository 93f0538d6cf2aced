//! The only place the engine reads the environment. Two jobs, both run by `config::parse`:
//! `${NAME}` / `${NAME:-default}` expansion in every string value of the parsed TOML
//! document (before serde sees it), and the short, explicit list of `FRAISEQL_*` variables
//! that override keys after the file is read. Precedence: CLI flag (applied by the caller)
//! > environment variable > TOML.
//!
//! Everything takes the environment as an injected source (`&dyn Fn(&str) -> Option<String>`)
//! so tests never touch the process environment; [`process_env`] is the real one.

use std::borrow::Cow;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::document::{dotted, KeyPath};
use super::error::Problem;
use super::model::{Config, DatabaseConfig};

/// Where `${NAME}` references and overrides are looked up: `None` means unset.
pub(crate) type EnvSource<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, for production use with `config::parse`. A variable whose
/// value is not valid UTF-8 counts as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// What expansion found wrong, and the entries dropped because of it (so later stages do
/// not report the same mistake again as, say, an unknown URL scheme).
#[derive(Default)]
pub(crate) struct Expansion {
    pub(crate) problems: Vec<Problem>,
    pub(crate) dropped: Vec<KeyPath>,
}

/// Expands `${…}` in every string value of `root` (keys are left alone), in place.
pub(crate) fn expand_document(root: &mut DeTable<'_>, env: EnvSource<'_>, text: &str) -> Expansion {
    let mut out = Expansion::default();
    let mut path = Vec::new();
    expand_table(root, &mut path, env, text, &mut out);
    for entry in &out.dropped {
        super::document::remove(root, entry);
    }
    out
}

fn expand_table(
    table: &mut DeTable<'_>,
    path: &mut KeyPath,
    env: EnvSource<'_>,
    text: &str,
    out: &mut Expansion,
) {
    for (key, value) in table.iter_mut() {
        path.push(key.get_ref().to_string());
        if let DeValue::Table(inner) = value.get_mut() {
            expand_table(inner, path, env, text, out);
        } else {
            let label = dotted(path);
            expand_value(value, &label, path, env, text, out);
        }
        path.pop();
    }
}

/// Expands one non-table value; `label` names it in messages (`origins[1]`), `entry` is
/// the table entry to drop when it cannot be expanded.
fn expand_value(
    value: &mut Spanned<DeValue<'_>>,
    label: &str,
    entry: &KeyPath,
    env: EnvSource<'_>,
    text: &str,
    out: &mut Expansion,
) {
    let span = value.span();
    match value.get_mut() {
        DeValue::String(s) => match expand(s, env) {
            Ok(Some(expanded)) => *s = Cow::Owned(expanded),
            Ok(None) => {}
            Err(why) => {
                let message = format!("{why} (used in `{label}`)");
                out.problems.push(
                    Problem::new(message)
                        .at_span(text, Some(span))
                        .at_path(label),
                );
                out.dropped.push(entry.clone());
            }
        },
        DeValue::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_value(item, &format!("{label}[{i}]"), entry, env, text, out);
            }
        }
        // Only tables inside arrays get here (`key[i].field`); the rest go through
        // `expand_table`, which tracks the entry to drop per key.
        DeValue::Table(inner) => {
            for (key, value) in inner.iter_mut() {
                let label = format!("{label}.{}", key.get_ref());
                expand_value(value, &label, entry, env, text, out);
            }
        }
        DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_) | DeValue::Datetime(_) => {}
    }
}

/// Expands one string: `Ok(None)` when it holds no `${` (nothing to allocate). `$$` and a
/// `$` not followed by `{` are kept as written. `${NAME:-default}` uses the default when
/// NAME is unset or empty, as a shell does.
fn expand(input: &str, env: EnvSource<'_>) -> Result<Option<String>, String> {
    if !input.contains("${") {
        return Ok(None);
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push_str("$$");
            rest = tail;
            continue;
        }
        let Some(reference) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        // The brace that balances, so a default may hold braces of its own
        // (`${TENANT_URL:-postgresql://db/tenant_{tenant}}`).
        let Some(close) = closing_brace(reference) else {
            return Err("unterminated `${` (expected `${NAME}` or `${NAME:-default}`)".to_owned());
        };
        let body = &reference[..close];
        let (name, default) = match body.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (body, None),
        };
        if !is_variable_name(name) {
            return Err(format!(
                "invalid variable reference `${{{body}}}` (expected `${{NAME}}` or `${{NAME:-default}}`)"
            ));
        }
        match (env(name), default) {
            (Some(value), Some(default)) if value.is_empty() => out.push_str(default),
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => return Err(format!("environment variable `{name}` is not set")),
        }
        rest = &reference[close + 1..];
    }
    out.push_str(rest);
    Ok(Some(out))
}

/// The index of the `}` that closes a reference whose text (after `${`) is `text`.
fn closing_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One environment variable that overrides one key. Kept as a short table on purpose:
/// every entry is documented in `docs/reference.toml`.
struct Override {
    var: &'static str,
    key: &'static str,
    apply: fn(&mut Config, &str) -> Result<(), String>,
}

const OVERRIDES: [Override; 4] = [
    Override {
        var: "FRAISEQL_SERVER__HOST",
        key: "server.host",
        apply: |config, value| {
            config.server.host = value.to_owned();
            Ok(())
        },
    },
    Override {
        var: "FRAISEQL_SERVER__PORT",
        key: "server.port",
        apply: |config, value| {
            config.server.port = value
                .trim()
                .parse()
                .map_err(|_| format!("`{value}` is not a port number (0 to 65535)"))?;
            Ok(())
        },
    },
    Override {
        var: "FRAISEQL_DATABASE__URL",
        key: "databases.primary.url",
        apply: |config, value| {
            config.databases.entry(PRIMARY.to_owned()).or_default().url = Some(value.to_owned());
            Ok(())
        },
    },
    Override {
        var: "FRAISEQL_NATS_URL",
        key: "observers.nats_url",
        apply: |config, value| {
            config.observers.nats_url = Some(value.to_owned());
            Ok(())
        },
    },
];

/// The database `[database]` and `DATABASE_URL` stand for.
pub(crate) const PRIMARY: &str = "primary";

/// Applies the `FRAISEQL_*` overrides, then `DATABASE_URL` as the `primary` database's URL
/// when none is given (creating `primary` only when no database is configured at all, so
/// a stray `DATABASE_URL` never adds a database to a multi-database file). Runs after
/// `[database]` is folded into `databases.primary`. An empty variable counts as unset.
pub(crate) fn apply_overrides(config: &mut Config, env: EnvSource<'_>) -> Vec<Problem> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    let mut problems = Vec::new();
    for o in &OVERRIDES {
        if let Some(value) = set(o.var) {
            if let Err(why) = (o.apply)(config, &value) {
                problems.push(Problem::new(format!("{}: {why}", o.var)).at_path(o.key));
            }
        }
    }
    // NATS_URL, the variable the seeds' compose files set, fills only what the file left out.
    let observers = &mut config.observers;
    if observers.nats_url.is_none() && observers.nats.url.is_none() {
        observers.nats_url = set("NATS_URL");
    }
    auth_from_env(config, &set);
    if let Some(url) = set("DATABASE_URL") {
        if config.databases.is_empty() {
            config
                .databases
                .insert(PRIMARY.to_owned(), DatabaseConfig::default());
        }
        if let Some(primary) = config.databases.get_mut(PRIMARY) {
            primary.url.get_or_insert(url);
        }
    }
    problems
}

/// The seeds' JWT and OIDC variables: they make an `[auth]` when the file has none (and a
/// key source is among them), and fill what the file's `[auth]` leaves out.
fn auth_from_env(config: &mut Config, set: &dyn Fn(&str) -> Option<String>) {
    let secret = set("JWT_SECRET");
    let issuer = set("OIDC_ISSUER_URL").or_else(|| set("JWT_ISSUER"));
    let discovery = set("OIDC_DISCOVERY_URL");
    if config.auth.is_none() && (secret.is_some() || issuer.is_some() || discovery.is_some()) {
        config.auth = Some(crate::config::AuthConfig::empty());
    }
    let Some(auth) = config.auth.as_mut() else {
        return;
    };
    if auth.secret.is_none() && auth.jwks_url.is_none() && auth.discovery_url.is_none() {
        auth.secret = secret;
    }
    if auth.issuer.is_none() {
        auth.issuer = issuer;
    }
    if auth.discovery_url.is_none() && auth.jwks_url.is_none() {
        auth.discovery_url = discovery;
    }
    if auth.audience.is_none() {
        auth.audience = set("JWT_AUDIENCE")
            .or_else(|| set("OIDC_CLIENT_ID"))
            .map(crate::config::Audience::One);
    }
    if let Some(claim) = set("JWT_ROLES_CLAIM") {
        if auth.roles_claim == "roles" {
            auth.roles_claim = claim;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn expands_set_default_and_literal_dollars() {
        let env = env_of(&[("HOST", "db"), ("EMPTY", "")]);
        let x = |s: &str| expand(s, &env);
        assert_eq!(x("plain"), Ok(None));
        assert_eq!(x("pg://${HOST}/app"), Ok(Some("pg://db/app".into())));
        assert_eq!(
            x("${NOPE:-sqlite://./dev.db}"),
            Ok(Some("sqlite://./dev.db".into()))
        );
        assert_eq!(x("${EMPTY:-fallback}"), Ok(Some("fallback".into())));
        assert_eq!(x("${EMPTY}"), Ok(Some(String::new())));
        assert_eq!(x("${NOPE:-}"), Ok(Some(String::new())));
        assert_eq!(x("$$ $5 ${HOST}$"), Ok(Some("$$ $5 db$".into())));
        assert_eq!(x("$${HOST}"), Ok(Some("$${HOST}".into())));
        // A default may hold braces: the closing brace is the one that balances.
        assert_eq!(
            x("${NOPE:-pg://u_{tenant}@db/t_{tenant}}"),
            Ok(Some("pg://u_{tenant}@db/t_{tenant}".into()))
        );
        assert_eq!(x("${HOST:-t_{tenant}}/{x}"), Ok(Some("db/{x}".into())));
        assert!(x("${NOPE:-t_{tenant}").is_err(), "unbalanced");
    }

    #[test]
    fn rejects_missing_and_malformed_references() {
        let env = env_of(&[]);
        let x = |s: &str| expand(s, &env);
        assert_eq!(
            x("${PRIMARY_DB}"),
            Err("environment variable `PRIMARY_DB` is not set".into())
        );
        assert!(x("${OPEN").unwrap_err().starts_with("unterminated"));
        assert!(x("${VAULT:secret/db}")
            .unwrap_err()
            .starts_with("invalid variable reference"));
        assert!(x("${}")
            .unwrap_err()
            .starts_with("invalid variable reference"));
    }

    #[test]
    fn expands_nested_tables_and_arrays_and_names_the_path() {
        let text =
            "list = ['${A}', ['x', '${B:-b}']]\n[databases.primary]\nurl = '${PRIMARY_DB}'\n";
        let mut doc = DeTable::parse(text).unwrap().into_inner();
        let env = env_of(&[("A", "a")]);
        let out = expand_document(&mut doc, &env, text);
        assert_eq!(out.problems.len(), 1);
        let p = &out.problems[0];
        assert_eq!(
            p.message,
            "environment variable `PRIMARY_DB` is not set (used in `databases.primary.url`)"
        );
        assert_eq!(p.path.as_deref(), Some("databases.primary.url"));
        assert_eq!(p.location.map(|l| (l.line, l.column)), Some((3, 7)));
        // The bad entry is dropped; the good ones are expanded.
        let list = doc.get("list").unwrap().get_ref().as_array().unwrap();
        assert_eq!(list[0].get_ref().as_str(), Some("a"));
        assert_eq!(
            list[1].get_ref().get(1).unwrap().get_ref().as_str(),
            Some("b")
        );
        let primary = doc["databases"].get_ref().get("primary").unwrap();
        assert!(primary.get_ref().get("url").is_none());
    }

    #[test]
    fn overrides_apply_and_report_bad_values() {
        let mut config = Config::default();
        let env = env_of(&[
            ("FRAISEQL_SERVER__HOST", "127.0.0.1"),
            ("FRAISEQL_SERVER__PORT", "9000"),
            ("FRAISEQL_DATABASE__URL", "sqlite::memory:"),
        ]);
        assert!(apply_overrides(&mut config, &env).is_empty());
        assert_eq!(
            (config.server.host.as_str(), config.server.port),
            ("127.0.0.1", 9000)
        );
        assert_eq!(
            config.databases[PRIMARY].url.as_deref(),
            Some("sqlite::memory:")
        );

        let problems = apply_overrides(&mut config, &env_of(&[("FRAISEQL_SERVER__PORT", "abc")]));
        assert_eq!(
            problems[0].message,
            "FRAISEQL_SERVER__PORT: `abc` is not a port number (0 to 65535)"
        );
        assert_eq!(problems[0].path.as_deref(), Some("server.port"));
    }

    #[test]
    fn database_url_fills_only_a_missing_primary_url() {
        let env = env_of(&[("DATABASE_URL", "postgresql://env/db")]);

        let mut none = Config::default();
        apply_overrides(&mut none, &env);
        assert_eq!(
            none.databases[PRIMARY].url.as_deref(),
            Some("postgresql://env/db")
        );

        let mut given = Config::default();
        given.databases.insert(
            PRIMARY.into(),
            DatabaseConfig {
                kind: Some(crate::config::DatabaseKind::Sqlite),
                url: Some("sqlite::memory:".into()),
                ..Default::default()
            },
        );
        apply_overrides(&mut given, &env);
        assert_eq!(
            given.databases[PRIMARY].url.as_deref(),
            Some("sqlite::memory:")
        );

        let mut others = Config::default();
        others
            .databases
            .insert("orders".into(), DatabaseConfig::default());
        apply_overrides(&mut others, &env);
        assert!(!others.databases.contains_key(PRIMARY));
    }

    #[test]
    fn every_override_is_documented() {
        let reference = include_str!("../../../../docs/reference.toml");
        for var in OVERRIDES.iter().map(|o| o.var).chain(["DATABASE_URL"]) {
            assert!(
                reference.contains(var),
                "docs/reference.toml does not mention {var}"
            );
        }
    }
}
