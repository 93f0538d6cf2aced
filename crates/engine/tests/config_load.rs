//! `config::parse` / `config::load` end to end: text in, `Config` or the exact error text
//! out. The environment is injected, so nothing here reads or changes the process's.

use fraiseql_engine::config::{load, parse, Config, ConfigError, DatabaseKind};

/// An environment holding exactly `vars`.
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

fn err(text: &str, vars: &'static [(&'static str, &'static str)]) -> String {
    match parse(text, "fraiseql.toml", &env(vars)) {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn database_shorthand_becomes_primary_with_inferred_type() {
    let config = ok("[database]\nurl = 'postgresql://localhost/app'\n", &[]);
    assert_eq!(config.database, None);
    let primary = &config.databases["primary"];
    assert_eq!(primary.url.as_deref(), Some("postgresql://localhost/app"));
    assert_eq!(primary.kind, Some(DatabaseKind::Postgresql));
}

#[test]
fn named_databases_keep_their_order_and_infer_types() {
    let text = "\
[databases.orders]
url = 'postgres://h/orders'
[databases.cache]
url = 'sqlite::memory:'
[databases.legacy]
type = 'pg'
";
    let config = ok(text, &[]);
    let kinds: Vec<_> = config
        .databases
        .iter()
        .map(|(n, d)| (n.as_str(), d.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("orders", Some(DatabaseKind::Postgresql)),
            ("cache", Some(DatabaseKind::Sqlite)),
            ("legacy", Some(DatabaseKind::Postgresql)),
        ]
    );
}

#[test]
fn seed_spellings_are_accepted_silently() {
    let text = "\
[schema]
name = 'shop'
[databases.orders]
url = 'postgresql://h/orders'
driver = 'postgres'
pool_size = 50
pool_timeout = 30000
[fraiseql]
schema = 'schema.graphql'
[validation]
max_query_complexity = 800
";
    let config = ok(text, &[]);
    assert_eq!(config.project.name, "shop");
    let orders = &config.databases["orders"];
    assert_eq!((orders.pool_max, orders.connect_timeout_ms), (50, 30000));
    assert_eq!(orders.kind, Some(DatabaseKind::Postgresql));
    assert_eq!(config.fraiseql.schema_file, "schema.graphql");
    assert_eq!(config.validation.max_fields, 800);
}

#[test]
fn env_references_expand_with_defaults() {
    let text = "\
[project]
description = 'cost: $5, literal $${HOME}'
[database]
url = '${DATABASE_HOST:-sqlite://./dev.db}'
[databases.orders]
url = 'postgresql://${PG_USER}@db/orders'
";
    // `[database]` and `[databases.orders]` together are fine: only `primary` would clash.
    let config = ok(text, &[("PG_USER", "app")]);
    assert_eq!(
        config.project.description.as_deref(),
        Some("cost: $5, literal $${HOME}")
    );
    assert_eq!(
        config.databases["primary"].url.as_deref(),
        Some("sqlite://./dev.db")
    );
    assert_eq!(
        config.databases["orders"].url.as_deref(),
        Some("postgresql://app@db/orders")
    );
}

#[test]
fn missing_env_variable_names_the_variable_and_the_key() {
    let text = "[databases.primary]\nurl = '${PRIMARY_DB}'\n";
    assert_eq!(
        err(text, &[]),
        "fraiseql.toml:2:7: environment variable `PRIMARY_DB` is not set (used in `databases.primary.url`)"
    );
}

#[test]
fn unknown_key_names_table_position_and_closest_key() {
    let text = "\
[project]
name = 'shop'

[databases.primary]
url = 'sqlite://./app.db'
pool_maxx = 10
";
    assert_eq!(
        err(text, &[]),
        "fraiseql.toml:6:1: unknown key `pool_maxx` in [databases.primary]; did you mean `pool_max`?"
    );
}

#[test]
fn unknown_section_is_an_error() {
    let text = "[database]\nurl = 'sqlite::memory:'\n\n[queries.defaults]\nwhere = true\n";
    insta::assert_snapshot!(err(text, &[]), @"fraiseql.toml:4:2: unknown section `[queries]`; valid sections: `[project]`, `[server]`, `[database]`, `[databases.<name>]`, `[fraiseql]`, `[validation]`, `[query_defaults]`, `[federation]`, `[observers]`, `[subscriptions]`, `[auth]`, `[multi_tenancy]`, `[multitenancy]`");
}

#[test]
fn wrong_value_type_has_a_position() {
    let text = "[database]\nurl = 'sqlite::memory:'\n[server]\nport = \"abc\"\n";
    assert_eq!(
        err(text, &[]),
        "fraiseql.toml:4:8: invalid value for `port` in [server]: expected an integer from 0 to 65535, found a string"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = "\
[server]
port = 'abc'
hots = '0.0.0.0'

[databases.primary]
url = 'sqlite://./app.db'
pool_min = 30
pool_max = 10

[databases.orders]
url = 'mssql://root@localhost/orders'

[databases.reports]
pool_max = 0

[databases.archive]
url = '${ARCHIVE_DB}'

[query_defaults]
default_page_size = 500
max_page_size = 100
";
    insta::assert_snapshot!(err(text, &[]), @r"
    fraiseql.toml:2:8: invalid value for `port` in [server]: expected an integer from 0 to 65535, found a string
    fraiseql.toml:3:1: unknown key `hots` in [server]; did you mean `host`?
    fraiseql.toml:7:1: `pool_min` (30) in [databases.primary] is larger than `pool_max` (10)
    fraiseql.toml:11:1: url scheme `mssql` in [databases.orders] is not supported by this build; supported: `postgresql` (alias `postgres`, `pg`), `mysql` (alias `mariadb`), `sqlite` (alias `sqlite3`)
    fraiseql.toml:13:12: [databases.reports] has neither `url` nor `type`: set `url` (the type is inferred from it) or `type`
    fraiseql.toml:14:1: `pool_max` in [databases.reports] must be at least 1
    fraiseql.toml:17:7: environment variable `ARCHIVE_DB` is not set (used in `databases.archive.url`)
    fraiseql.toml:20:1: `default_page_size` (500) in [query_defaults] is larger than `max_page_size` (100)
    ");
}

#[test]
fn error_exposes_each_problem_with_path() {
    let text = "[databases.primary]\nurl = 'sqlite::memory:'\npool_maxx = 1\n";
    let e: ConfigError = parse(text, "f.toml", &env(&[])).unwrap_err();
    assert_eq!(e.origin, "f.toml");
    assert_eq!(e.problems.len(), 1);
    let p = &e.problems[0];
    assert_eq!(p.path.as_deref(), Some("databases.primary.pool_maxx"));
    assert_eq!(p.location.map(|l| (l.line, l.column)), Some((3, 1)));
}

#[test]
fn shorthand_and_primary_together_is_an_error() {
    let text =
        "[database]\nurl = 'sqlite::memory:'\n[databases.primary]\nurl = 'sqlite::memory:'\n";
    assert_eq!(
        err(text, &[]),
        "fraiseql.toml:1:2: `[database]` and `[databases.primary]` both configure the primary \
         database (`[database]` is shorthand for `[databases.primary]`); keep one"
    );
}

#[test]
fn no_database_is_an_error_unless_database_url_is_set() {
    assert_eq!(
        err("[server]\nport = 8000\n", &[]),
        "fraiseql.toml: no database configured: add a `[database]` section with a `url`, or set DATABASE_URL"
    );
    let config = ok("", &[("DATABASE_URL", "postgresql://env/app")]);
    assert_eq!(
        config.databases["primary"].kind,
        Some(DatabaseKind::Postgresql)
    );
}

#[test]
fn type_and_url_must_agree() {
    let text = "[database]\ntype = 'postgresql'\nurl = 'sqlite://./app.db'\n";
    assert_eq!(
        err(text, &[]),
        "fraiseql.toml:2:1: `type` in [database] is `postgresql` but its url is a `sqlite` url"
    );
}

#[test]
fn environment_overrides_beat_the_file() {
    let text =
        "[server]\nhost = '127.0.0.1'\nport = 8080\n[database]\nurl = 'sqlite://./file.db'\n";
    let vars = &[
        ("FRAISEQL_SERVER__HOST", "0.0.0.0"),
        ("FRAISEQL_SERVER__PORT", "9090"),
        ("FRAISEQL_DATABASE__URL", "postgresql://override/app"),
        ("DATABASE_URL", "sqlite://./ignored.db"),
    ];
    let config = ok(text, vars);
    assert_eq!(
        (config.server.host.as_str(), config.server.port),
        ("0.0.0.0", 9090)
    );
    let primary = &config.databases["primary"];
    assert_eq!(primary.url.as_deref(), Some("postgresql://override/app"));
    assert_eq!(primary.kind, Some(DatabaseKind::Postgresql));

    assert_eq!(
        err(text, &[("FRAISEQL_SERVER__PORT", "http")]),
        "fraiseql.toml: FRAISEQL_SERVER__PORT: `http` is not a port number (0 to 65535)"
    );
}

#[test]
fn database_url_is_the_fallback_for_primary() {
    let config = ok(
        "[database]\npool_max = 5\n",
        &[("DATABASE_URL", "sqlite::memory:")],
    );
    let primary = &config.databases["primary"];
    assert_eq!(
        (primary.url.as_deref(), primary.pool_max),
        (Some("sqlite::memory:"), 5)
    );

    // An empty url (e.g. from `${X:-}`) counts as absent.
    let config = ok(
        "[database]\nurl = '${X:-}'\n",
        &[("DATABASE_URL", "sqlite::memory:")],
    );
    assert_eq!(
        config.databases["primary"].url.as_deref(),
        Some("sqlite::memory:")
    );
}

#[test]
fn byte_sizes_accept_counts_and_units() {
    let config = ok(
        "[database]\nurl = 'sqlite::memory:'\n[server.limits]\nmax_request_size = '512KB'\n",
        &[],
    );
    assert_eq!(config.server.limits.max_request_size.0, 512 * 1024);
    let config = ok(
        "[database]\nurl = 'sqlite::memory:'\n[server.limits]\nmax_request_size = 2048\n",
        &[],
    );
    assert_eq!(config.server.limits.max_request_size.0, 2048);
    assert_eq!(
        err(
            "[database]\nurl = 'sqlite::memory:'\n[server.limits]\nmax_request_size = -1\n",
            &[]
        ),
        "fraiseql.toml:4:20: invalid value for `max_request_size` in [server.limits]: \
         expected a byte count or a size such as \"10MB\", found integer `-1`"
    );
}

#[test]
fn syntax_errors_have_a_position() {
    let e = err("[database\nurl = 1\n", &[]);
    assert!(e.starts_with("fraiseql.toml:1:"), "{e}");
}

#[test]
fn load_reads_a_file_and_names_it() {
    let dir = std::env::temp_dir().join(format!("fraiseql-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fraiseql.toml");
    std::fs::write(
        &path,
        "[database]\nurl = 'sqlite://./app.db'\npool_maxx = 1\n",
    )
    .unwrap();
    let e = load(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:3:1: unknown key `pool_maxx` in [database]; did you mean `pool_max`?",
            path.display()
        )
    );
    let missing = load(&dir.join("absent.toml")).unwrap_err();
    assert!(
        missing.to_string().contains("cannot read the config file"),
        "{missing}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn admin_token_must_be_long_and_empty_means_unset() {
    let db = "[database]\nurl = 'sqlite://app.db'\n";
    let short = err(&format!("{db}[server]\nadmin_token = 'short'\n"), &[]);
    assert!(
        short.contains("`admin_token` in [server] must be at least 32 characters"),
        "{short}"
    );
    assert!(
        !short.contains("'short'"),
        "the token is not echoed: {short}"
    );
    let unset = ok(
        &format!("{db}[server]\nadmin_token = '${{FRAISEQL_ADMIN_TOKEN:-}}'\n"),
        &[],
    );
    assert_eq!(unset.server.admin_token, None);
    let long = ok(
        &format!("{db}[server]\nadmin_token = '${{FRAISEQL_ADMIN_TOKEN}}'\n"),
        &[("FRAISEQL_ADMIN_TOKEN", "0123456789abcdef0123456789abcdef")],
    );
    assert_eq!(
        long.server.admin_token.as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );
}
