//! The multi-database examples end to end, as a user runs them (issue 11): each example's
//! `run.sh` creates its databases and serves, then every query of its README gets exactly
//! the README's answer, the statements per database are counted on `/metrics`, and the
//! database a README stops is stopped for real: a MariaDB server of the test's own, which
//! the test starts again on the same port and data directory and the same FraiseQL process
//! answers in full again.
//!
//! PostgreSQL and the MariaDB that is not stopped are the servers the other tests use
//! (`FRAISEQL_TEST_PG_URL`, `FRAISEQL_TEST_MYSQL_URL`), each database under a name of its
//! own; SQLite is a file in a temporary directory. Nothing is skipped: a missing server or
//! client fails the test.

#[path = "support/example.rs"]
mod example;
#[path = "support/private_mariadb.rs"]
mod private_mariadb;

use example::{
    read, readme_curl_query, readme_pairs, sent, unique_name, Example, Pair, SharedDatabases,
};
use private_mariadb::PrivateMariadb;
use serde_json::{json, Value};

/// The README section whose queries run with a database stopped.
const DOWN: &str = "When a database is down";

fn split(pairs: Vec<Pair>) -> (Vec<Pair>, Vec<Pair>) {
    let (down, up): (Vec<Pair>, Vec<Pair>) = pairs.into_iter().partition(|p| p.section == DOWN);
    assert!(
        !up.is_empty() && !down.is_empty(),
        "README pairs: {up:?} {down:?}"
    );
    (up, down)
}

fn counts(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter().map(|(d, n)| (d.to_string(), *n)).collect()
}

#[test]
fn federation_example_answers_its_readme_in_two_statements_for_500_users() {
    let readme = read("examples/federation/README.md");
    let (up, down) = split(readme_pairs(&readme));
    let mut shared = SharedDatabases::default();
    let mut analytics = PrivateMariadb::start_new();
    let example = Example::start(
        "federation",
        &[
            ("FEDERATION_PRIMARY_URL", shared.postgres("fed_primary")),
            (
                "FEDERATION_ANALYTICS_URL",
                analytics.url("fraiseql_federation_analytics"),
            ),
            ("FEDERATION_LEGACY_URL", shared.mariadb("fed_legacy")),
        ],
    );

    // 500 users and their metrics: one statement on each database (the README's curl),
    // read first, on the data run.sh loaded.
    let query = readme_curl_query(&readme, "users(limit: 500)");
    let before = example.statements();
    let body = example.graphql(&query, None);
    let after = example.statements();
    assert_eq!(
        sent(&before, &after),
        counts(&[("analytics", 1), ("primary", 1)]),
        "{}",
        example.log()
    );
    let users = body["data"]["users"].as_array().expect("users");
    assert_eq!(users.len(), 500, "{body}");
    for (i, user) in users.iter().enumerate() {
        assert_eq!(user["id"], format!("usr_{:03}", i + 1));
        let n = i + 1;
        assert_eq!(user["analytics"].is_null(), n % 100 == 0, "{user}");
    }
    assert_eq!(
        users[122],
        json!({"id": "usr_123", "name": "Alice", "analytics": {
            "totalOrders": 47, "lifetimeValue": 3240.5, "lastOrderDate": "2024-01-10"}})
    );

    // Statements per database of the README's queries that say what they cost.
    let costs: [(&str, &[(&str, u64)]); 3] = [
        // Root fields on two databases: one statement each, at once.
        ("query UserDashboard", &[("analytics", 1), ("primary", 1)]),
        // Two lists per user, one of them on another database.
        ("users(where: {id: {in:", &[("legacy", 1), ("primary", 1)]),
        // MariaDB, then PostgreSQL, then MariaDB again: one statement per database and level.
        (
            "legacyOrder(id: \"ord_0097\")",
            &[("analytics", 1), ("legacy", 1), ("primary", 1)],
        ),
    ];
    for pair in &up {
        let before = example.statements();
        example.assert_answers(pair);
        if let Some((_, cost)) = costs.iter().find(|(q, _)| pair.query.contains(q)) {
            let sent = sent(&before, &example.statements());
            assert_eq!(sent, counts(cost), "{}", pair.query);
        }
    }
    for (q, _) in &costs {
        assert!(
            up.iter().any(|p| p.query.contains(q)),
            "{q} is not in the README"
        );
    }

    analytics.stop();
    for pair in &down {
        example.assert_answers(pair);
    }
    analytics.start();
    // The first query of the README answers in full again at once, from the same server:
    // the connections the pool held from before the restart are checked, not handed out.
    example.assert_answers(&up[0]);
    drop(example);
    drop(shared);
}

#[test]
fn ecommerce_example_answers_its_readme_and_survives_its_inventory_database_stopping() {
    let readme = read("examples/ecommerce/README.md");
    let (up, down) = split(readme_pairs(&readme));
    let mut shared = SharedDatabases::default();
    let mut inventory = PrivateMariadb::start_new();
    let payments = tempfile::tempdir().expect("temp dir");
    let example = Example::start(
        "ecommerce",
        &[
            ("ECOMMERCE_PRIMARY_URL", shared.postgres("shop_primary")),
            (
                "ECOMMERCE_INVENTORY_URL",
                inventory.url("fraiseql_ecommerce_inventory"),
            ),
            (
                "ECOMMERCE_PAYMENTS_URL",
                format!(
                    "sqlite://{}",
                    payments.path().join("fraiseql_payments.db").display()
                ),
            ),
        ],
    );

    let get_order = up
        .iter()
        .find(|p| p.query.starts_with("query GetOrder"))
        .expect("the README's GetOrder")
        .clone();
    for pair in &up {
        let before = example.statements();
        example.assert_answers(pair);
        if pair.query == get_order.query {
            // Two levels: the order (with customer and items) on PostgreSQL, then the
            // products and reservations on MariaDB and the payment methods and payment
            // on SQLite, at once.
            assert_eq!(
                sent(&before, &example.statements()),
                counts(&[("inventory", 1), ("payments", 1), ("primary", 1)])
            );
        }
    }

    inventory.stop();
    for pair in &down {
        example.assert_answers(pair);
    }
    let errors = example.graphql(&get_order.query, None)["errors"].clone();
    assert_eq!(errors.as_array().map(Vec::len), Some(4), "{errors}");
    for e in errors.as_array().into_iter().flatten() {
        assert_eq!(e["extensions"]["code"], "DATABASE_UNAVAILABLE");
        assert_eq!(e["extensions"]["database"], "inventory");
    }

    inventory.start();
    // In full again at once, from the same server.
    example.assert_answers(&get_order);
    let stock: Value = example.graphql("{ inventoryStatus(limit: 1) { sku available } }", None);
    assert_eq!(
        stock,
        json!({"data": {"inventoryStatus": [{"sku": "KB-MECH-01", "available": 40}]}})
    );
    drop(example);
    drop(shared);
}

/// run.sh drops the databases it is given, so it refuses, before touching any, a URL whose
/// database is not named `fraiseql_*` (the server's own `postgres`, an application's file).
#[test]
fn run_sh_refuses_databases_not_named_fraiseql_before_touching_any() {
    let cases = [
        (
            "federation",
            "FEDERATION_LEGACY_URL",
            "mysql://root@127.0.0.1:3306/mysql",
            "'mysql'",
        ),
        (
            "federation",
            "FEDERATION_ANALYTICS_URL",
            "mysql://root@127.0.0.1:3306/fraiseql_x;DROP",
            "may hold only letters",
        ),
        (
            "ecommerce",
            "ECOMMERCE_PAYMENTS_URL",
            "sqlite:///var/lib/app.db",
            "'app'",
        ),
        (
            "ecommerce",
            "ECOMMERCE_INVENTORY_URL",
            "postgresql://postgres@127.0.0.1:5432/postgres",
            "'postgres'",
        ),
    ];
    for (name, variable, url, why) in cases {
        // The other URLs name databases of their own, which must not be created either.
        let untouched = unique_name("untouched");
        let mut command = std::process::Command::new("bash");
        command
            .arg(format!("examples/{name}/run.sh"))
            .current_dir(example::root())
            .env("FRAISEQL_BIN", env!("CARGO_BIN_EXE_fraiseql"));
        for other in [
            "FEDERATION_PRIMARY_URL",
            "ECOMMERCE_PRIMARY_URL",
            "FEDERATION_ANALYTICS_URL",
            "FEDERATION_LEGACY_URL",
            "ECOMMERCE_INVENTORY_URL",
            "ECOMMERCE_PAYMENTS_URL",
        ] {
            let url = match other {
                "FEDERATION_PRIMARY_URL" | "ECOMMERCE_PRIMARY_URL" => {
                    format!("postgresql://postgres@127.0.0.1:5432/{untouched}")
                }
                "ECOMMERCE_PAYMENTS_URL" => format!("sqlite:///nonexistent/{untouched}.db"),
                _ => format!("mysql://root@127.0.0.1:3306/{untouched}"),
            };
            command.env(other, url);
        }
        let out = command.env(variable, url).output().expect("bash runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name} {url}: {stderr}");
        assert!(
            stderr.contains("error: ") && stderr.contains(why) && !stderr.contains("==>"),
            "{name} {url}: {stderr}"
        );
    }
}
