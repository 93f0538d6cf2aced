//! Relations into other databases, at request time. A statement's JSON holds a marker where
//! such a relation goes (`engine/src/sql/remote.rs`); once its rows arrive, [`Remote::resolve`]
//! collects the keys of every marker, deduplicated per step, reads them on each target
//! database (one statement per database, split every `batch_size` keys, the databases in
//! parallel), resolves the markers inside what came back in the same way (deeper levels start
//! as soon as their parent's rows arrive), and splices the JSON in, as text.
//!
//! A database that fails costs only its own fields: its markers become failure sentinels,
//! and [`Remote::finish`] turns each into `null` plus an error carrying its full path.

use crate::context::RequestContext;
use crate::db::{Database, DbError, Reads};
use crate::execute::db_error;
use crate::state::AppState;
use fraiseql_engine::error::{ErrorCode, GraphQLError, PathSegment};
use fraiseql_engine::plan::{Plan, RootAction, Step};
use fraiseql_engine::splice::{failure, splice, take_failures, Marker, Needle};
use fraiseql_engine::sql::{render_steps, Remotes, SqlQuery, StepKeys};
use futures::future::BoxFuture;
use futures::FutureExt;
use indexmap::{IndexMap, IndexSet};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;

/// One request's relations into other databases.
pub(crate) struct Remote<'a> {
    state: &'a AppState,
    steps: &'a [Step],
    /// Random per request: what markers and failure sentinels are spelt with.
    marker: String,
    /// The marker as it is searched for; `None` when the plan has no steps.
    needle: Option<Needle>,
    /// Keys per statement when a plan reads another database (`[federation] batch_size`).
    batch_size: usize,
    /// Where the reads go: a mutation's response must show what the request wrote, so
    /// its relations are read on the primaries, never on a read replica that may lag.
    reads: Reads,
    /// Errors of failed steps; a sentinel names one by its index.
    failures: Mutex<Vec<GraphQLError>>,
    /// The request's settings: each database's reads carry its session prelude.
    settings: &'a crate::db::Settings,
    /// The request's tenant's own databases (`database_per_tenant`), by logical name.
    tenant_databases: HashMap<String, Arc<Database>>,
}

/// The JSON read for each key, per step.
type Answers = HashMap<usize, HashMap<String, String>>;

impl<'a> Remote<'a> {
    /// The remote reads of `plan` for `ctx`, with the databases of its tenant it needs
    /// resolved first (an unknown tenant or a tenant database that cannot be opened fails
    /// the request here, before any statement).
    pub(crate) async fn new(
        state: &'a AppState,
        plan: &'a Plan,
        ctx: &'a RequestContext,
    ) -> Result<Self, GraphQLError> {
        let mut tenant_databases = HashMap::new();
        if state.tenants.is_some() {
            for name in plan_databases(plan) {
                if tenant_databases.contains_key(name) {
                    continue;
                }
                if let Some(db) = Box::pin(state.tenant_database(name, ctx)).await {
                    tenant_databases.insert(name.to_owned(), db?);
                }
            }
        }
        let marker = if plan.steps.is_empty() {
            String::new()
        } else {
            uuid::Uuid::new_v4().simple().to_string()
        };
        Ok(Self {
            state,
            steps: &plan.steps,
            needle: Needle::new(&marker),
            marker,
            batch_size: state.config.federation.batch_size,
            settings: &ctx.settings,
            reads: if plan
                .roots
                .iter()
                .any(|r| matches!(r.action, RootAction::Mutate(_)))
            {
                Reads::Primary
            } else {
                Reads::Replicas
            },
            failures: Mutex::new(Vec::new()),
            tenant_databases,
        })
    }

    /// The database a plan's logical name stands for, for this request.
    pub(crate) fn database(&self, name: &str) -> Result<&Arc<Database>, Box<GraphQLError>> {
        match self.tenant_databases.get(name) {
            Some(db) => Ok(db),
            None => self.state.database(name),
        }
    }

    /// What rendering needs to write markers.
    pub(crate) fn remotes(&self) -> Remotes<'_> {
        Remotes {
            steps: self.steps,
            marker: &self.marker,
        }
    }

    /// `texts` (one statement's JSON columns) with every marker replaced by what its step
    /// read, recursively.
    pub(crate) fn resolve(&self, texts: Vec<Option<String>>) -> BoxFuture<'_, Vec<Option<String>>> {
        async move {
            let Some(needle) = &self.needle else {
                return texts;
            };
            let found: Vec<Vec<Marker>> = texts
                .iter()
                .map(|t| t.as_deref().map_or_else(Vec::new, |t| needle.markers(t)))
                .collect();
            if found.iter().all(Vec::is_empty) {
                return texts;
            }
            let answers = self.read(&found).await;
            texts
                .into_iter()
                .zip(&found)
                .map(|(text, found)| {
                    let text = text?;
                    if found.is_empty() {
                        return Some(text);
                    }
                    Some(splice(&text, found, |m| self.value(m, &answers)))
                })
                .collect()
        }
        .boxed()
    }

    /// The JSON that replaces marker `m`.
    fn value<'v>(&self, m: &Marker, answers: &'v Answers) -> &'v str {
        let found = m.key.as_deref().and_then(|k| answers.get(&m.step)?.get(k));
        found.map_or_else(|| self.empty(m.step), String::as_str)
    }

    /// A relation with nothing to read: `null`, or `[]` for a list.
    fn empty(&self, step: usize) -> &'static str {
        if self.steps.get(step).is_some_and(|s| s.related.list) {
            "[]"
        } else {
            "null"
        }
    }

    /// Reads every key of `found` on its step's database: per database, statements of at
    /// most `batch_size` keys, all in parallel, each resolved further as soon as it returns.
    async fn read(&self, found: &[Vec<Marker>]) -> Answers {
        let mut wanted: IndexMap<usize, IndexSet<&str>> = IndexMap::new();
        for m in found.iter().flatten() {
            if let Some(k) = &m.key {
                wanted.entry(m.step).or_default().insert(k);
            }
        }
        // (step, key) pairs per target database, in first-seen order.
        let mut by_database: IndexMap<&str, Vec<(usize, &str)>> = IndexMap::new();
        for (step, keys) in &wanted {
            let Some(s) = self.steps.get(*step) else {
                continue;
            };
            let pairs = by_database.entry(s.database.as_str()).or_default();
            pairs.extend(keys.iter().map(|k| (*step, *k)));
        }
        let batches: Vec<(&str, &[(usize, &str)])> = by_database
            .iter()
            .flat_map(|(db, pairs)| {
                pairs
                    .chunks(self.batch_size.max(1))
                    .map(move |chunk| (*db, chunk))
            })
            .collect();
        let runs = batches.iter().map(|(db, pairs)| self.batch(db, pairs));
        let mut answers = Answers::new();
        for (pairs, result) in batches
            .iter()
            .map(|(_, p)| p)
            .zip(futures::future::join_all(runs).await)
        {
            match result {
                Ok(rows) => {
                    for ((step, key), json) in rows {
                        // No row for the key: `null` (or `[]`) is spliced by `value`.
                        if let Some(json) = json {
                            answers.entry(step).or_default().insert(key, json);
                        }
                    }
                }
                Err(n) => {
                    let sentinel = failure(&self.marker, n);
                    for (step, key) in pairs.iter() {
                        let by_key = answers.entry(*step).or_default();
                        by_key.insert(key.to_string(), sentinel.clone());
                    }
                }
            }
        }
        answers
    }

    /// One statement on `database` for `pairs` (grouped by step, as they come), then its
    /// values resolved. A failure is recorded and its number returned.
    async fn batch(
        &self,
        database: &str,
        pairs: &[(usize, &str)],
    ) -> Result<Vec<((usize, String), Option<String>)>, usize> {
        let (db, sql) = self.statement(database, pairs).map_err(|e| self.fail(*e))?;
        let rows = self
            .state
            .resilience
            .read(database, || {
                db.fetch_all_as(&sql, self.reads, self.settings)
            })
            .await
            .map_err(|e: DbError| self.fail(db_error(database, &e)))?;
        let mut keys = Vec::with_capacity(rows.len());
        let mut texts = Vec::with_capacity(rows.len());
        for mut row in rows {
            let value = row.pop().flatten();
            let key = row.pop().flatten().unwrap_or_default();
            let step = row
                .pop()
                .flatten()
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or(usize::MAX);
            keys.push((step, key));
            texts.push(value);
        }
        // Only a step some other step follows holds markers: the rest are not searched.
        let deeper = self
            .steps
            .iter()
            .filter_map(|s| s.after)
            .any(|after| pairs.iter().any(|(step, _)| *step == after));
        let texts = if deeper {
            self.resolve(texts).await
        } else {
            texts
        };
        Ok(keys.into_iter().zip(texts).collect())
    }

    fn statement(
        &self,
        database: &str,
        pairs: &[(usize, &str)],
    ) -> Result<(&Database, SqlQuery), Box<GraphQLError>> {
        let db = self.database(database)?;
        // The pairs come grouped by step (see `read`): one part per run of a step.
        let mut keys: Vec<(usize, Vec<&str>)> = Vec::new();
        for &(step, key) in pairs {
            match keys.last_mut() {
                Some((s, list)) if *s == step => list.push(key),
                _ => keys.push((step, vec![key])),
            }
        }
        let parts: Vec<StepKeys<'_>> = keys
            .iter()
            .map(|(step, keys)| StepKeys { step: *step, keys })
            .collect();
        let catalog = db.catalog();
        let sql = render_steps(&parts, db.kind, catalog.as_deref(), self.remotes())
            .map_err(|m| Box::new(GraphQLError::new(ErrorCode::InternalServerError, m)))?;
        Ok((db, sql))
    }

    fn fail(&self, e: GraphQLError) -> usize {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.push(e);
        failures.len() - 1
    }

    /// A root field's finished JSON: failure sentinels become `null`, each with its own
    /// error at its path below `key`.
    pub(crate) fn finish(&self, key: &str, text: String, errors: &mut Vec<GraphQLError>) -> String {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.is_empty() {
            return text;
        }
        let (text, found) = take_failures(&text, &self.marker);
        for (n, below) in found {
            let Some(e) = failures.get(n) else {
                continue;
            };
            let mut path = vec![PathSegment::Key(key.to_string())];
            path.extend(below);
            errors.push(e.clone().at(path));
        }
        text
    }
}

/// Every database `plan` reads or writes, in order of first use.
pub(crate) fn plan_databases(plan: &Plan) -> Vec<&str> {
    let roots = plan.roots.iter().filter_map(|r| match &r.action {
        RootAction::Fetch(f) => Some(f.database.as_str()),
        RootAction::Mutate(m) => Some(m.database.as_str()),
        RootAction::Subscribe(s) => Some(s.fetch.database.as_str()),
        _ => None,
    });
    let mut out: Vec<&str> = Vec::new();
    for name in roots.chain(plan.steps.iter().map(|s| s.database.as_str())) {
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}
