//! Apollo Federation v2 subgraph schema (`[federation] enabled`): which types are entities,
//! what the served schema adds (`_Any`, `_Entity`, `_Service`, `Query._entities`,
//! `Query._service`), and the subgraph SDL `_service { sdl }` answers with — the executable
//! SDL with `@key` on each entity and the `@link` to the federation spec.
//!
//! Every object type read from its own view (a query, mutation or subscription returns it,
//! or a relation leads to it) is an entity, keyed by its key fields (`@key(fields:)` in SDL,
//! `key_fields` in `schema.json`, `id` by default): each is read by key from its view, so a
//! gateway may resolve any of them here. A type only ever nested in another's `data` has no
//! rows of its own and is not one.

use super::graphql::executable_sdl_with;
use super::model::{CompiledSchema, ObjectType};
use crate::config::QueryDefaults;
use std::fmt::Write;

/// The federation spec version linked by the subgraph SDL.
pub const FEDERATION_SPEC: &str = "https://specs.apollo.dev/federation/v2.3";

/// An entity: its type and its key, as (GraphQL field name, data key) pairs.
#[derive(Debug, Clone)]
pub struct Entity<'a> {
    pub ty: &'a ObjectType,
    pub key: Vec<(&'a str, &'a str)>,
}

impl Entity<'_> {
    /// The key as `@key(fields:)` writes it: GraphQL field names, space-separated.
    pub fn fields(&self) -> String {
        let names: Vec<&str> = self.key.iter().map(|(name, _)| *name).collect();
        names.join(" ")
    }
}

/// The entities of `schema`: each type read from its view whose key fields are all fields
/// of it, in schema order.
pub fn entities(schema: &CompiledSchema) -> Vec<Entity<'_>> {
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
    schema
        .types
        .values()
        .filter(|ty| read.contains(ty.name.as_str()))
        .filter_map(|ty| {
            let key: Option<Vec<(&str, &str)>> = ty
                .key_fields
                .iter()
                .map(|k| {
                    ty.fields
                        .values()
                        .find(|f| &f.key == k && f.relation.is_none())
                        .map(|f| (f.name.as_str(), f.key.as_str()))
                })
                .collect();
            key.filter(|k| !k.is_empty()).map(|key| Entity { ty, key })
        })
        .collect()
}

/// What the served schema adds to the executable SDL for a subgraph.
pub fn served_additions(schema: &CompiledSchema) -> String {
    let names: Vec<&str> = entities(schema)
        .iter()
        .map(|e| e.ty.name.as_str())
        .collect();
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
pub fn subgraph_sdl(schema: &CompiledSchema, defaults: &QueryDefaults) -> String {
    let mut out =
        format!("extend schema @link(url: \"{FEDERATION_SPEC}\", import: [\"@key\"])\n\n");
    out.push_str(&executable_sdl_with(schema, defaults, true));
    out
}
