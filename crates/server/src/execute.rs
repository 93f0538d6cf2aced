//! `execute`: one GraphQL request through prepare (cached by query hash), plan, render, the
//! database round trips, and assembly. Reads run one statement per database, databases in
//! parallel; a database that fails nulls only its own fields (a partial result). Mutations
//! run one after another, each in its own transaction.

use crate::context::RequestContext;
use crate::db::{Database, DbError, DbErrorKind};
use crate::log::clip;
use crate::remote::{plan_databases, Remote};
use crate::state::AppState;
use fraiseql_engine::catalog::Catalog;
use fraiseql_engine::config::DatabaseKind;
use fraiseql_engine::error::{ErrorCode, GraphQLError, PathSegment};
use fraiseql_engine::plan::{plan, Fetch, Mutate, Plan, Root, RootAction, Step};
use fraiseql_engine::request::{introspect, prepare, OperationKind, Prepared};
use fraiseql_engine::response::{assemble, request_error, RootValue};
use fraiseql_engine::sql::{
    mutation_outcome, render_call, render_read_back, render_reads, CallSql, MutationResult,
    ReadStatement, Remotes,
};
use std::collections::HashMap;
use std::sync::Arc;

/// One GraphQL request, as the HTTP layer decoded it.
pub(crate) struct GraphQLRequest {
    pub(crate) query: String,
    pub(crate) operation_name: Option<String>,
    pub(crate) variables: serde_json::Map<String, serde_json::Value>,
}

/// How the request arrived (mutations are refused over GET).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Post,
    Get,
    /// A query or mutation sent over a subscriptions WebSocket.
    Socket,
}

/// How the HTTP layer should answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutcomeStatus {
    /// The response has `data` (possibly with field errors).
    Ok,
    /// Parse, validation or variable errors: no `data` key.
    RequestError,
    /// A mutation over GET.
    MethodNotAllowed,
    /// Open circuits refused every database field: 503, `Retry-After` in seconds.
    CircuitOpen { retry_after: u64 },
    /// The caller may not run the operation: 401 (no token) or 403.
    Denied { unauthenticated: bool },
}

/// A serialized GraphQL response and how to send it.
pub(crate) struct Outcome {
    pub(crate) body: Vec<u8>,
    pub(crate) status: OutcomeStatus,
    /// `"query"` or `"mutation"` once known.
    pub(crate) operation: Option<&'static str>,
    /// The code of the first error, if any (the tenant metrics' `error_type`).
    pub(crate) error: Option<&'static str>,
}

fn label(kind: OperationKind) -> &'static str {
    match kind {
        OperationKind::Query => "query",
        OperationKind::Mutation => "mutation",
        OperationKind::Subscription => "subscription",
    }
}

/// Executes one GraphQL request as `ctx`'s caller, counted under its tenant, if any.
pub(crate) async fn execute(
    state: &AppState,
    req: GraphQLRequest,
    transport: Transport,
    ctx: &RequestContext,
) -> Outcome {
    let started = std::time::Instant::now();
    let outcome = run(state, req, transport, ctx).await;
    if let Some(tenant) = &ctx.tenant {
        state.metrics.tenants.observe(
            tenant,
            "/graphql",
            outcome.operation.unwrap_or("unknown"),
            started.elapsed().as_secs_f64(),
            outcome.error,
        );
    }
    outcome
}

async fn run(
    state: &AppState,
    req: GraphQLRequest,
    transport: Transport,
    ctx: &RequestContext,
) -> Outcome {
    let started = (std::time::SystemTime::now(), std::time::Instant::now());
    let prepared = match prepared(state, &req) {
        Ok(p) => p,
        Err(errors) => return failed(state, &errors, OutcomeStatus::RequestError, None),
    };
    let kind = prepared.kind;
    let op = Some(label(kind));
    if let Err(errors) = permitted(state, &prepared, ctx) {
        let unauthenticated = errors
            .iter()
            .all(|e| e.code() == ErrorCode::Unauthenticated);
        return failed(
            state,
            &errors,
            OutcomeStatus::Denied { unauthenticated },
            op,
        );
    }
    if kind == OperationKind::Subscription && transport != Transport::Socket {
        let e = GraphQLError::new(
            ErrorCode::BadRequest,
            "subscriptions are served over WebSocket (graphql-transport-ws) at /graphql and /ws, \
             not over HTTP",
        );
        return failed(state, &[e], OutcomeStatus::RequestError, op);
    }
    if transport == Transport::Get && kind != OperationKind::Query {
        let e = GraphQLError::new(
            ErrorCode::MutationNotAllowed,
            "only queries may be sent with GET; use POST",
        );
        return failed(state, &[e], OutcomeStatus::MethodNotAllowed, op);
    }
    if kind == OperationKind::Mutation && state.config.server.read_only {
        let e = GraphQLError::new(
            ErrorCode::MutationNotAllowed,
            "this server is read-only: mutations are disabled",
        );
        return failed(state, &[e], OutcomeStatus::RequestError, op);
    }
    let plan = match plan(&state.api, &prepared, &req.variables, &ctx.caller()) {
        Ok(p) => p,
        Err(errors) => return failed(state, &errors, OutcomeStatus::RequestError, op),
    };
    let remote = match Remote::new(state, &plan, ctx).await {
        Ok(r) => r,
        Err(e) => return failed(state, &[e], OutcomeStatus::RequestError, op),
    };
    let (mut values, mut errors) = match kind {
        OperationKind::Mutation => run_mutations(state, &plan, &remote, ctx).await,
        _ => match run_reads(state, Some(&prepared), &plan, &remote, &req.variables, ctx).await {
            Ok(r) => r,
            Err(errors) => return failed(state, &errors, OutcomeStatus::RequestError, op),
        },
    };
    // Before `_entities` takes the errors of its hidden reads: each counts on its own.
    let refused = state.resilience.refused_all(&plan, &errors);
    fraiseql_engine::plan::assemble_entities(&plan, &mut values, &mut errors);
    // `_entities` reads its rows through hidden roots, which the response leaves out.
    let hidden = fraiseql_engine::plan::hidden_roots(&plan);
    let roots: Vec<(&str, RootValue<'_>)> = plan
        .roots
        .iter()
        .zip(&values)
        .enumerate()
        .filter(|(i, _)| !hidden.get(*i).copied().unwrap_or(false))
        .map(|(_, (r, v))| {
            (
                r.key.as_str(),
                v.as_deref().map_or(RootValue::Null, RootValue::Raw),
            )
        })
        .collect();
    let extensions = ctx.trace.then(|| {
        let data = roots
            .iter()
            .map(|(key, value)| {
                let value = match value {
                    RootValue::Raw(text) => serde_json::from_str(text).unwrap_or_default(),
                    RootValue::Null => serde_json::Value::Null,
                };
                ((*key).to_owned(), value)
            })
            .collect();
        let since_epoch = started
            .0
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let ftv1 = fraiseql_engine::ftv1::encode(
            &prepared,
            &data,
            &errors,
            since_epoch,
            started.1.elapsed(),
        );
        serde_json::json!({ "ftv1": ftv1 }).to_string()
    });
    let mut body = Vec::with_capacity(values.iter().flatten().map(String::len).sum::<usize>() + 64);
    assemble(&mut body, &roots, &errors, extensions.as_deref());
    for e in &errors {
        state.metrics.count_error(e.code().as_str());
    }
    state
        .metrics
        .count_operation(label(kind), errors.is_empty());
    let status = match refused {
        Some(retry_after) => OutcomeStatus::CircuitOpen { retry_after },
        None => OutcomeStatus::Ok,
    };
    Outcome {
        body,
        status,
        operation: op,
        error: errors.first().map(|e| e.code().as_str()),
    }
}

fn failed(
    state: &AppState,
    errors: &[GraphQLError],
    status: OutcomeStatus,
    op: Option<&'static str>,
) -> Outcome {
    for e in errors {
        state.metrics.count_error(e.code().as_str());
    }
    if let Some(kind) = op {
        state.metrics.count_operation(kind, false);
    }
    let mut body = Vec::new();
    request_error(&mut body, errors);
    Outcome {
        body,
        status,
        operation: op,
        error: errors.first().map(|e| e.code().as_str()),
    }
}

/// Whether `ctx` may run the operation: every field's and type's `@auth`, and
/// `[auth] introspection_role` for `__schema`/`__type`. Before any planning or database work.
pub(crate) fn permitted(
    state: &AppState,
    prepared: &Prepared,
    ctx: &RequestContext,
) -> Result<(), Vec<GraphQLError>> {
    let role = state.auth.as_ref().and_then(|a| a.introspection_role());
    if let (true, Some(role)) = (prepared.introspection, role) {
        if !ctx.roles.iter().any(|r| r == role) {
            let e = if ctx.authenticated {
                GraphQLError::new(
                    ErrorCode::Forbidden,
                    format!("introspection needs the role `{role}`"),
                )
            } else {
                GraphQLError::new(
                    ErrorCode::Unauthenticated,
                    "introspection needs an authenticated caller",
                )
            };
            return Err(vec![e]);
        }
    }
    fraiseql_engine::authorize::authorize(&state.api, prepared, &ctx.caller())
}

/// Parse + validate, cached by (query text, operation name).
pub(crate) fn prepared(
    state: &AppState,
    req: &GraphQLRequest,
) -> Result<Arc<Prepared>, Vec<GraphQLError>> {
    let key = state.prepared_key(&req.query, req.operation_name.as_deref());
    if let Some(p) = state.prepared.get(&key) {
        return Ok(p);
    }
    let p = Arc::new(prepare(
        &state.api,
        &req.query,
        req.operation_name.as_deref(),
    )?);
    state.prepared.insert(key, p.clone());
    Ok(p)
}

type Values = Vec<Option<String>>;

/// Reads: introspection and `__typename` answered here, every database's statement in
/// parallel. The values and errors are those of the roots: `_entities` is assembled from
/// its hidden roots by the caller (`assemble_entities`).
async fn run_reads(
    state: &AppState,
    prepared: Option<&Prepared>,
    plan: &Plan,
    remote: &Remote<'_>,
    variables: &serde_json::Map<String, serde_json::Value>,
    ctx: &RequestContext,
) -> Result<(Values, Vec<GraphQLError>), Vec<GraphQLError>> {
    let mut values: Values = vec![None; plan.roots.len()];
    let mut errors = Vec::new();
    if let Some(prepared) = prepared.filter(|p| p.introspection) {
        let map = introspect(&state.api, prepared, variables)?;
        for (i, root) in plan.roots.iter().enumerate() {
            if root.action == RootAction::Introspection {
                values[i] = map.get(&root.key).map(|v| v.to_string());
            }
        }
    }
    for (i, root) in plan.roots.iter().enumerate() {
        match &root.action {
            RootAction::Typename(name) => values[i] = Some(format!("\"{name}\"")),
            RootAction::Constant(json) => values[i] = Some(json.clone()),
            _ => {}
        }
    }
    let mut catalogs: HashMap<&str, (DatabaseKind, Option<Arc<Catalog>>)> = HashMap::new();
    let (statements, owners) = {
        for name in plan_databases(plan) {
            if let Ok(db) = remote.database(name) {
                catalogs.insert(name, (db.kind, db.catalog()));
            }
        }
        render_guarded(
            state,
            plan,
            &|name| {
                let (kind, catalog) = catalogs.get(name)?;
                Some((*kind, catalog.as_deref()))
            },
            remote.remotes(),
        )
    }
    .map_err(|m| vec![GraphQLError::new(ErrorCode::InternalServerError, m)])?;
    // Each database's rows are joined with those of other databases as soon as they arrive.
    let runs = statements.iter().enumerate().map(|(i, s)| {
        let entity = owners.get(i).copied().flatten();
        async move {
            let db = remote.database(&s.database).map_err(|e| *e)?;
            let columns = state
                .resilience
                .read_as(&db.name, entity, || {
                    db.fetch_texts_as(&s.sql, &ctx.settings)
                })
                .await
                .map_err(|e| match entity {
                    Some(entity) if e.kind == DbErrorKind::CircuitOpen => {
                        entity_refused(entity, &s.database)
                    }
                    _ => db_error(&s.database, &e),
                })?;
            Ok::<_, GraphQLError>(remote.resolve(columns).await)
        }
    });
    let results = futures::future::join_all(runs).await;
    for (stmt, result) in statements.iter().zip(results) {
        match result {
            Ok(columns) => {
                for (root, text) in stmt.roots.iter().zip(columns) {
                    let key = &plan.roots[*root].key;
                    values[*root] = text.map(|t| remote.finish(key, t, &mut errors));
                }
            }
            Err(base) => {
                for root in &stmt.roots {
                    let key = plan.roots[*root].key.clone();
                    errors.push(base.clone().at(vec![PathSegment::Key(key)]));
                }
            }
        }
    }
    Ok((values, errors))
}

/// The read statements of `plan`, and per statement the entity whose own circuit breaker
/// guards it (`None`: its database's; empty, allocating nothing, when no read has one, as
/// for nearly every request). The `_entities` reads of an entity with a breaker of its own
/// ([`Resilience::own_breaker`](crate::resilience::Resilience::own_breaker)) go in a
/// statement of their own, so that their failures (a view that raises, is gone, or hangs)
/// fail and count only for that entity; every other read shares its database's statement.
fn render_guarded<'p, 'c>(
    state: &AppState,
    plan: &'p Plan,
    target: &dyn Fn(&str) -> fraiseql_engine::sql::DatabaseTarget<'c>,
    remotes: Remotes<'_>,
) -> Result<(Vec<ReadStatement>, Vec<Option<&'p str>>), String> {
    let owner = |r: &'p Root| state.resilience.own_breaker(r);
    if plan.roots.iter().all(|r| owner(r).is_none()) {
        return Ok((render_reads(plan, target, remotes)?, Vec::new()));
    }
    // The reads grouped by guard (the database's first), each group rendered as a plan of
    // its own and its roots numbered back. Its steps are not needed: `remotes` has them.
    let mut groups: indexmap::IndexMap<Option<&str>, Vec<usize>> = indexmap::IndexMap::new();
    groups.insert(None, Vec::new());
    for (i, root) in plan.roots.iter().enumerate() {
        if matches!(root.action, RootAction::Fetch(_)) {
            groups.entry(owner(root)).or_default().push(i);
        }
    }
    let (mut statements, mut owners) = (Vec::new(), Vec::new());
    for (entity, roots) in groups {
        let part = Plan {
            kind: plan.kind,
            roots: roots.iter().map(|&i| plan.roots[i].clone()).collect(),
            steps: Vec::new(),
        };
        for mut statement in render_reads(&part, target, remotes)? {
            for root in &mut statement.roots {
                *root = roots[*root];
            }
            statements.push(statement);
            owners.push(entity);
        }
    }
    Ok((statements, owners))
}

/// An `_entities` read refused by its entity's own open circuit (its database may be fine).
fn entity_refused(entity: &str, database: &str) -> GraphQLError {
    GraphQLError::new(
        ErrorCode::ServiceUnavailable,
        format!("Entity '{entity}' is temporarily unavailable (circuit open)"),
    )
    .database(database)
}

/// Mutations, serially (GraphQL requires it), each in its own transaction.
async fn run_mutations(
    state: &AppState,
    plan: &Plan,
    remote: &Remote<'_>,
    ctx: &RequestContext,
) -> (Values, Vec<GraphQLError>) {
    let mut values: Values = vec![None; plan.roots.len()];
    let mut errors = Vec::new();
    for (i, root) in plan.roots.iter().enumerate() {
        match &root.action {
            RootAction::Typename(name) => values[i] = Some(format!("\"{name}\"")),
            RootAction::Mutate(m) => match mutate(state, m, remote, ctx).await {
                // Relations into other databases are read after the transaction.
                Ok(v) => {
                    let v = remote.resolve(vec![v]).await.pop().flatten();
                    values[i] = v.map(|t| remote.finish(&root.key, t, &mut errors));
                }
                Err(e) => errors.push(e.at(vec![PathSegment::Key(root.key.clone())])),
            },
            RootAction::Fetch(_)
            | RootAction::Introspection
            | RootAction::Subscribe(_)
            | RootAction::Constant(_)
            | RootAction::Entities(_) => {}
        }
    }
    (values, errors)
}

/// The entity one event names, read with a subscription's selection: `fetch` is
/// [`Subscribe::read`](fraiseql_engine::plan::Subscribe::read) of the event's key, `steps`
/// the subscription plan's relations into other databases. `None` when no row matches (the
/// entity is gone, or the subscription's arguments filter it out).
pub(crate) async fn read_event(
    state: &AppState,
    key: &str,
    fetch: Fetch,
    steps: &[Step],
    ctx: &RequestContext,
) -> (Option<String>, Vec<GraphQLError>) {
    let plan = Plan {
        kind: OperationKind::Query,
        roots: vec![Root {
            key: key.to_owned(),
            action: RootAction::Fetch(fetch),
        }],
        steps: steps.to_vec(),
    };
    let remote = match Remote::new(state, &plan, ctx).await {
        Ok(r) => r,
        Err(e) => return (None, vec![e]),
    };
    let no_variables = serde_json::Map::new();
    match run_reads(state, None, &plan, &remote, &no_variables, ctx).await {
        Ok((mut values, errors)) => (values.pop().flatten(), errors),
        Err(errors) => (None, errors),
    }
}

async fn mutate(
    state: &AppState,
    m: &Mutate,
    remote: &Remote<'_>,
    ctx: &RequestContext,
) -> Result<Option<String>, GraphQLError> {
    let remotes = remote.remotes();
    let db = remote.database(&m.database).map_err(|e| *e)?;
    let catalog = match db.catalog() {
        Some(c) => c,
        None => state
            .resilience
            .read(&db.name, || db.load_catalog())
            .await
            .map_err(|e| db_error(&m.database, &e))?,
    };
    let call = render_call(m, db.kind, Some(&catalog), remotes)?;
    let result = state
        .resilience
        .write(&db.name, run_call(db, m, &catalog, call, remotes, ctx))
        .await;
    match result {
        Ok(v) => Ok(v),
        Err(MutateError::Db(e)) => Err(db_error(&m.database, &e)),
        Err(MutateError::Status(e)) => Err(e),
    }
}

enum MutateError {
    Db(DbError),
    Status(GraphQLError),
}

impl From<DbError> for MutateError {
    fn from(e: DbError) -> Self {
        Self::Db(e)
    }
}

impl crate::resilience::CallError for MutateError {
    fn db_error(&self) -> Option<&DbError> {
        match self {
            Self::Db(e) => Some(e),
            Self::Status(_) => None,
        }
    }
}

fn first_text(rows: Vec<Vec<Option<String>>>) -> Option<String> {
    rows.into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten())
}

/// Performs the call and the read-back in one transaction; a failure status rolls back. On
/// PostgreSQL that is two round trips: `BEGIN` + call, then read-back + `COMMIT`.
async fn run_call(
    db: &Database,
    m: &Mutate,
    catalog: &Catalog,
    call: CallSql,
    remotes: Remotes<'_>,
    ctx: &RequestContext,
) -> Result<Option<String>, MutateError> {
    let mut tx = db.begin_as(&ctx.settings).await?;
    let response = match call {
        CallSql::Rows(q) => return Ok(first_text(tx.fetch_rows_and_commit(&q).await?)),
        CallSql::Response(q) => tx.fetch_rows(&q).await?,
        CallSql::ResponseVia { call, take } => {
            tx.execute(&call).await?;
            tx.fetch_rows(&take).await?
        }
        CallSql::Procedure(q) => {
            let (columns, rows) = tx.fetch_named(&q).await?;
            match procedure_result(m, &columns, rows) {
                ProcedureResult::Response(json) => vec![vec![Some(json)]],
                ProcedureResult::Entities(entities) => {
                    let v = read_back_entities(&mut tx, m, db, catalog, entities, remotes).await?;
                    tx.commit().await?;
                    return Ok(v);
                }
            }
        }
    };
    let result = first_text(response)
        .as_deref()
        .and_then(MutationResult::from_json)
        .ok_or_else(|| {
            MutateError::Status(GraphQLError::new(
                ErrorCode::DatabaseError,
                format!("function `{}` returned no mutation_response", m.function),
            ))
        })?;
    mutation_outcome(&result).map_err(MutateError::Status)?;
    match render_read_back(m, db.kind, Some(catalog), &result, remotes) {
        Some(q) => Ok(first_text(tx.fetch_rows_and_commit(&q).await?)),
        None => {
            tx.commit().await?;
            Ok(None)
        }
    }
}

/// What a stored procedure's first result set holds.
enum ProcedureResult {
    /// A `mutation_response` as JSON text, built from the named columns.
    Response(String),
    /// The `data` column of each row: entities of the view.
    Entities(Vec<String>),
}

/// Reads a procedure's result set: with a `status` column it is a `mutation_response` (its
/// first row; `entity` and `metadata` hold JSON text), with a `data` column rows of the view.
/// Anything else (no row, or neither column) is refused by the caller.
fn procedure_result(
    m: &Mutate,
    columns: &[String],
    rows: Vec<Vec<Option<String>>>,
) -> ProcedureResult {
    let at = |name: &str| columns.iter().position(|c| c.eq_ignore_ascii_case(name));
    if at("status").is_none() {
        if let Some(data) = at("data") {
            let entities = rows
                .into_iter()
                .filter_map(|mut r| r.get_mut(data).and_then(Option::take))
                .take(if m.list { usize::MAX } else { 1 })
                .collect();
            return ProcedureResult::Entities(entities);
        }
    }
    let Some(row) = rows.into_iter().next().filter(|_| at("status").is_some()) else {
        // Neither a response nor entities (or no row): not JSON, so the caller reports
        // that the procedure returned no mutation_response.
        return ProcedureResult::Response(String::new());
    };
    let mut object = serde_json::Map::new();
    for (name, value) in columns.iter().zip(row) {
        let name = name.to_ascii_lowercase();
        let value = match value {
            None => serde_json::Value::Null,
            // JSON columns arrive as text; a value that is not JSON stays a string.
            Some(text) if matches!(name.as_str(), "entity" | "metadata") => {
                serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
            }
            Some(text) => serde_json::Value::String(text),
        };
        object.insert(name, value);
    }
    ProcedureResult::Response(serde_json::Value::Object(object).to_string())
}

/// The selection of each entity a procedure returned, as one value (a list for a list
/// mutation), read in the procedure's transaction.
async fn read_back_entities(
    tx: &mut crate::db::Tx,
    m: &Mutate,
    db: &Database,
    catalog: &Catalog,
    entities: Vec<String>,
    remotes: Remotes<'_>,
) -> Result<Option<String>, MutateError> {
    let mut out = Vec::with_capacity(entities.len());
    for entity in entities {
        let result = MutationResult {
            status: "success".into(),
            entity: Some(entity),
            ..MutationResult::default()
        };
        if let Some(q) = render_read_back(m, db.kind, Some(catalog), &result, remotes) {
            if let Some(v) = first_text(tx.fetch_rows(&q).await?) {
                out.push(v);
            }
        }
    }
    Ok(if m.list {
        Some(format!("[{}]", out.join(",")))
    } else {
        out.pop()
    })
}

/// A database failure as a safe GraphQL error; the details go to the log. The event is
/// recorded inside the request's span, so the log line carries its `request_id`, the id the
/// client got back in `x-request-id`: that id is how an operator finds the details of the
/// fixed message a client reports.
pub(crate) fn db_error(database: &str, e: &DbError) -> GraphQLError {
    // A call refused by an open circuit never reached the database: the breaker logged
    // when it opened (and each refusal at debug), so an outage is not a warning per request.
    if e.kind != DbErrorKind::CircuitOpen {
        tracing::warn!(
            database,
            kind = ?e.kind,
            // The driver's own code (SQLSTATE, SQLite extended result code), for operators.
            code = e.code.as_deref().unwrap_or_default(),
            error = %clip(&e.message),
            detail = %clip(e.detail.as_deref().unwrap_or_default()),
            hint = %clip(e.hint.as_deref().unwrap_or_default()),
            "database error"
        );
    }
    let err = |code, msg: String| GraphQLError::new(code, msg).database(database);
    let (code, message) = match e.kind {
        DbErrorKind::Unavailable => {
            return err(
                ErrorCode::DatabaseUnavailable,
                format!("Database '{database}' unavailable"),
            )
        }
        DbErrorKind::Timeout => {
            return err(
                ErrorCode::Timeout,
                format!("Database '{database}' did not answer in time"),
            )
        }
        DbErrorKind::Raised => return raised(database, e),
        DbErrorKind::CircuitOpen => {
            return err(
                ErrorCode::ServiceUnavailable,
                format!("Database '{database}' is temporarily unavailable (circuit open)"),
            )
        }
        DbErrorKind::UniqueViolation => (
            ErrorCode::Conflict,
            "a record with the same unique value already exists",
        ),
        DbErrorKind::ForeignKeyViolation => (
            ErrorCode::BadUserInput,
            "a referenced record does not exist",
        ),
        DbErrorKind::NotNullViolation => (ErrorCode::BadUserInput, "a required value is missing"),
        DbErrorKind::CheckViolation => {
            (ErrorCode::BadUserInput, "a value breaks a check constraint")
        }
        DbErrorKind::InvalidInput => (ErrorCode::BadUserInput, "invalid input value"),
        DbErrorKind::Serialization | DbErrorKind::Deadlock | DbErrorKind::Other => (
            ErrorCode::DatabaseError,
            "the database rejected the statement",
        ),
    };
    err(code, message.to_string())
}

/// The schema author's own error (`RAISE` in a function or trigger): that message, and its
/// hint, were written for clients. Every other database message stays in the log: it
/// quotes the offending input, type, column and constraint names, and the driver's code
/// names the engine behind the API.
fn raised(database: &str, e: &DbError) -> GraphQLError {
    let mut g =
        GraphQLError::new(hint_code(e.hint.as_deref()), e.message.clone()).database(database);
    if let Some(h) = e.hint.as_deref() {
        g = g.with("hint", h);
    }
    g
}

/// `RAISE ... USING HINT = 'NOT_FOUND'` picks the error code.
fn hint_code(hint: Option<&str>) -> ErrorCode {
    match hint.unwrap_or("") {
        "NOT_FOUND" => ErrorCode::NotFound,
        "CONFLICT" => ErrorCode::Conflict,
        "FORBIDDEN" => ErrorCode::Forbidden,
        "UNAUTHENTICATED" => ErrorCode::Unauthenticated,
        "BAD_USER_INPUT" | "INVALID_INPUT" | "VALIDATION_ERROR" => ErrorCode::BadUserInput,
        _ => ErrorCode::MutationFailed,
    }
}
