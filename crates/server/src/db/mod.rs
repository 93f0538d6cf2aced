//! The database layer: one [`Database`] per configured name, each a pool of one of the
//! drivers we speak (a closed set, so an enum). Execution hands it rendered [`SqlQuery`]s
//! and gets text back: every statement the renderer writes returns JSON as text, so rows are
//! read as `Option<String>` columns and never decoded into typed values here.
//!
//! Pools are built without connecting: a database that is down at startup must not stop the
//! server; its requests fail with `Unavailable` until it answers. A background task
//! ([`upkeep`]) opens `pool_min` connections once it does and closes idle ones.
//!
//! A database may have read replicas ([`replicas`]): each is a [`Target`] like the primary,
//! with a pool of its own. Reads ([`Database::fetch_all`]) take turns on the replicas that
//! answer; transactions, and so mutations and the reads inside them, use the primary.
//!
//! No statement outlives the request that asked for it: a statement whose future is dropped
//! (deadline, client gone) is cancelled on the server, and statements are bounded by
//! `statement_timeout_ms`, which defaults to the request deadline.

mod mysql;
mod mysql_catalog;
mod postgres;
mod postgres_catalog;
mod replicas;
pub(crate) mod settings;
mod sqlite;
mod sqlite_catalog;
pub(crate) mod tenants;
mod tls;
mod upkeep;

use fraiseql_engine::catalog::Catalog;
use fraiseql_engine::config::{DatabaseConfig, DatabaseKind};
use fraiseql_engine::sql::SqlQuery;
pub(crate) use replicas::Replica;
use replicas::Replicas;
pub(crate) use settings::Settings;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// What went wrong, as one portable kind: each driver maps its own codes onto it (PostgreSQL
/// SQLSTATEs in `postgres.rs`, MySQL error numbers in `mysql.rs`, SQLite extended result
/// codes in `sqlite.rs`), and callers
/// decide what to tell the client from the kind alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DbErrorKind {
    /// No connection could be made or the connection was lost (refused, DNS,
    /// authentication, pool closed, server gone).
    Unavailable,
    /// Waiting for a pooled connection took longer than `connect_timeout_ms`, the statement
    /// hit `statement_timeout`, or a lock was not granted in time.
    Timeout,
    /// A unique or primary key constraint refused a duplicate.
    UniqueViolation,
    /// A foreign key constraint refused a reference to a missing row.
    ForeignKeyViolation,
    /// A NOT NULL constraint refused a missing value.
    NotNullViolation,
    /// A CHECK constraint refused a value.
    CheckViolation,
    /// A value the column's type cannot hold (PostgreSQL class 22, SQLite STRICT datatype).
    InvalidInput,
    /// A serializable transaction could not be serialized; retrying may succeed.
    Serialization,
    /// The database broke a deadlock by aborting this statement.
    Deadlock,
    /// The schema author's own error (`RAISE` in a function or trigger): its message (and
    /// PostgreSQL hint) were written for clients.
    Raised,
    /// Any other rejection of the statement.
    Other,
    /// Not sent: the database's circuit breaker is open (`resilience.rs`), so the call was
    /// refused without touching the pool.
    CircuitOpen,
}

/// A database failure with the driver's details. `code` is the driver's own code
/// (PostgreSQL's SQLSTATE, SQLite's extended result code), kept for the log only: callers
/// decide on `kind`.
#[derive(Debug, Clone)]
pub(crate) struct DbError {
    pub(crate) kind: DbErrorKind,
    pub(crate) code: Option<String>,
    pub(crate) message: String,
    pub(crate) detail: Option<String>,
    pub(crate) hint: Option<String>,
}

impl DbError {
    pub(crate) fn new(kind: DbErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            code: None,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(DbErrorKind::Unavailable, message)
    }

    pub(crate) fn query(message: impl Into<String>) -> Self {
        Self::new(DbErrorKind::Other, message)
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(code) = &self.code {
            write!(f, " (code {code})")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, "; detail: {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "; hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DbError {}

/// A snapshot of a pool, for `/health` and the pool gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolStatus {
    /// Connections open now.
    pub(crate) size: usize,
    /// Open connections not checked out.
    pub(crate) idle: usize,
    pub(crate) max: usize,
}

pub(crate) use mysql::Session as MysqlSession;
pub(crate) use postgres::Listener as PostgresListener;

/// A dedicated connection (see [`Database::session`]).
pub(crate) enum Session {
    Postgres(postgres::Listener),
    Mysql(mysql::Session),
    Sqlite,
}

/// The pools of the drivers we speak.
enum Pool {
    Postgres(postgres::Pool),
    Mysql(mysql::Pool),
    Sqlite(sqlite::Sqlite),
}

/// Which server of a database a statement went to: the primary (`url`) or replica `i` (the
/// `i`-th of `replicas`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Primary,
    Replica(usize),
}

/// Which servers of a database a read may go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reads {
    /// The replicas in turn, then the primary: any read of a query.
    Replicas,
    /// The primary alone: a read that must see what its request wrote (a mutation's
    /// response), which a replica may not have yet.
    Primary,
}

/// Told of every read [`Database::fetch_all`] sends: which server it went to and whether
/// it succeeded (a read that fails over is told once per server tried). The metrics layer
/// sets it; the database knows nothing of metrics.
pub(crate) type ReadObserver = Box<dyn Fn(Role, bool) + Send + Sync>;

/// One named database: its primary, its read replicas and, once read, its (primary's)
/// catalog.
pub(crate) struct Database {
    pub(crate) name: String,
    pub(crate) kind: DatabaseKind,
    primary: Target,
    replicas: Replicas,
    catalog: RwLock<Option<Arc<Catalog>>>,
    observer: Option<ReadObserver>,
    /// Told of each transaction of this process that commits, so the event relay of a
    /// database without `NOTIFY` (MySQL/MariaDB, SQLite) looks at its outbox at once rather
    /// than at its next poll. Writes by other processes still wait for the poll.
    commits: Arc<tokio::sync::Notify>,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("replicas", &self.replicas.all().len())
            .finish()
    }
}

impl Database {
    /// Builds the pools without connecting, for a one-off command (`explain`, `check`): no
    /// request deadline, so statements are bounded only by an explicit
    /// `statement_timeout_ms`.
    pub(crate) fn new(name: &str, cfg: &DatabaseConfig) -> Result<Self, DbError> {
        Self::open(name, cfg, None)
    }

    /// Builds the pools for a server whose requests end after `request_deadline`: unless
    /// `statement_timeout_ms` says otherwise, no statement runs longer than that, since
    /// nobody waits for its result afterwards.
    pub(crate) fn serving(
        name: &str,
        cfg: &DatabaseConfig,
        request_deadline: Duration,
    ) -> Result<Self, DbError> {
        Self::open(name, cfg, Some(request_deadline))
    }

    /// Builds one pool for the primary and one per replica, all from the same config (pool
    /// sizes, timeouts, TLS), without connecting: a database or replica that is down at
    /// start must not stop the server. A missing or malformed URL is an error here.
    fn open(
        name: &str,
        cfg: &DatabaseConfig,
        request_deadline: Option<Duration>,
    ) -> Result<Self, DbError> {
        let url = cfg
            .url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| DbError::unavailable(format!("database '{name}' has no url")))?;
        // The kind was resolved when the configuration was loaded (from `type` or the URL's
        // scheme); it is never guessed again here.
        let kind = cfg.kind.ok_or_else(|| {
            DbError::unavailable(format!(
                "database '{name}' has no resolved type; set `type` (one of postgresql, mysql, sqlite)"
            ))
        })?;
        // Resolved once here; 0 disables it.
        let statement_timeout = match cfg.statement_timeout_ms {
            Some(0) => None,
            Some(ms) => Some(Duration::from_millis(ms)),
            None => request_deadline,
        };
        let primary = Target::open(url, kind, cfg, statement_timeout, Role::Primary)?;
        let mut replicas = Vec::with_capacity(cfg.replicas.len());
        for (i, replica_url) in cfg.replicas.iter().enumerate() {
            // Loading refuses these already; a config built in code must not get by either.
            let memory = |u: &str| {
                kind == DatabaseKind::Sqlite
                    && matches!(sqlite::location(u), Ok(sqlite::Location::Memory))
            };
            if memory(url) || memory(replica_url) {
                return Err(DbError::unavailable(
                    "an in-memory SQLite database can have no replicas, nor be one",
                ));
            }
            let target = Target::open(replica_url, kind, cfg, statement_timeout, Role::Replica(i))
                .map_err(|mut e| {
                    e.message = format!("replica {i}: {}", e.message);
                    e
                })?;
            replicas.push(Replica::new(name, i, redact(replica_url), target));
        }
        Ok(Self {
            name: name.to_string(),
            kind,
            primary,
            replicas: Replicas::new(replicas),
            catalog: RwLock::new(None),
            observer: None,
            commits: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Tells `observer` of every read from now on (set before the database is shared).
    pub(crate) fn observe_reads(&mut self, observer: ReadObserver) {
        self.observer = Some(observer);
    }

    /// Runs a read that returns exactly one row; returns its columns as text (SQL NULL is
    /// `None`). Sent as [`Database::fetch_all`] sends it. (Requests use
    /// [`Database::fetch_texts_as`], with their settings.)
    #[cfg(test)]
    pub(crate) async fn fetch_texts(&self, q: &SqlQuery) -> Result<Vec<Option<String>>, DbError> {
        one_row(self.fetch_all(q).await?)
    }

    /// Runs a read; returns every row, columns as text (SQL NULL is `None`). It goes to the
    /// next replica in turn among those that answer; a replica that cannot be reached is
    /// marked down and the read goes to the next one, then to the primary. Any other
    /// failure is the answer: the statement would fail the same way elsewhere, and a
    /// timeout has used up the time already. Only ever a read: a write must go through
    /// [`Database::begin`], which is always the primary.
    #[cfg(test)]
    pub(crate) async fn fetch_all(
        &self,
        q: &SqlQuery,
    ) -> Result<Vec<Vec<Option<String>>>, DbError> {
        self.fetch_all_from(q, Reads::Replicas).await
    }

    /// [`Database::fetch_all`] on the servers `reads` allows, as the server itself (no
    /// request settings).
    pub(crate) async fn fetch_all_from(
        &self,
        q: &SqlQuery,
        reads: Reads,
    ) -> Result<Vec<Vec<Option<String>>>, DbError> {
        self.fetch_all_as(q, reads, &settings::none()).await
    }

    /// A read that returns one row, with the request's `settings` (see `settings.rs`).
    pub(crate) async fn fetch_texts_as(
        &self,
        q: &SqlQuery,
        settings: &Settings,
    ) -> Result<Vec<Option<String>>, DbError> {
        one_row(self.fetch_all_as(q, Reads::Replicas, settings).await?)
    }

    /// [`Database::fetch_all_from`] with the request's `settings`.
    pub(crate) async fn fetch_all_as(
        &self,
        q: &SqlQuery,
        reads: Reads,
        settings: &Settings,
    ) -> Result<Vec<Vec<Option<String>>>, DbError> {
        let turn = match reads {
            Reads::Replicas => self.replicas.turn(),
            Reads::Primary => Vec::new(),
        };
        for replica in turn {
            let result = replica.target.fetch_all(q, settings).await;
            self.observed(Role::Replica(replica.index), result.is_ok());
            match result {
                Err(e) if e.kind == DbErrorKind::Unavailable => replica.mark_down(&e),
                answer => return answer,
            }
        }
        let result = self.primary.fetch_all(q, settings).await;
        self.observed(Role::Primary, result.is_ok());
        result
    }

    fn observed(&self, role: Role, ok: bool) {
        if let Some(observer) = &self.observer {
            observer(role, ok);
        }
    }

    /// The primary: where transactions, `explain`, `ping` and the catalog go.
    pub(crate) fn primary(&self) -> &Target {
        &self.primary
    }

    /// The read replicas, in config order.
    pub(crate) fn replicas(&self) -> &[Arc<Replica>] {
        self.replicas.all()
    }

    /// Starts a transaction on the primary. SQLite runs `BEGIN IMMEDIATE` now, so a writer
    /// takes its lock up front instead of failing with `SQLITE_BUSY` at its first write;
    /// PostgreSQL sends its `BEGIN` together with the first statement; MySQL/MariaDB send it
    /// now.
    pub(crate) async fn begin(&self) -> Result<Tx, DbError> {
        self.begin_as(&settings::none()).await
    }

    /// [`Database::begin`] for a request: its statements run with its `settings`.
    pub(crate) async fn begin_as(&self, settings: &Settings) -> Result<Tx, DbError> {
        let mut tx = self.primary.begin(settings).await?;
        tx.commits = Some(self.commits.clone());
        Ok(tx)
    }

    /// Returns after the next commit of a transaction of this process on this database (at
    /// once when one committed since the last call).
    pub(crate) async fn committed(&self) {
        self.commits.notified().await;
    }

    /// The primary's plan for `q`, as text (`fraiseql explain`), spelled by the driver
    /// (PostgreSQL `EXPLAIN`, MySQL/MariaDB `EXPLAIN FORMAT=JSON`, SQLite `EXPLAIN QUERY
    /// PLAN`). With `analyze`, where the database can (PostgreSQL, MariaDB), the statement
    /// really runs, inside a transaction that is rolled back. The primary, not a replica:
    /// the statement may be a write, and the answer must not depend on whose turn it is.
    pub(crate) async fn explain(
        &self,
        q: &SqlQuery,
        analyze: bool,
        settings: &Settings,
    ) -> Result<String, DbError> {
        self.primary.explain(q, analyze, settings).await
    }

    /// A connection of the primary's own, outside the pool, for the events relay's lease:
    /// PostgreSQL a [`Listener`](postgres::Listener), MySQL/MariaDB a connection taken from
    /// the pool; SQLite has none (its lease is a row).
    pub(crate) async fn session(&self) -> Result<Session, DbError> {
        let connect = async {
            match &self.primary.pool {
                Pool::Postgres(pool) => postgres::listener(pool).await.map(Session::Postgres),
                Pool::Mysql(pool) => mysql::session(pool).await.map(Session::Mysql),
                Pool::Sqlite(_) => Ok(Session::Sqlite),
            }
        };
        tokio::time::timeout(self.primary.connect_timeout, connect)
            .await
            .unwrap_or_else(|_| {
                Err(DbError::unavailable(
                    "no connection within the connect timeout",
                ))
            })
    }

    /// `SELECT 1` on the primary, bounded by the connect timeout.
    pub(crate) async fn ping(&self) -> Result<(), DbError> {
        self.primary.ping().await
    }

    /// Ends the pools' background upkeep (at shutdown: a connection it is still opening
    /// must not outlive the runtime's blocking threads).
    pub(crate) fn stop_upkeep(&self) {
        self.primary.stop_upkeep();
        for replica in self.replicas.all() {
            replica.target.stop_upkeep();
        }
    }

    /// The catalog, once [`Database::load_catalog`] has succeeded.
    pub(crate) fn catalog(&self) -> Option<Arc<Catalog>> {
        // A poisoned lock only means a writer panicked between two whole assignments.
        self.catalog
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the primary's catalog (columns of every view and table, signatures of
    /// functions) and keeps it for [`Database::catalog`]. Statements are rendered for the
    /// primary's catalog whichever server runs them; `fraiseql check` compares each
    /// replica's with it.
    pub(crate) async fn load_catalog(&self) -> Result<Arc<Catalog>, DbError> {
        let catalog = Arc::new(self.primary.read_catalog().await?);
        *self.catalog.write().unwrap_or_else(|e| e.into_inner()) = Some(catalog.clone());
        Ok(catalog)
    }

    /// Size, idle connections and maximum of the primary's pool.
    pub(crate) fn pool_status(&self) -> PoolStatus {
        self.primary.pool_status()
    }

    /// Every relation `view` reads, with its row-level security (PostgreSQL, the database
    /// with policies; `None` elsewhere).
    pub(crate) async fn exposure(
        &self,
        view: &str,
    ) -> Result<Option<Vec<postgres_catalog::Exposed>>, DbError> {
        match &self.primary.pool {
            Pool::Postgres(p) => {
                let conn = postgres::client(p).await?;
                postgres::guarded(&conn, postgres_catalog::exposure(conn.client(), view))
                    .await
                    .map(Some)
            }
            _ => Ok(None),
        }
    }
}

/// One server of a database, the primary or a replica: its pool, and the background upkeep
/// of that pool.
pub(crate) struct Target {
    pool: Pool,
    connect_timeout: Duration,
    /// Ends the background upkeep with the pool.
    upkeep: Option<tokio::task::AbortHandle>,
}

impl Drop for Target {
    fn drop(&mut self) {
        self.stop_upkeep();
    }
}

impl Target {
    fn stop_upkeep(&self) {
        if let Some(upkeep) = &self.upkeep {
            upkeep.abort();
        }
    }

    /// Builds the pool for `url`, the server playing `role`, without connecting. When called
    /// inside a tokio runtime, starts the pool's upkeep (`pool_min`, `idle_timeout_ms`).
    fn open(
        url: &str,
        kind: DatabaseKind,
        cfg: &DatabaseConfig,
        statement_timeout: Option<Duration>,
        role: Role,
    ) -> Result<Self, DbError> {
        let idle = (cfg.idle_timeout_ms > 0).then(|| Duration::from_millis(cfg.idle_timeout_ms));
        let (pool, upkeep) = match kind {
            DatabaseKind::Postgresql => {
                let pool = postgres::pool(url, cfg, statement_timeout)?;
                let plan = upkeep::Plan {
                    min: cfg.pool_min.min(cfg.pool_max.max(1)),
                    idle,
                };
                let task = upkeep::spawn(&pool, plan, postgres::PgConn::abandoned);
                (Pool::Postgres(pool), task)
            }
            DatabaseKind::Mysql => {
                let pool = mysql::pool(url, cfg, statement_timeout)?;
                let plan = upkeep::Plan {
                    min: cfg.pool_min.min(cfg.pool_max.max(1)),
                    idle,
                };
                let task = upkeep::spawn(&pool, plan, mysql::MyConn::abandoned);
                (Pool::Mysql(pool), task)
            }
            DatabaseKind::Sqlite => {
                let memory = sqlite::location(url)? == sqlite::Location::Memory;
                // A replica's file is someone else's copy: read, never created or changed.
                let access = match role {
                    Role::Primary => sqlite::Access::ReadWrite,
                    Role::Replica(_) => sqlite::Access::ReadOnly,
                };
                let pool = sqlite::pool(url, cfg, access)?;
                // An in-memory database lives in its one connection: never closed for
                // idleness, and kept open from the start so it is there for everyone.
                let plan = if memory {
                    upkeep::Plan { min: 1, idle: None }
                } else {
                    upkeep::Plan {
                        min: cfg.pool_min.min(cfg.pool_max.max(1)),
                        idle,
                    }
                };
                let task = upkeep::spawn(&pool, plan, |_| false);
                let sqlite = sqlite::Sqlite {
                    pool,
                    writer: sqlite::WriteTurn::default(),
                    limit: statement_timeout,
                };
                (Pool::Sqlite(sqlite), task)
            }
        };
        Ok(Self {
            pool,
            connect_timeout: Duration::from_millis(cfg.connect_timeout_ms.max(1)),
            upkeep,
        })
    }

    /// Runs a statement that returns exactly one row, on this server; returns its columns
    /// as text (SQL NULL is `None`).
    pub(crate) async fn fetch_texts(&self, q: &SqlQuery) -> Result<Vec<Option<String>>, DbError> {
        one_row(self.fetch_all(q, &settings::none()).await?)
    }

    /// Runs a statement on this server, in autocommit, with `settings` (see `settings.rs`);
    /// returns every row, columns as text (SQL NULL is `None`).
    pub(crate) async fn fetch_all(
        &self,
        q: &SqlQuery,
        settings: &Settings,
    ) -> Result<Vec<Vec<Option<String>>>, DbError> {
        match &self.pool {
            Pool::Postgres(p) => {
                let client = postgres::client(p).await?;
                postgres::fetch_rows_in(&client, q, settings, Default::default()).await
            }
            Pool::Mysql(p) => {
                let mut conn = mysql::conn(p).await?;
                mysql::hold(&mut conn, settings).await?;
                mysql::fetch_rows(&mut conn, q).await
            }
            Pool::Sqlite(s) => {
                let conn = sqlite::conn(&s.pool).await?;
                sqlite::fetch_rows_after(&conn, sqlite::prelude(settings), q.clone(), s.limit).await
            }
        }
    }

    /// Starts a transaction on this server (see [`Database::begin`]) whose statements run
    /// with `settings`.
    async fn begin(&self, settings: &Settings) -> Result<Tx, DbError> {
        let inner = match &self.pool {
            Pool::Postgres(p) => TxInner::Postgres {
                client: Box::new(postgres::client(p).await?),
                begun: false,
            },
            Pool::Mysql(p) => {
                let mut conn = mysql::conn(p).await?;
                mysql::plain(&mut conn, "BEGIN").await?;
                TxInner::Mysql(Box::new(conn))
            }
            Pool::Sqlite(s) => TxInner::Sqlite(sqlite::begin(&s.pool, &s.writer).await?, s.limit),
        };
        Ok(Tx {
            inner: Some(inner),
            commits: None,
            settings: settings.clone(),
            settled: false,
        })
    }

    /// See [`Database::explain`].
    async fn explain(
        &self,
        q: &SqlQuery,
        analyze: bool,
        settings: &Settings,
    ) -> Result<String, DbError> {
        let statement = match &self.pool {
            Pool::Postgres(_) => postgres::explain_statement(q, analyze),
            Pool::Mysql(_) => mysql::explain_statement(q, analyze),
            Pool::Sqlite(_) => sqlite::explain_statement(q),
        };
        let mut tx = self.begin(settings).await?;
        let rows = tx.fetch_rows(&statement).await?;
        // Dropped without commit: whatever ANALYZE ran is rolled back.
        drop(tx);
        Ok(match &self.pool {
            Pool::Postgres(_) => postgres::explain_text(&rows),
            Pool::Mysql(_) => mysql::explain_text(&rows),
            Pool::Sqlite(_) => sqlite::explain_text(&rows),
        })
    }

    /// `SELECT 1`, bounded by the connect timeout.
    pub(crate) async fn ping(&self) -> Result<(), DbError> {
        let q = SqlQuery {
            text: "SELECT 1".into(),
            params: Vec::new(),
        };
        match tokio::time::timeout(self.connect_timeout, self.fetch_texts(&q)).await {
            Ok(r) => r.map(drop),
            Err(_) => Err(DbError::new(
                DbErrorKind::Timeout,
                format!("no answer within {} ms", self.connect_timeout.as_millis()),
            )),
        }
    }

    /// Reads the columns of every view and table and the signatures of functions.
    pub(crate) async fn read_catalog(&self) -> Result<Catalog, DbError> {
        match &self.pool {
            Pool::Postgres(p) => {
                let conn = postgres::client(p).await?;
                postgres::guarded(&conn, postgres_catalog::load(conn.client())).await
            }
            Pool::Mysql(p) => mysql_catalog::load(&mut *mysql::conn(p).await?).await,
            Pool::Sqlite(s) => sqlite_catalog::load(&sqlite::conn(&s.pool).await?, s.limit).await,
        }
    }

    /// Size, idle connections and maximum of the pool.
    pub(crate) fn pool_status(&self) -> PoolStatus {
        let s = match &self.pool {
            Pool::Postgres(p) => p.status(),
            Pool::Mysql(p) => p.status(),
            Pool::Sqlite(s) => s.pool.status(),
        };
        PoolStatus {
            size: s.size,
            idle: s.available,
            max: s.max_size,
        }
    }
}

/// The one row a statement must return.
fn one_row(mut rows: Vec<Vec<Option<String>>>) -> Result<Vec<Option<String>>, DbError> {
    match rows.len() {
        1 => Ok(rows.pop().unwrap_or_default()),
        n => Err(DbError::query(format!(
            "statement returned {n} rows where one was expected"
        ))),
    }
}

/// An open transaction. Dropping it without [`Tx::commit`] rolls back; dropping it in the
/// middle of a statement cancels (PostgreSQL) or interrupts (SQLite) that statement first.
pub(crate) struct Tx {
    /// `None` only after commit.
    inner: Option<TxInner>,
    /// [`Database::committed`]'s signal, told when this transaction commits.
    commits: Option<Arc<tokio::sync::Notify>>,
    /// The settings its statements run with (`settings.rs`).
    settings: Settings,
    /// Whether the connection holds them already (brought there before the first
    /// statement; on PostgreSQL, pipelined with it).
    settled: bool,
}

enum TxInner {
    /// `begun`: whether `BEGIN` has been sent (with the first statement).
    /// Boxed: a PostgreSQL client is far larger than a SQLite handle.
    Postgres {
        client: Box<postgres::Object>,
        begun: bool,
    },
    /// `BEGIN` already sent.
    Mysql(Box<mysql::Object>),
    /// With the statement timeout.
    Sqlite(sqlite::WriteConn, Option<Duration>),
}

impl Tx {
    /// Brings the connection to the transaction's settings before its first statement,
    /// where that statement cannot carry them in its own write.
    async fn settle(&mut self) -> Result<(), DbError> {
        if self.settled {
            return Ok(());
        }
        match &mut self.inner {
            Some(TxInner::Postgres { client, .. }) => {
                postgres::hold(client, &self.settings).await?
            }
            Some(TxInner::Mysql(conn)) => mysql::hold(conn, &self.settings).await?,
            Some(TxInner::Sqlite(w, limit)) => {
                if let Some(prelude) = sqlite::prelude(&self.settings) {
                    sqlite::execute(&w.conn, prelude, *limit).await?;
                }
            }
            None => {}
        }
        self.settled = true;
        Ok(())
    }

    /// Runs a statement and returns all rows, columns as text.
    pub(crate) async fn fetch_rows(
        &mut self,
        q: &SqlQuery,
    ) -> Result<Vec<Vec<Option<String>>>, DbError> {
        if !matches!(self.inner, Some(TxInner::Postgres { .. })) {
            self.settle().await?;
        }
        match &mut self.inner {
            Some(TxInner::Postgres { client, begun }) => {
                let steps = postgres::TxSteps {
                    begin: !*begun,
                    commit: false,
                };
                *begun = true;
                self.settled = true;
                postgres::fetch_rows_in(client, q, &self.settings, steps).await
            }
            Some(TxInner::Mysql(conn)) => mysql::fetch_rows(conn, q).await,
            Some(TxInner::Sqlite(w, limit)) => sqlite::fetch_rows(&w.conn, q.clone(), *limit).await,
            None => Err(DbError::query("transaction already finished")),
        }
    }

    /// Calls a stored procedure (MySQL/MariaDB, the only databases with them here) and
    /// returns its first result set with its column names.
    pub(crate) async fn fetch_named(
        &mut self,
        q: &SqlQuery,
    ) -> Result<(Vec<String>, Vec<Vec<Option<String>>>), DbError> {
        self.settle().await?;
        match &mut self.inner {
            Some(TxInner::Mysql(conn)) => mysql::fetch_named(conn, q).await,
            Some(_) => Err(DbError::query(
                "stored procedures are called on MySQL/MariaDB only",
            )),
            None => Err(DbError::query("transaction already finished")),
        }
    }

    /// Runs a last statement and commits; on PostgreSQL the `COMMIT` travels with it. A
    /// failed statement rolls the transaction back.
    pub(crate) async fn fetch_rows_and_commit(
        mut self,
        q: &SqlQuery,
    ) -> Result<Vec<Vec<Option<String>>>, DbError> {
        if let Some(TxInner::Postgres { client, begun }) = &mut self.inner {
            let steps = postgres::TxSteps {
                begin: !*begun,
                commit: true,
            };
            *begun = true;
            self.settled = true;
            let rows = postgres::fetch_rows_in(client, q, &self.settings, steps).await;
            // Committed. On an error the client stays here and the drop rolls back: the
            // COMMIT may not have been sent (a statement that failed to prepare), and after
            // one that ran a ROLLBACK only draws a warning. If this future is dropped mid-way
            // the statement is cancelled and the connection discarded, which rolls back.
            if rows.is_ok() {
                self.inner = None;
                self.tell_committed();
            }
            return rows;
        }
        let rows = self.fetch_rows(q).await?;
        self.commit().await?;
        Ok(rows)
    }

    /// Runs a statement and returns the number of rows it affected.
    pub(crate) async fn execute(&mut self, q: &SqlQuery) -> Result<u64, DbError> {
        self.settle().await?;
        match &mut self.inner {
            Some(TxInner::Postgres { client, begun }) => {
                let begin = !*begun;
                *begun = true;
                postgres::execute_in(client, q, begin).await
            }
            Some(TxInner::Mysql(conn)) => mysql::execute(conn, q).await,
            Some(TxInner::Sqlite(w, limit)) => sqlite::execute(&w.conn, q.clone(), *limit).await,
            None => Err(DbError::query("transaction already finished")),
        }
    }

    /// Runs statements without parameters (DDL) through the text protocol. MySQL/MariaDB
    /// commit before and after each DDL statement: there, only the statements that are not
    /// DDL stay in the transaction.
    pub(crate) async fn script(&mut self, sql: &str) -> Result<(), DbError> {
        self.settle().await?;
        match &mut self.inner {
            Some(TxInner::Postgres { client, begun }) => {
                let begin = !*begun;
                *begun = true;
                postgres::script_in(client, sql, begin).await
            }
            Some(TxInner::Mysql(conn)) => mysql::plain(conn, sql).await,
            Some(TxInner::Sqlite(w, limit)) => {
                sqlite::script(&w.conn, sql.to_owned(), *limit).await
            }
            None => Err(DbError::query("transaction already finished")),
        }
    }

    /// Commits. On failure the transaction is rolled back (by the drop).
    pub(crate) async fn commit(mut self) -> Result<(), DbError> {
        match &mut self.inner {
            Some(TxInner::Postgres { client, begun }) => {
                if *begun {
                    postgres::commit(client).await?
                }
            }
            // A failed COMMIT leaves the connection here: the drop rolls back.
            Some(TxInner::Mysql(conn)) => mysql::plain(conn, "COMMIT").await?,
            Some(TxInner::Sqlite(c, limit)) => sqlite::commit(c, *limit).await?,
            None => return Ok(()),
        }
        self.inner = None;
        self.tell_committed();
        Ok(())
    }

    fn tell_committed(&self) {
        if let Some(commits) = &self.commits {
            commits.notify_one();
        }
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        match self.inner.take() {
            None | Some(TxInner::Postgres { begun: false, .. }) => {}
            Some(TxInner::Postgres { client, .. }) => postgres::rollback_detached(*client),
            Some(TxInner::Mysql(conn)) => mysql::rollback_detached(*conn),
            Some(TxInner::Sqlite(c, _)) => sqlite::rollback_detached(c),
        }
    }
}

/// The PostgreSQL server tests use (`FRAISEQL_TEST_PG_URL`).
#[cfg(test)]
pub(crate) fn postgres_test_url() -> String {
    std::env::var("FRAISEQL_TEST_PG_URL")
        .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/postgres".into())
}

/// The MySQL/MariaDB server tests use (`FRAISEQL_TEST_MYSQL_URL`).
#[cfg(test)]
pub(crate) fn mysql_test_url() -> String {
    std::env::var("FRAISEQL_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into())
}

#[cfg(test)]
pub(crate) use mysql::tests::{with_database, Scratch as MysqlScratch};
#[cfg(test)]
pub(crate) use postgres::tests::Scratch as PgScratch;

#[cfg(test)]
mod driver_tests;

/// A checkout failure: the database is unreachable, or every connection is busy. `backend`
/// maps the driver's own connect error.
fn pool_error<E>(
    e: deadpool::managed::PoolError<E>,
    backend: impl FnOnce(E) -> DbError,
) -> DbError {
    use deadpool::managed::{PoolError, TimeoutType};
    match e {
        PoolError::Timeout(TimeoutType::Wait) => DbError::new(
            DbErrorKind::Timeout,
            "timed out waiting for a free database connection",
        ),
        PoolError::Timeout(TimeoutType::Create) => {
            DbError::unavailable("timed out connecting to the database")
        }
        PoolError::Timeout(TimeoutType::Recycle) => {
            DbError::unavailable("timed out checking a pooled connection")
        }
        PoolError::Backend(e) => {
            // Whatever the driver says, a connection that could not be made is unavailable.
            let mut err = backend(e);
            err.kind = DbErrorKind::Unavailable;
            err
        }
        PoolError::Closed => DbError::unavailable("the connection pool is closed"),
        PoolError::NoRuntimeSpecified => DbError::unavailable("the pool has no runtime"),
        PoolError::PostCreateHook(_) => DbError::unavailable("a connection setup hook failed"),
    }
}

/// Whether the SQLite file `url` names exists (an in-memory database always does).
pub(crate) fn sqlite_exists(url: &str) -> bool {
    match sqlite::location(url) {
        Ok(sqlite::Location::Memory) => true,
        Ok(sqlite::Location::File(path)) => path.is_file(),
        Err(_) => false,
    }
}

/// The file a SQLite `url` names (`None` in memory or when it names none).
pub(crate) fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    match sqlite::location(url) {
        Ok(sqlite::Location::File(path)) => Some(path),
        _ => None,
    }
}

/// Whether `e` says the database itself does not exist (a tenant's, not created yet).
pub(crate) fn missing_database(kind: DatabaseKind, e: &DbError) -> bool {
    match kind {
        DatabaseKind::Postgresql => postgres::missing_database(e),
        DatabaseKind::Mysql => mysql::missing_database(e),
        DatabaseKind::Sqlite => false,
    }
}

/// A URL with any password replaced, for messages.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some(parts) => parts,
        None => return url.to_string(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgresql://u:secret@h:5432/d"),
            "postgresql://u:***@h:5432/d"
        );
        assert_eq!(redact("postgresql://u@h/d"), "postgresql://u@h/d");
        assert_eq!(redact("sqlite://./a.db"), "sqlite://./a.db");
    }
}
