//! `_entities` answered: the rows each entity type's hidden root read, put in the order of
//! the representations (`null` where no row has the key), the hidden key items taken out.
//! An error of a hidden root is reported at `_entities`, and its representations are null.

use super::model::{Plan, RootAction, ENTITY_KEY_ITEM};
use crate::error::{GraphQLError, PathSegment};
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
        let rows: Vec<HashMap<String, Json>> = e
            .parts
            .iter()
            .map(|&part| by_key(values[part].take().as_deref()))
            .collect();
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
        let ordered: Vec<Json> = e
            .slots
            .iter()
            .map(|(part, key)| rows[*part].get(key).cloned().unwrap_or(Json::Null))
            .collect();
        values[i] = Some(Json::Array(ordered).to_string());
    }
}

/// A hidden root's rows (a JSON array) by their key, the key items taken out.
fn by_key(text: Option<&str>) -> HashMap<String, Json> {
    let rows: Vec<Json> = text
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    let mut out = HashMap::with_capacity(rows.len());
    for mut row in rows {
        let Json::Object(map) = &mut row else {
            continue;
        };
        let mut key = Vec::new();
        for j in 0.. {
            match map.remove(&format!("{ENTITY_KEY_ITEM}{j}")) {
                Some(v) => key.push(v),
                None => break,
            }
        }
        out.insert(super::model::key_text(&key), row);
    }
    out
}
