//! `[databases.<name>] replicas`: read replicas of a database, checked when the config loads.
//! Each must be the database's own type, never an in-memory SQLite database, never the
//! primary itself or listed twice; every message points at the key and never echoes a URL
//! (it may hold a password).

use fraiseql_engine::config::{parse, Config, DatabaseKind};

fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

fn ok(text: &str, vars: &'static [(&'static str, &'static str)]) -> Config {
    parse(text, "fraiseql.toml", &env(vars)).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> String {
    match parse(text, "fraiseql.toml", &env(&[])) {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn replicas_load_with_env_expansion_and_empty_entries_left_out() {
    let text = "\
[databases.primary]
url = 'postgresql://app@primary/app'
replicas = ['postgresql://app:${REPLICA_PASSWORD}@replica-1/app', '${REPLICA_2:-}', 'postgres://replica-3/app']
pool_max = 7
";
    let config = ok(text, &[("REPLICA_PASSWORD", "s3cret")]);
    let primary = &config.databases["primary"];
    assert_eq!(primary.kind, Some(DatabaseKind::Postgresql));
    assert_eq!(
        primary.replicas,
        [
            "postgresql://app:s3cret@replica-1/app",
            "postgres://replica-3/app"
        ]
    );
    assert_eq!(primary.pool_max, 7);
    // No key: no replicas.
    let plain = ok("[database]\nurl = 'mysql://root@h/app'\n", &[]);
    assert!(plain.databases["primary"].replicas.is_empty());
}

#[test]
fn sqlite_file_replicas_are_accepted() {
    let text = "\
[database]
url = 'sqlite://./app.db'
replicas = ['sqlite://./copy.db', './other.sqlite3']
";
    assert_eq!(ok(text, &[]).databases["primary"].replicas.len(), 2);
    // With `type` given, a path without a scheme is read as that type, as `url` is.
    let typed = "[database]\ntype = 'sqlite'\nurl = 'app'\nreplicas = ['copy']\n";
    assert_eq!(ok(typed, &[]).databases["primary"].replicas, ["copy"]);
}

#[test]
fn a_replica_of_another_type_is_an_error_naming_the_key() {
    let text = "\
[databases.analytics]
url = 'postgresql://app:pw@primary/app'
replicas = ['postgresql://app:pw@r1/app', 'mysql://root:hunter2@r2/app']
";
    let message = err(text);
    assert_eq!(
        message,
        "fraiseql.toml:3:1: `replicas[1]` in [databases.analytics] is a `mysql` url, but the \
         database is `postgresql`: a replica is a copy of the same type of database"
    );
    assert!(!message.contains("hunter2"), "{message}");
    let e = parse(text, "fraiseql.toml", &env(&[])).unwrap_err();
    assert_eq!(
        e.problems[0].path.as_deref(),
        Some("databases.analytics.replicas")
    );
    // The declared `type` is what replicas are held to.
    let typed =
        "[database]\ntype = 'mariadb'\nurl = 'mysql://h/app'\nreplicas = ['sqlite://./x.db']\n";
    assert_eq!(
        err(typed),
        "fraiseql.toml:4:1: `replicas[0]` in [database] is a `sqlite` url, but the database is \
         `mysql`: a replica is a copy of the same type of database"
    );
}

#[test]
fn bad_replica_urls_are_errors() {
    let text = "\
[databases.a]
url = 'postgresql://h/app'
replicas = ['mssql://sa:pw@h/app', 'postgresql://r/app', 'postgresql://r/app', 'postgresql://h/app']
[databases.b]
url = 'sqlite::memory:'
replicas = ['sqlite://./b.db']
[databases.c]
url = 'sqlite://./c.db'
replicas = ['sqlite::memory:']
";
    insta::assert_snapshot!(err(text), @r"
    fraiseql.toml:3:1: url scheme `mssql` of `replicas[0]` in [databases.a] is not supported by this build; supported: `postgresql` (alias `postgres`, `pg`), `mysql` (alias `mariadb`), `sqlite` (alias `sqlite3`)
    fraiseql.toml:3:1: `replicas[2]` in [databases.a] repeats `replicas[1]`
    fraiseql.toml:3:1: `replicas[3]` in [databases.a] is the database's own `url`; list only the replicas
    fraiseql.toml:6:1: `replicas` in [databases.b]: an in-memory SQLite database cannot have replicas (nothing else can open it); use a database file
    fraiseql.toml:9:1: `replicas[0]` in [databases.c] is an in-memory SQLite database, which would be empty and unreachable from anywhere else: a replica must be a database file
    ");
}

#[test]
fn replicas_must_be_a_list_of_strings() {
    let message = err("[database]\nurl = 'postgresql://h/app'\nreplicas = 'postgresql://r/app'\n");
    assert!(
        message.starts_with("fraiseql.toml:3:12: invalid value for `replicas` in [database]"),
        "{message}"
    );
    assert!(!message.contains("postgresql://r"), "{message}");
}

#[test]
fn an_unset_variable_in_a_replica_names_the_entry() {
    let message = err("[database]\nurl = 'postgresql://h/app'\nreplicas = ['${REPLICA_URL}']\n");
    assert_eq!(
        message,
        "fraiseql.toml:3:13: environment variable `REPLICA_URL` is not set (used in \
         `database.replicas[0]`)"
    );
}
