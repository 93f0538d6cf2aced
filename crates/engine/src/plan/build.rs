//! `plan`: a prepared operation plus variables -> [`Plan`]. Coerces variables (apollo's
//! CoerceVariableValues), collects fields, and resolves every argument, filter, sort key and
//! page against the compiled schema. Values stay values here; SQL text comes later.

use super::collect::{arguments, collect, collect_on, sub_sets, Grouped, Variables};
use super::input::{argument_value, check_cursors, filter_from_where, order_from_input};
use super::model::*;
use crate::authorize::Caller;
use crate::error::{ErrorCode, GraphQLError, PathSegment};
use crate::request::{ApiSchema, OperationKind, Prepared};
use crate::schema::{auto_params, CompiledSchema, ObjectType, QueryField, ScalarKind};
use apollo_compiler::executable::{ExecutableDocument, Field, SelectionSet};
use apollo_compiler::Node;
use serde_json::Value as Json;
use std::cell::RefCell;

/// Plans an operation for `caller` (whose token fills root fields' `inject`). Errors are
/// request errors (bad variables or arguments).
pub fn plan(
    api: &ApiSchema,
    prepared: &Prepared,
    variables: &serde_json::Map<String, Json>,
    caller: &Caller<'_>,
) -> Result<Plan, Vec<GraphQLError>> {
    let operation = prepared.operation();
    let vars = coerce_variables(api, operation, variables)?;
    let doc: &ExecutableDocument = &prepared.document;
    let grouped = collect(doc, &[&operation.selection_set], &vars);
    let planner = Planner {
        api,
        schema: &api.compiled,
        doc,
        vars: &vars,
        caller,
        conditions: std::cell::Cell::new(0),
        steps: RefCell::new(Vec::new()),
        scope: RefCell::new(Scope::default()),
    };
    let mut roots = Vec::with_capacity(grouped.len());
    let mut errors = Vec::new();
    for (key, fields) in &grouped {
        let field = fields[0];
        let name = field.name.as_str();
        planner.enter_root(key, name, prepared.kind);
        let subgraph = prepared.kind == OperationKind::Query && api.subgraph.is_some();
        let action = match (name, prepared.kind) {
            ("_entities", _) if subgraph => planner.entities(fields).map(|(fetches, slots)| {
                // Its rows are read by hidden roots right after it, with the other roots of
                // their databases.
                let first = roots.len() + 1;
                let parts = (first..first + fetches.len()).collect();
                let hidden = fetches.into_iter().enumerate().map(|(n, fetch)| Root {
                    key: format!("{key}#{n}"),
                    action: RootAction::Fetch(fetch),
                });
                (
                    RootAction::Entities(Entities { parts, slots }),
                    hidden.collect(),
                )
            }),
            _ => match (name, prepared.kind) {
                ("__typename", kind) => Ok(RootAction::Typename(root_type_name(kind).into())),
                ("__schema" | "__type", _) => Ok(RootAction::Introspection),
                ("_service", _) if subgraph => Ok(RootAction::Constant(planner.service(fields))),
                (_, OperationKind::Query) => planner.query(fields).map(RootAction::Fetch),
                (_, OperationKind::Mutation) => planner.mutation(fields).map(RootAction::Mutate),
                (_, OperationKind::Subscription) => planner
                    .subscription(fields)
                    .map(|s| RootAction::Subscribe(Box::new(s))),
            }
            .map(|action| (action, Vec::new())),
        };
        match action {
            Ok((action, hidden)) => {
                roots.push(Root {
                    key: key.clone(),
                    action,
                });
                roots.extend(hidden);
            }
            Err(e) => {
                let mut path = vec![PathSegment::Key(key.clone())];
                path.extend(e.path.iter().cloned());
                errors.push(e.at(path));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let plan = Plan {
        kind: prepared.kind,
        roots,
        steps: planner.steps.into_inner(),
    };
    super::estimate::check_rows(&plan, api.limits.max_result_rows).map_err(|e| vec![e])?;
    Ok(plan)
}

fn root_type_name(kind: OperationKind) -> &'static str {
    match kind {
        OperationKind::Query => "Query",
        OperationKind::Mutation => "Mutation",
        OperationKind::Subscription => "Subscription",
    }
}

/// Coerces raw request variables to the operation's declared types.
pub fn coerce_variables(
    api: &ApiSchema,
    operation: &apollo_compiler::executable::Operation,
    variables: &serde_json::Map<String, Json>,
) -> Result<Variables, Vec<GraphQLError>> {
    if operation.variables.is_empty() && variables.is_empty() {
        return Ok(Variables::new());
    }
    let coerced = crate::request::coerce(api, operation, variables).map_err(|e| vec![e])?;
    Ok(coerced
        .into_inner()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), crate::request::from_apollo(v)))
        .collect())
}

pub(super) fn user_error(message: impl Into<String>) -> GraphQLError {
    GraphQLError::new(ErrorCode::BadUserInput, message)
}

struct Planner<'a> {
    api: &'a ApiSchema,
    schema: &'a CompiledSchema,
    doc: &'a ExecutableDocument,
    vars: &'a Variables,
    caller: &'a Caller<'a>,
    /// Conditions of every `where` planned so far in this operation.
    conditions: std::cell::Cell<usize>,
    /// Relations into other databases planned so far.
    steps: RefCell<Vec<Step>>,
    /// Where the selection being planned is read.
    scope: RefCell<Scope>,
}

/// The rows a selection is projected from: their database, the step reading them (`None`:
/// a root field's statement) and the response keys leading to them.
#[derive(Debug, Clone, Default)]
struct Scope {
    database: String,
    step: Option<usize>,
    path: Vec<String>,
}

/// Most `where` conditions (comparisons and `isNull`) in one operation. Each is a bind
/// parameter or two, and databases cap parameters per statement (SQLite 32,766, PostgreSQL
/// 65,535): past this a request is refused with a clear error instead of failing in the
/// database. An `in` list is one condition (its values are bound as one parameter).
pub(crate) const MAX_WHERE_CONDITIONS: usize = 1_000;

/// Most representations one `_entities` takes (a gateway batches per request; more is
/// refused with a clear error, so one request cannot make an unbounded key list).
pub(crate) const MAX_REPRESENTATIONS: usize = 1_000;

impl Planner<'_> {
    /// Starts planning root field `name` (response key `key`): its rows are read on the
    /// database of the query or mutation.
    fn enter_root(&self, key: &str, name: &str, kind: OperationKind) {
        let database = match kind {
            OperationKind::Mutation => self.schema.mutations.get(name).map(|m| &m.database),
            OperationKind::Query => self.schema.queries.get(name).map(|q| &q.database),
            OperationKind::Subscription => self
                .schema
                .subscriptions
                .get(name)
                .and_then(|s| self.schema.types.get(&s.ty.name))
                .map(|t| &t.database),
        };
        *self.scope.borrow_mut() = Scope {
            database: database.cloned().unwrap_or_default(),
            step: None,
            path: vec![key.to_string()],
        };
    }

    /// `_service { sdl }`: the subgraph SDL, as the selection asks for it.
    fn service(&self, fields: &[&Node<Field>]) -> String {
        let sdl = self
            .api
            .subgraph
            .as_ref()
            .map(|s| s.sdl.clone())
            .unwrap_or_default();
        let mut out = serde_json::Map::new();
        for (key, fs) in collect(self.doc, &sub_sets(fields), self.vars) {
            let value = match fs[0].name.as_str() {
                "__typename" => Json::String("_Service".into()),
                _ => Json::String(sdl.clone()),
            };
            out.insert(key, value);
        }
        Json::Object(out).to_string()
    }

    /// `_entities(representations:)`: per entity type and key named, one read of its view
    /// for all its keys (with hidden items carrying each row's key), and per representation
    /// the read holding it and its key. A representation is read by the first key of its
    /// type whose fields it holds. One that is not an object, names a type that is not an
    /// entity here, holds no whole key, or mistypes a key field is `BAD_USER_INPUT`.
    #[allow(clippy::type_complexity)]
    fn entities(
        &self,
        fields: &[&Node<Field>],
    ) -> Result<(Vec<Fetch>, Vec<(usize, String)>), GraphQLError> {
        let args = arguments(fields[0], self.vars)?;
        let representations = match args.get("representations") {
            Some(Json::Array(items)) => items.as_slice(),
            _ => &[],
        };
        if representations.len() > MAX_REPRESENTATIONS {
            return Err(user_error(format!(
                "{} representations in one request; at most {MAX_REPRESENTATIONS}",
                representations.len()
            )));
        }
        let entities: &[crate::schema::EntityKey] = self
            .api
            .subgraph
            .as_ref()
            .map_or(&[], |s| s.entities.as_slice());
        // Per (entity, key) in first-appearance order: its distinct key values, each with
        // the first representation holding it.
        #[allow(clippy::type_complexity)]
        let mut groups: indexmap::IndexMap<
            (usize, usize),
            indexmap::IndexMap<String, (Vec<Json>, usize)>,
        > = indexmap::IndexMap::new();
        let mut slots = Vec::with_capacity(representations.len());
        for (i, rep) in representations.iter().enumerate() {
            let at = format!("representations[{i}]");
            let obj = rep
                .as_object()
                .ok_or_else(|| user_error(format!("`{at}` is not an object")))?;
            let name = obj
                .get("__typename")
                .and_then(Json::as_str)
                .ok_or_else(|| user_error(format!("`{at}` has no `__typename`")))?;
            let e = entities
                .iter()
                .position(|e| e.type_name == name)
                .ok_or_else(|| {
                    user_error(format!(
                        "`{at}`: `{}` is not an entity of this subgraph",
                        name.chars().take(100).collect::<String>()
                    ))
                })?;
            let entity = &entities[e];
            let held = |part: &crate::schema::KeyPart| {
                part.graphql
                    .iter()
                    .try_fold(rep, |v, name| v.get(name))
                    .filter(|v| !v.is_null())
            };
            let k = entity
                .keys
                .iter()
                .position(|key| key.parts.iter().all(|p| held(p).is_some()))
                .ok_or_else(|| {
                    let keys: Vec<String> = entity
                        .keys
                        .iter()
                        .map(|k| format!("`{}`", k.fields))
                        .collect();
                    user_error(format!(
                        "`{at}` holds no key of {name}: {}",
                        keys.join(" or ")
                    ))
                })?;
            let mut values = Vec::new();
            for part in &entity.keys[k].parts {
                let value = held(part).unwrap_or(&Json::Null);
                values.push(super::input::scalar_input(
                    self.schema,
                    None,
                    part.kind,
                    value,
                    &format!("{at}.{}", part.graphql.join(".")),
                )?);
            }
            let key = key_text(&values);
            let entry = groups.entry((e, k));
            let index = entry.index();
            entry.or_default().entry(key.clone()).or_insert((values, i));
            slots.push((index, key));
        }
        let mut fetches = Vec::with_capacity(groups.len());
        for ((e, k), keys) in &groups {
            let entity = &entities[*e];
            let ty = self.object(&entity.type_name)?;
            self.scope.borrow_mut().database = ty.database.clone();
            let on = Some(entity.type_name.as_str());
            let grouped = collect_on(self.doc, &sub_sets(fields), self.vars, on);
            let selection = self.selection_of(&grouped, ty)?;
            let targets: Vec<Target> = entity.keys[*k]
                .parts
                .iter()
                .map(|p| Target {
                    path: p.data.clone(),
                    kind: p.kind,
                })
                .collect();
            let read = EntityRead {
                key: targets.clone(),
                representations: self.representations(
                    entity,
                    *k,
                    &selection,
                    keys,
                    representations,
                )?,
            };
            let filter = if let [target] = targets.as_slice() {
                let values = keys.values().map(|(v, _)| v[0].clone()).collect();
                Filter::Compare {
                    target: target.clone(),
                    op: Op::In,
                    value: Json::Array(values),
                }
            } else {
                let each = |(values, _): &(Vec<Json>, usize)| {
                    let all = targets
                        .iter()
                        .zip(values)
                        .map(|(target, value)| Filter::Compare {
                            target: target.clone(),
                            op: Op::Eq,
                            value: value.clone(),
                        });
                    Filter::And(all.collect())
                };
                Filter::Or(keys.values().map(each).collect())
            };
            fetches.push(Fetch {
                field: "_entities".into(),
                database: ty.database.clone(),
                view: ty.sql_source.clone(),
                shape: Shape::List {
                    selection,
                    limit: keys.len() as u64,
                    offset: 0,
                },
                filter: Some(filter),
                order: Vec::new(),
                entity: Some(Box::new(read)),
            });
        }
        Ok((fetches, slots))
    }

    fn query(&self, fields: &[&Node<Field>]) -> Result<Fetch, GraphQLError> {
        let field = fields[0];
        let q = self
            .schema
            .queries
            .get(field.name.as_str())
            .ok_or_else(|| {
                GraphQLError::new(
                    ErrorCode::GraphqlValidationFailed,
                    format!("unknown query `{}`", field.name),
                )
            })?;
        let ty = self.object(&q.ty.name)?;
        let args = arguments(field, self.vars)?;
        let mut filters = self.declared_filters(q, ty, &args)?;
        filters.extend(self.injected_filters(q, ty)?);
        let auto = auto_params(q, &self.api.defaults);
        if let Some(f) = self.list_filter(ty, &args)? {
            filters.push(f);
        }
        let filter = match filters.len() {
            0 => None,
            1 => filters.pop(),
            _ => Some(Filter::And(filters)),
        };
        let (shape, order) = if q.relay {
            // Keyset pagination needs a total order: the key fields break ties.
            let order = self.list_order(ty, &args)?;
            let mut connection = self.connection(fields, ty, &args, order.len())?;
            check_cursors(self.schema, &mut connection, &order)?;
            (Shape::Connection(connection), order)
        } else if q.ty.list {
            let declared = |n: &str| q.arguments.iter().any(|a| a.name == n);
            // Without a `limit` argument the list is still capped: no list is unbounded.
            let limit = if auto.limit || declared("limit") {
                self.page_size(args.get("limit"), "limit")?
            } else {
                self.api.defaults.max_page_size
            };
            let offset = if auto.offset || declared("offset") {
                offset(args.get("offset"))?
            } else {
                0
            };
            let selection = self.selection(&sub_sets(fields), ty)?;
            let shape = Shape::List {
                selection,
                limit,
                offset,
            };
            (shape, self.list_order(ty, &args)?)
        } else {
            let order = match args.get("orderBy").filter(|o| !o.is_null()) {
                Some(o) => order_from_input(self.schema, ty, o)?,
                None => Vec::new(),
            };
            (Shape::One(self.selection(&sub_sets(fields), ty)?), order)
        };
        Ok(Fetch {
            field: q.name.clone(),
            database: q.database.clone(),
            view: q.sql_source.clone(),
            shape,
            filter,
            order,
            entity: None,
        })
    }

    /// The representations an entity read joins to its rows when `selection` computes a
    /// field from `@requires` fields (`None` otherwise): per distinct key (`keys`, each with
    /// its first representation's index), the key and the required fields, each value checked
    /// against its field's type (a mistyped one is `BAD_USER_INPUT`; a missing one is null).
    fn representations(
        &self,
        entity: &crate::schema::EntityKey,
        key: usize,
        selection: &Selection,
        keys: &indexmap::IndexMap<String, (Vec<Json>, usize)>,
        representations: &[Json],
    ) -> Result<Option<Representations>, GraphQLError> {
        let mut required: Vec<&crate::schema::FieldRef> = Vec::new();
        for item in &selection.items {
            if let Item::Computed { parts, .. } = item {
                for part in parts {
                    if let crate::schema::ComputedPart::Field(f) = part {
                        if f.required && !required.iter().any(|r| r.graphql == f.graphql) {
                            required.push(f);
                        }
                    }
                }
            }
        }
        if required.is_empty() {
            return Ok(None);
        }
        let parts = &entity.keys[key].parts;
        let mut rows = Vec::with_capacity(keys.len());
        for (values, i) in keys.values() {
            let rep = &representations[*i];
            let mut row = Json::Object(serde_json::Map::new());
            for (part, value) in parts.iter().zip(values) {
                put(&mut row, &part.graphql, value.clone());
            }
            for f in &required {
                let given = f.graphql.iter().try_fold(rep, |v, name| v.get(name));
                let value = match given.filter(|v| !v.is_null()) {
                    None => Json::Null,
                    Some(v) => super::input::scalar_input(
                        self.schema,
                        None,
                        f.kind,
                        v,
                        &format!("representations[{i}].{}", f.graphql.join(".")),
                    )?,
                };
                put(&mut row, &f.graphql, value);
            }
            rows.push(row);
        }
        Ok(Some(Representations {
            rows: Json::Array(rows),
            key: parts.iter().map(|p| p.graphql.clone()).collect(),
        }))
    }

    /// A subscription field: the entity read per event, its arguments as filters on the
    /// entity's fields (compile resolved each to a data key), the key pinned by one of them
    /// kept aside so other entities' events are passed over without a read.
    fn subscription(&self, fields: &[&Node<Field>]) -> Result<Subscribe, GraphQLError> {
        let field = fields[0];
        let s = self
            .schema
            .subscriptions
            .get(field.name.as_str())
            .ok_or_else(|| {
                GraphQLError::new(
                    ErrorCode::GraphqlValidationFailed,
                    format!("unknown subscription `{}`", field.name),
                )
            })?;
        let ty = self.object(&s.ty.name)?;
        let topic = s.topic.clone().ok_or_else(|| {
            GraphQLError::new(
                ErrorCode::BadRequest,
                format!("subscription `{}` names no topic", s.name),
            )
        })?;
        let key_name = ty.key_fields.first().map_or("id", String::as_str);
        let key_kind = ty
            .fields
            .values()
            .find(|f| f.key == key_name)
            .and_then(|f| ScalarKind::of(&f.ty.name))
            .unwrap_or(ScalarKind::Id);
        let key = Target {
            path: vec![key_name.to_owned()],
            kind: key_kind,
        };
        let args = arguments(field, self.vars)?;
        let mut key_value = None;
        let mut filters = Vec::new();
        for a in &s.arguments {
            let Some(value) = args.get(&a.name).filter(|v| !v.is_null()) else {
                continue;
            };
            let f = ty.fields.values().find(|f| f.key == a.key && f.in_data());
            let type_name = f.map_or(a.ty.name.as_str(), |f| f.ty.name.as_str());
            let enum_name = self.schema.enums.get(type_name).map(|e| e.name.as_str());
            let kind = match (ScalarKind::of(type_name), enum_name) {
                (Some(k), _) => k,
                (None, Some(_)) => ScalarKind::Text,
                (None, None) => {
                    return Err(user_error(format!(
                        "argument `{}` of `{}` is not a scalar and cannot filter events",
                        a.name, s.name
                    )))
                }
            };
            let value = argument_value(self.schema, enum_name, kind, value, a.ty.list, &a.name)?;
            if a.key == key_name && !a.ty.list {
                key_value = Some(value.clone());
            }
            let target = Target {
                path: vec![a.key.clone()],
                kind,
            };
            let op = if a.ty.list { Op::In } else { Op::Eq };
            filters.push(Filter::Compare { target, op, value });
        }
        let filter = match filters.len() {
            0 => None,
            1 => filters.pop(),
            _ => Some(Filter::And(filters)),
        };
        Ok(Subscribe {
            field: s.name.clone(),
            topic,
            operation: s.operation.clone(),
            key,
            key_value,
            fetch: Fetch {
                field: s.name.clone(),
                database: ty.database.clone(),
                view: ty.sql_source.clone(),
                shape: Shape::One(self.selection(&sub_sets(fields), ty)?),
                filter,
                order: Vec::new(),
                entity: None,
            },
        })
    }

    /// Declared arguments other than pagination filter by equality on their key.
    fn declared_filters(
        &self,
        q: &QueryField,
        ty: &ObjectType,
        args: &serde_json::Map<String, Json>,
    ) -> Result<Vec<Filter>, GraphQLError> {
        let mut out = Vec::new();
        for a in &q.arguments {
            if q.ty.list && (a.name == "limit" || a.name == "offset") {
                continue;
            }
            let Some(value) = args.get(&a.name).filter(|v| !v.is_null()) else {
                continue;
            };
            let field = ty.fields.values().find(|f| f.key == a.key && f.in_data());
            let (kind, enum_name) = match field {
                Some(f) => (
                    ScalarKind::of(&f.ty.name),
                    self.schema.enums.get(&f.ty.name).map(|e| e.name.as_str()),
                ),
                None => (
                    ScalarKind::of(&a.ty.name),
                    self.schema.enums.get(&a.ty.name).map(|e| e.name.as_str()),
                ),
            };
            let kind = match (kind, enum_name) {
                (Some(k), _) => k,
                (None, Some(_)) => ScalarKind::Text,
                (None, None) => continue, // input objects do not filter
            };
            let target = Target {
                path: vec![a.key.clone()],
                kind,
            };
            let op = if a.ty.list { Op::In } else { Op::Eq };
            let value = argument_value(self.schema, enum_name, kind, value, a.ty.list, &a.name)?;
            out.push(Filter::Compare { target, op, value });
        }
        Ok(out)
    }

    /// A query's `inject`: each key equals its claim's value (is in it, for a list).
    fn injected_filters(
        &self,
        q: &QueryField,
        ty: &ObjectType,
    ) -> Result<Vec<Filter>, GraphQLError> {
        let mut out = Vec::with_capacity(q.inject.len());
        for (key, claim) in &q.inject {
            let value = self.caller.claim(&q.name, claim)?;
            let field = ty.fields.values().find(|f| &f.key == key && f.in_data());
            let enum_name = field
                .and_then(|f| self.schema.enums.get(&f.ty.name))
                .map(|e| e.name.as_str());
            let first = value.as_array().and_then(|a| a.first()).unwrap_or(value);
            let kind = match (field.and_then(|f| ScalarKind::of(&f.ty.name)), first) {
                (Some(k), _) => k,
                // A view column beside `data`: compared as the claim's own kind.
                (None, Json::Number(_)) if enum_name.is_none() => ScalarKind::Float,
                (None, Json::Bool(_)) if enum_name.is_none() => ScalarKind::Boolean,
                (None, _) => ScalarKind::Text,
            };
            let list = value.is_array();
            let value =
                argument_value(self.schema, enum_name, kind, value, list, key).map_err(|e| {
                    GraphQLError::new(
                        ErrorCode::Forbidden,
                        format!(
                            "the token claim `{claim}` cannot be compared with `{key}`: {}",
                            e.message
                        ),
                    )
                })?;
            let target = Target {
                path: vec![key.clone()],
                kind,
            };
            let op = if list { Op::In } else { Op::Eq };
            out.push(Filter::Compare { target, op, value });
        }
        Ok(out)
    }

    /// A list's `where` argument as a filter (absent or `null`: none).
    fn list_filter(
        &self,
        ty: &ObjectType,
        args: &serde_json::Map<String, Json>,
    ) -> Result<Option<Filter>, GraphQLError> {
        let Some(w) = args.get("where").filter(|w| !w.is_null()) else {
            return Ok(None);
        };
        let filter = filter_from_where(self.schema, ty, w, &[])?;
        let total = self.conditions.get() + filter.as_ref().map_or(0, conditions);
        self.conditions.set(total);
        if total > MAX_WHERE_CONDITIONS {
            return Err(user_error(format!(
                "the operation's `where` arguments hold {total} conditions; at most \
                 {MAX_WHERE_CONDITIONS} are accepted"
            )));
        }
        Ok(filter)
    }

    /// A list's sort keys: its `orderBy`, then the key fields it does not already sort on.
    /// The key makes the order total, so a list without `orderBy` (or with a non-unique one)
    /// comes back in the same order on every dialect and every run, and keyset cursors are
    /// unambiguous.
    fn list_order(
        &self,
        ty: &ObjectType,
        args: &serde_json::Map<String, Json>,
    ) -> Result<Vec<OrderKey>, GraphQLError> {
        let mut order = match args.get("orderBy").filter(|o| !o.is_null()) {
            Some(o) => order_from_input(self.schema, ty, o)?,
            None => Vec::new(),
        };
        for k in key_order(ty) {
            if !order.iter().any(|o| o.target == k.target) {
                order.push(k);
            }
        }
        Ok(order)
    }

    /// A relation list's page: `limit` checked like a root list's, and `max_page_size`
    /// when none is given. Hasura and PostGraphile return every child by default; the cap
    /// keeps that for ordinary data while bounding what one parent can pull in.
    fn related_page(&self, args: &serde_json::Map<String, Json>) -> Result<u64, GraphQLError> {
        match args.get("limit").filter(|v| !v.is_null()) {
            Some(v) => self.page_size(Some(v), "limit"),
            None => Ok(self.api.defaults.max_page_size),
        }
    }

    fn page_size(&self, value: Option<&Json>, name: &str) -> Result<u64, GraphQLError> {
        let d = &self.api.defaults;
        match value.filter(|v| !v.is_null()) {
            None => Ok(d.default_page_size),
            Some(v) => match v.as_i64() {
                Some(n) if n < 0 => Err(user_error(format!("{name} must not be negative"))),
                Some(n) if n as u64 > d.max_page_size => Err(user_error(format!(
                    "{name} {n} exceeds the maximum page size of {}",
                    d.max_page_size
                ))),
                Some(n) => Ok(n as u64),
                None => Err(user_error(format!("{name} must be an integer"))),
            },
        }
    }

    fn connection(
        &self,
        fields: &[&Node<Field>],
        ty: &ObjectType,
        args: &serde_json::Map<String, Json>,
        order_len: usize,
    ) -> Result<Connection, GraphQLError> {
        let first = args.get("first").filter(|v| !v.is_null());
        let last = args.get("last").filter(|v| !v.is_null());
        if first.is_some() && last.is_some() {
            return Err(user_error("pass either first or last, not both"));
        }
        let backwards = last.is_some();
        let count = self.page_size(
            if backwards { last } else { first },
            if backwards { "last" } else { "first" },
        )?;
        let cursor = |name: &str| -> Result<Option<Vec<Json>>, GraphQLError> {
            match args.get(name).and_then(Json::as_str) {
                None => Ok(None),
                Some(c) => decode_cursor(c, order_len)
                    .map(Some)
                    .ok_or_else(|| user_error(format!("invalid {name} cursor"))),
            }
        };
        let after = cursor("after")?;
        let before = cursor("before")?;
        let mut items = Vec::new();
        let grouped = collect(self.doc, &sub_sets(fields), self.vars);
        for (key, fs) in &grouped {
            let key = key.clone();
            items.push(match fs[0].name.as_str() {
                "__typename" => ConnectionItem::Typename {
                    key,
                    type_name: format!("{}Connection", ty.name),
                },
                "totalCount" => ConnectionItem::TotalCount { key },
                "pageInfo" => ConnectionItem::PageInfo {
                    key,
                    items: self.page_info(fs),
                },
                "edges" => ConnectionItem::Edges {
                    key,
                    items: self.edges(fs, ty)?,
                },
                other => return Err(user_error(format!("unknown connection field `{other}`"))),
            });
        }
        Ok(Connection {
            count,
            backwards,
            after,
            before,
            items,
        })
    }

    fn page_info(&self, fields: &[&Node<Field>]) -> Vec<PageInfoItem> {
        collect(self.doc, &sub_sets(fields), self.vars)
            .into_iter()
            .filter_map(|(key, fs)| {
                Some(match fs[0].name.as_str() {
                    "__typename" => PageInfoItem::Typename { key },
                    "hasNextPage" => PageInfoItem::HasNextPage { key },
                    "hasPreviousPage" => PageInfoItem::HasPreviousPage { key },
                    "startCursor" => PageInfoItem::StartCursor { key },
                    "endCursor" => PageInfoItem::EndCursor { key },
                    _ => return None,
                })
            })
            .collect()
    }

    fn edges(
        &self,
        fields: &[&Node<Field>],
        ty: &ObjectType,
    ) -> Result<Vec<EdgeItem>, GraphQLError> {
        let mut out = Vec::new();
        for (key, fs) in collect(self.doc, &sub_sets(fields), self.vars) {
            out.push(match fs[0].name.as_str() {
                "__typename" => EdgeItem::Typename {
                    key,
                    type_name: format!("{}Edge", ty.name),
                },
                "cursor" => EdgeItem::Cursor { key },
                "node" => EdgeItem::Node {
                    key,
                    selection: self.selection(&sub_sets(&fs), ty)?,
                },
                other => return Err(user_error(format!("unknown edge field `{other}`"))),
            });
        }
        Ok(out)
    }

    fn object(&self, name: &str) -> Result<&ObjectType, GraphQLError> {
        self.schema.types.get(name).ok_or_else(|| {
            GraphQLError::new(
                ErrorCode::InternalServerError,
                format!("type `{name}` is not in the schema"),
            )
        })
    }

    /// The projection of `ty` for the merged selection sets.
    /// Item paths are relative to the object being projected (a row's `data`, or a nested
    /// object or array element inside it).
    fn selection(
        &self,
        sets: &[&SelectionSet],
        ty: &ObjectType,
    ) -> Result<Selection, GraphQLError> {
        self.selection_of(&collect(self.doc, sets, self.vars), ty)
    }

    /// The projection of `ty` for fields already collected.
    fn selection_of(&self, grouped: &Grouped, ty: &ObjectType) -> Result<Selection, GraphQLError> {
        let mut items = Vec::with_capacity(grouped.len());
        for (key, fs) in grouped {
            let name = fs[0].name.as_str();
            if name == "__typename" {
                items.push(Item::Typename { key: key.clone() });
                continue;
            }
            let f = ty.fields.get(name).ok_or_else(|| {
                GraphQLError::new(
                    ErrorCode::GraphqlValidationFailed,
                    format!("unknown field `{}.{name}`", ty.name),
                )
            })?;
            let path = vec![f.key.clone()];
            let item = if f.computed.is_some() {
                let parts = crate::schema::computed_parts(self.schema, ty, f).map_err(|why| {
                    GraphQLError::new(
                        ErrorCode::InternalServerError,
                        format!("computed field `{}.{name}`: {why}", ty.name),
                    )
                })?;
                let kind = ScalarKind::of(&f.ty.name).unwrap_or(ScalarKind::Text);
                Item::Computed {
                    key: key.clone(),
                    parts,
                    kind,
                }
            } else if let Some(rel) = &f.relation {
                let target = self.object(&f.ty.name)?;
                // Errors inside name this field in their path, below the root's key.
                let nested = |e: GraphQLError| {
                    let mut path = vec![PathSegment::Key(key.clone())];
                    path.extend(e.path.iter().cloned());
                    e.at(path)
                };
                // A target in another database is read there, in a step of its own; its
                // selection (and any relation inside it) is planned in that scope.
                let outer = self.scope.borrow().clone();
                let remote = target.database != outer.database;
                let mut inner = outer.clone();
                inner.path.push(key.clone());
                if remote {
                    inner.database = target.database.clone();
                    inner.step = Some(self.steps.borrow().len());
                    // Reserved now so that steps nested inside get later numbers.
                    self.steps.borrow_mut().push(Step {
                        after: outer.step,
                        path: inner.path.clone(),
                        database: target.database.clone(),
                        related: Related::default(),
                    });
                }
                *self.scope.borrow_mut() = inner.clone();
                let related = if f.ty.list {
                    let args = arguments(fs[0], self.vars)?;
                    Related {
                        view: target.sql_source.clone(),
                        local_key: rel.local_key.clone(),
                        remote_key: rel.remote_key.clone(),
                        list: true,
                        filter: self.list_filter(target, &args).map_err(nested)?,
                        order: self.list_order(target, &args).map_err(nested)?,
                        limit: Some(self.related_page(&args).map_err(nested)?),
                        offset: offset(args.get("offset")).map_err(nested)?,
                        selection: self.selection(&sub_sets(fs), target).map_err(nested)?,
                    }
                } else {
                    Related {
                        view: target.sql_source.clone(),
                        local_key: rel.local_key.clone(),
                        remote_key: rel.remote_key.clone(),
                        list: false,
                        filter: None,
                        order: Vec::new(),
                        limit: None,
                        offset: 0,
                        selection: self.selection(&sub_sets(fs), target).map_err(nested)?,
                    }
                };
                *self.scope.borrow_mut() = outer;
                match inner.step.filter(|_| remote) {
                    Some(step) => {
                        self.steps.borrow_mut()[step].related = related;
                        Item::Remote {
                            key: key.clone(),
                            step,
                        }
                    }
                    None => Item::Related {
                        key: key.clone(),
                        related: Box::new(related),
                    },
                }
            } else if let Some(nested) = self.schema.types.get(&f.ty.name) {
                let selection = self.selection(&sub_sets(fs), nested)?;
                if f.ty.list {
                    Item::ObjectList {
                        key: key.clone(),
                        path,
                        selection,
                    }
                } else {
                    Item::Object {
                        key: key.clone(),
                        path,
                        selection,
                    }
                }
            } else {
                let enum_map = self
                    .schema
                    .enums
                    .get(&f.ty.name)
                    .filter(|e| e.needs_mapping())
                    .map(|e| {
                        e.values
                            .iter()
                            .map(|v| (v.stored.clone(), v.name.clone()))
                            .collect()
                    });
                Item::Value {
                    key: key.clone(),
                    path,
                    enum_map,
                }
            };
            items.push(item);
        }
        Ok(Selection {
            type_name: ty.name.clone(),
            items,
        })
    }

    fn mutation(&self, fields: &[&Node<Field>]) -> Result<Mutate, GraphQLError> {
        let field = fields[0];
        let m = self
            .schema
            .mutations
            .get(field.name.as_str())
            .ok_or_else(|| {
                GraphQLError::new(
                    ErrorCode::GraphqlValidationFailed,
                    format!("unknown mutation `{}`", field.name),
                )
            })?;
        let ty = self.object(&m.ty.name)?;
        let given = arguments(field, self.vars)?;
        let mut args = Vec::new();
        let mut object = serde_json::Map::new();
        for a in &m.arguments {
            let Some(value) = given.get(&a.name) else {
                continue;
            };
            let value = super::input::input_value(self.schema, &a.ty, value, &a.name)?;
            object.insert(a.key.clone(), value.clone());
            args.push((a.key.clone(), value));
        }
        // A lone input object is flattened so its fields bind to the function's parameters.
        if let [(_, Json::Object(fields))] = args.as_slice() {
            let only_input =
                m.arguments.len() == 1 && self.schema.inputs.contains_key(&m.arguments[0].ty.name);
            if only_input {
                args = fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            }
        }
        // Claims from the token, after the client's arguments.
        for (key, claim) in &m.inject {
            let value = self.caller.claim(&m.name, claim)?.clone();
            object.insert(key.clone(), value.clone());
            args.push((key.clone(), value));
        }
        Ok(Mutate {
            field: m.name.clone(),
            database: m.database.clone(),
            function: m.function.clone(),
            operation: m.operation,
            args,
            args_object: Json::Object(object),
            view: ty.sql_source.clone(),
            key_field: ty
                .key_fields
                .first()
                .cloned()
                .unwrap_or_else(|| "id".into()),
            list: m.ty.list,
            selection: self.selection(&sub_sets(fields), ty)?,
        })
    }
}

/// A list's `offset` argument: absent or `null` is 0, a negative one is refused.
fn offset(value: Option<&Json>) -> Result<u64, GraphQLError> {
    match value.filter(|v| !v.is_null()) {
        None => Ok(0),
        Some(v) => match v.as_i64() {
            Some(n) if n < 0 => Err(user_error("offset must not be negative")),
            Some(n) => Ok(n as u64),
            None => Err(user_error("offset must be an integer")),
        },
    }
}

/// The comparisons and null tests in a filter tree.
fn conditions(filter: &Filter) -> usize {
    match filter {
        Filter::And(parts) | Filter::Or(parts) => parts.iter().map(conditions).sum(),
        Filter::Not(inner) => conditions(inner),
        Filter::IsNull { .. } | Filter::Compare { .. } => 1,
    }
}

/// Ascending order on the type's key fields, each compared as its declared scalar.
fn key_order(ty: &ObjectType) -> Vec<OrderKey> {
    ty.key_fields
        .iter()
        .map(|k| {
            let field = ty.fields.values().find(|f| &f.key == k);
            OrderKey {
                target: Target {
                    path: vec![k.clone()],
                    kind: field
                        .and_then(|f| ScalarKind::of(&f.ty.name))
                        .unwrap_or(ScalarKind::Text),
                },
                descending: false,
                nulls_first: false,
                nullable: field.is_none_or(|f| !f.ty.non_null),
            }
        })
        .collect()
}

/// Cursors are the hex of a JSON array of the row's sort key values: opaque to clients,
/// computable in SQL on every dialect, and checked for shape when decoded.
fn decode_cursor(cursor: &str, keys: usize) -> Option<Vec<Json>> {
    let bytes = hex::decode(cursor).ok()?;
    match serde_json::from_slice::<Json>(&bytes).ok()? {
        Json::Array(values) if values.len() == keys => Some(values),
        _ => None,
    }
}

/// Sets `value` at `path` (GraphQL names) in the JSON object `into`, making the objects on
/// the way.
fn put(into: &mut Json, path: &[String], value: Json) {
    let Some((last, way)) = path.split_last() else {
        return;
    };
    let mut at = into;
    for name in way {
        let Json::Object(map) = at else { return };
        at = map
            .entry(name.clone())
            .or_insert_with(|| Json::Object(serde_json::Map::new()));
    }
    if let Json::Object(map) = at {
        map.insert(last.clone(), value);
    }
}
