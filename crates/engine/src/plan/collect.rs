//! Field collection (the spec's CollectFields): expands fragments, applies `@skip`/`@include`
//! and groups fields by response key, so repeated selections of one key merge. Also turns
//! argument values (literals and variables) into JSON.

use crate::error::{ErrorCode, GraphQLError};
use apollo_compiler::ast::Value;
use apollo_compiler::executable::{ExecutableDocument, Field, Selection, SelectionSet};
use apollo_compiler::Node;
use indexmap::IndexMap;
use serde_json::Value as Json;

/// Coerced variable values, as plain JSON.
pub(crate) type Variables = serde_json::Map<String, Json>;

/// Fields grouped by response key, in first-appearance order.
pub(crate) type Grouped<'a> = IndexMap<String, Vec<&'a Node<Field>>>;

/// Collects the fields of several selection sets (those of one merged response key).
pub(crate) fn collect<'a>(
    doc: &'a ExecutableDocument,
    sets: &[&'a SelectionSet],
    vars: &Variables,
) -> Grouped<'a> {
    collect_on(doc, sets, vars, None)
}

/// Collects like [`collect`] for an object of type `on` selected through an abstract type
/// (`_entities`' `_Entity`): a fragment whose type condition names another object type is
/// left out, as the spec's DoesFragmentTypeApply says.
pub(crate) fn collect_on<'a>(
    doc: &'a ExecutableDocument,
    sets: &[&'a SelectionSet],
    vars: &Variables,
    on: Option<&str>,
) -> Grouped<'a> {
    let mut out = Grouped::new();
    for set in sets {
        collect_into(doc, set, vars, on, &mut out, &mut Vec::new());
    }
    out
}

/// Whether a fragment with `condition` applies to an object of type `on` (`None`: any).
fn applies(condition: Option<&str>, set: &SelectionSet, on: Option<&str>) -> bool {
    match (condition, on) {
        (Some(c), Some(on)) => c == on || c == set.ty.as_str(),
        _ => true,
    }
}

fn collect_into<'a>(
    doc: &'a ExecutableDocument,
    set: &'a SelectionSet,
    vars: &Variables,
    on: Option<&str>,
    out: &mut Grouped<'a>,
    visited: &mut Vec<&'a str>,
) {
    for sel in &set.selections {
        if !included(sel.directives(), vars) {
            continue;
        }
        match sel {
            Selection::Field(f) => {
                out.entry(f.response_key().to_string()).or_default().push(f);
            }
            Selection::FragmentSpread(s) => {
                if visited.contains(&s.fragment_name.as_str()) {
                    continue;
                }
                if let Some(frag) = doc.fragments.get(&s.fragment_name) {
                    if !applies(Some(frag.type_condition().as_str()), set, on) {
                        continue;
                    }
                    visited.push(s.fragment_name.as_str());
                    collect_into(doc, &frag.selection_set, vars, on, out, visited);
                }
            }
            Selection::InlineFragment(i) => {
                let condition = i.type_condition.as_ref().map(|c| c.as_str());
                if applies(condition, set, on) {
                    collect_into(doc, &i.selection_set, vars, on, out, visited);
                }
            }
        }
    }
}

/// `@skip(if:)` / `@include(if:)`.
fn included(directives: &apollo_compiler::executable::DirectiveList, vars: &Variables) -> bool {
    let flag = |name: &str| {
        directives
            .get(name)
            .and_then(|d| d.specified_argument_by_name("if"))
            .and_then(|v| to_json(v, vars).ok().flatten())
            .and_then(|j| j.as_bool())
    };
    flag("skip") != Some(true) && flag("include") != Some(false)
}

/// The sub-selection sets of all fields under one response key.
pub(crate) fn sub_sets<'a>(fields: &[&'a Node<Field>]) -> Vec<&'a SelectionSet> {
    fields.iter().map(|f| &f.selection_set).collect()
}

/// A float literal that no JSON number can hold (`1e400`, or `1e-400` which would become 0):
/// refused, because turning it into `null` (as a plain conversion did) made a `gt: 1e400`
/// filter vanish. `path` leads from
/// the argument to the literal, innermost last.
#[derive(Debug)]
pub(crate) struct OutOfRange {
    path: Vec<String>,
    literal: String,
}

impl OutOfRange {
    fn inside(mut self, key: String) -> Self {
        self.path.insert(0, key);
        self
    }
}

/// A GraphQL value as JSON, substituting variables. `None` means "not provided" (an unset
/// variable), which differs from an explicit `null`. Integer literals beyond 64 bits stay
/// exact as strings of digits (a `Decimal` or an `ID` reads them; an `Int` refuses them).
pub(crate) fn to_json(v: &Value, vars: &Variables) -> Result<Option<Json>, OutOfRange> {
    Ok(Some(match v {
        Value::Null => Json::Null,
        Value::Variable(name) => return Ok(vars.get(name.as_str()).cloned()),
        Value::Enum(n) => Json::String(n.to_string()),
        Value::String(s) => Json::String(s.clone()),
        Value::Boolean(b) => Json::Bool(*b),
        Value::Int(i) => i
            .as_str()
            .parse::<i64>()
            .map(Json::from)
            .unwrap_or_else(|_| Json::String(i.as_str().to_string())),
        Value::Float(f) => match super::scalar::as_f64(f.as_str()) {
            Some(x) => Json::from(x),
            None => {
                return Err(OutOfRange {
                    path: Vec::new(),
                    literal: f.as_str().to_string(),
                })
            }
        },
        Value::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (n, item) in items.iter().enumerate() {
                if let Some(j) = to_json(item, vars).map_err(|e| e.inside(n.to_string()))? {
                    out.push(j);
                }
            }
            Json::Array(out)
        }
        Value::Object(fields) => {
            let mut out = serde_json::Map::new();
            for (k, v) in fields {
                if let Some(j) = to_json(v, vars).map_err(|e| e.inside(k.to_string()))? {
                    out.insert(k.to_string(), j);
                }
            }
            Json::Object(out)
        }
    }))
}

/// A field's arguments by name, with schema defaults applied for absent ones. A number
/// literal out of range is a `BAD_USER_INPUT` naming its argument path.
pub(crate) fn arguments(
    field: &Field,
    vars: &Variables,
) -> Result<serde_json::Map<String, Json>, GraphQLError> {
    let mut out = serde_json::Map::new();
    for def in &field.definition.arguments {
        let read = |v: &Value| {
            to_json(v, vars).map_err(|e| {
                let e = e.inside(def.name.to_string());
                GraphQLError::new(
                    ErrorCode::BadUserInput,
                    format!(
                        "`{}` is out of range: {} does not fit a 64-bit float",
                        e.path.join("."),
                        e.literal.chars().take(64).collect::<String>()
                    ),
                )
            })
        };
        let given = match field.arguments.iter().find(|a| a.name == def.name) {
            Some(a) => read(&a.value)?,
            None => None,
        };
        let value = match (given, &def.default_value) {
            (Some(v), _) => Some(v),
            (None, Some(d)) => read(d)?,
            (None, None) => None,
        };
        if let Some(value) = value {
            out.insert(def.name.to_string(), value);
        }
    }
    Ok(out)
}
