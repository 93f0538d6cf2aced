//! The rules serde cannot express, run on the decoded [`Config`]: fold `[database]` into
//! `databases.primary`, infer each database's type from its URL, and the cross-key checks
//! (at least one database, pool bounds, page sizes). Each problem points at the key in the
//! file when it was written there, else at its table.

use toml::de::DeTable;

use super::auth::{AuthConfig, HMAC_ALGORITHMS, KEY_ALGORITHMS};
use super::decode::ALIASES;
use super::document::{dotted, entry, get, key_span, table_label, KeyPath};
use super::env::PRIMARY;
use super::error::Problem;
use super::model::{Config, DatabaseConfig, DatabaseKind};
use super::observers::RuleConfig;
use super::tenancy::{TenancyStrategy, TENANT_PLACEHOLDER};
use crate::suggest::closest;

/// Every database kind this build speaks. `spellings` below is an exhaustive match, so a new
/// [`DatabaseKind`] fails to compile until it is listed there; add it here at the same time.
const KINDS: [DatabaseKind; 3] = [
    DatabaseKind::Postgresql,
    DatabaseKind::Mysql,
    DatabaseKind::Sqlite,
];

/// The values `type` accepts for a kind, canonical first (mirrors the serde attributes).
fn spellings(kind: DatabaseKind) -> &'static [&'static str] {
    match kind {
        DatabaseKind::Postgresql => &["postgresql", "postgres", "pg"],
        DatabaseKind::Sqlite => &["sqlite", "sqlite3"],
        DatabaseKind::Mysql => &["mysql", "mariadb"],
    }
}

/// A database named as `type` names it (`postgresql`, `pg`, `mariadb`, `sqlite3`, …), for
/// flags that pick a kind (`fraiseql init --database`); the error lists every spelling.
impl std::str::FromStr for DatabaseKind {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        KINDS
            .into_iter()
            .find(|kind| spellings(*kind).contains(&name))
            .ok_or_else(|| {
                format!(
                    "unknown database `{name}`; supported: {}",
                    supported_types()
                )
            })
    }
}

/// Shortest accepted `server.admin_token`.
const MIN_ADMIN_TOKEN: usize = 32;

/// The supported `type` values for messages: `` `postgresql` (alias `postgres`, `pg`), … ``.
pub(crate) fn supported_types() -> String {
    let described: Vec<String> = KINDS
        .iter()
        .map(|kind| match spellings(*kind) {
            [name] => format!("`{name}`"),
            [name, aliases @ ..] => {
                let aliases: Vec<String> = aliases.iter().map(|a| format!("`{a}`")).collect();
                format!("`{name}` (alias {})", aliases.join(", "))
            }
            [] => String::new(),
        })
        .collect();
    described.join(", ")
}

/// Runs the checks against the expanded document (for positions), skipping tables where an
/// entry was already dropped with its own problem: what is left there is defaults, and a
/// second message about them would only mislead.
pub(crate) struct Checker<'a, 'i> {
    doc: &'a DeTable<'i>,
    text: &'a str,
    dropped: &'a [KeyPath],
    /// What the checks found.
    pub(crate) problems: Vec<Problem>,
}

impl<'a, 'i> Checker<'a, 'i> {
    pub(crate) fn new(doc: &'a DeTable<'i>, text: &'a str, dropped: &'a [KeyPath]) -> Self {
        Self {
            doc,
            text,
            dropped,
            problems: Vec::new(),
        }
    }

    /// Moves `[database]` to `databases.primary` (first in the map) and treats an empty
    /// `url` (e.g. `"${DATABASE_URL:-}"`) as absent. Returns whether the shorthand was used,
    /// so later messages name the table the user wrote.
    pub(crate) fn fold(&mut self, config: &mut Config) -> bool {
        let mut shorthand = false;
        if let Some(db) = config.database.take() {
            if config.databases.contains_key(PRIMARY) {
                let message = "`[database]` and `[databases.primary]` both configure the primary \
                               database (`[database]` is shorthand for `[databases.primary]`); keep one";
                self.push(&["database".to_owned()], None, message.to_owned());
            } else {
                config.databases.shift_insert(0, PRIMARY.to_owned(), db);
                shorthand = true;
            }
        }
        for db in config.databases.values_mut() {
            if db.url.as_deref().is_some_and(|u| u.trim().is_empty()) {
                db.url = None;
            }
            // An optional replica (`"${REPLICA_URL:-}"`) that is not set is no replica.
            db.replicas.retain(|u| !u.trim().is_empty());
        }
        shorthand
    }

    /// Infers database types and checks the cross-key rules. Runs after the environment
    /// overrides, so `DATABASE_URL` counts as a configured database.
    pub(crate) fn check(&mut self, config: &mut Config, shorthand: bool) {
        if config.databases.is_empty() {
            self.push(
                &[],
                None,
                "no database configured: add a `[database]` section with a `url`, or set DATABASE_URL"
                    .to_owned(),
            );
        }
        for (name, db) in config.databases.iter_mut() {
            let table: KeyPath = if shorthand && name == PRIMARY {
                vec!["database".to_owned()]
            } else {
                vec!["databases".to_owned(), name.clone()]
            };
            self.infer_kind(db, &table);
            self.check_replicas(db, &table);
            self.check_pool(db, &table);
        }
        self.check_admin_token(config);
        self.check_target(config);
        self.check_federation(config);
        self.check_observers(config);
        self.check_subscriptions(config);
        self.check_auth(config);
        self.check_tenancy(config);
        let q = &config.query_defaults;
        if q.default_page_size > q.max_page_size {
            let message = format!(
                "`default_page_size` ({}) in [query_defaults] is larger than `max_page_size` ({})",
                q.default_page_size, q.max_page_size
            );
            self.report(&["query_defaults".to_owned()], "default_page_size", message);
        }
    }

    fn infer_kind(&mut self, db: &mut DatabaseConfig, table: &KeyPath) {
        let label = table_label(table);
        let from_url = db
            .url
            .as_deref()
            .map(|url| (DatabaseKind::from_url(url), scheme(url)));
        match (db.kind, from_url) {
            (Some(kind), Some((Some(url_kind), _))) if kind != url_kind => {
                let message = format!(
                    "`type` in {label} is `{}` but its url is a `{}` url",
                    spellings(kind)[0],
                    spellings(url_kind)[0]
                );
                self.report(table, "type", message);
            }
            (Some(_), _) => {}
            (None, Some((Some(kind), _))) => db.kind = Some(kind),
            // The URL itself is never echoed: it may hold a password.
            (None, Some((None, Some(scheme)))) => {
                let message = format!(
                    "url scheme `{scheme}` in {label} is not supported by this build; supported: {}",
                    supported_types()
                );
                self.report(table, "url", message);
            }
            (None, Some((None, None))) => {
                let message = format!(
                    "cannot tell the database type from the url in {label}: set `type` to one \
                     of {}",
                    supported_types()
                );
                self.report(table, "url", message);
            }
            (None, None) => {
                let message = format!(
                    "{label} has neither `url` nor `type`: set `url` (the type is inferred from it) \
                     or `type`"
                );
                self.report(table, "url", message);
            }
        }
    }

    /// An empty token (`"${FRAISEQL_ADMIN_TOKEN:-}"`) is no token; a short one is guessable.
    fn check_admin_token(&mut self, config: &mut Config) {
        let server = &mut config.server;
        if server
            .admin_token
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            server.admin_token = None;
        }
        if server
            .admin_token
            .as_deref()
            .is_some_and(|t| t.chars().count() < MIN_ADMIN_TOKEN)
        {
            let message =
                format!("`admin_token` in [server] must be at least {MIN_ADMIN_TOKEN} characters");
            self.report(&["server".to_owned()], "admin_token", message);
        }
    }

    /// `[project] database_target`: every database is of that type.
    fn check_target(&mut self, config: &Config) {
        let Some(target) = config.project.database_target else {
            return;
        };
        // `[schema]` is the seeds' spelling of `[project]`; point at the table as written.
        let table = if get(self.doc, &["schema".to_owned()]).is_some() {
            "schema"
        } else {
            "project"
        };
        for (name, db) in &config.databases {
            if let Some(kind) = db.kind.filter(|k| *k != target) {
                let message = format!(
                    "`database_target` in [{table}] is `{}` but database `{name}` is `{}`",
                    spellings(target)[0],
                    spellings(kind)[0]
                );
                self.report(&[table.to_owned()], "database_target", message);
            }
        }
    }

    /// `replicas`: each a copy of this database, so a URL of its type; none of an in-memory
    /// SQLite database (each connection to one is a database of its own, so a copy cannot
    /// exist); none that is the primary itself or listed twice (it would take two turns).
    /// URLs are never echoed: they may hold a password.
    fn check_replicas(&mut self, db: &DatabaseConfig, table: &KeyPath) {
        // Without a type, the database itself was reported already.
        let (false, Some(kind)) = (db.replicas.is_empty(), db.kind) else {
            return;
        };
        let label = table_label(table);
        if kind == DatabaseKind::Sqlite && db.url.as_deref().is_some_and(sqlite_in_memory) {
            let message = format!(
                "`replicas` in {label}: an in-memory SQLite database cannot have replicas \
                 (nothing else can open it); use a database file"
            );
            self.report(table, "replicas", message);
            return;
        }
        for (i, url) in db.replicas.iter().enumerate() {
            let entry = format!("`replicas[{i}]` in {label}");
            let problem = match (DatabaseKind::from_url(url), scheme(url)) {
                (Some(replica), _) if replica != kind => Some(format!(
                    "{entry} is a `{}` url, but the database is `{}`: a replica is a copy of \
                     the same type of database",
                    spellings(replica)[0],
                    spellings(kind)[0]
                )),
                (None, Some(scheme)) => Some(format!(
                    "url scheme `{scheme}` of {entry} is not supported by this build; \
                     supported: {}",
                    supported_types()
                )),
                // A URL without a scheme (libpq's `key=value` form, a file path) is read
                // as the database's type, as the primary's is.
                _ if kind == DatabaseKind::Sqlite && sqlite_in_memory(url) => Some(format!(
                    "{entry} is an in-memory SQLite database, which would be empty and \
                     unreachable from anywhere else: a replica must be a database file"
                )),
                _ if db.url.as_deref().map(str::trim) == Some(url.trim()) => Some(format!(
                    "{entry} is the database's own `url`; list only the replicas"
                )),
                _ => db.replicas[..i]
                    .iter()
                    .position(|earlier| earlier.trim() == url.trim())
                    .map(|j| format!("{entry} repeats `replicas[{j}]`")),
            };
            if let Some(message) = problem {
                self.report(table, "replicas", message);
            }
        }
    }

    /// `[federation]`: counts of at least 1, and every database it names configured (once
    /// per `per_database`). In a subgraph (`enabled`) a circuit breaker entry may name an
    /// entity instead: the entities are known only with the schema, so the server checks
    /// those names at start.
    fn check_federation(&mut self, config: &Config) {
        let f = &config.federation;
        let path = |keys: &[&str]| -> KeyPath {
            std::iter::once("federation")
                .chain(keys.iter().copied())
                .map(str::to_owned)
                .collect()
        };
        self.at_least_one(&path(&[]), "batch_size", f.batch_size as u64);
        if f.apollo_version != 2 {
            let message = format!(
                "`apollo_version` in [federation] is {}: FraiseQL subgraphs speak Apollo \
                 Federation 2 only",
                f.apollo_version
            );
            self.report(&path(&[]), "apollo_version", message);
        }
        let timeouts = path(&["database_timeouts"]);
        for name in f.database_timeouts.keys() {
            self.configured(config, &timeouts, name, name);
        }
        let retry = path(&["retry"]);
        self.at_least_one(&retry, "max_attempts", u64::from(f.retry.max_attempts));
        let delays = (f.retry.initial_delay_ms.0, f.retry.max_delay_ms.0);
        self.delays_ordered(&retry, delays);
        for (name, own) in &f.retry.per_database {
            let table = path(&["retry", "per_database", name]);
            let parent = path(&["retry", "per_database"]);
            self.configured(config, &parent, name, name);
            if let Some(n) = own.max_attempts {
                self.at_least_one(&table, "max_attempts", u64::from(n));
            }
            // Inherited delays count: an override may only make them out of order.
            let initial = own.initial_delay_ms.unwrap_or(f.retry.initial_delay_ms).0;
            let max = own.max_delay_ms.unwrap_or(f.retry.max_delay_ms).0;
            self.delays_ordered(&table, (initial, max));
        }
        let cb = &f.circuit_breaker;
        let breaker = path(&["circuit_breaker"]);
        self.breaker_counts(
            &breaker,
            Some(cb.failure_threshold),
            Some(cb.recovery_timeout_secs),
            Some(cb.success_threshold),
        );
        let mut seen = std::collections::HashSet::new();
        for (i, own) in cb.per_database.iter().enumerate() {
            let mut table = path(&["circuit_breaker", "per_database"]);
            table.push(entry(i));
            if !f.enabled {
                self.configured(config, &table, "database", &own.database);
            }
            if !seen.insert(own.database.as_str()) {
                let message = format!(
                    "database `{}` has more than one [[federation.circuit_breaker.per_database]] \
                     entry; keep one",
                    own.database
                );
                self.report(&table, "database", message);
            }
            self.breaker_counts(
                &table,
                own.failure_threshold,
                own.recovery_timeout_secs,
                own.success_threshold,
            );
        }
    }

    /// `[observers]`: one spelling of the NATS URL, rules of one shape each with well-formed
    /// subjects on configured databases, subscriptions with usable names and delays.
    fn check_observers(&mut self, config: &mut Config) {
        let o = &mut config.observers;
        let table: KeyPath = vec!["observers".to_owned()];
        match (o.nats_url.clone(), o.nats.url.take()) {
            (Some(a), Some(b)) if a != b => {
                let message = format!(
                    "[observers] sets `nats_url` ({a}) and [observers.nats] `url` ({b}); keep one"
                );
                self.report(&table, "nats_url", message);
            }
            (None, b) => o.nats_url = b,
            _ => {}
        }
        let config: &Config = config;
        let o = &config.observers;
        if !valid_name(&o.stream) {
            let message = format!(
                "`stream` in [observers] is `{}`: a JetStream stream name holds only letters, \
                 digits, `_` and `-`",
                o.stream
            );
            self.report(&table, "stream", message);
        }
        for subject in &o.stream_subjects {
            if let Err(why) = check_subject(subject, true) {
                let message = format!("`stream_subjects` in [observers]: {why}");
                self.report(&table, "stream_subjects", message);
            }
        }
        self.at_least_one(&table, "batch_size", o.batch_size as u64);
        self.at_least_one(&table, "poll_interval_ms", o.poll_interval_ms.0);
        for (i, rule) in o.rules.iter().enumerate() {
            let mut at = vec!["observers".to_owned(), "rules".to_owned(), entry(i)];
            if get(self.doc, &at).is_none() {
                // The seed's top-level `[[observers]]` array was lifted into `rules`.
                at = vec!["observers".to_owned(), entry(i)];
            }
            self.check_rule(config, rule, &at);
        }
        let mut durables = std::collections::HashSet::new();
        for (i, sub) in o.subscribe.iter().enumerate() {
            let at = vec!["observers".to_owned(), "subscribe".to_owned(), entry(i)];
            let label = table_label(&at);
            if let Err(why) = check_subject(&sub.subject, true) {
                self.report(&at, "subject", format!("`subject` in {label}: {why}"));
            }
            let durable = sub.durable_name();
            if !valid_name(&durable) {
                let message = format!(
                    "`durable` in {label} is `{durable}`: a consumer name holds only letters, \
                     digits, `_` and `-`"
                );
                self.report(&at, "durable", message);
            } else if !durables.insert(durable.clone()) {
                let message = format!(
                    "durable `{durable}` in {label} is used by an earlier subscription; two \
                     handlers cannot share one consumer"
                );
                self.report(&at, "durable", message);
            }
            if !valid_sql_name(&sub.handler) {
                let message = format!(
                    "`handler` in {label} is `{}`: expected a function name (letters, digits, \
                     `_`, optionally `schema.name`)",
                    sub.handler
                );
                self.report(&at, "handler", message);
            }
            self.configured(config, &at, "database", sub.database());
            self.at_least_one(&at, "max_deliver", u64::from(sub.max_deliver));
            self.at_least_one(&at, "ack_wait_secs", sub.ack_wait_secs);
            if sub.backoff.is_empty() || sub.backoff.iter().any(|d| d.0 == 0) {
                let message =
                    format!("`backoff` in {label} must list at least one delay, each above 0");
                self.report(&at, "backoff", message);
            }
        }
    }

    fn check_rule(&mut self, config: &Config, rule: &RuleConfig, at: &KeyPath) {
        let label = table_label(at);
        let Some(subject) = &rule.subject else {
            self.report(at, "subject", format!("{label} has no `subject`"));
            return;
        };
        match (&rule.table, &rule.channel) {
            (Some(_), Some(_)) | (None, None) => {
                let message = format!(
                    "{label} needs either `table` (a table's changes) or `channel` (a pg_notify \
                     channel), not both or neither"
                );
                self.report(at, "table", message);
                return;
            }
            (Some(table), None) => {
                if table.trim().is_empty() {
                    self.report(at, "table", format!("`table` in {label} is empty"));
                }
                if rule.payload_key.is_some() && rule.payload_view.is_none() {
                    let message = format!("`payload_key` in {label} needs a `payload_view`");
                    self.report(at, "payload_key", message);
                }
                if let Some(condition) = rule.condition.as_deref() {
                    // An expression never needs `;`, and `$fraiseql$` would end the function
                    // body the PostgreSQL trigger is written in.
                    if condition.trim().is_empty() {
                        self.report(at, "condition", format!("`condition` in {label} is empty"));
                    } else if condition.contains(';') || condition.contains("$fraiseql$") {
                        let message = format!(
                            "`condition` in {label} must be one SQL expression over the row \
                             (no `;`, no `$fraiseql$`)"
                        );
                        self.report(at, "condition", message);
                    }
                }
                if let Some(crate::config::Ops::Many(ops)) = &rule.event {
                    if ops.is_empty() {
                        self.report(at, "event", format!("`event` in {label} lists nothing"));
                    }
                }
            }
            (None, Some(_)) => {
                for (key, set) in [
                    ("event", rule.event.is_some()),
                    ("payload_view", rule.payload_view.is_some()),
                    ("payload_key", rule.payload_key.is_some()),
                    ("condition", rule.condition.is_some()),
                    ("include_old", rule.include_old),
                ] {
                    if set {
                        let message = format!(
                            "`{key}` in {label} applies to table rules; a channel rule forwards \
                             the notification's payload as it is"
                        );
                        self.report(at, key, message);
                    }
                }
                let kind = config.databases.get(rule.database()).and_then(|d| d.kind);
                if kind.is_some_and(|k| k != DatabaseKind::Postgresql) {
                    let message = format!(
                        "{label} forwards a pg_notify channel, but database `{}` is not \
                         PostgreSQL",
                        rule.database()
                    );
                    self.report(at, "channel", message);
                }
            }
        }
        if let Err(why) = check_subject(subject, false) {
            self.report(at, "subject", format!("`subject` in {label}: {why}"));
        }
        self.configured(config, at, "database", rule.database());
    }

    /// `initial_delay_ms` is at most `max_delay_ms` in the retry table `table`.
    fn delays_ordered(&mut self, table: &KeyPath, (initial, max): (u64, u64)) {
        if initial > max {
            let message = format!(
                "`initial_delay_ms` ({initial}) in {} is larger than `max_delay_ms` ({max})",
                table_label(table)
            );
            self.report(table, "initial_delay_ms", message);
        }
    }

    fn breaker_counts(
        &mut self,
        table: &KeyPath,
        failures: Option<u32>,
        recovery_secs: Option<u64>,
        successes: Option<u32>,
    ) {
        if let Some(n) = failures {
            self.at_least_one(table, "failure_threshold", u64::from(n));
        }
        if let Some(n) = recovery_secs {
            self.at_least_one(table, "recovery_timeout_secs", n);
        }
        if let Some(n) = successes {
            self.at_least_one(table, "success_threshold", u64::from(n));
        }
    }

    /// `[subscriptions]`: every limit at least 1 (a zero would refuse every client).
    fn check_subscriptions(&mut self, config: &Config) {
        let s = &config.subscriptions;
        let table = vec!["subscriptions".to_owned()];
        let counts = [
            ("max_connections", s.max_connections as u64),
            ("max_connections_per_ip", s.max_connections_per_ip as u64),
            (
                "max_subscriptions_per_connection",
                s.max_subscriptions_per_connection as u64,
            ),
            ("max_message_size", s.max_message_size.0),
            ("connection_init_timeout_ms", s.connection_init_timeout_ms.0),
            ("keep_alive_ms", s.keep_alive_ms.0),
            ("send_queue", s.send_queue as u64),
        ];
        for (key, value) in counts {
            self.at_least_one(&table, key, value);
        }
        let limits = [
            ("max_selection_depth", s.max_selection_depth),
            ("max_selected_fields", s.max_selected_fields),
        ];
        for (key, value) in limits {
            if let Some(v) = value {
                self.at_least_one(&table, key, v as u64);
            }
        }
        let hooks = vec!["subscriptions".to_owned(), "hooks".to_owned()];
        self.at_least_one(&hooks, "timeout_ms", s.hooks.timeout_ms.0);
        for (key, url) in s.hooks.urls() {
            if !is_http_url(url) {
                let message = format!(
                    "`{key}` in [subscriptions.hooks] must be an http:// or https:// URL, not \
                     `{url}`"
                );
                self.report(&hooks, key, message);
            }
        }
    }

    fn check_auth(&mut self, config: &Config) {
        let Some(a) = &config.auth else { return };
        let table = vec!["auth".to_owned()];
        if a.secret.is_none() && !a.uses_keys() {
            self.report(
                &table,
                "secret",
                "[auth] needs a key source: `secret` (HS256; e.g. \"${JWT_SECRET}\"), `jwks_url`, \
                 or `issuer` for OIDC discovery"
                    .to_owned(),
            );
        }
        if let Some(secret) = &a.secret {
            if secret.len() < 32 {
                self.report(
                    &table,
                    "secret",
                    format!(
                        "`secret` in [auth] is {} bytes; an HMAC secret needs at least 32",
                        secret.len()
                    ),
                );
            }
        }
        for (key, url) in [
            ("jwks_url", &a.jwks_url),
            ("issuer", &a.issuer),
            ("discovery_url", &a.discovery_url),
        ] {
            if let Some(url) = url {
                if !is_http_url(url) {
                    let message = format!(
                        "`{key}` in [auth] must be an http:// or https:// URL, not `{url}`"
                    );
                    self.report(&table, key, message);
                }
            }
        }
        for alg in &a.algorithms {
            let hmac = HMAC_ALGORITHMS.contains(&alg.as_str());
            let keyed = KEY_ALGORITHMS.contains(&alg.as_str());
            let message = if !hmac && !keyed {
                Some(format!(
                    "`{alg}` in [auth] algorithms is not an algorithm the server verifies: {}, {}",
                    HMAC_ALGORITHMS.join(", "),
                    KEY_ALGORITHMS.join(", ")
                ))
            } else if hmac && a.secret.is_none() {
                Some(format!("`{alg}` in [auth] algorithms needs `secret`"))
            } else if keyed && !a.uses_keys() {
                Some(format!(
                    "`{alg}` in [auth] algorithms needs `jwks_url` (or `issuer` for discovery)"
                ))
            } else {
                None
            };
            if let Some(message) = message {
                self.report(&table, "algorithms", message);
            }
        }
        for (name, claim) in a.claim_settings() {
            let setting = AuthConfig::setting_name(&name);
            let valid = setting.split('.').count() == 2
                && setting.split('.').all(|p| {
                    let mut c = p.chars();
                    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
                        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
            if !valid || claim.trim().is_empty() {
                let message = format!(
                    "[auth] claims: `{name} = \"{claim}\"` must name a setting (`user_id`, or \
                     `app.user_id`) and a claim"
                );
                self.report(&table, "claims", message);
            }
        }
        self.at_least_one(&table, "jwks_cache_secs", a.jwks_cache_secs);
        if a.max_token_bytes < 256 {
            self.report(
                &table,
                "max_token_bytes",
                "`max_token_bytes` in [auth] must be at least 256".to_owned(),
            );
        }
        if a.leeway_secs > 3600 {
            self.report(
                &table,
                "leeway_secs",
                "`leeway_secs` in [auth] must be at most 3600".to_owned(),
            );
        }
    }

    /// `[multi_tenancy]`: a usable header, claim and setting; limits at least 1; tenant
    /// databases (`{tenant}` in a url) exactly when the strategy is `database_per_tenant`.
    fn check_tenancy(&mut self, config: &Config) {
        let per_tenant: Vec<&String> = config
            .databases
            .iter()
            .filter(|(_, db)| {
                db.url
                    .as_deref()
                    .is_some_and(|u| u.contains(TENANT_PLACEHOLDER))
            })
            .map(|(name, _)| name)
            .collect();
        let Some(t) = config.multi_tenancy.as_ref().filter(|t| t.enabled) else {
            for name in per_tenant {
                let table = vec!["databases".to_owned(), name.clone()];
                let message = format!(
                    "the url of [databases.{name}] holds {TENANT_PLACEHOLDER}, which only \
                     [multi_tenancy] strategy = \"database_per_tenant\" fills"
                );
                self.report(&table, "url", message);
            }
            return;
        };
        let table = vec!["multi_tenancy".to_owned()];
        let header_ok = !t.auth_header.is_empty() && is_header_name(&t.auth_header);
        if !header_ok {
            let message = format!(
                "`auth_header` in [multi_tenancy] is not a header name: `{}`",
                t.auth_header
            );
            self.report(&table, "auth_header", message);
        }
        if t.tenant_claim.trim().is_empty() {
            self.report(
                &table,
                "tenant_claim",
                "`tenant_claim` in [multi_tenancy] is empty".to_owned(),
            );
        }
        self.at_least_one(&table, "max_tenant_pools", t.max_tenant_pools as u64);
        self.at_least_one(&table, "tenant_pool_idle_secs", t.tenant_pool_idle_secs);
        self.at_least_one(&table, "max_tenant_labels", t.max_tenant_labels as u64);
        if !t.trusts_header(config.auth.is_some()) && config.auth.is_none() {
            self.report(
                &table,
                "trust_header",
                "[multi_tenancy] trust_header = false needs [auth]: without a token nothing \
                 names the tenant"
                    .to_owned(),
            );
        }
        // Table rules and inbound handlers work per tenant database (a relay and the
        // handler's database follow the tenant); a `pg_notify` channel is one connection's.
        for (_, rule) in config.observers.channel_rules() {
            let db = rule.database();
            if per_tenant.iter().any(|n| n.as_str() == db) {
                let message = format!(
                    "[observers] cannot forward a pg_notify channel of database '{db}': it is                      one database per tenant (table rules and handlers work there)"
                );
                self.report(&["observers".to_owned()], "database", message);
            }
        }
        match (t.strategy, per_tenant.is_empty()) {
            (TenancyStrategy::DatabasePerTenant, true) => self.report(
                &table,
                "strategy",
                format!(
                    "strategy = \"database_per_tenant\" needs a database whose url holds \
                     {TENANT_PLACEHOLDER} (url = \"postgresql://app@db/tenant_{TENANT_PLACEHOLDER}\")"
                ),
            ),
            (TenancyStrategy::Row, false) => self.report(
                &table,
                "strategy",
                format!(
                    "a database url holds {TENANT_PLACEHOLDER}, which only strategy = \
                     \"database_per_tenant\" fills"
                ),
            ),
            _ => {}
        }
    }

    fn at_least_one(&mut self, table: &KeyPath, key: &str, value: u64) {
        if value == 0 {
            let message = format!("`{key}` in {} must be at least 1", table_label(table));
            self.report(table, key, message);
        }
    }

    /// `name`, written at `key` of `table`, is a configured database.
    fn configured(&mut self, config: &Config, table: &KeyPath, key: &str, name: &str) {
        if config.databases.contains_key(name) {
            return;
        }
        let names = config.databases.keys().map(String::as_str);
        let hint = match closest(name, names.clone()) {
            Some(near) => format!("did you mean `{near}`?"),
            None => {
                let listed: Vec<String> = names.map(|n| format!("`{n}`")).collect();
                format!("configured databases: {}", listed.join(", "))
            }
        };
        let message = format!(
            "database `{name}` in {} is not configured (no [databases.{name}]); {hint}",
            table_label(table)
        );
        self.report(table, key, message);
    }

    fn check_pool(&mut self, db: &DatabaseConfig, table: &KeyPath) {
        let label = table_label(table);
        if db.pool_max == 0 {
            self.report(
                table,
                "pool_max",
                format!("`pool_max` in {label} must be at least 1"),
            );
        } else if db.pool_min > db.pool_max {
            let message = format!(
                "`pool_min` ({}) in {label} is larger than `pool_max` ({})",
                db.pool_min, db.pool_max
            );
            self.report(table, "pool_min", message);
        }
    }

    /// Reports a problem about `key` in `table`, unless that table lost an entry earlier.
    fn report(&mut self, table: &[String], key: &str, message: String) {
        if self.dropped.iter().any(|d| d.starts_with(table)) {
            return;
        }
        self.push(table, Some(key), message);
    }

    fn push(&mut self, table: &[String], key: Option<&str>, message: String) {
        let mut path = table.to_vec();
        if let Some(key) = key {
            // Point at the key as written, through its alias if that is how it was written.
            let written = std::iter::once(key)
                .chain(
                    ALIASES
                        .iter()
                        .filter(|(_, _, k)| *k == key)
                        .map(|(_, alias, _)| *alias),
                )
                .find(|name| {
                    let mut p = table.to_vec();
                    p.push((*name).to_owned());
                    get(self.doc, &p).is_some()
                });
            path.push(written.unwrap_or(key).to_owned());
        }
        let span = key_span(self.doc, &path);
        let problem = Problem::new(message).at_span(self.text, span);
        self.problems.push(if path.is_empty() {
            problem
        } else {
            problem.at_path(dotted(&path))
        });
    }
}

/// A JetStream stream or consumer name.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A SQL function name, optionally schema-qualified: it is quoted where it is used, but a
/// name with anything else in it is a mistake, not a name.
fn valid_sql_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with(|c: char| c.is_ascii_digit())
                && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
}

/// A NATS subject: dot-separated tokens, none empty, no whitespace. A rule's subject may
/// hold `{placeholder}`s (rendered per row) but no wildcard; a subscription's may hold
/// wildcards (`*` as a whole token, `>` as the last one).
fn check_subject(subject: &str, wildcards: bool) -> Result<(), String> {
    if subject.is_empty() {
        return Err("is empty".into());
    }
    if subject.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{subject}` holds whitespace"));
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        if token.is_empty() {
            return Err(format!(
                "`{subject}` has an empty token (two dots, or a dot at an end)"
            ));
        }
        let wild = *token == "*" || (*token == ">" && i == tokens.len() - 1);
        if token.contains(['*', '>']) && !(wildcards && wild) {
            return Err(if wildcards {
                format!("`{subject}`: `*` must be a whole token and `>` the last one")
            } else {
                format!("`{subject}` holds a wildcard; a published subject names one subject")
            });
        }
        if !wildcards {
            check_placeholders(token).map_err(|why| format!("`{subject}`: {why}"))?;
        } else if token.contains(['{', '}']) {
            return Err(format!(
                "`{subject}` holds a placeholder; only rule subjects have them"
            ));
        }
    }
    Ok(())
}

/// `{name}` placeholders in one token: closed, named by an identifier.
fn check_placeholders(token: &str) -> Result<(), String> {
    let mut rest = token;
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            return Err("a `}` closes no `{`".into());
        }
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err("a `{` is not closed".into());
        };
        let name = &after[..close];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!(
                "placeholder `{{{name}}}` must name `op`, `table` or a column"
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

/// Whether `url` names an in-memory SQLite database (`sqlite::memory:`, `:memory:`), spelled
/// as the server's SQLite driver reads it (`db/sqlite.rs`, `location`).
fn sqlite_in_memory(url: &str) -> bool {
    let url = url.trim();
    let rest = ["sqlite:", "sqlite3:", "file:"]
        .iter()
        .find_map(|scheme| {
            url.get(..scheme.len())
                .filter(|p| p.eq_ignore_ascii_case(scheme))
                .map(|_| &url[scheme.len()..])
        })
        .unwrap_or(url);
    let rest = rest.split('?').next().unwrap_or(rest);
    rest == ":memory:" || rest == "//:memory:"
}

/// The scheme of a URL-looking string (`mysql` in `mysql://…`), if it has one.
fn scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    let valid = scheme.len() > 1
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

/// `http://host…` or `https://host…`.
fn is_http_url(url: &str) -> bool {
    matches!(url.split_once("://"), Some(("http" | "https", rest)) if !rest.is_empty())
}

/// An HTTP header name: RFC 9110 token characters.
fn is_header_name(name: &str) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_are_what_serde_accepts() {
        for kind in KINDS {
            for spelling in spellings(kind) {
                let parsed: DatabaseKind =
                    serde::Deserialize::deserialize(serde::de::value::StrDeserializer::<
                        serde::de::value::Error,
                    >::new(spelling))
                    .unwrap();
                assert_eq!(parsed, kind);
                assert_eq!(spelling.parse::<DatabaseKind>(), Ok(kind));
            }
        }
        assert_eq!(
            "oracle".parse::<DatabaseKind>(),
            Err(format!(
                "unknown database `oracle`; supported: {}",
                supported_types()
            ))
        );
        assert_eq!(
            supported_types(),
            "`postgresql` (alias `postgres`, `pg`), `mysql` (alias `mariadb`), `sqlite` (alias `sqlite3`)"
        );
    }

    #[test]
    fn schemes() {
        assert_eq!(scheme("mysql://u:p@h/db"), Some("mysql"));
        assert_eq!(scheme("sqlite::memory:"), Some("sqlite"));
        assert_eq!(scheme("./app"), None);
        assert_eq!(scheme("C:\\data\\app"), None);
    }
}
