//! The database side of events: installing the outbox and the capture triggers, the relay's
//! lease and statements, handler calls with their dedupe, and dead letters.
//! TEMPORARY STUB: replaced by the helper's implementation at merge.

use crate::db::{Database, DbError};
use fraiseql_engine::config::ObserversConfig;
use std::time::Duration;

pub(crate) struct OutboxRow {
    pub(crate) seq: i64,
    pub(crate) id: String,
    pub(crate) subject: String,
    pub(crate) op: String,
    pub(crate) source: Option<String>,
    pub(crate) body: String,
    pub(crate) row: String,
    pub(crate) tenant: Option<String>,
    pub(crate) time: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct InstallError(String);

pub(crate) async fn install_script(
    _db: &Database,
    _observers: &ObserversConfig,
) -> Result<Vec<String>, InstallError> {
    todo!()
}
pub(crate) async fn install(
    _db: &Database,
    _observers: &ObserversConfig,
) -> Result<(), InstallError> {
    todo!()
}
pub(crate) async fn pending(_db: &Database, _limit: usize) -> Result<Vec<OutboxRow>, DbError> {
    todo!()
}
pub(crate) async fn mark_published(_db: &Database, _seqs: &[i64]) -> Result<(), DbError> {
    todo!()
}
pub(crate) async fn mark_failed(_db: &Database, _seq: i64, _error: &str) -> Result<(), DbError> {
    todo!()
}
pub(crate) async fn purge(_db: &Database, _age: Duration) -> Result<u64, DbError> {
    todo!()
}
pub(crate) async fn depth(_db: &Database) -> Result<(u64, Option<f64>), DbError> {
    todo!()
}
pub(crate) struct Lease;
impl Lease {
    pub(crate) async fn try_acquire(_db: &Database) -> Result<Option<Lease>, DbError> {
        todo!()
    }
    pub(crate) async fn wait(&mut self, _max: Duration) -> Result<(), DbError> {
        todo!()
    }
}
pub(crate) enum Handled {
    Done,
    Duplicate,
}
pub(crate) async fn handle(
    _db: &Database,
    _handler: &str,
    _consumer: &str,
    _event_id: &str,
    _body: &str,
    _headers: &str,
) -> Result<Handled, DbError> {
    todo!()
}
#[allow(clippy::too_many_arguments)]
pub(crate) async fn dead_letter(
    _db: &Database,
    _consumer: &str,
    _subject: &str,
    _event_id: &str,
    _body: &str,
    _headers: &str,
    _error: &str,
    _deliveries: u32,
) -> Result<(), DbError> {
    todo!()
}
pub(crate) async fn listen(
    _db: &Database,
    _channels: &[String],
) -> Result<impl futures::Stream<Item = Result<(String, String), DbError>> + Send + 'static, DbError>
{
    Ok(futures::stream::empty())
}
