//! SQL rendering: plan -> statements with bind parameters, one dialect per file behind the
//! [`Dialect`] trait. Identifiers come only from the compiled schema; every value is a
//! parameter. Each read statement returns one row with one JSON text column per root field.

mod dialect;
mod mutation;
mod mysql;
mod outbox;
mod postgres;
mod read;
mod remote;
mod sqlite;

pub use dialect::Dialect;
pub use mutation::{
    bind_parameters, first_uncovered, mutation_outcome, render_call, render_read_back, Binding,
    CallSql, MutationResult,
};
pub use outbox::{Capture, Outbox, PENDING_COLUMNS};
pub use read::{render_reads, DatabaseTarget, ReadStatement};
pub use remote::{render_steps, Remotes, StepKeys};

use crate::config::DatabaseKind;

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// A statement and its parameters, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlQuery {
    pub text: String,
    pub params: Vec<Param>,
}

/// The dialect for a database kind.
pub fn dialect(kind: DatabaseKind) -> &'static dyn Dialect {
    match kind {
        DatabaseKind::Postgresql => &postgres::Postgres,
        DatabaseKind::Sqlite => &sqlite::Sqlite,
        DatabaseKind::Mysql => &mysql::Mysql,
    }
}

/// The SQL of events for a database kind.
pub fn outbox_sql(kind: DatabaseKind) -> &'static dyn Outbox {
    match kind {
        DatabaseKind::Postgresql => &postgres::Postgres,
        DatabaseKind::Sqlite => &sqlite::Sqlite,
        DatabaseKind::Mysql => &mysql::Mysql,
    }
}

/// A JSON scalar as the text a database parses (`49.99`, `true`, `abc`: strings unquoted).
pub(crate) fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
