//! `fraiseql check`: compares the schema with what each database really holds. Every
//! configured database is connected and its catalog read; each view the server reads (a
//! query's, and a type's when a relation or a mutation reads it) must exist with a `data`
//! column (JSON on PostgreSQL) whose first row has a key for every non-null field and every
//! relation key; each mutation's function must exist, return `mutation_response` or
//! `SETOF <view>` (on SQLite: the `fn_*` view) and have a parameter for every argument.
//! Each read replica must answer and hold the views read on its database as the primary
//! does.

use crate::db::{redact, Database};
use fraiseql_engine::catalog::{Catalog, Function, FunctionReturn, SqlType};
use fraiseql_engine::config::{Config, DatabaseKind};
use fraiseql_engine::schema::{CompiledSchema, ObjectType};
use fraiseql_engine::sql::{bind_parameters, dialect, first_uncovered, Binding, SqlQuery};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// What `check` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub problems: Vec<Problem>,
    /// What was verified, one line each.
    pub ok: Vec<String>,
    /// What works but may not be what was meant (a view that shows every tenant's rows).
    pub warnings: Vec<String>,
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
    let mut catalogs: HashMap<&str, Arc<Catalog>> = HashMap::new();
    for (name, cfg) in &config.databases {
        if crate::db::tenants::per_tenant(cfg) {
            // No tenant to check: each tenant database is opened (and its catalog read) on
            // that tenant's first request.
            report.ok.push(format!(
                "database '{name}': one per tenant, checked when each tenant's is first opened"
            ));
            continue;
        }
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
        if config.multi_tenancy.as_ref().is_some_and(|t| {
            t.enabled && t.strategy == fraiseql_engine::config::TenancyStrategy::Row
        }) {
            check_row_security(&mut report, schema, &db).await;
        }
        check_data_keys(&mut report, schema, &db, &catalog).await;
        check_computed(&mut report, schema, &db, &catalog).await;
        check_replicas(&mut report, schema, &db, &catalog).await;
        catalogs.insert(name.as_str(), catalog);
    }
    check_remote_keys(&mut report, schema, &catalogs);
    report
}

/// Each read replica answers and holds every view the schema reads on its database as the
/// primary does (the same columns, of the same types): reads go to the replicas, but their
/// statements are rendered for the primary's catalog.
async fn check_replicas(
    report: &mut CheckReport,
    schema: &CompiledSchema,
    db: &Database,
    primary: &Catalog,
) {
    let name = &db.name;
    for replica in db.replicas() {
        let who = format!(
            "database '{name}' replica {} ({})",
            replica.index, replica.url
        );
        if let Err(e) = replica.target.ping().await {
            report.problem(
                ProblemKind::Unreachable,
                format!("{who} is unreachable: {e}"),
            );
            continue;
        }
        let catalog = match replica.target.read_catalog().await {
            Ok(c) => c,
            Err(e) => {
                report.mismatch(format!("{who}: cannot read its catalog: {e}"));
                continue;
            }
        };
        let mut differs = false;
        let mut seen: Vec<&str> = Vec::new();
        for (user, view) in read_views(schema, name) {
            if seen.contains(&view) {
                continue;
            }
            seen.push(view);
            let (ours, theirs) = (primary.relations.get(view), catalog.relations.get(view));
            let message = match (ours, theirs) {
                (_, None) => format!("{user}: view '{view}' does not exist on {who}"),
                (Some(ours), Some(theirs)) if ours != theirs => format!(
                    "{user}: view '{view}' on {who} has columns ({}), the primary's has ({})",
                    columns(theirs),
                    columns(ours)
                ),
                _ => continue,
            };
            differs = true;
            report.mismatch(message);
        }
        if !differs {
            report.ok.push(format!(
                "{who} is reachable and holds the views the schema reads as the primary does"
            ));
        }
    }
}

/// Relations across databases compare their keys as text once out of the databases: a key
/// that is a column on both sides must be text on both or a number on both (the schema's
/// declared types are checked when it compiles; this checks what the views really hold).
fn check_remote_keys(
    report: &mut CheckReport,
    schema: &CompiledSchema,
    catalogs: &HashMap<&str, Arc<Catalog>>,
) {
    let class = |ty: SqlType| match ty {
        SqlType::Text | SqlType::Uuid => Some("text"),
        SqlType::Integer | SqlType::Numeric => Some("a number"),
        _ => None,
    };
    for t in schema.types.values() {
        for f in t.fields.values() {
            let (Some(rel), Some(target)) = (&f.relation, schema.types.get(&f.ty.name)) else {
                continue;
            };
            if target.database == t.database {
                continue;
            }
            let column = |db: &str, view: &str, key: &str| {
                catalogs.get(db)?.column(view, key).and_then(class)
            };
            let local = column(&t.database, &t.sql_source, &rel.local_key);
            let remote = column(&target.database, &target.sql_source, &rel.remote_key);
            let relation = format!("relation '{}.{}'", t.name, f.name);
            match (local, remote) {
                (Some(l), Some(r)) if l != r => report.mismatch(format!(
                    "{relation}: key '{}' of view '{}' (database '{}') is {l}, but key '{}' of \
                     view '{}' (database '{}') is {r}: keys across databases must compare alike",
                    rel.local_key,
                    t.sql_source,
                    t.database,
                    rel.remote_key,
                    target.sql_source,
                    target.database
                )),
                (Some(_), Some(_)) => report.ok.push(format!(
                    "{relation}: keys '{}' and '{}' compare alike across databases '{}' and '{}'",
                    rel.local_key, rel.remote_key, t.database, target.database
                )),
                _ => {}
            }
        }
    }
}

/// `id integer, data jsonb`: a relation's columns and their type families.
fn columns(relation: &fraiseql_engine::catalog::Relation) -> String {
    let columns: Vec<String> = relation
        .columns
        .iter()
        .map(|(name, ty)| format!("{name} {}", format!("{ty:?}").to_lowercase()))
        .collect();
    columns.join(", ")
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

/// The views read on `database`, each with who reads it (`query 'posts'`): every query's,
/// and a type's own when a relation or a mutation's read-back reads it.
fn read_views<'s>(schema: &'s CompiledSchema, database: &str) -> Vec<(String, &'s str)> {
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
    schema
        .types
        .values()
        .filter(|t| t.database == database && read_types.contains(&t.name.as_str()))
        .map(|t| (format!("type '{}'", t.name), t.sql_source.as_str()))
        .chain(
            schema
                .queries
                .iter()
                .filter(|(_, q)| q.database == database)
                .map(|(n, q)| (format!("query '{n}'"), q.sql_source.as_str())),
        )
        .collect()
}

/// Under the row strategy, each view the schema reads on PostgreSQL must keep tenants apart:
/// every table it reads has row-level security, and every view on the way reads as the
/// caller (`security_invoker`), else its owner's rights show every tenant's rows.
async fn check_row_security(report: &mut CheckReport, schema: &CompiledSchema, db: &Database) {
    let mut seen: Vec<&str> = Vec::new();
    for (user, view) in read_views(schema, &db.name) {
        if seen.contains(&view) {
            continue;
        }
        seen.push(view);
        let relations = match db.exposure(view).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                report.warnings.push(format!(
                    "{user}: cannot tell whether view '{view}' keeps tenants apart: {e}"
                ));
                continue;
            }
        };
        let mut fine = true;
        for r in &relations {
            if r.view && !r.invoker {
                fine = false;
                report.warnings.push(format!(
                    "{user}: view '{}' (read by '{view}') reads as its owner, not the caller: \
                     row-level security policies do not apply to requests through it; create \
                     it WITH (security_invoker = true)",
                    r.name
                ));
            } else if !r.view && !r.row_security {
                fine = false;
                report.warnings.push(format!(
                    "{user}: view '{view}' reads table '{}', which has no row-level security: \
                     every tenant's rows are visible (ALTER TABLE {} ENABLE ROW LEVEL SECURITY \
                     and a policy on current_setting('app.tenant_id'))",
                    r.name, r.name
                ));
            }
        }
        if fine {
            report.ok.push(format!(
                "{user}: view '{view}' reads only tables with row-level security, as the caller"
            ));
        }
    }
}

fn check_database(
    report: &mut CheckReport,
    schema: &CompiledSchema,
    database: &str,
    kind: DatabaseKind,
    catalog: &Catalog,
) {
    for (user, view) in read_views(schema, database) {
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
        match found.map(|f| &f.returns) {
            None => report.mismatch(format!(
                "{user}: {}",
                dialect(kind).missing_mutation(function, database)
            )),
            Some(FunctionReturn::MutationResponse) => {
                report.ok.push(format!("{user}: function '{function}' returns mutation_response"))
            }
            Some(FunctionReturn::Rows { relation }) => {
                match check_view(catalog, kind, relation, database) {
                    Ok(()) => report
                        .ok
                        .push(format!("{user}: function '{function}' returns SETOF {relation}")),
                    Err(message) => report.mismatch(format!(
                        "{user}: function '{function}' returns SETOF {relation}, but {message}"
                    )),
                }
            }
            // What a procedure returns shows only when it runs.
            Some(FunctionReturn::Procedure) => report.ok.push(format!(
                "{user}: procedure '{function}' exists (its result set needs the \
                 mutation_response columns or a data column)"
            )),
            Some(FunctionReturn::Other(ty)) => report.mismatch(format!(
                "{user}: function '{function}' returns {ty}; expected mutation_response or SETOF <view>"
            )),
        }
        if let Some(f) = found {
            check_parameters(report, schema, name, m, f);
        }
    }
}

/// Every argument (and injected claim) binds to a parameter, and every parameter without a
/// default has one.
fn check_parameters(
    report: &mut CheckReport,
    schema: &CompiledSchema,
    name: &str,
    m: &fraiseql_engine::schema::MutationField,
    f: &Function,
) {
    let user = format!("mutation '{name}'");
    let keys: Vec<&str> = m
        .parameter_arguments(schema)
        .iter()
        .map(|a| a.key.as_str())
        .chain(m.inject.keys().map(String::as_str))
        .collect();
    match bind_parameters(f, &m.function, &keys) {
        Err(message) => report.mismatch(format!("{user}: {message}")),
        Ok(Binding::Json) => report.ok.push(format!(
            "{user}: its arguments go to '{}' as one JSON object",
            m.function
        )),
        Ok(Binding::Params(indexes)) => match first_uncovered(f, &indexes) {
            Some(p) => report.mismatch(format!(
                "{user}: function '{}' needs parameter '{}' (no default), which no argument provides",
                m.function, p.name
            )),
            None => report.ok.push(format!(
                "{user}: every argument has a parameter in '{}'",
                m.function
            )),
        },
    }
}

/// Reads the first row of each type's view and reports keys the schema reads but the row's
/// `data` lacks: non-null fields (they would be null) and relation keys (the relation would
/// always be empty). A view without rows is not judged.
async fn check_data_keys(
    report: &mut CheckReport,
    schema: &CompiledSchema,
    db: &Database,
    catalog: &Catalog,
) {
    let d = dialect(db.kind);
    for ty in schema.types.values().filter(|t| t.database == db.name) {
        let view = &ty.sql_source;
        if check_view(catalog, db.kind, view, &db.name).is_err() {
            continue; // reported already, when the view is read at all
        }
        let text = format!(
            "SELECT (SELECT {} FROM {} LIMIT 1)",
            d.to_text("data"),
            d.ident(view)
        );
        // The primary's rows, as the rest of the check reads the primary.
        let sample = db
            .primary()
            .fetch_texts(&SqlQuery {
                text,
                params: Vec::new(),
            })
            .await;
        let data = match sample {
            Ok(cols) => match cols.into_iter().next().flatten() {
                Some(text) => text,
                None => continue,
            },
            Err(e) => {
                report.mismatch(format!(
                    "type '{}': cannot read view '{view}': {e}",
                    ty.name
                ));
                continue;
            }
        };
        let Ok(serde_json::Value::Object(row)) = serde_json::from_str(&data) else {
            report.mismatch(format!(
                "type '{}': the 'data' column of view '{view}' does not hold JSON objects",
                ty.name
            ));
            continue;
        };
        let missing = missing_keys(schema, ty, &row, catalog);
        if missing.is_empty() {
            report.ok.push(format!(
                "type '{}': view '{view}' has every key the schema reads",
                ty.name
            ));
        }
        for message in missing {
            report.mismatch(format!("type '{}': {message}", ty.name));
        }
    }
}

/// Runs every computed field's SQL (`@computed(sql:)`) over its type's view, as a read of
/// the field renders it (a row's own values for the `@requires` fields), so a mistaken
/// expression is reported here rather than failing requests. A view without rows still
/// checks the expression: the database parses and types it before it reads anything.
async fn check_computed(
    report: &mut CheckReport,
    schema: &CompiledSchema,
    db: &Database,
    catalog: &Catalog,
) {
    use fraiseql_engine::plan::{Fetch, Item, Plan, Root, RootAction, Selection, Shape};
    use fraiseql_engine::request::OperationKind;
    for ty in schema.types.values().filter(|t| t.database == db.name) {
        if check_view(catalog, db.kind, &ty.sql_source, &db.name).is_err() {
            continue; // reported already
        }
        for f in ty.fields.values().filter(|f| f.computed.is_some()) {
            let who = format!("type '{}': computed field '{}'", ty.name, f.name);
            let parts = match fraiseql_engine::schema::computed_parts(schema, ty, f) {
                Ok(parts) => parts,
                Err(e) => {
                    report.mismatch(format!("{who}: {e}"));
                    continue;
                }
            };
            let kind = fraiseql_engine::schema::ScalarKind::of(&f.ty.name)
                .unwrap_or(fraiseql_engine::schema::ScalarKind::Text);
            let fetch = Fetch {
                field: f.name.clone(),
                database: db.name.clone(),
                view: ty.sql_source.clone(),
                shape: Shape::One(Selection {
                    type_name: ty.name.clone(),
                    items: vec![Item::Computed {
                        key: f.name.clone(),
                        parts,
                        kind,
                    }],
                }),
                filter: None,
                order: Vec::new(),
                entity: None,
            };
            let plan = Plan {
                kind: OperationKind::Query,
                roots: vec![Root {
                    key: f.name.clone(),
                    action: RootAction::Fetch(fetch),
                }],
                steps: Vec::new(),
            };
            let target = |_: &str| Some((db.kind, Some(catalog)));
            let statements = match fraiseql_engine::sql::render_reads(
                &plan,
                &target,
                fraiseql_engine::sql::Remotes::default(),
            ) {
                Ok(statements) => statements,
                Err(e) => {
                    report.mismatch(format!("{who}: {e}"));
                    continue;
                }
            };
            for statement in statements {
                match db.primary().fetch_texts(&statement.sql).await {
                    Ok(_) => report
                        .ok
                        .push(format!("{who}: its SQL runs over view '{}'", ty.sql_source)),
                    Err(e) => report.mismatch(format!(
                        "{who}: its SQL fails over view '{}': {e}",
                        ty.sql_source
                    )),
                }
            }
        }
    }
}

/// The keys of `ty` that the sampled `row` of its view lacks, as messages.
fn missing_keys(
    schema: &CompiledSchema,
    ty: &ObjectType,
    row: &serde_json::Map<String, serde_json::Value>,
    catalog: &Catalog,
) -> Vec<String> {
    let view = &ty.sql_source;
    let mut missing = Vec::new();
    // A computed field is no key of the data; an external one (Apollo Federation) belongs to
    // another subgraph, which the gateway asks for it.
    for f in ty
        .fields
        .values()
        .filter(|f| f.computed.is_none() && !f.federation.external)
    {
        match &f.relation {
            None if f.ty.non_null && !row.contains_key(&f.key) => missing.push(format!(
                "field '{}' reads key '{}', which the data of view '{view}' does not have{}",
                f.name,
                f.key,
                closest(&f.key, row.keys())
            )),
            None => {}
            Some(rel) => {
                if !row.contains_key(&rel.local_key) {
                    missing.push(format!(
                        "relation '{}' joins on key '{}', which the data of view '{view}' does not have{}",
                        f.name,
                        rel.local_key,
                        closest(&rel.local_key, row.keys())
                    ));
                }
                let Some(target) = schema.types.get(&f.ty.name) else {
                    continue;
                };
                let in_target = catalog
                    .column(&target.sql_source, &rel.remote_key)
                    .is_some()
                    || target.fields.values().any(|t| t.key == rel.remote_key);
                if !in_target {
                    missing.push(format!(
                        "relation '{}' matches '{}' of view '{}', which is neither a column of it nor a field of type '{}'",
                        f.name, rel.remote_key, target.sql_source, target.name
                    ));
                }
            }
        }
    }
    missing
}

/// ` (did you mean 'x'?)` when a key of the row is close to `key`.
fn closest<'k>(key: &str, keys: impl Iterator<Item = &'k String>) -> String {
    fraiseql_engine::suggest::closest(key, keys.map(String::as_str))
        .map(|k| format!(" (did you mean '{k}'?)"))
        .unwrap_or_default()
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
    match relation.columns.get("data") {
        None => Err(format!("view '{view}' has no 'data' column")),
        Some(column) if dialect(kind).holds_json(*column) => Ok(()),
        Some(other) => Err(format!(
            "view '{view}': column 'data' is of type {}, expected a JSON type (json or jsonb on PostgreSQL, JSON or text on MySQL/MariaDB)",
            format!("{other:?}").to_lowercase()
        )),
    }
}

#[cfg(test)]
mod tests;
