//! `[project]` keys do something: `database_target` is checked against every database's
//! type at load (hostile spellings and unsupported types refused with the key's position);
//! `name`, `version` and `description` are carried to the banner and `/health` (shown by
//! `crates/server/tests/project.rs`).

use fraiseql_engine::config::{parse, Config, DatabaseKind};

fn ok(text: &str) -> Config {
    parse(text, "fraiseql.toml", &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> String {
    match parse(text, "fraiseql.toml", &|_| None) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn project_metadata_loads() {
    let config = ok("\
[project]
name = 'orders-api'
version = '2.1.0'
description = 'Orders and customers'
database_target = 'postgres'
[database]
url = 'postgresql://h/orders'
");
    assert_eq!(config.project.name, "orders-api");
    assert_eq!(config.project.version, "2.1.0");
    assert_eq!(
        config.project.description.as_deref(),
        Some("Orders and customers")
    );
    assert_eq!(
        config.project.database_target,
        Some(DatabaseKind::Postgresql)
    );
}

#[test]
fn database_target_must_match_every_database() {
    assert_eq!(
        err("\
[project]
database_target = 'postgresql'
[database]
url = 'postgresql://h/orders'
[databases.cache]
url = 'sqlite://./cache.db'
"),
        "fraiseql.toml:2:1: `database_target` in [project] is `postgresql` but database `cache` is `sqlite`"
    );
    // The seeds' `[schema]` spelling, and a type given with `type` instead of the URL.
    assert_eq!(
        err("\
[schema]
database_target = 'sqlite3'
[databases.primary]
type = 'pg'
url = 'postgresql://h/x'
"),
        "fraiseql.toml:2:1: `database_target` in [schema] is `sqlite` but database `primary` is `postgresql`"
    );
    // Matching databases load.
    ok("[project]\ndatabase_target = 'sqlite'\n[database]\nurl = 'sqlite::memory:'\n");
}

#[test]
fn database_target_refuses_unknown_and_hostile_values() {
    let unsupported =
        err("[project]\ndatabase_target = 'sqlserver'\n[database]\nurl = 'sqlite::memory:'\n");
    assert!(
        unsupported.starts_with("fraiseql.toml:2:19: database type `sqlserver` in [project] is not supported by this build; supported: `postgresql`"),
        "{unsupported}"
    );
    for value in [
        "''",
        "'POSTGRESQL '",
        "'sqlite\\u0000'",
        "5",
        "true",
        "['sqlite']",
        "{}",
    ] {
        let text =
            format!("[project]\ndatabase_target = {value}\n[database]\nurl = 'sqlite::memory:'\n");
        let message = err(&text);
        assert!(
            message.starts_with("fraiseql.toml:2:") && message.contains("in [project]"),
            "{value}: {message}"
        );
    }
}

#[test]
fn name_and_version_take_any_text_and_have_defaults() {
    let config = ok("[database]\nurl = 'sqlite::memory:'\n");
    assert_eq!(
        (
            config.project.name.as_str(),
            config.project.version.as_str()
        ),
        ("my-fraiseql-app", "1.0.0")
    );
    assert_eq!(config.project.database_target, None);
    let wrong = err("[project]\nname = 5\n[database]\nurl = 'sqlite::memory:'\n");
    assert!(wrong.contains("`name` in [project]"), "{wrong}");
}
