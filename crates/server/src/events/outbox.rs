//! The database side of events: installing the outbox and the capture triggers, the relay's
//! lease and statements, handler calls with their dedupe, and dead letters. The SQL comes
//! from the engine's [`Outbox`] of the database's dialect; this file runs it.

use crate::db::{Database, DbError, DbErrorKind, Reads, Session};
use fraiseql_engine::config::ObserversConfig;
use fraiseql_engine::sql::{outbox_sql, Capture, Outbox, SqlQuery, PENDING_COLUMNS};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An SQLite lease lasts this long unless renewed (renewed at a third of it).
const SQLITE_LEASE: Duration = Duration::from_secs(6);

/// One outbox row, ready to become a message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutboxRow {
    pub(crate) seq: i64,
    /// The event id.
    pub(crate) id: String,
    /// The rule's subject template, or an emitted event's subject.
    pub(crate) subject: String,
    /// `INSERT`, `UPDATE`, `DELETE` or `EMIT`.
    pub(crate) op: String,
    /// The table, for a captured change.
    pub(crate) source: Option<String>,
    /// The message body (JSON text).
    pub(crate) body: String,
    /// The row's JSON (subject placeholders read it); an emitted event's payload.
    pub(crate) row: String,
    pub(crate) tenant: Option<String>,
    /// When the change was captured, RFC 3339.
    pub(crate) time: String,
}

/// Why the outbox could not be installed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InstallError {
    /// A rule names what the database does not have, or its condition is not valid SQL.
    #[error("{0}")]
    Invalid(String),
    #[error("{}", .0.message)]
    Database(DbError),
}

fn sql(db: &Database) -> &'static dyn Outbox {
    outbox_sql(db.kind)
}

/// The statements that install the outbox and the capture triggers of `db`'s rules, the
/// rules checked against its catalog; nothing is applied.
pub(crate) async fn install_script(
    db: &Database,
    observers: &ObserversConfig,
) -> Result<Vec<String>, InstallError> {
    let o = sql(db);
    let catalog = db.load_catalog().await.map_err(InstallError::Database)?;
    let mut captures = Vec::new();
    for (index, rule) in observers.table_rules() {
        if rule.database() != db.name {
            continue;
        }
        let table = rule.table.clone().unwrap_or_default();
        let at = format!("[[observers.rules]] #{} (table `{table}`)", index + 1);
        let relation = catalog.relations.get(&table).ok_or_else(|| {
            InstallError::Invalid(format!(
                "{at}: database `{}` has no table `{table}`",
                db.name
            ))
        })?;
        let columns: Vec<String> = relation.columns.keys().cloned().collect();
        let subject = rule.subject.clone().unwrap_or_default();
        for name in placeholders(&subject) {
            if name != "op" && name != "table" && !columns.iter().any(|c| c == name) {
                return Err(InstallError::Invalid(format!(
                    "{at}: subject `{subject}` names `{{{name}}}`, which is no column of \
                     `{table}` (nor `op` or `table`)"
                )));
            }
        }
        let view = match &rule.payload_view {
            Some(view) => {
                let key = rule.key();
                let found = catalog.relations.get(view).ok_or_else(|| {
                    InstallError::Invalid(format!(
                        "{at}: payload_view `{view}` does not exist in database `{}`",
                        db.name
                    ))
                })?;
                if !found.columns.contains_key(key) || !relation.columns.contains_key(key) {
                    return Err(InstallError::Invalid(format!(
                        "{at}: payload_key `{key}` must be a column of both `{view}` and \
                         `{table}`"
                    )));
                }
                if !found.columns.contains_key("data") {
                    return Err(InstallError::Invalid(format!(
                        "{at}: payload_view `{view}` has no `data` column"
                    )));
                }
                Some((view.clone(), key.to_owned()))
            }
            None => None,
        };
        if let Some(condition) = &rule.condition {
            let check = SqlQuery {
                text: o.check_condition(&table, condition),
                params: vec![],
            };
            db.fetch_all_from(&check, Reads::Primary)
                .await
                .map_err(|e| match e.kind {
                    DbErrorKind::Unavailable | DbErrorKind::Timeout => InstallError::Database(e),
                    _ => InstallError::Invalid(format!(
                        "{at}: condition `{condition}` is not valid SQL over `{table}`: {}",
                        e.message
                    )),
                })?;
        }
        captures.push(Capture {
            index,
            table,
            ops: rule.ops(),
            subject,
            view,
            condition: rule.condition.clone(),
            include_old: rule.include_old,
            columns,
            table_order: observers.ordering == fraiseql_engine::config::Ordering::Table,
        });
    }
    let mut out = o.outbox_tables();
    // Triggers of rules that are gone (or moved) are dropped; the others are replaced.
    let wanted: Vec<String> = captures.iter().flat_map(|c| o.trigger_names(c)).collect();
    if let Ok(installed) = db
        .fetch_all_from(&o.installed_triggers(), Reads::Primary)
        .await
    {
        for row in installed {
            if let [Some(name), Some(table), ..] = row.as_slice() {
                if !wanted.contains(name) {
                    out.extend(o.drop_trigger(name, table));
                }
            }
        }
    }
    for capture in &captures {
        out.extend(o.capture(capture));
    }
    Ok(out)
}

/// Installs the outbox and the capture triggers (idempotent): in one transaction where
/// the database has transactional DDL (PostgreSQL, SQLite).
pub(crate) async fn install(
    db: &Database,
    observers: &ObserversConfig,
) -> Result<(), InstallError> {
    let statements = install_script(db, observers).await?;
    let mut tx = db.begin().await.map_err(InstallError::Database)?;
    for statement in &statements {
        tx.script(statement).await.map_err(|e| match e.kind {
            DbErrorKind::Unavailable | DbErrorKind::Timeout => InstallError::Database(e),
            _ => InstallError::Invalid(format!(
                "installing the outbox on database `{}` failed: {}",
                db.name, e.message
            )),
        })?;
    }
    tx.commit().await.map_err(InstallError::Database)?;
    // Handlers and views created since start-up are in the catalog from now on.
    let _ = db.load_catalog().await;
    Ok(())
}

/// `{name}` placeholders of a subject template.
fn placeholders(subject: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = subject;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.push(&rest[open + 1..open + close]);
        rest = &rest[open + close + 1..];
    }
    out
}

/// Unpublished rows in `seq` order, at most `limit`, each with its final body (where the
/// dialect reads the payload view at publication, it is read now; a view with no row for
/// the key leaves the row itself).
pub(crate) async fn pending(db: &Database, limit: usize) -> Result<Vec<OutboxRow>, DbError> {
    let o = sql(db);
    let rows = db.fetch_all_from(&o.pending(limit), Reads::Primary).await?;
    let mut out = Vec::with_capacity(rows.len());
    for mut r in rows {
        if r.len() < PENDING_COLUMNS {
            return Err(DbError::query(
                "the outbox returned fewer columns than expected",
            ));
        }
        let mut take = |i: usize| r[i].take();
        let seq = take(0).and_then(|s| s.parse().ok()).unwrap_or_default();
        let (id, subject, op) = (take(1), take(2), take(3));
        let (source, body, row, old) = (take(4), take(5), take(6), take(7));
        let (view, key, tenant, time) = (take(8), take(9), take(10), take(11));
        let row = row.unwrap_or_else(|| "null".into());
        let body = match body {
            Some(body) => body,
            None => {
                let base = match (view, key) {
                    (Some(view), Some(key)) => view_body(db, o, &view, &key, &row)
                        .await?
                        .unwrap_or_else(|| row.clone()),
                    _ => row.clone(),
                };
                match old {
                    Some(old) => format!("{{\"old\":{old},\"new\":{base}}}"),
                    None => base,
                }
            }
        };
        out.push(OutboxRow {
            seq,
            id: id.unwrap_or_default(),
            subject: subject.unwrap_or_default(),
            op: op.unwrap_or_default(),
            source,
            body,
            row,
            tenant,
            time: time.unwrap_or_default(),
        });
    }
    Ok(out)
}

/// The payload view's data for the row whose `key` column holds the row's value of it.
async fn view_body(
    db: &Database,
    o: &dyn Outbox,
    view: &str,
    key: &str,
    row: &str,
) -> Result<Option<String>, DbError> {
    let value = serde_json::from_str::<Value>(row)
        .ok()
        .and_then(|v| v.get(key).cloned())
        .and_then(|v| match v {
            Value::String(s) => Some(s),
            Value::Null => None,
            other => Some(other.to_string()),
        });
    let Some(value) = value else {
        return Ok(None);
    };
    let rows = db
        .fetch_all_from(&o.view_body(view, key, &value), Reads::Primary)
        .await?;
    Ok(rows.into_iter().next().and_then(|mut r| r.pop().flatten()))
}

async fn execute(db: &Database, q: &SqlQuery) -> Result<u64, DbError> {
    let mut tx = db.begin().await?;
    let n = tx.execute(q).await?;
    tx.commit().await?;
    Ok(n)
}

pub(crate) async fn mark_published(db: &Database, seqs: &[i64]) -> Result<(), DbError> {
    if seqs.is_empty() {
        return Ok(());
    }
    let mut tx = db.begin().await?;
    if db.kind == fraiseql_engine::config::DatabaseKind::Postgresql {
        // A mark lost in a crash only republishes rows the stream drops as duplicates
        // (Nats-Msg-Id): it need not wait for its own WAL flush, which would double the
        // flushes of a database whose every commit is captured.
        tx.script("SET LOCAL synchronous_commit = off").await?;
    }
    tx.execute(&sql(db).mark_published(seqs)).await?;
    tx.commit().await
}

pub(crate) async fn mark_failed(db: &Database, seq: i64, error: &str) -> Result<(), DbError> {
    execute(db, &sql(db).mark_failed(seq, error))
        .await
        .map(drop)
}

/// Deletes published rows, and inbox records, older than `age`; how many outbox rows.
pub(crate) async fn purge(db: &Database, age: Duration) -> Result<u64, DbError> {
    execute(db, &sql(db).purge_inbox(age.as_secs())).await?;
    execute(db, &sql(db).purge(age.as_secs())).await
}

/// Rows waiting, and the age in seconds of the oldest.
pub(crate) async fn depth(db: &Database) -> Result<(u64, Option<f64>), DbError> {
    let rows = db.fetch_all_from(&sql(db).depth(), Reads::Primary).await?;
    let row = rows.into_iter().next().unwrap_or_default();
    let count = row
        .first()
        .cloned()
        .flatten()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let age = row.get(1).cloned().flatten().and_then(|a| a.parse().ok());
    Ok((count, age))
}

/// The relay's hold on a database: one relay per database publishes.
pub(crate) struct Lease {
    db: Arc<Database>,
    hold: Hold,
}

enum Hold {
    /// `pg_try_advisory_lock` on a connection of its own, which also `LISTEN`s.
    Postgres(crate::db::PostgresListener),
    /// `GET_LOCK` on a connection of its own.
    Mysql(crate::db::MysqlSession, Instant),
    /// A lease row renewed by its holder.
    Sqlite { holder: String, renewed: Instant },
}

impl Lease {
    /// The lease when nobody else holds it; `None` when another process does.
    pub(crate) async fn try_acquire(db: &Arc<Database>) -> Result<Option<Lease>, DbError> {
        let o = sql(db);
        let lease = o.lease_take("", 0);
        let hold = match db.session().await? {
            Session::Postgres(listener) => {
                if listener.first(&lease.text).await?.as_deref() != Some("true") {
                    return Ok(None);
                }
                listener.first("LISTEN fraiseql_outbox").await?;
                Hold::Postgres(listener)
            }
            Session::Mysql(mut session) => {
                if session.first(&lease.text).await?.as_deref() != Some("1") {
                    return Ok(None);
                }
                Hold::Mysql(session, Instant::now())
            }
            Session::Sqlite => {
                let holder = uuid::Uuid::new_v4().to_string();
                let take = o.lease_take(&holder, SQLITE_LEASE.as_secs());
                if execute(db, &take).await? != 1 {
                    return Ok(None);
                }
                Hold::Sqlite {
                    holder,
                    renewed: Instant::now(),
                }
            }
        };
        Ok(Some(Lease {
            db: db.clone(),
            hold,
        }))
    }

    /// Returns when a commit captured something (PostgreSQL `NOTIFY`; elsewhere a commit of
    /// this process) or after `max`; an error when the lease is lost (its connection died,
    /// or the lease row was taken).
    pub(crate) async fn wait(&mut self, max: Duration) -> Result<(), DbError> {
        match &mut self.hold {
            Hold::Postgres(listener) => {
                tokio::select! {
                    note = listener.next() => {
                        note?;
                        listener.drain();
                    }
                    () = tokio::time::sleep(max) => {}
                }
                Ok(())
            }
            Hold::Mysql(session, checked) => {
                tokio::select! {
                    () = self.db.committed() => {}
                    () = tokio::time::sleep(max) => {}
                }
                // Nothing reads an idle MySQL socket: ask now and then whether it lives.
                if checked.elapsed() >= Duration::from_secs(1) {
                    session.first("SELECT 1").await?;
                    *checked = Instant::now();
                }
                Ok(())
            }
            Hold::Sqlite { holder, renewed } => {
                tokio::select! {
                    () = self.db.committed() => {}
                    () = tokio::time::sleep(max) => {}
                }
                if renewed.elapsed() >= SQLITE_LEASE / 3 {
                    let take = sql(&self.db).lease_take(holder, SQLITE_LEASE.as_secs());
                    if execute(&self.db, &take).await? != 1 {
                        return Err(DbError::unavailable("the relay lease was taken over"));
                    }
                    *renewed = Instant::now();
                }
                Ok(())
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // PostgreSQL and MySQL: closing the connection releases the lock. SQLite: the row
        // is let go so another process takes over at once rather than after it expires.
        if let Hold::Sqlite { holder, .. } = &self.hold {
            let (db, q) = (self.db.clone(), sql(&self.db).lease_release(holder));
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = execute(&db, &q).await;
                });
            }
        }
    }
}

/// What became of an inbound event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handled {
    /// The handler ran and committed.
    Done,
    /// The consumer had handled this event id already.
    Duplicate,
}

/// Runs `handler` for one event in a transaction that also records `once`, `(consumer,
/// event_id)`: an event recorded before is not run again; a failing handler rolls both
/// back. Without `once` (a replay) the handler just runs. `settings` are the session settings
/// it runs with: the event's tenant (`ce-tenant`) as `app.tenant_id`, or none.
pub(crate) async fn handle(
    db: &Database,
    handler: &str,
    once: Option<(&str, &str)>,
    body: &str,
    headers: &str,
    settings: &crate::db::Settings,
) -> Result<Handled, DbError> {
    let o = sql(db);
    let with_headers = takes_headers(db, handler).await?;
    let mut tx = db.begin_as(settings).await?;
    if let Some((consumer, event_id)) = once {
        if tx.execute(&o.inbox_insert(consumer, event_id)).await? == 0 {
            return Ok(Handled::Duplicate);
        }
    }
    tx.execute(&o.handler_call(handler, body, with_headers.then_some(headers)))
        .await?;
    tx.commit().await?;
    Ok(Handled::Done)
}

/// Whether `handler` declares a second parameter (SQLite: a `headers` column), from the
/// catalog, read again once when the handler is not in it.
async fn takes_headers(db: &Database, handler: &str) -> Result<bool, DbError> {
    let look = |catalog: &fraiseql_engine::catalog::Catalog| -> Option<bool> {
        match db.kind {
            fraiseql_engine::config::DatabaseKind::Sqlite => catalog
                .relations
                .get(handler)
                .map(|r| r.columns.contains_key("headers")),
            _ => catalog.functions.get(handler).map(|f| f.params.len() >= 2),
        }
    };
    if let Some(found) = db.catalog().as_deref().and_then(look) {
        return Ok(found);
    }
    let catalog = db.load_catalog().await?;
    look(&catalog).ok_or_else(|| {
        DbError::new(
            DbErrorKind::Other,
            format!(
                "handler `{handler}` does not exist in database `{}`",
                db.name
            ),
        )
    })
}

/// Stores an event that will not be delivered again.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn dead_letter(
    db: &Database,
    consumer: &str,
    subject: &str,
    event_id: &str,
    body: &str,
    headers: &str,
    error: &str,
    deliveries: u32,
) -> Result<(), DbError> {
    let q = sql(db).dead_letter(
        consumer, subject, event_id, body, headers, error, deliveries,
    );
    execute(db, &q).await.map(drop)
}

/// PostgreSQL: notifications on `channels`, as they arrive, on a connection of their own;
/// the stream ends with an error when that connection does.
pub(crate) async fn listen(
    db: &Database,
    channels: &[String],
) -> Result<impl futures::Stream<Item = Result<(String, String), DbError>> + Send + 'static, DbError>
{
    let Session::Postgres(listener) = db.session().await? else {
        return Err(DbError::query(
            "pg_notify channels exist on PostgreSQL only",
        ));
    };
    for channel in channels {
        let quoted = format!("\"{}\"", channel.replace('"', "\"\""));
        listener.first(&format!("LISTEN {quoted}")).await?;
    }
    Ok(futures::stream::unfold(
        Some(listener),
        |state| async move {
            let mut listener = state?;
            match listener.next().await {
                Ok(note) => Some((Ok(note), Some(listener))),
                Err(e) => Some((Err(e), None)),
            }
        },
    ))
}
