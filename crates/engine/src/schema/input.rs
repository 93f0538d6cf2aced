//! The authoring contract: the `schema.json` document that the SDKs emit and that the SDL
//! front end (`schema.graphql`) is lowered into. It is raw input, mostly `Option`s; `compile`
//! resolves every default and checks every reference. Documented in `docs/schema.md`.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// A whole authored schema, as written to `schema.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaInput {
    /// Format version; only `1` exists.
    #[serde(default = "one")]
    pub version: u32,
    #[serde(default)]
    pub types: Vec<ObjectTypeInput>,
    #[serde(default)]
    pub input_types: Vec<InputTypeInput>,
    #[serde(default)]
    pub enums: Vec<EnumInput>,
    #[serde(default)]
    pub queries: Vec<QueryInput>,
    #[serde(default)]
    pub mutations: Vec<MutationInput>,
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionInput>,
    /// Apollo Federation schema-level directives (custom directives and their composition).
    #[serde(default, skip_serializing_if = "super::model::SchemaLinks::is_empty")]
    pub federation: super::model::SchemaLinks,
}

fn one() -> u32 {
    1
}

/// An output object type, usually backed by a view with a JSON `data` column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectTypeInput {
    /// GraphQL type name (PascalCase).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// View that holds one row per entity (`v_order`); default `v_<snake_case name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_source: Option<String>,
    /// Named database from `fraiseql.toml`; default `primary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Fields that identify one entity; default `["id"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_fields: Option<Vec<String>>,
    /// Apollo Federation keys, each a field set as `@key(fields:)` writes it (`"id"`,
    /// `"sku variation { id }"`); default: `key_fields`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Apollo Federation composition directives on the type.
    #[serde(default, skip_serializing_if = "super::model::Composition::is_empty")]
    pub federation: super::model::Composition,
    pub fields: Vec<FieldInput>,
    /// Only callers with this role may select it.
    #[serde(default)]
    pub requires_role: Option<String>,
    /// Only callers with this scope may select it.
    #[serde(default)]
    pub requires_scope: Option<String>,
}

/// One field of an object type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldInput {
    /// Key in the view's `data` JSON (snake_case); the GraphQL name is its camelCase.
    pub name: String,
    /// GraphQL type reference: `String!`, `[OrderItem!]!`, `Customer`.
    #[serde(rename = "type")]
    pub type_ref: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Deprecation reason; present means deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<String>,
    /// Overrides the derived GraphQL field name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphql_name: Option<String>,
    /// The field is another view-backed type fetched by key instead of read from `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<RelationInput>,
    /// Apollo Federation composition directives on the field.
    #[serde(default, skip_serializing_if = "super::model::Composition::is_empty")]
    pub federation: super::model::Composition,
    /// A SQL expression computing the field (`{field}` stands for a field of the type);
    /// see [`Field::computed`](super::model::Field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computed: Option<String>,
    /// Only callers with this role may select it.
    #[serde(default)]
    pub requires_role: Option<String>,
    /// Only callers with this scope may select it.
    #[serde(default)]
    pub requires_scope: Option<String>,
}

/// How a relation field finds its rows: `target.remote_key = parent.local_key`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationInput {
    /// Key in the parent's `data` holding the reference (`customer_id`).
    pub local_key: String,
    /// Key in the target's `data` it matches; default `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_key: Option<String>,
}

/// A GraphQL input object type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputTypeInput {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub fields: Vec<ArgumentInput>,
}

/// An argument of a query/mutation, or a field of an input type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArgumentInput {
    /// snake_case name; the GraphQL name is its camelCase.
    pub name: String,
    #[serde(rename = "type")]
    pub type_ref: String,
    /// Default value as JSON (enum values as their GraphQL names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<String>,
}

/// An enum type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnumInput {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub values: Vec<EnumValueInput>,
}

/// One enum value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnumValueInput {
    /// GraphQL name (`PENDING`).
    pub name: String,
    /// Value stored in the database (`pending`); default: the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<String>,
}

/// Which automatic list arguments a query gets; `true`/`false` sets all four.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AutoParamsInput {
    All(bool),
    Some(AutoParamsDetail),
}

/// Per-argument switches of [`AutoParamsInput`]; absent keys keep their default (on).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoParamsDetail {
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub where_: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_by: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<bool>,
}

/// A root query field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryInput {
    /// snake_case name; the GraphQL name is its camelCase.
    pub name: String,
    /// GraphQL type reference of the result: `Order` (one, nullable), `[Order!]!` (list).
    pub return_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<String>,
    /// View to read; default the return type's `sql_source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_source: Option<String>,
    /// Database to read; default the return type's database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(default)]
    pub arguments: Vec<ArgumentInput>,
    /// Relay connection (`first/after/last/before`, `edges`, `pageInfo`, `totalCount`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_params: Option<AutoParamsInput>,
    /// Response cache lifetime; 0 or absent disables caching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_ttl_seconds: Option<u64>,
    /// Only callers with this role may select it.
    #[serde(default)]
    pub requires_role: Option<String>,
    /// Only callers with this scope may select it.
    #[serde(default)]
    pub requires_scope: Option<String>,
    /// Values the server takes from the caller's verified token, never from the client:
    /// `{"owner_id": "jwt:sub"}`. A query filters on each key; a mutation passes each to
    /// its function after the client's arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject: Option<IndexMap<String, String>>,
}

/// A root mutation field backed by a SQL function.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MutationInput {
    pub name: String,
    pub return_type: String,
    /// The function to call (`fn_create_order`).
    pub sql_source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// `CREATE`, `UPDATE`, `DELETE` or `CUSTOM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(default)]
    pub arguments: Vec<ArgumentInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<String>,
    /// Only callers with this role may select it.
    #[serde(default)]
    pub requires_role: Option<String>,
    /// Only callers with this scope may select it.
    #[serde(default)]
    pub requires_scope: Option<String>,
    /// As a query's `inject`: each value is passed to the function after the client's
    /// arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject: Option<IndexMap<String, String>>,
}

/// A root subscription field fed by events on a topic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionInput {
    pub name: String,
    pub return_type: String,
    /// Entity type re-read for each event; default the return type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_type: Option<String>,
    /// Event topic (a NATS subject).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// `INSERT`, `UPDATE` or `DELETE`; absent means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(default)]
    pub arguments: Vec<ArgumentInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Only callers with this role may select it.
    #[serde(default)]
    pub requires_role: Option<String>,
    /// Only callers with this scope may select it.
    #[serde(default)]
    pub requires_scope: Option<String>,
}
