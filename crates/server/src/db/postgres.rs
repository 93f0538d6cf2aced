//! PostgreSQL through tokio-postgres and a deadpool pool. Statements are prepared once per
//! connection (`prepare_cached`); the renderer writes explicit casts on every placeholder
//! (`$1::text`, `$2::int8`), so the inferred parameter types always match what we bind.

use super::{DbError, DbErrorKind};
use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime, TimeoutType,
};
use fraiseql_engine::config::DatabaseConfig;
use fraiseql_engine::sql::{Param, SqlQuery};
use std::error::Error as _;
use std::time::Duration;
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::NoTls;

/// Builds the pool; nothing connects until the first checkout.
pub(super) fn pool(url: &str, cfg: &DatabaseConfig) -> Result<Pool, DbError> {
    let mut pg: tokio_postgres::Config = url
        .parse()
        .map_err(|e| DbError::unavailable(format!("invalid PostgreSQL url: {}", describe(&e))))?;
    let timeout = Duration::from_millis(cfg.connect_timeout_ms.max(1));
    pg.connect_timeout(timeout);
    if pg.get_application_name().is_none() {
        pg.application_name("fraiseql");
    }
    if cfg.statement_timeout_ms > 0 {
        // Startup options apply to every connection of the pool, before any statement.
        let mut options = pg
            .get_options()
            .map(|o| format!("{o} "))
            .unwrap_or_default();
        options.push_str(&format!(
            "-c statement_timeout={}",
            cfg.statement_timeout_ms
        ));
        pg.options(options);
    }
    // `Fast` recycling trusts a connection that is not closed; a broken one fails its next
    // statement with `Unavailable` and is dropped (`is_closed`) on the following recycle.
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
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
pub(super) async fn client(pool: &Pool) -> Result<Object, DbError> {
    pool.get().await.map_err(pool_error)
}

/// Where a statement stands in its transaction: [`fetch_rows_in`] sends `BEGIN` before it
/// and `COMMIT` after it in the same write when asked, so opening and closing a transaction
/// costs no round trips of its own (tokio-postgres pipelines requests that are polled
/// together, in first-poll order, which `futures::join!` keeps).
#[derive(Debug, Clone, Copy)]
pub(super) struct TxSteps {
    pub(super) begin: bool,
    pub(super) commit: bool,
}

/// Runs `q` inside a transaction, with `BEGIN` and/or `COMMIT` pipelined around it. When the
/// statement fails, a pipelined `COMMIT` ends the aborted transaction (PostgreSQL answers it
/// with a rollback), so the connection is not left inside it.
pub(super) async fn fetch_rows_in(
    client: &Object,
    q: &SqlQuery,
    steps: TxSteps,
) -> Result<Vec<Vec<Option<String>>>, DbError> {
    // Prepared once per connection; afterwards this is a cache lookup, no round trip.
    let statement = client
        .prepare_cached(&q.text)
        .await
        .map_err(statement_error)?;
    let params = params(&q.params);
    let (begun, rows, committed) = futures::join!(
        batch_if(client, steps.begin, "BEGIN"),
        client.query(&statement, &params),
        batch_if(client, steps.commit, "COMMIT"),
    );
    begun.map_err(statement_error)?;
    let rows = rows.map_err(statement_error)?;
    committed.map_err(statement_error)?;
    texts(&rows)
}

/// Runs `q` inside a transaction, `BEGIN` first when `begin` (its own round trip: rarely used,
/// only by statements whose row count matters).
pub(super) async fn execute_in(client: &Object, q: &SqlQuery, begin: bool) -> Result<u64, DbError> {
    batch_if(client, begin, "BEGIN")
        .await
        .map_err(statement_error)?;
    execute(client, q).await
}

pub(super) async fn commit(client: &Object) -> Result<(), DbError> {
    client
        .batch_execute("COMMIT")
        .await
        .map_err(statement_error)
}

async fn batch_if(client: &Object, send: bool, sql: &str) -> Result<(), tokio_postgres::Error> {
    if send {
        client.batch_execute(sql).await
    } else {
        Ok(())
    }
}

/// Rolls back a transaction nobody committed, off the dropping task; when no runtime is
/// left the connection is closed instead, which rolls back on the server just the same.
pub(super) fn rollback_detached(client: Object) {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn(async move {
                if client.batch_execute("ROLLBACK").await.is_err() {
                    drop(Object::take(client));
                }
            });
        }
        Err(_) => drop(Object::take(client)),
    }
}

/// Runs `q`; every row, every column as text.
pub(super) async fn fetch_rows(
    client: &Object,
    q: &SqlQuery,
) -> Result<Vec<Vec<Option<String>>>, DbError> {
    let outside = TxSteps {
        begin: false,
        commit: false,
    };
    fetch_rows_in(client, q, outside).await
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
pub(super) async fn execute(client: &Object, q: &SqlQuery) -> Result<u64, DbError> {
    let statement = client
        .prepare_cached(&q.text)
        .await
        .map_err(statement_error)?;
    client
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

/// A checkout failure: the database is unreachable, or every connection is busy.
fn pool_error(e: PoolError) -> DbError {
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
            let mut err = DbError::unavailable(describe(&e));
            if let Some(db) = e.as_db_error() {
                err.sqlstate = Some(db.code().code().to_string());
            }
            err
        }
        PoolError::Closed => DbError::unavailable("the connection pool is closed"),
        PoolError::NoRuntimeSpecified => DbError::unavailable("the pool has no runtime"),
        PoolError::PostCreateHook(e) => DbError::unavailable(e.to_string()),
    }
}

/// A statement failure: the database's own error with its SQLSTATE, or a lost connection.
pub(super) fn statement_error(e: tokio_postgres::Error) -> DbError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        // 57014 query_canceled: statement_timeout fired.
        let kind = if code == "57014" {
            DbErrorKind::Timeout
        } else {
            DbErrorKind::Query
        };
        return DbError {
            kind,
            sqlstate: Some(code.to_string()),
            message: db.message().to_string(),
            detail: db.detail().map(str::to_string),
            hint: db.hint().map(str::to_string),
        };
    }
    let kind = if e.is_closed() || e.source().is_some_and(|s| s.is::<std::io::Error>()) {
        DbErrorKind::Unavailable
    } else {
        DbErrorKind::Query
    };
    DbError::new(kind, describe(&e))
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

#[cfg(test)]
#[path = "postgres_tests.rs"]
pub(crate) mod tests;
