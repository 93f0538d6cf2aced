//! Events under faults (issue 12), with the real binary, a real PostgreSQL and a private
//! JetStream server: 1,000 mutations while the server is killed (SIGKILL) and restarted
//! and NATS is stopped and started; afterwards every committed change is in the stream
//! exactly once by event id, in commit order per table, and none of a rolled-back
//! transaction is. Then two replicas on one database: each event is published by one of
//! them, and the inbound work is split between them, each event handled once.

use serde_json::{json, Value};
use server::Server;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[path = "../../server/tests/support/nats.rs"]
mod nats;
#[path = "support/server.rs"]
mod server;

/// `FRAISEQL_TEST_PG_URL`, or the local default.
fn pg_admin_url() -> String {
    std::env::var("FRAISEQL_TEST_PG_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "postgresql://postgres@127.0.0.1:5432/postgres".into())
}

const SDL: &str = r#"
type Item @source(view: "v_item") {
  id: ID!
  k: Int!
}
type Query {
  items: [Item!]!
}
type Mutation {
  addItem(k: Int!): Item @function(name: "fn_add_item")
}
"#;

/// Every mutation writes an item and a log line; `k % 10 = 7` fails after both writes, so
/// its transaction rolls back.
const SQL: &str = r#"
CREATE TYPE mutation_response AS (status text, message text, entity_id text,
  entity_type text, entity jsonb, updated_fields text[], cascade jsonb, metadata jsonb);
CREATE TABLE tb_item (pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE, k int NOT NULL UNIQUE);
CREATE TABLE tb_log (pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, k int NOT NULL);
CREATE TABLE tb_handled (event_id text PRIMARY KEY, k int NOT NULL);
CREATE VIEW v_item AS SELECT id, jsonb_build_object('id', id, 'k', k) AS data FROM tb_item;
CREATE FUNCTION fn_add_item(p_k int) RETURNS mutation_response LANGUAGE plpgsql AS $$
DECLARE r mutation_response; v_id uuid;
BEGIN
  INSERT INTO tb_item (k) VALUES (p_k) RETURNING id INTO v_id;
  INSERT INTO tb_log (k) VALUES (p_k);
  IF p_k % 10 = 7 THEN RAISE EXCEPTION 'seven'; END IF;
  r.status := 'success'; r.entity_id := v_id::text; r.entity_type := 'Item';
  RETURN r;
END $$;
CREATE FUNCTION fn_on_item(p_event jsonb, p_headers jsonb) RETURNS void LANGUAGE sql AS $$
  INSERT INTO tb_handled VALUES (p_headers->>'ce-id', (p_event->>'k')::int)
$$;
"#;

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fraiseql"))
}

/// A PostgreSQL database of the test's own, with [`SQL`] loaded.
async fn database() -> (String, String, tokio_postgres::Client) {
    let admin_url = pg_admin_url();
    let name = format!("fraiseql_t_{}", uuid::Uuid::new_v4().simple());
    let (admin, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL must be reachable");
    tokio::spawn(conn);
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let url = format!(
        "{}/{name}",
        admin_url.rsplit_once('/').expect("a database in the URL").0
    );
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client.batch_execute(SQL).await.unwrap();
    (name, url, client)
}

async fn drop_database(name: &str) {
    let (admin, conn) = tokio_postgres::connect(&pg_admin_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let _ = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
}

/// A project folder: `fraiseql.toml` and `schema.graphql`.
fn project(dir: &Path, db_url: &str, nats_url: &str, names: &nats::Names, extra: &str) {
    let toml = format!(
        r#"[database]
url = "{db_url}"
pool_max = 8
[fraiseql]
schema_file = "schema.graphql"
[observers]
nats_url = "{nats_url}"
stream = "{stream}"
[[observers.rules]]
table = "tb_item"
event = "INSERT"
subject = "{p}.item"
[[observers.rules]]
table = "tb_log"
event = "INSERT"
subject = "{p}.log"
{extra}"#,
        stream = names.stream,
        p = names.prefix
    );
    std::fs::write(dir.join("fraiseql.toml"), toml).unwrap();
    std::fs::write(dir.join("schema.graphql"), SDL).unwrap();
}

/// The ids (`ce-id`) in stream order, checked unique.
fn ids(messages: &[nats::Stored]) -> Vec<String> {
    let ids: Vec<String> = messages
        .iter()
        .map(|m| m.header("ce-id").expect("ce-id").to_owned())
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "an event is in the stream twice");
    ids
}

/// The stream's order is the outbox's; the first difference, when there is one.
fn same_order(stream: &[String], outbox: &[String], what: &str) {
    assert_eq!(
        stream.len(),
        outbox.len(),
        "{what}: as many in the stream as in the outbox"
    );
    if let Some(i) = stream.iter().zip(outbox).position(|(a, b)| a != b) {
        panic!(
            "{what} out of commit order from position {i}: stream {:?}, outbox {:?}",
            &stream[i..(i + 3).min(stream.len())],
            &outbox[i..(i + 3).min(outbox.len())]
        );
    }
}

/// The event ids of `table`'s outbox rows in `seq` (commit) order.
async fn outbox_order(db: &tokio_postgres::Client, table: &str) -> Vec<String> {
    db.query(
        "SELECT id::text FROM fraiseql.outbox WHERE source = $1 ORDER BY seq",
        &[&table],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_mutations_through_kills_and_a_nats_outage_are_each_published_once_in_order() {
    let names = nats::Names::new();
    let mut broker = nats::PrivateNats::new();
    broker.start().await;
    let (db_name, db_url, db) = database().await;
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), &db_url, &broker.url(), &names, "");
    let http = reqwest::Client::new();
    let server = Server::start(&binary(), dir.path(), &http).await.unwrap();
    let base = Arc::new(std::sync::Mutex::new(server));

    const N: usize = 1000;
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (next, base, http) = (next.clone(), base.clone(), http.clone());
            tokio::spawn(async move {
                loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    if k >= N {
                        return;
                    }
                    // Until the server answers: a request the kill cut may or may not have
                    // committed, and the database, not the client, says which.
                    for _ in 0..400 {
                        let url = base.lock().unwrap().base();
                        let q =
                            json!({"query": format!("mutation {{ addItem(k: {k}) {{ id }} }}")});
                        match http.post(format!("{url}/graphql")).json(&q).send().await {
                            Ok(r) if r.status() != reqwest::StatusCode::SERVICE_UNAVAILABLE => {
                                break
                            }
                            _ => tokio::time::sleep(Duration::from_millis(25)).await,
                        }
                    }
                }
            })
        })
        .collect();

    // The faults, while the mutations run.
    let at = |n: usize| {
        let next = next.clone();
        async move {
            while next.load(Ordering::SeqCst) < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    at(250).await;
    restart(&base, dir.path(), &http).await;
    at(450).await;
    broker.stop();
    at(600).await;
    broker.start().await;
    at(750).await;
    restart(&base, dir.path(), &http).await;
    for w in workers {
        w.await.unwrap();
    }

    let committed: HashSet<i32> = db
        .query("SELECT k FROM tb_item", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        committed.len() >= N * 9 / 10 - 5,
        "{} committed",
        committed.len()
    );
    assert!(
        committed.iter().all(|k| k % 10 != 7),
        "a rolled-back item is in the table"
    );

    let (_client, js) = nats::jetstream(&broker.url()).await;
    let items = nats::read(
        &js,
        &names.stream,
        &names.subject("item"),
        committed.len(),
        Duration::from_secs(60),
    )
    .await;
    let logs = nats::read(
        &js,
        &names.stream,
        &names.subject("log"),
        committed.len(),
        Duration::from_secs(30),
    )
    .await;
    let published: HashSet<i32> = items
        .iter()
        .map(|m| m.json()["k"].as_i64().unwrap() as i32)
        .collect();
    assert_eq!(items.len(), committed.len(), "every committed item once");
    assert_eq!(published, committed, "exactly the committed items");
    assert_eq!(logs.len(), committed.len(), "every committed log line once");
    same_order(&ids(&items), &outbox_order(&db, "tb_item").await, "items");
    same_order(&ids(&logs), &outbox_order(&db, "tb_log").await, "log lines");

    drop(base);
    nats::delete_stream(&js, &names.stream).await;
    drop_database(&db_name).await;
}

/// Kills the server (SIGKILL: no drain, no goodbye) and starts another on the same project.
async fn restart(server: &std::sync::Mutex<Server>, dir: &Path, http: &reqwest::Client) {
    server.lock().unwrap().kill();
    let fresh = Server::start(&binary(), dir, http).await.unwrap();
    *server.lock().unwrap() = fresh;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_publish_each_event_once_and_share_the_inbound_work() {
    let names = nats::Names::new();
    let mut broker = nats::PrivateNats::new();
    broker.start().await;
    let (db_name, db_url, db) = database().await;
    let dir = tempfile::tempdir().unwrap();
    let subscribe = format!(
        "[[observers.subscribe]]\nsubject = \"{}.item\"\nhandler = \"fn_on_item\"\ndurable = \"items\"\n",
        names.prefix
    );
    project(dir.path(), &db_url, &broker.url(), &names, &subscribe);
    let http = reqwest::Client::new();
    let mut a = Server::start(&binary(), dir.path(), &http).await.unwrap();
    let mut b = Server::start(&binary(), dir.path(), &http).await.unwrap();

    const N: i32 = 300;
    for k in 0..N {
        let server = if k % 2 == 0 { &mut a } else { &mut b };
        // No rollbacks here: every mutation commits.
        let k = if k % 10 == 7 { k + 1_000_001 } else { k };
        let r = server
            .graphql(
                &http,
                &format!("mutation {{ addItem(k: {k}) {{ id }} }}"),
                None,
            )
            .await
            .unwrap();
        assert!(r["data"]["addItem"]["id"].is_string(), "{r}");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let handled = loop {
        let n: i64 = db
            .query_one("SELECT count(*) FROM tb_handled", &[])
            .await
            .unwrap()
            .get(0);
        if n >= i64::from(N) || tokio::time::Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        handled,
        i64::from(N),
        "every event handled once (the table's key says once)"
    );

    // Published by one replica each: the relays' counts add up to the events.
    let published = |m: &str| -> u64 {
        m.lines()
            .find(|l| l.starts_with("fraiseql_events_published_total{database=\"primary\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let metrics = |s: &Server| {
        let url = format!("{}/metrics", s.base());
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    };
    // The log lines the handlers wrote are published after they commit: wait for them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let total = loop {
        let (ma, mb) = (metrics(&a).await, metrics(&b).await);
        let total = published(&ma) + published(&mb);
        if total >= 2 * N as u64 || tokio::time::Instant::now() > deadline {
            break total;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        total,
        2 * N as u64,
        "items and log lines, each published by one replica"
    );
    let health = |s: &Server| {
        let url = format!("{}/health", s.base());
        let http = http.clone();
        async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let (ha, hb) = (health(&a).await, health(&b).await);
    let count = |h: &Value| {
        h["events"]["consumers"]["items"]["handled"]
            .as_u64()
            .unwrap_or(0)
    };
    assert_eq!(count(&ha) + count(&hb), N as u64, "{ha}\n{hb}");
    assert!(
        count(&ha) > 0 && count(&hb) > 0,
        "both replicas handled events: {ha}\n{hb}"
    );
    let states: HashMap<&str, usize> = [&ha, &hb]
        .iter()
        .map(|h| {
            h["events"]["relays"]["primary"]["state"]
                .as_str()
                .unwrap_or("?")
        })
        .fold(HashMap::new(), |mut m, s| {
            *m.entry(s).or_default() += 1;
            m
        });
    assert_eq!(
        states.get("publishing"),
        Some(&1),
        "one relay publishes: {states:?}"
    );
    assert_eq!(
        states.get("standby"),
        Some(&1),
        "the other stands by: {states:?}"
    );

    drop((a, b));
    let (_client, js) = nats::jetstream(&broker.url()).await;
    nats::delete_stream(&js, &names.stream).await;
    drop_database(&db_name).await;
}
