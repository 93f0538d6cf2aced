//! The SQL of events (`[observers]`): the outbox tables and the capture triggers that write
//! them, the relay's statements, and the inbound handler's. [`Outbox`] is implemented once
//! per database, in its dialect file (`postgres.rs`, `mysql.rs`, `sqlite.rs`); the server
//! (`events/outbox.rs`) runs what it returns.
//!
//! Every statement the relay reads returns the outbox row as [`PENDING_COLUMNS`]. Names and
//! literals in the DDL come from the operator's config (table, view, subject, condition),
//! never from a request: identifiers are quoted, literals escaped, and the condition is SQL
//! the operator wrote, checked by the database when it is installed.

use super::{Param, SqlQuery};
use crate::config::Op;

/// One table rule as the triggers capture it.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    /// The rule's position in `[observers] rules`: names its trigger.
    pub index: usize,
    pub table: String,
    pub ops: Vec<Op>,
    /// The subject template, stored as it is; the relay renders it per row.
    pub subject: String,
    /// The payload view and its key column.
    pub view: Option<(String, String)>,
    /// SQL over the row's columns.
    pub condition: Option<String>,
    pub include_old: bool,
    /// The table's columns (MySQL/MariaDB and SQLite spell the row's JSON with them).
    pub columns: Vec<String>,
    /// Commit order across the table (a per-table lock from capture to commit), not only
    /// per row (`[observers] ordering`).
    pub table_order: bool,
}

/// The columns of a pending outbox row, in order: `seq`, `id`, `subject`, `op`, `source`,
/// `body` (final, or NULL when the relay reads the payload view), `row` (the row's JSON),
/// `old` (the old row's JSON when asked, for a body the relay builds), `view`, `view_key`,
/// `tenant`, `time` (RFC 3339, UTC).
pub const PENDING_COLUMNS: usize = 12;

/// The SQL of events on one database.
pub trait Outbox: Sync {
    /// DDL creating the outbox, inbox, dead-letter (and lease) tables and helpers;
    /// idempotent, in order.
    fn outbox_tables(&self) -> Vec<String>;

    /// A statement listing the capture triggers installed now (one name per row, and the
    /// table it is on), so an install can drop those of rules that are gone.
    fn installed_triggers(&self) -> SqlQuery;

    /// DDL dropping one installed capture trigger.
    fn drop_trigger(&self, name: &str, table: &str) -> Vec<String>;

    /// The names of the triggers [`Outbox::capture`] creates for `rule`: one per operation.
    fn trigger_names(&self, rule: &Capture) -> Vec<String> {
        rule.ops
            .iter()
            .map(|op| trigger_name(rule.index, Some(*op)))
            .collect()
    }

    /// DDL (re)creating the capture trigger(s) of one rule.
    fn capture(&self, rule: &Capture) -> Vec<String>;

    /// A statement that fails unless `condition` is valid SQL over `table`'s columns.
    fn check_condition(&self, table: &str, condition: &str) -> String;

    /// The unpublished, unfailed rows in `seq` order, at most `limit` ([`PENDING_COLUMNS`]).
    fn pending(&self, limit: usize) -> SqlQuery;

    /// The payload view's `data` (as JSON text) for the row whose `key` column equals the
    /// bound text key, or no row.
    fn view_body(&self, view: &str, key: &str, value: &str) -> SqlQuery;

    fn mark_published(&self, seqs: &[i64]) -> SqlQuery;

    fn mark_failed(&self, seq: i64, error: &str) -> SqlQuery;

    /// Deletes rows published more than `age_secs` ago.
    fn purge(&self, age_secs: u64) -> SqlQuery;

    /// Deletes inbox records older than `age_secs`: redeliveries and retried publications
    /// come well within that.
    fn purge_inbox(&self, age_secs: u64) -> SqlQuery;

    /// One row: rows waiting, and the seconds the oldest has waited (NULL when none).
    fn depth(&self) -> SqlQuery;

    /// Records `(consumer, event_id)`; changes one row, or none when it was there.
    fn inbox_insert(&self, consumer: &str, event_id: &str) -> SqlQuery;

    /// Calls `handler` with the body (and the headers when `with_headers`), both JSON text.
    fn handler_call(&self, handler: &str, body: &str, headers: Option<&str>) -> SqlQuery;

    #[allow(clippy::too_many_arguments)]
    fn dead_letter(
        &self,
        consumer: &str,
        subject: &str,
        event_id: &str,
        body: &str,
        headers: &str,
        error: &str,
        deliveries: u32,
    ) -> SqlQuery;

    /// Takes the relay lease row for `holder` when it is free, expired or already theirs,
    /// for `ttl_secs`; changes one row when taken (SQLite only: the others lock a session).
    fn lease_take(&self, holder: &str, ttl_secs: u64) -> SqlQuery;

    /// Lets the lease go.
    fn lease_release(&self, holder: &str) -> SqlQuery;
}

/// A SQL string literal (quotes doubled; the dialects here read backslashes literally:
/// PostgreSQL with `standard_conforming_strings`, MySQL with `NO_BACKSLASH_ESCAPES`).
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The names of a rule's triggers: `fraiseql_capture_<index>` and, where a trigger takes one
/// operation, `_<op>`.
pub(crate) fn trigger_name(index: usize, op: Option<Op>) -> String {
    match op {
        Some(op) => format!(
            "fraiseql_capture_{index}_{}",
            op.as_str().to_ascii_lowercase()
        ),
        None => format!("fraiseql_capture_{index}"),
    }
}

/// `IN (…)` placeholders for `seqs`, numbered from `first`, and their parameters.
pub(crate) fn seq_list(
    seqs: &[i64],
    first: usize,
    placeholder: impl Fn(usize, &Param) -> String,
) -> (String, Vec<Param>) {
    let params: Vec<Param> = seqs.iter().map(|s| Param::Int(*s)).collect();
    let marks: Vec<String> = params
        .iter()
        .enumerate()
        .map(|(i, p)| placeholder(first + i, p))
        .collect();
    (marks.join(", "), params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseKind;
    use crate::sql::outbox_sql;

    fn rule() -> Capture {
        Capture {
            index: 3,
            table: "tb_order".into(),
            ops: vec![Op::Insert, Op::Update],
            subject: "events.o'rder.{op}".into(),
            view: Some(("v_order_event".into(), "id".into())),
            condition: Some("status <> 'draft'".into()),
            include_old: true,
            columns: vec!["id".into(), "status".into(), "we\"ird`col".into()],
            table_order: true,
        }
    }

    #[test]
    fn literals_and_names_are_escaped_on_every_dialect() {
        for kind in [
            DatabaseKind::Postgresql,
            DatabaseKind::Mysql,
            DatabaseKind::Sqlite,
        ] {
            let ddl = outbox_sql(kind).capture(&rule()).join("\n");
            assert!(ddl.contains("'events.o''rder.{op}'"), "{kind:?}: {ddl}");
            assert!(ddl.contains("status <> 'draft'"), "{kind:?}: {ddl}");
            assert!(ddl.contains("fraiseql_capture_3"), "{kind:?}: {ddl}");
        }
        let my = outbox_sql(DatabaseKind::Mysql).capture(&rule()).join("\n");
        assert!(my.contains("`we\"ird``col`"), "{my}");
        let lite = outbox_sql(DatabaseKind::Sqlite).capture(&rule()).join("\n");
        assert!(lite.contains("\"we\"\"ird`col\""), "{lite}");
    }

    #[test]
    fn seq_lists_are_bound() {
        let (marks, params) = seq_list(&[5, 9], 1, |n, _| format!("${n}"));
        assert_eq!(marks, "$1, $2");
        assert_eq!(params, [Param::Int(5), Param::Int(9)]);
    }
}
