//! `check` against real databases: a PostgreSQL schema of its own, a MySQL/MariaDB database
//! of its own, a SQLite temp file. Where the dialects agree (views, `data` columns, keys of
//! the first row, arguments without a parameter) they give the same answer; a mutation's
//! callable (function, procedure, `fn_*` view) and its parameters' defaults differ by design.

use super::*;
use crate::db::{MysqlScratch, PgScratch};
use fraiseql_engine::config::DatabaseConfig;
use fraiseql_engine::schema::load_schema;

fn schema(sdl: &str) -> CompiledSchema {
    load_schema(sdl, "schema.graphql").unwrap_or_else(|e| panic!("schema compiles: {e:?}"))
}

fn messages(report: &CheckReport) -> Vec<&str> {
    report.problems.iter().map(|p| p.message.as_str()).collect()
}

const SDL: &str = r#"
type Order @source(view: "v_chk_order") {
  id: ID!
  customer: Customer @relation(localKey: "customer_id", remoteKey: "id")
  ghost: Ghost @relation(localKey: "id")
  bare: [Bare!]! @relation(localKey: "id", remoteKey: "order_id")
  "Embedded in the order's data: its own (missing) view is never read."
  embedded: Embedded
}
type Embedded { id: ID! }
type Customer @source(view: "v_chk_customer") { id: ID! }
type Ghost @source(view: "v_chk_ghost") { id: ID! }
type Bare @source(view: "v_chk_bare") { id: ID! }
type Remote @source(view: "v_remote", database: "elsewhere") { id: ID! }
type Query {
  orders: [Order!]!
  ghosts: [Ghost!]! @source(view: "v_chk_ghost")
}
type Mutation {
  createOrder(identifier: String!): Order! @function(name: "fn_chk_create_order")
  listOrders(status: String): [Order!]! @function(name: "fn_chk_list_orders")
  countOrders: Order! @function(name: "fn_chk_count")
  missing: Order! @function(name: "fn_chk_missing")
}
"#;

#[tokio::test]
async fn postgres_mismatches_are_reported() {
    let scratch = PgScratch::new(
        "CREATE TABLE tb (id int8, identifier text);
         CREATE VIEW v_chk_order AS SELECT id, jsonb_build_object('id', id) AS data FROM tb;
         CREATE VIEW v_chk_customer AS SELECT id, 'x'::text AS data FROM tb;
         CREATE VIEW v_chk_bare AS SELECT id FROM tb;
         CREATE TYPE mutation_response AS (status text, message text, entity_id text, entity_type text,
             entity jsonb, updated_fields text[], cascade jsonb, metadata jsonb);
         CREATE FUNCTION fn_chk_create_order(p_identifier text) RETURNS mutation_response
             LANGUAGE sql AS $$ SELECT NULL::mutation_response $$;
         CREATE FUNCTION fn_chk_list_orders(status text) RETURNS SETOF v_chk_order
             LANGUAGE sql AS $$ SELECT * FROM v_chk_order $$;
         CREATE FUNCTION fn_chk_count() RETURNS int8 LANGUAGE sql AS $$ SELECT 1::int8 $$;",
    )
    .await;
    let mut config = Config::default();
    config.databases.insert("primary".into(), scratch.config());
    let report = check(&config, &schema(SDL)).await;
    assert!(!report.unreachable());
    let mut problems = messages(&report);
    problems.sort();
    assert_eq!(
        problems,
        [
            "database 'elsewhere' is used by the schema (type 'Remote') but not configured",
            "mutation 'countOrders': function 'fn_chk_count' returns bigint; expected mutation_response or SETOF <view>",
            "mutation 'missing': function 'fn_chk_missing' does not exist in database 'primary'",
            "query 'ghosts': view 'v_chk_ghost' does not exist in database 'primary'",
            "type 'Bare': view 'v_chk_bare' has no 'data' column",
            "type 'Customer': view 'v_chk_customer': column 'data' is of type text, expected a JSON type (json or jsonb on PostgreSQL, JSON or text on MySQL/MariaDB)",
            "type 'Ghost': view 'v_chk_ghost' does not exist in database 'primary'",
        ]
    );
    assert!(
        report
            .ok
            .iter()
            .any(|l| l.starts_with("database 'primary' (PostgreSQL")),
        "{:?}",
        report.ok
    );
    assert!(report
        .ok
        .contains(&"type 'Order': view 'v_chk_order' has a 'data' column".to_string()));
    assert!(report
        .ok
        .contains(&"query 'orders': view 'v_chk_order' has a 'data' column".to_string()));
    assert!(report.ok.contains(
        &"mutation 'createOrder': function 'fn_chk_create_order' returns mutation_response"
            .to_string()
    ));
    assert!(report.ok.contains(
        &"mutation 'listOrders': function 'fn_chk_list_orders' returns SETOF v_chk_order"
            .to_string()
    ));
}

/// On MySQL/MariaDB a mutation calls a stored procedure: a stored function of the name, or
/// none, is reported with the dialect's message; a `data` column is JSON (MariaDB's JSON and a
/// view's `JSON_OBJECT` are text), a number is not.
#[tokio::test]
async fn mysql_mismatches_are_reported() {
    let scratch = MysqlScratch::new(
        "CREATE TABLE tb (id BIGINT, identifier TEXT);
         CREATE VIEW v_chk_order AS SELECT id, JSON_OBJECT('id', id) AS data FROM tb;
         CREATE VIEW v_chk_customer AS SELECT id, 1 AS data FROM tb;
         CREATE VIEW v_chk_bare AS SELECT id FROM tb;
         CREATE PROCEDURE fn_chk_create_order(IN p_identifier TEXT)
             BEGIN SELECT 'success' AS status; END;
         CREATE PROCEDURE fn_chk_list_orders(IN status TEXT)
             BEGIN SELECT data FROM v_chk_order; END;
         CREATE FUNCTION fn_chk_count() RETURNS BIGINT RETURN 1;",
    )
    .await;
    let mut config = Config::default();
    config.databases.insert("primary".into(), scratch.config());
    let report = check(&config, &schema(SDL)).await;
    assert!(!report.unreachable());
    let mut problems = messages(&report);
    problems.sort();
    let missing = |name: &str| {
        format!(
            "mutation '{name}': procedure 'fn_chk_{}' does not exist in database 'primary' \
             (on MySQL/MariaDB a mutation is a stored procedure whose result set has the \
             mutation_response columns)",
            if name == "missing" {
                "missing"
            } else {
                "count"
            }
        )
    };
    assert_eq!(
        problems,
        [
            "database 'elsewhere' is used by the schema (type 'Remote') but not configured",
            &missing("countOrders"),
            &missing("missing"),
            "query 'ghosts': view 'v_chk_ghost' does not exist in database 'primary'",
            "type 'Bare': view 'v_chk_bare' has no 'data' column",
            "type 'Customer': view 'v_chk_customer': column 'data' is of type integer, expected a JSON type (json or jsonb on PostgreSQL, JSON or text on MySQL/MariaDB)",
            "type 'Ghost': view 'v_chk_ghost' does not exist in database 'primary'",
        ]
    );
    for line in [
        "type 'Order': view 'v_chk_order' has a 'data' column",
        "query 'orders': view 'v_chk_order' has a 'data' column",
        "mutation 'createOrder': procedure 'fn_chk_create_order' exists (its result set needs \
         the mutation_response columns or a data column)",
        "mutation 'createOrder': every argument has a parameter in 'fn_chk_create_order'",
        "mutation 'listOrders': every argument has a parameter in 'fn_chk_list_orders'",
    ] {
        assert!(
            report.ok.iter().any(|l| l == line),
            "{line}: {:?}",
            report.ok
        );
    }
    assert!(
        report
            .ok
            .iter()
            .any(|l| l.starts_with("database 'primary' (MySQL/MariaDB, mysql://")),
        "{:?}",
        report.ok
    );
}

#[tokio::test]
async fn sqlite_mutations_are_fn_views() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("app.db");
    rusqlite::Connection::open(&path)
        .and_then(|c| {
            c.execute_batch(
                "CREATE TABLE tb_post (id TEXT, title TEXT);
                 CREATE VIEW v_post AS SELECT id, json_object('id', id, 'title', title) AS data FROM tb_post;
                 CREATE VIEW fn_create_post AS SELECT NULL AS title;",
            )
        })
        .expect("setup");
    let sdl = r#"
        type Post @source(view: "v_post") { id: ID! title: String }
        type Query { posts: [Post!]! }
        type Mutation {
          createPost(title: String!): Post! @function(name: "fn_create_post")
          deletePost(id: ID!): Post! @function(name: "fn_delete_post")
        }
    "#;
    let mut config = Config::default();
    config.databases.insert(
        "primary".into(),
        DatabaseConfig {
            kind: Some(fraiseql_engine::config::DatabaseKind::Sqlite),
            url: Some(format!("sqlite://{}", path.display())),
            ..Default::default()
        },
    );
    let report = check(&config, &schema(sdl)).await;
    assert_eq!(
        messages(&report),
        [
            "mutation 'deletePost': view 'fn_delete_post' does not exist in database 'primary' \
          (on SQLite a mutation is a view with an INSTEAD OF INSERT trigger, named fn_*)"
        ]
    );
    assert!(report
        .ok
        .contains(&"type 'Post': view 'v_post' has a 'data' column".to_string()));
}

/// A server nobody listens for: one `Unreachable` problem naming the URL, password hidden.
async fn unreachable_is_flagged(kind: fraiseql_engine::config::DatabaseKind, url: &str) {
    let mut config = Config::default();
    config.databases.insert(
        "primary".into(),
        DatabaseConfig {
            kind: Some(kind),
            url: Some(url.into()),
            connect_timeout_ms: 1000,
            ..Default::default()
        },
    );
    let report = check(
        &config,
        &schema("type Post { id: ID! } type Query { posts: [Post!]! }"),
    )
    .await;
    assert!(report.unreachable());
    assert_eq!(report.problems.len(), 1);
    let message = &report.problems[0].message;
    let shown = crate::db::redact(url);
    assert!(
        message.starts_with(&format!("database 'primary' ({shown}) is unreachable")),
        "{message}"
    );
    assert!(
        shown.contains(":***@") && !message.contains("secret"),
        "{message}"
    );
}

#[tokio::test]
async fn unreachable_databases_are_flagged() {
    use fraiseql_engine::config::DatabaseKind;
    unreachable_is_flagged(
        DatabaseKind::Postgresql,
        "postgresql://postgres:secret@127.0.0.1:1/postgres",
    )
    .await;
    unreachable_is_flagged(DatabaseKind::Mysql, "mysql://root:secret@127.0.0.1:1/app").await;
}

const WC_SDL: &str = r#"
    type Order @source(view: "v_wc_order") {
      id: ID!
      total: Decimal!
      "Nullable and absent from the data: null, not an error."
      note: String
      customer: Customer @relation(localKey: "customer_id", remoteKey: "id")
      lines: [Customer!]! @relation(localKey: "id", remoteKey: "order_ref")
    }
    type Customer @source(view: "v_wc_customer") { id: ID! }
    type Query { orders: [Order!]! }
    input CreateOrderInput { identifier: String! total: Decimal! }
    type Mutation {
      createOrder(input: CreateOrderInput!): Order! @function(name: "fn_wc_create")
      payOrder(id: ID!): Order! @function(name: "fn_wc_pay")
      noteOrder(id: ID!): Order! @function(name: "fn_wc_note")
    }
"#;

/// What both PostgreSQL and MySQL/MariaDB report for [`WC_SDL`] over the same data: a first
/// row whose `data` misspells `total` and `customer_id`, a relation matching a key nobody
/// has, and `fn_wc_create` with `p_identifer` for argument `identifier`.
const WC_PROBLEMS: [&str; 4] = [
    "mutation 'createOrder': function `fn_wc_create` has no parameter for argument `identifier`",
    "type 'Order': field 'total' reads key 'total', which the data of view 'v_wc_order' does not have (did you mean 'totl'?)",
    "type 'Order': relation 'customer' joins on key 'customer_id', which the data of view 'v_wc_order' does not have (did you mean 'customer'?)",
    "type 'Order': relation 'lines' matches 'order_ref' of view 'v_wc_customer', which is neither a column of it nor a field of type 'Customer'",
];

/// The sorted problems and the report of `check` for [`WC_SDL`] against `db`.
async fn wrong_columns_keys_and_parameters(db: DatabaseConfig) -> (Vec<String>, CheckReport) {
    let mut config = Config::default();
    config.databases.insert("primary".into(), db);
    let report = check(&config, &schema(WC_SDL)).await;
    let mut problems: Vec<String> = messages(&report).into_iter().map(String::from).collect();
    problems.sort();
    assert!(report
        .ok
        .contains(&"mutation 'noteOrder': every argument has a parameter in 'fn_wc_note'".into()));
    assert!(report
        .ok
        .contains(&"type 'Customer': view 'v_wc_customer' has every key the schema reads".into()));
    (problems, report)
}

#[tokio::test]
async fn wrong_columns_keys_and_parameters_are_reported() {
    let scratch = PgScratch::new(
        "CREATE TABLE tb_wc (id int, customer int, total numeric);
         INSERT INTO tb_wc VALUES (1, 7, 9.5);
         CREATE VIEW v_wc_order AS
             SELECT id, jsonb_build_object('id', id, 'totl', total, 'customer', customer) AS data FROM tb_wc;
         CREATE VIEW v_wc_customer AS SELECT id, jsonb_build_object('id', id) AS data FROM tb_wc;
         CREATE TYPE mutation_response AS (status text, message text, entity_id text, entity_type text,
             entity jsonb, updated_fields text[], cascade jsonb, metadata jsonb);
         CREATE FUNCTION fn_wc_create(p_identifer text, p_total numeric) RETURNS mutation_response
             LANGUAGE sql AS $$ SELECT NULL::mutation_response $$;
         CREATE FUNCTION fn_wc_pay(p_id text, p_amount numeric) RETURNS mutation_response
             LANGUAGE sql AS $$ SELECT NULL::mutation_response $$;
         CREATE FUNCTION fn_wc_note(p_id text, p_note text DEFAULT NULL) RETURNS mutation_response
             LANGUAGE sql AS $$ SELECT NULL::mutation_response $$;",
    )
    .await;
    let (problems, _) = wrong_columns_keys_and_parameters(scratch.config()).await;
    let mut expected: Vec<&str> = WC_PROBLEMS.to_vec();
    // A PostgreSQL parameter without a default must be given.
    expected.push(
        "mutation 'payOrder': function 'fn_wc_pay' needs parameter 'p_amount' (no default), which no argument provides",
    );
    expected.sort();
    assert_eq!(problems, expected);
}

/// The same on MySQL/MariaDB, where a procedure parameter no argument binds is passed NULL,
/// so `fn_wc_pay`'s `p_amount` is no problem.
#[tokio::test]
async fn mysql_wrong_columns_keys_and_parameters_are_reported() {
    let scratch = MysqlScratch::new(
        "CREATE TABLE tb_wc (id INT, customer INT, total DECIMAL(10, 2));
         INSERT INTO tb_wc VALUES (1, 7, 9.5);
         CREATE VIEW v_wc_order AS
             SELECT id, JSON_OBJECT('id', id, 'totl', total, 'customer', customer) AS data FROM tb_wc;
         CREATE VIEW v_wc_customer AS SELECT id, JSON_OBJECT('id', id) AS data FROM tb_wc;
         CREATE PROCEDURE fn_wc_create(IN p_identifer TEXT, IN p_total DECIMAL(10, 2))
             BEGIN SELECT 'success' AS status; END;
         CREATE PROCEDURE fn_wc_pay(IN p_id TEXT, IN p_amount DECIMAL(10, 2))
             BEGIN SELECT 'success' AS status; END;
         CREATE PROCEDURE fn_wc_note(IN p_id TEXT, IN p_note TEXT)
             BEGIN SELECT 'success' AS status; END;",
    )
    .await;
    let (problems, report) = wrong_columns_keys_and_parameters(scratch.config()).await;
    assert_eq!(problems, WC_PROBLEMS);
    assert!(report
        .ok
        .contains(&"mutation 'payOrder': every argument has a parameter in 'fn_wc_pay'".into()));
}

const REPLICA_SDL: &str = r#"
    type Item @source(view: "v_item") { id: ID! }
    type Query { items: [Item!]! }
"#;

/// A primary with four replicas: refused at its port, without the view, with the view's
/// columns of other types, and a faithful copy. Each is reported on its own; the primary's
/// checks are unchanged.
async fn replicas_are_checked(
    kind: fraiseql_engine::config::DatabaseKind,
    closed: &str,
    primary: DatabaseConfig,
    replicas: [&str; 3],
) {
    let mut config = Config::default();
    let [missing, different, copy] = replicas;
    let replicas = [closed, missing, different, copy].map(str::to_string);
    config.databases.insert(
        "primary".into(),
        DatabaseConfig {
            kind: Some(kind),
            replicas: replicas.to_vec(),
            connect_timeout_ms: 1000,
            ..primary
        },
    );
    let report = check(&config, &schema(REPLICA_SDL)).await;
    assert!(report.unreachable());
    let who = |i: usize| {
        format!(
            "database 'primary' replica {i} ({})",
            crate::db::redact(&replicas[i])
        )
    };
    let problems = messages(&report);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(
        problems[0].starts_with(&format!("{} is unreachable: ", who(0))),
        "{problems:#?}"
    );
    assert!(!problems[0].contains("secret"), "{}", problems[0]);
    assert_eq!(
        report.problems[0].kind,
        ProblemKind::Unreachable,
        "{problems:#?}"
    );
    assert_eq!(
        problems[1],
        format!("query 'items': view 'v_item' does not exist on {}", who(1))
    );
    assert!(
        problems[2].starts_with(&format!(
            "query 'items': view 'v_item' on {} has columns (id text, data ",
            who(2)
        )) && problems[2].contains("the primary's has (id integer, data "),
        "{}",
        problems[2]
    );
    assert!(
        report.ok.contains(&format!(
            "{} is reachable and holds the views the schema reads as the primary does",
            who(3)
        )),
        "{:#?}",
        report.ok
    );
    assert!(report
        .ok
        .contains(&"query 'items': view 'v_item' has a 'data' column".to_string()));
}

#[tokio::test]
async fn postgres_replicas_are_checked_against_the_primary() {
    let view = "CREATE TABLE tb (id int8); INSERT INTO tb VALUES (1);
                CREATE VIEW v_item AS SELECT id, jsonb_build_object('id', id::text) AS data FROM tb;";
    let primary = PgScratch::new(view).await;
    let missing = PgScratch::new("").await;
    let different = PgScratch::new(
        "CREATE VIEW v_item AS SELECT '1'::text AS id, jsonb_build_object('id', '1') AS data;",
    )
    .await;
    let copy = PgScratch::new(view).await;
    replicas_are_checked(
        fraiseql_engine::config::DatabaseKind::Postgresql,
        "postgresql://postgres:secret@127.0.0.1:1/postgres",
        primary.config(),
        [&missing.url, &different.url, &copy.url],
    )
    .await;
}

#[tokio::test]
async fn mysql_replicas_are_checked_against_the_primary() {
    let view = "CREATE TABLE tb (id BIGINT); INSERT INTO tb VALUES (1);
                CREATE VIEW v_item AS SELECT id, JSON_OBJECT('id', CAST(id AS CHAR)) AS data FROM tb;";
    let primary = MysqlScratch::new(view).await;
    let missing = MysqlScratch::new("").await;
    let different = MysqlScratch::new(
        "CREATE TABLE tb (id VARCHAR(10)); INSERT INTO tb VALUES ('1');
         CREATE VIEW v_item AS SELECT id, JSON_OBJECT('id', id) AS data FROM tb;",
    )
    .await;
    let copy = MysqlScratch::new(view).await;
    replicas_are_checked(
        fraiseql_engine::config::DatabaseKind::Mysql,
        "mysql://root:secret@127.0.0.1:1/app",
        primary.config(),
        [&missing.url, &different.url, &copy.url],
    )
    .await;
}

/// A relation across databases whose key columns hold a number on one side and text on the
/// other is reported; alike keys are fine.
#[tokio::test]
async fn keys_across_databases_are_compared_in_the_catalogs() {
    let sdl = r#"
type Order @source(view: "v_xorder") {
  id: ID!
  customer: Customer @relation(localKey: "customer_id")
  seller: Seller @relation(localKey: "seller_id")
}
type Customer @source(view: "v_xcustomer", database: "crm") { id: ID! }
type Seller @source(view: "v_xseller", database: "crm") { id: ID! }
type Query { orders: [Order!]! }
"#;
    let orders = PgScratch::new(
        "CREATE VIEW v_xorder AS SELECT 1::int8 AS customer_id, 'a'::text AS seller_id,
           jsonb_build_object('id', '1', 'customer_id', 1, 'seller_id', 'a') AS data;",
    )
    .await;
    let crm = MysqlScratch::new(
        "CREATE TABLE tb_x (id CHAR(36) COLLATE utf8mb4_nopad_bin);
         INSERT INTO tb_x VALUES ('a');
         CREATE VIEW v_xcustomer AS SELECT id, JSON_OBJECT('id', id) AS data FROM tb_x;
         CREATE VIEW v_xseller AS SELECT id, JSON_OBJECT('id', id) AS data FROM tb_x;",
    )
    .await;
    let mut config = Config::default();
    config.databases.insert("primary".into(), orders.config());
    config.databases.insert("crm".into(), crm.config());
    let report = check(&config, &schema(sdl)).await;
    assert_eq!(
        messages(&report),
        [
            "relation 'Order.customer': key 'customer_id' of view 'v_xorder' (database 'primary') \
          is a number, but key 'id' of view 'v_xcustomer' (database 'crm') is text: keys \
          across databases must compare alike"
        ]
    );
    assert!(report
        .ok
        .iter()
        .any(|o| o.starts_with("relation 'Order.seller'")));
}
