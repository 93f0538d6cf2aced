//! MySQL and MariaDB through mysql_async, pooled by deadpool with our own [`Manager`] (as
//! for PostgreSQL: the same abandon-and-discard rule, the same upkeep). Statements are
//! prepared through mysql_async's per-connection LRU (`statement_cache_size`).
//!
//! Every connection is set up for the dialect (`sql/mysql.rs` relies on it): `utf8mb4` with
//! the `utf8mb4_nopad_bin` collation, `sql_mode` gains `NO_BACKSLASH_ESCAPES`, `group_concat_max_len` is raised to its maximum (MariaDB
//! builds `JSON_ARRAYAGG` on `GROUP_CONCAT` and would cut a long array into invalid JSON),
//! MariaDB's join order weighs `LIMIT` (`optimizer_join_limit_pref_ratio`, where known), and
//! the statement timeout is the session's `max_statement_time` (MariaDB) or
//! `max_execution_time` (MySQL 8, which bounds only SELECT).
//!
//! A statement whose future is dropped (deadline, client gone) is ended with `KILL QUERY`
//! sent on a connection of its own (same TLS), and its connection is never handed out again.
//! TLS is chosen by `sslmode` in the URL (`tls.rs`).

use super::settings::{Held, Settings};
use super::{tls, DbError, DbErrorKind};
use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use deadpool::Runtime;
use fraiseql_engine::config::DatabaseConfig;
use fraiseql_engine::sql::{Param, SqlQuery};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Params, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The pool of MySQL/MariaDB connections.
pub(super) type Pool = managed::Pool<Manager>;
/// A checked-out connection; back to the pool when dropped.
pub(super) type Object = managed::Object<Manager>;

/// Opens connections for the pool.
pub(super) struct Manager {
    opts: Opts,
    /// From `sslmode` (see `tls.rs`): every connection opens through it.
    tls: tls::MysqlTls,
    statement_timeout: Option<Duration>,
}

/// One connection and whether a statement was abandoned on it.
pub(super) struct MyConn {
    conn: Conn,
    /// Set while a statement runs; still set after its future was dropped mid-way.
    busy: Arc<AtomicBool>,
    /// The request settings the session holds as user variables (`settings.rs`).
    held: Held,
}

impl MyConn {
    /// Whether a statement was abandoned on this connection (or one is running now).
    pub(super) fn abandoned(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }
}

impl managed::Manager for Manager {
    type Type = MyConn;
    type Error = mysql_async::Error;

    async fn create(&self) -> Result<MyConn, mysql_async::Error> {
        let mut conn = self
            .tls
            .connect(OptsBuilder::from_opts(self.opts.clone()))
            .await?;
        let version: Option<String> = conn.query_first("SELECT VERSION()").await?;
        let mariadb = version.is_some_and(|v| v.contains("MariaDB"));
        // The connection's collation is the one the dialect compares with, so literals,
        // JSON keys and bound values mix with it without "illegal mix of collations". (MySQL
        // 8 names it utf8mb4_0900_bin: a MySQL server would need both names chosen here and
        // in the dialect; CI runs MariaDB only.)
        let mut setup = String::from(
            "SET NAMES utf8mb4 COLLATE utf8mb4_nopad_bin, \
             SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_BACKSLASH_ESCAPES'), \
             SESSION group_concat_max_len = 4294967295",
        );
        if let Some(limit) = self.statement_timeout {
            if mariadb {
                // Seconds, fractions allowed.
                setup.push_str(&format!(
                    ", SESSION max_statement_time = {:.3}",
                    limit.as_secs_f64()
                ));
            } else {
                let ms = limit.as_millis().clamp(1, u32::MAX as u128);
                setup.push_str(&format!(", SESSION max_execution_time = {ms}"));
            }
        }
        if mariadb && has_variable(&mut conn, "optimizer_join_limit_pref_ratio").await? {
            // MariaDB picks a join order without regard to `LIMIT`: a page of a view that
            // joins (`v_order` joins its customer) was read by joining every row and sorting
            // them all (0.7 s for 100 rows of 100k). With this (10.6.19, 10.11.9, 11.4.3 and
            // later) it also costs the order that reads the sort key's index and stops at the
            // limit (2 ms); bench/BENCHMARKS.md, W1 and W3.
            setup.push_str(", SESSION optimizer_join_limit_pref_ratio = 100");
        }
        conn.query_drop(setup).await?;
        Ok(MyConn {
            conn,
            busy: Arc::new(AtomicBool::new(false)),
            held: Held::default(),
        })
    }

    /// Drops a connection whose statement was abandoned (it may still be running until the
    /// `KILL QUERY` lands) or that the server closed.
    async fn recycle(
        &self,
        conn: &mut MyConn,
        metrics: &Metrics,
    ) -> RecycleResult<mysql_async::Error> {
        if conn.conn.is_disconnected() {
            return Err(RecycleError::message("connection closed"));
        }
        if conn.abandoned() {
            return Err(RecycleError::message("a statement was abandoned on it"));
        }
        if conn.held.unknown() {
            return Err(RecycleError::message("its session settings are unknown"));
        }
        // Nothing reads an idle connection's socket, so one the server closed (a restart,
        // `wait_timeout`, `KILL`) looks open until a statement fails on it. One that has
        // rested is pinged first; under load connections are reused at once and skip this.
        if metrics.last_used() >= IDLE_PING_AFTER {
            conn.conn.ping().await?;
        }
        Ok(())
    }
}

/// How long a pooled connection may rest before it is pinged on checkout.
pub(super) const IDLE_PING_AFTER: Duration = Duration::from_millis(200);

/// Whether the server knows a system variable (they differ across MySQL and MariaDB
/// versions, and setting an unknown one is an error).
async fn has_variable(conn: &mut Conn, name: &'static str) -> Result<bool, mysql_async::Error> {
    // `SHOW` takes no placeholders; `name` is one of our constants.
    let row: Option<(String, String)> = conn
        .query_first(format!("SHOW VARIABLES LIKE '{name}'"))
        .await?;
    Ok(row.is_some())
}

/// The URL as mysql_async reads it: `mariadb://` is our alias of `mysql://`.
fn driver_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("mariadb") => format!("mysql://{rest}"),
        _ => url.to_string(),
    }
}

/// Builds the pool; nothing connects until the first checkout.
pub(super) fn pool(
    url: &str,
    cfg: &DatabaseConfig,
    statement_timeout: Option<Duration>,
) -> Result<Pool, DbError> {
    let (url, tls_settings) = tls::settings(url, cfg)?;
    let tls = tls::mysql_tls(&tls_settings)?;
    let opts = Opts::from_url(&driver_url(&url))
        .map_err(|e| DbError::unavailable(format!("invalid MySQL url: {e}")))?;
    let opts: Opts = OptsBuilder::from_opts(opts)
        .stmt_cache_size(cfg.statement_cache_size)
        .into();
    let timeout = Duration::from_millis(cfg.connect_timeout_ms.max(1));
    let manager = Manager {
        opts,
        tls,
        statement_timeout,
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

/// Checks out a connection.
pub(super) async fn conn(pool: &Pool) -> Result<Object, DbError> {
    pool.get()
        .await
        .map_err(|e| super::pool_error(e, |e| mysql_error(&e)))
}

/// How long a `KILL QUERY` may take (it opens a connection of its own).
const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);

/// Marks a connection busy while a statement runs; dropped before [`Running::finish`], it
/// kills the statement on the server.
struct Running {
    busy: Arc<AtomicBool>,
    opts: Opts,
    id: u32,
    finished: bool,
}

impl Running {
    fn start(conn: &MyConn) -> Self {
        conn.busy.store(true, Ordering::Release);
        Self {
            busy: conn.busy.clone(),
            opts: conn.conn.opts().clone(),
            id: conn.conn.id(),
            finished: false,
        }
    }

    fn finish(mut self) {
        self.finished = true;
        self.busy.store(false, Ordering::Release);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let (opts, id) = (self.opts.clone(), self.id);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let kill = async {
                    let mut killer = Conn::new(opts).await?;
                    killer.query_drop(format!("KILL QUERY {id}")).await?;
                    killer.disconnect().await
                };
                match tokio::time::timeout(CANCEL_TIMEOUT, kill).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "cannot kill an abandoned statement")
                    }
                    Err(_) => tracing::warn!("killing an abandoned statement timed out"),
                }
            });
        }
    }
}

/// A result set: column names and rows, every column as text.
pub(super) type Named = (Vec<String>, Vec<Vec<Option<String>>>);

/// Runs `q` and reads its first result set (a `CALL` may return several; the rest are
/// drained), guarded: dropping the future kills the statement.
pub(super) async fn fetch_named(conn: &mut MyConn, q: &SqlQuery) -> Result<Named, DbError> {
    let running = Running::start(conn);
    let out = async {
        let mut result = conn
            .conn
            .exec_iter(q.text.as_str(), params(&q.params))
            .await?;
        let columns: Vec<String> = result
            .columns_ref()
            .iter()
            .map(|c| c.name_str().into_owned())
            .collect();
        let rows: Vec<mysql_async::Row> = result.collect().await?;
        result.drop_result().await?;
        let rows = rows
            .into_iter()
            .map(|r| r.unwrap().into_iter().map(text).collect())
            .collect();
        Ok::<_, mysql_async::Error>((columns, rows))
    }
    .await
    .map_err(|e| mysql_error(&e));
    running.finish();
    out
}

/// Runs `q`; every row, every column as text.
pub(super) async fn fetch_rows(
    conn: &mut MyConn,
    q: &SqlQuery,
) -> Result<Vec<Vec<Option<String>>>, DbError> {
    fetch_named(conn, q).await.map(|(_, rows)| rows)
}

/// Runs `q`; the number of rows it affected.
pub(super) async fn execute(conn: &mut MyConn, q: &SqlQuery) -> Result<u64, DbError> {
    let running = Running::start(conn);
    let out = conn
        .conn
        .exec_drop(q.text.as_str(), params(&q.params))
        .await
        .map(|()| conn.conn.affected_rows())
        .map_err(|e| mysql_error(&e));
    running.finish();
    out
}

/// Brings the session's user variables to `settings` when it holds other ones (one
/// `SET @\`app.x\` = ?, …`; nothing when they are the same).
pub(super) async fn hold(conn: &mut MyConn, settings: &Settings) -> Result<(), DbError> {
    let Some(change) = conn.held.change(settings) else {
        return Ok(());
    };
    let Some(set) = fraiseql_engine::sql::dialect(fraiseql_engine::config::DatabaseKind::Mysql)
        .session_prelude(&change)
    else {
        // Nothing to assign: only a connection already unknown gets here, and it stays so.
        return Ok(());
    };
    execute(conn, &set).await?;
    conn.held.now(settings);
    Ok(())
}

/// Runs a statement without parameters (`BEGIN`, `COMMIT`), guarded.
pub(super) async fn plain(conn: &mut MyConn, sql: &str) -> Result<(), DbError> {
    let running = Running::start(conn);
    let out = conn.conn.query_drop(sql).await.map_err(|e| mysql_error(&e));
    running.finish();
    out
}

/// A set-up connection taken out of the pool for good (the events relay holds its named lock
/// on it); closed when dropped.
pub(crate) struct Session(MyConn);

impl Session {
    /// Runs a statement without parameters; the first column of the first row, as text.
    pub(crate) async fn first(&mut self, sql: &str) -> Result<Option<String>, DbError> {
        let row: Option<Option<String>> = self
            .0
            .conn
            .query_first(sql)
            .await
            .map_err(|e| mysql_error(&e))?;
        Ok(row.flatten())
    }
}

pub(super) async fn session(pool: &Pool) -> Result<Session, DbError> {
    Ok(Session(Object::take(conn(pool).await?)))
}

/// Rolls back a transaction nobody committed, off the dropping task. A connection whose
/// statement was abandoned is left to recycling, which drops it (closing rolls back).
pub(super) fn rollback_detached(mut conn: Object) {
    if conn.abandoned() {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn(async move {
                if plain(&mut conn, "ROLLBACK").await.is_err() {
                    drop(Object::take(conn));
                }
            });
        }
        Err(_) => drop(Object::take(conn)),
    }
}

fn params(params: &[Param]) -> Params {
    if params.is_empty() {
        return Params::Empty;
    }
    Params::Positional(
        params
            .iter()
            .map(|p| match p {
                Param::Text(s) => Value::Bytes(s.clone().into_bytes()),
                Param::Int(i) => Value::Int(*i),
                Param::Float(f) => Value::Double(*f),
                Param::Bool(b) => Value::Int(i64::from(*b)),
            })
            .collect(),
    )
}

/// A value as text: our statements return JSON text; metadata and `SELECT 1` return
/// numbers and dates.
fn text(v: Value) -> Option<String> {
    Some(match v {
        Value::NULL => return None,
        Value::Bytes(b) => String::from_utf8(b)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Double(d) => d.to_string(),
        Value::Date(y, mo, d, h, mi, s, us) => {
            format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
        }
        Value::Time(neg, d, h, mi, s, us) => format!(
            "{}{}:{mi:02}:{s:02}.{us:06}",
            if neg { "-" } else { "" },
            u32::from(h) + d * 24
        ),
    })
}

/// A driver error as the portable kind; the server's code goes to `code` for the log.
pub(super) fn mysql_error(e: &mysql_async::Error) -> DbError {
    match e {
        mysql_async::Error::Server(s) => DbError {
            kind: server_kind(s.code, &s.state),
            code: Some(s.code.to_string()),
            message: s.message.clone(),
            detail: None,
            hint: None,
        },
        mysql_async::Error::Io(_) | mysql_async::Error::Driver(_) => {
            DbError::unavailable(e.to_string())
        }
        mysql_async::Error::Url(_) | mysql_async::Error::Other(_) => DbError::query(e.to_string()),
    }
}

/// ER_BAD_DB_ERROR (1049): the database named in the URL does not exist.
pub(super) fn missing_database(e: &DbError) -> bool {
    e.code.as_deref() == Some("1049")
}

/// A MySQL/MariaDB error number as the portable kind. The only place they are read.
pub(super) fn server_kind(code: u16, state: &str) -> DbErrorKind {
    match code {
        1062 | 1586 => DbErrorKind::UniqueViolation,
        1216 | 1217 | 1451 | 1452 => DbErrorKind::ForeignKeyViolation,
        1048 | 1364 => DbErrorKind::NotNullViolation,
        // MariaDB CONSTRAINT_FAILED, MySQL ER_CHECK_CONSTRAINT_VIOLATED.
        4025 | 3819 => DbErrorKind::CheckViolation,
        1213 => DbErrorKind::Deadlock,
        // Lock wait timeout; MariaDB max_statement_time; MySQL max_execution_time.
        1205 | 1969 | 3024 => DbErrorKind::Timeout,
        // SIGNAL SQLSTATE '45000' in a procedure or trigger: the author's message.
        1644 => DbErrorKind::Raised,
        // Access denied, unknown database, too many connections, server shutdown,
        // connection killed, gone away, lost.
        1040 | 1044 | 1045 | 1049 | 1053 | 1927 | 2006 | 2013 => DbErrorKind::Unavailable,
        // SQLSTATE class 22, data exception: a value the column's type cannot hold.
        _ if state.starts_with("22") => DbErrorKind::InvalidInput,
        _ => DbErrorKind::Other,
    }
}

/// The plan of `q` as JSON (`EXPLAIN FORMAT=JSON`); with `analyze` the statement runs
/// (`ANALYZE FORMAT=JSON` on MariaDB; the caller rolls it back).
pub(super) fn explain_statement(q: &SqlQuery, analyze: bool) -> SqlQuery {
    let verb = if analyze { "ANALYZE" } else { "EXPLAIN" };
    SqlQuery {
        text: format!("{verb} FORMAT=JSON {}", q.text),
        params: q.params.clone(),
    }
}

/// The JSON plan: one row, one column.
pub(super) fn explain_text(rows: &[Vec<Option<String>>]) -> String {
    rows.iter()
        .filter_map(|r| r.first().cloned().flatten())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
#[path = "mysql_tests.rs"]
pub(crate) mod tests;
