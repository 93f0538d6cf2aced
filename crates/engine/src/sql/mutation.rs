//! Mutation SQL: the call of a `fn_*` function with arguments bound to its parameters by
//! name, the read-back of the returned entity through its view (same projection code as
//! queries), and the mapping of `mutation_response.status` to GraphQL errors.
//!
//! The call itself is spelled by the dialect ([`super::Dialect::mutation_call`]).
//! PostgreSQL functions return `mutation_response` (read as one JSON row, so the exact
//! column set does not matter) or `SETOF v_*` rows. SQLite has no functions: a mutation is an
//! `INSERT` into a view named like the function whose `INSTEAD OF INSERT` trigger does the
//! work and writes one row into `fraiseql_mutation_response`, which the engine takes back.

use super::dialect::Rows;
use super::read::Renderer;
use super::remote::Remotes;
use super::{dialect, json_text, Param, SqlQuery};
use crate::catalog::{Catalog, Function, FunctionParam};
use crate::config::DatabaseKind;
use crate::error::{ErrorCode, GraphQLError};
use crate::plan::{Filter, Mutate, Op, Target};
use crate::schema::ScalarKind;
use serde_json::Value as Json;

/// The statements that perform a mutation.
#[derive(Debug, Clone, PartialEq)]
pub enum CallSql {
    /// One row, one column: the `mutation_response` as a JSON object.
    Response(SqlQuery),
    /// `call` performs the work; `take` returns one row, one column: the response JSON.
    ResponseVia { call: SqlQuery, take: SqlQuery },
    /// One row, one column: the JSON result read from the rows the function returned.
    Rows(SqlQuery),
    /// A stored procedure's first result set, read with its column names: one row with the
    /// columns of `mutation_response` (`status`, `message`, `entity_id`, `entity_type`,
    /// `entity`, `metadata`; others ignored), or rows of the entity's view (a `data` column).
    Procedure(SqlQuery),
}

/// The fields of a `mutation_response` the engine uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MutationResult {
    pub status: String,
    pub message: Option<String>,
    pub entity_id: Option<String>,
    pub entity_type: Option<String>,
    /// The entity as JSON text.
    pub entity: Option<String>,
    pub metadata: Option<Json>,
}

impl MutationResult {
    /// Reads the JSON object of a `mutation_response` row (accepting `id`/`data` spellings).
    pub fn from_json(text: &str) -> Option<Self> {
        let v: Json = serde_json::from_str(text).ok()?;
        let s = |k: &str| v.get(k).filter(|x| !x.is_null()).map(json_text);
        Some(Self {
            status: s("status").unwrap_or_default(),
            message: s("message"),
            entity_id: s("entity_id").or_else(|| s("id")),
            entity_type: s("entity_type"),
            entity: v
                .get("entity")
                .or_else(|| v.get("data"))
                .filter(|x| !x.is_null())
                .map(|x| x.to_string()),
            metadata: v.get("metadata").filter(|x| !x.is_null()).cloned(),
        })
    }
}

pub(crate) fn schema_error(message: String) -> GraphQLError {
    GraphQLError::new(ErrorCode::DatabaseError, message)
}

/// Renders the call of a mutation's function.
pub fn render_call(
    m: &Mutate,
    kind: DatabaseKind,
    catalog: Option<&Catalog>,
    remotes: Remotes<'_>,
) -> Result<CallSql, GraphQLError> {
    let catalog = catalog.ok_or_else(|| {
        GraphQLError::new(
            ErrorCode::DatabaseUnavailable,
            format!("database '{}' unavailable", m.database),
        )
        .database(&m.database)
    })?;
    let f = catalog.functions.get(&m.function).ok_or_else(|| {
        schema_error(format!(
            "function `{}` does not exist in database '{}'",
            m.function, m.database
        ))
    })?;
    let keys: Vec<&str> = m.args.iter().map(|(k, _)| k.as_str()).collect();
    let bound: Vec<(usize, Json)> =
        match bind_parameters(f, &m.function, &keys).map_err(schema_error)? {
            Binding::Json => vec![(0, m.args_object.clone())],
            Binding::Params(indexes) => {
                if let Some(p) = first_uncovered(f, &indexes) {
                    return Err(GraphQLError::new(
                        ErrorCode::BadUserInput,
                        format!(
                            "function `{}` needs parameter `{}`, which no argument provides",
                            m.function, p.name
                        ),
                    ));
                }
                indexes
                    .into_iter()
                    .zip(m.args.iter().map(|(_, v)| v.clone()))
                    .collect()
            }
        };
    let mut r = Renderer {
        d: dialect(kind),
        catalog: Some(catalog),
        params: Vec::new(),
        aliases: 0,
        remotes,
        rep: None,
    };
    Ok(match r.d.mutation_call(&mut r, m, f, &bound)? {
        CallSql::Response(q) => CallSql::Response(r.d.finish(q)),
        CallSql::Rows(q) => CallSql::Rows(r.d.finish(q)),
        CallSql::Procedure(q) => CallSql::Procedure(r.d.finish(q)),
        CallSql::ResponseVia { call, take } => CallSql::ResponseVia {
            call: r.d.finish(call),
            take: r.d.finish(take),
        },
    })
}

/// How a mutation's arguments bind to its function's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// All arguments as one JSON object, to the function's only (`json`/`jsonb`) parameter.
    Json,
    /// The parameter index of each argument key, in the keys' order.
    Params(Vec<usize>),
}

/// Binds argument keys to the parameters of the same name (`p_` or `in_` prefix optional);
/// a function whose only parameter is JSON and whose names do not match takes them all as
/// one object. Used by the planner per request and by `fraiseql check` per mutation.
pub fn bind_parameters(f: &Function, function: &str, keys: &[&str]) -> Result<Binding, String> {
    let param_for = |key: &str| {
        f.params.iter().position(|p| {
            p.name == key
                || p.name.strip_prefix("p_") == Some(key)
                || p.name.strip_prefix("in_") == Some(key)
        })
    };
    let single_json = f.params.len() == 1
        && matches!(f.params[0].type_name.as_str(), "jsonb" | "json")
        && keys.iter().any(|k| param_for(k).is_none());
    if single_json {
        return Ok(Binding::Json);
    }
    keys.iter()
        .map(|key| {
            param_for(key).ok_or_else(|| {
                format!("function `{function}` has no parameter for argument `{key}`")
            })
        })
        .collect::<Result<_, _>>()
        .map(Binding::Params)
}

/// The first parameter without a default that none of `bound` (parameter indexes) covers.
pub fn first_uncovered<'f>(f: &'f Function, bound: &[usize]) -> Option<&'f FunctionParam> {
    f.params
        .iter()
        .enumerate()
        .find(|(i, p)| !p.has_default && !bound.contains(i))
        .map(|(_, p)| p)
}

/// The read-back of a mutation's entity: through the view by `entity_id` when the function
/// returned one, else projected from the returned `entity` JSON. `None` when neither exists.
pub fn render_read_back(
    m: &Mutate,
    kind: DatabaseKind,
    catalog: Option<&Catalog>,
    result: &MutationResult,
    remotes: Remotes<'_>,
) -> Option<SqlQuery> {
    let mut r = Renderer {
        d: dialect(kind),
        catalog,
        params: Vec::new(),
        aliases: 0,
        remotes,
        rep: None,
    };
    if let Some(id) = &result.entity_id {
        let t = "t0";
        let filter = Filter::Compare {
            target: Target {
                path: vec![m.key_field.clone()],
                kind: ScalarKind::Id,
            },
            op: Op::Eq,
            value: Json::String(id.clone()),
        };
        // Bound in text order (the projection may bind relation arguments).
        let obj = r.selection(&m.selection, "t0.data");
        let filter = format!(" WHERE {}", r.filter(&filter, t, &m.view));
        let view = r.d.ident(&m.view);
        let rows = Rows {
            from: &view,
            alias: t,
            filter: &filter,
            order: &[],
            limit: Some("1"),
            offset: None,
            fence: true,
            correlated: false,
        };
        let text = format!("SELECT {}", r.d.to_text(&r.d.one(&obj, &rows)));
        return Some(r.d.finish(SqlQuery {
            text,
            params: r.params,
        }));
    }
    let entity = result.entity.clone()?;
    let p = r.bind(Param::Text(entity));
    let source = format!("{} d", r.d.json_row(&p));
    let obj = r.selection(&m.selection, "d.data");
    Some(r.d.finish(SqlQuery {
        text: format!("SELECT {} FROM {source}", r.d.to_text(&obj)),
        params: r.params,
    }))
}

/// Maps a `mutation_response.status` to success or a GraphQL error with a stable code.
pub fn mutation_outcome(result: &MutationResult) -> Result<(), GraphQLError> {
    let status = result.status.as_str();
    let lower = status.to_ascii_lowercase();
    let code = if lower.starts_with("conflict") || lower == "failed:conflict" {
        ErrorCode::Conflict
    } else if lower.starts_with("not_found") || lower == "failed:not_found" {
        ErrorCode::NotFound
    } else if lower == "failed:authorization" || lower == "failed:forbidden" {
        ErrorCode::Forbidden
    } else if lower.starts_with("failed:validation") || lower.starts_with("failed:invalid") {
        ErrorCode::BadUserInput
    } else if lower.starts_with("failed") || lower == "error" {
        ErrorCode::MutationFailed
    } else {
        return Ok(());
    };
    let message = result
        .message
        .clone()
        .unwrap_or_else(|| format!("mutation failed with status `{status}`"));
    let mut e = GraphQLError::new(code, message).with("status", status);
    if let Some(meta) = &result.metadata {
        e = e.with("metadata", meta.clone());
    }
    Err(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::FunctionReturn;
    use crate::plan::Selection;
    use crate::schema::MutationOperation;

    fn catalog() -> Catalog {
        let mut c = Catalog::default();
        c.functions.insert(
            "fn_set".into(),
            Function {
                params: vec![FunctionParam {
                    name: "p_id".into(),
                    type_name: "uuid".into(),
                    has_default: false,
                }],
                returns: FunctionReturn::MutationResponse,
            },
        );
        c
    }

    fn call(id: &str) -> Result<CallSql, GraphQLError> {
        let m = Mutate {
            field: "set".into(),
            database: "primary".into(),
            function: "fn_set".into(),
            operation: MutationOperation::Update,
            args: vec![("id".into(), Json::String(id.into()))],
            args_object: serde_json::json!({ "id": id }),
            view: "v_t".into(),
            key_field: "id".into(),
            list: false,
            selection: Selection {
                type_name: "T".into(),
                items: Vec::new(),
            },
        };
        render_call(
            &m,
            DatabaseKind::Postgresql,
            Some(&catalog()),
            Remotes::default(),
        )
    }

    /// Issue 9: a malformed UUID reached PostgreSQL's cast and came back as its 22P02 text.
    #[test]
    fn a_uuid_parameter_refuses_a_malformed_uuid_before_the_call() {
        assert!(call("a0000000-0000-4000-8000-000000000004").is_ok());
        assert!(call("A0000000-0000-4000-8000-000000000004").is_ok());
        let e = call("a000000-00000-4000-8000-000000000004").unwrap_err();
        assert_eq!(e.extensions.code, ErrorCode::BadUserInput);
        assert_eq!(e.message, "`id` expects a UUID (8-4-4-4-12 hex digits)");
    }
}
