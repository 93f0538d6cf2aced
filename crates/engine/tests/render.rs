//! Snapshot tests of the SQL each dialect renders for representative operations. The spec
//! suite (crates/cli/tests/spec.rs) proves the SQL right against real databases; these pin
//! its text so changes are reviewed.

use fraiseql_engine::config::{DatabaseKind, QueryDefaults, ValidationConfig};
use fraiseql_engine::plan::plan;
use fraiseql_engine::request::{prepare, ApiSchema};
use fraiseql_engine::schema::{compile, parse_sdl};
use fraiseql_engine::sql::{render_reads, render_steps, Remotes, StepKeys};

const SCHEMA: &str = r#"
type Order @source(view: "v_order") {
  id: ID!
  identifier: String!
  status: OrderStatus!
  total: Decimal!
  paid: Boolean!
  createdAt: DateTime!
  note: String
  customer: CustomerSummary!
  items: [OrderItem!]!
  buyer: Customer @relation(localKey: "customer_id")
  payments: [Payment!]! @relation(localKey: "id", remoteKey: "order_id")
}
type Payment @source(view: "v_payment", database: "payments") {
  id: ID!
  amount: Decimal!
  refund: Refund @relation(localKey: "id", remoteKey: "payment_id")
  order: Order @relation(localKey: "order_id")
}
type Refund @source(view: "v_refund", database: "refunds") { id: ID! reason: String }
type Customer @source(view: "v_customer") {
  id: ID!
  name: String!
  orders: [Order!]! @relation(localKey: "id", remoteKey: "customer_id")
}
type CustomerSummary { id: ID! name: String! }
type OrderItem { sku: String! quantity: Int! }
enum OrderStatus { PENDING @value(stored: "pending") SHIPPED @value(stored: "shipped") }
type Query {
  order(id: ID!): Order
  orders: [Order!]!
  ordersPage: [Order!]! @relay
  customers: [Customer!]!
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

fn sql(kind: DatabaseKind, query: &str, vars: serde_json::Value) -> String {
    let api = api();
    let prepared = prepare(&api, query, None).unwrap_or_else(|e| panic!("{e:?}"));
    let vars = vars.as_object().cloned().unwrap_or_default();
    let plan = plan(
        &api,
        &prepared,
        &vars,
        &fraiseql_engine::authorize::Caller::ANONYMOUS,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let remotes = Remotes {
        steps: &plan.steps,
        marker: "marker",
    };
    let stmts = render_reads(&plan, &|_| Some((kind, None)), remotes).unwrap();
    let mut out: Vec<String> = stmts
        .iter()
        .map(|s| format!("{}\n-- params: {:?}", s.sql.text, s.sql.params))
        .collect();
    let mut checked: Vec<_> = stmts.into_iter().map(|s| s.sql).collect();
    // Each dependent step as read for two keys.
    for (i, step) in plan.steps.iter().enumerate() {
        let keys = ["k1", "k2"];
        let part = StepKeys {
            step: i,
            keys: &keys,
        };
        let q = render_steps(&[part], kind, None, remotes).unwrap();
        out.push(format!(
            "-- step {i} on '{}' after {:?} at {:?}\n{}\n-- params: {:?}",
            step.database, step.after, step.path, q.text, q.params
        ));
        checked.push(q);
    }
    for q in &checked {
        assert_positional(kind, &q.text, q.params.len());
    }
    out.join("\n")
}

/// The placeholder numbers in `text`, in text order (`$n` on PostgreSQL, `?n` on SQLite).
fn placeholders(kind: DatabaseKind, text: &str) -> Vec<usize> {
    let mark = match kind {
        DatabaseKind::Postgresql => '$',
        _ => '?',
    };
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != mark {
            continue;
        }
        let mut n = String::new();
        while let Some((_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
            n.push(*d);
            chars.next();
        }
        if let Ok(n) = n.parse() {
            out.push(n);
        }
    }
    out
}

/// Every parameter is written exactly once, in bind order, so a dialect with positional
/// placeholders (MySQL's `?`) can bind the same list.
fn assert_positional(kind: DatabaseKind, text: &str, params: usize) {
    if kind == DatabaseKind::Mysql {
        // Finished: plain `?`, one value per mark, in text order.
        assert_eq!(text.matches('?').count(), params, "placeholders in {text}");
        return;
    }
    let seen = placeholders(kind, text);
    let want: Vec<usize> = (1..=params).collect();
    assert_eq!(seen, want, "placeholders out of order or reused in {text}");
}

fn each_dialect(name: &str, query: &str, vars: serde_json::Value) {
    insta::assert_snapshot!(
        format!("{name}_postgres"),
        sql(DatabaseKind::Postgresql, query, vars.clone())
    );
    insta::assert_snapshot!(
        format!("{name}_sqlite"),
        sql(DatabaseKind::Sqlite, query, vars.clone())
    );
    insta::assert_snapshot!(
        format!("{name}_mysql"),
        sql(DatabaseKind::Mysql, query, vars)
    );
}

#[test]
fn relations_into_other_databases_are_steps() {
    each_dialect(
        "cross_database",
        "{ orders { id payments(limit: 5) { amount refund { reason } order { id } } buyer { name } } }",
        serde_json::json!({}),
    );
}

#[test]
fn single_by_id() {
    each_dialect(
        "single_by_id",
        r#"{ order(id: "o1") { id total customer { name } __typename } }"#,
        serde_json::json!({}),
    );
}

#[test]
fn list_with_filter_order_and_page() {
    each_dialect(
        "list_filter_order",
        r#"query($w: OrderWhereInput) { orders(where: $w, orderBy: [{total: DESC}, {note: ASC_NULLS_FIRST}], limit: 5, offset: 10) { id status items { sku } buyer { name } } }"#,
        serde_json::json!({"w": {"total": {"gt": "10"}, "_or": [{"status": {"in": ["SHIPPED"]}}, {"identifier": {"contains": "50%"}}], "paid": {"eq": true}, "customer": {"name": {"startsWith": "A"}}}}),
    );
}

#[test]
fn relay_connection() {
    each_dialect(
        "relay",
        r#"{ ordersPage(first: 2, orderBy: {createdAt: DESC}) { totalCount edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"#,
        serde_json::json!({}),
    );
}

#[test]
fn roots_on_one_database_share_a_statement() {
    let s = sql(
        DatabaseKind::Postgresql,
        r#"{ a: order(id: "1") { id } b: orders(limit: 1) { id } }"#,
        serde_json::json!({}),
    );
    assert_eq!(s.matches("\n-- params").count(), 1, "{s}");
}

#[test]
fn related_list_in_key_order() {
    each_dialect(
        "related_list",
        "{ customers { name orders { id total } } }",
        serde_json::json!({}),
    );
}

/// Issue 9: a relation list takes `where`, `orderBy`, `limit` and `offset`, rendered inside
/// its correlated subquery, every value a bind parameter; the key breaks `orderBy` ties.
#[test]
fn related_list_with_arguments() {
    each_dialect(
        "related_list_arguments",
        r#"query($w: OrderWhereInput, $n: Int) { customers(limit: 2) { name orders(where: $w, orderBy: [{total: DESC}], limit: $n, offset: 3) { id total } } }"#,
        serde_json::json!({"w": {"status": {"eq": "SHIPPED"}, "note": {"contains": "x'; DROP TABLE t; --"}}, "n": 7}),
    );
}

/// Issue 9: a relation list without `limit` is capped at `max_page_size`, bound as a
/// parameter; without `orderBy` it (like a root list) sorts by the key.
#[test]
fn related_list_without_limit_is_capped() {
    for kind in [
        DatabaseKind::Postgresql,
        DatabaseKind::Mysql,
        DatabaseKind::Sqlite,
    ] {
        let s = sql(
            kind,
            "{ customers { orders { id } } }",
            serde_json::json!({}),
        );
        assert!(s.contains("Int(1000)"), "{s}");
        assert!(
            !s.contains("LIMIT ALL") && !s.contains("LIMIT -1") && !s.contains("LIMIT 1844"),
            "{s}"
        );
        // MySQL restates the order inside its aggregates.
        assert!(s.matches(" ORDER BY ").count() >= 2, "{s}");
    }
}

/// No literal from the request reaches the SQL text: hostile values of every relation list
/// argument are bound.
#[test]
fn related_list_values_are_bound() {
    for kind in [
        DatabaseKind::Postgresql,
        DatabaseKind::Mysql,
        DatabaseKind::Sqlite,
    ] {
        let s = sql(
            kind,
            r#"{ customers { orders(where: {identifier: {eq: "ORD-'1; DROP TABLE x"}}, limit: 999, offset: 777) { id } } }"#,
            serde_json::json!({}),
        );
        let text = s.split("\n-- params").next().unwrap_or_default();
        for literal in ["ORD-", "999", "777"] {
            assert!(!text.contains(literal), "{literal} in {text}");
        }
    }
}

/// The errors planning `query` reports, as `(message, path, code)`.
fn plan_errors(query: &str) -> Vec<(String, String, String)> {
    let api = api();
    let prepared = match prepare(&api, query, None) {
        Ok(p) => p,
        Err(errors) => {
            return errors
                .iter()
                .map(|e| {
                    let v = serde_json::to_value(e).unwrap();
                    (
                        e.message.clone(),
                        v["path"].to_string(),
                        v["extensions"]["code"].to_string(),
                    )
                })
                .collect()
        }
    };
    let errors = plan(
        &api,
        &prepared,
        &serde_json::Map::new(),
        &fraiseql_engine::authorize::Caller::ANONYMOUS,
    )
    .expect_err("plan should fail");
    errors
        .iter()
        .map(|e| {
            let v = serde_json::to_value(e).unwrap();
            (
                e.message.clone(),
                v["path"].to_string(),
                v["extensions"]["code"].to_string(),
            )
        })
        .collect()
}

#[test]
fn related_list_limit_is_checked_like_a_root_list() {
    let e = plan_errors("{ customers { orders(limit: 1001) { id } } }");
    assert_eq!(
        e,
        vec![(
            "limit 1001 exceeds the maximum page size of 1000".to_string(),
            r#"["customers","orders"]"#.to_string(),
            r#""BAD_USER_INPUT""#.to_string()
        )]
    );
    let e = plan_errors("{ customers { orders(limit: -1) { id } } }");
    assert_eq!(e[0].0, "limit must not be negative");
    let e = plan_errors("{ customers { orders(offset: -5) { id } } }");
    assert_eq!(e[0].0, "offset must not be negative");
    assert_eq!(e[0].2, r#""BAD_USER_INPUT""#);
    // An unknown field in a relation list's `where` fails validation against the SDL.
    let e = plan_errors("{ customers { orders(where: {nope: {eq: 1}}) { id } } }");
    assert_eq!(e[0].2, r#""GRAPHQL_VALIDATION_FAILED""#, "{e:?}");
}

/// `customers(limit: 1000) { orders(limit: 1000) { … } }` could return 10^6 rows: refused by
/// `validation.max_result_rows` (100,000 by default) before any SQL; smaller pages pass.
#[test]
fn nested_list_products_are_bounded() {
    let e = plan_errors("{ customers(limit: 1000) { orders(limit: 1000) { id } } }");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].0.contains("up to 1001000 rows"), "{e:?}");
    assert_eq!(e[0].1, r#"["customers"]"#);
    assert_eq!(e[0].2, r#""BAD_USER_INPUT""#);
    // Aliases add up.
    let e = plan_errors(
        "{ a: customers(limit: 50) { orders { id } } b: customers(limit: 50) { orders { id } } }",
    );
    assert_eq!(e[0].1, r#"["b"]"#, "{e:?}");
    sql(
        DatabaseKind::Postgresql,
        "{ customers(limit: 1000) { orders(limit: 99) { id } } }",
        serde_json::json!({}),
    );
}

/// The executable SDL gives relation lists the root-list arguments, after `[query_defaults]`.
#[test]
fn relation_list_arguments_in_sdl() {
    let schema = compile(&parse_sdl(SCHEMA, "schema.graphql").unwrap()).unwrap();
    let sdl = fraiseql_engine::schema::executable_sdl(&schema, &QueryDefaults::default());
    assert!(
        sdl.contains("  orders(where: OrderWhereInput, orderBy: [OrderOrderByInput!], limit: Int, offset: Int): [Order!]!\n"),
        "{sdl}"
    );
    // A single relation takes no arguments.
    assert!(sdl.contains("  buyer: Customer\n"), "{sdl}");
    let off = QueryDefaults {
        where_: false,
        order_by: false,
        limit: true,
        offset: false,
        ..QueryDefaults::default()
    };
    let sdl = fraiseql_engine::schema::executable_sdl(&schema, &off);
    assert!(sdl.contains("orders(limit: Int): [Order!]!"), "{sdl}");
}

/// `validation.max_result_rows` is the bound: 5 customers × (1 + 1 order) = 10 rows pass a
/// bound of 10, 6 customers do not.
#[test]
fn max_result_rows_is_configurable() {
    let schema = compile(&parse_sdl(SCHEMA, "schema.graphql").unwrap()).unwrap();
    let limits = ValidationConfig {
        max_result_rows: 10,
        ..ValidationConfig::default()
    };
    let api = ApiSchema::new(schema, QueryDefaults::default(), limits, true).unwrap();
    let run = |q: &str| {
        let prepared = prepare(&api, q, None).unwrap_or_else(|e| panic!("{e:?}"));
        plan(
            &api,
            &prepared,
            &serde_json::Map::new(),
            &fraiseql_engine::authorize::Caller::ANONYMOUS,
        )
    };
    assert!(run("{ customers(limit: 5) { orders(limit: 1) { id } } }").is_ok());
    let e = run("{ customers(limit: 6) { orders(limit: 1) { id } } }").unwrap_err();
    assert!(e[0].message.contains("up to 12 rows"), "{e:?}");
    assert!(e[0].message.contains("limit of 10"), "{e:?}");
}

/// One value is bound once per use: the relay filter (in the page, `totalCount` and
/// `hasPreviousPage`), the page size (edges, cursors, `hasNextPage`) and each cursor value
/// (its `>` and `=` comparisons) were written twice as the same `$n` before.
#[test]
fn every_placeholder_is_written_once_in_bind_order() {
    // The cursor of a row sorted on (createdAt, id): hex of its JSON array of sort values.
    let cursor: String =
        br#"["2024-01-01T00:00:00Z","o1"]"#.iter().map(|b| format!("{b:02x}")).collect();
    let queries = [
        format!(
            r#"{{ ordersPage(first: 2, after: "{cursor}", orderBy: {{createdAt: DESC}}, where: {{identifier: {{contains: "5"}}}}) {{ totalCount edges {{ cursor node {{ id buyer {{ name }} }} }} pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} }} }}"#
        ),
        format!(
            r#"{{ ordersPage(last: 2, before: "{cursor}", orderBy: {{createdAt: ASC}}, where: {{note: {{startsWith: "a"}}}}) {{ a: totalCount b: totalCount pageInfo {{ hasNextPage hasPreviousPage }} }} }}"#
        ),
        r#"{ ordersPage(where: {note: {endsWith: "a"}}) { a: totalCount b: totalCount } }"#.to_string(),
        r#"{ customers { orders(where: {total: {gt: "1"}}, limit: 2, offset: 1) { id } } orders(where: {identifier: {contains: "x"}}, limit: 3) { buyer { name } } }"#.to_string(),
    ];
    for q in &queries {
        for kind in [
            DatabaseKind::Postgresql,
            DatabaseKind::Mysql,
            DatabaseKind::Sqlite,
        ] {
            // `sql` asserts the placeholder order; this shows the cursor bound per use.
            let text = sql(kind, q, serde_json::json!({}));
            assert!(!text.is_empty());
        }
    }
    let text = sql(DatabaseKind::Postgresql, &queries[0], serde_json::json!({}));
    assert_eq!(text.matches("'%' || $").count(), 3, "{text}");
    assert_eq!(
        text.matches("Text(\"2024-01-01T00:00:00Z\")").count(),
        4,
        "the cursor's first value is bound for each of its four comparisons: {text}"
    );
}

#[test]
fn order_and_concat_come_from_the_dialect() {
    let q = r#"{ orders(orderBy: [{note: DESC_NULLS_LAST}], where: {identifier: {contains: "a"}}) { id } }"#;
    let pg = sql(DatabaseKind::Postgresql, q, serde_json::json!({}));
    assert!(pg.contains("DESC NULLS LAST"), "{pg}");
    assert!(pg.contains("'%' || $1::text || '%'"), "{pg}");
    let lite = sql(DatabaseKind::Sqlite, q, serde_json::json!({}));
    assert!(lite.contains("DESC NULLS LAST"), "{lite}");
    assert!(lite.contains("'%' || ?1 || '%'"), "{lite}");
}

/// Every `where` condition is a bind parameter and databases cap parameters per statement
/// (SQLite at 32,766): a filter of 70,000 `_or` branches failed inside the database. The
/// operation's conditions are counted across root fields and relation lists, and more than
/// 1,000 are refused before any SQL.
#[test]
fn where_conditions_are_bounded_per_operation() {
    let api = api();
    let query = "query ($w: OrderWhereInput, $v: OrderWhereInput) { a: orders(where: $w) { id } b: orders(where: $v) { id } }";
    let prepared = prepare(&api, query, None).unwrap_or_else(|e| panic!("{e:?}"));
    let branches = |n: usize| serde_json::json!({ "_or": (0..n).map(|i| serde_json::json!({"identifier": {"eq": format!("ORD-{i}")}})).collect::<Vec<_>>() });
    let vars = |a: usize, b: usize| {
        serde_json::json!({ "w": branches(a), "v": branches(b) })
            .as_object()
            .cloned()
            .unwrap_or_default()
    };
    assert!(plan(
        &api,
        &prepared,
        &vars(600, 400),
        &fraiseql_engine::authorize::Caller::ANONYMOUS
    )
    .is_ok());
    for (a, b) in [(1001, 0), (600, 401), (70_000, 1)] {
        let errors = plan(
            &api,
            &prepared,
            &vars(a, b),
            &fraiseql_engine::authorize::Caller::ANONYMOUS,
        )
        .expect_err("too many conditions");
        let v = serde_json::to_value(&errors[0]).unwrap();
        assert_eq!(v["extensions"]["code"], "BAD_USER_INPUT", "{v}");
        assert!(
            errors[0].message.contains("at most 1000"),
            "{}",
            errors[0].message
        );
    }
}
