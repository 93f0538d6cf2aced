//! The shape of `fraiseql.toml`: every section and key we accept, with its default. Serde
//! rejects anything else (`deny_unknown_fields`); `load` turns that into an error naming the
//! key, its position and the closest valid key. Seed spellings are accepted as aliases.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// A loaded, env-expanded `fraiseql.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, alias = "schema")]
    pub project: ProjectConfig,
    #[serde(default)]
    pub server: ServerConfig,
    /// `[database]`: shorthand for `[databases.primary]`; folded into `databases` by `load`.
    #[serde(default, skip_serializing)]
    pub database: Option<DatabaseConfig>,
    /// `[databases.<name>]`: every named database.
    #[serde(default)]
    pub databases: IndexMap<String, DatabaseConfig>,
    #[serde(default)]
    pub fraiseql: FraiseqlConfig,
    #[serde(default)]
    pub validation: ValidationConfig,
    #[serde(default)]
    pub query_defaults: QueryDefaults,
    /// `[federation]`: per-database deadlines, retries and circuit breakers.
    #[serde(default)]
    pub federation: super::federation::FederationConfig,
    /// `[observers]`: database changes to events, events to SQL handlers.
    #[serde(default)]
    pub observers: super::observers::ObserversConfig,
    /// `[subscriptions]`: GraphQL subscriptions over WebSocket and their limits.
    #[serde(default)]
    pub subscriptions: super::subscriptions::SubscriptionsConfig,
    /// `[auth]`: bearer tokens (none: every request is anonymous).
    #[serde(default)]
    pub auth: Option<super::auth::AuthConfig>,
    /// `[multi_tenancy]`: which tenant a request is for (none: no tenants).
    #[serde(default, alias = "multitenancy")]
    pub multi_tenancy: Option<super::tenancy::TenancyConfig>,
}

/// `[project]`: what this API is. `name` and `version` (and `description` when set) are shown
/// in the startup banner and in `GET /health`, so an operator can tell which deployment
/// answers; `database_target`, when set, is checked at load against every configured
/// database's type, so a config meant for PostgreSQL cannot silently start on SQLite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    #[serde(default = "default_project_name")]
    pub name: String,
    #[serde(default = "default_project_version")]
    pub version: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The database type every configured database must be (same spellings as a
    /// database's `type`).
    #[serde(default)]
    pub database_target: Option<DatabaseKind>,
}

impl Default for ProjectConfig {
    fn default() -> Self {
        Self {
            name: default_project_name(),
            version: default_project_version(),
            description: None,
            database_target: None,
        }
    }
}

fn default_project_name() -> String {
    "my-fraiseql-app".into()
}
fn default_project_version() -> String {
    "1.0.0".into()
}

/// `[server]`: the HTTP listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_host")]
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    /// Whole-request deadline.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    #[serde(default = "default_keep_alive_secs")]
    pub keep_alive_secs: u64,
    /// How long a client has to send a request's head (request line and headers), counted
    /// from the connection opening or from the request's first byte on a kept-alive one.
    #[serde(default = "default_header_read_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// How long a client has to send a whole request body, counted from the end of its head.
    #[serde(default = "default_body_read_timeout_ms")]
    pub body_read_timeout_ms: u64,
    /// Most operations in one batch (a JSON array body); 0 turns batching off.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// Reject every mutation.
    #[serde(default)]
    pub read_only: bool,
    /// How long graceful shutdown waits for in-flight requests.
    #[serde(default = "default_shutdown_timeout_secs")]
    pub shutdown_timeout_secs: u64,
    /// Serve `__schema`/`__type` (GraphiQL, codegen). On by default.
    #[serde(default = "yes")]
    pub introspection: bool,
    /// Serve GraphiQL at `GET /graphql` for browsers and `/playground`.
    #[serde(default = "yes")]
    pub playground: bool,
    /// Bearer token (at least 32 characters) that unlocks operator details: a request to
    /// `/health` or `/health/ready` with `Authorization: Bearer <token>` also gets each
    /// database's connection error text. Unset: no request gets them.
    #[serde(default)]
    pub admin_token: Option<String>,
    #[serde(default)]
    pub limits: LimitsConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: default_host(),
            port: default_port(),
            request_timeout_ms: default_request_timeout_ms(),
            keep_alive_secs: default_keep_alive_secs(),
            header_read_timeout_ms: default_header_read_timeout_ms(),
            body_read_timeout_ms: default_body_read_timeout_ms(),
            max_batch: default_max_batch(),
            read_only: false,
            shutdown_timeout_secs: default_shutdown_timeout_secs(),
            introspection: true,
            playground: true,
            admin_token: None,
            limits: LimitsConfig::default(),
        }
    }
}

fn default_host() -> String {
    "0.0.0.0".into()
}
fn default_port() -> u16 {
    8080
}
fn default_request_timeout_ms() -> u64 {
    30_000
}
fn default_keep_alive_secs() -> u64 {
    75
}
fn default_header_read_timeout_ms() -> u64 {
    10_000
}
fn default_body_read_timeout_ms() -> u64 {
    30_000
}
fn default_max_batch() -> usize {
    10
}
fn default_shutdown_timeout_secs() -> u64 {
    30
}
fn yes() -> bool {
    true
}

/// `[server.limits]`: bounds checked before any work is done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest accepted request body, e.g. `"10MB"`, `"512KB"` or a byte count.
    #[serde(default = "default_max_request_size")]
    pub max_request_size: ByteSize,
    /// Requests executing at once; more wait in a queue.
    #[serde(default = "default_max_concurrent_requests")]
    pub max_concurrent_requests: usize,
    /// Requests waiting for a slot; beyond this the server answers 503.
    #[serde(default = "default_max_queue_depth")]
    pub max_queue_depth: usize,
    /// Largest response sent; a bigger one is replaced by a `RESPONSE_TOO_LARGE` error.
    #[serde(default = "default_max_response_size")]
    pub max_response_size: ByteSize,
    /// Client connections open at once; a connection beyond this is closed as it arrives.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_request_size: default_max_request_size(),
            max_concurrent_requests: default_max_concurrent_requests(),
            max_queue_depth: default_max_queue_depth(),
            max_response_size: default_max_response_size(),
            max_connections: default_max_connections(),
        }
    }
}

fn default_max_request_size() -> ByteSize {
    ByteSize(10 * 1024 * 1024)
}
fn default_max_concurrent_requests() -> usize {
    1000
}
fn default_max_queue_depth() -> usize {
    5000
}
fn default_max_response_size() -> ByteSize {
    ByteSize(16 * 1024 * 1024)
}
fn default_max_connections() -> usize {
    10_000
}

/// A size in bytes, written as an integer or a string with a unit (`B`, `KB`, `MB`, `GB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A visitor rather than an untagged enum, so a wrong value is reported as "expected
        // a byte count or …" instead of "data did not match any variant".
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ByteSize;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a byte count or a size such as \"10MB\"")
            }

            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(n))
            }

            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<ByteSize, E> {
                u64::try_from(n)
                    .map(ByteSize)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(n), &self))
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<ByteSize, E> {
                parse_byte_size(s).map(ByteSize).ok_or_else(|| {
                    E::custom(format!(
                        "invalid size `{s}`: expected a number with an optional unit B, KB, MB or GB"
                    ))
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

fn parse_byte_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" | "K" | "KIB" => 1024,
        "MB" | "M" | "MIB" => 1024 * 1024,
        "GB" | "G" | "GIB" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// The kinds of database the engine speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKind {
    #[serde(alias = "postgres", alias = "pg")]
    Postgresql,
    #[serde(alias = "sqlite3")]
    Sqlite,
    /// MySQL or MariaDB (one wire protocol; CI runs MariaDB).
    #[serde(alias = "mariadb")]
    Mysql,
}

impl DatabaseKind {
    /// Infers the kind from a connection URL's scheme.
    pub fn from_url(url: &str) -> Option<Self> {
        let scheme = url.split(':').next()?.to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => Some(Self::Postgresql),
            "sqlite" | "file" => Some(Self::Sqlite),
            "mysql" | "mariadb" => Some(Self::Mysql),
            _ if url.ends_with(".db") || url.ends_with(".sqlite") || url.ends_with(".sqlite3") => {
                Some(Self::Sqlite)
            }
            _ => None,
        }
    }

    /// The name `type` takes (`postgresql`, `sqlite`), as `/health` reports it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Postgresql => "postgresql",
            Self::Sqlite => "sqlite",
            Self::Mysql => "mysql",
        }
    }

    /// Human name used in messages and the banner.
    pub fn label(self) -> &'static str {
        match self {
            Self::Postgresql => "PostgreSQL",
            Self::Sqlite => "SQLite",
            Self::Mysql => "MySQL/MariaDB",
        }
    }
}

/// `[databases.<name>]` (or `[database]`): one named database and its pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Connection URL: `postgresql://…`, `sqlite://./app.db`, `sqlite::memory:`.
    #[serde(default)]
    pub url: Option<String>,
    /// Driver; inferred from the URL scheme when absent (`load` fills it in).
    #[serde(default, rename = "type", alias = "driver")]
    pub kind: Option<DatabaseKind>,
    /// Read replicas: URLs of servers holding a copy of this database, of the same type.
    /// Reads take turns on the replicas that answer; mutations (and the reads inside them) go
    /// to `url`. Every other key of the table (pool sizes, timeouts, TLS) applies to each
    /// replica as to the primary. An empty entry (`"${REPLICA_URL:-}"`) is left out.
    #[serde(default)]
    pub replicas: Vec<String>,
    /// Connections opened in the background once the database answers and kept open.
    #[serde(default = "default_pool_min")]
    pub pool_min: usize,
    #[serde(default = "default_pool_max", alias = "pool_size")]
    pub pool_max: usize,
    /// How long to wait for a pooled connection (and to connect).
    #[serde(default = "default_connect_timeout_ms", alias = "pool_timeout")]
    pub connect_timeout_ms: u64,
    /// Connections idle for longer than this are closed (down to `pool_min`).
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// Per-statement deadline; 0 disables. `None`: the request deadline
    /// (`server.request_timeout_ms`), resolved when the database is opened.
    #[serde(default)]
    pub statement_timeout_ms: Option<u64>,
    /// Prepared statements kept per connection (least recently used evicted and closed on
    /// the server); 0 prepares every PostgreSQL statement afresh and closes it after use.
    #[serde(default = "default_statement_cache_size")]
    pub statement_cache_size: usize,
    /// How much TLS connections insist on; the same as `sslmode` in the URL (give one).
    /// Default: the URL's, else `prefer`.
    #[serde(default)]
    pub ssl_mode: Option<SslMode>,
    /// A PEM file of the roots to trust; the same as `sslrootcert` in the URL (give one).
    #[serde(default)]
    pub ssl_root_cert: Option<String>,
}

/// How much TLS a database connection insists on, as libpq's `sslmode` (the MySQL client's
/// spellings are aliases).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// Plain text.
    #[serde(alias = "disabled", alias = "DISABLED")]
    Disable,
    /// TLS when the server offers it, plain text when it does not.
    #[serde(alias = "preferred", alias = "PREFERRED")]
    Prefer,
    /// TLS; the certificate is checked only when a root certificate is given.
    #[serde(alias = "required", alias = "REQUIRED")]
    Require,
    /// TLS; the certificate must chain to a trusted root, whatever host it names.
    #[serde(alias = "verify_ca", alias = "VERIFY_CA")]
    VerifyCa,
    /// TLS; the certificate must chain to a trusted root and name the host connected to.
    #[serde(alias = "verify_identity", alias = "VERIFY_IDENTITY")]
    VerifyFull,
}

impl DatabaseConfig {
    /// Points this database at `url` and resolves its kind from the URL's scheme, as loading
    /// does for a database without `type` (the `--database` flag). Later stages read
    /// [`DatabaseConfig::kind`] only.
    pub fn point_at(&mut self, url: &str) {
        self.url = Some(url.to_string());
        self.kind = DatabaseKind::from_url(url);
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            kind: None,
            replicas: Vec::new(),
            pool_min: default_pool_min(),
            pool_max: default_pool_max(),
            connect_timeout_ms: default_connect_timeout_ms(),
            idle_timeout_ms: default_idle_timeout_ms(),
            statement_timeout_ms: None,
            statement_cache_size: default_statement_cache_size(),
            ssl_mode: None,
            ssl_root_cert: None,
        }
    }
}

fn default_pool_min() -> usize {
    2
}
fn default_pool_max() -> usize {
    20
}
fn default_connect_timeout_ms() -> u64 {
    5000
}
fn default_idle_timeout_ms() -> u64 {
    600_000
}
fn default_statement_cache_size() -> usize {
    256
}

/// `[fraiseql]`: where the schema lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FraiseqlConfig {
    /// Authoring input: `schema.json`, `schema.graphql` or a compiled schema.
    #[serde(default = "default_schema_file", alias = "schema")]
    pub schema_file: String,
    /// Where `fraiseql compile` writes.
    #[serde(default = "default_output_file")]
    pub output_file: String,
}

impl Default for FraiseqlConfig {
    fn default() -> Self {
        Self {
            schema_file: default_schema_file(),
            output_file: default_output_file(),
        }
    }
}

fn default_schema_file() -> String {
    "schema.json".into()
}
fn default_output_file() -> String {
    "schema.compiled.json".into()
}

/// `[validation]`: query shape limits, checked before any database call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationConfig {
    #[serde(default = "default_max_query_depth")]
    pub max_query_depth: usize,
    /// Largest number of aliased fields in one operation.
    #[serde(default = "default_max_aliases")]
    pub max_aliases: usize,
    /// Largest number of field selections in one operation (after fragment expansion).
    #[serde(default = "default_max_fields", alias = "max_query_complexity")]
    pub max_fields: usize,
    /// Most rows one operation could return, counting every nested relation list at its
    /// page size (`limit`, or `max_page_size` without one) times its parent's rows.
    #[serde(default = "default_max_result_rows")]
    pub max_result_rows: u64,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        Self {
            max_query_depth: default_max_query_depth(),
            max_aliases: default_max_aliases(),
            max_fields: default_max_fields(),
            max_result_rows: default_max_result_rows(),
        }
    }
}

fn default_max_query_depth() -> usize {
    10
}
fn default_max_aliases() -> usize {
    30
}
fn default_max_fields() -> usize {
    500
}
fn default_max_result_rows() -> u64 {
    100_000
}

/// `[query_defaults]`: automatic list arguments and page sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryDefaults {
    #[serde(default = "yes", rename = "where")]
    pub where_: bool,
    #[serde(default = "yes")]
    pub order_by: bool,
    #[serde(default = "yes")]
    pub limit: bool,
    #[serde(default = "yes")]
    pub offset: bool,
    /// Rows returned when a list query gives no `limit`/`first` and declares no default.
    #[serde(default = "default_page_size")]
    pub default_page_size: u64,
    /// Largest `limit`/`first`/`last` accepted.
    #[serde(default = "default_max_page_size")]
    pub max_page_size: u64,
}

impl Default for QueryDefaults {
    fn default() -> Self {
        Self {
            where_: true,
            order_by: true,
            limit: true,
            offset: true,
            default_page_size: default_page_size(),
            max_page_size: default_max_page_size(),
        }
    }
}

fn default_page_size() -> u64 {
    20
}
fn default_max_page_size() -> u64 {
    1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_parse() {
        assert_eq!(parse_byte_size("10MB"), Some(10 * 1024 * 1024));
        assert_eq!(parse_byte_size("512 KB"), Some(512 * 1024));
        assert_eq!(parse_byte_size("77"), Some(77));
        assert_eq!(parse_byte_size("ten"), None);
    }

    #[test]
    fn point_at_resolves_the_kind_once() {
        let mut db = DatabaseConfig {
            kind: Some(DatabaseKind::Postgresql),
            ..DatabaseConfig::default()
        };
        db.point_at("sqlite::memory:");
        assert_eq!(db.kind, Some(DatabaseKind::Sqlite));
        db.point_at("mariadb://x");
        assert_eq!(db.kind, Some(DatabaseKind::Mysql));
        db.point_at("mssql://x");
        assert_eq!(
            db.kind, None,
            "an unknown scheme leaves no kind to guess at later"
        );
    }

    #[test]
    fn kind_from_url() {
        assert_eq!(
            DatabaseKind::from_url("postgresql://x/y"),
            Some(DatabaseKind::Postgresql)
        );
        assert_eq!(
            DatabaseKind::from_url("sqlite://./a.db"),
            Some(DatabaseKind::Sqlite)
        );
        assert_eq!(
            DatabaseKind::from_url("sqlite::memory:"),
            Some(DatabaseKind::Sqlite)
        );
        assert_eq!(
            DatabaseKind::from_url("mysql://x"),
            Some(DatabaseKind::Mysql)
        );
        assert_eq!(DatabaseKind::from_url("mssql://x"), None);
    }
}
