//! Requests at the edges of what each database accepts, run through a real server on
//! PostgreSQL, SQLite and MySQL/MariaDB with one expected response (issue 9):
//!
//! - JSON objects wider than one builder call (PostgreSQL's `json_build_object` takes 100
//!   arguments, SQLite's functions 127 or 1000), with nested objects, strings ending in
//!   braces and nulls at the chunk edges. PostgreSQL's chunks were joined by trimming every
//!   brace at their edges, so a nested object there lost its `}` and the response was not
//!   JSON; SQLite refused a `json_object` call over its argument limit.
//! - LIKE patterns and `contains` values at the planner's 10,000-byte bound, which escaping
//!   may double, stay inside SQLite's 50,000-byte LIKE limit; one byte more is refused on
//!   every database.
//! - Text that SQL quoting and collations get wrong: a backslash before a quote (`a\'b`), a
//!   value ending in a backslash, an enum's stored value holding `'`, `` ` ``, `?1` and `\`
//!   (it is written into the SQL as a literal, which MySQL's placeholder numbering must skip),
//!   and values that differ only in case or a trailing space, which MariaDB's default
//!   collations call equal. Each filter runs on a column of the view and on a key of its
//!   data; a huge `in` list is one parameter.

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
type Word @source(view: "v_word") {
  id: ID!
  "A column of the view (and a key of its data)."
  s: String
  "The same value, only in the data."
  t: String
  mood: Mood
}
enum Mood { ODD @value(stored: "it's `odd` ?1 \\") PLAIN @value(stored: "plain") }
type Query { wides: [Wide!]! words: [Word!]! }
"#;

/// The stored value of `Mood.ODD` (data keys and view names are GraphQL names: a quote in
/// one is refused when the schema compiles).
const ODD: &str = "it's `odd` ?1 \\";

/// The `Word` rows: (id, text). Each is stored in column `s` and under data keys `s` and `t`;
/// the last row's mood is [`ODD`], the others' `plain`.
const WORDS: [(&str, &str); 6] = [
    ("w1", r"a\'b"),
    ("w2", r"ends\"),
    ("w3", "a"),
    ("w4", "A"),
    ("w5", "a "),
    ("w6", ODD),
];

/// Each word row as (id, text, data JSON).
fn word_rows() -> Vec<(String, String, String)> {
    WORDS
        .iter()
        .map(|(id, text)| {
            let mood = if *text == ODD { ODD } else { "plain" };
            let data = json!({"id": id, "s": text, "t": text, "mood": mood});
            (id.to_string(), text.to_string(), data.to_string())
        })
        .collect()
}

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

/// Word cases: (query, variables, expected response).
fn word_cases() -> Vec<(String, Value, Value)> {
    let ids = |ids: &[&str]| {
        let words: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
        json!({"data": {"words": words}})
    };
    let all: Vec<Value> = WORDS
        .iter()
        .map(|(id, text)| {
            let mood = if *text == ODD { "ODD" } else { "PLAIN" };
            json!({"id": id, "s": text, "t": text, "mood": mood})
        })
        .collect();
    let mut cases = vec![
        // Values come back byte for byte; the enum's stored value maps to its name.
        (
            "{ words { id s t mood } }".to_string(),
            json!({}),
            json!({"data": {"words": all}}),
        ),
        (
            "{ words(where: {mood: {eq: ODD}}) { id } }".into(),
            json!({}),
            ids(&["w6"]),
        ),
        // Byte order: capitals first, a prefix before what extends it.
        (
            "{ words(orderBy: {s: ASC}) { id } }".into(),
            json!({}),
            ids(&["w4", "w3", "w5", "w1", "w2", "w6"]),
        ),
    ];
    for field in ["s", "t"] {
        let q = |op: &str| {
            format!("query ($v: String) {{ words(where: {{{field}: {{{op}: $v}}}}) {{ id }} }}")
        };
        let list = |op: &str| {
            format!("query ($v: [String!]) {{ words(where: {{{field}: {{{op}: $v}}}}) {{ id }} }}")
        };
        let mut huge: Vec<String> = (0..10_000).map(|i| format!("x{i}")).collect();
        huge.push("a".into());
        let field_cases = [
            (q("eq"), json!(r"a\'b"), ids(&["w1"])),
            (q("eq"), json!(r"ends\"), ids(&["w2"])),
            (q("eq"), json!("a"), ids(&["w3"])),
            (q("eq"), json!("A"), ids(&["w4"])),
            (q("eq"), json!("a "), ids(&["w5"])),
            (q("eq"), json!(ODD), ids(&["w6"])),
            (q("neq"), json!("a"), ids(&["w1", "w2", "w4", "w5", "w6"])),
            (q("gt"), json!("a"), ids(&["w1", "w2", "w5", "w6"])),
            (list("in"), json!(["a", r"ends\", "A "]), ids(&["w2", "w3"])),
            (
                list("nin"),
                json!(["a", "A", "a "]),
                ids(&["w1", "w2", "w6"]),
            ),
            (list("in"), json!(["a "]), ids(&["w5"])),
            (
                list("nin"),
                json!(["a"]),
                ids(&["w1", "w2", "w4", "w5", "w6"]),
            ),
            (list("in"), json!(huge), ids(&["w3"])),
            (q("contains"), json!(r"\'"), ids(&["w1"])),
            (q("endsWith"), json!(r"\"), ids(&["w2", "w6"])),
            (q("startsWith"), json!("a"), ids(&["w1", "w3", "w5"])),
            (q("like"), json!(r"%\\%"), ids(&["w1", "w2", "w6"])),
            (q("like"), json!("a_"), ids(&["w5"])),
            (q("ilike"), json!("a"), ids(&["w3", "w4"])),
            (q("icontains"), json!("'B"), ids(&["w1"])),
        ];
        for (query, v, expected) in field_cases {
            cases.push((query, json!({ "v": v }), expected));
        }
    }
    cases
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
    cases.extend(word_cases());
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
        let given: String = variables.to_string().chars().take(80).collect();
        assert_eq!(
            actual.to_string(),
            expected.to_string(),
            "{shown} with {given}"
        );
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
             CREATE VIEW {schema}.v_wide AS SELECT id, data FROM {schema}.tb_wide;
             CREATE TABLE {schema}.tb_word (id text PRIMARY KEY, s text COLLATE \"C\", data jsonb);
             CREATE VIEW {schema}.v_word AS SELECT id, s, data FROM {schema}.tb_word;"
        ))
        .await
        .expect("setup");
    for (id, text, data) in word_rows() {
        admin
            .execute(
                &format!("INSERT INTO {schema}.tb_word VALUES ($1, $2, $3::text::jsonb)"),
                &[&id, &text, &data],
            )
            .await
            .expect("insert");
    }
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
         CREATE VIEW v_wide AS SELECT id, json(data) AS data FROM tb_wide;
         CREATE TABLE tb_word (id TEXT PRIMARY KEY, s TEXT, data TEXT NOT NULL);
         CREATE VIEW v_word AS SELECT id, s, json(data) AS data FROM tb_word;"
    ))
    .expect("setup");
    for (id, text, data) in word_rows() {
        conn.execute("INSERT INTO tb_word VALUES (?1, ?2, ?3)", (id, text, data))
            .expect("insert");
    }
    drop(conn);
    check(format!("sqlite://{}", path.display())).await;
}

/// MariaDB's JSON is LONGTEXT with a validity check; every row goes in as bound values, so no
/// literal depends on the admin connection's backslash rules.
#[tokio::test]
async fn edges_on_mysql() {
    use mysql_async::prelude::Queryable;
    let scratch = support::MysqlScratch::new(
        "CREATE TABLE tb_wide (id VARCHAR(10) PRIMARY KEY, data JSON NOT NULL);
         CREATE VIEW v_wide AS SELECT id, data FROM tb_wide;
         CREATE TABLE tb_word (id VARCHAR(10) PRIMARY KEY, s VARCHAR(100), data JSON NOT NULL);
         CREATE VIEW v_word AS SELECT id, s, data FROM tb_word;",
    )
    .await;
    let mut conn = scratch.conn().await;
    conn.exec_drop("INSERT INTO tb_wide VALUES ('w1', ?)", (DATA,))
        .await
        .expect("insert");
    for row in word_rows() {
        conn.exec_drop("INSERT INTO tb_word VALUES (?, ?, ?)", row)
            .await
            .expect("insert");
    }
    drop(conn);
    check(scratch.url.clone()).await;
}
