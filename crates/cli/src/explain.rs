//! `fraiseql explain`: prepares and plans a query exactly as the server would, renders its
//! SQL per database, and shows each database's own plan for it when the database answers.

use crate::output::outln;
use crate::project::{load_config, load_schema_file, schema_path, DEFAULT_CONFIG};
use crate::{Failure, Outcome};
use anyhow::anyhow;
use clap::Args;
use fraiseql_engine::catalog::Catalog;
use fraiseql_engine::error::GraphQLError;
use fraiseql_engine::plan::{plan, RootAction};
use fraiseql_engine::request::{prepare, ApiSchema};
use fraiseql_engine::sql::{
    render_reads, render_steps, DatabaseTarget, Param, Remotes, SqlQuery, StepKeys,
};
use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    /// The GraphQL query text (`-` reads it from stdin).
    query: String,
    /// Variables as a JSON object.
    #[arg(long)]
    variables: Option<String>,
    /// Which operation of the document to explain.
    #[arg(long)]
    operation: Option<String>,
    /// Config file.
    #[arg(long, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// Run the statement and show actual timings (PostgreSQL `EXPLAIN ANALYZE`, MariaDB
    /// `ANALYZE FORMAT=JSON`; rolled back).
    #[arg(long)]
    analyze: bool,
    /// Explain as a caller with these token claims (a JSON object, e.g.
    /// `'{"sub":"u1","roles":["admin"]}'`): `[auth]`'s role and scope checks apply, and the
    /// claims' settings are set first in the statement's transaction, as for a request.
    #[arg(long = "as", value_name = "CLAIMS")]
    as_claims: Option<String>,
}

fn request_errors(what: &str, errors: &[GraphQLError]) -> Failure {
    let mut message = format!("{what}:");
    for e in errors {
        message.push_str(&format!("\n  [{}] {}", e.code(), e.message));
    }
    Failure::schema(anyhow!(message))
}

pub(crate) async fn explain(args: ExplainArgs) -> Outcome {
    let config = load_config(&args.config)?;
    let schema = load_schema_file(&schema_path(&args.config, &config))?;
    let query = if args.query == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::schema(anyhow!("cannot read the query from stdin: {e}")))?;
        text
    } else {
        args.query.clone()
    };
    let variables = match args.variables.as_deref() {
        None => serde_json::Map::new(),
        Some(text) => match serde_json::from_str(text) {
            Ok(serde_json::Value::Object(map)) => map,
            Ok(_) => {
                return Err(Failure::schema(anyhow!(
                    "--variables must be a JSON object"
                )))
            }
            Err(e) => {
                return Err(Failure::schema(anyhow!(
                    "--variables is not valid JSON: {e}"
                )))
            }
        },
    };

    let api = ApiSchema::for_config(schema, &config).map_err(|e| Failure::schema(anyhow!(e)))?;
    let prepared = prepare(&api, &query, args.operation.as_deref())
        .map_err(|e| request_errors("the query is invalid", &e))?;
    let who = as_caller(&config, args.as_claims.as_deref())?;
    let caller = match &who {
        Some((claims, who)) => fraiseql_engine::authorize::Caller {
            authenticated: true,
            roles: &who.roles,
            scopes: &who.scopes,
            claims: Some(claims),
        },
        None => fraiseql_engine::authorize::Caller::ANONYMOUS,
    };
    if let Some((_, who)) = &who {
        fraiseql_engine::authorize::authorize(&api, &prepared, &caller)
            .map_err(|e| request_errors("this caller may not run the operation", &e))?;
        outln!("-- as: roles {:?}, scopes {:?}", who.roles, who.scopes)?;
        for (name, value) in &who.settings {
            outln!("-- setting {name} = {value:?}")?;
        }
    }
    let plan = plan(&api, &prepared, &variables, &caller).map_err(|e| {
        let hint = if who.is_none() {
            " (an operation that injects token claims needs --as)"
        } else {
            ""
        };
        request_errors(&format!("cannot plan the query{hint}"), &e)
    })?;
    let settings = who.map(|(_, w)| w.settings).unwrap_or_default();

    for root in &plan.roots {
        match &root.action {
            RootAction::Typename(name) => outln!(
                "-- {}: __typename, answered as \"{name}\" without a database",
                root.key
            )?,
            RootAction::Introspection | RootAction::Constant(_) => {
                outln!("-- {}: answered from the schema", root.key)?
            }
            RootAction::Entities(e) => outln!(
                "-- {}: _entities, {} representation(s), read by the {} statement(s) below",
                root.key,
                e.slots.len(),
                e.parts.len()
            )?,
            RootAction::Mutate(m) => outln!(
                "-- {}: mutation, calls {} on database '{}' in a transaction (not explained)",
                root.key,
                m.function,
                m.database
            )?,
            RootAction::Subscribe(s) => outln!(
                "-- {}: subscription on topic `{}`; each event's entity is read from {} on \
                 database '{}' by its key (not explained)",
                root.key,
                s.topic,
                s.fetch.view,
                s.fetch.database
            )?,
            RootAction::Fetch(_) => {}
        }
    }

    // Catalogs make the SQL match the server's (typed comparisons on real columns); a
    // database that does not answer is explained from the schema alone.
    let mut catalogs: HashMap<String, Catalog> = HashMap::new();
    let mut unreachable: HashMap<String, String> = HashMap::new();
    let read_on = plan
        .roots
        .iter()
        .filter_map(|r| match &r.action {
            RootAction::Fetch(f) => Some(&f.database),
            _ => None,
        })
        .chain(plan.steps.iter().map(|s| &s.database));
    for database in read_on {
        if catalogs.contains_key(database) || unreachable.contains_key(database) {
            continue;
        }
        match fraiseql_server::introspect(&config, database).await {
            Ok(catalog) => {
                catalogs.insert(database.clone(), catalog);
            }
            Err(e) => {
                unreachable.insert(database.clone(), e.message);
            }
        }
    }
    let target = |name: &str| -> DatabaseTarget<'_> {
        let cfg = config.databases.get(name)?;
        // Resolved when the configuration was loaded.
        Some((cfg.kind?, catalogs.get(name)))
    };
    // The server draws a random marker per request; any text serves here.
    let remotes = Remotes {
        steps: &plan.steps,
        marker: "marker",
    };
    let roots = render_reads(&plan, &target, remotes).map_err(|e| Failure::config(anyhow!(e)))?;
    // (database, what it reads, statement): the root fields' statements, then each step
    // into another database, shown for an empty key list (its keys come from the rows of
    // the statement before it).
    let mut statements: Vec<(String, String, SqlQuery)> = roots
        .into_iter()
        .map(|s| {
            let keys: Vec<&str> = s
                .roots
                .iter()
                .map(|i| plan.roots[*i].key.as_str())
                .collect();
            (s.database, keys.join(", "), s.sql)
        })
        .collect();
    for (i, step) in plan.steps.iter().enumerate() {
        let Some((kind, catalog)) = target(&step.database) else {
            continue;
        };
        let part = StepKeys { step: i, keys: &[] };
        let sql = render_steps(&[part], kind, catalog, remotes)
            .map_err(|e| Failure::config(anyhow!(e)))?;
        let after = match step.after {
            Some(n) => format!("step {n}"),
            None => "the root fields".into(),
        };
        let what = format!(
            "{} (step {i}: one statement per {} keys from {after}, shown for none)",
            step.path.join("."),
            config.federation.batch_size
        );
        statements.push((step.database.clone(), what, sql));
    }

    for (database, what, sql) in &statements {
        let kind = target(database).map(|(k, _)| k.label()).unwrap_or("?");
        outln!("\n== database '{database}' ({kind}): {what}")?;
        outln!("{}", sql.text)?;
        if !sql.params.is_empty() {
            outln!("-- parameters:")?;
            for (i, p) in sql.params.iter().enumerate() {
                outln!("--   {}: {}", i + 1, describe(p))?;
            }
        }
        if let Some(why) = unreachable.get(database) {
            outln!("-- (no plan: the database is not reachable: {why})")?;
            continue;
        }
        match fraiseql_server::explain_sql(&config, database, sql, args.analyze, &settings).await {
            Ok(text) => {
                outln!("-- plan:")?;
                for line in text.lines() {
                    outln!("{line}")?;
                }
            }
            Err(e) => outln!("-- (no plan: {e})")?,
        }
    }
    if statements.is_empty() {
        outln!("(no database statement: nothing in this operation reads a view)")?;
    }
    Ok(())
}

/// `--as`: the claims, and the identity they make under `[auth]`.
type AsCaller = (
    serde_json::Map<String, serde_json::Value>,
    fraiseql_server::Identity,
);

/// With `--as`: the claims and what they mean under `[auth]` (roles, scopes, SQL
/// settings), checked by the caller as the server checks a request's. Without: nobody, and
/// the operation is explained whoever may run it.
fn as_caller(
    config: &fraiseql_engine::config::Config,
    claims: Option<&str>,
) -> Result<Option<AsCaller>, Failure> {
    let Some(text) = claims else {
        return Ok(None);
    };
    let Some(auth) = &config.auth else {
        return Err(Failure::config(anyhow!(
            "--as needs [auth] in the config: it says which claims are roles, scopes and settings"
        )));
    };
    let claims = match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(map)) => map,
        Ok(_) => {
            return Err(Failure::schema(anyhow!(
                "--as must be a JSON object of claims"
            )))
        }
        Err(e) => return Err(Failure::schema(anyhow!("--as is not valid JSON: {e}"))),
    };
    let who = fraiseql_server::identity(auth, &claims);
    Ok(Some((claims, who)))
}

fn describe(p: &Param) -> String {
    match p {
        Param::Text(s) => format!("text {s:?}"),
        Param::Int(i) => format!("int {i}"),
        Param::Float(f) => format!("float {f}"),
        Param::Bool(b) => format!("bool {b}"),
    }
}
