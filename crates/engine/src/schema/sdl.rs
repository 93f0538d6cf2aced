//! The SDL front end: `schema.graphql` with FraiseQL directives lowered into the same
//! [`SchemaInput`] that `schema.json` deserializes to, so both compile identically.
//! Directives: `@source(view:, database:)`, `@key(fields:)`, `@relation(localKey:, remoteKey:)`,
//! `@data(key:)`, `@relay`, `@cache(ttl:)`, `@autoParams(...)`, `@function(name:, database:,
//! operation:)`, `@topic(name:, entity:, operation:)`, `@value(stored:)`, `@auth(requires:, scope:)`
//! and `@deprecated`.

use super::compile::{CompileError, CompileErrors};
use super::input::*;
use super::naming::{camel_case, snake_case};
use apollo_compiler::ast::{self, Definition, DirectiveList, Value};
use apollo_compiler::Node;

/// Parses `schema.graphql` text into the authoring model.
pub fn parse_sdl(text: &str, origin: &str) -> Result<SchemaInput, CompileErrors> {
    let doc = ast::Document::parse(text, origin).map_err(|e| {
        CompileErrors(
            e.errors
                .iter()
                .map(|d| CompileError {
                    path: origin.to_string(),
                    message: d.to_string(),
                })
                .collect(),
        )
    })?;
    let mut l = Lowering {
        out: SchemaInput {
            version: 1,
            ..Default::default()
        },
        errors: vec![],
        custom: custom_directives(&doc),
    };
    for def in &doc.definitions {
        let def = as_definition(def);
        l.directives_known(&def);
        l.definition(&def);
    }
    if l.errors.is_empty() {
        Ok(l.out)
    } else {
        Err(CompileErrors(l.errors))
    }
}

/// `extend type T { … }` read as `type T @extends { … }` (a type another subgraph defines
/// first; for the root types, their fields); `extend schema` as `schema`. Other definitions
/// as they are.
fn as_definition(def: &Definition) -> Definition {
    match def {
        Definition::ObjectTypeExtension(e) => {
            let mut directives = e.directives.clone();
            let root = ["Query", "Mutation", "Subscription"].contains(&e.name.as_str());
            if !root && !directives.has("extends") {
                directives.push(Node::new(ast::Directive {
                    name: apollo_compiler::name!("extends"),
                    arguments: Vec::new(),
                }));
            }
            Definition::ObjectTypeDefinition(Node::new(ast::ObjectTypeDefinition {
                description: None,
                name: e.name.clone(),
                implements_interfaces: e.implements_interfaces.clone(),
                directives,
                fields: e.fields.clone(),
            }))
        }
        Definition::SchemaExtension(e) => {
            Definition::SchemaDefinition(Node::new(ast::SchemaDefinition {
                description: None,
                directives: e.directives.clone(),
                root_operations: e.root_operations.clone(),
            }))
        }
        other => other.clone(),
    }
}

struct Lowering {
    out: SchemaInput,
    errors: Vec<CompileError>,
    /// The custom directives the document defines: name -> locations.
    custom: indexmap::IndexMap<String, Vec<String>>,
}

fn text(d: &Option<Node<str>>) -> Option<String> {
    d.as_ref().map(|s| s.to_string())
}

fn str_arg(dirs: &DirectiveList, directive: &str, arg: &str) -> Option<String> {
    dirs.get(directive)?
        .specified_argument_by_name(arg)?
        .as_str()
        .map(str::to_string)
}

/// `@inject(owner_id: "jwt:sub", …)`: each argument a key and its source. A value that is not
/// a string is kept as its GraphQL text, for the compiler to refuse with its path.
fn inject(dirs: &DirectiveList) -> Option<indexmap::IndexMap<String, String>> {
    let d = dirs.get("inject")?;
    Some(
        d.arguments
            .iter()
            .map(|a| {
                let v = a
                    .value
                    .as_str()
                    .map_or_else(|| a.value.to_string(), str::to_owned);
                (a.name.to_string(), v)
            })
            .collect(),
    )
}

fn bool_arg(dirs: &DirectiveList, directive: &str, arg: &str) -> Option<bool> {
    match dirs
        .get(directive)?
        .specified_argument_by_name(arg)?
        .as_ref()
    {
        Value::Boolean(b) => Some(*b),
        _ => None,
    }
}

fn deprecation(dirs: &DirectiveList) -> Option<String> {
    let d = dirs.get("deprecated")?;
    Some(
        d.specified_argument_by_name("reason")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "No longer supported".to_string()),
    )
}

/// A GraphQL literal as JSON (for argument defaults).
fn json_value(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null | Value::Variable(_) => J::Null,
        Value::Enum(n) => J::String(n.to_string()),
        Value::String(s) => J::String(s.clone()),
        Value::Float(f) => f
            .try_to_f64()
            .ok()
            .map_or(J::Null, |f| serde_json::json!(f)),
        Value::Int(i) => i
            .as_str()
            .parse::<i64>()
            .map(|n| serde_json::json!(n))
            .unwrap_or_else(|_| J::String(i.as_str().to_string())),
        Value::Boolean(b) => J::Bool(*b),
        Value::List(items) => J::Array(items.iter().map(|i| json_value(i)).collect()),
        Value::Object(fields) => J::Object(
            fields
                .iter()
                .map(|(k, v)| (snake_case(k.as_str()), json_value(v)))
                .collect(),
        ),
    }
}

/// The directives this front end reads; any other is refused, never silently ignored
/// (custom directives, defined in the schema, go to the subgraph SDL).
pub(super) const DIRECTIVES: &[&str] = &[
    "source",
    "computed",
    "key",
    "relation",
    "data",
    "relay",
    "cache",
    "autoParams",
    "function",
    "topic",
    "value",
    "auth",
    "inject",
    "deprecated",
    "specifiedBy",
];

/// Apollo Federation composition directives, read on object types and their fields.
pub(super) const COMPOSITION: &[&str] = &[
    "requires",
    "shareable",
    "inaccessible",
    "tag",
    "external",
    "provides",
    "override",
    "extends",
    "interfaceObject",
];

/// Apollo Federation directives read on the schema (`extend schema`) only.
const SCHEMA_ONLY: &[&str] = &["link", "composeDirective"];

/// The composition directives of a type or field (`@shareable`, `@inaccessible`,
/// `@tag(name:)`, `@external`, `@provides(fields:)`, `@requires(fields:)`,
/// `@override(from:)`, `@extends`, `@interfaceObject`) and the custom directives applied
/// (those `custom` defines), as SDL.
fn composition(
    dirs: &DirectiveList,
    custom: &indexmap::IndexMap<String, Vec<String>>,
) -> super::model::Composition {
    super::model::Composition {
        external: dirs.get("external").is_some(),
        extends: dirs.get("extends").is_some(),
        interface_object: dirs.get("interfaceObject").is_some(),
        override_from: str_arg(dirs, "override", "from"),
        provides: str_arg(dirs, "provides", "fields"),
        requires: str_arg(dirs, "requires", "fields"),
        shareable: dirs.get("shareable").is_some(),
        inaccessible: dirs.get("inaccessible").is_some(),
        tags: dirs
            .get_all("tag")
            .filter_map(|d| d.specified_argument_by_name("name"))
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        directives: dirs
            .iter()
            .filter(|d| custom.contains_key(d.name.as_str()))
            .map(|d| d.to_string())
            .collect(),
    }
}

/// The custom directives `doc` defines (`directive @custom on OBJECT`): name -> locations.
fn custom_directives(doc: &ast::Document) -> indexmap::IndexMap<String, Vec<String>> {
    doc.definitions
        .iter()
        .filter_map(|d| match d {
            Definition::DirectiveDefinition(d) => Some((
                d.name.to_string(),
                d.locations.iter().map(|l| l.name().to_owned()).collect(),
            )),
            _ => None,
        })
        .collect()
}

impl Lowering {
    /// Every directive on `def` (its fields, arguments and values too) is one this front
    /// end reads.
    fn directives_known(&mut self, def: &Definition) {
        let name = def.name().map(|n| n.to_string()).unwrap_or_default();
        let roots = ["Query", "Mutation", "Subscription"];
        // Composition directives are read on object types and their fields.
        let custom = &self.custom;
        let errors = &mut self.errors;
        let mut check = |at: String, dirs: &DirectiveList, composed: bool| {
            for d in dirs.iter() {
                let n = d.name.as_str();
                if n == "tag"
                    && composed
                    && d.specified_argument_by_name("name")
                        .and_then(|v| v.as_str())
                        .is_none()
                {
                    let message = "`@tag` needs `name:`, a string".to_owned();
                    errors.push(CompileError {
                        path: at.clone(),
                        message,
                    });
                    continue;
                }
                let known = DIRECTIVES.contains(&n)
                    || (composed && (COMPOSITION.contains(&n) || custom.contains_key(n)));
                if known {
                    continue;
                }
                let message = if SCHEMA_ONLY.contains(&n) {
                    format!("`@{n}` goes on the schema (`extend schema @{n}(…)`)")
                } else if COMPOSITION.contains(&n) || custom.contains_key(n) {
                    format!(
                        "`@{n}` is read on object types and their fields only (see \
                         docs/apollo-federation.md)"
                    )
                } else {
                    format!(
                        "unknown directive `@{n}`; FraiseQL reads {}, and custom directives \
                         the schema defines (`directive @{n} on OBJECT`)",
                        DIRECTIVES
                            .iter()
                            .map(|d| format!("@{d}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                errors.push(CompileError {
                    path: at.clone(),
                    message,
                });
            }
        };
        match def {
            Definition::ObjectTypeDefinition(t) => {
                let composed = !roots.contains(&name.as_str());
                check(name.clone(), &t.directives, composed);
                for f in &t.fields {
                    check(format!("{name}.{}", f.name), &f.directives, composed);
                    for a in &f.arguments {
                        check(
                            format!("{name}.{}({}:)", f.name, a.name),
                            &a.directives,
                            false,
                        );
                    }
                }
            }
            Definition::InputObjectTypeDefinition(t) => {
                check(name.clone(), &t.directives, false);
                for f in &t.fields {
                    check(format!("{name}.{}", f.name), &f.directives, false);
                }
            }
            Definition::EnumTypeDefinition(e) => {
                check(name.clone(), &e.directives, false);
                for v in &e.values {
                    check(format!("{name}.{}", v.value), &v.directives, false);
                }
            }
            Definition::ScalarTypeDefinition(s) => check(name.clone(), &s.directives, false),
            Definition::SchemaDefinition(s) => {
                let others: Vec<_> = s
                    .directives
                    .iter()
                    .filter(|d| !SCHEMA_ONLY.contains(&d.name.as_str()))
                    .cloned()
                    .collect();
                check("schema".into(), &DirectiveList(others), false);
            }
            _ => {}
        }
    }

    /// `@link(url:, import:)` and `@composeDirective(name:)` on the schema. The federation
    /// spec's `@link` is accepted (version 2) and left out: the subgraph SDL prints its own,
    /// importing what the schema uses.
    fn schema_directives(&mut self, dirs: &DirectiveList) {
        let federation = super::federation::FEDERATION_SPEC
            .rsplit_once('/')
            .map_or("", |(base, _)| base);
        for d in dirs.get_all("link") {
            let url = d
                .specified_argument_by_name("url")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned();
            if d.specified_argument_by_name("as").is_some() {
                self.err(
                    "schema.@link".into(),
                    "`@link(as:)` (a renamed spec) is not supported",
                );
            }
            let mut import = Vec::new();
            let items = match d.specified_argument_by_name("import").map(|v| v.as_ref()) {
                Some(Value::List(items)) => items.clone(),
                Some(other) => vec![Node::new(other.clone())],
                None => Vec::new(),
            };
            for item in items {
                match item.as_ref() {
                    Value::String(name) => import.push(name.clone()),
                    _ => self.err(
                        "schema.@link".into(),
                        format!(
                            "`{url}` imports `{}`: imports are names (`\"@custom\"`); renaming \
                             (`{{name:, as:}}`) is not supported",
                            item
                        ),
                    ),
                }
            }
            if let Some(version) = url.strip_prefix(federation) {
                if !version.starts_with("/v2.") {
                    self.err(
                        "schema.@link".into(),
                        format!("`{url}`: FraiseQL subgraphs speak federation v2"),
                    );
                }
                continue;
            }
            self.out
                .federation
                .links
                .push(super::model::Link { url, import });
        }
        for d in dirs.get_all("composeDirective") {
            match d
                .specified_argument_by_name("name")
                .and_then(|v| v.as_str())
            {
                Some(name) => self.out.federation.compose_directives.push(name.to_owned()),
                None => self.err(
                    "schema.@composeDirective".into(),
                    "`@composeDirective` needs `name:`, a string (`\"@custom\"`)",
                ),
            }
        }
    }

    fn err(&mut self, path: String, message: impl Into<String>) {
        self.errors.push(CompileError {
            path,
            message: message.into(),
        });
    }

    fn definition(&mut self, def: &Definition) {
        match def {
            Definition::ObjectTypeDefinition(t) => match t.name.as_str() {
                "Query" => self.queries(t),
                "Mutation" => self.mutations(t),
                "Subscription" => self.subscriptions(t),
                _ => self.object_type(t),
            },
            Definition::InputObjectTypeDefinition(t) => {
                let fields = t.fields.iter().map(|f| self.argument(f)).collect();
                self.out.input_types.push(InputTypeInput {
                    name: t.name.to_string(),
                    description: text(&t.description),
                    fields,
                });
            }
            Definition::EnumTypeDefinition(e) => {
                let values = e
                    .values
                    .iter()
                    .map(|v| EnumValueInput {
                        name: v.value.to_string(),
                        value: str_arg(&v.directives, "value", "stored"),
                        description: text(&v.description),
                        deprecated: deprecation(&v.directives),
                    })
                    .collect();
                self.out.enums.push(EnumInput {
                    name: e.name.to_string(),
                    description: text(&e.description),
                    values,
                });
            }
            Definition::ScalarTypeDefinition(s) => {
                if !super::model::SCALARS.contains(&s.name.as_str()) {
                    self.err(
                        format!("scalars.{}", s.name),
                        "custom scalars are not supported; use one of the built-in scalars",
                    );
                }
            }
            Definition::DirectiveDefinition(d) => self
                .out
                .federation
                .directive_definitions
                .push(d.to_string().trim().to_owned()),
            Definition::SchemaDefinition(s) => self.schema_directives(&s.directives),
            other => {
                let what = other.name().map(|n| n.to_string()).unwrap_or_default();
                self.err(
                    format!("definitions.{what}"),
                    "only object, input, enum and scalar definitions are supported",
                );
            }
        }
    }

    fn object_type(&mut self, t: &ast::ObjectTypeDefinition) {
        let fields = t
            .fields
            .iter()
            .map(|f| {
                let key =
                    str_arg(&f.directives, "data", "key").unwrap_or_else(|| snake_case(&f.name));
                let graphql_name =
                    (camel_case(&key) != f.name.as_str()).then(|| f.name.to_string());
                let relation = f.directives.get("relation").map(|_| RelationInput {
                    local_key: str_arg(&f.directives, "relation", "localKey").unwrap_or_default(),
                    remote_key: str_arg(&f.directives, "relation", "remoteKey"),
                });
                if !f.arguments.is_empty() {
                    self.err(
                        format!("types.{}.fields.{key}", t.name),
                        "arguments on object fields are not supported",
                    );
                }
                FieldInput {
                    name: key,
                    type_ref: f.ty.to_string(),
                    description: text(&f.description),
                    deprecated: deprecation(&f.directives),
                    graphql_name,
                    relation,
                    requires_role: str_arg(&f.directives, "auth", "requires"),
                    requires_scope: str_arg(&f.directives, "auth", "scope"),
                    federation: composition(&f.directives, &self.custom),
                    computed: str_arg(&f.directives, "computed", "sql"),
                }
            })
            .collect();
        // Every `@key` is a federation key; the first flat one (no nested selection) is also
        // the type's key fields.
        let keys: Vec<String> = t
            .directives
            .get_all("key")
            .filter_map(|d| d.specified_argument_by_name("fields"))
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let key_fields = keys
            .iter()
            .find(|k| !k.contains('{'))
            .map(|k| k.split_whitespace().map(snake_case).collect());
        self.out.types.push(ObjectTypeInput {
            name: t.name.to_string(),
            description: text(&t.description),
            sql_source: str_arg(&t.directives, "source", "view"),
            database: str_arg(&t.directives, "source", "database"),
            key_fields,
            federation: composition(&t.directives, &self.custom),
            keys: if keys.len() > 1 || keys.iter().any(|k| k.contains('{')) {
                keys
            } else {
                Vec::new()
            },
            fields,
            requires_role: str_arg(&t.directives, "auth", "requires"),
            requires_scope: str_arg(&t.directives, "auth", "scope"),
        });
    }

    fn argument(&mut self, a: &ast::InputValueDefinition) -> ArgumentInput {
        ArgumentInput {
            name: snake_case(&a.name),
            type_ref: a.ty.to_string(),
            default: a.default_value.as_ref().map(|v| json_value(v)),
            description: text(&a.description),
            deprecated: deprecation(&a.directives),
        }
    }

    fn queries(&mut self, t: &ast::ObjectTypeDefinition) {
        for f in &t.fields {
            let d = &f.directives;
            let auto_params = d.get("autoParams").map(|_| {
                AutoParamsInput::Some(AutoParamsDetail {
                    where_: bool_arg(d, "autoParams", "where"),
                    order_by: bool_arg(d, "autoParams", "orderBy"),
                    limit: bool_arg(d, "autoParams", "limit"),
                    offset: bool_arg(d, "autoParams", "offset"),
                })
            });
            let cache_ttl_seconds = d
                .get("cache")
                .and_then(|c| c.specified_argument_by_name("ttl"))
                .and_then(|v| v.to_i32())
                .map(|n| n.max(0) as u64);
            let arguments = f.arguments.iter().map(|a| self.argument(a)).collect();
            self.out.queries.push(QueryInput {
                name: snake_case(&f.name),
                return_type: f.ty.to_string(),
                description: text(&f.description),
                deprecated: deprecation(d),
                sql_source: str_arg(d, "source", "view"),
                database: str_arg(d, "source", "database"),
                arguments,
                relay: d.has("relay").then_some(true),
                auto_params,
                cache_ttl_seconds,
                requires_role: str_arg(d, "auth", "requires"),
                requires_scope: str_arg(d, "auth", "scope"),
                inject: inject(d),
            });
        }
    }

    fn mutations(&mut self, t: &ast::ObjectTypeDefinition) {
        for f in &t.fields {
            let d = &f.directives;
            let Some(function) = str_arg(d, "function", "name") else {
                self.err(
                    format!("mutations.{}", snake_case(&f.name)),
                    "a mutation needs @function(name: \"fn_...\")",
                );
                continue;
            };
            let arguments = f.arguments.iter().map(|a| self.argument(a)).collect();
            self.out.mutations.push(MutationInput {
                name: snake_case(&f.name),
                return_type: f.ty.to_string(),
                sql_source: function,
                database: str_arg(d, "function", "database"),
                operation: str_arg(d, "function", "operation"),
                arguments,
                description: text(&f.description),
                deprecated: deprecation(d),
                requires_role: str_arg(d, "auth", "requires"),
                requires_scope: str_arg(d, "auth", "scope"),
                inject: inject(d),
            });
        }
    }

    fn subscriptions(&mut self, t: &ast::ObjectTypeDefinition) {
        for f in &t.fields {
            let d = &f.directives;
            let arguments = f.arguments.iter().map(|a| self.argument(a)).collect();
            self.out.subscriptions.push(SubscriptionInput {
                name: snake_case(&f.name),
                return_type: f.ty.to_string(),
                entity_type: str_arg(d, "topic", "entity"),
                topic: str_arg(d, "topic", "name"),
                operation: str_arg(d, "topic", "operation"),
                arguments,
                description: text(&f.description),
                requires_role: str_arg(d, "auth", "requires"),
                requires_scope: str_arg(d, "auth", "scope"),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::compile;

    #[test]
    fn sdl_and_json_compile_to_the_same_model() {
        let sdl = r#"
            "An order."
            type Order @source(view: "v_order") @key(fields: "id") {
              id: ID!
              totalAmount: Decimal!
              customer: Customer @relation(localKey: "customer_id")
            }
            type Customer { id: ID! name: String }
            type Query {
              orders(limit: Int = 20): [Order!]!
              order(id: ID!): Order
            }
        "#;
        let json: SchemaInput = serde_json::from_value(serde_json::json!({
            "types": [
                {"name": "Order", "description": "An order.", "sql_source": "v_order", "key_fields": ["id"],
                 "fields": [{"name": "id", "type": "ID!"}, {"name": "total_amount", "type": "Decimal!"},
                            {"name": "customer", "type": "Customer", "relation": {"local_key": "customer_id"}}]},
                {"name": "Customer", "fields": [{"name": "id", "type": "ID!"}, {"name": "name", "type": "String"}]}
            ],
            "queries": [
                {"name": "orders", "return_type": "[Order!]!", "arguments": [{"name": "limit", "type": "Int", "default": 20}]},
                {"name": "order", "return_type": "Order", "arguments": [{"name": "id", "type": "ID!"}]}
            ]
        }))
        .unwrap();
        let a = compile(&parse_sdl(sdl, "schema.graphql").unwrap()).unwrap();
        let b = compile(&json).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn unknown_and_unsupported_directives_are_refused_where_they_are() {
        let sdl = r#"
            type Order @source(view: "v_order") @shareable @cached {
              id: ID! @link(url: "x")
              total: Int
            }
            enum Status { OPEN @inaccessible }
            type Query { orders(limit: Int @bogus): [Order!]! @tag(name: "x") }
        "#;
        let errors = parse_sdl(sdl, "schema.graphql").unwrap_err().0;
        let seen: Vec<(String, String)> = errors
            .iter()
            .map(|e| {
                (
                    e.path.clone(),
                    e.message.split(' ').next().unwrap().to_owned(),
                )
            })
            .collect();
        let want = |p: &str, d: &str| (p.to_owned(), format!("`@{d}`"));
        // `@shareable` on a type is read; `@cached` and `@bogus` are no directives here;
        // `@link` goes on the schema; `@inaccessible` and `@tag` are read on object types
        // and their fields only.
        assert_eq!(
            seen,
            [
                ("Order".into(), "unknown".into()),
                want("Order.id", "link"),
                want("Status.OPEN", "inaccessible"),
                want("Query.orders", "tag"),
                ("Query.orders(limit:)".into(), "unknown".into()),
            ]
        );
        assert!(
            errors[0].message.contains("`@cached`"),
            "{}",
            errors[0].message
        );
        assert!(errors[1].message.contains("goes on the schema"));
        assert!(errors[2]
            .message
            .contains("object types and their fields only"));
    }

    #[test]
    fn federation_keys_compile_and_their_mistakes_are_reported() {
        let schema = |keys: &str| {
            format!(
                r#"type Product @source(view: "v_product") {keys} {{
                  id: ID! sku: String! variation: Variation!
                }}
                type Variation {{ id: ID! name: String }}
                type Query {{ products: [Product!]! }}"#
            )
        };
        let ok = compile(
            &parse_sdl(
                &schema(r#"@key(fields: "id") @key(fields: "sku variation { id }")"#),
                "s",
            )
            .unwrap(),
        )
        .unwrap();
        let product = &ok.types["Product"];
        assert_eq!(product.key_fields, ["id"]);
        assert_eq!(product.keys, ["id", "sku variation { id }"]);
        for (keys, why) in [
            (
                r#"@key(fields: "id") @key(fields: "nope")"#,
                "`nope` is no field",
            ),
            (
                r#"@key(fields: "id") @key(fields: "variation")"#,
                "select its fields",
            ),
            (r#"@key(fields: "sku variation { id ")"#, "without `}`"),
            (
                r#"@key(fields: "sku variation { nope }")"#,
                "no field of `Variation`",
            ),
        ] {
            let e = compile(&parse_sdl(&schema(keys), "s").unwrap()).unwrap_err();
            assert!(e.to_string().contains(why), "{keys}: {e}");
        }
    }

    #[test]
    fn provides_and_override_are_checked_where_they_are() {
        let schema = |field: &str| {
            format!(
                r#"type Review @source(view: "v_review") {{
                  id: ID! author: User @relation(localKey: "author_id") {field}
                }}
                type User @source(view: "v_user") @extends {{ id: ID! name: String @external }}
                type Query {{ reviews: [Review!]! }}"#
            )
        };
        let ok =
            compile(&parse_sdl(&schema(r#"@provides(fields: "name")"#), "s").unwrap()).unwrap();
        assert_eq!(
            ok.types["Review"].fields["author"]
                .federation
                .provides
                .as_deref(),
            Some("name")
        );
        assert!(ok.types["User"].federation.extends);
        assert!(ok.types["User"].fields["name"].federation.external);
        for (field, why) in [
            (
                r#"@provides(fields: "nope")"#,
                "`nope` is no field of `User`",
            ),
            (r#"@override(from: " ")"#, "names no subgraph"),
            ("@interfaceObject", "go on types"),
        ] {
            let e = compile(&parse_sdl(&schema(field), "s").unwrap()).unwrap_err();
            assert!(e.to_string().contains(why), "{field}: {e}");
        }
    }

    #[test]
    fn requires_and_computed_are_checked_where_they_are() {
        let schema = |field: &str| {
            format!(
                r#"extend type User @source(view: "v_user") @key(fields: "email") {{
                  email: ID! @external
                  total: Int @external
                  years: Int! @external
                  dims: Dims
                  {field}
                }}
                type Dims {{ size: Int }}
                type Query {{ users: [User!]! }}"#
            )
        };
        let ok = compile(
            &parse_sdl(
                &schema(
                    r#"average: Int @requires(fields: "total years")
                       @computed(sql: "ROUND(1.0 * {total} / NULLIF({years}, 0)) + {dims.size}")"#,
                ),
                "s",
            )
            .unwrap(),
        )
        .unwrap();
        let user = &ok.types["User"];
        // `extend type` reads as `@extends`.
        assert!(user.federation.extends);
        let average = &user.fields["average"];
        assert_eq!(average.federation.requires.as_deref(), Some("total years"));
        let parts = super::super::computed::computed_parts(&ok, user, average).unwrap();
        let required: Vec<(String, bool)> = parts
            .iter()
            .filter_map(|p| match p {
                super::super::ComputedPart::Field(f) => Some((f.data.join("."), f.required)),
                _ => None,
            })
            .collect();
        assert_eq!(
            required,
            [
                ("total".to_owned(), true),
                ("years".to_owned(), true),
                ("dims.size".to_owned(), false)
            ]
        );
        for (field, why) in [
            (
                r#"average: Int @requires(fields: "total")"#,
                "needs `@computed(sql:)`",
            ),
            (
                r#"average: Int @requires(fields: "nope") @computed(sql: "{total}")"#,
                "@requires: key field `nope`",
            ),
            (r#"average: Int @computed(sql: "{nope} + 1")"#, "`{nope}`"),
            (
                r#"average: Int @computed(sql: "{total}; DROP TABLE t")"#,
                "`;`",
            ),
            (r#"average: Int @computed(sql: "{total} -- x")"#, "comment"),
            (r#"average: Int @computed(sql: "{total} + ?")"#, "parameter"),
            (r#"average: Int @computed(sql: "$1")"#, "parameter"),
            (r#"average: Int @computed(sql: " ")"#, "empty"),
            (r#"average: [Int] @computed(sql: "{total}")"#, "not a list"),
            (
                r#"average: Dims @computed(sql: "{total}")"#,
                "not a list, an object",
            ),
            (
                r#"average: Int @computed(sql: "{total}") more: Int @computed(sql: "{average}")"#,
                "is itself computed",
            ),
        ] {
            let e = compile(&parse_sdl(&schema(field), "s").unwrap()).unwrap_err();
            assert!(e.to_string().contains(why), "{field}: {e}");
        }
        // A computed field is no key.
        let e = compile(
            &parse_sdl(
                &schema(r#"average: Int @computed(sql: "1")"#)
                    .replace(r#"@key(fields: "email")"#, r#"@key(fields: "average")"#),
                "s",
            )
            .unwrap(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not read from its"), "{e}");
    }

    #[test]
    fn custom_directives_links_and_composition_are_checked() {
        let schema = |head: &str, applied: &str| {
            format!(
                r#"{head}
                type Product @source(view: "v_product") {applied} {{ id: ID! }}
                type Query {{ products: [Product!]! }}"#
            )
        };
        let good = r#"extend schema
              @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@composeDirective"])
              @link(url: "https://myspecs.dev/custom/v1.0", import: ["@custom"])
              @composeDirective(name: "@custom")
            directive @custom on OBJECT"#;
        let ok = compile(&parse_sdl(&schema(good, "@custom"), "s").unwrap()).unwrap();
        assert_eq!(ok.types["Product"].federation.directives, ["@custom"]);
        assert_eq!(ok.federation.compose_directives, ["@custom"]);
        assert_eq!(
            ok.federation.links.len(),
            1,
            "the federation link is FraiseQL's own"
        );
        assert_eq!(
            ok.federation.directive_definitions,
            ["directive @custom on OBJECT"]
        );
        let not_composed = "directive @custom on OBJECT";
        let unlinked = "extend schema @composeDirective(name: \"@custom\")\n\
                        directive @custom on OBJECT";
        for (head, applied, why) in [
            ("", "@custom", "unknown directive `@custom`"),
            (good, "@other", "unknown directive `@other`"),
            (
                &good.replace("on OBJECT", "on FIELD_DEFINITION"),
                "@custom",
                "not defined for OBJECT",
            ),
            (unlinked, "@custom", "no `@link` imports it"),
            (&good.replace("v2.3", "v1.0"), "", "speak federation v2"),
            (
                &good.replace(
                    r#"import: ["@custom"]"#,
                    r#"import: [{name: "@custom", as: "@c"}]"#,
                ),
                "",
                "renaming",
            ),
            (
                &good.replace(
                    r#""https://myspecs.dev/custom/v1.0","#,
                    r#""https://x.dev/c/v1.0", as: "c","#,
                ),
                "",
                "`@link(as:)`",
            ),
            (
                "directive @key(fields: String) on OBJECT",
                "",
                "a directive of GraphQL, FraiseQL or federation",
            ),
            (not_composed, "@custom", ""),
        ] {
            let result = parse_sdl(&schema(head, applied), "s").and_then(|i| compile(&i));
            match result {
                Err(e) => assert!(
                    !why.is_empty() && e.to_string().contains(why),
                    "{head}: {e}"
                ),
                Ok(_) => assert!(why.is_empty(), "{head} {applied}: compiled"),
            }
        }
    }
}
