//! Property test of the request path's pure half: random GraphQL documents and variables go
//! through prepare, plan and render for both dialects (PostgreSQL and SQLite). Documents are
//! well-shaped (random selections with aliases and nested relations, random `where` trees,
//! `orderBy`, paging, cursors, mutations with flat or input-object arguments, inline or as
//! variables) or garbage (token soup, truncated and corrupted documents). Properties:
//!
//! - nothing panics, whatever the input;
//! - no value from the input reaches SQL text: every string carries a marker `zqx<digits>`
//!   (wrapped in quotes, backslashes, NUL, newlines, unicode) and every number marker is a
//!   distinctive 10-digit value; no statement's text contains any of them;
//! - a marker placed where its type is right (a `String` filter, an `Int` filter, an `ID`
//!   argument, a mutation argument…) is in some bind parameter whenever the request
//!   renders, so the value is neither dropped nor rewritten.
//!
//! Each request renders for both dialects without a catalog (JSON paths) and with one (typed
//! columns beside `data`, mutation functions), so reads, mutation calls and read-backs are
//! all covered. `limit`/`offset`/`first`/`last` are typed integers the renderer writes as
//! `LIMIT n`; they are drawn without markers. 256 cases by default (a few seconds); set
//! `PROPTEST_CASES` to run more:
//! `PROPTEST_CASES=20000 cargo test -p fraiseql-engine --test fuzz --release`.

use fraiseql_engine::catalog::{
    Catalog, Function, FunctionParam, FunctionReturn, Relation, SqlType,
};
use fraiseql_engine::config::{DatabaseKind, QueryDefaults, ValidationConfig};
use fraiseql_engine::plan::{plan, RootAction};
use fraiseql_engine::request::{prepare, ApiSchema};
use fraiseql_engine::schema::{compile, parse_sdl};
use fraiseql_engine::sql::{
    render_call, render_read_back, render_reads, render_steps, CallSql, MutationResult, Param,
    Remotes, SqlQuery, StepKeys,
};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Value as Json};
use std::sync::OnceLock;

const SCHEMA: &str = r#"
type Order @source(view: "v_order") {
  id: ID!
  identifier: String!
  status: OrderStatus!
  total: Decimal!
  quantity: Int!
  weight: Float
  paid: Boolean!
  createdAt: DateTime!
  shippedOn: Date
  ref: UUID
  note: String
  extra: JSON
  customer: CustomerSummary!
  items: [OrderItem!]!
  buyer: Customer @relation(localKey: "customer_id")
}
type Customer @source(view: "v_customer", database: "crm") {
  id: ID!
  name: String!
  orders: [Order!]! @relation(localKey: "id", remoteKey: "customer_id")
}
type CustomerSummary { id: ID! name: String! }
type OrderItem { sku: String! quantity: Int! }
enum OrderStatus { PENDING @value(stored: "pending") SHIPPED @value(stored: "shipped") }
input OrderInput { identifier: String! total: Decimal note: String status: OrderStatus }
type Query {
  order(id: ID!): Order
  orders: [Order!]!
  ordersPage: [Order!]! @relay
  customers: [Customer!]!
  customer(id: ID!): Customer
}
type Mutation {
  createOrder(identifier: String!, total: Decimal, note: String, quantity: Int): Order @function(name: "fn_create_order")
  updateOrder(input: OrderInput!): Order @function(name: "fn_update_order")
}
"#;

/// Every string marker starts with this; no SQL text may contain it.
const MARK: &str = "zqx";

fn api() -> &'static ApiSchema {
    static API: OnceLock<ApiSchema> = OnceLock::new();
    API.get_or_init(|| {
        let sdl = parse_sdl(SCHEMA, "schema.graphql").expect("fuzz schema parses");
        let schema = compile(&sdl).expect("fuzz schema compiles");
        ApiSchema::new(
            schema,
            QueryDefaults::default(),
            ValidationConfig::default(),
            true,
        )
        .expect("fuzz API schema builds")
    })
}

/// What the server would read from the database: typed columns beside `data` (so filters
/// and sorts take the column path) and the mutation functions' signatures.
fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let relation = |cols: &[(&str, SqlType)]| Relation {
            columns: cols.iter().map(|(c, t)| ((*c).to_string(), *t)).collect(),
        };
        let order = relation(&[
            ("id", SqlType::Text),
            ("identifier", SqlType::Text),
            ("status", SqlType::Text),
            ("total", SqlType::Numeric),
            ("quantity", SqlType::Integer),
            ("paid", SqlType::Boolean),
            ("created_at", SqlType::Timestamp),
            ("shipped_on", SqlType::Date),
            ("ref", SqlType::Uuid),
            ("customer_id", SqlType::Text),
            ("data", SqlType::Jsonb),
        ]);
        let customer = relation(&[
            ("id", SqlType::Text),
            ("name", SqlType::Text),
            ("data", SqlType::Jsonb),
        ]);
        let param = |name: &str, ty: &str| FunctionParam {
            name: name.to_string(),
            type_name: ty.to_string(),
            has_default: name != "p_identifier",
        };
        let mut c = Catalog::default();
        c.relations.insert("v_order".into(), order);
        c.relations.insert("v_customer".into(), customer);
        c.functions.insert(
            "fn_create_order".into(),
            Function {
                params: vec![
                    param("p_identifier", "text"),
                    param("p_total", "numeric"),
                    param("p_note", "text"),
                    param("p_quantity", "integer"),
                ],
                returns: FunctionReturn::MutationResponse,
            },
        );
        c.functions.insert(
            "fn_update_order".into(),
            Function {
                params: vec![param("p_input", "jsonb")],
                returns: FunctionReturn::MutationResponse,
            },
        );
        c
    })
}

/// The catalog as `kind` reads it: on MySQL/MariaDB mutations are stored procedures.
fn catalog_for(kind: DatabaseKind) -> &'static Catalog {
    static PROCEDURES: OnceLock<Catalog> = OnceLock::new();
    if kind != DatabaseKind::Mysql {
        return catalog();
    }
    PROCEDURES.get_or_init(|| {
        let mut c = catalog().clone();
        for f in c.functions.values_mut() {
            f.returns = FunctionReturn::Procedure;
        }
        c
    })
}

// ---------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------

/// An input value, written either as a GraphQL literal or as variables JSON.
#[derive(Debug, Clone)]
enum V {
    Str(String),
    Int(i64),
    Float(f64),
    /// A number literal no JSON number holds exactly (`1e400`, 30 digits): GraphQL text only;
    /// as JSON it becomes a string.
    Huge(&'static str),
    Bool(bool),
    Null,
    Enum(&'static str),
    List(Vec<V>),
    Obj(Vec<(String, V)>),
}

impl V {
    fn graphql(&self, out: &mut String) {
        match self {
            V::Str(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        c if (c as u32) < 0x20 || c == '\u{7f}' => {
                            out.push_str(&format!("\\u{:04x}", c as u32))
                        }
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            V::Int(i) => out.push_str(&i.to_string()),
            V::Float(f) => out.push_str(&format!("{f:?}")),
            V::Huge(h) => out.push_str(h),
            V::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            V::Null => out.push_str("null"),
            V::Enum(e) => out.push_str(e),
            V::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.graphql(out);
                }
                out.push(']');
            }
            V::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(k);
                    out.push_str(": ");
                    v.graphql(out);
                }
                out.push('}');
            }
        }
    }

    fn json(&self) -> Json {
        match self {
            V::Str(s) => Json::String(s.clone()),
            V::Int(i) => Json::from(*i),
            V::Float(f) => Json::from(*f),
            V::Huge(h) => Json::String((*h).to_string()),
            V::Bool(b) => Json::Bool(*b),
            V::Null => Json::Null,
            V::Enum(e) => Json::String((*e).to_string()),
            V::List(items) => Json::Array(items.iter().map(V::json).collect()),
            V::Obj(fields) => {
                Json::Object(fields.iter().map(|(k, v)| (k.clone(), v.json())).collect())
            }
        }
    }

    /// Every string marker and number marker in this value.
    fn markers(&self, out: &mut Vec<Marker>) {
        match self {
            V::Str(s) => {
                if let Some(m) = string_marker(s) {
                    out.push(Marker::Str(m));
                } else if let Some(n) = s
                    .split('.')
                    .next()
                    .and_then(|i| i.parse::<i64>().ok())
                    .filter(|n| is_number_marker(*n))
                {
                    // A Decimal written as a string.
                    out.push(Marker::Num(n));
                }
            }
            V::Int(i) if is_number_marker(*i) => out.push(Marker::Num(*i)),
            V::Float(f) if f.fract() != 0.0 && is_number_marker(f.trunc() as i64) => {
                out.push(Marker::Num(f.trunc() as i64))
            }
            V::List(items) => items.iter().for_each(|v| v.markers(out)),
            V::Obj(fields) => fields.iter().for_each(|(_, v)| v.markers(out)),
            _ => {}
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Marker {
    /// `zqx` followed by digits, as it appears inside the generated string.
    Str(String),
    /// An integer in [`NUMBER_MARKERS`] (floats use it as their integer part).
    Num(i64),
}

/// Ten-digit numbers that fit an `Int` (i32) and appear nowhere else in SQL text.
const NUMBER_MARKERS: std::ops::Range<i64> = 1_900_000_000..2_100_000_000;

fn is_number_marker(i: i64) -> bool {
    NUMBER_MARKERS.contains(&i)
}

fn string_marker(s: &str) -> Option<String> {
    let at = s.find(MARK)?;
    let digits: String = s[at + MARK.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some(format!("{MARK}{digits}"))
}

/// Text that tries to break out of a SQL string or identifier.
fn hostile_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("'".to_string()),
        Just("''".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("\\'".to_string()),
        Just("\0".to_string()),
        Just("\n".to_string()),
        Just("\r\n--".to_string()),
        Just("%".to_string()),
        Just("_".to_string()),
        Just("$1".to_string()),
        Just("?".to_string()),
        Just("'); DROP TABLE v_order; --".to_string()),
        Just("\u{2028}é漢字🙂".to_string()),
        Just("\u{feff}".to_string()),
        Just("$$".to_string()),
        Just("/*".to_string()),
        "\\PC{0,6}",
    ]
}

/// A string carrying a unique-looking marker between hostile pieces.
fn marked_string() -> impl Strategy<Value = String> {
    (hostile_piece(), 0u32..10_000_000, hostile_piece())
        .prop_map(|(a, n, b)| format!("{a}{MARK}{n}{b}"))
}

fn marker_int() -> impl Strategy<Value = i64> {
    NUMBER_MARKERS
}

fn marker_float() -> impl Strategy<Value = f64> {
    (NUMBER_MARKERS, 1u32..100).prop_map(|(i, f)| i as f64 + f64::from(f) / 128.0)
}

const HUGE: &[&str] = &[
    "1e400",
    "-1e400",
    "123456789012345678901234567890",
    "9223372036854775808",
    "-9223372036854775809",
    "2147483648",
    "0.000000000000000000000000000000000001",
    "1.7976931348623157e309",
];

/// Any value at all, of any type, nested.
fn any_value() -> impl Strategy<Value = V> {
    let leaf = prop_oneof![
        marked_string().prop_map(V::Str),
        marker_int().prop_map(V::Int),
        marker_float().prop_map(V::Float),
        prop::sample::select(HUGE).prop_map(V::Huge),
        any::<bool>().prop_map(V::Bool),
        Just(V::Null),
        prop::sample::select(&["PENDING", "SHIPPED", "PAID", "ASC", "DESC", "null_"][..])
            .prop_map(V::Enum),
        prop::sample::select(vec![i64::MIN, i64::MAX, -1, 0, 1, i64::from(i32::MAX) + 1])
            .prop_map(V::Int),
        prop::sample::select(&[f64::MIN_POSITIVE, -0.0, 1e300, f64::MAX][..]).prop_map(V::Float),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(V::List),
            prop::collection::vec((any_key(), inner), 0..4).prop_map(V::Obj),
        ]
    })
}

/// A key of a `where` object: a field, an operator, a combinator or garbage.
fn any_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(ORDER_FILTER_FIELDS).prop_map(|(f, _)| f.to_string()),
        prop::sample::select(OPERATORS).prop_map(str::to_string),
        prop::sample::select(&["_and", "_or", "_not", "name", "nope", "__typename"][..])
            .prop_map(str::to_string),
    ]
}

// ---------------------------------------------------------------------------------------
// Where trees
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Ty {
    Id,
    Str,
    Int,
    Float,
    Decimal,
    Bool,
    DateTime,
    Date,
    Uuid,
    Status,
}

const ORDER_FILTER_FIELDS: &[(&str, Ty)] = &[
    ("id", Ty::Id),
    ("identifier", Ty::Str),
    ("note", Ty::Str),
    ("status", Ty::Status),
    ("total", Ty::Decimal),
    ("quantity", Ty::Int),
    ("weight", Ty::Float),
    ("paid", Ty::Bool),
    ("createdAt", Ty::DateTime),
    ("shippedOn", Ty::Date),
    ("ref", Ty::Uuid),
];

const OPERATORS: &[&str] = &[
    "eq",
    "neq",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "nin",
    "isNull",
    "contains",
    "icontains",
    "startsWith",
    "endsWith",
    "like",
    "ilike",
];

const STRING_OPERATORS: &[&str] = &[
    "eq",
    "neq",
    "contains",
    "icontains",
    "startsWith",
    "endsWith",
    "like",
    "ilike",
];

/// A value of the field's type whose marker must reach a parameter, with its operator.
fn typed_condition(ty: Ty) -> BoxedStrategy<(String, V)> {
    let scalar = |s: BoxedStrategy<V>, ops: &'static [&'static str]| {
        (
            prop::sample::select(ops),
            s.clone(),
            prop::collection::vec(s, 1..4),
        )
            .prop_map(|(op, one, many)| match op {
                "in" | "nin" => (op.to_string(), V::List(many)),
                _ => (op.to_string(), one),
            })
            .boxed()
    };
    match ty {
        Ty::Id => scalar(
            marked_string().prop_map(V::Str).boxed(),
            &["eq", "neq", "in", "nin"],
        ),
        Ty::Str => prop_oneof![
            scalar(marked_string().prop_map(V::Str).boxed(), &["in", "nin"]),
            (
                prop::sample::select(STRING_OPERATORS),
                marked_string().prop_map(V::Str)
            )
                .prop_map(|(op, v)| (op.to_string(), v)),
        ]
        .boxed(),
        Ty::Int => scalar(
            marker_int().prop_map(V::Int).boxed(),
            &["eq", "neq", "gt", "gte", "lt", "lte", "in", "nin"],
        ),
        Ty::Float => scalar(
            prop_oneof![
                marker_float().prop_map(V::Float),
                marker_int().prop_map(V::Int)
            ]
            .boxed(),
            &["eq", "neq", "gt", "gte", "lt", "lte", "in", "nin"],
        ),
        Ty::Decimal => scalar(
            prop_oneof![
                marker_int().prop_map(|i| V::Str(format!("{i}.25"))),
                marker_int().prop_map(V::Int),
            ]
            .boxed(),
            &["eq", "neq", "gt", "gte", "lt", "lte", "in", "nin"],
        ),
        // No marker fits these types; their values are checked for panics only.
        Ty::Bool => any::<bool>()
            .prop_map(|b| ("eq".to_string(), V::Bool(b)))
            .boxed(),
        Ty::DateTime => Just(("gte".to_string(), V::Str("2024-01-02T03:04:05Z".into()))).boxed(),
        Ty::Date => Just(("lt".to_string(), V::Str("2024-01-02".into()))).boxed(),
        Ty::Uuid => Just((
            "eq".to_string(),
            V::Str("a0000000-0000-4000-8000-000000000001".into()),
        ))
        .boxed(),
        Ty::Status => prop::sample::select(&["PENDING", "SHIPPED"][..])
            .prop_map(|e| ("eq".to_string(), V::Enum(e)))
            .boxed(),
    }
}

/// A well-typed `OrderWhereInput` tree.
fn typed_where() -> impl Strategy<Value = V> {
    let leaf = prop_oneof![
        prop::sample::select(ORDER_FILTER_FIELDS).prop_flat_map(|(field, ty)| {
            typed_condition(ty)
                .prop_map(move |(op, v)| V::Obj(vec![(field.to_string(), V::Obj(vec![(op, v)]))]))
        }),
        prop::sample::select(STRING_OPERATORS).prop_flat_map(|op| {
            marked_string().prop_map(move |s| {
                V::Obj(vec![(
                    "customer".into(),
                    V::Obj(vec![("name".into(), V::Obj(vec![(op.into(), V::Str(s))]))]),
                )])
            })
        }),
        any::<bool>().prop_map(|b| V::Obj(vec![(
            "note".into(),
            V::Obj(vec![("isNull".into(), V::Bool(b))])
        )])),
    ];
    leaf.prop_recursive(3, 10, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4)
                .prop_map(|items| V::Obj(vec![("_and".into(), V::List(items))])),
            prop::collection::vec(inner.clone(), 1..4)
                .prop_map(|items| V::Obj(vec![("_or".into(), V::List(items))])),
            inner.clone().prop_map(|w| V::Obj(vec![("_not".into(), w)])),
            // Several conditions in one object are ANDed.
            prop::collection::vec(inner, 2..4).prop_map(|items| {
                let mut fields = Vec::new();
                for item in items {
                    if let V::Obj(f) = item {
                        for (k, v) in f {
                            if !fields.iter().any(|(seen, _): &(String, V)| *seen == k) {
                                fields.push((k, v));
                            }
                        }
                    }
                }
                V::Obj(fields)
            }),
        ]
    })
}

/// Anything in a `where` position: typed trees mixed with values of any shape.
fn hostile_where() -> impl Strategy<Value = V> {
    prop_oneof![
        any_value(),
        (typed_where(), any_key(), any_value()).prop_map(|(w, k, v)| match w {
            V::Obj(mut fields) => {
                fields.push((k, v));
                V::Obj(fields)
            }
            other => other,
        }),
        (
            prop::sample::select(ORDER_FILTER_FIELDS),
            prop::sample::select(OPERATORS),
            any_value()
        )
            .prop_map(|((f, _), op, v)| V::Obj(vec![(f.into(), V::Obj(vec![(op.into(), v)]))])),
    ]
}

// ---------------------------------------------------------------------------------------
// Documents
// ---------------------------------------------------------------------------------------

/// A value of an argument: where it goes in the document and whether its markers must
/// reach a parameter.
#[derive(Debug, Clone)]
struct Arg {
    name: &'static str,
    /// The variable type when sent as a variable.
    ty: &'static str,
    value: V,
    typed: bool,
}

#[derive(Debug, Clone)]
struct Root {
    alias: Option<String>,
    field: &'static str,
    args: Vec<Arg>,
    selection: String,
}

#[derive(Debug, Clone)]
struct Doc {
    /// `query` or `mutation`.
    operation: &'static str,
    roots: Vec<Root>,
    /// Arguments go into variables (`$v0…`) instead of literals.
    as_variables: bool,
    /// Extra variables JSON: unknown names, wrong types.
    junk_variables: Vec<(String, V)>,
}

fn alias() -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(0.4, name("[a-z][a-zA-Z0-9_]{0,6}"))
}

/// A generated name that never spells the marker: an alias is meant to reach SQL text
/// (it names a JSON key), so `zqX` would be a false alarm, not a leaked value.
fn name(pattern: &'static str) -> impl Strategy<Value = String> {
    pattern.prop_filter("names never spell the marker", |n| {
        !n.to_lowercase().contains(MARK)
    })
}

fn page_int() -> impl Strategy<Value = V> {
    prop_oneof![
        4 => (0i64..50).prop_map(V::Int),
        1 => prop::sample::select(vec![-1i64, 1000, 1001, i64::from(i32::MAX)]).prop_map(V::Int),
        1 => Just(V::Null),
        1 => prop::sample::select(&["1e400", "99999999999999999999"][..]).prop_map(V::Huge),
        1 => Just(V::Str("10".into())),
    ]
}

fn order_by() -> impl Strategy<Value = V> {
    let one = (
        prop::sample::select(ORDER_FILTER_FIELDS),
        prop::sample::select(&["ASC", "DESC", "ASC_NULLS_FIRST", "DESC_NULLS_LAST", "UP"][..]),
    )
        .prop_map(|((f, _), d)| V::Obj(vec![(f.to_string(), V::Enum(d))]));
    prop_oneof![
        one.clone(),
        prop::collection::vec(one, 0..4).prop_map(V::List),
        any_value(),
    ]
}

/// A selection set on Order, `depth` levels of relations deep.
fn order_selection(depth: u32) -> BoxedStrategy<String> {
    let scalar = prop::sample::select(
        &[
            "id",
            "identifier",
            "status",
            "total",
            "quantity",
            "weight",
            "paid",
            "createdAt",
            "shippedOn",
            "ref",
            "note",
            "extra",
            "__typename",
            "customer { id name }",
            "items { sku quantity }",
        ][..],
    )
    .prop_map(str::to_string);
    let field = if depth == 0 {
        scalar.boxed()
    } else {
        prop_oneof![
            4 => scalar,
            1 => customer_selection(depth - 1).prop_map(|s| format!("buyer {s}")),
        ]
        .boxed()
    };
    prop::collection::vec((alias(), field), 1..5)
        .prop_map(|fields| {
            let body: Vec<String> = fields
                .into_iter()
                .map(|(a, f)| match a {
                    Some(a) => format!("{a}: {f}"),
                    None => f,
                })
                .collect();
            format!("{{ {} }}", body.join(" "))
        })
        .boxed()
}

fn customer_selection(depth: u32) -> BoxedStrategy<String> {
    let scalar = prop::sample::select(&["id", "name", "__typename"][..]).prop_map(str::to_string);
    let field = if depth == 0 {
        scalar.boxed()
    } else {
        prop_oneof![
            2 => scalar,
            1 => (relation_args(), order_selection(depth - 1))
                .prop_map(|(args, s)| format!("orders{args} {s}")),
        ]
        .boxed()
    };
    prop::collection::vec((alias(), field), 1..4)
        .prop_map(|fields| {
            let body: Vec<String> = fields
                .into_iter()
                .map(|(a, f)| match a {
                    Some(a) => format!("{a}: {f}"),
                    None => f,
                })
                .collect();
            format!("{{ {} }}", body.join(" "))
        })
        .boxed()
}

/// Arguments on a relation list, written inline (some engines accept them, ours may not).
fn relation_args() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(String::new()),
        1 => (page_int(), hostile_where()).prop_map(|(l, w)| {
            let mut s = String::from("(limit: ");
            l.graphql(&mut s);
            s.push_str(", where: ");
            w.graphql(&mut s);
            s.push(')');
            s
        }),
    ]
}

fn where_arg() -> impl Strategy<Value = Arg> {
    prop_oneof![
        3 => typed_where().prop_map(|value| Arg { name: "where", ty: "OrderWhereInput", value, typed: true }),
        1 => hostile_where().prop_map(|value| Arg { name: "where", ty: "OrderWhereInput", value, typed: false }),
    ]
}

fn list_args() -> impl Strategy<Value = Vec<Arg>> {
    (
        prop::option::of(where_arg()),
        prop::option::of(order_by()),
        prop::option::of(page_int()),
        prop::option::of(page_int()),
    )
        .prop_map(|(w, o, l, off)| {
            let mut args: Vec<Arg> = w.into_iter().collect();
            if let Some(value) = o {
                args.push(Arg {
                    name: "orderBy",
                    ty: "[OrderOrderByInput!]",
                    value,
                    typed: false,
                });
            }
            if let Some(value) = l {
                args.push(Arg {
                    name: "limit",
                    ty: "Int",
                    value,
                    typed: false,
                });
            }
            if let Some(value) = off {
                args.push(Arg {
                    name: "offset",
                    ty: "Int",
                    value,
                    typed: false,
                });
            }
            args
        })
}

fn id_arg() -> impl Strategy<Value = Arg> {
    prop_oneof![
        3 => marked_string().prop_map(|s| Arg { name: "id", ty: "ID!", value: V::Str(s), typed: true }),
        1 => marker_int().prop_map(|i| Arg { name: "id", ty: "ID!", value: V::Int(i), typed: true }),
        1 => any_value().prop_map(|value| Arg { name: "id", ty: "ID!", value, typed: false }),
    ]
}

fn root() -> impl Strategy<Value = Root> {
    let orders =
        (alias(), list_args(), order_selection(2)).prop_map(|(alias, args, selection)| Root {
            alias,
            field: "orders",
            args,
            selection,
        });
    let order = (alias(), id_arg(), order_selection(2)).prop_map(|(alias, id, selection)| Root {
        alias,
        field: "order",
        args: vec![id],
        selection,
    });
    let customers =
        (alias(), page_int(), customer_selection(2)).prop_map(|(alias, l, selection)| Root {
            alias,
            field: "customers",
            args: vec![Arg {
                name: "limit",
                ty: "Int",
                value: l,
                typed: false,
            }],
            selection,
        });
    let customer =
        (alias(), id_arg(), customer_selection(2)).prop_map(|(alias, id, selection)| Root {
            alias,
            field: "customer",
            args: vec![id],
            selection,
        });
    let page = (
        alias(),
        prop::option::of(where_arg()),
        page_int(),
        prop::option::of(any_value()),
        order_selection(1),
    )
        .prop_map(|(alias, w, first, after, node)| {
            let mut args: Vec<Arg> = w.into_iter().collect();
            args.push(Arg { name: "first", ty: "Int", value: first, typed: false });
            if let Some(value) = after {
                args.push(Arg { name: "after", ty: "String", value, typed: false });
            }
            Root {
                alias,
                field: "ordersPage",
                args,
                selection: format!(
                    "{{ totalCount edges {{ cursor node {node} }} pageInfo {{ hasNextPage endCursor }} }}"
                ),
            }
        });
    prop_oneof![3 => orders, 2 => order, 1 => customers, 1 => customer, 2 => page]
}

/// A mutation root: `createOrder` with flat arguments or `updateOrder(input:)`.
fn mutation_root() -> impl Strategy<Value = Root> {
    let typed = |name: &'static str, ty: &'static str, value: V| Arg {
        name,
        ty,
        value,
        typed: true,
    };
    let create = (
        alias(),
        marked_string(),
        prop::option::of(marker_int().prop_map(|i| V::Str(format!("{i}.5")))),
        prop::option::of(marked_string()),
        prop::option::of(marker_int()),
        prop::option::of((name("[a-z]{1,8}"), any_value())),
        order_selection(1),
    )
        .prop_map(
            move |(alias, identifier, total, note, quantity, junk, selection)| {
                let mut args = vec![typed("identifier", "String!", V::Str(identifier))];
                if let Some(t) = total {
                    args.push(typed("total", "Decimal", t));
                }
                if let Some(n) = note {
                    args.push(typed("note", "String", V::Str(n)));
                }
                if let Some(q) = quantity {
                    args.push(typed("quantity", "Int", V::Int(q)));
                }
                if let Some((_, value)) = junk {
                    // A wrong-typed value for a declared argument.
                    args.push(Arg {
                        name: "note",
                        ty: "String",
                        value,
                        typed: false,
                    });
                    args.dedup_by(|a, b| a.name == b.name);
                }
                Root {
                    alias,
                    field: "createOrder",
                    args,
                    selection,
                }
            },
        );
    let update = (
        alias(),
        marked_string(),
        prop::option::of(marked_string()),
        prop::option::of(prop::sample::select(&["PENDING", "SHIPPED", "LOST"][..])),
        prop::option::of(any_value()),
        order_selection(1),
    )
        .prop_map(|(alias, identifier, note, status, junk, selection)| {
            let mut fields = vec![("identifier".to_string(), V::Str(identifier))];
            if let Some(n) = note {
                fields.push(("note".into(), V::Str(n)));
            }
            if let Some(e) = status {
                fields.push(("status".into(), V::Enum(e)));
            }
            let typed = junk.is_none() && status != Some("LOST");
            if let Some(j) = junk {
                fields.push(("total".into(), j));
            }
            Root {
                alias,
                field: "updateOrder",
                args: vec![Arg {
                    name: "input",
                    ty: "OrderInput!",
                    value: V::Obj(fields),
                    typed,
                }],
                selection,
            }
        });
    prop_oneof![create, update]
}

fn doc() -> impl Strategy<Value = Doc> {
    let roots = prop_oneof![
        3 => prop::collection::vec(root(), 1..4).prop_map(|r| ("query", r)),
        1 => prop::collection::vec(mutation_root(), 1..3).prop_map(|r| ("mutation", r)),
    ];
    (
        roots,
        any::<bool>(),
        prop::collection::vec((name("[a-z]{1,4}"), any_value()), 0..2),
    )
        .prop_map(|((operation, roots), as_variables, junk_variables)| Doc {
            operation,
            roots,
            as_variables,
            junk_variables,
        })
}

impl Doc {
    /// The document text and its variables.
    fn render(&self) -> (String, Map<String, Json>) {
        let mut vars = Map::new();
        let mut decls = Vec::new();
        let mut body = String::new();
        for (i, root) in self.roots.iter().enumerate() {
            // Same-named roots with different arguments are a validation error; the garbage
            // strategy covers that, here they get distinct aliases.
            let alias = root
                .alias
                .clone()
                .or_else(|| (i > 0).then(|| format!("r{i}")));
            if let Some(a) = alias {
                body.push_str(&a);
                body.push_str(": ");
            }
            body.push_str(root.field);
            if !root.args.is_empty() {
                body.push('(');
                for (i, arg) in root.args.iter().enumerate() {
                    if i > 0 {
                        body.push_str(", ");
                    }
                    body.push_str(arg.name);
                    body.push_str(": ");
                    if self.as_variables {
                        let name = format!("v{}", vars.len());
                        body.push('$');
                        body.push_str(&name);
                        decls.push(format!("${name}: {}", arg.ty));
                        vars.insert(name, arg.value.json());
                    } else {
                        arg.value.graphql(&mut body);
                    }
                }
                body.push(')');
            }
            body.push(' ');
            body.push_str(&root.selection);
            body.push('\n');
        }
        for (k, v) in &self.junk_variables {
            vars.insert(k.clone(), v.json());
        }
        let head = if decls.is_empty() {
            format!("{} Fuzz", self.operation)
        } else {
            format!("{} Fuzz({})", self.operation, decls.join(", "))
        };
        (format!("{head} {{\n{body}}}"), vars)
    }

    /// Markers that must reach a parameter if the request renders.
    fn bound_markers(&self) -> Vec<Marker> {
        let mut out = Vec::new();
        for arg in self.roots.iter().flat_map(|r| &r.args).filter(|a| a.typed) {
            arg.value.markers(&mut out);
        }
        out
    }
}

/// Garbage: GraphQL tokens in random order, or a valid document cut and corrupted.
fn garbage() -> impl Strategy<Value = (String, Map<String, Json>)> {
    let token = prop_oneof![
        prop::sample::select(
            &[
                "{",
                "}",
                "(",
                ")",
                "[",
                "]",
                ":",
                "$",
                "@",
                "!",
                "=",
                "...",
                "|",
                "&",
                "query",
                "mutation",
                "subscription",
                "fragment",
                "on",
                "orders",
                "order",
                "ordersPage",
                "customers",
                "id",
                "where",
                "limit",
                "offset",
                "first",
                "after",
                "orderBy",
                "_or",
                "_and",
                "_not",
                "eq",
                "in",
                "like",
                "__schema",
                "__typename",
                "__type",
                "@include(if: true)",
                "@skip(if: $x)",
                "#",
                "\"\"\"",
                "\n",
                "\u{0}",
                "\u{feff}",
                "1e400",
                "-0",
                "0x10",
                "\"\\u0000\"",
                "\"\\ud800\"",
                "\"\\\"",
                "'",
            ][..],
        )
        .prop_map(str::to_string),
        marked_string().prop_map(|s| V::Str(s).json().to_string()),
        "\\PC{1,8}",
    ];
    prop_oneof![
        prop::collection::vec(token, 0..40).prop_map(|t| (t.join(" "), Map::new())),
        (
            doc(),
            any::<prop::sample::Index>(),
            "\\PC{0,4}",
            any::<prop::sample::Index>()
        )
            .prop_map(|(d, cut, junk, at)| {
                let (text, vars) = d.render();
                let chars: Vec<char> = text.chars().collect();
                let cut = cut.index(chars.len() + 1);
                let mut out: String = chars[..cut].iter().collect();
                let at = at.index(out.chars().count() + 1);
                let byte = out.char_indices().nth(at).map_or(out.len(), |(i, _)| i);
                out.insert_str(byte, &junk);
                (out, vars)
            }),
    ]
}

// ---------------------------------------------------------------------------------------
// The pipeline and its properties
// ---------------------------------------------------------------------------------------

const DIALECTS: [DatabaseKind; 3] = [
    DatabaseKind::Postgresql,
    DatabaseKind::Mysql,
    DatabaseKind::Sqlite,
];

/// Runs prepare, plan and render for each dialect; returns the rendered statements per
/// dialect (empty when the request was refused, which is fine).
fn pipeline(query: &str, vars: &Map<String, Json>) -> Vec<(DatabaseKind, String, Vec<Param>)> {
    let api = api();
    let Ok(prepared) = prepare(api, query, None) else {
        return Vec::new();
    };
    let Ok(plan) = plan(
        api,
        &prepared,
        vars,
        &fraiseql_engine::authorize::Caller::ANONYMOUS,
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut push = |kind: DatabaseKind, q: SqlQuery| out.push((kind, q.text, q.params));
    let remotes = Remotes {
        steps: &plan.steps,
        marker: "request-marker",
    };
    for kind in DIALECTS {
        // Without a catalog (JSON paths only) and with one (typed columns, functions).
        for catalog in [None, Some(catalog_for(kind))] {
            // A render error is a refusal too; a panic is what the property forbids.
            if let Ok(stmts) = render_reads(&plan, &|_| Some((kind, catalog)), remotes) {
                for s in stmts {
                    push(kind, s.sql);
                }
            }
            // Each relation into another database, for keys that are values too.
            let keys = [format!("{MARK}k'\\"), format!("{MARK}\"]")];
            let keys = [keys[0].as_str(), keys[1].as_str()];
            for step in 0..plan.steps.len() {
                let part = StepKeys { step, keys: &keys };
                if let Ok(q) = render_steps(&[part], kind, catalog, remotes) {
                    push(kind, q);
                }
            }
            for root in &plan.roots {
                let RootAction::Mutate(m) = &root.action else {
                    continue;
                };
                match render_call(m, kind, catalog, remotes) {
                    Ok(CallSql::Response(q) | CallSql::Rows(q) | CallSql::Procedure(q)) => {
                        push(kind, q)
                    }
                    Ok(CallSql::ResponseVia { call, take }) => {
                        push(kind, call);
                        push(kind, take);
                    }
                    Err(_) => {}
                }
                // The read-back of what the function returned (an id from the database
                // is a value too).
                let result = MutationResult {
                    status: "success".into(),
                    entity_id: Some(format!("{MARK}0db'\\0")),
                    ..MutationResult::default()
                };
                if let Some(q) = render_read_back(m, kind, catalog, &result, remotes) {
                    push(kind, q);
                }
            }
        }
    }
    out
}

/// No marker of any kind in any statement's text.
fn assert_no_value_in_text(
    query: &str,
    stmts: &[(DatabaseKind, String, Vec<Param>)],
    numbers: &[i64],
) -> Result<(), TestCaseError> {
    for (kind, text, _) in stmts {
        prop_assert!(
            !text.to_lowercase().contains(MARK),
            "{kind:?}: a string value reached SQL text\nquery: {query}\nsql: {text}"
        );
        for n in numbers {
            prop_assert!(
                !text.contains(&n.to_string()),
                "{kind:?}: the number {n} reached SQL text\nquery: {query}\nsql: {text}"
            );
        }
    }
    Ok(())
}

fn param_holds(param: &Param, marker: &Marker) -> bool {
    match (param, marker) {
        (Param::Text(t), Marker::Str(m)) => t.contains(m.as_str()),
        (Param::Text(t), Marker::Num(n)) => t.contains(&n.to_string()),
        (Param::Int(i), Marker::Num(n)) => i == n,
        (Param::Float(f), Marker::Num(n)) => f.trunc() as i64 == *n,
        _ => false,
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn numbers_in(query: &str, vars: &Map<String, Json>) -> Vec<i64> {
    // Any 10-digit run in the marker range, in the document or the variables.
    let text = format!("{query} {}", Json::Object(vars.clone()));
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if let Ok(n) = text[start..i].parse::<i64>() {
                if is_number_marker(n) {
                    out.push(n);
                }
            }
        } else {
            i += 1;
        }
    }
    out
}

proptest! {
    #![proptest_config(Config { cases: cases(), ..Config::default() })]

    /// Well-shaped documents: no panic, no value in SQL text, typed values bound.
    #[test]
    fn documents_render_values_only_as_parameters(doc in doc()) {
        let (query, vars) = doc.render();
        let stmts = pipeline(&query, &vars);
        assert_no_value_in_text(&query, &stmts, &numbers_in(&query, &vars))?;
        if stmts.is_empty() {
            return Ok(());
        }
        for kind in DIALECTS {
            let params: Vec<&Param> = stmts
                .iter()
                .filter(|(k, _, _)| *k == kind)
                .flat_map(|(_, _, p)| p)
                .collect();
            for marker in doc.bound_markers() {
                prop_assert!(
                    params.iter().any(|p| param_holds(p, &marker)),
                    "{kind:?}: {marker:?} is in the request but in no parameter\nquery: {query}\nvariables: {}\nparams: {params:?}",
                    Json::Object(vars.clone())
                );
            }
        }
    }

    /// Garbage documents and variables: refused or rendered, never a panic, never a value
    /// in SQL text.
    #[test]
    fn garbage_never_panics_or_leaks((query, vars) in garbage()) {
        let stmts = pipeline(&query, &vars);
        assert_no_value_in_text(&query, &stmts, &numbers_in(&query, &vars))?;
    }
}

/// The generator produces requests that get through to SQL, reads and mutations, so the
/// properties above are about rendered statements and not only about refusals.
#[test]
fn the_generator_reaches_sql() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = doc();
    let (mut rendered, mut with_markers, mut mutations) = (0, 0, 0);
    for _ in 0..300 {
        let doc = strategy.new_tree(&mut runner).expect("generates").current();
        let (query, vars) = doc.render();
        let stmts = pipeline(&query, &vars);
        if stmts.is_empty() {
            continue;
        }
        rendered += 1;
        if !doc.bound_markers().is_empty() {
            with_markers += 1;
        }
        if doc.operation == "mutation" && stmts.iter().any(|(_, _, p)| !p.is_empty()) {
            mutations += 1;
        }
    }
    assert!(rendered >= 60, "only {rendered} of 300 documents rendered");
    assert!(
        with_markers >= 30,
        "only {with_markers} rendered documents carried markers"
    );
    assert!(mutations >= 10, "only {mutations} mutations rendered");
}

/// The checks catch what they are for: a value inlined into SQL text, or a typed value
/// that no parameter carries.
#[test]
fn the_checks_catch_an_inlined_value() {
    let inlined = vec![(
        DatabaseKind::Sqlite,
        "SELECT 1 WHERE name = 'a''zqx42'".to_string(),
        Vec::new(),
    )];
    assert!(assert_no_value_in_text("q", &inlined, &[]).is_err());
    let number = vec![(
        DatabaseKind::Postgresql,
        "SELECT 1 WHERE n > 1900000001".to_string(),
        Vec::new(),
    )];
    assert!(assert_no_value_in_text("q", &number, &[1_900_000_001]).is_err());
    assert!(param_holds(
        &Param::Text("%a\\'zqx42\0%".into()),
        &Marker::Str("zqx42".into())
    ));
    assert!(!param_holds(
        &Param::Text("zqx4".into()),
        &Marker::Str("zqx42".into())
    ));
    assert!(param_holds(
        &Param::Int(1_900_000_001),
        &Marker::Num(1_900_000_001)
    ));
    assert_eq!(
        numbers_in("{ a(x: 1900000001.5) }", &Map::new()),
        vec![1_900_000_001]
    );
}
