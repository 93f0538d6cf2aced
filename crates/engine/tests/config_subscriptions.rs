//! `[subscriptions]` loading: every key with its default, the seeds' alias
//! (`max_active_per_connection`, `max_fields_per_subscription`), `[subscriptions.hooks]`,
//! and every mistake reported with its key.

use fraiseql_engine::config::{parse, Config, SlowConsumer};

const DB: &str = "[database]\nurl = 'sqlite://app.db'\n";

fn ok(text: &str) -> Config {
    parse(&format!("{DB}{text}"), "fraiseql.toml", &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> String {
    match parse(&format!("{DB}{text}"), "fraiseql.toml", &|_| None) {
        Ok(config) => panic!("expected an error, got {:?}", config.subscriptions),
        Err(e) => e.to_string(),
    }
}

#[test]
fn defaults_hold_without_the_section() {
    let s = ok("").subscriptions;
    assert!(s.enabled);
    assert_eq!(s.max_connections, 10_000);
    assert_eq!(s.max_connections_per_ip, 100);
    assert_eq!(s.max_subscriptions_per_connection, 100);
    assert_eq!(s.max_message_size.0, 64 * 1024);
    assert_eq!(s.connection_init_timeout_ms.0, 3_000);
    assert_eq!(s.keep_alive_ms.0, 15_000);
    assert_eq!(s.send_queue, 256);
    assert!(s.allowed_origins.is_empty());
    assert_eq!(s.slow_consumer, SlowConsumer::Close);
    assert_eq!((s.max_selection_depth, s.max_selected_fields), (None, None));
    assert_eq!(s.hooks.urls().count(), 0);
    assert_eq!(s.hooks.timeout_ms.0, 500);
}

#[test]
fn every_key_and_the_seed_aliases_load() {
    let s = ok(r#"
[subscriptions]
enabled = false
max_connections = 5
max_connections_per_ip = 2
max_active_per_connection = 7
max_message_size = "2KB"
connection_init_timeout_ms = "1s"
keep_alive_ms = 250
send_queue = 8
allowed_origins = ["https://shop.example"]
slow_consumer = "drop"
max_selection_depth = 3
max_fields_per_subscription = 20

[subscriptions.hooks]
on_connect = "https://auth.example/connect"
on_subscribe = "http://127.0.0.1:9000/subscribe"
on_disconnect = "https://auth.example/disconnect"
timeout_ms = 250
"#)
    .subscriptions;
    assert!(!s.enabled);
    assert_eq!((s.max_connections, s.max_connections_per_ip), (5, 2));
    assert_eq!(s.max_subscriptions_per_connection, 7);
    assert_eq!(s.max_message_size.0, 2048);
    assert_eq!(s.connection_init_timeout_ms.0, 1000);
    assert_eq!((s.keep_alive_ms.0, s.send_queue), (250, 8));
    assert_eq!(s.allowed_origins, ["https://shop.example"]);
    assert_eq!(s.slow_consumer, SlowConsumer::Drop);
    assert_eq!(
        (s.max_selection_depth, s.max_selected_fields),
        (Some(3), Some(20))
    );
    let hooks: Vec<_> = s.hooks.urls().map(|(k, _)| k).collect();
    assert_eq!(hooks, ["on_connect", "on_subscribe", "on_disconnect"]);
    assert_eq!(s.hooks.timeout_ms.0, 250);
}

#[test]
fn mistakes_are_reported_with_their_keys() {
    let cases: &[(&str, &str)] = &[
        (
            "[subscriptions]\nmax_connections = 0\n",
            "`max_connections` in [subscriptions] must be at least 1",
        ),
        ("[subscriptions]\nsend_queue = 0\n", "`send_queue`"),
        ("[subscriptions]\nkeep_alive_ms = 0\n", "`keep_alive_ms`"),
        (
            "[subscriptions]\nmax_selection_depth = 0\n",
            "`max_selection_depth`",
        ),
        (
            "[subscriptions]\nmax_selected_fields = 0\n",
            "`max_selected_fields`",
        ),
        (
            "[subscriptions]\nmax_message_size = \"lots\"\n",
            "max_message_size",
        ),
        (
            "[subscriptions]\nslow_consumer = \"ignore\"\n",
            "slow_consumer",
        ),
        ("[subscriptions]\nmax_connection = 5\n", "max_connection"),
        (
            "[subscriptions.hooks]\non_connect = \"auth.example/connect\"\n",
            "`on_connect` in [subscriptions.hooks] must be an http:// or https:// URL",
        ),
        (
            "[subscriptions.hooks]\non_subscribe = \"file:///etc/passwd\"\n",
            "`on_subscribe`",
        ),
        (
            "[subscriptions.hooks]\non_disconnect = \"https://\"\n",
            "`on_disconnect`",
        ),
        (
            "[subscriptions.hooks]\ntimeout_ms = 0\n",
            "`timeout_ms` in [subscriptions.hooks] must be at least 1",
        ),
        (
            "[subscriptions.hooks]\non_connected = \"https://a.example\"\n",
            "on_connected",
        ),
    ];
    for (text, wanted) in cases {
        let message = err(text);
        assert!(message.contains(wanted), "{text}\n=> {message}");
    }
}
