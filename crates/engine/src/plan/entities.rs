//! `_entities` answered: the rows each entity type's hidden root read (each a JSON array
//! `[object, key value…]`), their objects put in the order of the representations (`null`
//! where no row has the key) as they came, never parsed. An error of a hidden root is
//! reported at `_entities`, and its representations are null.

use super::model::{Plan, RootAction};
use crate::error::{GraphQLError, PathSegment};
use serde_json::value::RawValue;
use serde_json::Value as Json;
use std::collections::HashMap;

/// Which roots are hidden (read for `_entities`, not in the response), by root index; empty
/// (nothing allocated) for the plans without `_entities`, which are nearly all.
pub fn hidden_roots(plan: &Plan) -> Vec<bool> {
    let entities = |r: &super::model::Root| matches!(r.action, RootAction::Entities(_));
    if !plan.roots.iter().any(entities) {
        return Vec::new();
    }
    let mut hidden = vec![false; plan.roots.len()];
    for root in &plan.roots {
        if let RootAction::Entities(e) = &root.action {
            for &part in &e.parts {
                hidden[part] = true;
            }
        }
    }
    hidden
}

/// Fills each `_entities` root's value from its hidden roots' (`values` by root index) and
/// moves the hidden roots' errors to it.
pub fn assemble_entities(plan: &Plan, values: &mut [Option<String>], errors: &mut [GraphQLError]) {
    for (i, root) in plan.roots.iter().enumerate() {
        let RootAction::Entities(e) = &root.action else {
            continue;
        };
        let texts: Vec<Option<String>> = e.parts.iter().map(|&part| values[part].take()).collect();
        let rows: Vec<HashMap<String, &RawValue>> =
            texts.iter().map(|t| by_key(t.as_deref())).collect();
        for &part in &e.parts {
            let hidden = &plan.roots[part].key;
            for error in errors.iter_mut() {
                if let Some(PathSegment::Key(k)) = error.path.first_mut() {
                    if k == hidden {
                        *k = root.key.clone();
                    }
                }
            }
        }
        let mut out =
            String::with_capacity(2 + texts.iter().flatten().map(String::len).sum::<usize>());
        out.push('[');
        for (n, (part, key)) in e.slots.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push_str(rows[*part].get(key).map_or("null", |raw| raw.get()));
        }
        out.push(']');
        values[i] = Some(out);
    }
}

/// A hidden root's rows (a JSON array of `[object, key value…]`) by their key, each object
/// as the database wrote it.
fn by_key(text: Option<&str>) -> HashMap<String, &RawValue> {
    let rows: Vec<Vec<&RawValue>> = text
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let Some((object, key)) = row.split_first() else {
            continue;
        };
        let key: Vec<Json> = key
            .iter()
            .map(|raw| serde_json::from_str(raw.get()).unwrap_or(Json::Null))
            .collect();
        out.insert(super::model::key_text(&key), *object);
    }
    out
}
