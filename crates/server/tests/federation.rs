//! Relations across databases of different kinds, through a real server (issue 11): orders
//! on PostgreSQL, their payments on MariaDB, the payments' refunds on SQLite. Each database
//! is read with one statement per level whatever the number of parents, the JSON of each is
//! joined in memory in key order, relation arguments apply per parent, and a database that
//! cannot be reached costs only its own fields, each with its own error and path.

use serde_json::{json, Value};

mod support;

const SDL: &str = r#"
type Order @source(view: "v_order") {
  id: ID!
  customerId: ID
  payments: [Payment!]! @relation(localKey: "id", remoteKey: "order_id")
}
type Payment @source(view: "v_payment", database: "payments") {
  id: ID!
  orderId: ID!
  amount: Int!
  note: String
  refund: Refund @relation(localKey: "id", remoteKey: "payment_id")
  order: Order @relation(localKey: "order_id")
}
type Refund @source(view: "v_refund", database: "refunds") {
  id: ID!
  paymentId: ID!
  reason: String
}
type Query {
  orders(limit: Int): [Order!]!
  payments: [Payment!]!
}
type Mutation {
  renameOrder(id: ID!, customerId: ID!): Order @function(name: "fn_rename_order")
}
"#;

/// Text that must come back exactly: quotes, a backslash, a JSON array that looks like a
/// marker, and a string that looks like a failure sentinel.
const ODD: &str = r#"it's "odd" \ ["x", 0, "p1"] x!0"#;

async fn orders_db(count: usize) -> support::PgScratch {
    support::PgScratch::new(&format!(
        "CREATE TABLE tb_order (id text PRIMARY KEY, customer_id text);
         INSERT INTO tb_order SELECT 'o' || n, CASE WHEN n = 3 THEN NULL ELSE 'c' || n END
           FROM generate_series(1, {count}) n;
         CREATE VIEW v_order AS SELECT id, jsonb_build_object('id', id, 'customer_id',
           customer_id) AS data FROM tb_order;
         CREATE TYPE mutation_response AS (status text, message text, entity_id text,
           entity_type text, entity jsonb, updated_fields text[], cascade jsonb, metadata jsonb);
         CREATE FUNCTION fn_rename_order(p_id text, p_customer_id text)
           RETURNS mutation_response LANGUAGE plpgsql AS $$
         DECLARE r mutation_response;
         BEGIN
           UPDATE tb_order SET customer_id = p_customer_id WHERE id = p_id;
           r.status := 'success'; r.entity_id := p_id; r.entity_type := 'Order';
           RETURN r;
         END $$;"
    ))
    .await
}

/// Payments p1 (10) and p2 (20) of o1, p3 (5) of o2, none of o3, and one per order from o4
/// on (so that many parents have children).
async fn payments_db(orders: usize) -> support::MysqlScratch {
    let mut rows = vec![
        "('p1', 'o1', 10, 'first')".to_string(),
        "('p2', 'o1', 20, NULL)".to_string(),
        "('p3', 'o2', 5, 'x')".to_string(),
    ];
    rows.extend((4..=orders).map(|n| format!("('p{n}', 'o{n}', {n}, NULL)")));
    support::MysqlScratch::new(&format!(
        "CREATE TABLE tb_payment (id VARCHAR(20) PRIMARY KEY, order_id VARCHAR(20) NOT NULL,
           amount INT NOT NULL, note VARCHAR(200), KEY (order_id));
         INSERT INTO tb_payment VALUES {};
         CREATE VIEW v_payment AS SELECT id, order_id, JSON_OBJECT('id', id, 'order_id',
           order_id, 'amount', amount, 'note', note) AS data FROM tb_payment;",
        rows.join(", ")
    ))
    .await
}

fn refunds_db(dir: &tempfile::TempDir) -> fraiseql_engine::config::DatabaseConfig {
    let path = dir.path().join("refunds.db");
    let conn = rusqlite::Connection::open(&path).expect("open sqlite");
    conn.execute_batch(
        "CREATE TABLE tb_refund (id TEXT PRIMARY KEY, payment_id TEXT NOT NULL, reason TEXT);
         CREATE VIEW v_refund AS SELECT id, payment_id, json_object('id', id, 'payment_id',
           payment_id, 'reason', reason) AS data FROM tb_refund;",
    )
    .expect("setup sqlite");
    conn.execute(
        "INSERT INTO tb_refund VALUES ('r1', 'p1', ?1)",
        rusqlite::params![ODD],
    )
    .expect("insert refund");
    support::database(format!("sqlite://{}", path.display()))
}

struct World {
    orders: support::PgScratch,
    _payments: support::MysqlScratch,
    _dir: tempfile::TempDir,
    running: fraiseql_server::Running,
    http: reqwest::Client,
}

impl World {
    /// The three databases with `orders` orders; `payments_url` replaces the payments
    /// database's URL (an unreachable one for the failure cases).
    async fn new(orders: usize, payments_url: Option<&str>) -> Self {
        Self::with(orders, payments_url, |_| {}).await
    }

    /// [`World::new`], with the config changed by `tune` before the server starts.
    async fn with(
        orders: usize,
        payments_url: Option<&str>,
        tune: impl FnOnce(&mut fraiseql_engine::config::Config),
    ) -> Self {
        let orders_db = orders_db(orders).await;
        let payments = payments_db(orders).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = support::with_primary(support::database(orders_db.url.clone()));
        let payments_url = payments_url.map_or(payments.url.clone(), str::to_string);
        config
            .databases
            .insert("payments".into(), support::database(payments_url));
        config.databases.insert("refunds".into(), refunds_db(&dir));
        tune(&mut config);
        let running = support::serve(config, SDL).await;
        Self {
            orders: orders_db,
            _payments: payments,
            _dir: dir,
            running,
            http: reqwest::Client::new(),
        }
    }

    async fn query(&self, query: &str) -> Value {
        let (status, body) = support::graphql(
            &self.http,
            &support::base(&self.running),
            json!({ "query": query }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Statements sent to each database so far, from `/metrics`.
    async fn statements(&self) -> Vec<(String, u64)> {
        let text = self
            .http
            .get(format!("{}/metrics", support::base(&self.running)))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        let mut out: Vec<(String, u64)> = Vec::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("fraiseql_database_queries_total{") else {
                continue;
            };
            let database = rest
                .split("database=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_default()
                .to_string();
            let n: u64 = line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0) as u64;
            match out.iter_mut().find(|(d, _)| *d == database) {
                Some((_, total)) => *total += n,
                None => out.push((database, n)),
            }
        }
        out.sort();
        out
    }

    /// Statements each database was sent by `query`.
    async fn statements_for(&self, query: &str) -> (Value, Vec<(String, u64)>) {
        let before = self.statements().await;
        let body = self.query(query).await;
        let after = self.statements().await;
        let sent = after
            .iter()
            .map(|(db, n)| {
                let was = before.iter().find(|(d, _)| d == db).map_or(0, |(_, n)| *n);
                (db.clone(), n - was)
            })
            .collect();
        (body, sent)
    }

    async fn stop(self) {
        let _ = self.running.stop().await;
        self.orders.drop().await;
    }
}

#[tokio::test]
async fn relations_cross_three_databases_in_key_order() {
    let world = World::new(4, None).await;
    let body = world
        .query("{ orders { id payments { id amount note refund { id reason } } } }")
        .await;
    assert_eq!(
        body,
        json!({"data": {"orders": [
            {"id": "o1", "payments": [
                {"id": "p1", "amount": 10, "note": "first", "refund": {"id": "r1", "reason": ODD}},
                {"id": "p2", "amount": 20, "note": null, "refund": null}
            ]},
            {"id": "o2", "payments": [{"id": "p3", "amount": 5, "note": "x", "refund": null}]},
            {"id": "o3", "payments": []},
            {"id": "o4", "payments": [{"id": "p4", "amount": 4, "note": null, "refund": null}]}
        ]}})
    );
    // A mutation's read-back reads its relations into other databases after the commit.
    let body = world
        .query(r#"mutation { renameOrder(id: "o2", customerId: "c9") { customerId payments { id } } }"#)
        .await;
    assert_eq!(
        body,
        json!({"data": {"renameOrder": {"customerId": "c9", "payments": [{"id": "p3"}]}}})
    );
    // Back the other way, from a root field on MariaDB to PostgreSQL.
    let body = world
        .query("{ payments { id order { id customerId } } }")
        .await;
    assert_eq!(
        body["data"]["payments"][2],
        json!({"id": "p3", "order": {"id": "o2", "customerId": "c9"}})
    );
    world.stop().await;
}

#[tokio::test]
async fn relation_arguments_apply_per_parent_in_the_target_database() {
    let world = World::new(4, None).await;
    let body = world
        .query(
            "{ orders(limit: 2) {
                 id
                 top: payments(orderBy: [{amount: DESC}], limit: 1) { id }
                 big: payments(where: {amount: {gte: 10}}) { id }
                 rest: payments(offset: 1) { id }
               } }",
        )
        .await;
    assert_eq!(
        body,
        json!({"data": {"orders": [
            {"id": "o1", "top": [{"id": "p2"}], "big": [{"id": "p1"}, {"id": "p2"}], "rest": [{"id": "p2"}]},
            {"id": "o2", "top": [{"id": "p3"}], "big": [], "rest": []}
        ]}})
    );
    // A hostile value in a remote `where` is a value like any other.
    let body = world
        .query(
            r#"{ orders(limit: 2) { id payments(where: {note: {eq: "x' OR '1'='1"}}) { id } } }"#,
        )
        .await;
    assert_eq!(
        body,
        json!({"data": {"orders": [{"id": "o1", "payments": []}, {"id": "o2", "payments": []}]}})
    );
    world.stop().await;
}

#[tokio::test]
async fn five_hundred_parents_cost_one_statement_per_database() {
    let world = World::new(500, None).await;
    let (body, sent) = world
        .statements_for("{ orders(limit: 500) { id payments(limit: 10) { id refund { id } } } }")
        .await;
    let orders = body["data"]["orders"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(orders.len(), 500, "{body}");
    let last = orders.iter().find(|o| o["id"] == "o500").expect("o500");
    assert_eq!(last["payments"], json!([{"id": "p500", "refund": null}]));
    assert_eq!(
        sent,
        [
            ("payments".to_string(), 1),
            ("primary".to_string(), 1),
            ("refunds".to_string(), 1)
        ]
    );
    world.stop().await;
}

/// `[federation] batch_size` splits a level's keys: 1,000 parents with 100 keys per
/// statement are 1 + 10 statements, and the answer is the same.
#[tokio::test]
async fn keys_are_split_by_the_batch_size() {
    let world = World::with(1000, None, |c| {
        c.federation.batch_size = 100;
        c.query_defaults.max_page_size = 1000;
    })
    .await;
    let (body, sent) = world
        .statements_for("{ orders(limit: 1000) { id payments(limit: 1) { id } } }")
        .await;
    let orders = body["data"]["orders"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(orders.len(), 1000, "{body}");
    let with_payments = orders.iter().filter(|o| o["payments"] != json!([])).count();
    assert_eq!(with_payments, 999, "o3 has none");
    assert_eq!(
        sent,
        [("payments".to_string(), 10), ("primary".to_string(), 1)]
    );
    world.stop().await;
}

#[tokio::test]
async fn an_unreachable_database_nulls_only_its_own_fields() {
    let world = World::new(2, Some("mysql://root@127.0.0.1:1/payments")).await;
    let body = world
        .query("{ orders { id customerId payments { id } } }")
        .await;
    assert_eq!(
        body["data"],
        json!({"orders": [
            {"id": "o1", "customerId": "c1", "payments": null},
            {"id": "o2", "customerId": "c2", "payments": null}
        ]})
    );
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2, "{body}");
    for (i, e) in errors.iter().enumerate() {
        assert_eq!(e["path"], json!(["orders", i, "payments"]));
        assert_eq!(e["extensions"]["code"], "DATABASE_UNAVAILABLE");
        assert_eq!(e["extensions"]["database"], "payments");
        assert_eq!(e["message"], "Database 'payments' unavailable");
    }
    world.stop().await;
}

/// Keys that are JSON numbers, read through JSON paths on all three databases (no key
/// column in the views): they match as text whatever the database's own number type.
#[tokio::test]
async fn numeric_keys_match_across_databases() {
    const SDL: &str = r#"
type Account @source(view: "v_account") {
  id: Int!
  entries: [Entry!]! @relation(localKey: "id", remoteKey: "account_id")
  limit: Limit @relation(localKey: "id", remoteKey: "account_id")
}
type Entry @source(view: "v_entry", database: "ledger") { id: Int! accountId: Int! }
type Limit @source(view: "v_limit", database: "limits") { accountId: Int! amount: Int! }
type Query { accounts: [Account!]! }
"#;
    let accounts = support::PgScratch::new(
        "CREATE VIEW v_account AS SELECT jsonb_build_object('id', n) AS data
           FROM generate_series(1, 3) n;",
    )
    .await;
    let ledger = support::MysqlScratch::new(
        "CREATE VIEW v_entry AS SELECT JSON_OBJECT('id', seq, 'account_id', seq MOD 2 + 1) AS data
           FROM seq_1_to_4;",
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("limits.db");
    rusqlite::Connection::open(&path)
        .expect("open sqlite")
        .execute_batch(
            "CREATE VIEW v_limit AS SELECT json_object('account_id', 2, 'amount', 500) AS data;",
        )
        .expect("setup sqlite");
    let mut config = support::with_primary(support::database(accounts.url.clone()));
    config
        .databases
        .insert("ledger".into(), support::database(ledger.url.clone()));
    config.databases.insert(
        "limits".into(),
        support::database(format!("sqlite://{}", path.display())),
    );
    let running = support::serve(config, SDL).await;
    let (_, body) = support::graphql(
        &reqwest::Client::new(),
        &support::base(&running),
        json!({"query": "{ accounts { id entries { id } limit { amount } } }"}),
    )
    .await;
    assert_eq!(
        body,
        json!({"data": {"accounts": [
            {"id": 1, "entries": [{"id": 2}, {"id": 4}], "limit": null},
            {"id": 2, "entries": [{"id": 1}, {"id": 3}], "limit": {"amount": 500}},
            {"id": 3, "entries": [], "limit": null}
        ]}})
    );
    let _ = running.stop().await;
    accounts.drop().await;
}

/// A relation cycle across databases (order → payments → order → …) is bounded by the depth
/// limit like any other nesting: refused before any database is read.
#[tokio::test]
async fn relation_cycles_across_databases_are_bounded_by_the_depth_limit() {
    let world = World::with(2, None, |c| c.validation.max_query_depth = 4).await;
    let (body, sent) = world
        .statements_for("{ orders { payments { order { payments { order { id } } } } } }")
        .await;
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(
        body["errors"][0]["message"], "query depth 5 exceeds the maximum of 4",
        "{body}"
    );
    assert!(sent.iter().all(|(_, n)| *n == 0), "{sent:?}");
    // Within the limit the cycle is answered, one statement per database per level.
    let (body, sent) = world
        .statements_for("{ orders { id payments { order { id } } } }")
        .await;
    assert_eq!(
        body["data"]["orders"][1],
        json!({"id": "o2", "payments": [{"order": {"id": "o2"}}]})
    );
    assert_eq!(
        sent,
        [("payments".to_string(), 1), ("primary".to_string(), 2)]
    );
    world.stop().await;
}
