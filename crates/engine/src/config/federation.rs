//! `[federation]`: how the server treats each of its databases when it talks to several —
//! a deadline per call, retries of transient read failures, and a circuit breaker per
//! database (and, in an Apollo Federation subgraph, per entity that asks for one) — plus the
//! keys other federation features read (`enabled`, `batch_size`).
//!
//! The raw keys (mostly optional, `per_database` entries inheriting) are resolved here, once,
//! into a [`DatabasePolicy`] per database, the [`BreakerSettings`] of an entity's own breaker
//! and the [`RetryConfig`] delays, so the server's resilience layer never re-derives a
//! default. The cross-key rules (names of configured databases, thresholds of at least 1)
//! live in `check.rs`; the names of entities are known only with the schema, so the server
//! checks those at start.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[federation]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationConfig {
    /// Apollo Federation: serve `_service` and `_entities` as a subgraph.
    #[serde(default)]
    pub enabled: bool,
    /// The Apollo Federation version of the subgraph: only 2.
    #[serde(default = "default_apollo_version")]
    pub apollo_version: u32,
    /// The subgraph's name, for the banner and logs (a gateway names its subgraphs itself).
    #[serde(default)]
    pub service_name: Option<String>,
    /// `[[federation.entities]]`: the entities and their keys; none listed: every type read
    /// from its own view, keyed by its key fields.
    #[serde(default)]
    pub entities: Vec<EntityConfig>,
    /// Keys per cross-database lookup statement (the relation fetches); at least 1.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Deadline of one call to a database, in milliseconds; `None` or 0: only the request
    /// deadline bounds it.
    #[serde(default)]
    pub default_timeout: Option<Millis>,
    /// Per-database deadlines (`<database> = <ms>`) overriding `default_timeout`; 0: none.
    #[serde(default)]
    pub database_timeouts: IndexMap<String, Millis>,
    #[serde(default)]
    pub retry: RetryConfig,
    #[serde(default)]
    pub circuit_breaker: CircuitBreakerConfig,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            apollo_version: default_apollo_version(),
            service_name: None,
            entities: Vec::new(),
            batch_size: default_batch_size(),
            default_timeout: None,
            database_timeouts: IndexMap::new(),
            retry: RetryConfig::default(),
            circuit_breaker: CircuitBreakerConfig::default(),
        }
    }
}

fn default_apollo_version() -> u32 {
    2
}

/// `[[federation.entities]]`: one entity of the subgraph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityConfig {
    /// The GraphQL type.
    pub name: String,
    /// Its key: GraphQL field names (or data keys); empty: the type's key fields.
    #[serde(default)]
    pub key_fields: Vec<String>,
}

fn default_batch_size() -> usize {
    1000
}

/// `[federation.retry]`: how reads that failed for a passing reason are tried again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in all, the first included (1: no retry); at least 1.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// How the delay grows from one retry to the next.
    #[serde(default)]
    pub backoff: Backoff,
    /// The delay before the first retry, in milliseconds.
    #[serde(default = "default_initial_delay", alias = "initial_delay")]
    pub initial_delay_ms: Millis,
    /// No delay is longer than this, in milliseconds; at least `initial_delay_ms`.
    #[serde(default = "default_max_delay", alias = "max_delay")]
    pub max_delay_ms: Millis,
    /// `[federation.retry.per_database.<name>]`: overrides for one database each; a key
    /// left out inherits the value above.
    #[serde(default)]
    pub per_database: IndexMap<String, DatabaseRetryConfig>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: default_max_attempts(),
            backoff: Backoff::default(),
            initial_delay_ms: default_initial_delay(),
            max_delay_ms: default_max_delay(),
            per_database: IndexMap::new(),
        }
    }
}

/// One `[federation.retry.per_database.<name>]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseRetryConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
    #[serde(
        default,
        alias = "initial_delay",
        skip_serializing_if = "Option::is_none"
    )]
    pub initial_delay_ms: Option<Millis>,
    #[serde(default, alias = "max_delay", skip_serializing_if = "Option::is_none")]
    pub max_delay_ms: Option<Millis>,
}

/// How one database's reads are retried, every inheritance applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub backoff: Backoff,
    pub initial_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// The longest wait before retry number `retry` (1 for the first retry), before jitter:
    /// the initial delay grown by the backoff, capped at the maximum.
    pub fn delay(&self, retry: u32) -> Duration {
        let initial = self.initial_delay;
        let steps = retry.saturating_sub(1);
        let delay = match self.backoff {
            Backoff::Fixed => initial,
            Backoff::Linear => initial.saturating_mul(steps.saturating_add(1)),
            // 2^steps, saturating long before it matters (the cap applies).
            Backoff::Exponential => initial.saturating_mul(1u32 << steps.min(30)),
        };
        delay.min(self.max_delay)
    }
}

fn default_max_attempts() -> u32 {
    2
}
fn default_initial_delay() -> Millis {
    Millis(50)
}
fn default_max_delay() -> Millis {
    Millis(1000)
}

/// How retry delays grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backoff {
    /// `initial`, `2 × initial`, `4 × initial`, …
    #[default]
    Exponential,
    /// `initial`, `2 × initial`, `3 × initial`, …
    Linear,
    /// `initial` every time.
    Fixed,
}

/// `[federation.circuit_breaker]`: when to stop calling a database that keeps failing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreakerConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Consecutive failed calls that open the circuit; at least 1.
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
    /// Seconds an open circuit refuses calls before it lets a probe through; at least 1.
    #[serde(default = "default_recovery_timeout_secs")]
    pub recovery_timeout_secs: u64,
    /// Successful probes that close a half-open circuit; at least 1.
    #[serde(default = "default_success_threshold")]
    pub success_threshold: u32,
    /// `[[federation.circuit_breaker.per_database]]`: overrides for one database each, or
    /// (in a subgraph) a breaker of its own for one entity.
    #[serde(default)]
    pub per_database: Vec<DatabaseBreakerConfig>,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            failure_threshold: default_failure_threshold(),
            recovery_timeout_secs: default_recovery_timeout_secs(),
            success_threshold: default_success_threshold(),
            per_database: Vec::new(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_failure_threshold() -> u32 {
    5
}
fn default_recovery_timeout_secs() -> u64 {
    30
}
fn default_success_threshold() -> u32 {
    2
}

/// One `[[federation.circuit_breaker.per_database]]` entry: a key left out inherits the
/// `[federation.circuit_breaker]` value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseBreakerConfig {
    /// A configured `[databases.<name>]` name: that database's breaker. In an Apollo
    /// Federation subgraph (`[federation] enabled`) it may instead name an entity type (not
    /// a database): that entity's `_entities` reads get a breaker of their own, in place of
    /// their database's. A name that is both is the database.
    pub database: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_timeout_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<u32>,
}

/// What one database gets, every default and inheritance applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabasePolicy {
    /// Deadline of one call; `None`: only the request deadline.
    pub timeout: Option<Duration>,
    /// How its reads are retried.
    pub retry: RetryPolicy,
    /// `None` when the breaker is disabled for this database.
    pub breaker: Option<BreakerSettings>,
}

/// A circuit breaker's thresholds, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long an open circuit refuses before it half-opens.
    pub recovery_timeout: Duration,
    /// Successes in half-open that close it.
    pub success_threshold: u32,
}

impl FederationConfig {
    /// The deadline, retries and breaker of `database`: its `database_timeouts` entry, else
    /// `default_timeout` (0 in either: none); its `[federation.retry.per_database]` keys,
    /// else the `[federation.retry]` ones; its circuit breaker `per_database` entry's keys,
    /// else the `[federation.circuit_breaker]` ones.
    pub fn policy(&self, database: &str) -> DatabasePolicy {
        let timeout = self
            .database_timeouts
            .get(database)
            .or(self.default_timeout.as_ref())
            .filter(|ms| ms.0 > 0)
            .map(|ms| Duration::from_millis(ms.0));
        let breaker = self.breaker(database);
        let r = &self.retry;
        let own_retry = r.per_database.get(database);
        let retry = RetryPolicy {
            max_attempts: own_retry
                .and_then(|o| o.max_attempts)
                .unwrap_or(r.max_attempts),
            backoff: own_retry.and_then(|o| o.backoff).unwrap_or(r.backoff),
            initial_delay: Duration::from_millis(
                own_retry
                    .and_then(|o| o.initial_delay_ms)
                    .unwrap_or(r.initial_delay_ms)
                    .0,
            ),
            max_delay: Duration::from_millis(
                own_retry
                    .and_then(|o| o.max_delay_ms)
                    .unwrap_or(r.max_delay_ms)
                    .0,
            ),
        };
        DatabasePolicy {
            timeout,
            retry,
            breaker,
        }
    }

    /// The breaker of `name` (a database, or an entity with an entry of its own): its
    /// `per_database` entry's keys, else the `[federation.circuit_breaker]` ones; `None`
    /// when disabled.
    pub fn breaker(&self, name: &str) -> Option<BreakerSettings> {
        let cb = &self.circuit_breaker;
        let own = cb.per_database.iter().find(|p| p.database == name);
        let enabled = own.and_then(|p| p.enabled).unwrap_or(cb.enabled);
        enabled.then(|| BreakerSettings {
            failure_threshold: own
                .and_then(|p| p.failure_threshold)
                .unwrap_or(cb.failure_threshold),
            recovery_timeout: Duration::from_secs(
                own.and_then(|p| p.recovery_timeout_secs)
                    .unwrap_or(cb.recovery_timeout_secs),
            ),
            success_threshold: own
                .and_then(|p| p.success_threshold)
                .unwrap_or(cb.success_threshold),
        })
    }
}

/// A duration in milliseconds: an integer, or (the older spelling) a string with a unit,
/// `"250ms"`, `"5s"` or `"1m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Millis(pub u64);

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A visitor, as for `ByteSize`, so a wrong value reads "expected milliseconds …".
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Millis;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("milliseconds (an integer) or a duration such as \"500ms\" or \"5s\"")
            }

            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Millis, E> {
                Ok(Millis(n))
            }

            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Millis, E> {
                u64::try_from(n)
                    .map(Millis)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(n), &self))
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Millis, E> {
                parse_duration_ms(s).map(Millis).ok_or_else(|| {
                    E::custom(format!(
                        "invalid duration `{s}`: expected milliseconds, or a number with a unit \
                         ms, s or m"
                    ))
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

fn parse_duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration_ms("100ms"), Some(100));
        assert_eq!(parse_duration_ms("5s"), Some(5000));
        assert_eq!(parse_duration_ms(" 2 m "), Some(120_000));
        assert_eq!(parse_duration_ms("250"), Some(250));
        assert_eq!(parse_duration_ms("1h"), None);
        assert_eq!(parse_duration_ms("-5s"), None);
        assert_eq!(parse_duration_ms("s"), None);
    }

    #[test]
    fn delays_grow_by_backoff_and_stop_at_the_cap() {
        let mut retry = RetryPolicy {
            max_attempts: 5,
            backoff: Backoff::Exponential,
            initial_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(300),
        };
        let ms = |r: &RetryPolicy| (1..=5).map(|n| r.delay(n).as_millis()).collect::<Vec<_>>();
        assert_eq!(ms(&retry), [50, 100, 200, 300, 300]);
        retry.backoff = Backoff::Linear;
        assert_eq!(ms(&retry), [50, 100, 150, 200, 250]);
        retry.backoff = Backoff::Fixed;
        assert_eq!(ms(&retry), [50, 50, 50, 50, 50]);
        retry.backoff = Backoff::Exponential;
        assert_eq!(retry.delay(u32::MAX).as_millis(), 300, "no overflow");
    }

    #[test]
    fn per_database_entries_inherit_what_they_leave_out() {
        let config: FederationConfig = toml::from_str(
            r#"
            default_timeout = 2000
            [database_timeouts]
            analytics = 500
            legacy = 0
            [retry]
            max_attempts = 3
            [retry.per_database.analytics]
            max_attempts = 1
            initial_delay = "200ms"
            [circuit_breaker]
            failure_threshold = 4
            [[circuit_breaker.per_database]]
            database = "analytics"
            recovery_timeout_secs = 1
            [[circuit_breaker.per_database]]
            database = "legacy"
            enabled = false
            "#,
        )
        .expect("decodes");
        let analytics = config.policy("analytics");
        assert_eq!(analytics.timeout, Some(Duration::from_millis(500)));
        assert_eq!(
            analytics.breaker,
            Some(BreakerSettings {
                failure_threshold: 4,
                recovery_timeout: Duration::from_secs(1),
                success_threshold: 2,
            })
        );
        assert_eq!(
            analytics.retry,
            RetryPolicy {
                max_attempts: 1,
                backoff: Backoff::Exponential,
                initial_delay: Duration::from_millis(200),
                max_delay: Duration::from_millis(1000),
            }
        );
        let legacy = config.policy("legacy");
        assert_eq!((legacy.timeout, legacy.breaker), (None, None));
        assert_eq!(legacy.retry.max_attempts, 3);
        let primary = config.policy("primary");
        assert_eq!(primary.timeout, Some(Duration::from_millis(2000)));
        assert_eq!(
            primary.breaker.map(|b| b.recovery_timeout),
            Some(Duration::from_secs(30))
        );
        assert_eq!(FederationConfig::default().policy("x").timeout, None);
    }
}
