//! Tests of `input.rs`: the planner's reading of input per scalar. The spec suite
//! (`tests/spec/filters.md`) shows the same rules end to end on both databases for the
//! quickstart's types.

use crate::config::{QueryDefaults, ValidationConfig};
use crate::error::ErrorCode;
use crate::plan::{plan, Filter, Plan, RootAction};
use crate::request::{prepare, ApiSchema};
use crate::schema::{compile, parse_sdl};
use serde_json::{json, Value as Json};

const SDL: &str = r#"
type T @source(view: "v_t") @key(fields: "id") {
  id: UUID!
  code: ID
  n: Int
  f: Float
  d: Decimal
  day: Date
  at: DateTime
  j: JSON
  s: String
}
type Query {
      ts: [T!]!
      t(id: UUID!): T
      byCode(code: [ID!]): [T!]!
      page: [T!]! @relay @source(view: "v_t")
    }
type Mutation { setS(id: UUID!, s: String, day: Date): T @function(name: "fn_set_s") }
"#;

fn api() -> ApiSchema {
    let schema = compile(&parse_sdl(SDL, "schema.graphql").unwrap()).unwrap();
    ApiSchema::new(
        schema,
        QueryDefaults::default(),
        ValidationConfig::default(),
        true,
    )
    .unwrap()
}

fn run(query: &str, vars: Json) -> Result<Plan, (ErrorCode, String)> {
    let api = api();
    let prepared = prepare(&api, query, None).unwrap_or_else(|e| panic!("{e:?}"));
    let vars = vars.as_object().cloned().unwrap_or_default();
    plan(&api, &prepared, &vars, &crate::authorize::Caller::ANONYMOUS)
        .map_err(|e| (e[0].extensions.code, e[0].message.clone()))
}

/// The filter of the first root, when planning succeeds.
fn filter(query: &str, vars: Json) -> Result<Option<Filter>, String> {
    match run(query, vars) {
        Ok(p) => match &p.roots[0].action {
            RootAction::Fetch(f) => Ok(f.filter.clone()),
            other => panic!("not a fetch: {other:?}"),
        },
        Err((code, message)) => {
            assert_eq!(code, ErrorCode::BadUserInput, "{message}");
            Err(message)
        }
    }
}

fn value(f: Option<Filter>) -> Json {
    match f {
        Some(Filter::Compare { value, .. }) => value,
        other => panic!("not one comparison: {other:?}"),
    }
}

fn refused(query: &str, path: &str) {
    let message = filter(query, json!({})).expect_err(query);
    assert!(message.contains(&format!("`{path}`")), "{message}");
}

#[test]
fn uuids_are_canonical_and_lowercased() {
    let f = filter(
        r#"{ ts(where: {id: {eq: "A0000000-0000-4000-8000-00000000000F"}}) { s } }"#,
        json!({}),
    );
    assert_eq!(
        value(f.unwrap()),
        json!("a0000000-0000-4000-8000-00000000000f")
    );
    refused(
        r#"{ ts(where: {id: {eq: "a000000-00000-4000-8000-000000000004"}}) { s } }"#,
        "where.id.eq",
    );
    refused(
        r#"{ ts(where: {id: {in: ["a0000000-0000-4000-8000-000000000004", "x"]}}) { s } }"#,
        "where.id.in.1",
    );
    let e = run(r#"{ t(id: "nope") { s } }"#, json!({})).unwrap_err();
    assert!(e.1.contains("`id` expects a UUID"), "{}", e.1);
}

#[test]
fn ids_take_strings_and_integers() {
    let f = filter(r#"{ ts(where: {code: {eq: 42}}) { s } }"#, json!({}));
    assert_eq!(value(f.unwrap()), json!("42"));
    let f = filter(r#"{ ts(where: {code: {eq: "x"}}) { s } }"#, json!({}));
    assert_eq!(value(f.unwrap()), json!("x"));
    refused(
        r#"{ ts(where: {code: {eq: "a\u0000"}}) { s } }"#,
        "where.code.eq",
    );
}

#[test]
fn dates_and_datetimes_are_read_strictly() {
    let ok = filter(
        r#"{ ts(where: {day: {gt: "2024-02-29"}, at: {lt: "2024-02-29T10:00:00+01:00"}}) { s } }"#,
        json!({}),
    );
    assert!(ok.is_ok(), "{ok:?}");
    refused(
        r#"{ ts(where: {day: {gt: "2023-02-29"}}) { s } }"#,
        "where.day.gt",
    );
    refused(
        r#"{ ts(where: {day: {gt: "today"}}) { s } }"#,
        "where.day.gt",
    );
    refused(
        r#"{ ts(where: {at: {gt: "yesterday"}}) { s } }"#,
        "where.at.gt",
    );
    refused(
        r#"{ ts(where: {at: {gt: "2024-01-01T00:00:00"}}) { s } }"#,
        "where.at.gt",
    );
    // A variable is read the same way as a literal.
    let e = filter(
        r#"query ($a: DateTime) { ts(where: {at: {gt: $a}}) { s } }"#,
        json!({"a": "2024-01-01T00:00:00Z\nforged log line"}),
    )
    .unwrap_err();
    assert!(e.contains("`where.at.gt`") && e.contains("\\n"), "{e}");
}

#[test]
fn numbers_are_finite_and_in_range() {
    refused(r#"{ ts(where: {d: {gt: 1e400}}) { s } }"#, "where.d.gt");
    refused(r#"{ ts(where: {d: {gt: "1e400"}}) { s } }"#, "where.d.gt");
    refused(
        r#"{ ts(where: {d: {gt: "Infinity"}}) { s } }"#,
        "where.d.gt",
    );
    refused(
        r#"{ ts(where: {d: {in: [1, 1e999]}}) { s } }"#,
        "where.d.in.1",
    );
    refused(
        r#"{ ts(where: {_or: [{d: {gt: -1e400}}]}) { s } }"#,
        "where._or.0.d.gt",
    );
    // Beyond 64 bits, an integer literal stays exact for a Decimal.
    let f = filter(
        r#"{ ts(where: {d: {gt: 123456789012345678901234567890}}) { s } }"#,
        json!({}),
    );
    assert_eq!(value(f.unwrap()), json!("123456789012345678901234567890"));
    // Int and Float literals are checked by GraphQL validation; variables by coercion.
    let f = filter(
        r#"query ($n: Int) { ts(where: {n: {gt: $n}}) { s } }"#,
        json!({"n": 2147483647}),
    );
    assert_eq!(value(f.unwrap()), json!(2147483647));
    assert!(run(
        r#"query ($n: Int) { ts(where: {n: {gt: $n}}) { s } }"#,
        json!({"n": 2147483648u64})
    )
    .is_err());
}

#[test]
fn nulls_inside_where_are_refused() {
    refused(r#"{ ts(where: {s: {eq: null}}) { s } }"#, "where.s.eq");
    refused(r#"{ ts(where: {s: null}) { s } }"#, "where.s");
    refused(r#"{ ts(where: {_not: null}) { s } }"#, "where._not");
    refused(r#"{ ts(where: {_or: null}) { s } }"#, "where._or");
    refused(
        r#"{ ts(where: {s: {isNull: null}}) { s } }"#,
        "where.s.isNull",
    );
    assert_eq!(filter(r#"{ ts(where: null) { s } }"#, json!({})), Ok(None));
    // An unset variable is an absent field, not a null.
    assert_eq!(
        filter(
            r#"query ($v: String) { ts(where: {s: {eq: $v}}) { s } }"#,
            json!({})
        ),
        Ok(None)
    );
}

#[test]
fn single_values_are_lists_of_one() {
    let f = filter(r#"{ ts(where: {s: {in: "x"}}) { s } }"#, json!({}));
    assert_eq!(value(f.unwrap()), json!(["x"]));
    let one = filter(r#"{ ts(where: {_or: {s: {eq: "x"}}}) { s } }"#, json!({}));
    let list = filter(r#"{ ts(where: {_or: [{s: {eq: "x"}}]}) { s } }"#, json!({}));
    assert_eq!(one, list);
    assert!(matches!(one, Ok(Some(Filter::Or(ref p))) if p.len() == 1));
}

#[test]
fn empty_combinators_keep_their_meaning() {
    let or = filter(r#"{ ts(where: {_or: []}) { s } }"#, json!({}));
    assert_eq!(or, Ok(Some(Filter::Or(Vec::new()))));
    let not = filter(r#"{ ts(where: {_not: {}}) { s } }"#, json!({}));
    assert_eq!(not, Ok(Some(Filter::Or(Vec::new()))));
    assert_eq!(
        filter(r#"{ ts(where: {_and: []}) { s } }"#, json!({})),
        Ok(None)
    );
    let any = filter(
        r#"{ ts(where: {_or: [{}, {s: {eq: "x"}}]}) { s } }"#,
        json!({}),
    );
    assert_eq!(any, Ok(None));
}

#[test]
fn patterns_are_bounded_and_free_of_nul() {
    refused(r#"{ ts(where: {s: {like: "a\\"}}) { s } }"#, "where.s.like");
    refused(
        r#"{ ts(where: {s: {contains: "\u0000"}}) { s } }"#,
        "where.s.contains",
    );
    let at_bound = "x".repeat(crate::plan::scalar::MAX_PATTERN_BYTES);
    let over = "x".repeat(crate::plan::scalar::MAX_PATTERN_BYTES + 1);
    for op in [
        "like",
        "ilike",
        "contains",
        "icontains",
        "startsWith",
        "endsWith",
    ] {
        let q = format!(r#"query ($p: String) {{ ts(where: {{s: {{{op}: $p}}}}) {{ s }} }}"#);
        assert!(filter(&q, json!({ "p": at_bound })).is_ok(), "{op}");
        let e = filter(&q, json!({ "p": over })).unwrap_err();
        assert!(e.contains(&format!("`where.s.{op}` is longer than")), "{e}");
    }
}

#[test]
fn json_values_refuse_nul() {
    refused(
        r#"{ ts(where: {j: {eq: {a: "\u0000"}}}) { s } }"#,
        "where.j.eq",
    );
    assert!(filter(
        r#"{ ts(where: {j: {eq: {a: [1, "b"]}}}) { s } }"#,
        json!({})
    )
    .is_ok());
}

#[test]
fn forged_cursors_are_refused() {
    let hex = |v: Json| hex::encode(v.to_string());
    let q = |c: &str| format!(r#"{{ page(first: 1, after: "{c}") {{ totalCount }} }}"#);
    let ok = hex(json!(["a0000000-0000-4000-8000-000000000004"]));
    assert!(run(&q(&ok), json!({})).is_ok());
    for bad in [json!(["not-a-uuid"]), json!(["a\u{0}"]), json!([{"x": 1}])] {
        let e = run(&q(&hex(bad)), json!({})).unwrap_err();
        assert_eq!(e, (ErrorCode::BadUserInput, "invalid after cursor".into()));
    }
    let by_day = |c: &str| {
        format!(r#"{{ page(first: 1, after: "{c}", orderBy: [{{at: ASC}}]) {{ totalCount }} }}"#)
    };
    let id = "a0000000-0000-4000-8000-000000000004";
    assert!(run(&by_day(&hex(json!(["2024-01-01T00:00:00", id]))), json!({})).is_ok());
    assert!(run(&by_day(&hex(json!([null, id]))), json!({})).is_ok());
    assert!(run(&by_day(&hex(json!(["nope", id]))), json!({})).is_err());
}

#[test]
fn mutation_arguments_are_read_the_same_way() {
    let m = |args: &str| run(&format!("mutation {{ setS({args}) {{ s }} }}"), json!({}));
    assert!(m(r#"id: "a0000000-0000-4000-8000-000000000004", s: "x""#).is_ok());
    let e = m(r#"id: "a0000000-0000-4000-8000-000000000004", s: "x\u0000""#).unwrap_err();
    assert!(e.1.contains("`s` expects a string without NUL"), "{}", e.1);
    let e = m(r#"id: "a0000000-0000-4000-8000-000000000004", day: "2023-02-29""#).unwrap_err();
    assert!(e.1.contains("`day` expects a Date"), "{}", e.1);
    let e = m(r#"id: "nope""#).unwrap_err();
    assert!(e.1.contains("`id` expects a UUID"), "{}", e.1);
    // A null for a nullable argument sets null; it is not a filter.
    assert!(m(r#"id: "a0000000-0000-4000-8000-000000000004", s: null"#).is_ok());
}

#[test]
fn declared_list_arguments_filter_with_in() {
    let f = filter(r#"{ byCode(code: ["a", 2]) { s } }"#, json!({}));
    assert_eq!(value(f.unwrap()), json!(["a", "2"]));
    let f = filter(r#"{ byCode(code: "a") { s } }"#, json!({}));
    assert_eq!(value(f.unwrap()), json!(["a"]));
    let e = filter(r#"{ byCode(code: ["a", "b\u0000"]) { s } }"#, json!({})).unwrap_err();
    assert!(e.contains("`code.1` expects an ID"), "{e}");
}
