//! `[observers]` loading: the issue's full example, the seeds' spellings (the top-level
//! `[[observers]]` rule array, `transport`, `[observers.nats] url`, `NATS_URL`), and every
//! mistake reported with its key.

use fraiseql_engine::config::{parse, Backend, Config, Op};

fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

const DB: &str = "[database]\nurl = 'postgresql://localhost/app'\n";

fn ok(text: &str, vars: &'static [(&'static str, &'static str)]) -> Config {
    parse(&format!("{DB}{text}"), "fraiseql.toml", &env(vars)).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> String {
    match parse(&format!("{DB}{text}"), "fraiseql.toml", &env(&[])) {
        Ok(config) => panic!("expected an error, got {:?}", config.observers),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_issue_example_loads_every_key() {
    let config = ok(
        r#"
[observers]
enabled = true
backend = "nats"
nats_url = "${NATS_URL}"
stream = "fraiseql_events"
install_triggers = true

[[observers.rules]]
table = "tb_order"
event = "INSERT"
subject = "events.order.created"
payload_view = "v_order_event"
payload_key = "id"
condition = "status <> 'draft'"

[[observers.rules]]
channel = "order_created"
nats_subject = "fraiseql.order.created"

[[observers.subscribe]]
subject = "events.payment.charged"
durable = "order_service_payment_charged"
handler = "fn_on_payment_charged"
database = "primary"
max_deliver = 5
backoff = ["1s", "5s", "30s"]
"#,
        &[("NATS_URL", "nats://n:4222")],
    );
    let o = &config.observers;
    assert!(o.is_on());
    assert_eq!(o.backend, Backend::Nats);
    assert_eq!(o.url(), "nats://n:4222");
    assert_eq!(o.table_rules().count(), 1);
    assert_eq!(o.channel_rules().count(), 1);
    let rule = &o.rules[0];
    assert_eq!(rule.ops(), vec![Op::Insert]);
    assert_eq!(rule.key(), "id");
    assert_eq!(
        o.rules[1].subject.as_deref(),
        Some("fraiseql.order.created")
    );
    let sub = &o.subscribe[0];
    assert_eq!(sub.durable_name(), "order_service_payment_charged");
    let backoff: Vec<u64> = sub.backoff.iter().map(|d| d.0).collect();
    assert_eq!(backoff, [1000, 5000, 30_000]);
    assert_eq!(o.outbox_databases(&["primary"]), ["primary"]);
}

#[test]
fn the_seed_top_level_rule_array_loads_as_rules() {
    // Seed 002 without its `[observers]` table (the two together are not valid TOML).
    let config = ok(
        r#"
[[observers]]
table = "tb_order"
event = "INSERT"
subject = "events.order.created"

[[observers]]
table = "tb_order"
event = ["update", "DELETE"]
subject = "events.order.{op}"
"#,
        &[],
    );
    let o = &config.observers;
    assert!(o.is_on(), "rules turn observers on");
    assert_eq!(o.rules.len(), 2);
    assert_eq!(o.rules[1].ops(), vec![Op::Update, Op::Delete]);
    assert_eq!(o.url(), "nats://127.0.0.1:4222");
}

#[test]
fn the_seed_file_with_both_shapes_is_a_toml_error() {
    let e = err("[[observers]]\ntable = 't'\nsubject = 's'\n[observers]\nbackend = 'nats'\n");
    assert!(e.contains("invalid TOML"), "{e}");
}

#[test]
fn seed_spellings_of_the_connection_are_accepted() {
    let config = ok(
        "[observers]\ntransport = 'nats'\n[observers.nats]\nurl = 'nats://a:4222'\n",
        &[("NATS_URL", "nats://ignored:4222")],
    );
    assert_eq!(config.observers.url(), "nats://a:4222");
    let config = ok(
        "[observers]\nbackend = 'in-memory'\nnats_url = 'nats://b:1'\n",
        &[("FRAISEQL_NATS_URL", "nats://c:2")],
    );
    assert_eq!(config.observers.backend, Backend::Memory);
    assert_eq!(
        config.observers.url(),
        "nats://c:2",
        "FRAISEQL_NATS_URL overrides"
    );
    assert!(!config.observers.is_on(), "nothing to do: off");
}

#[test]
fn mistakes_are_reported_with_their_keys() {
    let cases: &[(&str, &str)] = &[
        (
            "[[observers.rules]]\ntable = 't'\nchannel = 'c'\nsubject = 's'\n",
            "needs either `table`",
        ),
        ("[[observers.rules]]\ntable = 't'\n", "has no `subject`"),
        (
            "[[observers.rules]]\ntable = 't'\nsubject = 'events.*'\n",
            "holds a wildcard",
        ),
        (
            "[[observers.rules]]\ntable = 't'\nsubject = 'events..x'\n",
            "empty token",
        ),
        (
            "[[observers.rules]]\ntable = 't'\nsubject = 'events order'\n",
            "whitespace",
        ),
        (
            "[[observers.rules]]\ntable = 't'\nsubject = 'events.{op'\n",
            "not closed",
        ),
        (
            "[[observers.rules]]\ntable = 't'\nsubject = 'events.{a-b}'\n",
            "placeholder `{a-b}`",
        ),
        (
            "[[observers.rules]]\ntable = 't'\nsubject = 's'\ndatabase = 'primry'\n",
            "did you mean `primary`",
        ),
        (
            "[[observers.rules]]\ntable = 't'\nsubject = 's'\npayload_key = 'id'\n",
            "needs a `payload_view`",
        ),
        (
            "[[observers.rules]]\ntable = 't'\nsubject = 's'\nevent = 'TRUNCATE'\n",
            "unknown event `TRUNCATE`",
        ),
        (
            "[[observers.rules]]\ntable = 't'\nsubject = 's'\ncondition = '1; DROP TABLE t'\n",
            "must be one SQL expression",
        ),
        (
            "[[observers.rules]]\ntable = 't'\nsubject = 's'\ncondition = 'x = $fraiseql$a$fraiseql$'\n",
            "must be one SQL expression",
        ),
        (
            "[[observers.rules]]\nchannel = 'c'\nsubject = 's'\ncondition = 'x'\n",
            "applies to table rules",
        ),
        (
            "[[observers.subscribe]]\nsubject = 'a.>.b'\nhandler = 'h'\n",
            "`>` the last one",
        ),
        (
            "[[observers.subscribe]]\nsubject = 'a'\nhandler = 'h; drop table x'\n",
            "expected a function name",
        ),
        (
            "[[observers.subscribe]]\nsubject = 'a'\nhandler = 'h'\ndurable = 'a.b'\n",
            "a consumer name holds only",
        ),
        (
            "[[observers.subscribe]]\nsubject = 'a'\nhandler = 'h'\nmax_deliver = 0\n",
            "`max_deliver` in [[observers.subscribe]] must be at least 1",
        ),
        (
            "[[observers.subscribe]]\nsubject = 'a'\nhandler = 'h'\nbackoff = []\n",
            "at least one delay",
        ),
        (
            "[[observers.subscribe]]\nsubject = 'a'\nhandler = 'h'\nbackoff = ['soon']\n",
            "invalid duration",
        ),
        (
            "[[observers.subscribe]]\nsubject = 'a'\nhandler = 'h'\n\
             [[observers.subscribe]]\nsubject = 'b'\nhandler = 'h'\n",
            "used by an earlier subscription",
        ),
        (
            "[observers]\nstream = 'my stream'\n",
            "a JetStream stream name",
        ),
        (
            "[observers]\nbackend = 'kafka'\n",
            "unknown variant `kafka`",
        ),
        ("[observers]\nbatch_size = 0\n", "must be at least 1"),
        (
            "[observers]\nnats_url = 'nats://a:1'\n[observers.nats]\nurl = 'nats://b:2'\n",
            "keep one",
        ),
        ("[observers]\nrelay = 1\n", "unknown"),
    ];
    for (text, expected) in cases {
        let e = err(text);
        assert!(
            e.contains(expected),
            "for\n{text}\nexpected `{expected}` in:\n{e}"
        );
    }
}

#[test]
fn a_channel_rule_needs_postgresql() {
    let e = parse(
        "[database]\nurl = 'sqlite::memory:'\n[[observers.rules]]\nchannel = 'c'\nsubject = 's'\n",
        "fraiseql.toml",
        &env(&[]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("is not PostgreSQL"), "{e}");
}
