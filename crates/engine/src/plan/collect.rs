//! Field collection (the spec's CollectFields): expands fragments, applies `@skip`/`@include`
//! and groups fields by response key, so repeated selections of one key merge. Also turns
//! argument values (literals and variables) into JSON.

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
    let mut out = Grouped::new();
    for set in sets {
        collect_into(doc, set, vars, &mut out, &mut Vec::new());
    }
    out
}

fn collect_into<'a>(
    doc: &'a ExecutableDocument,
    set: &'a SelectionSet,
    vars: &Variables,
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
                    visited.push(s.fragment_name.as_str());
                    collect_into(doc, &frag.selection_set, vars, out, visited);
                }
            }
            Selection::InlineFragment(i) => collect_into(doc, &i.selection_set, vars, out, visited),
        }
    }
}

/// `@skip(if:)` / `@include(if:)`.
fn included(directives: &apollo_compiler::executable::DirectiveList, vars: &Variables) -> bool {
    let flag = |name: &str| {
        directives
            .get(name)
            .and_then(|d| d.specified_argument_by_name("if"))
            .and_then(|v| to_json(v, vars))
            .and_then(|j| j.as_bool())
    };
    flag("skip") != Some(true) && flag("include") != Some(false)
}

/// The sub-selection sets of all fields under one response key.
pub(crate) fn sub_sets<'a>(fields: &[&'a Node<Field>]) -> Vec<&'a SelectionSet> {
    fields.iter().map(|f| &f.selection_set).collect()
}

/// A GraphQL value as JSON, substituting variables. `None` means "not provided" (an unset
/// variable), which differs from an explicit `null`.
pub(crate) fn to_json(v: &Value, vars: &Variables) -> Option<Json> {
    Some(match v {
        Value::Null => Json::Null,
        Value::Variable(name) => return vars.get(name.as_str()).cloned(),
        Value::Enum(n) => Json::String(n.to_string()),
        Value::String(s) => Json::String(s.clone()),
        Value::Boolean(b) => Json::Bool(*b),
        Value::Int(i) => i
            .as_str()
            .parse::<i64>()
            .map(Json::from)
            .unwrap_or_else(|_| Json::String(i.as_str().to_string())),
        Value::Float(f) => f.try_to_f64().ok().map_or(Json::Null, Json::from),
        Value::List(items) => Json::Array(items.iter().filter_map(|i| to_json(i, vars)).collect()),
        Value::Object(fields) => Json::Object(
            fields
                .iter()
                .filter_map(|(k, v)| Some((k.to_string(), to_json(v, vars)?)))
                .collect(),
        ),
    })
}

/// A field's arguments by name, with schema defaults applied for absent ones.
pub(crate) fn arguments(field: &Field, vars: &Variables) -> serde_json::Map<String, Json> {
    let mut out = serde_json::Map::new();
    for def in &field.definition.arguments {
        let given = field
            .arguments
            .iter()
            .find(|a| a.name == def.name)
            .and_then(|a| to_json(&a.value, vars));
        let value = given.or_else(|| def.default_value.as_ref().and_then(|d| to_json(d, vars)));
        if let Some(value) = value {
            out.insert(def.name.to_string(), value);
        }
    }
    out
}
