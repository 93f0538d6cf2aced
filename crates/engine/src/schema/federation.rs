//! Apollo Federation v2 subgraph schema (`[federation] enabled`): which types are entities
//! and by which key, what the served schema adds (`_Any`, `_Entity`, `_Service`,
//! `Query._entities`, `Query._service`), and the subgraph SDL `_service { sdl }` answers
//! with — the executable SDL with `@key` on each entity and the `@link` to the federation
//! spec.
//!
//! Without `[[federation.entities]]`, every object type read from its own view (a query,
//! mutation or subscription returns it, or a relation leads to it) is an entity, keyed by
//! its key fields (`@key(fields:)` in SDL, `key_fields` in `schema.json`, `id` by default).
//! A type only ever nested in another's `data` has no rows of its own and is not one.

use super::graphql::executable_sdl_with;
use super::model::{CompiledSchema, ObjectType};
use crate::config::{EntityConfig, QueryDefaults};
use indexmap::IndexMap;
use std::fmt::Write;

/// The federation spec version linked by the subgraph SDL.
pub const FEDERATION_SPEC: &str = "https://specs.apollo.dev/federation/v2.3";

/// An entity type and its key, as (GraphQL field name, data key) pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityKey {
    pub type_name: String,
    pub key: Vec<(String, String)>,
}

impl EntityKey {
    /// The key as `@key(fields:)` writes it: GraphQL field names, space-separated.
    pub fn fields(&self) -> String {
        let names: Vec<&str> = self.key.iter().map(|(name, _)| name.as_str()).collect();
        names.join(" ")
    }
}

/// The entities of `schema`: those `declared` (`[[federation.entities]]`), else every type
/// read from its own view whose key fields are all fields of it; in schema order. A
/// declared type or key field the schema lacks is an error naming it.
pub fn entity_keys(
    schema: &CompiledSchema,
    declared: &[EntityConfig],
) -> Result<Vec<EntityKey>, String> {
    // A key field by GraphQL name or data key; relations are no key.
    let field = |ty: &ObjectType, name: &str| {
        ty.fields
            .values()
            .find(|f| (f.name == name || f.key == name) && f.relation.is_none())
            .map(|f| (f.name.clone(), f.key.clone()))
    };
    if !declared.is_empty() {
        let mut out = Vec::with_capacity(declared.len());
        for d in declared {
            let ty = schema.types.get(&d.name).ok_or_else(|| {
                format!(
                    "[[federation.entities]] names `{}`, which is no type of the schema",
                    d.name
                )
            })?;
            let names = if d.key_fields.is_empty() {
                &ty.key_fields
            } else {
                &d.key_fields
            };
            let key = names
                .iter()
                .map(|n| {
                    field(ty, n).ok_or_else(|| {
                        format!(
                            "[[federation.entities]] `{}`: key field `{n}` is no field of it",
                            d.name
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if key.is_empty() {
                return Err(format!("[[federation.entities]] `{}` has no key", d.name));
            }
            out.push(EntityKey {
                type_name: ty.name.clone(),
                key,
            });
        }
        return Ok(out);
    }
    let read: std::collections::HashSet<&str> = schema
        .queries
        .values()
        .map(|q| q.ty.name.as_str())
        .chain(schema.mutations.values().map(|m| m.ty.name.as_str()))
        .chain(schema.subscriptions.values().map(|s| s.ty.name.as_str()))
        .chain(
            schema
                .types
                .values()
                .flat_map(|t| t.fields.values())
                .filter(|f| f.relation.is_some())
                .map(|f| f.ty.name.as_str()),
        )
        .collect();
    Ok(schema
        .types
        .values()
        .filter(|ty| read.contains(ty.name.as_str()))
        .filter_map(|ty| {
            let key: Option<Vec<(String, String)>> =
                ty.key_fields.iter().map(|k| field(ty, k)).collect();
            key.filter(|k| !k.is_empty()).map(|key| EntityKey {
                type_name: ty.name.clone(),
                key,
            })
        })
        .collect())
}

/// What the served schema adds to the executable SDL for a subgraph with `entities`.
pub fn served_additions(entities: &[EntityKey]) -> String {
    let names: Vec<&str> = entities.iter().map(|e| e.type_name.as_str()).collect();
    let mut out = String::from(
        "\nscalar _Any\n\n\"The subgraph's SDL, for a federation gateway.\"\n\
         type _Service {\n  sdl: String\n}\n\n",
    );
    if names.is_empty() {
        out.push_str("extend type Query {\n  _service: _Service!\n}\n");
    } else {
        let _ = writeln!(out, "union _Entity = {}\n", names.join(" | "));
        out.push_str(
            "extend type Query {\n  \"Entities by key, in the order of the representations.\"\n  \
             _entities(representations: [_Any!]!): [_Entity]!\n  _service: _Service!\n}\n",
        );
    }
    out
}

/// The subgraph SDL: the executable SDL with `@key` on every entity, linked to the
/// federation spec.
pub fn subgraph_sdl(
    schema: &CompiledSchema,
    defaults: &QueryDefaults,
    entities: &[EntityKey],
) -> String {
    let keys: IndexMap<String, String> = entities
        .iter()
        .map(|e| (e.type_name.clone(), e.fields()))
        .collect();
    let mut out =
        format!("extend schema @link(url: \"{FEDERATION_SPEC}\", import: [\"@key\"])\n\n");
    out.push_str(&executable_sdl_with(schema, defaults, &keys));
    out
}
