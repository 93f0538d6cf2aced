//! SQLite through rusqlite and a deadpool pool. rusqlite is blocking, so every statement
//! runs in `interact` on a blocking thread. Each new connection gets WAL, a 5 s busy
//! timeout, foreign keys and case-sensitive LIKE (the renderer relies on LIKE matching case
//! as it does on PostgreSQL). Placeholders are `?N`, bound by position.
//!
//! Every statement runs through [`run`]: past the statement timeout it is interrupted
//! (`sqlite3_interrupt`) and fails with `Timeout`; when its future is dropped before it
//! finished (request deadline, client gone) it is interrupted too, since the blocking
//! thread would otherwise run it to the end while holding the connection.

use super::{DbError, DbErrorKind};
use deadpool_sqlite::{Hook, HookError, InteractError, Object, Pool, PoolError, Runtime};
use fraiseql_engine::config::DatabaseConfig;
use fraiseql_engine::sql::{Param, SqlQuery};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{ffi, params_from_iter, Connection, InterruptHandle};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Applied to every new connection.
const CONNECTION_SETUP: &str = "\
PRAGMA journal_mode = WAL;
PRAGMA foreign_keys = ON;
PRAGMA case_sensitive_like = ON;";

/// Applied to every new connection of a read replica: nothing that writes (the journal mode
/// is the file's owner's to choose), and writes refused outright.
const REPLICA_SETUP: &str = "\
PRAGMA case_sensitive_like = ON;
PRAGMA query_only = ON;";

/// What a pool may do to its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// The database itself: created when missing, switched to WAL.
    ReadWrite,
    /// A read replica, a file kept up to date by something else (a copy, a restore): opened
    /// read-only, so a replica that is missing cannot be opened (the read goes to another
    /// server) instead of being created empty, and the file is never changed.
    ReadOnly,
}

/// Where a SQLite URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Location {
    Memory,
    File(PathBuf),
}

/// Accepts `sqlite::memory:`, `sqlite://./rel.db`, `sqlite:///abs.db`, `sqlite://rel.db`,
/// `sqlite:rel.db`, `file:…` and plain paths. A `?query` suffix is ignored.
pub(super) fn location(url: &str) -> Result<Location, DbError> {
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
    if rest == ":memory:" || rest == "//:memory:" {
        return Ok(Location::Memory);
    }
    // `sqlite:///abs` -> `/abs`; `sqlite://rel` -> `rel`.
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path.is_empty() {
        return Err(DbError::unavailable(format!(
            "SQLite url '{url}' names no file"
        )));
    }
    Ok(Location::File(PathBuf::from(path)))
}

/// Builds the pool; the file is opened (and, with [`Access::ReadWrite`], created if missing)
/// at the first checkout.
pub(super) fn pool(url: &str, cfg: &DatabaseConfig, access: Access) -> Result<Pool, DbError> {
    // rusqlite's statement cache is bounded already (LRU); it takes the same size as
    // PostgreSQL's, at least one so `prepare_cached` keeps working.
    let statement_cache_size = cfg.statement_cache_size.max(1);
    let (path, max) = match (location(url)?, access) {
        // Each connection to `:memory:` would be its own empty database: keep one.
        (Location::Memory, _) => (PathBuf::from(":memory:"), 1),
        (Location::File(path), Access::ReadWrite) => (path, cfg.pool_max.max(1)),
        (Location::File(path), Access::ReadOnly) => (read_only(&path)?, cfg.pool_max.max(1)),
    };
    let connection_setup = match access {
        Access::ReadWrite => CONNECTION_SETUP,
        Access::ReadOnly => REPLICA_SETUP,
    };
    let timeout = Duration::from_millis(cfg.connect_timeout_ms.max(1));
    // Connections of this pool are set up one at a time: switching a fresh file to WAL
    // needs an exclusive lock, and two connections doing it at once (a request and the
    // `pool_min` warm-up) make one fail with "database is locked" without waiting.
    let setup = Arc::new(std::sync::Mutex::new(()));
    deadpool_sqlite::Config::new(path)
        .builder(Runtime::Tokio1)
        .map_err(|e| DbError::unavailable(e.to_string()))?
        .max_size(max)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .post_create(Hook::async_fn(move |conn, _| {
            let setup = setup.clone();
            Box::pin(async move {
                conn.interact(move |c| {
                    // A poisoned lock only means another setup panicked; ours can still run.
                    let _one_at_a_time = setup.lock().unwrap_or_else(|e| e.into_inner());
                    c.set_prepared_statement_cache_capacity(statement_cache_size);
                    c.busy_timeout(Duration::from_millis(5000))?;
                    session_settings(c)?;
                    c.execute_batch(connection_setup)
                })
                .await
                .map_err(|e| HookError::message(e.to_string()))?
                .map_err(HookError::Backend)
            })
        }))
        .build()
        .map_err(|e| DbError::unavailable(format!("cannot build the connection pool: {e}")))
}

/// The request settings of one connection (`[auth] claims`): `fraiseql_set_config(name,
/// value, …)` replaces them (the dialect's session prelude, run before each request's
/// statements), `current_setting(name [, missing_ok])` reads one as PostgreSQL's does (an
/// unknown name is an error, or NULL with `missing_ok`), so views read claims the same way
/// on both.
fn session_settings(c: &rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    let settings: Arc<std::sync::Mutex<std::collections::HashMap<String, String>>> = Arc::default();
    let write = settings.clone();
    c.create_scalar_function(
        "fraiseql_set_config",
        -1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
        move |ctx| {
            let mut map = write.lock().unwrap_or_else(|e| e.into_inner());
            map.clear();
            for i in (0..ctx.len()).step_by(2) {
                let name: String = ctx.get(i)?;
                let value: String = ctx.get(i + 1)?;
                map.insert(name, value);
            }
            Ok(true)
        },
    )?;
    c.create_scalar_function(
        "current_setting",
        -1,
        FunctionFlags::SQLITE_UTF8,
        move |ctx| {
            let name: String = ctx.get(0)?;
            let missing_ok = ctx.len() > 1 && ctx.get::<bool>(1)?;
            let map = settings.lock().unwrap_or_else(|e| e.into_inner());
            match map.get(&name) {
                Some(v) => Ok(Some(v.clone())),
                None if missing_ok => Ok(None),
                None => Err(rusqlite::Error::UserFunctionError(
                    format!("unrecognized configuration parameter \"{name}\"").into(),
                )),
            }
        },
    )
}

/// `path` as an SQLite URI that opens it read-only and never creates it (rusqlite opens
/// with `SQLITE_OPEN_URI`). `%`, `?` and `#` would end or escape the path in a URI.
fn read_only(path: &std::path::Path) -> Result<PathBuf, DbError> {
    let text = path.to_str().ok_or_else(|| {
        DbError::unavailable(format!(
            "SQLite path '{}' is not UTF-8",
            path.to_string_lossy()
        ))
    })?;
    let escaped = text
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23");
    Ok(PathBuf::from(format!("file:{escaped}?mode=ro")))
}

/// Checks out a connection.
pub(super) async fn conn(pool: &Pool) -> Result<Object, DbError> {
    pool.get().await.map_err(pool_error)
}

/// Whose turn it is to write: one per database file. SQLite lets one writer in at a time
/// and makes the others sleep in its busy handler, with growing pauses (hundreds of
/// milliseconds under contention); queueing the writers of this process here instead hands
/// the lock over as soon as it is free, in arrival order. The busy timeout still covers
/// writers in other processes.
pub(super) type WriteTurn = Arc<tokio::sync::Mutex<()>>;

/// A connection inside a write transaction, holding this process's write turn until the
/// transaction ends.
pub(super) struct WriteConn {
    pub(super) conn: Object,
    turn: tokio::sync::OwnedMutexGuard<()>,
}

/// A pool and what its statements are allowed: one per SQLite database.
pub(super) struct Sqlite {
    pub(super) pool: Pool,
    pub(super) writer: WriteTurn,
    /// The resolved statement timeout (`None`: unbounded).
    pub(super) limit: Option<Duration>,
}

/// Runs `work` on the connection's blocking thread, interrupting it past `limit` (an error
/// of kind `Timeout`) or when this future is dropped before it finished.
///
/// A dropped statement's connection goes back to the pool at once, yet it is not handed out
/// busy: checkout recycles it with a statement of its own, which waits for the interrupted
/// one to return (promptly: SQLite checks the interrupt flag between steps) and replaces
/// the connection if that takes longer than the recycle timeout. Detaching it instead
/// would lose an in-memory database, whose only connection it is.
pub(super) async fn run<T, F>(conn: &Object, limit: Option<Duration>, work: F) -> Result<T, DbError>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
{
    // Nothing runs on a connection just checked out (or kept by a transaction between
    // statements), so the lock is free; if it is not, the statement runs unguarded.
    let handle = conn.try_lock().ok().map(|c| c.get_interrupt_handle());
    let guard = Interrupt(handle);
    let interact = conn.interact(work);
    let Some(limit) = limit else {
        let outcome = interact.await;
        guard.disarm();
        return outcome.map_err(interact_error)?.map_err(sqlite_error);
    };
    tokio::pin!(interact);
    let timed_out = match tokio::time::timeout(limit, &mut interact).await {
        Ok(outcome) => {
            guard.disarm();
            return outcome.map_err(interact_error)?.map_err(sqlite_error);
        }
        Err(_) => limit,
    };
    // Wait for the interrupted statement, so the connection is free again when we return.
    guard.interrupt();
    let outcome = interact.await;
    guard.disarm();
    match outcome.map_err(interact_error)? {
        Err(e) if !interrupted(&e) => Err(sqlite_error(e)),
        // Interrupted, or it finished just as the limit passed: too late either way.
        _ => Err(DbError::new(
            DbErrorKind::Timeout,
            format!("statement interrupted after {} ms", timed_out.as_millis()),
        )),
    }
}

fn interrupted(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::OperationInterrupted)
}

/// Interrupts the connection's statement when dropped armed.
struct Interrupt(Option<InterruptHandle>);

impl Interrupt {
    fn interrupt(&self) {
        if let Some(handle) = &self.0 {
            handle.interrupt();
        }
    }

    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        self.interrupt();
    }
}

/// Waits for the write turn, checks out a connection and opens a write transaction on it.
///
/// `BEGIN IMMEDIATE` can still wait for the file's lock (another process) on a blocking
/// thread that a cancelled request cannot stop. It runs on a task of its own that owns the
/// connection: when nobody is waiting for it any more (the client went away, the request
/// deadline passed), the task rolls the transaction back instead of letting the connection
/// return to the pool inside it, holding the database's write lock.
pub(super) async fn begin(pool: &Pool, turn: &WriteTurn) -> Result<WriteConn, DbError> {
    let turn = turn.clone().lock_owned().await;
    let conn = conn(pool).await?;
    let (reply, begun) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let result = match batch(&conn, "BEGIN IMMEDIATE", None).await {
            Ok(()) => Ok(WriteConn { conn, turn }),
            Err(e) => Err(e),
        };
        if let Err(Ok(abandoned)) = reply.send(result) {
            rollback_detached(abandoned);
        }
    });
    begun
        .await
        .map_err(|_| DbError::unavailable("the SQLite transaction task ended unexpectedly"))?
}

/// Commits; the write turn passes on when the transaction's value is dropped.
pub(super) async fn commit(w: &WriteConn, limit: Option<Duration>) -> Result<(), DbError> {
    batch(&w.conn, "COMMIT", limit).await
}

/// Rolls back a transaction nobody committed, off the dropping task, keeping the write turn
/// until it is done; without a runtime the connection is closed instead, which discards the
/// transaction.
pub(super) fn rollback_detached(w: WriteConn) {
    let WriteConn { conn, turn } = w;
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn(async move {
                // An interrupted write has rolled its transaction back already; the
                // connection is fine if it is back in autocommit mode.
                let clean = conn
                    .interact(|c| c.execute_batch("ROLLBACK").is_ok() || c.is_autocommit())
                    .await;
                if !matches!(clean, Ok(true)) {
                    drop(Object::take(conn));
                }
                drop(turn);
            });
        }
        Err(_) => drop(Object::take(conn)),
    }
}

async fn batch(conn: &Object, sql: &'static str, limit: Option<Duration>) -> Result<(), DbError> {
    run(conn, limit, move |c| c.execute_batch(sql)).await
}

/// Runs statements without parameters (DDL).
pub(super) async fn script(
    conn: &Object,
    sql: String,
    limit: Option<Duration>,
) -> Result<(), DbError> {
    run(conn, limit, move |c| c.execute_batch(&sql)).await
}

/// Runs `q`; every row, every column as text.
pub(super) async fn fetch_rows(
    conn: &Object,
    q: SqlQuery,
    limit: Option<Duration>,
) -> Result<Vec<Vec<Option<String>>>, DbError> {
    fetch_rows_after(conn, None, q, limit).await
}

/// The statement that gives the connection exactly `settings` (none: clears them). Sent
/// every time rather than tracked: it is a call into this process, not a round trip.
pub(super) fn prelude(settings: &super::Settings) -> Option<SqlQuery> {
    fraiseql_engine::sql::dialect(fraiseql_engine::config::DatabaseKind::Sqlite)
        .session_prelude(settings)
}

/// [`fetch_rows`] after `prelude` (the request's settings) on the same connection, in one
/// call.
pub(super) async fn fetch_rows_after(
    conn: &Object,
    prelude: Option<SqlQuery>,
    q: SqlQuery,
    limit: Option<Duration>,
) -> Result<Vec<Vec<Option<String>>>, DbError> {
    run(conn, limit, move |c| {
        if let Some(p) = &prelude {
            c.prepare_cached(&p.text)?
                .query_row(params_from_iter(p.params.iter().map(value)), |_| Ok(()))?;
        }
        let mut statement = c.prepare_cached(&q.text)?;
        let width = statement.column_count();
        let mut rows = statement.query(params_from_iter(q.params.iter().map(value)))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut columns = Vec::with_capacity(width);
            for i in 0..width {
                columns.push(text(row.get_ref(i)?));
            }
            out.push(columns);
        }
        Ok(out)
    })
    .await
}

/// Runs `q`; the number of rows it changed (or returned, for a statement with results).
pub(super) async fn execute(
    conn: &Object,
    q: SqlQuery,
    limit: Option<Duration>,
) -> Result<u64, DbError> {
    run(conn, limit, move |c| {
        let mut statement = c.prepare_cached(&q.text)?;
        let params = params_from_iter(q.params.iter().map(value));
        if statement.column_count() == 0 {
            return statement.execute(params).map(|n| n as u64);
        }
        let mut rows = statement.query(params)?;
        let mut n = 0;
        while rows.next()?.is_some() {
            n += 1;
        }
        Ok(n)
    })
    .await
}

fn value(p: &Param) -> Value {
    match p {
        Param::Text(s) => Value::Text(s.clone()),
        Param::Int(i) => Value::Integer(*i),
        Param::Float(f) => Value::Real(*f),
        Param::Bool(b) => Value::Integer(i64::from(*b)),
    }
}

fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(b) | ValueRef::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
    }
}

fn pool_error(e: PoolError) -> DbError {
    match e {
        PoolError::Timeout(deadpool_sqlite::TimeoutType::Wait) => DbError::new(
            DbErrorKind::Timeout,
            "timed out waiting for a free database connection",
        ),
        PoolError::Timeout(_) => DbError::unavailable("timed out opening the database"),
        PoolError::Backend(e) => DbError::unavailable(e.to_string()),
        PoolError::Closed => DbError::unavailable("the connection pool is closed"),
        PoolError::NoRuntimeSpecified => DbError::unavailable("the pool has no runtime"),
        PoolError::PostCreateHook(e) => {
            DbError::unavailable(format!("cannot set up the connection: {e}"))
        }
    }
}

fn interact_error(e: InteractError) -> DbError {
    DbError::unavailable(format!("database worker failed: {e}"))
}

/// SQLite result codes as the portable kind: constraint failures by their extended code,
/// `RAISE(ABORT, …)` in a trigger as the author's own error.
pub(super) fn sqlite_error(e: rusqlite::Error) -> DbError {
    let (failure, message) = match &e {
        rusqlite::Error::SqliteFailure(failure, message) => (
            failure,
            message.clone().unwrap_or_else(|| failure.to_string()),
        ),
        // A statement that does not parse (the message quotes the SQL: log only).
        rusqlite::Error::SqlInputError { error, .. } => (error, e.to_string()),
        _ => return DbError::query(e.to_string()),
    };
    DbError {
        kind: result_kind(failure),
        code: Some(failure.extended_code.to_string()),
        message,
        detail: None,
        hint: None,
    }
}

/// The portable kind of a SQLite failure. The only place SQLite result codes are read.
fn result_kind(failure: &rusqlite::ffi::Error) -> DbErrorKind {
    match failure.extended_code {
        ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
            return DbErrorKind::UniqueViolation
        }
        ffi::SQLITE_CONSTRAINT_FOREIGNKEY => return DbErrorKind::ForeignKeyViolation,
        ffi::SQLITE_CONSTRAINT_NOTNULL => return DbErrorKind::NotNullViolation,
        ffi::SQLITE_CONSTRAINT_CHECK => return DbErrorKind::CheckViolation,
        // A STRICT table refusing a value its column type cannot hold.
        ffi::SQLITE_CONSTRAINT_DATATYPE => return DbErrorKind::InvalidInput,
        // RAISE(ABORT, '...') in a trigger: the author's own error, like plpgsql's RAISE.
        ffi::SQLITE_CONSTRAINT_TRIGGER => return DbErrorKind::Raised,
        _ => {}
    }
    match failure.code {
        // Only `run` interrupts, at the statement timeout.
        rusqlite::ErrorCode::OperationInterrupted => DbErrorKind::Timeout,
        // The busy timeout ran out waiting for another connection's lock.
        rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
            DbErrorKind::Timeout
        }
        rusqlite::ErrorCode::TypeMismatch | rusqlite::ErrorCode::TooBig => {
            DbErrorKind::InvalidInput
        }
        rusqlite::ErrorCode::CannotOpen
        | rusqlite::ErrorCode::NotADatabase
        | rusqlite::ErrorCode::PermissionDenied
        | rusqlite::ErrorCode::SystemIoFailure => DbErrorKind::Unavailable,
        _ => DbErrorKind::Other,
    }
}

/// `EXPLAIN QUERY PLAN` of `q` (SQLite has no ANALYZE that runs the statement).
pub(super) fn explain_statement(q: &SqlQuery) -> SqlQuery {
    SqlQuery {
        text: format!("EXPLAIN QUERY PLAN {}", q.text),
        params: q.params.clone(),
    }
}

/// SQLite's plan rows are `(id, parent, notused, detail)`; nest each under its parent.
pub(super) fn explain_text(rows: &[Vec<Option<String>>]) -> String {
    let cell = |r: &Vec<Option<String>>, i: usize| r.get(i).cloned().flatten().unwrap_or_default();
    let mut depth: Vec<(String, usize)> = Vec::new();
    let mut out = Vec::new();
    for row in rows {
        let (id, parent, detail) = (cell(row, 0), cell(row, 1), cell(row, 3));
        let level = depth
            .iter()
            .find(|(i, _)| *i == parent)
            .map(|(_, d)| d + 1)
            .unwrap_or(0);
        depth.push((id, level));
        out.push(format!("{}{detail}", "  ".repeat(level)));
    }
    out.join("\n")
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;
