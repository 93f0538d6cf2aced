//! The compiled schema: every default resolved, every reference checked. This is what
//! `schema.compiled.json` holds and what the planner reads; it never looks at raw input.

use super::type_ref::TypeRef;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// The built-in scalars.
pub const SCALARS: &[&str] = &[
    "ID", "UUID", "String", "Int", "Float", "Boolean", "DateTime", "Date", "Decimal", "JSON",
];

/// How values of a scalar compare, which decides the SQL cast used in filters and ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarKind {
    Text,
    /// `ID`: an opaque string (integers are accepted and read as their digits).
    Id,
    /// `UUID`: a canonical `8-4-4-4-12` hex UUID, compared in lowercase.
    Uuid,
    Int,
    Float,
    Decimal,
    Boolean,
    DateTime,
    Date,
    Json,
}

impl ScalarKind {
    /// The kind of a built-in scalar name; `None` for non-scalars.
    pub fn of(name: &str) -> Option<Self> {
        Some(match name {
            "String" => Self::Text,
            "ID" => Self::Id,
            "UUID" => Self::Uuid,
            "Int" => Self::Int,
            "Float" => Self::Float,
            "Decimal" => Self::Decimal,
            "Boolean" => Self::Boolean,
            "DateTime" => Self::DateTime,
            "Date" => Self::Date,
            "JSON" => Self::Json,
            _ => return None,
        })
    }

    /// Numbers compare numerically.
    pub fn is_numeric(self) -> bool {
        matches!(self, Self::Int | Self::Float | Self::Decimal)
    }
}

/// A compiled schema.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompiledSchema {
    /// Object types by GraphQL name.
    pub types: IndexMap<String, ObjectType>,
    pub inputs: IndexMap<String, InputType>,
    pub enums: IndexMap<String, EnumType>,
    /// Root fields by GraphQL name.
    pub queries: IndexMap<String, QueryField>,
    pub mutations: IndexMap<String, MutationField>,
    pub subscriptions: IndexMap<String, SubscriptionField>,
    /// Apollo Federation schema-level directives: custom directives and their composition.
    #[serde(default, skip_serializing_if = "SchemaLinks::is_empty")]
    pub federation: SchemaLinks,
}

/// The schema-level part of an Apollo Federation subgraph: the `@link`s to specs other
/// than federation's (each importing custom directives), the directives composed into the
/// supergraph (`@composeDirective(name:)`), and the definitions of the custom directives
/// applied on types and fields (`directive @custom on OBJECT`). FraiseQL gives a custom
/// directive no meaning: it is printed in the subgraph SDL for the gateway to compose.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaLinks {
    /// `@link(url:, import:)` to other specs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    /// `@composeDirective(name: "@custom")`, each name with its `@`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compose_directives: Vec<String>,
    /// `directive @custom on OBJECT`, each as SDL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub directive_definitions: Vec<String>,
}

impl SchemaLinks {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// One `@link`: a spec's URL and the names imported from it (`"@custom"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub url: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub import: Vec<String>,
}

/// An object type backed by a view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectType {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The view holding one row per entity with a JSON `data` column.
    pub sql_source: String,
    pub database: String,
    /// Data keys identifying an entity.
    pub key_fields: Vec<String>,
    /// Apollo Federation keys beyond `key_fields`, each a field set (`"sku variation { id }"`)
    /// checked against the fields; empty: `key_fields` is the one key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Apollo Federation composition directives on the type.
    #[serde(default, skip_serializing_if = "Composition::is_empty")]
    pub federation: Composition,
    /// Fields by GraphQL name.
    pub fields: IndexMap<String, Field>,
    /// Who may select it (`@auth`, `requires_role`/`requires_scope`).
    #[serde(default, skip_serializing_if = "Access::is_open")]
    pub access: Access,
}

/// A field of an object type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// GraphQL name.
    pub name: String,
    /// Key in the `data` JSON.
    pub key: String,
    #[serde(rename = "type")]
    pub ty: TypeRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<Relation>,
    /// Who may select it (`@auth`, `requires_role`/`requires_scope`).
    #[serde(default, skip_serializing_if = "Access::is_open")]
    pub access: Access,
    /// Apollo Federation composition directives on the field.
    #[serde(default, skip_serializing_if = "Composition::is_empty")]
    pub federation: Composition,
    /// `@computed(sql:)`: the field is this SQL expression, not a key of `data`; `{field}`
    /// in it stands for a field of the type (`{dimensions.size}` for a nested one), and for
    /// a field the `@requires` set names, the value the representation brought.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computed: Option<String>,
}

impl Field {
    /// Whether the field's value is a key of the row's `data` (no relation, not computed):
    /// what filters and sort keys can read.
    pub fn in_data(&self) -> bool {
        self.relation.is_none() && self.computed.is_none()
    }
}

/// Apollo Federation composition directives (`@shareable`, `@inaccessible`, `@tag`,
/// `@external`, `@provides`, `@override`, `@extends`, `@interfaceObject`): what the gateway composing this
/// subgraph is told about a type or field. They are printed in the subgraph SDL; this
/// subgraph serves the type or field from its view as any other — an `@inaccessible` one is
/// hidden from clients by the gateway, an `@external` one is asked for only where a
/// `@provides` (or a key) says this subgraph's view holds it, an `@override` one is resolved
/// here instead of in the subgraph it names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Composition {
    /// Owned by another subgraph; this one's view holds a copy for `@provides` and keys.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    /// A type first defined in another subgraph (`@extends`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub extends: bool,
    /// `@interfaceObject`: this object type stands for an interface other subgraphs define
    /// (an entity; the gateway asks `_entities` for it by the interface's name).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interface_object: bool,
    /// `@override(from:)`: resolved here instead of in that subgraph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_from: Option<String>,
    /// `@provides(fields:)`: the target's external fields this field's rows hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provides: Option<String>,
    /// Other subgraphs may resolve it too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shareable: bool,
    /// The gateway leaves it out of the API it serves.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inaccessible: bool,
    /// Contract tags (`@tag(name:)`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `@requires(fields:)`: the other subgraphs' fields a computed field is computed from;
    /// the gateway passes them in the representation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires: Option<String>,
    /// Custom directives applied (`@custom`, `@custom(level: 2)`), as SDL; each defined in
    /// the schema's `directive_definitions`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub directives: Vec<String>,
}

impl Composition {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// The directives as the subgraph SDL writes them, each after a space.
    pub fn directives(&self) -> String {
        let text = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
        let mut out = String::new();
        if self.extends {
            out.push_str(" @extends");
        }
        if self.interface_object {
            out.push_str(" @interfaceObject");
        }
        if self.external {
            out.push_str(" @external");
        }
        if let Some(from) = &self.override_from {
            out.push_str(&format!(" @override(from: {})", text(from)));
        }
        if let Some(fields) = &self.provides {
            out.push_str(&format!(" @provides(fields: {})", text(fields)));
        }
        if let Some(fields) = &self.requires {
            out.push_str(&format!(" @requires(fields: {})", text(fields)));
        }
        if self.shareable {
            out.push_str(" @shareable");
        }
        if self.inaccessible {
            out.push_str(" @inaccessible");
        }
        for tag in &self.tags {
            out.push_str(&format!(
                " @tag(name: {})",
                serde_json::Value::String(tag.clone())
            ));
        }
        for custom in &self.directives {
            out.push(' ');
            out.push_str(custom);
        }
        out
    }

    /// The directive names used, for the `@link` import list.
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        [
            self.extends.then_some("@extends"),
            self.interface_object.then_some("@interfaceObject"),
            self.external.then_some("@external"),
            self.override_from.is_some().then_some("@override"),
            self.provides.is_some().then_some("@provides"),
            self.requires.is_some().then_some("@requires"),
            self.shareable.then_some("@shareable"),
            self.inaccessible.then_some("@inaccessible"),
            (!self.tags.is_empty()).then_some("@tag"),
        ]
        .into_iter()
        .flatten()
    }
}

/// A field fetched from another type's view: `target.remote_key = parent.local_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relation {
    pub local_key: String,
    pub remote_key: String,
}

/// An input object type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputType {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Fields by GraphQL name.
    pub fields: IndexMap<String, Argument>,
}

/// An argument, or an input object field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Argument {
    /// GraphQL name.
    pub name: String,
    /// snake_case key: the data key it filters on, or the function parameter it binds.
    pub key: String,
    #[serde(rename = "type")]
    pub ty: TypeRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<String>,
}

/// An enum type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnumType {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub values: Vec<EnumValue>,
}

impl EnumType {
    /// Whether any stored value differs from its GraphQL name (then SQL must map them).
    pub fn needs_mapping(&self) -> bool {
        self.values.iter().any(|v| v.name != v.stored)
    }

    /// The stored value for a GraphQL enum value name.
    pub fn stored(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|v| v.name == name)
            .map(|v| v.stored.as_str())
    }
}

/// One enum value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnumValue {
    pub name: String,
    /// What the database stores.
    pub stored: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<String>,
}

/// Which automatic arguments a list query has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoParams {
    #[serde(rename = "where")]
    pub where_: bool,
    pub order_by: bool,
    pub limit: bool,
    pub offset: bool,
}

/// Who may select a type or field: callers with `role` among their roles and `scope`
/// among their scopes (each only when set). Open when neither is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl Access {
    pub fn is_open(&self) -> bool {
        self.role.is_none() && self.scope.is_none()
    }
}

/// A root query field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryField {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: TypeRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<String>,
    pub sql_source: String,
    pub database: String,
    /// Declared arguments; each one not handled automatically filters by equality on its key.
    pub arguments: Vec<Argument>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub relay: bool,
    /// Automatic list arguments; `None` means `[query_defaults]` decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_params: Option<AutoParams>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_ttl_seconds: u64,
    /// Who may select it (`@auth`, `requires_role`/`requires_scope`).
    #[serde(default, skip_serializing_if = "Access::is_open")]
    pub access: Access,
    /// Filters filled from the caller's token: data key (or view column) -> claim name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub inject: IndexMap<String, String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a mutation does, as declared (informational; events use it later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum MutationOperation {
    Create,
    Update,
    Delete,
    Custom,
}

/// A root mutation field backed by a SQL function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MutationField {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: TypeRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<String>,
    /// The SQL function.
    pub function: String,
    pub database: String,
    pub operation: MutationOperation,
    pub arguments: Vec<Argument>,
    /// Who may select it (`@auth`, `requires_role`/`requires_scope`).
    #[serde(default, skip_serializing_if = "Access::is_open")]
    pub access: Access,
    /// Function parameters filled from the caller's token, after the client's arguments:
    /// parameter key -> claim name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub inject: IndexMap<String, String>,
}

impl MutationField {
    /// The arguments as they bind to the function's parameters: a lone input-object
    /// argument is flattened to its fields (the planner does the same with the values).
    pub fn parameter_arguments<'s>(&'s self, schema: &'s CompiledSchema) -> Vec<&'s Argument> {
        if let [only] = self.arguments.as_slice() {
            if let Some(input) = schema.inputs.get(&only.ty.name) {
                return input.fields.values().collect();
            }
        }
        self.arguments.iter().collect()
    }
}

/// A root subscription field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionField {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: TypeRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub entity_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    pub arguments: Vec<Argument>,
    /// Who may select it (`@auth`, `requires_role`/`requires_scope`).
    #[serde(default, skip_serializing_if = "Access::is_open")]
    pub access: Access,
}

impl CompiledSchema {
    /// Every database name the schema refers to, in first-use order.
    pub fn databases(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let names = self
            .types
            .values()
            .map(|t| t.database.as_str())
            .chain(self.queries.values().map(|q| q.database.as_str()))
            .chain(self.mutations.values().map(|m| m.database.as_str()));
        for n in names {
            if !out.contains(&n) {
                out.push(n);
            }
        }
        out
    }
}
