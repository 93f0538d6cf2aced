//! Events through a real server (issue 12): a mutation's committed changes reach JetStream
//! with CloudEvents headers and the transaction's complete body; a rolled-back one never
//! does; inbound events call SQL handlers once each, failures are redelivered after the
//! backoff and dead-lettered after `max_deliver`; a stream that does not take the rule
//! subjects stops start-up; a NATS that is down at start loses nothing. Each test has its
//! own database, stream and subject prefix.

use fraiseql_engine::config::{parse, Config};
use serde_json::{json, Value};
use std::time::Duration;
use support::nats::{self, Names};

mod support;

use support::orders::{ORDERS, SDL};

fn config(db_url: &str, nats_url: &str, names: &Names, observers: &str) -> Config {
    let text = format!(
        "[project]\nname = \"shop\"\n[database]\nurl = \"{db_url}\"\n\
         [observers]\nbackend = \"nats\"\nnats_url = \"{nats_url}\"\nstream = \"{}\"\n{observers}",
        names.stream
    );
    parse(&text, "fraiseql.toml", &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

async fn mutate(http: &reqwest::Client, base: &str, query: &str) -> Value {
    support::graphql(http, base, json!({ "query": query }))
        .await
        .1
}

#[tokio::test]
async fn committed_changes_reach_jetstream_with_cloudevents_headers() {
    let names = Names::new();
    let db = support::PgScratch::new(ORDERS).await;
    let created = names.subject("order.created");
    let observers = format!(
        r#"
[[observers.rules]]
table = "tb_order"
event = "INSERT"
subject = "{created}"
payload_view = "v_order_event"

[[observers.rules]]
table = "tb_order"
event = "UPDATE"
subject = "{}.order.{{op}}.{{status}}"
condition = "status <> 'draft'"
include_old = true
"#,
        names.prefix
    );
    let running = support::serve(config(&db.url, &nats::url(), &names, &observers), SDL).await;
    let (base, http) = (support::base(&running), reqwest::Client::new());
    let (_client, js) = nats::jetstream(&nats::url()).await;

    // Quotes, a backslash and characters beyond ASCII come back exactly.
    let odd = r#"o-1 "quoted" \ é 😀"#;
    let r = mutate(
        &http,
        &base,
        &format!(
            r#"mutation {{ createOrder(identifier: {}, total: 10) {{ id }} }}"#,
            json!(odd)
        ),
    )
    .await;
    let id = r["data"]["createOrder"]["id"]
        .as_str()
        .expect("created")
        .to_owned();
    // Rolled back after its rows were written: never published.
    let r = mutate(
        &http,
        &base,
        r#"mutation { createOrder(identifier: "o-2", total: -1) { id } }"#,
    )
    .await;
    assert!(r["errors"].is_array(), "{r}");
    mutate(
        &http,
        &base,
        r#"mutation { createOrder(identifier: "o-3", total: 30) { id } }"#,
    )
    .await;

    let got = nats::read(&js, &names.stream, &created, 2, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 2, "{got:#?}");
    let first = &got[0];
    // The body is the payload view read at commit: it holds the items written after the
    // order in the same transaction.
    assert_eq!(
        first.json(),
        json!({"order_id": id, "identifier": odd, "items": [
            {"sku": "sku-a", "quantity": 1}, {"sku": "sku-b", "quantity": 2}]})
    );
    let event_id = first.header("ce-id").expect("ce-id");
    assert!(uuid::Uuid::parse_str(event_id).is_ok(), "{event_id}");
    assert_eq!(first.header("Nats-Msg-Id"), Some(event_id));
    assert_eq!(first.header("ce-specversion"), Some("1.0"));
    assert_eq!(first.header("ce-type"), Some("fraiseql.tb_order.insert"));
    assert_eq!(first.header("ce-source"), Some("/fraiseql/shop/primary"));
    assert_eq!(first.header("ce-op"), Some("INSERT"));
    assert_eq!(first.header("content-type"), Some("application/json"));
    let time = first.header("ce-time").expect("ce-time");
    assert!(
        time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339).is_ok(),
        "{time}"
    );
    assert_eq!(got[1].json()["identifier"], "o-3");

    // A change the condition rejects is not published; the next one is, with old and new,
    // on a subject rendered from the row.
    let set = |status: &str| {
        format!(r#"mutation {{ setStatus(id: "{id}", status: "{status}") {{ status }} }}"#)
    };
    mutate(&http, &base, &set("draft")).await;
    mutate(&http, &base, &set("paid")).await;
    mutate(&http, &base, &set("a.b *>")).await;
    let updates = names.subject("order.update.*");
    let got = nats::read(&js, &names.stream, &updates, 2, Duration::from_secs(10)).await;
    let subjects: Vec<&str> = got.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            names.subject("order.update.paid"),
            names.subject("order.update.a_b___")
        ],
        "the draft is not published; a hostile value stays one token"
    );
    let body = got[0].json();
    assert_eq!(body["old"]["status"], "draft");
    assert_eq!(body["new"]["status"], "paid");
    assert_eq!(got[0].header("ce-op"), Some("UPDATE"));

    // /health reports the relay.
    let health: Value = http
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["events"]["backend"], "nats", "{health}");
    assert_eq!(health["events"]["nats"], "connected", "{health}");
    assert_eq!(
        health["events"]["relays"]["primary"]["state"], "publishing",
        "{health}"
    );
    // The relay counts a message once the stream acknowledged it, which may be just after
    // the subscriber above got it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = support::metrics(&http, &base).await;
        if metrics.contains("fraiseql_events_published_total{database=\"primary\"} 4") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    running.stop().await.expect("stops");
    nats::delete_stream(&js, &names.stream).await;
    db.drop().await;
}

const HANDLERS: &str = r#"
CREATE TABLE tb_charge (event_id text, order_id text, subject text);
CREATE SEQUENCE flaky_calls;
CREATE FUNCTION fn_on_charged(p_event jsonb, p_headers jsonb) RETURNS void LANGUAGE sql AS $$
  INSERT INTO tb_charge VALUES (p_headers->>'ce-id', p_event->>'order_id', p_headers->>'subject')
$$;
CREATE FUNCTION fn_flaky(p_event jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO tb_charge VALUES ('flaky', p_event->>'order_id', NULL);
  IF nextval('flaky_calls') <= 2 THEN RAISE EXCEPTION 'not yet'; END IF;
END $$;
CREATE FUNCTION fn_broken(p_event jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'broken handler'; END $$;
"#;

async fn publish(
    js: &async_nats::jetstream::Context,
    subject: &str,
    headers: &[(&str, &str)],
    body: &str,
) {
    let mut map = async_nats::HeaderMap::new();
    for (k, v) in headers {
        map.insert(*k, *v);
    }
    js.publish_with_headers(subject.to_owned(), map, body.to_owned().into())
        .await
        .expect("publish")
        .await
        .expect("stored");
}

async fn rows(db: &support::PgScratch, sql: &str) -> Vec<tokio_postgres::Row> {
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client.query(sql, &[]).await.unwrap()
}

/// Polls `sql`'s row count until it is `n` (or 10 s pass); the rows.
async fn until_rows(db: &support::PgScratch, sql: &str, n: usize) -> Vec<tokio_postgres::Row> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = rows(db, sql).await;
        if got.len() >= n || tokio::time::Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn inbound_events_call_handlers_once_retry_and_dead_letter() {
    let names = Names::new();
    let db = support::PgScratch::new(HANDLERS).await;
    let (charged, flaky, broken) = (
        names.subject("payment.charged"),
        names.subject("flaky"),
        names.subject("broken"),
    );
    let observers = format!(
        r#"
[[observers.subscribe]]
subject = "{charged}"
handler = "fn_on_charged"
durable = "charged_{p}"

[[observers.subscribe]]
subject = "{flaky}"
handler = "fn_flaky"
durable = "flaky_{p}"
backoff = ["100ms"]

[[observers.subscribe]]
subject = "{broken}"
handler = "fn_broken"
durable = "broken_{p}"
max_deliver = 2
backoff = ["100ms"]
"#,
        p = names.prefix
    );
    let running = support::serve(config(&db.url, &nats::url(), &names, &observers), SDL).await;
    let (client, js) = nats::jetstream(&nats::url()).await;
    let dlq = format!("{}.dlq.broken_{}", names.stream, names.prefix);
    let mut dead = client.subscribe(dlq).await.unwrap();
    client.flush().await.unwrap();

    publish(
        &js,
        &charged,
        &[("Nats-Msg-Id", "e-1"), ("ce-id", "e-1")],
        r#"{"order_id": "o1"}"#,
    )
    .await;
    // The same event delivered twice (an acknowledgement lost): the handler runs once.
    publish(&js, &charged, &[("ce-id", "e-2")], r#"{"order_id": "o2"}"#).await;
    publish(&js, &charged, &[("ce-id", "e-2")], r#"{"order_id": "o2"}"#).await;
    publish(&js, &flaky, &[("ce-id", "f-1")], r#"{"order_id": "o3"}"#).await;
    publish(&js, &broken, &[("ce-id", "b-1")], r#"{"order_id": "o4"}"#).await;
    // A body that is not JSON can never succeed: dead at once.
    publish(&js, &charged, &[("ce-id", "bad-1")], "not json").await;

    let got = until_rows(&db, "SELECT event_id, order_id, subject FROM tb_charge WHERE event_id <> 'flaky' ORDER BY order_id", 2).await;
    let seen: Vec<(String, String, String)> =
        got.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    assert_eq!(
        seen,
        [
            ("e-1".into(), "o1".into(), charged.clone()),
            ("e-2".into(), "o2".into(), charged.clone())
        ]
    );
    // Failed twice (rolled back each time), then committed once.
    let flaky_rows = until_rows(&db, "SELECT 1 FROM tb_charge WHERE event_id = 'flaky'", 1).await;
    assert_eq!(flaky_rows.len(), 1);
    let dead_rows = until_rows(
        &db,
        "SELECT consumer, event_id, deliveries, error FROM fraiseql.dead_letter ORDER BY event_id",
        2,
    )
    .await;
    let dead_rows: Vec<(String, String, i32, String)> = dead_rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(dead_rows.len(), 2, "{dead_rows:?}");
    assert_eq!(dead_rows[0].0, format!("broken_{}", names.prefix));
    assert_eq!(dead_rows[0].1, "b-1");
    assert_eq!(dead_rows[0].2, 2, "dead after max_deliver deliveries");
    assert!(
        dead_rows[0].3.contains("broken handler"),
        "{:?}",
        dead_rows[0]
    );
    assert_eq!(dead_rows[1].1, "bad-1");
    assert_eq!(dead_rows[1].2, 1, "a body that is not JSON is not retried");
    let dl = tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut dead))
        .await
        .expect("a dead letter on the subject")
        .unwrap();
    assert_eq!(&dl.payload[..], br#"{"order_id": "o4"}"#);

    let base = support::base(&running);
    let health: Value = reqwest::get(format!("{base}/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let consumer = &health["events"]["consumers"][format!("broken_{}", names.prefix)];
    assert_eq!(consumer["dead_lettered"], 1, "{health}");
    running.stop().await.expect("stops");
    nats::delete_stream(&js, &names.stream).await;
    db.drop().await;
}

#[tokio::test]
async fn a_stream_without_the_rule_subjects_stops_startup() {
    let names = Names::new();
    let (_client, js) = nats::jetstream(&nats::url()).await;
    js.create_stream(async_nats::jetstream::stream::Config {
        name: names.stream.clone(),
        subjects: vec![names.subject("other.>")],
        ..Default::default()
    })
    .await
    .expect("stream");
    let db = support::PgScratch::new(ORDERS).await;
    let observers = format!(
        "[[observers.rules]]\ntable = \"tb_order\"\nsubject = \"{}\"\n",
        names.subject("order.{op}")
    );
    let schema = fraiseql_engine::schema::load_schema(SDL, "schema.graphql").unwrap();
    let err = fraiseql_server::spawn(
        config(&db.url, &nats::url(), &names, &observers),
        schema,
        support::local(),
    )
    .await
    .err()
    .expect("start-up fails");
    let text = err.to_string();
    assert!(text.contains(&names.subject("order.*")), "{text}");
    assert!(text.contains("does not take the subjects"), "{text}");
    nats::delete_stream(&js, &names.stream).await;
    db.drop().await;
}

#[tokio::test]
async fn events_committed_while_nats_is_down_go_out_once_it_is_up() {
    let names = Names::new();
    let mut server = nats::PrivateNats::new();
    let db = support::PgScratch::new(ORDERS).await;
    let created = names.subject("order.created");
    let observers = format!(
        "[[observers.rules]]\ntable = \"tb_order\"\nevent = \"INSERT\"\nsubject = \"{created}\"\n"
    );
    // NATS is not running: the server starts anyway and says so.
    let running = support::serve(config(&db.url, &server.url(), &names, &observers), SDL).await;
    let (base, http) = (support::base(&running), reqwest::Client::new());
    for i in 0..5 {
        let q = format!(r#"mutation {{ createOrder(identifier: "o{i}", total: {i}) {{ id }} }}"#);
        let r = mutate(&http, &base, &q).await;
        assert!(r["data"]["createOrder"]["id"].is_string(), "{r}");
    }
    let health: Value = http
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["events"]["nats"], "disconnected", "{health}");
    assert_eq!(health["status"], "degraded", "{health}");

    server.start().await;
    let (_client, js) = nats::jetstream(&server.url()).await;
    let got = nats::read(&js, &names.stream, &created, 5, Duration::from_secs(20)).await;
    let identifiers: Vec<String> = got
        .iter()
        .map(|m| m.json()["identifier"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        identifiers,
        ["o0", "o1", "o2", "o3", "o4"],
        "in commit order, once each"
    );
    running.stop().await.expect("stops");
    db.drop().await;
}

/// The quickstart as its README shows it: SQLite and the memory backend, no other
/// service; a status change reaches the event handler, which records it.
#[tokio::test]
async fn the_quickstart_has_events_with_no_external_service() {
    let quickstart = support::quickstart::Quickstart::start("").await;
    let (base, http) = (quickstart.base(), reqwest::Client::new());

    let ship = r#"mutation { updateOrderStatus(id: "a0000000-0000-4000-8000-000000000004", status: SHIPPED) { identifier status } }"#;
    let r = mutate(&http, &base, ship).await;
    assert_eq!(r["data"]["updateOrderStatus"]["status"], "SHIPPED", "{r}");
    let read = r#"{ order(id: "a0000000-0000-4000-8000-000000000004") { identifier status statusChanges { status } } }"#;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let r = mutate(&http, &base, read).await;
        let done = r["data"]["order"]["statusChanges"]
            .as_array()
            .is_some_and(|a| !a.is_empty());
        if done || tokio::time::Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        answer,
        json!({"data": {"order": {"identifier": "ORD-004", "status": "SHIPPED",
            "statusChanges": [{"status": "SHIPPED"}]}}})
    );
    let health: Value = http
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["events"]["backend"], "memory", "{health}");
    assert_eq!(
        health["events"]["consumers"]["fraiseql_fn_on_order_status_changed"]["handled"], 1,
        "{health}"
    );
    quickstart.running.stop().await.expect("stops");
}

#[tokio::test]
async fn replay_runs_the_history_through_a_handler() {
    let names = Names::new();
    let db = support::PgScratch::new(
        "CREATE TABLE projection (order_id text, status text);
         CREATE FUNCTION fn_project(p_event jsonb) RETURNS void LANGUAGE plpgsql AS $$
         BEGIN
           IF p_event->>'status' = 'boom' THEN RAISE EXCEPTION 'cannot project'; END IF;
           INSERT INTO projection VALUES (p_event->>'order_id', p_event->>'status');
         END $$;",
    )
    .await;
    let (_client, js) = nats::jetstream(&nats::url()).await;
    js.create_stream(async_nats::jetstream::stream::Config {
        name: names.stream.clone(),
        subjects: vec![names.subject(">")],
        ..Default::default()
    })
    .await
    .expect("stream");
    let subject = names.subject("order.status");
    for (i, status) in ["pending", "paid", "shipped"].iter().enumerate() {
        let id = format!("r-{i}");
        let body = json!({"order_id": "o1", "status": status}).to_string();
        publish(&js, &subject, &[("Nats-Msg-Id", &id)], &body).await;
    }
    let config = config(&db.url, &nats::url(), &names, "");
    let options =
        |subject: &str, since: Option<time::OffsetDateTime>| fraiseql_server::ReplayOptions {
            subject: subject.to_owned(),
            since,
            handler: "fn_project".into(),
            database: "primary".into(),
            tenant: None,
        };
    let all = names.subject("order.>");
    assert_eq!(
        fraiseql_server::replay(&config, &options(&all, None))
            .await
            .unwrap(),
        3
    );
    // Again: a replay runs every event, whatever ran before.
    assert_eq!(
        fraiseql_server::replay(&config, &options(&all, None))
            .await
            .unwrap(),
        3
    );
    let statuses: Vec<String> = rows(&db, "SELECT status FROM projection")
        .await
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        statuses,
        ["pending", "paid", "shipped", "pending", "paid", "shipped"]
    );
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    assert_eq!(
        fraiseql_server::replay(&config, &options(&all, Some(later)))
            .await
            .unwrap(),
        0
    );
    let nothing = names.subject("nothing.here");
    assert_eq!(
        fraiseql_server::replay(&config, &options(&nothing, None))
            .await
            .unwrap(),
        0
    );

    // A failing handler stops the replay, saying where.
    publish(
        &js,
        &subject,
        &[("Nats-Msg-Id", "r-boom")],
        r#"{"order_id": "o1", "status": "boom"}"#,
    )
    .await;
    let err = fraiseql_server::replay(&config, &options(&all, None))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("r-boom") && text.contains("after 3 applied"),
        "{text}"
    );

    // Hostile: a handler name that is no function, the memory backend.
    let mut missing = options(&all, None);
    missing.handler = "fn_nope".into();
    assert!(fraiseql_server::replay(&config, &missing).await.is_err());
    let mut memory = config.clone();
    memory.observers.backend = fraiseql_engine::config::Backend::Memory;
    let err = fraiseql_server::replay(&memory, &options(&all, None))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("keeps no history"), "{err}");
    nats::delete_stream(&js, &names.stream).await;
    db.drop().await;
}

/// MariaDB and SQLite through a real server to JetStream: rows written by other clients
/// (not through FraiseQL) are published in commit order, the payload view read when the
/// relay publishes, a rolled-back transaction never.
#[tokio::test]
async fn mariadb_and_sqlite_changes_reach_jetstream() {
    use mysql_async::prelude::Queryable;
    const TABLES: &str = "CREATE TABLE tb_note (id VARCHAR(20) PRIMARY KEY, body TEXT NOT NULL)";
    const SDL_NOTES: &str = r#"
type Note @source(view: "v_note") { id: ID! body: String! }
type Query { notes: [Note!]! }
"#;
    let (_client, js) = nats::jetstream(&nats::url()).await;

    // MariaDB.
    let maria = support::MysqlScratch::new(&format!(
        "{TABLES}; CREATE VIEW v_note AS SELECT id, JSON_OBJECT('id', id, 'body', body, \
         'length', CHAR_LENGTH(body)) AS data FROM tb_note"
    ))
    .await;
    // SQLite.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.db");
    let lite = rusqlite::Connection::open(&file).unwrap();
    lite.execute_batch(&format!(
        "{TABLES}; CREATE VIEW v_note AS SELECT id, json_object('id', id, 'body', body, \
         'length', length(body)) AS data FROM tb_note;"
    ))
    .unwrap();
    let urls = [maria.url.clone(), format!("sqlite://{}", file.display())];
    for url in urls {
        let names = Names::new();
        let subject = names.subject("notes.{op}");
        let observers = format!(
            "poll_interval_ms = 20\n[[observers.rules]]\ntable = \"tb_note\"\n\
             subject = \"{subject}\"\npayload_view = \"v_note\"\n"
        );
        let running =
            support::serve(config(&url, &nats::url(), &names, &observers), SDL_NOTES).await;
        let odd = "it's \"odd\" é";
        if url.starts_with("mysql") {
            let mut c = maria.conn().await;
            c.query_drop(format!(
                "INSERT INTO tb_note VALUES ('n1', '{}')",
                odd.replace('\'', "''")
            ))
            .await
            .unwrap();
            c.query_drop("START TRANSACTION").await.unwrap();
            c.query_drop("INSERT INTO tb_note VALUES ('gone', 'x')")
                .await
                .unwrap();
            c.query_drop("ROLLBACK").await.unwrap();
            c.query_drop("UPDATE tb_note SET body = 'b' WHERE id = 'n1'")
                .await
                .unwrap();
        } else {
            lite.execute("INSERT INTO tb_note VALUES ('n1', ?1)", [odd])
                .unwrap();
            lite.execute_batch("BEGIN; INSERT INTO tb_note VALUES ('gone', 'x'); ROLLBACK;")
                .unwrap();
            lite.execute("UPDATE tb_note SET body = 'b' WHERE id = 'n1'", [])
                .unwrap();
        }
        let all = names.subject("notes.*");
        let got = nats::read(&js, &names.stream, &all, 2, Duration::from_secs(10)).await;
        let seen: Vec<(String, Value)> =
            got.iter().map(|m| (m.subject.clone(), m.json())).collect();
        // The view is read at publication: both bodies may show the update.
        assert_eq!(seen.len(), 2, "{url}: {seen:?}");
        assert_eq!(seen[0].0, names.subject("notes.insert"), "{url}");
        assert_eq!(seen[1].0, names.subject("notes.update"), "{url}");
        assert_eq!(
            seen[1].1,
            json!({"id": "n1", "body": "b", "length": 1}),
            "{url}"
        );
        assert!(got.iter().all(|m| m
            .header("ce-type")
            .is_some_and(|t| t.starts_with("fraiseql.tb_note."))));
        running.stop().await.expect("stops");
        nats::delete_stream(&js, &names.stream).await;
    }
}
