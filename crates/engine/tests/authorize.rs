//! `authorize`: `@auth(requires:, scope:)` on root fields, types and fields, refused in every
//! position a client can reach them (aliases, fragments, inline fragments, nested objects,
//! relations, a mutation's read-back), UNAUTHENTICATED without a token and FORBIDDEN with
//! one; and the same from schema.json's `requires_role`/`requires_scope`.

use fraiseql_engine::authorize::{authorize, Caller};
use fraiseql_engine::config::{QueryDefaults, ValidationConfig};
use fraiseql_engine::request::{prepare, ApiSchema};
use fraiseql_engine::schema::{compile, parse_sdl, SchemaInput};
use serde_json::{json, Value};

const SCHEMA: &str = r#"
type Customer @source(view: "v_customer") @auth(requires: "staff") {
  id: ID!
  name: String!
}
type Order @source(view: "v_order") {
  id: ID!
  identifier: String!
  margin: Float @auth(requires: "finance")
  note: String @auth(scope: "read:notes")
  customerId: ID!
  customer: Customer @relation(localKey: "customer_id", remoteKey: "id")
}
type Query {
  orders: [Order!]!
  order(id: ID!): Order
  audit: [Order!]! @source(view: "v_order") @auth(requires: "admin")
}
type Mutation {
  refund(id: ID!): Order @function(name: "fn_refund") @auth(requires: "finance", scope: "write:refunds")
  touch(id: ID!): Order @function(name: "fn_touch")
}
"#;

fn api() -> ApiSchema {
    let schema = compile(&parse_sdl(SCHEMA, "schema.graphql").unwrap()).unwrap();
    ApiSchema::new(
        schema,
        QueryDefaults::default(),
        ValidationConfig::default(),
        true,
    )
    .unwrap()
}

fn check(query: &str, caller: Caller<'_>) -> Value {
    let api = api();
    let prepared = prepare(&api, query, None).unwrap_or_else(|e| panic!("{e:?}"));
    match authorize(&api, &prepared, &caller) {
        Ok(()) => json!("ok"),
        Err(errors) => serde_json::to_value(errors).unwrap(),
    }
}

fn user<'a>(roles: &'a [String], scopes: &'a [String]) -> Caller<'a> {
    Caller {
        authenticated: true,
        roles,
        scopes,
        claims: None,
    }
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn open_fields_pass_for_anyone() {
    assert_eq!(
        check("{ orders { id identifier } }", Caller::ANONYMOUS),
        "ok"
    );
    assert_eq!(check("{ __typename }", Caller::ANONYMOUS), "ok");
}

#[test]
fn a_protected_field_is_refused_in_every_position() {
    let nobody = names(&[]);
    let alice = user(&nobody, &nobody);
    for query in [
        "{ orders { margin } }",
        "{ orders { m: margin } }",
        "{ orders { ...F } } fragment F on Order { margin }",
        "{ orders { ... on Order { margin } } }",
        "{ order(id: 1) { id ...F } } fragment F on Order { ... { margin } }",
        "mutation { touch(id: 1) { margin } }",
    ] {
        let errors = check(query, alice);
        assert_eq!(
            errors[0]["extensions"]["code"], "FORBIDDEN",
            "{query}: {errors}"
        );
        assert_eq!(
            errors[0]["message"], "`Order.margin` needs the role `finance`",
            "{query}"
        );
    }
    // With the role, every one of them passes.
    let finance = names(&["finance"]);
    assert_eq!(
        check("{ orders { m: margin } }", user(&finance, &nobody)),
        "ok"
    );
}

#[test]
fn a_protected_type_is_refused_wherever_it_is_reached() {
    let nobody = names(&[]);
    let errors = check("{ orders { customer { name } } }", user(&nobody, &nobody));
    assert_eq!(
        errors[0]["message"],
        "type `Customer` needs the role `staff`"
    );
    assert_eq!(errors[0]["path"], json!(["orders", "customer"]));
    // Even selecting only `__typename` of it.
    let errors = check(
        "{ orders { customer { __typename } } }",
        user(&nobody, &nobody),
    );
    assert_eq!(errors[0]["extensions"]["code"], "FORBIDDEN");
    let staff = names(&["staff"]);
    assert_eq!(
        check("{ orders { customer { name } } }", user(&staff, &nobody)),
        "ok"
    );
}

#[test]
fn root_fields_scopes_and_anonymous_callers() {
    let nobody = names(&[]);
    let errors = check("{ audit { id } }", Caller::ANONYMOUS);
    assert_eq!(
        errors[0]["extensions"]["code"], "UNAUTHENTICATED",
        "{errors}"
    );
    assert_eq!(
        errors[0]["message"],
        "`Query.audit` needs an authenticated caller"
    );
    let admin = names(&["admin"]);
    assert_eq!(check("{ audit { id } }", user(&admin, &nobody)), "ok");
    // Role and scope together: both are needed.
    let finance = names(&["finance"]);
    let write = names(&["write:refunds"]);
    let refund = "mutation { refund(id: 1) { id } }";
    assert_eq!(
        check(refund, user(&finance, &nobody))[0]["message"],
        "`Mutation.refund` needs the role `finance` and the scope `write:refunds`"
    );
    assert_eq!(check(refund, user(&finance, &write)), "ok");
    // A field's scope.
    let read = names(&["read:notes"]);
    assert_eq!(
        check("{ orders { note } }", user(&nobody, &nobody))[0]["message"],
        "`Order.note` needs the scope `read:notes`"
    );
    assert_eq!(check("{ orders { note } }", user(&nobody, &read)), "ok");
    // Every refused selection is reported, each once.
    let errors = check(
        "{ a: orders { margin note } b: orders { margin } audit { id } }",
        user(&nobody, &nobody),
    );
    assert_eq!(errors.as_array().unwrap().len(), 3, "{errors}");
}

#[test]
fn schema_json_spells_it_requires_role_and_requires_scope() {
    let input: SchemaInput = serde_json::from_value(json!({
        "types": [{"name": "Order", "requires_role": "staff", "fields": [
            {"name": "id", "type": "ID!"},
            {"name": "salary", "type": "Float", "requires_scope": "read:salary"}
        ]}],
        "queries": [{"name": "orders", "return_type": "[Order!]!", "requires_role": "staff"}]
    }))
    .unwrap();
    let schema = compile(&input).unwrap();
    assert_eq!(schema.types["Order"].access.role.as_deref(), Some("staff"));
    assert_eq!(
        schema.types["Order"].fields["salary"]
            .access
            .scope
            .as_deref(),
        Some("read:salary")
    );
    assert_eq!(
        schema.queries["orders"].access.role.as_deref(),
        Some("staff")
    );
    let bad: SchemaInput = serde_json::from_value(json!({
        "types": [{"name": "Order", "requires_role": "two words", "fields": [{"name": "id", "type": "ID!"}]}],
        "queries": [{"name": "orders", "return_type": "[Order!]!", "requires_scope": ""}]
    }))
    .unwrap();
    let errors = compile(&bad).unwrap_err().to_string();
    assert!(
        errors.contains("types.Order.requires_role: `two words` is not a role"),
        "{errors}"
    );
    assert!(
        errors.contains("queries.orders.requires_scope: `` is not a scope"),
        "{errors}"
    );
}
