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
use super::model::{CompiledSchema, ObjectType, ScalarKind};
use crate::config::{EntityConfig, QueryDefaults};
use indexmap::IndexMap;
use std::fmt::Write;

/// The federation spec version linked by the subgraph SDL.
pub const FEDERATION_SPEC: &str = "https://specs.apollo.dev/federation/v2.3";

/// An entity type and its keys, in declaration order.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityKey {
    pub type_name: String,
    pub keys: Vec<Key>,
}

/// One key of an entity: its field set as `@key(fields:)` writes it, and its leaf fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub fields: String,
    pub parts: Vec<KeyPart>,
}

/// One leaf of a key: where a representation holds it (GraphQL names), where a row's
/// `data` does (data keys), and its scalar kind.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPart {
    pub graphql: Vec<String>,
    pub data: Vec<String>,
    pub kind: ScalarKind,
}

/// The leaves of field set `fields` (`"sku variation { id }"`) on `ty`: each name a field
/// (a GraphQL name or a data key) that is no relation; a name followed by `{ … }` is a
/// nested object (a type held in `data`) whose own fields follow; every leaf a scalar or
/// enum.
pub fn key_parts(
    schema: &CompiledSchema,
    ty: &ObjectType,
    fields: &str,
) -> Result<Vec<KeyPart>, String> {
    let spaced = fields.replace('{', " { ").replace('}', " } ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let mut at = 0;
    let parts = parts_of(schema, ty, &tokens, &mut at, &[], &[])?;
    if at != tokens.len() {
        return Err(format!("key `{fields}`: unbalanced `}}`"));
    }
    if parts.is_empty() {
        return Err(format!("key `{fields}` names no field"));
    }
    Ok(parts)
}

fn parts_of(
    schema: &CompiledSchema,
    ty: &ObjectType,
    tokens: &[&str],
    at: &mut usize,
    graphql: &[String],
    data: &[String],
) -> Result<Vec<KeyPart>, String> {
    let mut out = Vec::new();
    while let Some(&token) = tokens.get(*at) {
        match token {
            "}" => return Ok(out),
            "{" => return Err("a key has `{` without a field before it".into()),
            name => {
                *at += 1;
                let f = ty
                    .fields
                    .values()
                    .find(|f| (f.name == name || f.key == name) && f.in_data())
                    .ok_or_else(|| {
                        format!(
                            "key field `{name}` is no field of `{}` read from its data (nor a \
                             relation, nor computed)",
                            ty.name
                        )
                    })?;
                let mut g = graphql.to_vec();
                g.push(f.name.clone());
                let mut d = data.to_vec();
                d.push(f.key.clone());
                if tokens.get(*at) == Some(&"{") {
                    *at += 1;
                    let inner = schema.types.get(&f.ty.name).ok_or_else(|| {
                        format!(
                            "key field `{name}` of `{}` has no fields to select",
                            ty.name
                        )
                    })?;
                    let nested = parts_of(schema, inner, tokens, at, &g, &d)?;
                    if tokens.get(*at) != Some(&"}") {
                        return Err(format!("key field `{name}`: `{{` without `}}`"));
                    }
                    *at += 1;
                    if nested.is_empty() {
                        return Err(format!("key field `{name}` selects nothing"));
                    }
                    out.extend(nested);
                } else {
                    if f.ty.list || schema.types.contains_key(&f.ty.name) {
                        return Err(format!(
                            "key field `{name}` of `{}` is an object or a list; select its \
                             fields (`{name} {{ id }}`)",
                            ty.name
                        ));
                    }
                    let kind = ScalarKind::of(&f.ty.name).unwrap_or(ScalarKind::Text);
                    out.push(KeyPart {
                        graphql: g,
                        data: d,
                        kind,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// The entities of `schema`: those `declared` (`[[federation.entities]]`), else every type
/// read from its own view whose keys resolve; in schema order. A declared type or key field
/// the schema lacks is an error naming it.
///
/// A type whose root queries filter by the caller's token (`inject`) is never an entity:
/// `_entities` reads rows by key alone and would pass over that filter. Declared, it is an
/// error; otherwise it is left out.
pub fn entity_keys(
    schema: &CompiledSchema,
    declared: &[EntityConfig],
) -> Result<Vec<EntityKey>, String> {
    let injected = |ty: &ObjectType| {
        schema
            .queries
            .values()
            .find(|q| q.ty.name == ty.name && !q.inject.is_empty())
            .map(|q| q.name.clone())
    };
    let key = |ty: &ObjectType, fields: String| {
        key_parts(schema, ty, &fields).map(|parts| Key { fields, parts })
    };
    // A type's own keys: its `keys`, else its key fields as one key.
    let own = |ty: &ObjectType| -> Result<Vec<Key>, String> {
        if ty.keys.is_empty() {
            key(ty, ty.key_fields.join(" ")).map(|k| vec![k])
        } else {
            ty.keys.iter().map(|k| key(ty, k.clone())).collect()
        }
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
            if let Some(query) = injected(ty) {
                return Err(format!(
                    "[[federation.entities]] `{}` cannot be an entity: query `{query}` filters \
                     it by the caller's token (inject), which `_entities` would pass over",
                    d.name
                ));
            }
            let keys = if d.key_fields.is_empty() {
                own(ty)
            } else {
                key(ty, d.key_fields.join(" ")).map(|k| vec![k])
            }
            .map_err(|e| format!("[[federation.entities]] `{}`: {e}", d.name))?;
            out.push(EntityKey {
                type_name: ty.name.clone(),
                keys,
            });
        }
        interface_objects_are_entities(schema, &out)?;
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
    let out: Vec<EntityKey> = schema
        .types
        .values()
        // An @interfaceObject or a type with several or nested keys is one even when no
        // query or relation reads it: the gateway reaches it through `_entities`.
        .filter(|ty| {
            (read.contains(ty.name.as_str())
                || ty.federation.interface_object
                || !ty.keys.is_empty())
                && injected(ty).is_none()
        })
        .filter_map(|ty| {
            own(ty).ok().map(|keys| EntityKey {
                type_name: ty.name.clone(),
                keys,
            })
        })
        .collect();
    interface_objects_are_entities(schema, &out)?;
    Ok(out)
}

/// Every `@interfaceObject` is among `entities` (it stands for an entity interface).
fn interface_objects_are_entities(
    schema: &CompiledSchema,
    entities: &[EntityKey],
) -> Result<(), String> {
    match schema
        .types
        .values()
        .find(|t| t.federation.interface_object && !entities.iter().any(|e| e.type_name == t.name))
    {
        Some(t) => Err(format!(
            "`{}` is an @interfaceObject, so it must be an entity: give it a key of its own \
             fields, list it in [[federation.entities]], and filter it by no injected claim",
            t.name
        )),
        None => Ok(()),
    }
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
    let keys: IndexMap<String, Vec<String>> = entities
        .iter()
        .map(|e| {
            let fields = e.keys.iter().map(|k| k.fields.clone()).collect();
            (e.type_name.clone(), fields)
        })
        .collect();
    // `@key` and the composition directives used.
    let mut import = vec!["@key"];
    let used = schema.types.values().flat_map(|t| {
        std::iter::once(&t.federation).chain(t.fields.values().map(|f| &f.federation))
    });
    for name in used.flat_map(|c| c.names()) {
        if !import.contains(&name) {
            import.push(name);
        }
    }
    let links = &schema.federation;
    if !links.compose_directives.is_empty() {
        import.push("@composeDirective");
    }
    let quoted = |names: &[&str]| -> String {
        let names: Vec<String> = names
            .iter()
            .map(|d| serde_json::Value::String((*d).to_owned()).to_string())
            .collect();
        names.join(", ")
    };
    let mut out = format!(
        "extend schema @link(url: \"{FEDERATION_SPEC}\", import: [{}])",
        quoted(&import)
    );
    for link in &links.links {
        let names: Vec<&str> = link.import.iter().map(String::as_str).collect();
        let _ = write!(
            out,
            "\n  @link(url: {}, import: [{}])",
            serde_json::Value::String(link.url.clone()),
            quoted(&names)
        );
    }
    for name in &links.compose_directives {
        let _ = write!(
            out,
            "\n  @composeDirective(name: {})",
            serde_json::Value::String(name.clone())
        );
    }
    out.push_str("\n\n");
    for definition in &links.directive_definitions {
        let _ = writeln!(out, "{definition}\n");
    }
    out.push_str(&executable_sdl_with(schema, defaults, &keys, true));
    out
}

/// Directive names a custom directive may not take: GraphQL's, FraiseQL's and the
/// federation spec's.
const RESERVED: &[&str] = &[
    "skip",
    "include",
    "deprecated",
    "specifiedBy",
    "oneOf",
    "link",
    "key",
    "composeDirective",
    "requires",
    "computed",
];

/// The custom directives of `links` (their definitions, `@link`s and `@composeDirective`s)
/// and their applications on the types and fields of `schema`, checked: each applied or
/// composed directive is defined, at a location its definition allows; each composed one
/// is imported by a `@link`. Problems as `(path, message)`.
pub(crate) fn check_links(
    links: &super::model::SchemaLinks,
    schema: &CompiledSchema,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    // Defined directives: name -> locations.
    let mut defined: IndexMap<String, Vec<String>> = IndexMap::new();
    for (i, text) in links.directive_definitions.iter().enumerate() {
        let at = format!("federation.directive_definitions[{i}]");
        let parsed = apollo_compiler::ast::Document::parse(text.as_str(), "directive");
        let def = parsed.ok().and_then(|doc| {
            doc.definitions.iter().find_map(|d| match d {
                apollo_compiler::ast::Definition::DirectiveDefinition(d) => Some(d.clone()),
                _ => None,
            })
        });
        let Some(def) = def else {
            out.push((at, format!("`{text}` is not a directive definition")));
            continue;
        };
        let name = def.name.to_string();
        if RESERVED.contains(&name.as_str())
            || super::sdl::DIRECTIVES.contains(&name.as_str())
            || super::sdl::COMPOSITION.contains(&name.as_str())
        {
            out.push((
                at,
                format!("`@{name}` is a directive of GraphQL, FraiseQL or federation"),
            ));
            continue;
        }
        let locations = def.locations.iter().map(|l| l.name().to_owned()).collect();
        defined.insert(name, locations);
    }
    let federation_url = FEDERATION_SPEC
        .rsplit_once('/')
        .map_or("", |(base, _)| base);
    let mut imported = Vec::new();
    for (i, link) in links.links.iter().enumerate() {
        let at = format!("federation.links[{i}]");
        if link.url.trim().is_empty() {
            out.push((at.clone(), "a `@link` needs a `url`".into()));
        }
        if link.url.starts_with(federation_url) {
            out.push((
                at.clone(),
                "the federation spec's `@link` is printed by FraiseQL itself; link only \
                 other specs here"
                    .into(),
            ));
        }
        for name in &link.import {
            match name.strip_prefix('@') {
                Some(n) if defined.contains_key(n) => imported.push(n.to_owned()),
                _ => out.push((
                    at.clone(),
                    format!("imports `{name}`, which is no directive defined in the schema"),
                )),
            }
        }
    }
    for (i, name) in links.compose_directives.iter().enumerate() {
        let at = format!("federation.compose_directives[{i}]");
        match name.strip_prefix('@') {
            Some(n) if imported.iter().any(|m| m == n) => {}
            Some(n) if defined.contains_key(n) => out.push((
                at,
                format!("`{name}` is composed but no `@link` imports it"),
            )),
            _ => out.push((
                at,
                format!("`{name}` is no directive defined in the schema"),
            )),
        }
    }
    let mut applied = |at: String, list: &[String], location: &str| {
        for text in list {
            let name: String = text
                .trim_start_matches('@')
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            match defined.get(&name) {
                Some(locations) if locations.iter().any(|l| l == location) => {}
                Some(_) => out.push((
                    at.clone(),
                    format!("`@{name}` is not defined for {location}"),
                )),
                None => out.push((
                    at.clone(),
                    format!("`@{name}` is no directive defined in the schema"),
                )),
            }
        }
    };
    for (i, t) in schema.types.values().enumerate() {
        applied(
            format!("types[{i}].federation"),
            &t.federation.directives,
            "OBJECT",
        );
        for f in t.fields.values() {
            applied(
                format!("types[{i}].fields.{}.federation", f.key),
                &f.federation.directives,
                "FIELD_DEFINITION",
            );
        }
    }
    out
}
