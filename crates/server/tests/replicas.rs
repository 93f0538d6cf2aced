//! Read replicas through a real server (issue 11), on PostgreSQL and on MariaDB. The primary
//! and each replica are databases of their own holding the same `v_item` view, whose data
//! names the server (`"source": "primary"`, `"replica-0"`, …), so every answer shows where
//! the read went: queries take turns on the replicas, a mutation and its read-back run on
//! the primary, a replica that is refused or does not exist yet is skipped without the
//! client noticing and is used again once it answers, and `/health` lists each replica.

use fraiseql_engine::config::{Config, DatabaseConfig};
use fraiseql_server::Running;
use mysql_async::prelude::Queryable;
use reqwest::header::AUTHORIZATION;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

mod support;

const SDL: &str = r#"
type Item @source(view: "v_item") { id: ID! name: String! source: String! }
type Query { items: [Item!]! }
type Mutation { createItem(name: String!): Item @function(name: "fn_create_item") }
"#;

const TOKEN: &str = "0123456789abcdef0123456789abcdef-replicas";

/// Nothing listens on port 1: connecting is refused at once.
const PG_CLOSED: &str = "postgresql://postgres@127.0.0.1:1/postgres";
const MYSQL_CLOSED: &str = "mysql://root@127.0.0.1:1/mysql";

/// How long a replica that became reachable may take to be used again (it is probed every
/// second).
const COMEBACK: Duration = Duration::from_secs(15);

/// One item, `seed`, and `createItem`, on PostgreSQL.
fn pg_setup(source: &str) -> String {
    format!(
        "CREATE TABLE tb_item (id text PRIMARY KEY DEFAULT gen_random_uuid()::text, name text NOT NULL);
         INSERT INTO tb_item (id, name) VALUES ('1', 'seed');
         CREATE VIEW v_item AS
           SELECT id, jsonb_build_object('id', id, 'name', name, 'source', '{source}'::text) AS data
           FROM tb_item;
         CREATE TYPE mutation_response AS (status text, message text, entity_id text,
           entity_type text, entity jsonb, updated_fields text[], cascade jsonb, metadata jsonb);
         CREATE FUNCTION fn_create_item(p_name text) RETURNS mutation_response
         LANGUAGE plpgsql AS $$
         DECLARE r mutation_response;
         BEGIN
           INSERT INTO tb_item (name) VALUES (p_name) RETURNING id INTO r.entity_id;
           r.status := 'success';
           r.message := 'created';
           r.entity_type := 'Item';
           RETURN r;
         END
         $$;"
    )
}

/// The same on MariaDB, the mutation a procedure.
fn mysql_setup(source: &str) -> String {
    format!(
        "CREATE TABLE tb_item (id VARCHAR(36) PRIMARY KEY, name VARCHAR(100) NOT NULL);
         INSERT INTO tb_item VALUES ('1', 'seed');
         CREATE VIEW v_item AS
           SELECT id, JSON_OBJECT('id', id, 'name', name, 'source', '{source}') AS data FROM tb_item;
         CREATE PROCEDURE fn_create_item(IN p_name VARCHAR(100))
         BEGIN
           DECLARE v_id CHAR(36) DEFAULT UUID();
           INSERT INTO tb_item VALUES (v_id, p_name);
           SELECT 'success' AS status, 'created' AS message, v_id AS entity_id,
                  'Item' AS entity_type;
         END;"
    )
}

/// A PostgreSQL schema of its own (the URL's search path), dropped with the value.
struct PgSchema {
    schema: String,
    url: String,
}

impl PgSchema {
    async fn new(setup: &str) -> Self {
        let schema = format!("fraiseql_replicas_{}", uuid::Uuid::new_v4().simple());
        support::pg_admin()
            .await
            .batch_execute(&format!(
                "CREATE SCHEMA {schema}; SET search_path = {schema}; {setup}"
            ))
            .await
            .unwrap_or_else(|e| panic!("setup: {e:?}"));
        let base = support::pg_url();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url =
            format!("{base}{sep}options=-c%20search_path%3D{schema}&application_name={schema}");
        Self { schema, url }
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let sql = format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{0}';
             DROP SCHEMA IF EXISTS {0} CASCADE",
            self.schema
        );
        cleanup(async move {
            let _ = support::pg_admin().await.batch_execute(&sql).await;
        });
    }
}

/// A PostgreSQL database that does not exist until [`PgLater::create`].
struct PgLater {
    name: String,
    url: String,
}

impl PgLater {
    fn new() -> Self {
        let name = format!("fraiseql_replicas_{}", uuid::Uuid::new_v4().simple());
        let url = support::with_database(&support::pg_url(), &name);
        Self { name, url }
    }

    async fn create(&self, setup: &str) {
        support::pg_admin()
            .await
            .batch_execute(&format!("CREATE DATABASE {}", self.name))
            .await
            .expect("create database");
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .expect("connect to the new database");
        tokio::spawn(connection);
        client.batch_execute(setup).await.expect("setup");
    }
}

impl Drop for PgLater {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        cleanup(async move {
            let _ = support::pg_admin().await.batch_execute(&sql).await;
        });
    }
}

/// Runs `work` to the end on a runtime of its own (drops run outside async context, and
/// even when the test panicked).
fn cleanup(work: impl std::future::Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(work);
        }
    })
    .join();
}

/// `primary` with `replicas`, a short connect timeout, and the admin token.
fn config(primary: &str, replicas: &[&str]) -> Config {
    let mut config = support::with_primary(DatabaseConfig {
        replicas: replicas.iter().map(|r| r.to_string()).collect(),
        connect_timeout_ms: 2000,
        ..support::database(primary)
    });
    config.server.admin_token = Some(TOKEN.into());
    config
}

/// The `source` of the one `seed` item, from a query; fails on any error in the response.
async fn source(http: &reqwest::Client, base: &str) -> String {
    let (status, body) =
        support::graphql(http, base, json!({ "query": "{ items { source } }" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.get("errors").is_none(),
        "the client saw an error: {body}"
    );
    let items = body["data"]["items"].as_array().expect("items");
    let sources: Vec<&str> = items.iter().filter_map(|i| i["source"].as_str()).collect();
    assert!(
        !sources.is_empty() && sources.iter().all(|s| *s == sources[0]),
        "{body}"
    );
    sources[0].to_string()
}

async fn sources(http: &reqwest::Client, base: &str, n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(source(http, base).await);
    }
    out
}

/// Queries until `want` answers, or fails after [`COMEBACK`].
async fn until_source(http: &reqwest::Client, base: &str, want: &str) {
    let start = Instant::now();
    loop {
        let got = source(http, base).await;
        if got == want {
            return;
        }
        assert!(
            start.elapsed() < COMEBACK,
            "still `{got}` {COMEBACK:?} after `{want}` became reachable"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn assert_alternate(seen: &[String]) {
    assert!(
        seen.iter().all(|s| s.starts_with("replica-")),
        "a query went to the primary: {seen:?}"
    );
    for pair in seen.windows(2) {
        assert_ne!(
            pair[0], pair[1],
            "the same replica twice in a row: {seen:?}"
        );
    }
}

/// `createItem` and its read-back: both must run on the primary (the new row exists only
/// there, and the read-back names its server).
async fn assert_mutation_on_primary(http: &reqwest::Client, base: &str) {
    let (status, body) = support::graphql(
        http,
        base,
        json!({ "query": "mutation { createItem(name: \"fresh\") { name source } }" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({ "data": { "createItem": { "name": "fresh", "source": "primary" } } })
    );
}

async fn get(running: &Running, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().get(format!("{}{path}", support::base(running)));
    if let Some(t) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.json().await.expect("JSON body"))
}

/// `(replica, status, has error text)` of each replica of `primary` in `/health`.
fn replica_statuses(health: &Value) -> Vec<(u64, String, bool)> {
    health["databases"]["primary"]["replicas"]
        .as_array()
        .unwrap_or_else(|| panic!("no replicas listed: {health}"))
        .iter()
        .map(|r| {
            for key in ["pool_size", "pool_idle", "pool_in_use", "pool_max"] {
                assert!(r[key].is_u64(), "{key} missing: {r}");
            }
            (
                r["replica"].as_u64().expect("index"),
                r["status"].as_str().expect("status").to_string(),
                r.get("error").is_some(),
            )
        })
        .collect()
}

/// Turns, mutations on the primary, health and metrics with two replicas that answer.
async fn turns_and_mutations(primary: &str, replicas: [&str; 2]) {
    let running = support::serve(config(primary, &replicas), SDL).await;
    let base = support::base(&running);
    let http = reqwest::Client::new();

    assert_alternate(&sources(&http, &base, 6).await);
    assert_mutation_on_primary(&http, &base).await;
    // The new row is on the primary only: the replicas still hold one item.
    let (_, body) = support::graphql(&http, &base, json!({ "query": "{ items { name } }" })).await;
    assert_eq!(body, json!({ "data": { "items": [{ "name": "seed" }] } }));
    // Eight reads in all: four on each replica.
    assert!(source(&http, &base).await.starts_with("replica-"));

    let (status, health) = get(&running, "/health", None).await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["databases"]["primary"]["status"], "ok");
    assert_eq!(
        replica_statuses(&health),
        [(0, "up".into(), false), (1, "up".into(), false)]
    );

    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for target in ["replica0", "replica1"] {
        let line = format!(
            "fraiseql_database_reads_total{{database=\"primary\",outcome=\"ok\",role=\"replica\",target=\"{target}\"}} 4"
        );
        assert!(metrics.contains(&line), "{line} not in\n{metrics}");
    }
    assert!(
        metrics.contains(
            "fraiseql_database_reads_total{database=\"primary\",outcome=\"ok\",role=\"primary\",target=\"primary\"} 0"
        ),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("fraiseql_database_replica_up{database=\"primary\",target=\"replica1\"} 1"),
        "{metrics}"
    );
    // The metrics from before replicas still count every statement (the mutation too).
    assert!(
        metrics.contains("fraiseql_database_queries_total{database=\"primary\",outcome=\"ok\"} 9"),
        "{metrics}"
    );
    running.stop().await.expect("stops");
}

/// A replica refused at its port and one that does not exist yet: every query answers from
/// the primary without an error, `/health` says degraded but ready, and once `create`
/// makes the second replica, queries go to it.
async fn skipped_and_back(
    primary: &str,
    closed: &str,
    later: &str,
    create: impl std::future::Future<Output = ()>,
) {
    let running = support::serve(config(primary, &[closed, later]), SDL).await;
    let base = support::base(&running);
    let http = reqwest::Client::new();

    assert_eq!(sources(&http, &base, 4).await, ["primary"; 4]);
    assert_mutation_on_primary(&http, &base).await;

    let (status, health) = get(&running, "/health", None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a replica down does not take the server down: {health}"
    );
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["databases"]["primary"]["status"], "degraded");
    assert_eq!(
        replica_statuses(&health),
        [(0, "down".into(), false), (1, "down".into(), false)]
    );
    let (_, detailed) = get(&running, "/health", Some(TOKEN)).await;
    assert_eq!(
        replica_statuses(&detailed),
        [(0, "down".into(), true), (1, "down".into(), true)]
    );
    let (status, ready) = get(&running, "/health/ready", None).await;
    assert_eq!(status, StatusCode::OK, "{ready}");

    create.await;
    until_source(&http, &base, "replica-1").await;
    assert_eq!(sources(&http, &base, 3).await, ["replica-1"; 3]);
    let (status, health) = get(&running, "/health", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        replica_statuses(&health),
        [(0, "down".into(), false), (1, "up".into(), false)]
    );
    running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_queries_take_turns_on_replicas_and_mutations_use_the_primary() {
    let primary = PgSchema::new(&pg_setup("primary")).await;
    let r0 = PgSchema::new(&pg_setup("replica-0")).await;
    let r1 = PgSchema::new(&pg_setup("replica-1")).await;
    turns_and_mutations(&primary.url, [&r0.url, &r1.url]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_down_are_skipped_and_come_back() {
    let primary = PgSchema::new(&pg_setup("primary")).await;
    let later = PgLater::new();
    let setup = pg_setup("replica-1");
    skipped_and_back(&primary.url, PG_CLOSED, &later.url, later.create(&setup)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_queries_take_turns_on_replicas_and_mutations_use_the_primary() {
    let primary = support::MysqlScratch::new(&mysql_setup("primary")).await;
    let r0 = support::MysqlScratch::new(&mysql_setup("replica-0")).await;
    let r1 = support::MysqlScratch::new(&mysql_setup("replica-1")).await;
    turns_and_mutations(&primary.url, [&r0.url, &r1.url]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_replicas_down_are_skipped_and_come_back() {
    let primary = support::MysqlScratch::new(&mysql_setup("primary")).await;
    // Named now, created later; dropped with the value either way.
    let name = format!("fraiseql_t_{}", uuid::Uuid::new_v4().simple());
    let later = support::MysqlScratch {
        url: support::with_database(&support::mysql_url(), &name),
        name,
    };
    let create = async {
        support::mysql_connect(&support::mysql_url())
            .await
            .query_drop(format!(
                "CREATE DATABASE `{}` CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin",
                later.name
            ))
            .await
            .expect("create database");
        later
            .conn()
            .await
            .query_drop(mysql_setup("replica-1"))
            .await
            .expect("setup");
    };
    skipped_and_back(&primary.url, MYSQL_CLOSED, &later.url, create).await;
}

const TAGS_SDL: &str = r#"
type Item @source(view: "v_item") {
  id: ID!
  name: String!
  tag: Tag @relation(localKey: "id", remoteKey: "item_id")
}
type Tag @source(view: "v_tag", database: "tags") { id: ID! source: String! }
type Query { items: [Item!]! }
type Mutation { renameItem(id: ID!, name: String!): Item @function(name: "fn_rename_item") }
"#;

/// The tag of item `1`, naming its server.
fn pg_tags(source: &str) -> String {
    format!(
        "CREATE TABLE tb_tag (id text PRIMARY KEY, item_id text NOT NULL);
         INSERT INTO tb_tag VALUES ('t1', '1');
         CREATE VIEW v_tag AS SELECT id, item_id,
           jsonb_build_object('id', id, 'item_id', item_id, 'source', '{source}'::text) AS data
           FROM tb_tag;"
    )
}

/// A relation into another database that has a replica: a query reads it on the replica;
/// a mutation's response reads it on that database's primary (an earlier mutation of the
/// same request may have written there, and a replica may not have it yet).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutations_relations_into_other_databases_read_their_primaries() {
    let items = PgSchema::new(&format!(
        "{}
         CREATE FUNCTION fn_rename_item(p_id text, p_name text) RETURNS mutation_response
         LANGUAGE plpgsql AS $$
         DECLARE r mutation_response;
         BEGIN
           UPDATE tb_item SET name = p_name WHERE id = p_id;
           r.status := 'success'; r.entity_id := p_id; r.entity_type := 'Item';
           RETURN r;
         END $$;",
        pg_setup("primary")
    ))
    .await;
    let tags = PgSchema::new(&pg_tags("primary")).await;
    let tags_replica = PgSchema::new(&pg_tags("replica-0")).await;
    let mut config = support::with_primary(support::database(&items.url));
    config.databases.insert(
        "tags".into(),
        DatabaseConfig {
            replicas: vec![tags_replica.url.clone()],
            ..support::database(&tags.url)
        },
    );
    let running = support::serve(config, TAGS_SDL).await;
    let base = support::base(&running);
    let http = reqwest::Client::new();
    let query = json!({ "query": "{ items { tag { source } } }" });
    for _ in 0..2 {
        let (_, body) = support::graphql(&http, &base, query.clone()).await;
        assert_eq!(
            body,
            json!({ "data": { "items": [{ "tag": { "source": "replica-0" } }] } })
        );
    }
    let rename = json!({
        "query": "mutation { renameItem(id: \"1\", name: \"renamed\") { name tag { source } } }"
    });
    let (_, body) = support::graphql(&http, &base, rename).await;
    assert_eq!(
        body,
        json!({ "data": { "renameItem": { "name": "renamed", "tag": { "source": "primary" } } } })
    );
    running.stop().await.expect("stops");
}

#[tokio::test]
async fn a_malformed_replica_url_stops_the_server_with_a_clear_error() {
    let config = config(
        "postgresql://postgres@127.0.0.1:1/postgres",
        &["postgresql://app:secret@replica:notaport/app"],
    );
    let schema = fraiseql_engine::schema::load_schema(SDL, "schema.graphql").expect("schema");
    let e = match fraiseql_server::spawn(config, schema, support::local()).await {
        Ok(_) => panic!("the server started"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.starts_with("database 'primary': replica 0: invalid PostgreSQL url"),
        "{e}"
    );
    assert!(!e.contains("secret"), "{e}");
}
