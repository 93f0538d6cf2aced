//! `docs/reference.toml` is the user's list of every config key. It must load, hold exactly
//! the defaults, and document every key of the model (a key added to `model.rs` without a
//! line here fails `documents_every_key_of_the_model`).

use std::collections::BTreeSet;

use fraiseql_engine::config::{
    parse, AuthConfig, Config, DatabaseConfig, DatabaseKind, TenancyConfig,
};
use serde_json::Value;

const REFERENCE: &str = include_str!("../../../docs/reference.toml");

/// Stands for any database name in key paths.
const ANY_DB: &str = "<name>";

#[test]
fn loads_and_holds_the_defaults() {
    let config =
        parse(REFERENCE, "docs/reference.toml", &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let mut expected = Config::default();
    let primary = DatabaseConfig {
        url: Some("sqlite://./app.db".into()),
        kind: Some(DatabaseKind::Sqlite),
        ..DatabaseConfig::default()
    };
    expected.databases.insert("primary".into(), primary);
    assert_eq!(config, expected);
}

#[test]
fn documents_every_key_of_the_model() {
    let model = model_keys();
    let documented = documented_keys();
    let missing: Vec<_> = model.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "keys missing from docs/reference.toml: {missing:?}"
    );
    let stale: Vec<_> = documented.difference(&model).collect();
    assert!(
        stale.is_empty(),
        "docs/reference.toml documents keys the model lacks: {stale:?}"
    );
    // `[database]` is not serialized (it is folded into `databases.primary`): check by hand.
    assert!(
        REFERENCE.contains("\n#   [database]\n"),
        "the [database] shorthand is not shown"
    );
}

#[test]
fn every_key_line_has_a_comment_above_it() {
    let lines: Vec<&str> = REFERENCE.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let is_key = !line.starts_with('#') && !line.starts_with('[') && line.contains('=');
        if is_key {
            assert!(
                i > 0 && lines[i - 1].starts_with('#'),
                "no comment above line {}: {line}",
                i + 1
            );
        }
    }
}

/// Every leaf key path of the model, from the serialized defaults (with one database).
fn model_keys() -> BTreeSet<String> {
    let mut config = Config::default();
    config
        .databases
        .insert(ANY_DB.into(), DatabaseConfig::default());
    // Sections that are off unless written: every key of theirs.
    config.auth = Some(AuthConfig::empty());
    config.multi_tenancy = Some(TenancyConfig::default());
    let mut keys = BTreeSet::new();
    collect("", &serde_json::to_value(&config).unwrap(), &mut keys);
    keys
}

fn collect(prefix: &str, value: &Value, out: &mut BTreeSet<String>) {
    match value {
        // An empty table would hide its own key, so it counts as a leaf.
        Value::Object(map) if !map.is_empty() => {
            for (key, value) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                collect(&path, value, out);
            }
        }
        _ => {
            out.insert(prefix.to_owned());
        }
    }
}

/// `section.key` for every key written in the file, as a setting (`key = …`) or as a
/// commented-out one (`# key = …`, for keys without a default), under a section header or a
/// commented-out one (`# [auth]`, for a section that is off unless written). Indented
/// comment lines are examples of other layouts and do not count.
fn documented_keys() -> BTreeSet<String> {
    let mut section = String::new();
    let mut keys = BTreeSet::new();
    for line in REFERENCE.lines() {
        let header_line = line.strip_prefix("# ").unwrap_or(line);
        if let Some(header) = header_line
            .strip_prefix('[')
            .and_then(|l| l.strip_suffix(']'))
        {
            section = header.replace("databases.primary", &format!("databases.{ANY_DB}"));
            continue;
        }
        let setting = line.strip_prefix("# ").unwrap_or(line);
        let Some((key, _)) = setting.split_once(" = ") else {
            continue;
        };
        if !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            keys.insert(format!("{section}.{key}"));
        }
    }
    keys
}
