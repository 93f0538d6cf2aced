//! `prepare` as clients meet it: which documents pass, and the exact errors of those that do
//! not (limits on introspection, duplicate input fields, one error per mistake).

use fraiseql_engine::config::{QueryDefaults, ValidationConfig};
use fraiseql_engine::error::GraphQLError;
use fraiseql_engine::request::{prepare, ApiSchema};
use fraiseql_engine::schema::{compile, parse_sdl};
use serde_json::json;

const SCHEMA: &str = r#"
type Order @source(view: "v_order") {
  id: ID!
  identifier: String!
  total: Decimal!
  createdAt: DateTime!
}
type Query {
  order(id: ID!): Order
  orders: [Order!]!
}
"#;

fn api_with(limits: ValidationConfig) -> ApiSchema {
    let schema = compile(&parse_sdl(SCHEMA, "schema.graphql").unwrap()).unwrap();
    ApiSchema::new(schema, QueryDefaults::default(), limits, true).unwrap()
}

fn errors(query: &str) -> serde_json::Value {
    errors_with(ValidationConfig::default(), query)
}

fn errors_with(limits: ValidationConfig, query: &str) -> serde_json::Value {
    match prepare(&api_with(limits), query, None) {
        Ok(_) => json!("ok"),
        Err(e) => serde_json::to_value::<Vec<GraphQLError>>(e).unwrap(),
    }
}

fn one(message: &str, line: usize, column: usize, code: &str) -> serde_json::Value {
    json!([{
        "message": message,
        "locations": [{"line": line, "column": column}],
        "extensions": {"code": code}
    }])
}

/// graphql-js's `getIntrospectionQuery` with every option GraphiQL can turn on, and
/// `TypeRef` nested `of_type_depth` deep (graphql-js 16 sends 7 or 8, newer ones 9).
fn introspection_query(of_type_depth: usize) -> String {
    let mut type_ref = String::from("kind name");
    for _ in 0..of_type_depth {
        type_ref = format!("kind name ofType {{ {type_ref} }}");
    }
    format!(
        r#"
query IntrospectionQuery {{
  __schema {{
    description
    queryType {{ name }}
    mutationType {{ name }}
    subscriptionType {{ name }}
    types {{ ...FullType }}
    directives {{
      name
      description
      isRepeatable
      locations
      args(includeDeprecated: true) {{ ...InputValue }}
    }}
  }}
}}
fragment FullType on __Type {{
  kind
  name
  description
  specifiedByURL
  fields(includeDeprecated: true) {{
    name
    description
    args(includeDeprecated: true) {{ ...InputValue }}
    type {{ ...TypeRef }}
    isDeprecated
    deprecationReason
  }}
  inputFields(includeDeprecated: true) {{ ...InputValue }}
  interfaces {{ ...TypeRef }}
  enumValues(includeDeprecated: true) {{ name description isDeprecated deprecationReason }}
  possibleTypes {{ ...TypeRef }}
}}
fragment InputValue on __InputValue {{
  name
  description
  type {{ ...TypeRef }}
  defaultValue
  isDeprecated
  deprecationReason
}}
fragment TypeRef on __Type {{ {type_ref} }}
"#
    )
}

#[test]
fn the_standard_introspection_query_passes_the_default_limits() {
    for depth in [7, 8, 9] {
        assert_eq!(
            errors(&introspection_query(depth)),
            json!("ok"),
            "ofType x{depth}"
        );
    }
}

#[test]
fn aliased_introspection_counts_against_max_aliases() {
    let query: String = (0..2_000)
        .map(|i| format!("a{i}: __schema {{ queryType {{ name }} }} "))
        .collect();
    assert_eq!(
        errors(&format!("{{ {query} }}")),
        json!([{
            "message": "query uses 2000 aliases; the maximum is 30",
            "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}
        }])
    );
}

#[test]
fn typename_counts_as_a_field_and_as_an_alias() {
    let aliased: String = (0..31).map(|i| format!("t{i}: __typename ")).collect();
    assert_eq!(
        errors(&format!("{{ {aliased} }}")),
        json!([{
            "message": "query uses 31 aliases; the maximum is 30",
            "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}
        }])
    );
    let repeated = "__typename ".repeat(501);
    assert_eq!(
        errors(&format!("{{ {repeated} }}")),
        json!([{
            "message": "query selects more than 500 fields",
            "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}
        }])
    );
    assert_eq!(
        errors(&format!("{{ {} }}", "__typename ".repeat(500))),
        json!("ok")
    );
}

#[test]
fn introspection_fields_count_against_max_fields_and_depth() {
    let fields = "name ".repeat(500);
    assert_eq!(
        errors(&format!("{{ __schema {{ types {{ {fields} }} }} }}")),
        json!([{
            "message": "query selects more than 500 fields",
            "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}
        }])
    );
    let shallow = ValidationConfig {
        max_query_depth: 2,
        ..ValidationConfig::default()
    };
    assert_eq!(
        errors_with(shallow, "{ __schema { types { fields { name } } } }"),
        json!([{
            "message": "query depth 3 exceeds the maximum of 2",
            "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}
        }])
    );
}

#[test]
fn of_type_nesting_is_bounded_by_the_field_count() {
    // `ofType` does not deepen a query, so its only bound is max_fields.
    let mut type_ref = String::from("name");
    for _ in 0..200 {
        type_ref = format!("name ofType {{ {type_ref} }}");
    }
    let query = format!("{{ __type(name: \"Order\") {{ {type_ref} }} }}");
    assert_eq!(
        errors(&query)[0]["extensions"]["code"],
        json!("GRAPHQL_VALIDATION_FAILED")
    );
}

#[test]
fn a_duplicate_input_field_is_a_validation_error() {
    assert_eq!(
        errors(r#"{ orders(where: {total: {gt: "1", gt: "1000"}}) { id } }"#),
        json!([{
            "message": "There can be only one input field named \"gt\".",
            "locations": [{"line": 1, "column": 26}, {"line": 1, "column": 35}],
            "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}
        }])
    );
    // In a fragment, and in a variable's default value.
    let in_fragment = r#"{ ...Q } fragment Q on Query { orders(where: {_or: [{total: {gt: "1"}}, {total: {gt: "1"}, total: {lt: "2"}}]}) { id } }"#;
    assert_eq!(
        errors(in_fragment)[0]["message"],
        json!("There can be only one input field named \"total\".")
    );
    let in_default =
        r#"query ($w: OrderWhereInput = {id: {eq: "1", eq: "2"}}) { orders(where: $w) { id } }"#;
    assert_eq!(
        errors(in_default)[0]["message"],
        json!("There can be only one input field named \"eq\".")
    );
    // The friendly forms pass.
    assert_eq!(
        errors(r#"{ orders(where: {total: {gt: "1", lt: "1000"}}) { id } }"#),
        json!("ok")
    );
}

#[test]
fn one_parse_error_is_reported_once() {
    let parse = "GRAPHQL_PARSE_FAILED";
    assert_eq!(
        errors("{ orders { id "),
        one("syntax error: expected R_CURLY, got EOF", 1, 15, parse)
    );
    assert_eq!(
        errors("{ orders { "),
        one(
            "syntax error: expected at least one Selection in Selection Set",
            1,
            12,
            parse
        )
    );
}

#[test]
fn a_misspelt_field_reports_only_that_field() {
    let invalid = "GRAPHQL_VALIDATION_FAILED";
    let undefined = "type `Order` does not have a field `idd`";
    assert_eq!(errors("{ orders { idd } }"), one(undefined, 1, 12, invalid));
    assert_eq!(
        errors("{ order(id: 1) { idd { x } } }"),
        one(undefined, 1, 18, invalid)
    );
    assert_eq!(
        errors("{ orders { ...F } } fragment F on Order { idd }"),
        one(undefined, 1, 43, invalid)
    );
    assert_eq!(
        errors("{ orders { ...F } } fragment F on Nope { id }"),
        one(
            "type condition `Nope` of fragment `F` is not a type defined in the schema",
            1,
            35,
            invalid
        )
    );
    assert_eq!(
        errors("query ($x: Nope) { order(id: $x) { id } }"),
        one("cannot find type `Nope` in this document", 1, 8, invalid)
    );
    // A selection that is really missing is still reported, and two mistakes are two errors.
    assert_eq!(
        errors("{ orders }"),
        one(
            "interface, union and object types must have a subselection set",
            1,
            3,
            invalid
        )
    );
    assert_eq!(
        errors("{ a: order(id: 1) { idd } b: order(id: 2) { idd } }")
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

#[test]
fn a_flood_of_mistakes_gets_a_bounded_answer() {
    let fields = "nope ".repeat(20_000);
    let errors = errors(&format!("{{ orders {{ {fields} }} }}"));
    let list = errors.as_array().expect("errors");
    assert_eq!(list.len(), 101);
    assert_eq!(
        list[100]["message"],
        "too many validation errors; only the first 100 are listed"
    );
}

#[test]
fn a_flood_of_duplicate_input_fields_gets_a_bounded_answer() {
    let fields = "eq: \"1\", ".repeat(5_000);
    let errors = errors(&format!(
        "{{ orders(where: {{id: {{{fields}}}}}) {{ id }} }}"
    ));
    assert_eq!(errors.as_array().map(Vec::len), Some(101));
}
