//! Requests at the edges of what each database accepts, run through a real server on
//! PostgreSQL and on SQLite with one expected response (issue 9):
//!
//! - JSON objects wider than one builder call (PostgreSQL's `json_build_object` takes 100
//!   arguments, SQLite's functions 127 or 1000), with nested objects, strings ending in
//!   braces and nulls at the chunk edges. PostgreSQL's chunks were joined by trimming every
//!   brace at their edges, so a nested object there lost its `}` and the response was not
//!   JSON; SQLite refused a `json_object` call over its argument limit.
//! - LIKE patterns and `contains` values at the planner's 10,000-byte bound, which escaping
//!   may double, stay inside SQLite's 50,000-byte LIKE limit; one byte more is refused on
//!   both.

use fraiseql_engine::config::{Config, DatabaseConfig};
use fraiseql_engine::schema::load_schema;
use fraiseql_server::{spawn, ServeOptions};
use serde_json::{json, Value};

mod support;

const SDL: &str = r#"
type Wide @source(view: "v_wide") {
  id: ID!
  s: String
  "Absent from the data: null, which must stay a key."
  missing: String
  nested: Nested
}
type Nested { t: String inner: Inner }
type Inner { u: String }
type Query { wides: [Wide!]! }
"#;

/// The one row: strings that end or start with braces, and a nested object.
const DATA: &str =
    r#"{"id": "w1", "s": "ends}", "nested": {"t": "{starts", "inner": {"u": "}}"}}}"#;

/// How many keys the root object gets: 13 chunks of up to 50, more than any database's
/// function argument limit allows in one call.
const WIDTH: usize = 620;
/// Positions of nested objects: both edges of chunks, and the last key.
const NESTED_AT: [usize; 7] = [0, 49, 50, 99, 100, 550, 619];
/// Positions of a null value.
const NULL_AT: [usize; 3] = [1, 75, 110];
/// The wide nested object placed at position 49 (a chunk edge) has this many keys.
const NESTED_WIDTH: usize = 60;

/// The query with its aliases, and the response it must produce.
fn query_and_expected() -> (String, Value) {
    let mut query = String::from("{ wides {");
    let mut row = serde_json::Map::new();
    for i in 0..WIDTH {
        let key = format!("a{i}");
        if i == 49 {
            // A nested object itself wider than a chunk, ending in a nested object.
            query.push_str(&format!(" {key}: nested {{"));
            let mut inner = serde_json::Map::new();
            for j in 0..NESTED_WIDTH - 1 {
                query.push_str(&format!(" n{j}: t"));
                inner.insert(format!("n{j}"), json!("{starts"));
            }
            query.push_str(" last: inner { u } }");
            inner.insert("last".into(), json!({"u": "}}"}));
            row.insert(key, Value::Object(inner));
        } else if NULL_AT.contains(&i) {
            query.push_str(&format!(" {key}: missing"));
            row.insert(key, Value::Null);
        } else if NESTED_AT.contains(&i) {
            query.push_str(&format!(" {key}: nested {{ t inner {{ u }} }}"));
            row.insert(key, json!({"t": "{starts", "inner": {"u": "}}"}}));
        } else {
            query.push_str(&format!(" {key}: s"));
            row.insert(key, json!("ends}"));
        }
    }
    query.push_str(" } }");
    (query, json!({"data": {"wides": [Value::Object(row)]}}))
}

fn config(url: String) -> Config {
    let mut config = Config::default();
    // The query uses more aliases than the default limit allows.
    config.validation.max_aliases = 1000;
    config.validation.max_fields = 1000;
    config.databases.insert(
        "primary".into(),
        DatabaseConfig {
            kind: fraiseql_engine::config::DatabaseKind::from_url(&url),
            url: Some(url),
            ..DatabaseConfig::default()
        },
    );
    config
}

/// Pattern cases: (query, variables, expected response).
fn pattern_cases() -> Vec<(String, Value, Value)> {
    let q =
        |op: &str| format!("query ($p: String) {{ wides(where: {{s: {{{op}: $p}}}}) {{ id }} }}");
    let at_bound = "%".repeat(10_000);
    let over = "%".repeat(10_001);
    let none = json!({"data": {"wides": []}});
    let all = json!({"data": {"wides": [{"id": "w1"}]}});
    let refused = |op: &str| {
        json!({"errors": [{
            "message": format!("`where.s.{op}` is longer than 10000 bytes (10001 bytes)"),
            "path": ["wides"],
            "extensions": {"code": "BAD_USER_INPUT"}
        }]})
    };
    vec![
        (q("like"), json!({ "p": at_bound }), all.clone()),
        (q("ilike"), json!({ "p": at_bound }), all),
        // Escaped, each `%` doubles: 20,002 bytes of pattern.
        (q("contains"), json!({ "p": at_bound }), none.clone()),
        (q("icontains"), json!({ "p": at_bound }), none.clone()),
        (q("startsWith"), json!({ "p": at_bound }), none.clone()),
        (q("endsWith"), json!({ "p": at_bound }), none),
        (q("like"), json!({ "p": over }), refused("like")),
        (q("contains"), json!({ "p": over }), refused("contains")),
    ]
}

/// Runs every case against a server over `url` and checks the exact responses, key order
/// included.
async fn check(url: String) {
    let schema = load_schema(SDL, "schema.graphql").expect("schema compiles");
    let running = spawn(
        config(url),
        schema,
        ServeOptions {
            port: Some(0),
            host: Some("127.0.0.1".into()),
        },
    )
    .await
    .expect("server starts");
    let (query, expected) = query_and_expected();
    let mut cases = vec![(query, json!({}), expected)];
    cases.extend(pattern_cases());
    let http = reqwest::Client::new();
    for (query, variables, expected) in cases {
        let text = http
            .post(format!("http://{}/graphql", running.addr))
            .header("content-type", "application/json")
            .body(json!({ "query": query, "variables": variables }).to_string())
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("body");
        let actual: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("the response is not JSON ({e}): {text}"));
        // `preserve_order` keeps keys as written; compare the texts so order counts.
        let shown: String = query.chars().take(80).collect();
        assert_eq!(actual.to_string(), expected.to_string(), "{shown}");
    }
}

#[tokio::test]
async fn edges_on_postgres() {
    let schema = format!("fraiseql_edges_{}", std::process::id());
    let admin = support::pg_admin().await;
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
             CREATE TABLE {schema}.tb_wide (id text PRIMARY KEY, data jsonb NOT NULL);
             INSERT INTO {schema}.tb_wide VALUES ('w1', $${DATA}$$);
             CREATE VIEW {schema}.v_wide AS SELECT id, data FROM {schema}.tb_wide;"
        ))
        .await
        .expect("setup");
    let sep = if support::pg_url().contains('?') {
        '&'
    } else {
        '?'
    };
    let url = format!(
        "{}{sep}options=-c%20search_path%3D{schema}",
        support::pg_url()
    );
    let result = tokio::spawn(check(url)).await;
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await
        .expect("cleanup");
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test]
async fn edges_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("wide.db");
    let conn = rusqlite::Connection::open(&path).expect("sqlite file");
    conn.execute_batch(&format!(
        "CREATE TABLE tb_wide (id TEXT PRIMARY KEY, data TEXT NOT NULL);
         INSERT INTO tb_wide VALUES ('w1', '{DATA}');
         CREATE VIEW v_wide AS SELECT id, json(data) AS data FROM tb_wide;"
    ))
    .expect("setup");
    drop(conn);
    check(format!("sqlite://{}", path.display())).await;
}
