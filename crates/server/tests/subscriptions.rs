//! GraphQL subscriptions over WebSocket (issue 13), through a real server with raw frames:
//! committed changes reach subscribers with exactly their selection (SQLite and the memory
//! backend, PostgreSQL and MariaDB through JetStream), arguments filter events, both
//! subprotocols, queries and mutations over the socket, every close code, every limit, a
//! client that never reads, and a NATS outage that pauses delivery without disconnecting.

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::nats::{self, Names, PrivateNats};
use support::quickstart::{Quickstart, ORDER_4, ORDER_5};
use support::ws::Ws;
use tokio_tungstenite::tungstenite::Message;

mod support;

fn set_status(id: &str, status: &str) -> String {
    format!(r#"mutation {{ updateOrderStatus(id: "{id}", status: {status}) {{ status }} }}"#)
}

async fn post(http: &reqwest::Client, base: &str, query: &str) -> Value {
    support::graphql(http, base, json!({ "query": query }))
        .await
        .1
}

/// The value of an unlabelled metric, or of `name{labels}`.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Argument values an attacker would send for an `ID` key: quotes and SQL, a malformed
/// UUID, a NUL, a long string, a number. Each is a valid `ID`.
fn hostile_keys() -> Vec<Value> {
    vec![
        json!("'; DROP TABLE tb_order; --"),
        json!("\" OR 1=1 --"),
        json!("a0000000-0000-4000-8000-00000000000Z"),
        json!("n2\u{0}"),
        json!("x".repeat(4000)),
        json!(7),
    ]
}

/// A connection subscribed to `field(arg: <hostile>)` once per hostile value. The NUL is
/// refused (`error`, BAD_USER_INPUT, for its id); the others are accepted (nothing reaches
/// SQL: the value is compared with each event's key in the server) and must never match.
async fn hostile_subscriber(addr: &str, field: &str, arg: &str) -> Ws {
    let mut ws = Ws::ready(addr).await;
    for (i, value) in hostile_keys().into_iter().enumerate() {
        let query = format!("subscription ($v: ID) {{ {field}({arg}: $v) {{ __typename }} }}");
        ws.send(json!({"id": format!("h{i}"), "type": "subscribe", "payload": {"query": query, "variables": {"v": value}}}))
            .await;
    }
    ws.send(json!({"type": "ping"})).await;
    let refused = ws.recv().await;
    assert_eq!(refused["id"], "h3", "{refused}");
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{refused}"
    );
    assert_eq!(ws.recv().await, json!({"type": "pong"}));
    ws
}

/// Nothing arrived on `ws` but the answer to a ping sent now.
async fn heard_nothing(ws: &mut Ws) {
    ws.send(json!({"type": "ping"})).await;
    assert_eq!(
        ws.recv().await,
        json!({"type": "pong"}),
        "a hostile key matched"
    );
}

#[tokio::test]
async fn committed_changes_reach_subscribers_with_their_selection() {
    let q = Quickstart::start("").await;
    let (base, http) = (q.base(), reqwest::Client::new());
    let mut all = Ws::ready(&q.addr()).await;
    all.subscribe(
        "all",
        "subscription { orderStatusChanged { identifier status customer { name } } }",
    )
    .await;
    all.subscribe(
        "alias",
        "subscription { o: orderStatusChanged { __typename id } }",
    )
    .await;
    // Legacy protocol, on /ws, with the key argument: only ORDER_5.
    let mut one = Ws::connect(&q.addr(), "/ws", Some("graphql-ws")).await;
    one.send(json!({"type": "connection_init", "payload": {"authToken": "later"}}))
        .await;
    assert_eq!(one.recv().await, json!({"type": "connection_ack"}));
    assert_eq!(one.recv().await, json!({"type": "ka"}));
    let query =
        format!(r#"subscription {{ orderStatusChanged(orderId: "{ORDER_5}") {{ status }} }}"#);
    one.send(json!({"id": "x", "type": "start", "payload": {"query": query}}))
        .await;
    let mut hostile = hostile_subscriber(&q.addr(), "orderStatusChanged", "orderId").await;
    // A hostile argument is refused, not dropped: an error for that id only.
    all.subscribe(
        "bad",
        r#"subscription { orderStatusChanged(orderId: {a: 1}) { status } }"#,
    )
    .await;
    let bad = all.recv().await;
    assert_eq!(
        (bad["id"].as_str(), bad["type"].as_str()),
        (Some("bad"), Some("error"))
    );

    post(&http, &base, &set_status(ORDER_4, "SHIPPED")).await;
    post(&http, &base, &set_status(ORDER_5, "CANCELLED")).await;
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(all.recv().await);
    }
    let next = |id: &str, data: Value| json!({"id": id, "type": "next", "payload": {"data": data}});
    assert_eq!(
        got,
        [
            next(
                "all",
                json!({"orderStatusChanged": {"identifier": "ORD-004", "status": "SHIPPED", "customer": {"name": "Grace Hopper"}}})
            ),
            next(
                "alias",
                json!({"o": {"__typename": "Order", "id": ORDER_4}})
            ),
            next(
                "all",
                json!({"orderStatusChanged": {"identifier": "ORD-005", "status": "CANCELLED", "customer": {"name": "Barbara Liskov"}}})
            ),
            next(
                "alias",
                json!({"o": {"__typename": "Order", "id": ORDER_5}})
            ),
        ]
    );
    // Legacy `data`; ORDER_4's change was filtered out.
    assert_eq!(
        one.recv().await,
        json!({"id": "x", "type": "data", "payload": {"data": {"orderStatusChanged": {"status": "CANCELLED"}}}})
    );
    heard_nothing(&mut hostile).await;

    // `complete` ends one subscription; the other goes on. Legacy `stop` likewise.
    all.send(json!({"id": "all", "type": "complete"})).await;
    one.send(json!({"id": "x", "type": "stop"})).await;
    post(&http, &base, &set_status(ORDER_5, "PAID")).await;
    assert_eq!(
        all.recv().await,
        next(
            "alias",
            json!({"o": {"__typename": "Order", "id": ORDER_5}})
        )
    );
    assert_eq!(all.recv_within(Duration::from_millis(300)).await, None);
    assert_eq!(one.recv_within(Duration::from_millis(300)).await, None);

    // Open: `all`, `one` and the hostile one (its five subscriptions, and `alias`).
    let text = support::metrics(&http, &base).await;
    assert_eq!(
        metric(&text, "fraiseql_subscriptions_connections"),
        3.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "fraiseql_subscriptions_active"),
        6.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "fraiseql_subscriptions_events_total"),
        6.0,
        "{text}"
    );

    // Shutdown closes every connection with 1001.
    q.running.stop().await.expect("stops");
    assert_eq!(all.closed().await.0, 1001);
    assert_eq!(one.closed().await.0, 1001);
}

#[tokio::test]
async fn queries_and_mutations_run_over_the_socket() {
    let q = Quickstart::start("").await;
    let (base, http) = (q.base(), reqwest::Client::new());
    let mut ws = Ws::ready(&q.addr()).await;
    let query = format!(r#"{{ order(id: "{ORDER_4}") {{ identifier }} }}"#);
    ws.subscribe("q", &query).await;
    assert_eq!(
        ws.recv().await,
        json!({"id": "q", "type": "next", "payload": {"data": {"order": {"identifier": "ORD-004"}}}})
    );
    assert_eq!(ws.recv().await, json!({"id": "q", "type": "complete"}));
    // The id is free again once the operation completed.
    ws.subscribe("q", &set_status(ORDER_4, "SHIPPED")).await;
    assert_eq!(
        ws.recv().await["payload"],
        json!({"data": {"updateOrderStatus": {"status": "SHIPPED"}}})
    );
    assert_eq!(ws.recv().await["type"], "complete");
    // An id is free the moment its operation completed, every time.
    for _ in 0..20 {
        ws.subscribe("again", "{ __typename }").await;
        assert_eq!(ws.recv().await["type"], "next");
        assert_eq!(ws.recv().await, json!({"id": "again", "type": "complete"}));
    }
    // Invalid documents and variables: an `error` for that id, the connection stays.
    for (id, payload) in [
        ("parse", json!({"query": "{ order("})),
        ("field", json!({"query": "{ nope }"})),
        (
            "vars",
            json!({"query": "query ($id: ID!) { order(id: $id) { id } }", "variables": {"id": [1]}}),
        ),
        (
            "two",
            json!({"query": "subscription { a: orderStatusChanged { id } b: orderStatusChanged { id } }"}),
        ),
    ] {
        ws.send(json!({"id": id, "type": "subscribe", "payload": payload}))
            .await;
        let m = ws.recv().await;
        assert_eq!(
            (m["id"].as_str(), m["type"].as_str()),
            (Some(id), Some("error")),
            "{m}"
        );
        assert!(m["payload"][0]["message"].is_string(), "{m}");
    }
    // ping with a payload gets pong with it; pong is accepted quietly.
    ws.send(json!({"type": "ping", "payload": {"n": 1}})).await;
    assert_eq!(
        ws.recv().await,
        json!({"type": "pong", "payload": {"n": 1}})
    );
    ws.send(json!({"type": "pong"})).await;
    // A subscription over HTTP is refused, pointing at the WebSocket.
    let r = post(&http, &base, "subscription { orderStatusChanged { id } }").await;
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("WebSocket"),
        "{r}"
    );
    // No subprotocol offered: graphql-transport-ws. An unknown one: the handshake fails.
    let mut plain = Ws::connect(&q.addr(), "/subscriptions", None).await;
    plain.send(json!({"type": "connection_init"})).await;
    assert_eq!(plain.recv().await["type"], "connection_ack");
    assert!(Ws::connect_with(&q.addr(), "/graphql", Some("mqtt"), &[])
        .await
        .is_err());
    // Legacy connection_terminate closes normally.
    let mut legacy = Ws::connect(&q.addr(), "/ws", Some("graphql-ws")).await;
    legacy.send(json!({"type": "connection_terminate"})).await;
    assert_eq!(legacy.closed().await.0, 1000);
    q.running.stop().await.expect("stops");
}

#[tokio::test]
async fn protocol_violations_close_with_their_codes() {
    let q = Quickstart::start(
        "[subscriptions]\nconnection_init_timeout_ms = 300\nmax_message_size = \"2KB\"\n\
         allowed_origins = [\"https://shop.example\"]",
    )
    .await;
    let addr = q.addr();
    let origin = [("Origin", "https://shop.example")];
    let open = || async {
        let mut ws = Ws::connect_with(&addr, "/graphql", Some("graphql-transport-ws"), &origin)
            .await
            .unwrap();
        ws.send(json!({"type": "connection_init"})).await;
        assert_eq!(ws.recv().await["type"], "connection_ack");
        ws
    };
    for bad in [
        "not json",
        "[1, 2]",
        r#"{"type": "explode"}"#,
        r#"{"type": "subscribe", "payload": {"query": "{ __typename }"}}"#,
        r#"{"type": "subscribe", "id": "1", "payload": {"query": 42}}"#,
    ] {
        let mut ws = open().await;
        ws.send_text(bad).await;
        assert_eq!(ws.closed().await.0, 4400, "{bad}");
    }
    let mut ws = open().await;
    ws.send_frame(Message::Binary(vec![1, 2, 3].into())).await;
    assert_eq!(ws.closed().await.0, 4400, "binary frame");

    // subscribe before connection_ack: 4401.
    let mut ws = Ws::connect_with(&addr, "/graphql", Some("graphql-transport-ws"), &origin)
        .await
        .unwrap();
    ws.subscribe("1", "{ __typename }").await;
    assert_eq!(ws.closed().await, (4401, "Unauthorized".into()));

    // A second connection_init: 4429.
    let mut ws = open().await;
    ws.send(json!({"type": "connection_init"})).await;
    assert_eq!(ws.closed().await.0, 4429);

    // A duplicate id while the first is running: 4409.
    let mut ws = open().await;
    ws.subscribe("dup", "subscription { orderStatusChanged { id } }")
        .await;
    ws.subscribe("dup", "subscription { orderStatusChanged { status } }")
        .await;
    let (code, reason) = ws.closed().await;
    assert_eq!(
        (code, reason.as_str()),
        (4409, "Subscriber for dup already exists")
    );

    // No connection_init in time: 4408.
    let mut ws = Ws::connect_with(&addr, "/graphql", Some("graphql-transport-ws"), &origin)
        .await
        .unwrap();
    let started = Instant::now();
    assert_eq!(ws.closed().await.0, 4408);
    assert!(started.elapsed() < Duration::from_secs(5));

    // A message over max_message_size: 1009.
    let mut ws = open().await;
    let huge = json!({"id": "h", "type": "subscribe", "payload": {"query": "x".repeat(5000)}});
    ws.send(huge).await;
    assert_eq!(ws.closed().await.0, 1009);

    // Another origin, or none: 4403.
    for headers in [&[("Origin", "https://evil.example")][..], &[]] {
        let mut ws = Ws::connect_with(&addr, "/graphql", Some("graphql-transport-ws"), headers)
            .await
            .unwrap();
        assert_eq!(ws.closed().await.0, 4403, "{headers:?}");
    }
    // After all that, the server is fine and holds no connection.
    let http = reqwest::Client::new();
    let text = support::metrics(&http, &q.base()).await;
    assert_eq!(
        metric(&text, "fraiseql_subscriptions_connections"),
        0.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "fraiseql_subscriptions_active"),
        0.0,
        "{text}"
    );
    q.running.stop().await.expect("stops");
}

#[tokio::test]
async fn connection_and_subscription_limits_have_close_codes() {
    // Per server: the third connection is closed with 1013; a freed place is taken again.
    let q = Quickstart::start(
        "[subscriptions]\nmax_connections = 2\nmax_subscriptions_per_connection = 2",
    )
    .await;
    let addr = q.addr();
    let mut first = Ws::ready(&addr).await;
    let second = Ws::ready(&addr).await;
    let mut third = Ws::connect(&addr, "/graphql", Some("graphql-transport-ws")).await;
    assert_eq!(third.closed().await.0, 1013);
    drop(second);
    let deadline = Instant::now() + Duration::from_secs(5);
    let _again = loop {
        let mut ws = Ws::connect(&addr, "/graphql", Some("graphql-transport-ws")).await;
        ws.send(json!({"type": "connection_init"})).await;
        match ws.recv_within(Duration::from_secs(2)).await {
            Some(m) if m["type"] == "connection_ack" => break ws,
            _ => assert!(Instant::now() < deadline, "the freed place is never taken"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Per connection: the third operation gets an error; the first two go on.
    first
        .subscribe("a", "subscription { orderStatusChanged { id } }")
        .await;
    first
        .subscribe("b", "subscription { orderStatusChanged { status } }")
        .await;
    first
        .subscribe("c", "subscription { orderStatusChanged { identifier } }")
        .await;
    let refused = first.recv().await;
    assert_eq!(
        (refused["id"].as_str(), refused["type"].as_str()),
        (Some("c"), Some("error"))
    );
    assert!(refused["payload"][0]["message"]
        .as_str()
        .unwrap()
        .contains("max_subscriptions_per_connection"));
    let http = reqwest::Client::new();
    post(&http, &q.base(), &set_status(ORDER_4, "SHIPPED")).await;
    let ids = [first.recv().await, first.recv().await].map(|m| m["id"].clone());
    assert_eq!(ids, [json!("a"), json!("b")]);
    q.running.stop().await.expect("stops");

    // Per client address: 4429.
    let q = Quickstart::start("[subscriptions]\nmax_connections_per_ip = 1").await;
    let _one = Ws::ready(&q.addr()).await;
    let mut two = Ws::connect(&q.addr(), "/graphql", Some("graphql-transport-ws")).await;
    assert_eq!(two.closed().await.0, 4429);
    q.running.stop().await.expect("stops");
}

/// A client that subscribes and never reads: its queue fills, it is closed as a slow
/// consumer (its place freed), and the server goes on serving everyone else.
#[tokio::test]
async fn a_client_that_never_reads_is_cut_off_and_the_server_stays_responsive() {
    let q = Quickstart::start("[subscriptions]\nsend_queue = 4").await;
    let (base, http) = (q.base(), reqwest::Client::new());
    // A small receive buffer, so the server's writes back up quickly.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(q.running.addr).await.unwrap();
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{}/graphql", q.addr())
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut stalled, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap();
    stalled
        .send(Message::Text(
            json!({"type": "connection_init"}).to_string().into(),
        ))
        .await
        .unwrap();
    // Each event's message grows: the order's status changes are in it.
    let big = "subscription { orderStatusChanged { identifier status note items { sku quantity unitPrice } customer { name } statusChanges { status changedAt } } }";
    stalled
        .send(Message::Text(
            json!({"id": "s", "type": "subscribe", "payload": {"query": big}})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = support::metrics(&http, &base).await;
    assert_eq!(
        metric(&text, "fraiseql_subscriptions_active"),
        1.0,
        "{text}"
    );

    // Many events: every order changes status, again and again, written straight to SQLite.
    let db = rusqlite::Connection::open(&q.db).unwrap();
    let statuses = ["paid", "shipped", "pending"];
    for round in 0..150 {
        let status = statuses[round % 3];
        db.execute("UPDATE tb_order SET status = ?1", [status])
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = support::metrics(&http, &base).await;
        let dropped = metric(
            &text,
            "fraiseql_subscriptions_dropped_total{reason=\"slow_consumer\"}",
        );
        let open = metric(&text, "fraiseql_subscriptions_connections");
        if dropped > 0.0 && open == 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slow client is never cut off: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The server answers at once, and a client that reads gets its events.
    let mut good = Ws::ready(&q.addr()).await;
    good.subscribe(
        "g",
        &format!(r#"subscription {{ orderStatusChanged(orderId: "{ORDER_4}") {{ status }} }}"#),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let health = http.get(format!("{base}/health")).send().await.unwrap();
    assert!(health.status().is_success());
    assert!(started.elapsed() < Duration::from_secs(2));
    post(&http, &base, &set_status(ORDER_4, "CANCELLED")).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = good.recv().await;
        if m["payload"]["data"]["orderStatusChanged"]["status"] == "CANCELLED" {
            break;
        }
        assert!(Instant::now() < deadline);
    }
    // The stalled client, reading at last, finds its connection ended.
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Ok(Some(frame)) = tokio::time::timeout_at(deadline.into(), stalled.next()).await {
        match frame {
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    assert!(
        Instant::now() < deadline,
        "the stalled connection is still open"
    );
    q.running.stop().await.expect("stops");
}

/// PostgreSQL through JetStream: each mutation's change reaches a subscriber, in order; the
/// latency from the mutation's answer to the pushed message is printed (the benchmark
/// holds the figures).
#[tokio::test]
async fn postgres_changes_reach_subscribers_through_jetstream() {
    let names = Names::new();
    let db = support::PgScratch::new(support::orders::ORDERS).await;
    let topic = names.subject("order.updated");
    let sdl = format!(
        "{}\ntype Subscription {{ orderUpdated(id: ID): Order! @topic(name: \"{topic}\") }}\n",
        support::orders::SDL
    );
    let config = pg_nats_config(&db.url, &nats::url(), &names, &topic);
    let running = support::serve(config, &sdl).await;
    let (base, http) = (support::base(&running), reqwest::Client::new());
    let r = post(
        &http,
        &base,
        r#"mutation { createOrder(identifier: "o-1", total: 5) { id } }"#,
    )
    .await;
    let id = r["data"]["createOrder"]["id"].as_str().unwrap().to_owned();
    let mut ws = Ws::ready(&running.addr.to_string()).await;
    ws.subscribe(
        "1",
        &format!(r#"subscription {{ orderUpdated(id: "{id}") {{ identifier status }} }}"#),
    )
    .await;
    let mut hostile = hostile_subscriber(&running.addr.to_string(), "orderUpdated", "id").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut latencies = Vec::new();
    for i in 0..40 {
        let status = format!("s{i}");
        post(
            &http,
            &base,
            &format!(r#"mutation {{ setStatus(id: "{id}", status: "{status}") {{ id }} }}"#),
        )
        .await;
        let answered = Instant::now();
        let m = ws.recv().await;
        latencies.push(answered.elapsed());
        assert_eq!(
            m["payload"]["data"]["orderUpdated"],
            json!({"identifier": "o-1", "status": status}),
            "in order, once each"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    heard_nothing(&mut hostile).await;
    latencies.sort();
    eprintln!(
        "mutation answered -> subscriber: p50 {:?}, max {:?} (40 updates, 50/s)",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    running.stop().await.expect("stops");
    let (_client, js) = nats::jetstream(&nats::url()).await;
    nats::delete_stream(&js, &names.stream).await;
    db.drop().await;
}

fn pg_nats_config(
    db_url: &str,
    nats_url: &str,
    names: &Names,
    topic: &str,
) -> fraiseql_engine::config::Config {
    let text = format!(
        "[database]\nurl = \"{db_url}\"\n[observers]\nbackend = \"nats\"\nnats_url = \"{nats_url}\"\n\
         stream = \"{}\"\n[[observers.rules]]\ntable = \"tb_order\"\nevent = \"UPDATE\"\nsubject = \"{topic}\"\n",
        names.stream
    );
    fraiseql_engine::config::parse(&text, "fraiseql.toml", &|_| None)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// NATS goes away: mutations go on (their events wait in the outbox), the client stays
/// connected, and once NATS is back every change arrives, in order.
#[tokio::test]
async fn a_nats_outage_pauses_delivery_and_the_client_stays_connected() {
    let mut private = PrivateNats::new();
    private.start().await;
    let names = Names::new();
    let db = support::PgScratch::new(support::orders::ORDERS).await;
    let topic = names.subject("order.updated");
    let sdl = format!(
        "{}\ntype Subscription {{ orderUpdated: Order! @topic(name: \"{topic}\") }}\n",
        support::orders::SDL
    );
    let running = support::serve(
        pg_nats_config(&db.url, &private.url(), &names, &topic),
        &sdl,
    )
    .await;
    let (base, http) = (support::base(&running), reqwest::Client::new());
    let r = post(
        &http,
        &base,
        r#"mutation { createOrder(identifier: "o-1", total: 5) { id } }"#,
    )
    .await;
    let id = r["data"]["createOrder"]["id"].as_str().unwrap().to_owned();
    let mut ws = Ws::ready(&running.addr.to_string()).await;
    ws.subscribe("1", "subscription { orderUpdated { status } }")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let set = |s: &str| format!(r#"mutation {{ setStatus(id: "{id}", status: "{s}") {{ id }} }}"#);
    post(&http, &base, &set("before")).await;
    assert_eq!(
        ws.recv().await["payload"]["data"]["orderUpdated"]["status"],
        "before"
    );

    private.stop();
    for s in ["during-1", "during-2", "during-3"] {
        let r = post(&http, &base, &set(s)).await;
        assert!(r.get("errors").is_none(), "{r}");
    }
    assert_eq!(ws.recv_within(Duration::from_millis(500)).await, None);
    private.start().await;
    post(&http, &base, &set("after")).await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let m = ws
            .recv_within(Duration::from_secs(30))
            .await
            .expect("delivery resumes");
        seen.push(
            m["payload"]["data"]["orderUpdated"]["status"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // The entity is read when the event arrives: the statuses are the latest at that time,
    // so the last message shows the last status and there are as many messages as changes.
    assert_eq!(seen.last().unwrap(), "after", "{seen:?}");
    running.stop().await.expect("stops");
    db.drop().await;
}

/// MariaDB through JetStream: a row written by another client reaches the subscriber,
/// read through the MariaDB view with the selection.
#[tokio::test]
async fn mariadb_changes_reach_subscribers_through_jetstream() {
    use mysql_async::prelude::Queryable;
    let names = Names::new();
    let maria = support::MysqlScratch::new(
        "CREATE TABLE tb_note (id VARCHAR(20) PRIMARY KEY, body TEXT NOT NULL); \
         CREATE VIEW v_note AS SELECT id, JSON_OBJECT('id', id, 'body', body, \
         'length', CHAR_LENGTH(body)) AS data FROM tb_note",
    )
    .await;
    let topic = names.subject("notes.changed");
    let sdl = format!(
        "type Note @source(view: \"v_note\") {{ id: ID! body: String! length: Int! }}\n\
         type Query {{ notes: [Note!]! }}\n\
         type Subscription {{ noteChanged(id: ID): Note! @topic(name: \"{topic}\") }}\n"
    );
    let text = format!(
        "[database]\nurl = \"{}\"\n[observers]\nbackend = \"nats\"\nnats_url = \"{}\"\n\
         stream = \"{}\"\npoll_interval_ms = 20\n[[observers.rules]]\ntable = \"tb_note\"\nsubject = \"{topic}\"\n",
        maria.url,
        nats::url(),
        names.stream
    );
    let config = fraiseql_engine::config::parse(&text, "fraiseql.toml", &|_| None).unwrap();
    let running = support::serve(config, &sdl).await;
    let mut ws = Ws::ready(&running.addr.to_string()).await;
    ws.subscribe(
        "n",
        r#"subscription { noteChanged(id: "n2") { id body length } }"#,
    )
    .await;
    let mut hostile = hostile_subscriber(&running.addr.to_string(), "noteChanged", "id").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut c = maria.conn().await;
    c.query_drop("INSERT INTO tb_note VALUES ('n1', 'other')")
        .await
        .unwrap();
    c.query_drop("INSERT INTO tb_note VALUES ('n2', 'it''s \"odd\" é')")
        .await
        .unwrap();
    assert_eq!(
        ws.recv().await["payload"]["data"]["noteChanged"],
        json!({"id": "n2", "body": "it's \"odd\" é", "length": 12})
    );
    c.query_drop("DELETE FROM tb_note WHERE id = 'n2'")
        .await
        .unwrap();
    // A deleted entity: what the event's row carries.
    let gone = ws.recv().await;
    assert_eq!(gone["payload"]["data"]["noteChanged"]["id"], "n2", "{gone}");
    heard_nothing(&mut hostile).await;
    running.stop().await.expect("stops");
    let (_client, js) = nats::jetstream(&nats::url()).await;
    nats::delete_stream(&js, &names.stream).await;
}

/// Keep-alive: a client that answers the server's pings (any WebSocket client that reads
/// does) stays connected; one that sends nothing for twice `keep_alive_ms` is closed.
#[tokio::test]
async fn silent_clients_are_closed_and_answering_ones_stay() {
    let q = Quickstart::start("[subscriptions]\nkeep_alive_ms = 200").await;
    let (base, http) = (q.base(), reqwest::Client::new());
    let mut answering = Ws::ready(&q.addr()).await;
    let _silent = Ws::ready(&q.addr()).await;
    // Reading answers the ping frames; nothing else arrives.
    assert_eq!(
        answering.recv_within(Duration::from_millis(1500)).await,
        None
    );
    let text = support::metrics(&http, &base).await;
    assert_eq!(
        metric(&text, "fraiseql_subscriptions_connections"),
        1.0,
        "{text}"
    );
    answering.send(json!({"type": "ping"})).await;
    assert_eq!(answering.recv().await, json!({"type": "pong"}));
    q.running.stop().await.expect("stops");
}

/// A client that sends and never reads (a ping flood) cannot hold its connection's loop:
/// the replies fill its queue and it is closed as a slow consumer.
#[tokio::test]
async fn a_client_that_floods_without_reading_is_closed() {
    let q = Quickstart::start("[subscriptions]\nsend_queue = 4").await;
    let (base, http) = (q.base(), reqwest::Client::new());
    let mut flood = Ws::ready(&q.addr()).await;
    let ping = json!({"type": "ping", "payload": {"pad": "x".repeat(1000)}}).to_string();
    for _ in 0..2000 {
        if tokio::time::timeout(
            Duration::from_secs(1),
            flood.socket.send(Message::Text(ping.clone().into())),
        )
        .await
        .map_or(true, |r| r.is_err())
        {
            break;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = support::metrics(&http, &base).await;
        if metric(&text, "fraiseql_subscriptions_connections") == 0.0 {
            assert!(
                metric(
                    &text,
                    "fraiseql_subscriptions_refused_total{reason=\"slow_consumer\"}"
                ) >= 1.0,
                "{text}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the flooding client is never closed: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    q.running.stop().await.expect("stops");
}

/// A hook endpoint for the tests: records every body; `on_connect` lets in only the token
/// `let-me-in`, `on_subscribe` refuses a selection of `note`, `/slow` answers after 2 s.
async fn hook_server() -> (String, Arc<Mutex<Vec<Value>>>) {
    use axum::{extract::State, http::StatusCode, routing::post, Json, Router};
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let record = |path: &'static str| {
        move |State(seen): State<Arc<Mutex<Vec<Value>>>>, Json(mut body): Json<Value>| async move {
            body["path"] = json!(path);
            seen.lock().unwrap().push(body.clone());
            let allowed = match path {
                "connect" => body["payload"]["authToken"] == "let-me-in",
                "subscribe" => !body["query"].as_str().unwrap_or("").contains("note"),
                "slow" => {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    true
                }
                _ => true,
            };
            if allowed {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::FORBIDDEN
            }
        }
    };
    let app = Router::new()
        .route("/connect", post(record("connect")))
        .route("/subscribe", post(record("subscribe")))
        .route("/disconnect", post(record("disconnect")))
        .route("/slow", post(record("slow")))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

#[tokio::test]
async fn hooks_decide_connections_and_subscriptions_and_hear_disconnects() {
    let (hooks, seen) = hook_server().await;
    let q = Quickstart::start(&format!(
        "[subscriptions]\nmax_selection_depth = 1\nmax_selected_fields = 4\n\
         [subscriptions.hooks]\non_connect = \"{hooks}/connect\"\n\
         on_subscribe = \"{hooks}/subscribe\"\non_disconnect = \"{hooks}/disconnect\"\n\
         timeout_ms = 300"
    ))
    .await;
    let addr = q.addr();
    let (base, http) = (q.base(), reqwest::Client::new());
    let open = || Ws::connect(&addr, "/graphql", Some("graphql-transport-ws"));

    // Without the token, or with another: 4403, counted.
    for init in [
        json!({"type": "connection_init"}),
        json!({"type": "connection_init", "payload": {"authToken": "guess"}}),
    ] {
        let mut ws = open().await;
        ws.send(init.clone()).await;
        assert_eq!(ws.closed().await, (4403, "Forbidden".into()), "{init}");
    }
    let text = support::metrics(&http, &base).await;
    assert_eq!(
        metric(
            &text,
            "fraiseql_subscriptions_refused_total{reason=\"on_connect\"}"
        ),
        2.0,
        "{text}"
    );

    // With it: ack; the hook saw the payload, the address and the protocol.
    let mut ws = open().await;
    ws.send(
        json!({"type": "connection_init", "payload": {"authToken": "let-me-in", "tenantId": "t1"}}),
    )
    .await;
    assert_eq!(ws.recv().await, json!({"type": "connection_ack"}));
    let connect = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(connect["event"], "connect");
    assert_eq!(connect["payload"]["tenantId"], "t1");
    assert_eq!(connect["remote_addr"], "127.0.0.1");
    assert_eq!(connect["protocol"], "graphql-transport-ws");
    let connection_id = connect["connection_id"].as_str().unwrap().to_owned();

    // on_subscribe refuses `note`: an error for that id only; it lets the other through and
    // is told the operation.
    let watch = "subscription Watch($id: ID) { orderStatusChanged(orderId: $id) { status } }";
    ws.send(json!({"id": "no", "type": "subscribe", "payload": {"query": "subscription { orderStatusChanged { note } }"}}))
        .await;
    let refused = ws.recv().await;
    assert_eq!(
        (refused["id"].as_str(), refused["type"].as_str()),
        (Some("no"), Some("error")),
        "{refused}"
    );
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "FORBIDDEN",
        "{refused}"
    );
    ws.send(json!({"id": "yes", "type": "subscribe", "payload": {"query": watch, "operationName": "Watch", "variables": {"id": ORDER_4}}}))
        .await;
    ws.send(json!({"type": "ping"})).await;
    assert_eq!(ws.recv().await, json!({"type": "pong"}));
    let subscribe = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(subscribe["event"], "subscribe");
    assert_eq!(subscribe["id"], "yes");
    assert_eq!(subscribe["operation_name"], "Watch");
    assert_eq!(subscribe["variables"]["id"], ORDER_4);
    assert_eq!(subscribe["connection_id"], connection_id.as_str());
    post(&http, &base, &set_status(ORDER_4, "SHIPPED")).await;
    let m = ws.recv().await;
    assert_eq!(
        m["payload"]["data"]["orderStatusChanged"]["status"], "SHIPPED",
        "{m}"
    );

    // The subscription's own limits: an object below the root field (depth 2, counted as
    // [validation] max_query_depth counts), more than 4 fields. Queries are not held to them.
    for (id, query) in [
        (
            "deep",
            "subscription { orderStatusChanged { customer { name } } }",
        ),
        (
            "wide",
            "subscription { orderStatusChanged { id identifier status total } }",
        ),
    ] {
        ws.send(json!({"id": id, "type": "subscribe", "payload": {"query": query}}))
            .await;
        let m = ws.recv().await;
        assert_eq!(
            (m["id"].as_str(), m["type"].as_str()),
            (Some(id), Some("error")),
            "{m}"
        );
        let message = m["payload"][0]["message"].as_str().unwrap();
        assert!(message.contains("[subscriptions] max_selec"), "{message}");
    }
    ws.subscribe(
        "q",
        "{ orders(limit: 1) { customer { name } id identifier status total } }",
    )
    .await;
    assert_eq!(ws.recv().await["type"], "next");
    assert_eq!(ws.recv().await["type"], "complete");

    // Closing: on_disconnect hears of it, with how long the connection lasted.
    ws.socket.close(None).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let disconnect = loop {
        let found = seen
            .lock()
            .unwrap()
            .iter()
            .find(|b| b["event"] == "disconnect")
            .cloned();
        if let Some(found) = found {
            break found;
        }
        assert!(Instant::now() < deadline, "on_disconnect was not called");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(disconnect["connection_id"], connection_id.as_str());
    assert!(disconnect["duration_ms"].as_u64().is_some(), "{disconnect}");
    // Refused connections were never initialised: one disconnect only.
    let disconnects = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|b| b["event"] == "disconnect")
        .count();
    assert_eq!(disconnects, 1);
    q.running.stop().await.expect("stops");
}

#[tokio::test]
async fn a_hook_that_is_slow_or_unreachable_refuses() {
    let (hooks, _) = hook_server().await;
    // A port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    for url in [format!("{hooks}/slow"), format!("http://{closed}/connect")] {
        let q = Quickstart::start(&format!(
            "[subscriptions.hooks]\non_connect = \"{url}\"\ntimeout_ms = 200"
        ))
        .await;
        let mut ws = Ws::connect(&q.addr(), "/graphql", Some("graphql-transport-ws")).await;
        let started = Instant::now();
        ws.send(json!({"type": "connection_init", "payload": {"authToken": "let-me-in"}}))
            .await;
        assert_eq!(ws.closed().await.0, 4403, "{url}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{url}: waited {:?}",
            started.elapsed()
        );
        q.running.stop().await.expect("stops");
    }
}
