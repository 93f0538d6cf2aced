//! `fraiseql check`: compares the schema with what each database really holds. Every
//! configured database is connected and its catalog read; each view the server reads (a
//! query's, and a type's when a relation or a mutation reads it) must exist with a `data`
//! column (JSON on PostgreSQL), and each mutation's function must exist and return
//! `mutation_response` or `SETOF <view>` (on SQLite: the `fn_*` view).

use crate::db::{redact, Database};
use fraiseql_engine::catalog::{Catalog, FunctionReturn, SqlType};
use fraiseql_engine::config::{Config, DatabaseKind};
use fraiseql_engine::schema::CompiledSchema;
use std::fmt;

/// What `check` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub problems: Vec<Problem>,
    /// What was verified, one line each.
    pub ok: Vec<String>,
}

impl CheckReport {
    /// No problems at all.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// Some database could not be reached.
    pub fn unreachable(&self) -> bool {
        self.problems
            .iter()
            .any(|p| p.kind == ProblemKind::Unreachable)
    }
}

/// One mismatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Problem families, which decide the CLI's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// A database could not be connected to (or its URL is unusable).
    Unreachable,
    /// The schema and the database (or the config) disagree.
    Mismatch,
}

/// Checks `schema` against every database `config` names.
pub async fn check(config: &Config, schema: &CompiledSchema) -> CheckReport {
    let mut report = CheckReport::default();
    for name in schema.databases() {
        if !config.databases.contains_key(name) {
            report.mismatch(format!(
                "database '{name}' is used by the schema ({}) but not configured",
                users(schema, name).join(", ")
            ));
        }
    }
    for (name, cfg) in &config.databases {
        let url = cfg.url.as_deref().map(redact).unwrap_or_default();
        let db = match Database::new(name, cfg) {
            Ok(db) => db,
            Err(e) => {
                report.problem(
                    ProblemKind::Unreachable,
                    format!("database '{name}': {}", e.message),
                );
                continue;
            }
        };
        if let Err(e) = db.ping().await {
            report.problem(
                ProblemKind::Unreachable,
                format!("database '{name}' ({url}) is unreachable: {e}"),
            );
            continue;
        }
        let catalog = match db.load_catalog().await {
            Ok(c) => c,
            Err(e) => {
                report.mismatch(format!("database '{name}': cannot read its catalog: {e}"));
                continue;
            }
        };
        report.ok.push(format!(
            "database '{name}' ({}, {url}) is reachable",
            db.kind.label()
        ));
        check_database(&mut report, schema, name, db.kind, &catalog);
    }
    report
}

impl CheckReport {
    fn problem(&mut self, kind: ProblemKind, message: String) {
        self.problems.push(Problem { kind, message });
    }

    fn mismatch(&mut self, message: String) {
        self.problem(ProblemKind::Mismatch, message);
    }
}

/// Who in the schema uses database `name`.
fn users(schema: &CompiledSchema, name: &str) -> Vec<String> {
    let types = schema
        .types
        .values()
        .filter(|t| t.database == name)
        .map(|t| format!("type '{}'", t.name));
    let queries = schema
        .queries
        .iter()
        .filter(|(_, q)| q.database == name)
        .map(|(n, _)| format!("query '{n}'"));
    let mutations = schema
        .mutations
        .iter()
        .filter(|(_, m)| m.database == name)
        .map(|(n, _)| format!("mutation '{n}'"));
    types.chain(queries).chain(mutations).collect()
}

fn check_database(
    report: &mut CheckReport,
    schema: &CompiledSchema,
    database: &str,
    kind: DatabaseKind,
    catalog: &Catalog,
) {
    // A type's own view is read for relations that target it and for the read-back of the
    // mutations returning it; a type only ever embedded in another's `data` needs none.
    let mut read_types: Vec<&str> = Vec::new();
    let targets = schema
        .types
        .values()
        .flat_map(|t| t.fields.values())
        .filter(|f| f.relation.is_some())
        .map(|f| f.ty.name.as_str())
        .chain(schema.mutations.values().map(|m| m.ty.name.as_str()));
    for name in targets {
        if !read_types.contains(&name) {
            read_types.push(name);
        }
    }
    let views = schema
        .types
        .values()
        .filter(|t| t.database == database && read_types.contains(&t.name.as_str()))
        .map(|t| (format!("type '{}'", t.name), &t.sql_source))
        .chain(
            schema
                .queries
                .iter()
                .filter(|(_, q)| q.database == database)
                .map(|(n, q)| (format!("query '{n}'"), &q.sql_source)),
        );
    for (user, view) in views {
        match check_view(catalog, kind, view, database) {
            Ok(()) => report
                .ok
                .push(format!("{user}: view '{view}' has a 'data' column")),
            Err(message) => report.mismatch(format!("{user}: {message}")),
        }
    }
    for (name, m) in schema
        .mutations
        .iter()
        .filter(|(_, m)| m.database == database)
    {
        let user = format!("mutation '{name}'");
        let function = &m.function;
        let found = catalog.functions.get(function);
        match (kind, found.map(|f| &f.returns)) {
            (DatabaseKind::Sqlite, None) => report.mismatch(format!(
                "{user}: view '{function}' does not exist in database '{database}' \
                 (on SQLite a mutation is a view with an INSTEAD OF INSERT trigger, named fn_*)"
            )),
            (DatabaseKind::Postgresql, None) => report.mismatch(format!(
                "{user}: function '{function}' does not exist in database '{database}'"
            )),
            (_, Some(FunctionReturn::MutationResponse)) => {
                report.ok.push(format!("{user}: function '{function}' returns mutation_response"))
            }
            (_, Some(FunctionReturn::Rows { relation })) => {
                match check_view(catalog, kind, relation, database) {
                    Ok(()) => report
                        .ok
                        .push(format!("{user}: function '{function}' returns SETOF {relation}")),
                    Err(message) => report.mismatch(format!(
                        "{user}: function '{function}' returns SETOF {relation}, but {message}"
                    )),
                }
            }
            (_, Some(FunctionReturn::Other(ty))) => report.mismatch(format!(
                "{user}: function '{function}' returns {ty}; expected mutation_response or SETOF <view>"
            )),
        }
    }
}

fn check_view(
    catalog: &Catalog,
    kind: DatabaseKind,
    view: &str,
    database: &str,
) -> Result<(), String> {
    let Some(relation) = catalog.relations.get(view) else {
        return Err(format!(
            "view '{view}' does not exist in database '{database}'"
        ));
    };
    match (relation.columns.get("data"), kind) {
        (None, _) => Err(format!("view '{view}' has no 'data' column")),
        (Some(SqlType::Json | SqlType::Jsonb), _) | (Some(_), DatabaseKind::Sqlite) => Ok(()),
        (Some(other), DatabaseKind::Postgresql) => Err(format!(
            "view '{view}': column 'data' is of type {}, expected json or jsonb",
            format!("{other:?}").to_lowercase()
        )),
    }
}

#[cfg(test)]
mod tests;
