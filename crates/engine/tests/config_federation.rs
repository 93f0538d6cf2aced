//! `[federation]` through `config::parse`: the resilience keys decode, resolve per database,
//! and every mistake (a database that is not configured, a zero count, an unknown key, a
//! `per_database` entry twice) is reported with its position and the closest name; in a
//! subgraph a circuit breaker entry may name an entity, which the server checks at start.

use fraiseql_engine::config::{parse, Backoff, BreakerSettings, Config, Millis};
use std::time::Duration;

const DATABASES: &str = "\
[databases.primary]
url = 'sqlite::memory:'
[databases.analytics]
url = 'postgresql://localhost/analytics'
";

fn ok(text: &str) -> Config {
    parse(&format!("{DATABASES}{text}"), "fraiseql.toml", &|_| None)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> String {
    match parse(&format!("{DATABASES}{text}"), "fraiseql.toml", &|_| None) {
        Ok(config) => panic!("expected an error, got {:?}", config.federation),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_issue_example_loads_and_resolves_per_database() {
    let config = ok("
[federation]
enabled = false
batch_size = 500
default_timeout = 5000
[federation.database_timeouts]
analytics = 250
[federation.retry]
max_attempts = 3
backoff = 'linear'
initial_delay_ms = 20
max_delay_ms = 400
[federation.circuit_breaker]
enabled = true
failure_threshold = 4
recovery_timeout_secs = 10
success_threshold = 1
[[federation.circuit_breaker.per_database]]
database = 'analytics'
failure_threshold = 2
");
    let f = &config.federation;
    assert_eq!((f.enabled, f.batch_size), (false, 500));
    assert_eq!(
        (f.retry.max_attempts, f.retry.backoff, f.retry.max_delay_ms),
        (3, Backoff::Linear, Millis(400))
    );
    let analytics = f.policy("analytics");
    assert_eq!(analytics.timeout, Some(Duration::from_millis(250)));
    assert_eq!(
        analytics.breaker,
        Some(BreakerSettings {
            failure_threshold: 2,
            recovery_timeout: Duration::from_secs(10),
            success_threshold: 1,
        })
    );
    let primary = f.policy("primary");
    assert_eq!(primary.timeout, Some(Duration::from_millis(5000)));
    assert_eq!(primary.breaker.map(|b| b.failure_threshold), Some(4));
}

#[test]
fn seed_duration_spellings_are_accepted() {
    let config = ok("
[federation]
default_timeout = '5s'
[federation.retry]
initial_delay = '100ms'
max_delay = '5s'
");
    let f = &config.federation;
    assert_eq!(f.default_timeout, Some(Millis(5000)));
    assert_eq!(
        (f.retry.initial_delay_ms, f.retry.max_delay_ms),
        (Millis(100), Millis(5000))
    );
    insta::assert_snapshot!(err("[federation]\ndefault_timeout = '5 hours'\n"), @"fraiseql.toml:6:19: invalid value for `default_timeout` in [federation]: invalid duration `5 hours`: expected milliseconds, or a number with a unit ms, s or m");
}

#[test]
fn databases_named_must_be_configured() {
    let text = "
[federation.database_timeouts]
anlytics = 100
reports = 100
[[federation.circuit_breaker.per_database]]
database = 'analytic'
[[federation.circuit_breaker.per_database]]
database = 'primary'
[federation.retry.per_database.analytcs]
max_attempts = 0
[federation.retry.per_database.primary]
initial_delay = '5s'
";
    insta::assert_snapshot!(err(text), @r"
    fraiseql.toml:7:1: database `anlytics` in [federation.database_timeouts] is not configured (no [databases.anlytics]); did you mean `analytics`?
    fraiseql.toml:8:1: database `reports` in [federation.database_timeouts] is not configured (no [databases.reports]); configured databases: `primary`, `analytics`
    fraiseql.toml:10:1: database `analytic` in [[federation.circuit_breaker.per_database]] is not configured (no [databases.analytic]); did you mean `analytics`?
    fraiseql.toml:13:32: database `analytcs` in [federation.retry.per_database] is not configured (no [databases.analytcs]); did you mean `analytics`?
    fraiseql.toml:14:1: `max_attempts` in [federation.retry.per_database.analytcs] must be at least 1
    fraiseql.toml:16:1: `initial_delay_ms` (5000) in [federation.retry.per_database.primary] is larger than `max_delay_ms` (1000)
    ");
}

#[test]
fn counts_must_be_at_least_one() {
    let text = "
[federation]
batch_size = 0
[federation.retry]
max_attempts = 0
initial_delay_ms = 2000
[federation.circuit_breaker]
failure_threshold = 0
recovery_timeout_secs = 0
success_threshold = 0
[[federation.circuit_breaker.per_database]]
database = 'analytics'
success_threshold = 0
";
    insta::assert_snapshot!(err(text), @r"
    fraiseql.toml:7:1: `batch_size` in [federation] must be at least 1
    fraiseql.toml:9:1: `max_attempts` in [federation.retry] must be at least 1
    fraiseql.toml:10:1: `initial_delay_ms` (2000) in [federation.retry] is larger than `max_delay_ms` (1000)
    fraiseql.toml:12:1: `failure_threshold` in [federation.circuit_breaker] must be at least 1
    fraiseql.toml:13:1: `recovery_timeout_secs` in [federation.circuit_breaker] must be at least 1
    fraiseql.toml:14:1: `success_threshold` in [federation.circuit_breaker] must be at least 1
    fraiseql.toml:17:1: `success_threshold` in [[federation.circuit_breaker.per_database]] must be at least 1
    ");
}

#[test]
fn a_database_gets_one_per_database_entry() {
    let text = "
[[federation.circuit_breaker.per_database]]
database = 'analytics'
failure_threshold = 2
[[federation.circuit_breaker.per_database]]
database = 'analytics'
enabled = false
";
    insta::assert_snapshot!(err(text), @"fraiseql.toml:10:1: database `analytics` has more than one [[federation.circuit_breaker.per_database]] entry; keep one");
}

#[test]
fn unknown_keys_name_the_closest_one_in_every_table() {
    let text = "
[federation]
batch_sise = 10
[federation.retry]
backof = 'fixed'
[federation.circuit_breaker]
failure_treshold = 3
[[federation.circuit_breaker.per_database]]
database = 'analytics'
recovery_timeout = 1
[[federation.circuit_breaker.per_database]]
failure_threshold = 1
";
    insta::assert_snapshot!(err(text), @r"
    fraiseql.toml:7:1: unknown key `batch_sise` in [federation]; did you mean `batch_size`?
    fraiseql.toml:9:1: unknown key `backof` in [federation.retry]; did you mean `backoff`?
    fraiseql.toml:11:1: unknown key `failure_treshold` in [federation.circuit_breaker]; did you mean `failure_threshold`?
    fraiseql.toml:14:1: unknown key `recovery_timeout` in [[federation.circuit_breaker.per_database]]; did you mean `recovery_timeout_secs`?
    fraiseql.toml:15:1: `database` is required in [[federation.circuit_breaker.per_database]]
    ");
}

#[test]
fn wrong_values_are_reported_with_their_position() {
    let text = "
[federation.retry]
backoff = 'fibonacci'
max_attempts = -1
[[federation.circuit_breaker.per_database]]
database = 'analytics'
enabled = 'yes'
";
    insta::assert_snapshot!(err(text), @r"
    fraiseql.toml:7:11: invalid value for `backoff` in [federation.retry]: unknown variant `fibonacci`, expected one of `exponential`, `linear`, `fixed`
    fraiseql.toml:8:16: invalid value for `max_attempts` in [federation.retry]: expected a non-negative integer, found integer `-1`
    fraiseql.toml:11:11: invalid value for `enabled` in [[federation.circuit_breaker.per_database]]: expected a boolean, found a string
    ");
}

#[test]
fn a_subgraph_may_name_an_entity_which_the_server_checks_at_start() {
    // The entities are known only with the schema: the config lets the name through, and
    // resolves its breaker like a database's.
    let config = ok("
[federation]
enabled = true
[federation.circuit_breaker]
recovery_timeout_secs = 10
[[federation.circuit_breaker.per_database]]
database = 'Order'
failure_threshold = 2
");
    assert_eq!(
        config.federation.breaker("Order"),
        Some(BreakerSettings {
            failure_threshold: 2,
            recovery_timeout: Duration::from_secs(10),
            success_threshold: 2,
        })
    );
    // Not a subgraph: a name that is no database is a mistake, as before.
    let text = "
[[federation.circuit_breaker.per_database]]
database = 'Order'
[[federation.circuit_breaker.per_database]]
database = 'Order'
";
    insta::assert_snapshot!(err(text), @r"
    fraiseql.toml:7:1: database `Order` in [[federation.circuit_breaker.per_database]] is not configured (no [databases.Order]); configured databases: `primary`, `analytics`
    fraiseql.toml:9:1: database `Order` in [[federation.circuit_breaker.per_database]] is not configured (no [databases.Order]); configured databases: `primary`, `analytics`
    fraiseql.toml:9:1: database `Order` has more than one [[federation.circuit_breaker.per_database]] entry; keep one
    ");
    // In a subgraph too, one entry per name.
    let text = "
[federation]
enabled = true
[[federation.circuit_breaker.per_database]]
database = 'Order'
[[federation.circuit_breaker.per_database]]
database = 'Order'
";
    insta::assert_snapshot!(err(text), @"fraiseql.toml:11:1: database `Order` has more than one [[federation.circuit_breaker.per_database]] entry; keep one");
}
