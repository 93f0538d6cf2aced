//! Apollo Federation v2 subgraph (issue 16) through a real server, on PostgreSQL, MariaDB
//! and SQLite: `_service { sdl }` links the federation spec and keys every entity;
//! `_entities(representations:)` reads each entity type's rows in one statement, answers in
//! representation order with `null` for a key without a row, honours each inline
//! fragment's type condition, reads relations inside entities; hostile representations are
//! refused with `BAD_USER_INPUT`, never reaching a database as text.

use reqwest::StatusCode;
use serde_json::{json, Value};

mod support;

const SDL: &str = r#"
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@requires"])
  @link(url: "https://example.com/audit/v1.0", import: ["@audited"])
  @composeDirective(name: "@audited")
directive @audited(level: Int) on OBJECT | FIELD_DEFINITION
type Product @source(view: "v_product") @key(fields: "id") @key(fields: "sku variation { id }") {
  id: ID!
  name: String! @audited(level: 1)
  price: Int! @tag(name: "internal") @inaccessible
  sku: String!
  variation: Variation!
  stock: [Stock!]! @relation(localKey: "id", remoteKey: "sku") @provides(fields: "warehouse")
  weight: Int @external
  "Computed from the weight the gateway brings from the subgraph that owns it."
  shippingCost: Int @requires(fields: "weight") @computed(sql: "{weight} * 2 + {price}")
  "A computed field of the row alone; a list reads it as any other field."
  doublePrice: Int! @computed(sql: "{price} * 2")
  "A nested required field: the variation's name as the gateway gives it."
  givenVariation: String @requires(fields: "variation { name }") @computed(sql: "{variation.name}")
}
type Variation @shareable @audited {
  id: ID!
  name: String!
}
type Stock @source(view: "v_stock") @key(fields: "sku warehouse") {
  sku: String!
  warehouse: String! @external
  quantity: Int! @override(from: "legacy")
}
type Query {
  products: [Product!]!
  stock: [Stock!]!
}
"#;

const ROWS: &str = "INSERT INTO tb_product VALUES ('p1', 'Anvil', 10, 'ANV', 'v1', 'heavy'),
  ('p2', 'Rocket', 99, 'RKT', 'v1', 'red');
INSERT INTO tb_stock VALUES ('p1', 'north', 3), ('p1', 'south', 0), ('p2', 'north', 7);";

const PG: &str = "CREATE TABLE tb_product (id text PRIMARY KEY, name text NOT NULL, price int NOT NULL,
  sku text NOT NULL, variation_id text NOT NULL, variation_name text NOT NULL);
CREATE TABLE tb_stock (sku text, warehouse text, quantity int NOT NULL, PRIMARY KEY (sku, warehouse));
CREATE VIEW v_product AS SELECT id, jsonb_build_object('id', id, 'name', name, 'price', price,
  'sku', sku, 'variation', jsonb_build_object('id', variation_id, 'name', variation_name)) AS data FROM tb_product;
CREATE VIEW v_stock AS SELECT sku, warehouse,
  jsonb_build_object('sku', sku, 'warehouse', warehouse, 'quantity', quantity) AS data FROM tb_stock;";

const MARIADB: &str = "CREATE TABLE tb_product (id VARCHAR(20) PRIMARY KEY, name TEXT NOT NULL, price INT NOT NULL,
  sku TEXT NOT NULL, variation_id TEXT NOT NULL, variation_name TEXT NOT NULL);
CREATE TABLE tb_stock (sku VARCHAR(20), warehouse VARCHAR(20), quantity INT NOT NULL, PRIMARY KEY (sku, warehouse));
CREATE VIEW v_product AS SELECT id, JSON_OBJECT('id', id, 'name', name, 'price', price,
  'sku', sku, 'variation', JSON_OBJECT('id', variation_id, 'name', variation_name)) AS data FROM tb_product;
CREATE VIEW v_stock AS SELECT sku, warehouse,
  JSON_OBJECT('sku', sku, 'warehouse', warehouse, 'quantity', quantity) AS data FROM tb_stock;";

const SQLITE: &str = "CREATE TABLE tb_product (id TEXT PRIMARY KEY, name TEXT NOT NULL, price INT NOT NULL,
  sku TEXT NOT NULL, variation_id TEXT NOT NULL, variation_name TEXT NOT NULL);
CREATE TABLE tb_stock (sku TEXT, warehouse TEXT, quantity INT NOT NULL, PRIMARY KEY (sku, warehouse));
CREATE VIEW v_product AS SELECT id, json_object('id', id, 'name', name, 'price', price,
  'sku', sku, 'variation', json_object('id', variation_id, 'name', variation_name)) AS data FROM tb_product;
CREATE VIEW v_stock AS SELECT sku, warehouse,
  json_object('sku', sku, 'warehouse', warehouse, 'quantity', quantity) AS data FROM tb_stock;";

const ENTITIES: &str = "query($r: [_Any!]!) { _entities(representations: $r) { __typename \
    ... on Product { id name stock { warehouse quantity } } ... on Stock { quantity } } }";

/// Product's `shippingCost` is computed from the `weight` each representation brings.
const SHIPPING: &str = "query($r: [_Any!]!) { _entities(representations: $r) { \
    ... on Product { id shippingCost } } }";

/// The products dataset in a SQLite file of its own: the directory (kept while it lives)
/// and the database url.
fn sqlite_products() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(&format!("{SQLITE}\n{ROWS}"))
        .unwrap();
    let url = format!("sqlite://{}", path.display());
    (dir, url)
}

async fn ask(base: &str, query: &str, variables: Value) -> (StatusCode, Value) {
    let http = reqwest::Client::new();
    support::graphql(&http, base, json!({"query": query, "variables": variables})).await
}

/// Posts `body` with the trace header `header: value`: the JSON answer.
async fn post_traced(base: &str, header: &str, value: &str, body: &Value) -> Value {
    reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .header(header, value)
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

async fn subgraph_answers(url: &str) {
    let mut config = support::with_primary(support::database(url));
    config.federation.enabled = true;

    // `fraiseql check` runs each computed field's SQL over its view; a computed or external
    // field is no key the view's data must hold.
    let schema = fraiseql_engine::schema::load_schema(SDL, "schema.graphql").unwrap();
    let report = fraiseql_server::check(&config, &schema).await;
    assert!(report.is_ok(), "{:?}", report.problems);
    for field in ["shippingCost", "doublePrice"] {
        let line =
            format!("type 'Product': computed field '{field}': its SQL runs over view 'v_product'");
        assert!(report.ok.contains(&line), "{:?}", report.ok);
    }
    let broken = SDL.replace("{price} * 2\")", "{price} * * 2\")");
    let schema = fraiseql_engine::schema::load_schema(&broken, "schema.graphql").unwrap();
    let report = fraiseql_server::check(&config, &schema).await;
    let problems: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("computed field 'doublePrice': its SQL fails over view 'v_product'"),
        "{problems:?}"
    );

    let running = support::serve(config, SDL).await;
    let base = support::base(&running);

    let (_, body) = ask(&base, "{ _service { sdl __typename } }", json!({})).await;
    let sdl = body["data"]["_service"]["sdl"].as_str().unwrap_or_default();
    assert!(
        sdl.starts_with(
            "extend schema @link(url: \"https://specs.apollo.dev/federation/v2.3\", import: \
             [\"@key\", \"@inaccessible\", \"@tag\", \"@provides\", \"@external\", \"@requires\", \
             \"@shareable\", \"@override\", \"@composeDirective\"])\n  \
             @link(url: \"https://example.com/audit/v1.0\", import: [\"@audited\"])\n  \
             @composeDirective(name: \"@audited\")\n\n\
             directive @audited(level: Int) on OBJECT | FIELD_DEFINITION\n"
        ),
        "{sdl}"
    );
    for line in [
        "  shippingCost: Int @requires(fields: \"weight\")\n",
        "  name: String! @audited(level: 1)\n",
        "type Variation @shareable @audited {",
        "  price: Int! @inaccessible @tag(name: \"internal\")\n",
        "): [Stock!]! @provides(fields: \"warehouse\")\n",
        "  warehouse: String! @external\n",
        "  quantity: Int! @override(from: \"legacy\")\n",
        "type Product @key(fields: \"id\") @key(fields: \"sku variation { id }\") {",
        "type Stock @key(fields: \"sku warehouse\") {",
    ] {
        assert!(sdl.contains(line), "{line}\n{sdl}");
    }
    for absent in ["@computed", "@relation"] {
        assert!(!sdl.contains(absent), "{absent}\n{sdl}");
    }
    assert!(!sdl.contains("_entities"), "{sdl}");
    assert_eq!(body["data"]["_service"]["__typename"], "_Service");

    // Representation order, null for a missing key, a key asked twice answered twice, each
    // fragment only on its own type, a relation inside an entity.
    let reps = json!([
        {"__typename": "Product", "id": "p2"},
        {"__typename": "Stock", "sku": "p1", "warehouse": "south"},
        {"__typename": "Product", "id": "nope"},
        {"__typename": "Product", "id": "p1"},
        {"__typename": "Product", "id": "p2"},
        {"__typename": "Stock", "sku": "p1", "warehouse": "north", "extra": [1]},
        {"__typename": "Product", "id": "p1' OR '1'='1"},
        {"__typename": "Product", "sku": "ANV", "variation": {"id": "v1"}},
        {"__typename": "Product", "sku": "RKT", "variation": {"id": "v2"}},
    ]);
    let (status, body) = ask(&base, ENTITIES, json!({"r": reps})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rocket = json!({"__typename": "Product", "id": "p2", "name": "Rocket",
        "stock": [{"warehouse": "north", "quantity": 7}]});
    let anvil = json!({"__typename": "Product", "id": "p1", "name": "Anvil",
        "stock": [{"warehouse": "north", "quantity": 3}, {"warehouse": "south", "quantity": 0}]});
    assert_eq!(
        body,
        json!({"data": {"_entities": [
            rocket,
            {"__typename": "Stock", "quantity": 0},
            null,
            anvil,
            rocket,
            {"__typename": "Stock", "quantity": 3},
            null,
            anvil,
            null,
        ]}})
    );
    let (_, body) = ask(&base, ENTITIES, json!({"r": []})).await;
    assert_eq!(body, json!({"data": {"_entities": []}}));

    // @requires: each representation's weight (checked against `Int`) is joined to its row;
    // the computed field reads it with the row's own price. No weight: null. A query reads
    // the field from the row alone (no weight there: null).
    let reps = json!([
        {"__typename": "Product", "id": "p2", "weight": 5},
        {"__typename": "Product", "id": "p1", "weight": 1},
        {"__typename": "Product", "sku": "ANV", "variation": {"id": "v1"}, "weight": 3},
        {"__typename": "Product", "id": "p1", "weight": 100},
        {"__typename": "Product", "id": "nope", "weight": 1},
        {"__typename": "Product", "id": "p2"},
    ]);
    let (status, body) = ask(&base, SHIPPING, json!({"r": reps})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A key asked twice is read once, with its first representation's values.
    assert_eq!(
        body,
        json!({"data": {"_entities": [
            {"id": "p2", "shippingCost": 109},
            {"id": "p1", "shippingCost": 12},
            {"id": "p1", "shippingCost": 16},
            {"id": "p1", "shippingCost": 12},
            null,
            {"id": "p2", "shippingCost": 109},
        ]}}),
    );
    let (_, body) = ask(
        &base,
        "{ products { id shippingCost doublePrice } }",
        json!({}),
    )
    .await;
    assert_eq!(
        body,
        json!({"data": {"products": [
            {"id": "p1", "shippingCost": null, "doublePrice": 20},
            {"id": "p2", "shippingCost": null, "doublePrice": 198}
        ]}})
    );
    let reps = json!([
        {"__typename": "Product", "id": "p2", "weight": 1, "variation": {"name": "given"}},
        {"__typename": "Product", "id": "p1", "variation": {"name": {"not": "text"}}},
    ]);
    let both = "query($r: [_Any!]!) { _entities(representations: $r) { \
        ... on Product { shippingCost doublePrice givenVariation } } }";
    let (_, body) = ask(&base, both, json!({"r": [reps[0]]})).await;
    assert_eq!(
        body,
        json!({"data": {"_entities": [
            {"shippingCost": 101, "doublePrice": 198, "givenVariation": "given"}
        ]}})
    );
    // A nested required value of the wrong type is refused, naming where it is.
    let (_, body) = ask(&base, both, json!({"r": reps})).await;
    assert_eq!(code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("representations[1].variation.name"),
        "{body}"
    );
    // A computed field is not a key of the data: it neither filters nor sorts.
    for query in [
        "{ products(where: {shippingCost: {eq: 1}}) { id } }",
        "{ products(orderBy: [{shippingCost: ASC}]) { id } }",
    ] {
        let (_, body) = ask(&base, query, json!({})).await;
        assert!(body["errors"].is_array(), "{query}: {body}");
    }
    // Hostile required values never reach SQL as text.
    for weight in [
        json!("5; DROP TABLE tb_product"),
        json!({"$gt": 1}),
        json!([1]),
        json!(1.5),
    ] {
        let reps = json!([{"__typename": "Product", "id": "p1", "weight": weight}]);
        let (_, body) = ask(&base, SHIPPING, json!({"r": reps})).await;
        assert_eq!(code(&body), Some("BAD_USER_INPUT"), "{weight}: {body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("representations[0].weight"),
            "{body}"
        );
    }

    // A gateway asking for an inline trace gets one (Apollo's protobuf, base64); nobody else.
    let entities = json!({"query": ENTITIES, "variables": {"r": reps}});
    let traced = post_traced(&base, "apollo-federation-include-trace", "ftv1", &entities).await;
    let ftv1 = traced["extensions"]["ftv1"].as_str().expect("a trace");
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(ftv1)
        .unwrap();
    assert!(bytes.len() > 20, "{ftv1}");
    assert_eq!(traced["data"]["_entities"][0]["id"], "p2");
    let (_, plain) = ask(&base, ENTITIES, json!({"r": reps})).await;
    assert!(plain.get("extensions").is_none(), "{plain}");
    // The spelling of Apollo's compatibility notes asks for one too.
    let typename = json!({"query": "{ __typename }"});
    let other = post_traced(&base, "apollo-federated-include-trace", "ftv1", &typename).await;
    assert!(other["extensions"]["ftv1"].is_string(), "{other}");
    // Only the exact value asks for one.
    for value in ["FTV1", "ftv2", "ftv1, ftv1", ""] {
        let body = post_traced(&base, "apollo-federated-include-trace", value, &entities).await;
        assert!(body.get("extensions").is_none(), "{value}: {body}");
        assert_eq!(body["data"]["_entities"][0]["id"], "p2");
    }

    // Hostile representations: a clear error, nothing read.
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"__typename": "Product", "id": format!("p{i}")}))
        .collect();
    for (reps, why) in [
        (json!([1]), "is not an object"),
        (json!([{"id": "p1"}]), "has no `__typename`"),
        (
            json!([{"__typename": "Nope", "id": "p1"}]),
            "is not an entity",
        ),
        (
            json!([{"__typename": "Product"}]),
            "holds no key of Product: `id` or `sku variation { id }`",
        ),
        (
            json!([{"__typename": "Product", "sku": "ANV", "variation": "v1"}]),
            "holds no key",
        ),
        (
            json!([{"__typename": "Stock", "sku": "p1"}]),
            "holds no key of Stock: `sku warehouse`",
        ),
        (
            json!([{"__typename": "Product", "id": {"$ne": 1}}]),
            "expects an ID",
        ),
        (
            json!([{"__typename": "Product", "id": "p\u{0}1"}]),
            "expects an ID",
        ),
        (json!(many), "at most 1000"),
    ] {
        let (_, body) = ask(&base, ENTITIES, json!({"r": reps})).await;
        assert_eq!(code(&body), Some("BAD_USER_INPUT"), "{reps}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(why), "{message}");
    }
    running.stop().await.expect("stops");

    // Without [federation] enabled there is no subgraph to ask.
    let running = support::serve(support::with_primary(support::database(url)), SDL).await;
    let (_, body) = ask(&support::base(&running), "{ _service { sdl } }", json!({})).await;
    assert_eq!(code(&body), Some("GRAPHQL_VALIDATION_FAILED"), "{body}");
    running.stop().await.expect("stops");
}

#[tokio::test]
async fn a_subgraph_serves_its_sdl_and_entities_on_every_dialect() {
    let (_dir, url) = sqlite_products();
    subgraph_answers(&url).await;

    let pg = support::PgScratch::new(&format!("{PG}\n{ROWS}")).await;
    subgraph_answers(&pg.url).await;
    pg.drop().await;

    let maria = support::MysqlScratch::new(&format!("{MARIADB}\n{ROWS}")).await;
    subgraph_answers(&maria.url).await;
}

#[tokio::test]
async fn declared_entities_are_the_only_ones_and_mistakes_are_reported() {
    let (_dir, url) = sqlite_products();
    let text = |entities: &str| {
        format!(
            "[database]\nurl = \"{url}\"\n[federation]\nenabled = true\n\
             service_name = \"products\"\n{entities}"
        )
    };
    let parse = |t: String| fraiseql_engine::config::parse(&t, "fraiseql.toml", &|_| None);
    // Only Stock, keyed by its data keys as written.
    let config = parse(text(
        "[[federation.entities]]\nname = \"Stock\"\nkey_fields = [\"sku\", \"warehouse\"]\n",
    ))
    .unwrap();
    let running = support::serve(config, SDL).await;
    let base = support::base(&running);
    let (_, body) = ask(&base, "{ _service { sdl } }", json!({})).await;
    let sdl = body["data"]["_service"]["sdl"].as_str().unwrap();
    assert!(
        sdl.contains("type Stock @key(fields: \"sku warehouse\") {"),
        "{sdl}"
    );
    assert!(sdl.contains("type Product {"), "{sdl}");
    let reps = json!([{"__typename": "Stock", "sku": "p2", "warehouse": "north"}]);
    let stock = "query($r: [_Any!]!) { _entities(representations: $r) { __typename \
        ... on Stock { quantity } } }";
    let (_, body) = ask(&base, stock, json!({"r": reps})).await;
    assert_eq!(
        body,
        json!({"data": {"_entities": [{"__typename": "Stock", "quantity": 7}]}})
    );
    // Product is no entity now: a fragment on it does not validate, a representation of
    // it is refused.
    let (_, body) = ask(&base, ENTITIES, json!({"r": reps})).await;
    assert_eq!(code(&body), Some("GRAPHQL_VALIDATION_FAILED"), "{body}");
    let product = json!([{"__typename": "Product", "id": "p1"}]);
    let (_, body) = ask(&base, stock, json!({"r": product})).await;
    assert_eq!(code(&body), Some("BAD_USER_INPUT"), "{body}");
    running.stop().await.expect("stops");

    // A declared type or key field the schema lacks stops start-up, naming it.
    for (entities, why) in [
        (
            "[[federation.entities]]\nname = \"Nope\"\n",
            "`Nope`, which is no type",
        ),
        (
            "[[federation.entities]]\nname = \"Stock\"\nkey_fields = [\"bin\"]\n",
            "key field `bin`",
        ),
    ] {
        let config = parse(text(entities)).unwrap();
        let schema = fraiseql_engine::schema::load_schema(SDL, "schema.graphql").unwrap();
        let e = fraiseql_server::spawn(config, schema, support::local())
            .await
            .err()
            .expect("refused");
        assert!(e.to_string().contains(why), "{e}");
    }
    // Only Apollo Federation 2.
    let e = parse(text("apollo_version = 1\n")).unwrap_err().to_string();
    assert!(e.contains("Apollo Federation 2 only"), "{e}");
}

#[tokio::test]
async fn entities_share_their_database_breaker_and_an_open_one_is_a_503() {
    // A PostgreSQL server that is not there: the first read fails, and opens the circuit.
    let url = "postgresql://postgres@127.0.0.1:1/nowhere";
    let text = format!(
        "[database]\nurl = \"{url}\"\nconnect_timeout_ms = 500\n[federation]\nenabled = true\n\
         [federation.retry]\nmax_attempts = 1\n\
         [federation.circuit_breaker]\nfailure_threshold = 1\nrecovery_timeout_secs = 30\n"
    );
    let config = fraiseql_engine::config::parse(&text, "fraiseql.toml", &|_| None).unwrap();
    let running = support::serve(config, SDL).await;
    let base = support::base(&running);
    let reps = json!([{"__typename": "Product", "id": "p1"}]);
    let (status, body) = ask(&base, ENTITIES, json!({"r": reps})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(code(&body), Some("DATABASE_UNAVAILABLE"), "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["_entities"]), "{body}");
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{base}/graphql"))
        .json(&json!({"query": ENTITIES, "variables": {"r": reps}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get("retry-after").is_some());
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), Some("SERVICE_UNAVAILABLE"), "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["_entities"]), "{body}");
    running.stop().await.expect("stops");
}

#[tokio::test]
async fn a_type_filtered_by_the_callers_token_is_no_entity() {
    let (_dir, url) = sqlite_products();
    // `mine` shows a caller only their own products: `_entities` would pass over that.
    let sdl = SDL.replace(
        "  products: [Product!]!",
        "  products: [Product!]!\n  mine: [Product!]! @inject(id: \"jwt:sub\")",
    );
    let text = |extra: &str| {
        format!(
            "[database]\nurl = \"{url}\"\n[auth]\nrequired = false\nsecret = \"{}\"\n[federation]\nenabled = true\n{extra}",
            "s".repeat(32)
        )
    };
    let parse = |t: String| fraiseql_engine::config::parse(&t, "fraiseql.toml", &|_| None).unwrap();
    let running = support::serve(parse(text("")), &sdl).await;
    let base = support::base(&running);
    let (_, body) = ask(&base, "{ _service { sdl } }", json!({})).await;
    let printed = body["data"]["_service"]["sdl"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    assert!(printed.contains("type Product {"), "{printed}");
    assert!(printed.contains("type Stock @key("), "{printed}");
    let stock = "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }";
    let reps = json!([{"__typename": "Product", "id": "p1"}]);
    let (_, body) = ask(&base, stock, json!({"r": reps})).await;
    assert_eq!(code(&body), Some("BAD_USER_INPUT"), "{body}");
    running.stop().await.expect("stops");

    let config = parse(text("[[federation.entities]]\nname = \"Product\"\n"));
    let schema = fraiseql_engine::schema::load_schema(&sdl, "schema.graphql").unwrap();
    let e = fraiseql_server::spawn(config, schema, support::local())
        .await
        .err()
        .expect("refused");
    assert!(e.to_string().contains("query `mine` filters it"), "{e}");
}

#[tokio::test]
async fn an_interface_object_is_an_entity_read_by_the_interfaces_name() {
    let (_dir, url) = sqlite_products();
    // No query reads Inventory: the gateway reaches it through `_entities` only.
    let sdl = format!(
        "{SDL}\ntype Inventory @source(view: \"v_stock\") @interfaceObject \
         @key(fields: \"sku warehouse\") {{ sku: String! warehouse: String! quantity: Int! }}\n"
    );
    let text =
        |extra: &str| format!("[database]\nurl = \"{url}\"\n[federation]\nenabled = true\n{extra}");
    let parse = |t: String| fraiseql_engine::config::parse(&t, "fraiseql.toml", &|_| None).unwrap();
    let running = support::serve(parse(text("")), &sdl).await;
    let base = support::base(&running);
    let (_, body) = ask(&base, "{ _service { sdl } }", json!({})).await;
    let printed = body["data"]["_service"]["sdl"].as_str().unwrap();
    assert!(
        printed.contains("type Inventory @key(fields: \"sku warehouse\") @interfaceObject {"),
        "{printed}"
    );
    assert!(printed.contains("\"@interfaceObject\""), "{printed}");
    let query = "query($r: [_Any!]!) { _entities(representations: $r) { \
                 ... on Inventory { quantity } } }";
    let reps = json!([{"__typename": "Inventory", "sku": "p1", "warehouse": "north"}]);
    let (_, body) = ask(&base, query, json!({"r": reps})).await;
    assert_eq!(body, json!({"data": {"_entities": [{"quantity": 3}]}}));
    running.stop().await.expect("stops");

    // Declared entities that leave it out: start-up stops, saying why.
    let config = parse(text("[[federation.entities]]\nname = \"Stock\"\n"));
    let schema = fraiseql_engine::schema::load_schema(&sdl, "schema.graphql").unwrap();
    let e = fraiseql_server::spawn(config, schema, support::local())
        .await
        .err()
        .expect("refused");
    assert!(
        e.to_string().contains("`Inventory` is an @interfaceObject"),
        "{e}"
    );
}
