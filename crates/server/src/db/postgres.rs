//! PostgreSQL through tokio-postgres and a deadpool pool of our own [`Manager`]. Each
//! pooled connection keeps its prepared statements in a bounded LRU
//! (`statement_cache_size`); the renderer writes explicit casts on every placeholder
//! (`$1::text`, `$2::int8`), so the inferred parameter types always match what we bind.
//!
//! Every statement runs inside [`guarded`]: when its future is dropped before it finished (the
//! request deadline passed, the client went away) the statement is cancelled on the server
//! and its connection is marked abandoned, so the pool never hands it out again.
//!
//! TLS is chosen by `sslmode` in the URL ([`super::tls`]); connections and cancel requests
//! go through the same rustls connector.

use super::settings::{Held, Settings};
use super::{tls, DbError, DbErrorKind};
use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use deadpool::Runtime;
use fraiseql_engine::config::DatabaseConfig;
use fraiseql_engine::sql::{Param, SqlQuery};
use hashlink::LruCache;
use std::error::Error as _;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::{Client, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The pool of PostgreSQL connections.
pub(super) type Pool = managed::Pool<Manager>;
/// A checked-out connection; back to the pool when dropped.
pub(super) type Object = managed::Object<Manager>;

/// Opens connections for the pool. Our own rather than deadpool-postgres': its statement
/// cache keeps every statement ever prepared on a connection (hundreds of megabytes in one
/// backend after a few hundred query shapes) and cannot be bounded.
pub(super) struct Manager {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    statement_cache_size: usize,
}

/// One connection: the client, its prepared statements, and whether a statement was
/// abandoned on it.
pub(super) struct PgConn {
    client: Client,
    /// For the cancel request, which opens a connection of its own like this one's.
    tls: MakeRustlsConnect,
    /// Keyed by SQL text; evicting a statement drops its last handle, which closes it on the
    /// server. `None` when `statement_cache_size` is 0.
    statements: Option<Mutex<LruCache<String, Statement>>>,
    /// Set while a statement runs; still set after its future was dropped mid-way, which
    /// tells recycling the connection may still be busy.
    busy: AtomicBool,
    /// The request settings the session holds (`settings.rs`).
    held: Held,
}

impl PgConn {
    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    /// Whether a statement was abandoned on this connection (or one is running now).
    pub(super) fn abandoned(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }

    /// The statement for `sql`: from the LRU, else prepared (and kept, evicting the least
    /// recently used one). Without a cache the statement is closed when its handle drops.
    async fn statement(&self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        let Some(cache) = &self.statements else {
            return self.client.prepare(sql).await;
        };
        // A poisoned lock only means a panic between two whole cache operations.
        let hit = cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sql)
            .cloned();
        if let Some(statement) = hit {
            return Ok(statement);
        }
        let statement = self.client.prepare(sql).await?;
        cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sql.to_string(), statement.clone());
        Ok(statement)
    }
}

impl managed::Manager for Manager {
    type Type = PgConn;
    type Error = tokio_postgres::Error;

    async fn create(&self) -> Result<PgConn, tokio_postgres::Error> {
        let (client, connection) = self.config.connect(self.tls.clone()).await?;
        // Ends by itself once the client is dropped (or the server goes away).
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %describe(&e), "PostgreSQL connection ended");
            }
        });
        let statements = (self.statement_cache_size > 0)
            .then(|| Mutex::new(LruCache::new(self.statement_cache_size)));
        Ok(PgConn {
            client,
            tls: self.tls.clone(),
            statements,
            busy: AtomicBool::new(false),
            held: Held::default(),
        })
    }

    /// A closed connection is dropped, and so is one whose statement was abandoned: it may
    /// still be running (the cancel request travels on a connection of its own and may not
    /// have landed yet), and the next user would queue behind it. Dropping it closes the
    /// socket, which also ends any transaction it was in.
    ///
    /// Why mark and discard here rather than detach (`Object::take`) at the moment of the
    /// drop: the statement's guard only borrows the connection, deep inside the future
    /// being dropped, while the `Object` is owned further up (the request, a transaction).
    /// Marking it works wherever it is owned; the checkout that meets it drops it and opens
    /// a fresh connection in the same call, and the upkeep closes it if it sits idle.
    async fn recycle(
        &self,
        conn: &mut PgConn,
        _: &Metrics,
    ) -> RecycleResult<tokio_postgres::Error> {
        if conn.client.is_closed() {
            return Err(RecycleError::message("connection closed"));
        }
        if conn.abandoned() {
            return Err(RecycleError::message("a statement was abandoned on it"));
        }
        if conn.held.unknown() {
            return Err(RecycleError::message("its session settings are unknown"));
        }
        Ok(())
    }
}

/// Builds the pool; nothing connects until the first checkout (or the background warm-up of
/// `pool_min`). `statement_timeout` is already resolved (see `Database::serving`).
pub(super) fn pool(
    url: &str,
    cfg: &DatabaseConfig,
    statement_timeout: Option<Duration>,
) -> Result<Pool, DbError> {
    // tokio-postgres knows only disable, prefer and require, and not sslrootcert: the TLS
    // parameters are read (and taken out) here.
    let (url, tls_settings) = tls::settings(url, cfg)?;
    let mut pg: tokio_postgres::Config = url
        .parse()
        .map_err(|e| DbError::unavailable(format!("invalid PostgreSQL url: {}", describe(&e))))?;
    pg.ssl_mode(tls::postgres_mode(&tls_settings));
    let tls = tls::postgres_connector(&tls_settings)?;
    let timeout = Duration::from_millis(cfg.connect_timeout_ms.max(1));
    pg.connect_timeout(timeout);
    if pg.get_application_name().is_none() {
        pg.application_name("fraiseql");
    }
    if let Some(limit) = statement_timeout {
        // Startup options apply to every connection of the pool, before any statement.
        let mut options = pg
            .get_options()
            .map(|o| format!("{o} "))
            .unwrap_or_default();
        // PostgreSQL takes at most i32::MAX ms (24.8 days) and refuses the connection
        // beyond, so a huge setting means "as long as PostgreSQL allows".
        let ms = limit.as_millis().clamp(1, i32::MAX as u128);
        options.push_str(&format!("-c statement_timeout={ms}"));
        pg.options(options);
    }
    let manager = Manager {
        config: pg,
        tls,
        statement_cache_size: cfg.statement_cache_size,
    };
    Pool::builder(manager)
        .max_size(cfg.pool_max.max(1))
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| DbError::unavailable(format!("cannot build the connection pool: {e}")))
}

/// `3D000` (invalid_catalog_name): the database named in the URL does not exist; or `28000`
/// for a role that does not exist (a tenant's url may name the tenant's own role, which
/// exists exactly when its database does). A password or `pg_hba.conf` refusal is `28P01`
/// or `28000` with another message, and stays an outage.
pub(super) fn missing_database(e: &DbError) -> bool {
    match e.code.as_deref() {
        Some("3D000") => true,
        Some("28000") => e.message.contains("role") && e.message.contains("does not exist"),
        _ => false,
    }
}

/// Runs `work` (statements on `conn`) so that dropping it before it finished cancels what
/// runs on the server and marks `conn` abandoned (see [`Manager::recycle`]).
pub(super) async fn guarded<T>(conn: &PgConn, work: impl Future<Output = T>) -> T {
    let running = Running::start(conn);
    let out = work.await;
    running.finish();
    out
}

/// How long a cancel request may take (it opens a connection of its own); the connection it
/// is for is dropped at its next recycle either way.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);

/// Marks a connection busy while a statement runs; see [`guarded`].
struct Running<'a> {
    conn: &'a PgConn,
    finished: bool,
}

impl<'a> Running<'a> {
    fn start(conn: &'a PgConn) -> Self {
        conn.busy.store(true, Ordering::Release);
        Self {
            conn,
            finished: false,
        }
    }

    fn finish(mut self) {
        self.finished = true;
        self.conn.busy.store(false, Ordering::Release);
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Cancelling needs a round trip on a new connection: off the dropping task. Without
        // a runtime (shutdown) the statement ends when the server notices the closed socket.
        let token = self.conn.client.cancel_token();
        let tls = self.conn.tls.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            // Bounded: a server that does not answer must not collect cancel tasks.
            rt.spawn(async move {
                match tokio::time::timeout(CANCEL_TIMEOUT, token.cancel_query(tls)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %describe(&e), "cannot cancel an abandoned statement")
                    }
                    Err(_) => tracing::warn!("cancelling an abandoned statement timed out"),
                }
            });
        }
    }
}

/// Checks out a connection.
pub(super) async fn client(pool: &Pool) -> Result<Object, DbError> {
    pool.get().await.map_err(|e| {
        super::pool_error(e, |e| {
            let mut err = DbError::unavailable(describe(&e));
            err.code = e.as_db_error().map(|db| db.code().code().to_string());
            err
        })
    })
}

/// Where a statement stands in its transaction: [`fetch_rows_in`] sends `BEGIN` before it
/// and `COMMIT` after it in the same write when asked, so opening and closing a transaction
/// costs no round trips of its own (tokio-postgres pipelines requests that are polled
/// together, in first-poll order, which `futures::join!` keeps).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TxSteps {
    pub(super) begin: bool,
    pub(super) commit: bool,
}

/// The statement that brings `conn`'s session to `settings` (`set_config(…, false)`), when
/// it holds other ones; [`applied`] records the outcome.
fn prelude(conn: &PgConn, settings: &Settings) -> Option<SqlQuery> {
    let change = conn.held.change(settings)?;
    fraiseql_engine::sql::dialect(fraiseql_engine::config::DatabaseKind::Postgresql)
        .session_prelude(&change)
}

/// Records that the prelude ran: otherwise the connection stays unknown and is dropped at
/// its next checkout.
fn applied(conn: &PgConn, settings: &Settings, ran: &Result<(), tokio_postgres::Error>) {
    if ran.is_ok() {
        conn.held.now(settings);
    }
}

/// Runs `q` with `settings`, `BEGIN` and/or `COMMIT` around it as `steps` says, all
/// pipelined: the settings' prelude (when the session holds other ones) goes first, outside
/// the transaction, so a rollback cannot undo it. When the prelude fails, the statement's
/// result is not used. When a statement fails, a pipelined `COMMIT` ends the aborted
/// transaction (PostgreSQL answers it with a rollback), so the connection is not left
/// inside it.
pub(super) async fn fetch_rows_in(
    conn: &PgConn,
    q: &SqlQuery,
    settings: &Settings,
    steps: TxSteps,
) -> Result<Vec<Vec<Option<String>>>, DbError> {
    guarded(conn, async {
        // A hot shape is a cache lookup, no round trip.
        let statement = conn.statement(&q.text).await.map_err(statement_error)?;
        let change = prelude(conn, settings);
        let prelude = match &change {
            Some(p) => Some((
                conn.statement(&p.text).await.map_err(statement_error)?,
                params(&p.params),
            )),
            None => None,
        };
        let params = params(&q.params);
        let client = &conn.client;
        let (set, begun, rows, committed) = futures::join!(
            async {
                match &prelude {
                    Some((statement, params)) => client.query(statement, params).await.map(drop),
                    None => Ok(()),
                }
            },
            batch_if(client, steps.begin, "BEGIN"),
            client.query(&statement, &params),
            batch_if(client, steps.commit, "COMMIT"),
        );
        if prelude.is_some() {
            applied(conn, settings, &set);
        }
        set.map_err(statement_error)?;
        begun.map_err(statement_error)?;
        let rows = rows.map_err(statement_error)?;
        committed.map_err(statement_error)?;
        texts(&rows)
    })
    .await
}

/// Brings `conn`'s session to `settings` when it holds other ones (its own round trip: for
/// statements that cannot carry the prelude in their write).
pub(super) async fn hold(conn: &PgConn, settings: &Settings) -> Result<(), DbError> {
    let Some(p) = prelude(conn, settings) else {
        return Ok(());
    };
    let ran = guarded(conn, async {
        let statement = conn.statement(&p.text).await?;
        conn.client
            .query(&statement, &params(&p.params))
            .await
            .map(drop)
    })
    .await;
    applied(conn, settings, &ran);
    ran.map_err(statement_error)
}

/// Runs `q` inside a transaction, `BEGIN` first when `begin` (its own round trip: rarely used,
/// only by statements whose row count matters).
pub(super) async fn execute_in(conn: &PgConn, q: &SqlQuery, begin: bool) -> Result<u64, DbError> {
    guarded(conn, async {
        batch_if(&conn.client, begin, "BEGIN")
            .await
            .map_err(statement_error)?;
        execute(conn, q).await
    })
    .await
}

pub(super) async fn commit(conn: &PgConn) -> Result<(), DbError> {
    guarded(conn, conn.client.batch_execute("COMMIT"))
        .await
        .map_err(statement_error)
}

/// Runs statements without parameters (DDL) through the simple protocol inside a
/// transaction, `BEGIN` first when `begin`.
pub(super) async fn script_in(conn: &PgConn, sql: &str, begin: bool) -> Result<(), DbError> {
    guarded(conn, async {
        batch_if(&conn.client, begin, "BEGIN").await?;
        conn.client.batch_execute(sql).await
    })
    .await
    .map_err(statement_error)
}

/// A connection outside the pool that keeps its notifications (`LISTEN`), for the events
/// relay (which also holds its session lock on it) and the `pg_notify` forwarder. It ends
/// when dropped.
pub(crate) struct Listener {
    client: Client,
    notes: tokio::sync::mpsc::Receiver<Result<(String, String), DbError>>,
}

impl Listener {
    /// Runs statements without parameters; the first column of the first row, as text.
    pub(crate) async fn first(&self, sql: &str) -> Result<Option<String>, DbError> {
        let messages = self
            .client
            .simple_query(sql)
            .await
            .map_err(statement_error)?;
        Ok(messages.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        }))
    }

    /// The next notification `(channel, payload)`; an error when the connection ended.
    pub(crate) async fn next(&mut self) -> Result<(String, String), DbError> {
        match self.notes.recv().await {
            Some(note) => note,
            None => Err(DbError::unavailable("the listening connection ended")),
        }
    }

    /// Drops the notifications already received (one wake-up covers them all).
    pub(crate) fn drain(&mut self) {
        while self.notes.try_recv().is_ok() {}
    }
}

/// Notifications a [`Listener`] holds for its reader at most.
const NOTIFICATIONS: usize = 1024;

/// Opens a [`Listener`] with the pool's settings (URL, TLS).
pub(super) async fn listener(pool: &Pool) -> Result<Listener, DbError> {
    let manager = pool.manager();
    let (client, mut connection) = manager
        .config
        .connect(manager.tls.clone())
        .await
        .map_err(|e| DbError::unavailable(describe(&e)))?;
    // Bounded: a reader that falls behind loses notifications (the relay's are wake-ups,
    // one standing for many; forwarded channels are best-effort), never memory.
    let (tx, notes) = tokio::sync::mpsc::channel(NOTIFICATIONS);
    tokio::spawn(async move {
        loop {
            let message = futures::future::poll_fn(|cx| connection.poll_message(cx)).await;
            let note = match message {
                Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                    Ok((n.channel().to_owned(), n.payload().to_owned()))
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => Err(DbError::unavailable(describe(&e))),
                None => Err(DbError::unavailable("the listening connection closed")),
            };
            let end = note.is_err();
            match tx.try_send(note) {
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return,
                Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                    tracing::debug!("a notification was dropped: its reader is behind");
                }
                Ok(()) => {}
            }
            if end {
                return;
            }
        }
    });
    Ok(Listener { client, notes })
}

async fn batch_if(client: &Client, send: bool, sql: &str) -> Result<(), tokio_postgres::Error> {
    if send {
        client.batch_execute(sql).await
    } else {
        Ok(())
    }
}

/// Rolls back a transaction nobody committed, off the dropping task; when no runtime is
/// left the connection is closed instead, which rolls back on the server just the same.
/// A connection whose statement was abandoned mid-way is not sent a `ROLLBACK` (it would
/// queue behind the cancelled statement): recycling drops it, and closing it rolls back.
pub(super) fn rollback_detached(client: Object) {
    if client.abandoned() {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn(async move {
                if client.client.batch_execute("ROLLBACK").await.is_err() {
                    drop(Object::take(client));
                }
            });
        }
        Err(_) => drop(Object::take(client)),
    }
}

fn texts(rows: &[tokio_postgres::Row]) -> Result<Vec<Vec<Option<String>>>, DbError> {
    rows.iter()
        .map(|row| {
            (0..row.len())
                .map(|i| {
                    row.try_get::<_, Option<AnyText>>(i)
                        .map(|v| v.map(|t| t.0))
                        .map_err(|e| {
                            DbError::query(format!(
                                "cannot read column {i} as text: {}",
                                describe(&e)
                            ))
                        })
                })
                .collect()
        })
        .collect()
}

/// Runs `q`; the number of rows it affected.
async fn execute(conn: &PgConn, q: &SqlQuery) -> Result<u64, DbError> {
    let statement = conn.statement(&q.text).await.map_err(statement_error)?;
    conn.client
        .execute(&statement, &params(&q.params))
        .await
        .map_err(statement_error)
}

fn params(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| match p {
            Param::Text(s) => s as &(dyn ToSql + Sync),
            Param::Int(i) => i,
            Param::Float(f) => f,
            Param::Bool(b) => b,
        })
        .collect()
}

/// A column read as text whatever its type family: our statements return `text`, but
/// metadata queries and `SELECT 1` return numbers, booleans and JSON.
struct AnyText(String);

impl<'a> FromSql<'a> for AnyText {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let text = match *ty {
            Type::BOOL => bool::from_sql(ty, raw)?.to_string(),
            Type::INT2 => i16::from_sql(ty, raw)?.to_string(),
            Type::INT4 => i32::from_sql(ty, raw)?.to_string(),
            Type::INT8 => i64::from_sql(ty, raw)?.to_string(),
            Type::OID => u32::from_sql(ty, raw)?.to_string(),
            Type::FLOAT4 => f32::from_sql(ty, raw)?.to_string(),
            Type::FLOAT8 => f64::from_sql(ty, raw)?.to_string(),
            // jsonb's binary form is a version byte (1) followed by the JSON text.
            Type::JSONB => match raw.split_first() {
                Some((1, rest)) => std::str::from_utf8(rest)?.to_string(),
                _ => return Err("unsupported jsonb version".into()),
            },
            Type::JSON => std::str::from_utf8(raw)?.to_string(),
            _ => String::from_sql(ty, raw)?,
        };
        Ok(Self(text))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::BOOL
                | Type::INT2
                | Type::INT4
                | Type::INT8
                | Type::OID
                | Type::FLOAT4
                | Type::FLOAT8
                | Type::JSON
                | Type::JSONB
        ) || <String as FromSql>::accepts(ty)
    }
}

/// A statement failure: the database's own error with its SQLSTATE, or a lost connection.
pub(super) fn statement_error(e: tokio_postgres::Error) -> DbError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        return DbError {
            kind: sqlstate_kind(code),
            code: Some(code.to_string()),
            message: db.message().to_string(),
            detail: db.detail().map(str::to_string),
            hint: db.hint().map(str::to_string),
        };
    }
    let kind = if e.is_closed() || e.source().is_some_and(|s| s.is::<std::io::Error>()) {
        DbErrorKind::Unavailable
    } else {
        DbErrorKind::Other
    };
    DbError::new(kind, describe(&e))
}

/// A SQLSTATE as the portable kind. The only place SQLSTATEs are read.
pub(super) fn sqlstate_kind(code: &str) -> DbErrorKind {
    match code {
        "23505" => DbErrorKind::UniqueViolation,
        "23503" => DbErrorKind::ForeignKeyViolation,
        "23502" => DbErrorKind::NotNullViolation,
        "23514" => DbErrorKind::CheckViolation,
        "40001" => DbErrorKind::Serialization,
        "40P01" => DbErrorKind::Deadlock,
        "P0001" => DbErrorKind::Raised,
        // query_canceled: statement_timeout fired (a cancel on drop is never reported).
        "57014" => DbErrorKind::Timeout,
        // Class 22, data exception: a value the column's type cannot hold.
        c if c.starts_with("22") => DbErrorKind::InvalidInput,
        // Class 08, connection exception.
        c if c.starts_with("08") => DbErrorKind::Unavailable,
        // The server ended the session or will not take it: shut down (fast or crashed),
        // starting up or in recovery, the database dropped. Another server may answer (a
        // read replica fails over on this).
        "57P01" | "57P02" | "57P03" | "57P04" => DbErrorKind::Unavailable,
        _ => DbErrorKind::Other,
    }
}

/// tokio-postgres' `Display` names only the error kind; the cause holds the useful part.
fn describe(e: &tokio_postgres::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// `EXPLAIN` of `q`; with `analyze` it runs the statement (the caller rolls it back).
pub(super) fn explain_statement(q: &SqlQuery, analyze: bool) -> SqlQuery {
    let options = if analyze {
        "ANALYZE, BUFFERS, FORMAT TEXT"
    } else {
        "FORMAT TEXT"
    };
    SqlQuery {
        text: format!("EXPLAIN ({options}) {}", q.text),
        params: q.params.clone(),
    }
}

/// PostgreSQL's text plan: one line per row.
pub(super) fn explain_text(rows: &[Vec<Option<String>>]) -> String {
    rows.iter()
        .filter_map(|r| r.first().cloned().flatten())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
#[path = "postgres_tests.rs"]
pub(crate) mod tests;
