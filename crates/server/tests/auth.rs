//! `[auth]` (issue 14) through a real server: HS256 tokens and their claims reaching
//! PostgreSQL as transaction settings that never outlive the request; every hostile token
//! refused with 401 before any work; JWKS keys of each family found by `kid`, rotated,
//! fetched at a bounded rate and kept through an outage; OIDC discovery; WebSocket
//! connections authenticated by their `connection_init` token.

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use support::jwt::{self, claims, now, Published, Signer, SECRET};
use support::quickstart::Quickstart;
use support::ws::Ws;

mod support;

const NOTES: &str = r#"
CREATE TYPE mutation_response AS (status text, message text, entity_id text,
  entity_type text, entity jsonb, updated_fields text[], cascade jsonb, metadata jsonb);
CREATE TABLE tb_note (id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
  owner text NOT NULL, body text NOT NULL);
INSERT INTO tb_note (id, owner, body) VALUES ('n1', 'alice', 'from alice'), ('n2', 'bob', 'from bob');
-- Each caller sees their own notes: the view reads the request's setting.
CREATE VIEW v_note AS SELECT id, jsonb_build_object('id', id, 'owner', owner, 'body', body) AS data
  FROM tb_note WHERE owner = current_setting('app.user_id', true);
CREATE VIEW v_whoami AS SELECT 'me' AS id, jsonb_build_object('id', 'me',
  'user_id', current_setting('app.user_id', true), 'roles', current_setting('app.roles', true)) AS data;
CREATE FUNCTION fn_add_note(p_body text) RETURNS mutation_response LANGUAGE plpgsql AS $$
DECLARE r mutation_response; v_id text;
BEGIN
  INSERT INTO tb_note (owner, body) VALUES (current_setting('app.user_id'), p_body) RETURNING id INTO v_id;
  r.status := 'success'; r.entity_id := v_id; r.entity_type := 'Note';
  RETURN r;
END $$;
"#;

const SDL: &str = r#"
type Note @source(view: "v_note") { id: ID! owner: String! body: String! }
type WhoAmI @source(view: "v_whoami") { id: ID! userId: String roles: String }
type Query { notes: [Note!]! whoami: [WhoAmI!]! }
type Mutation { addNote(body: String!): Note @function(name: "fn_add_note") }
"#;

fn config(text: &str) -> fraiseql_engine::config::Config {
    fraiseql_engine::config::parse(text, "fraiseql.toml", &|_| None)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// POSTs `query` with `token` (when given) as a bearer token.
async fn ask(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    query: &str,
) -> (StatusCode, Option<String>, Value) {
    let mut request = http
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": query }));
    if let Some(t) = token {
        request = request.header("Authorization", format!("Bearer {t}"));
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, challenge, response.json().await.expect("JSON"))
}

#[tokio::test]
async fn claims_reach_postgresql_as_settings_that_never_outlive_the_request() {
    let db = support::PgScratch::new(NOTES).await;
    // One pooled connection: every request below uses the same session.
    let running = support::serve(
        config(&format!(
            "[database]\nurl = \"{}\"\npool_min = 1\npool_max = 1\n[auth]\nrequired = false\nsecret = \"{SECRET}\"\n\
             audience = \"fraiseql\"\n",
            db.url
        )),
        SDL,
    )
    .await;
    let (base, http) = (support::base(&running), reqwest::Client::new());
    let hs = Signer::hmac(SECRET);
    let alice = hs.sign(&claims(
        "alice",
        json!({"aud": "fraiseql", "roles": ["admin", "editor"]}),
    ));
    let bob = hs.sign(&claims("bob", json!({"aud": "fraiseql"})));

    let (status, _, body) = ask(
        &http,
        &base,
        Some(&alice),
        "{ notes { id owner } whoami { userId roles } }",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({"notes": [{"id": "n1", "owner": "alice"}], "whoami": [{"userId": "alice", "roles": "[\"admin\",\"editor\"]"}]})
    );
    // A mutation runs its function with the caller's settings, and reads back as them.
    let (_, _, body) = ask(
        &http,
        &base,
        Some(&bob),
        r#"mutation { addNote(body: "it's bob's") { owner body } }"#,
    )
    .await;
    assert_eq!(
        body["data"]["addNote"],
        json!({"owner": "bob", "body": "it's bob's"}),
        "{body}"
    );
    let (_, _, body) = ask(&http, &base, Some(&bob), "{ notes { body } }").await;
    let mut bodies: Vec<&str> = body["data"]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["body"].as_str().unwrap())
        .collect();
    bodies.sort();
    assert_eq!(bodies, ["from bob", "it's bob's"]);
    // The next request on the same connection, anonymous: nothing of bob's is left (an
    // absent claim is '', always).
    let (status, _, body) = ask(
        &http,
        &base,
        None,
        "{ notes { id } whoami { userId roles } }",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"],
        json!({"notes": [], "whoami": [{"userId": "", "roles": ""}]}),
        "{body}"
    );
    // A claim value is data, never SQL.
    let hostile = hs.sign(&claims(
        "x'); DROP TABLE tb_note; --",
        json!({"aud": "fraiseql"}),
    ));
    let (_, _, body) = ask(&http, &base, Some(&hostile), "{ whoami { userId } }").await;
    assert_eq!(
        body["data"]["whoami"][0]["userId"],
        "x'); DROP TABLE tb_note; --"
    );
    let (_, _, body) = ask(&http, &base, Some(&alice), "{ notes { id } }").await;
    assert_eq!(
        body["data"]["notes"],
        json!([{"id": "n1"}]),
        "the table is still there"
    );
    running.stop().await.expect("stops");
    db.drop().await;
}

#[tokio::test]
async fn every_hostile_token_is_refused_with_401_before_any_work() {
    let q = Quickstart::start(&format!(
        "[auth]\nsecret = \"{SECRET}\"\nissuer = \"https://issuer.test\"\naudience = \"fraiseql\"\nleeway_secs = 5\n"
    ))
    .await;
    let (base, http) = (q.base(), reqwest::Client::new());
    let hs = Signer::hmac(SECRET);
    let good = |extra: Value| {
        let mut c = claims(
            "alice",
            json!({"iss": "https://issuer.test", "aud": "fraiseql"}),
        );
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    };
    let valid = hs.sign(&good(json!({})));
    let (status, _, body) = ask(
        &http,
        &base,
        Some(&valid),
        "{ customers(limit: 1) { name } }",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let rsa = Signer::rsa("k1");
    let mut hostile: Vec<(&str, String)> = vec![
        ("expired", hs.sign(&good(json!({"exp": now() - 60})))),
        ("not yet valid", hs.sign(&good(json!({"nbf": now() + 600})))),
        ("no exp", {
            let mut c = good(json!({}));
            c.as_object_mut().unwrap().remove("exp");
            hs.sign(&c)
        }),
        (
            "wrong audience",
            hs.sign(&good(json!({"aud": "someone-else"}))),
        ),
        (
            "wrong issuer",
            hs.sign(&good(json!({"iss": "https://evil.test"}))),
        ),
        ("alg none", jwt::unsigned(&good(json!({})))),
        (
            "forged payload",
            jwt::tampered(&valid, &good(json!({"sub": "admin"}))),
        ),
        (
            "another secret",
            Signer::hmac("another-secret-of-at-least-32-bytes!").sign(&good(json!({}))),
        ),
        ("RS256 with no keys configured", rsa.sign(&good(json!({})))),
        (
            "HS256 signed with a public key",
            jwt::hs256_with(
                &serde_json::to_string(&rsa.jwk()).unwrap(),
                &good(json!({})),
                Some("k1"),
            ),
        ),
        (
            "oversized",
            hs.sign(&good(json!({"pad": "x".repeat(9000)}))),
        ),
        ("garbage", "not-a-token".into()),
        ("two parts", "eyJhbGciOiJIUzI1NiJ9.e30".into()),
        ("bad base64", "eyJhbGciOiJIUzI1NiJ9.!!!.???".into()),
        ("header not JSON", format!("{}.e30.sig", "bm90IGpzb24")),
        ("empty", String::new()),
    ];
    hostile.push(("trailing junk", format!("{valid} extra")));
    for (what, token) in &hostile {
        let (status, challenge, body) =
            ask(&http, &base, Some(token), "{ customers { name } }").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{what}: {body}"
        );
        assert!(body.get("data").is_none(), "{what}");
        let challenge = challenge.unwrap_or_default();
        assert!(challenge.starts_with("Bearer"), "{what}: {challenge}");
        // Nothing about why reaches the client.
        assert_eq!(
            body["errors"][0]["message"], "the bearer token is not valid",
            "{what}"
        );
    }
    // No token at all: 401 with a plain challenge; another scheme: refused.
    let (status, challenge, body) = ask(&http, &base, None, "{ customers { name } }").await;
    assert_eq!(
        (status, challenge.as_deref()),
        (StatusCode::UNAUTHORIZED, Some("Bearer")),
        "{body}"
    );
    let response = http
        .post(format!("{base}/graphql"))
        .header("Authorization", format!("Basic {valid}"))
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // The token is checked before the body is even read: a broken body gets 401, not 400.
    let response = http
        .post(format!("{base}/graphql"))
        .header("Content-Type", "application/json")
        .body("{ not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // GET and batches are held to the same rule.
    let response = http
        .get(format!("{base}/graphql?query=%7B__typename%7D"))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = http
        .get(format!("{base}/graphql?query=%7B__typename%7D"))
        .header("Accept", "application/json")
        .header("Authorization", format!("bearer {valid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the scheme is case-insensitive"
    );
    let metrics = support::metrics(&http, &base).await;
    assert!(metrics.contains("code=\"UNAUTHENTICATED\""), "counted");
    q.running.stop().await.expect("stops");
}

#[tokio::test]
async fn jwks_keys_are_found_by_kid_rotated_rate_limited_and_kept_through_an_outage() {
    let published = Arc::new(Published::default());
    let (rsa, ec, ed) = (Signer::rsa("rsa-1"), Signer::ec("ec-1"), Signer::ed("ed-1"));
    *published.keys.lock().unwrap() = vec![rsa.jwk(), ec.jwk(), ed.jwk()];
    let jwks = jwt::jwks_server(published.clone()).await;
    let q = Quickstart::start(&format!(
        "[auth]\njwks_url = \"{jwks}/jwks.json\"\njwks_min_refresh_secs = 1\njwks_cache_secs = 4\n"
    ))
    .await;
    let (base, http) = (q.base(), reqwest::Client::new());
    let query = "{ customers(limit: 1) { name } }";
    for signer in [&rsa, &ec, &ed] {
        let token = signer.sign(&claims("alice", json!({})));
        let (status, _, body) = ask(&http, &base, Some(&token), query).await;
        assert_eq!(status, StatusCode::OK, "{:?}: {body}", signer.alg);
    }
    // A key may not sign with another algorithm than its own, nor another family.
    let mut wrong = Signer::ec("rsa-1");
    wrong.kid = "rsa-1".into();
    let (status, _, _) = ask(
        &http,
        &base,
        Some(&wrong.sign(&claims("alice", json!({})))),
        query,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "an EC signature under the RSA key's kid"
    );
    // The HMAC family is never verified with keys (no secret is configured).
    let hs = jwt::hs256_with(
        &serde_json::to_string(&rsa.jwk()).unwrap(),
        &claims("x", json!({})),
        Some("rsa-1"),
    );
    assert_eq!(
        ask(&http, &base, Some(&hs), query).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Rotation: a token signed with a key published after the server fetched the set.
    let fetched = published.fetches.load(Ordering::SeqCst);
    let rotated = Signer::rsa("rsa-2");
    published.keys.lock().unwrap().push(rotated.jwk());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let token = rotated.sign(&claims("alice", json!({})));
    assert_eq!(
        ask(&http, &base, Some(&token), query).await.0,
        StatusCode::OK
    );
    assert_eq!(published.fetches.load(Ordering::SeqCst), fetched + 1);
    // Unknown kids in a burst: refused, and the set is fetched at most once a second.
    let before = published.fetches.load(Ordering::SeqCst);
    for i in 0..20 {
        let stranger = Signer::ec(&format!("unknown-{i}"));
        let (status, _, _) = ask(
            &http,
            &base,
            Some(&stranger.sign(&claims("x", json!({})))),
            query,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert!(
        published.fetches.load(Ordering::SeqCst) - before <= 2,
        "a fetch per unknown kid"
    );

    // The endpoint goes down: the keys already fetched keep working until they expire.
    published.down.store(true, Ordering::SeqCst);
    let token = ec.sign(&claims("alice", json!({})));
    assert_eq!(
        ask(&http, &base, Some(&token), query).await.0,
        StatusCode::OK
    );
    // Past jwks_cache_secs with the endpoint still down: refused, not a crash.
    tokio::time::sleep(Duration::from_millis(4200)).await;
    assert_eq!(
        ask(&http, &base, Some(&token), query).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A burst while it is down costs the issuer at most one fetch per interval.
    let before = published.fetches.load(Ordering::SeqCst);
    for _ in 0..20 {
        assert_eq!(
            ask(&http, &base, Some(&token), query).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert!(
        published.fetches.load(Ordering::SeqCst) - before <= 2,
        "a fetch per request while the keys are unavailable"
    );
    // Back up: accepted again.
    published.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        ask(&http, &base, Some(&token), query).await.0,
        StatusCode::OK
    );
    q.running.stop().await.expect("stops");
}

#[tokio::test]
async fn oidc_discovery_finds_the_keys_from_the_issuer() {
    let published = Arc::new(Published::default());
    let signer = Signer::ed("ed-1");
    *published.keys.lock().unwrap() = vec![signer.jwk()];
    let issuer = jwt::jwks_server(published.clone()).await;
    let q = Quickstart::start(&format!(
        "[auth]\nissuer = \"{issuer}\"\naudience = \"app\"\n"
    ))
    .await;
    let (base, http) = (q.base(), reqwest::Client::new());
    let token = signer.sign(&claims(
        "alice",
        json!({"iss": issuer, "aud": ["other", "app"]}),
    ));
    let (status, _, body) = ask(&http, &base, Some(&token), "{ __typename }").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = signer.sign(&claims(
        "alice",
        json!({"iss": "https://elsewhere.test", "aud": "app"}),
    ));
    assert_eq!(
        ask(&http, &base, Some(&token), "{ __typename }").await.0,
        StatusCode::UNAUTHORIZED
    );
    q.running.stop().await.expect("stops");
}

#[tokio::test]
async fn websocket_connections_are_authenticated_by_their_init_token() {
    let q = Quickstart::start(&format!("[auth]\nsecret = \"{SECRET}\"\nleeway_secs = 0\n")).await;
    let addr = q.addr();
    let hs = Signer::hmac(SECRET);
    let valid = hs.sign(&claims("alice", json!({})));
    let expired = hs.sign(&claims("alice", json!({"exp": now() - 600})));
    // No token, an expired one, another scheme: 4403 after connection_init.
    for payload in [
        json!({}),
        json!({"authToken": expired}),
        json!({"Authorization": format!("Basic {valid}")}),
    ] {
        let mut ws = Ws::connect(&addr, "/graphql", Some("graphql-transport-ws")).await;
        ws.send(json!({"type": "connection_init", "payload": payload}))
            .await;
        assert_eq!(ws.closed().await, (4403, "Forbidden".into()), "{payload}");
    }
    // The token in the payload (bare, or as a header value), or in the upgrade's header.
    for payload in [
        json!({"authToken": valid}),
        json!({"Authorization": format!("Bearer {valid}")}),
    ] {
        let mut ws = Ws::connect(&addr, "/graphql", Some("graphql-transport-ws")).await;
        ws.send(json!({"type": "connection_init", "payload": payload}))
            .await;
        assert_eq!(ws.recv().await, json!({"type": "connection_ack"}));
        ws.subscribe("q", "{ customers(limit: 1) { name } }").await;
        assert_eq!(ws.recv().await["type"], "next");
    }
    let bearer = format!("Bearer {valid}");
    let mut ws = Ws::connect_with(
        &addr,
        "/graphql",
        Some("graphql-transport-ws"),
        &[("Authorization", &bearer)],
    )
    .await
    .unwrap();
    ws.send(json!({"type": "connection_init"})).await;
    assert_eq!(ws.recv().await, json!({"type": "connection_ack"}));
    // A connection does not outlive its token: closed with 4403 when it expires.
    let brief = hs.sign(&claims("alice", json!({"exp": now() + 2})));
    let mut ws = Ws::connect(&addr, "/graphql", Some("graphql-transport-ws")).await;
    ws.send(json!({"type": "connection_init", "payload": {"authToken": brief}}))
        .await;
    assert_eq!(ws.recv().await, json!({"type": "connection_ack"}));
    let started = std::time::Instant::now();
    assert_eq!(ws.closed().await, (4403, "Token expired".into()));
    assert!(started.elapsed() < Duration::from_secs(5));
    q.running.stop().await.expect("stops");
}

#[tokio::test]
async fn roles_and_scopes_refuse_fields_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE tb_note (id TEXT PRIMARY KEY, body TEXT, secret TEXT);
             INSERT INTO tb_note VALUES ('n1', 'hello', 's3cret');
             CREATE VIEW v_note AS SELECT id, json_object('id', id, 'body', body, 'secret', secret) AS data FROM tb_note;",
        )
        .unwrap();
    let sdl = r#"
type Note @source(view: "v_note") {
  id: ID!
  body: String!
  secret: String @auth(requires: "admin")
  body2: String @data(key: "body") @auth(scope: "read:more")
}
type Query { notes: [Note!]! }
type Subscription { noteChanged: Note! @topic(name: "notes.changed") }
"#;
    let running = support::serve(
        config(&format!(
            "[database]\nurl = \"sqlite://{}\"\n[auth]\nrequired = false\nsecret = \"{SECRET}\"\n\
             introspection_role = \"developer\"\n[observers]\nbackend = \"memory\"\n\
             [[observers.rules]]\ntable = \"tb_note\"\nsubject = \"notes.changed\"\n",
            db.display()
        )),
        sdl,
    )
    .await;
    let (base, http) = (support::base(&running), reqwest::Client::new());
    let hs = Signer::hmac(SECRET);
    let alice = hs.sign(&claims(
        "alice",
        json!({"roles": ["editor"], "scope": "read:more other"}),
    ));
    let admin = hs.sign(&claims("root", json!({"roles": "admin developer"})));

    // Anonymous: 401; a token without the role: 403; with it: the data.
    let (status, challenge, body) = ask(&http, &base, None, "{ notes { secret } }").await;
    assert_eq!(
        (status, challenge.as_deref()),
        (StatusCode::UNAUTHORIZED, Some("Bearer")),
        "{body}"
    );
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    let (status, _, body) = ask(&http, &base, Some(&alice), "{ notes { id s: secret } }").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    assert_eq!(body["errors"][0]["path"], json!(["notes", "s"]));
    assert!(body.get("data").is_none(), "no data at all: {body}");
    let (status, _, body) = ask(&http, &base, Some(&admin), "{ notes { secret } }").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["notes"][0]["secret"], "s3cret");
    // A scope from the space-separated `scope` claim.
    let (status, _, body) = ask(&http, &base, Some(&alice), "{ notes { body2 } }").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = ask(&http, &base, Some(&admin), "{ notes { body2 } }").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Open fields stay open to anyone.
    let (status, _, _) = ask(&http, &base, None, "{ notes { body } }").await;
    assert_eq!(status, StatusCode::OK);

    // Introspection limited to `developer`.
    let introspect = "{ __schema { queryType { name } } }";
    assert_eq!(
        ask(&http, &base, None, introspect).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        ask(&http, &base, Some(&alice), introspect).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ask(&http, &base, Some(&admin), introspect).await.0,
        StatusCode::OK
    );
    assert_eq!(
        ask(&http, &base, None, "{ __typename }").await.0,
        StatusCode::OK
    );

    // Over a WebSocket: an `error` for that operation; the connection stays.
    let mut ws = Ws::connect(
        &running.addr.to_string(),
        "/graphql",
        Some("graphql-transport-ws"),
    )
    .await;
    ws.send(json!({"type": "connection_init", "payload": {"authToken": alice}}))
        .await;
    assert_eq!(ws.recv().await, json!({"type": "connection_ack"}));
    ws.subscribe("x", "{ notes { secret } }").await;
    let m = ws.recv().await;
    assert_eq!(
        (m["id"].as_str(), m["type"].as_str()),
        (Some("x"), Some("error")),
        "{m}"
    );
    assert_eq!(m["payload"][0]["extensions"]["code"], "FORBIDDEN", "{m}");
    ws.subscribe("y", "{ notes { body } }").await;
    assert_eq!(ws.recv().await["type"], "next");
    assert_eq!(ws.recv().await["type"], "complete");
    // A subscription is held to the same rule.
    ws.subscribe("s", "subscription { noteChanged { secret } }")
        .await;
    let m = ws.recv().await;
    assert_eq!(
        (m["id"].as_str(), m["type"].as_str()),
        (Some("s"), Some("error")),
        "{m}"
    );
    assert_eq!(m["payload"][0]["extensions"]["code"], "FORBIDDEN", "{m}");
    ws.subscribe("t", "subscription { noteChanged { body } }")
        .await;
    ws.send(json!({"type": "ping"})).await;
    assert_eq!(
        ws.recv().await,
        json!({"type": "pong"}),
        "the allowed subscription runs"
    );
    running.stop().await.expect("stops");
}

/// The notes scenario on SQLite: `current_setting` as on PostgreSQL (the server gives each
/// connection the function), a mutation's trigger reading it too.
const SQLITE_NOTES: &str = r#"
CREATE TABLE tb_note (id TEXT PRIMARY KEY, owner TEXT NOT NULL, body TEXT NOT NULL);
INSERT INTO tb_note VALUES ('n1', 'alice', 'from alice'), ('n2', 'bob', 'from bob');
CREATE VIEW v_note AS SELECT id, json_object('id', id, 'owner', owner, 'body', body) AS data
  FROM tb_note WHERE owner = current_setting('app.user_id', true);
CREATE VIEW v_whoami AS SELECT 'me' AS id, json_object('id', 'me',
  'user_id', current_setting('app.user_id', true), 'roles', current_setting('app.roles', true)) AS data;
CREATE TABLE fraiseql_mutation_response (status TEXT NOT NULL, message TEXT, entity_id TEXT,
  entity_type TEXT, entity TEXT, metadata TEXT);
CREATE VIEW fn_add_note AS SELECT NULL AS p_body WHERE 0;
CREATE TRIGGER fn_add_note_call INSTEAD OF INSERT ON fn_add_note BEGIN
  INSERT INTO tb_note (id, owner, body)
    VALUES (lower(hex(randomblob(8))), current_setting('app.user_id'), NEW.p_body);
  INSERT INTO fraiseql_mutation_response (status, entity_id, entity_type)
    SELECT 'success', id, 'Note' FROM tb_note WHERE rowid = last_insert_rowid();
END;
"#;

/// The notes scenario on MariaDB: views cannot read user variables (a MySQL rule), so they
/// call stored functions that do; the procedure reads the variable directly.
const MARIADB_NOTES: &str = r#"
CREATE TABLE tb_note (id VARCHAR(36) PRIMARY KEY, owner VARCHAR(100) NOT NULL, body TEXT NOT NULL);
INSERT INTO tb_note VALUES ('n1', 'alice', 'from alice'), ('n2', 'bob', 'from bob');
CREATE FUNCTION app_user_id() RETURNS TEXT NOT DETERMINISTIC READS SQL DATA RETURN @`app.user_id`;
CREATE FUNCTION app_roles() RETURNS TEXT NOT DETERMINISTIC READS SQL DATA RETURN @`app.roles`;
CREATE VIEW v_note AS SELECT id, JSON_OBJECT('id', id, 'owner', owner, 'body', body) AS data
  FROM tb_note WHERE owner = app_user_id();
CREATE VIEW v_whoami AS SELECT 'me' AS id, JSON_OBJECT('id', 'me', 'user_id', app_user_id(),
  'roles', app_roles()) AS data;
CREATE PROCEDURE fn_add_note(IN p_body TEXT)
BEGIN
  DECLARE v_id CHAR(36) DEFAULT UUID();
  INSERT INTO tb_note VALUES (v_id, @`app.user_id`, p_body);
  SELECT 'success' AS status, v_id AS entity_id, 'Note' AS entity_type;
END;
"#;

/// Claims reach SQL on `url`'s database the same way on every dialect, and never outlive
/// their request on the one pooled connection.
async fn claims_reach(url: &str) {
    let running = support::serve(
        config(&format!(
            "[database]\nurl = \"{url}\"\npool_min = 1\npool_max = 1\n[auth]\nrequired = false\n\
             secret = \"{SECRET}\"\n"
        )),
        SDL,
    )
    .await;
    let (base, http) = (support::base(&running), reqwest::Client::new());
    let hs = Signer::hmac(SECRET);
    let alice = hs.sign(&claims("alice", json!({"roles": ["admin"]})));
    let bob = hs.sign(&claims("bob", json!({})));
    let (status, _, body) = ask(
        &http,
        &base,
        Some(&alice),
        "{ notes { id } whoami { userId roles } }",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{url}: {body}");
    assert_eq!(
        body["data"],
        json!({"notes": [{"id": "n1"}], "whoami": [{"userId": "alice", "roles": "[\"admin\"]"}]}),
        "{url}"
    );
    let (_, _, body) = ask(
        &http,
        &base,
        Some(&bob),
        r#"mutation { addNote(body: "bob's 'quoted' note") { owner body } }"#,
    )
    .await;
    assert_eq!(
        body["data"]["addNote"],
        json!({"owner": "bob", "body": "bob's 'quoted' note"}),
        "{url}: {body}"
    );
    let (_, _, body) = ask(&http, &base, None, "{ notes { id } whoami { userId } }").await;
    assert_eq!(
        body["data"],
        json!({"notes": [], "whoami": [{"userId": ""}]}),
        "{url}: nothing of bob's is left"
    );
    let hostile = hs.sign(&claims("x'); DROP TABLE tb_note; --", json!({})));
    let (_, _, body) = ask(&http, &base, Some(&hostile), "{ whoami { userId } }").await;
    assert_eq!(
        body["data"]["whoami"][0]["userId"], "x'); DROP TABLE tb_note; --",
        "{url}"
    );
    let (_, _, body) = ask(&http, &base, Some(&alice), "{ notes { id } }").await;
    assert_eq!(
        body["data"]["notes"],
        json!([{"id": "n1"}]),
        "{url}: the table is still there"
    );
    running.stop().await.expect("stops");
}

#[tokio::test]
async fn claims_reach_sqlite_and_mariadb_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("notes.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(SQLITE_NOTES)
        .unwrap();
    claims_reach(&format!("sqlite://{}", db.display())).await;
    let maria = support::MysqlScratch::new(MARIADB_NOTES).await;
    claims_reach(&maria.url).await;
}

/// `inject` on each dialect: documents with an owner (a data key) and an organization (a
/// view column beside `data`); every view shows every row, so only the injected filters
/// keep callers apart.
const PG_DOCS: &str = r#"
CREATE TYPE mutation_response AS (status text, message text, entity_id text,
  entity_type text, entity jsonb, updated_fields text[], cascade jsonb, metadata jsonb);
CREATE TABLE tb_doc (id text PRIMARY KEY, owner text NOT NULL, org text NOT NULL, body text NOT NULL);
INSERT INTO tb_doc VALUES ('d1', 'alice', 'acme', 'a1'), ('d2', 'bob', 'acme', 'b1'),
  ('d3', 'bob', 'globex', 'b2');
CREATE VIEW v_doc AS SELECT id, org, jsonb_build_object('id', id, 'owner', owner, 'body', body) AS data
  FROM tb_doc;
CREATE FUNCTION fn_add_doc(p_body text, p_owner text) RETURNS mutation_response LANGUAGE plpgsql AS $$
DECLARE r mutation_response;
BEGIN
  INSERT INTO tb_doc VALUES ('d' || (SELECT count(*) + 1 FROM tb_doc), p_owner, 'acme', p_body)
    RETURNING id INTO r.entity_id;
  r.status := 'success'; r.entity_type := 'Doc';
  RETURN r;
END $$;
"#;

const SQLITE_DOCS: &str = r#"
CREATE TABLE tb_doc (id TEXT PRIMARY KEY, owner TEXT NOT NULL, org TEXT NOT NULL, body TEXT NOT NULL);
INSERT INTO tb_doc VALUES ('d1', 'alice', 'acme', 'a1'), ('d2', 'bob', 'acme', 'b1'),
  ('d3', 'bob', 'globex', 'b2');
CREATE VIEW v_doc AS SELECT id, org, json_object('id', id, 'owner', owner, 'body', body) AS data
  FROM tb_doc;
CREATE TABLE fraiseql_mutation_response (status TEXT NOT NULL, message TEXT, entity_id TEXT,
  entity_type TEXT, entity TEXT, metadata TEXT);
CREATE VIEW fn_add_doc AS SELECT NULL AS p_body, NULL AS p_owner WHERE 0;
CREATE TRIGGER fn_add_doc_call INSTEAD OF INSERT ON fn_add_doc BEGIN
  INSERT INTO tb_doc VALUES ('d' || ((SELECT count(*) FROM tb_doc) + 1), NEW.p_owner, 'acme', NEW.p_body);
  INSERT INTO fraiseql_mutation_response (status, entity_id, entity_type)
    SELECT 'success', id, 'Doc' FROM tb_doc WHERE rowid = last_insert_rowid();
END;
"#;

const MARIADB_DOCS: &str = r#"
CREATE TABLE tb_doc (id VARCHAR(36) PRIMARY KEY, owner VARCHAR(100) NOT NULL,
  org VARCHAR(100) NOT NULL, body TEXT NOT NULL);
INSERT INTO tb_doc VALUES ('d1', 'alice', 'acme', 'a1'), ('d2', 'bob', 'acme', 'b1'),
  ('d3', 'bob', 'globex', 'b2');
CREATE VIEW v_doc AS SELECT id, org, JSON_OBJECT('id', id, 'owner', owner, 'body', body) AS data
  FROM tb_doc;
CREATE PROCEDURE fn_add_doc(IN p_body TEXT, IN p_owner TEXT)
BEGIN
  DECLARE v_id VARCHAR(36);
  SET v_id = CONCAT('d', (SELECT COUNT(*) + 1 FROM tb_doc));
  INSERT INTO tb_doc VALUES (v_id, p_owner, 'acme', p_body);
  SELECT 'success' AS status, v_id AS entity_id, 'Doc' AS entity_type;
END;
"#;

const DOCS_SDL: &str = r#"
type Doc @source(view: "v_doc") { id: ID! owner: String! body: String! }
type Query {
  docs: [Doc!]! @inject(owner: "jwt:sub")
  orgDocs: [Doc!]! @inject(org: "jwt:org")
}
type Mutation {
  addDoc(body: String!): Doc @function(name: "fn_add_doc") @inject(owner: "jwt:sub")
}
"#;

/// The ids `query` answers with `token` (sorted), or its error code and HTTP status.
async fn doc_ids(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    query: &str,
) -> Result<Vec<String>, (StatusCode, String)> {
    let (status, _, body) = ask(http, base, token, query).await;
    if let Some(e) = body["errors"].get(0) {
        return Err((
            status,
            e["extensions"]["code"].as_str().unwrap_or("").into(),
        ));
    }
    let list = body["data"].as_object().unwrap().values().next().unwrap();
    let mut ids: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    Ok(ids)
}

async fn injects_on(url: &str) {
    let running = support::serve(
        config(&format!(
            "[database]\nurl = \"{url}\"\n[auth]\nrequired = false\nsecret = \"{SECRET}\"\n"
        )),
        DOCS_SDL,
    )
    .await;
    let (base, http) = (support::base(&running), reqwest::Client::new());
    let hs = Signer::hmac(SECRET);
    let alice = hs.sign(&claims("alice", json!({"org": "acme"})));
    let bob = hs.sign(&claims("bob", json!({"org": ["acme", "globex"]})));
    let ids = |v: &[&str]| Ok(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());

    // The claim filters: a data key, a view column, a list claim.
    assert_eq!(
        doc_ids(&http, &base, Some(&alice), "{ docs { id } }").await,
        ids(&["d1"]),
        "{url}"
    );
    assert_eq!(
        doc_ids(&http, &base, Some(&bob), "{ docs { id } }").await,
        ids(&["d2", "d3"])
    );
    assert_eq!(
        doc_ids(&http, &base, Some(&alice), "{ orgDocs { id } }").await,
        ids(&["d1", "d2"])
    );
    assert_eq!(
        doc_ids(&http, &base, Some(&bob), "{ orgDocs { id } }").await,
        ids(&["d1", "d2", "d3"])
    );
    // Without a token, or without the claim, or with a claim that is no value: refused
    // before any database work.
    assert_eq!(
        doc_ids(&http, &base, None, "{ docs { id } }").await,
        Err((StatusCode::UNAUTHORIZED, "UNAUTHENTICATED".into())),
        "{url}"
    );
    let no_org = hs.sign(&claims("carol", json!({})));
    assert_eq!(
        doc_ids(&http, &base, Some(&no_org), "{ orgDocs { id } }").await,
        Err((StatusCode::FORBIDDEN, "FORBIDDEN".into()))
    );
    let object_org = hs.sign(&claims("carol", json!({"org": {"name": "acme"}})));
    assert_eq!(
        doc_ids(&http, &base, Some(&object_org), "{ orgDocs { id } }").await,
        Err((StatusCode::FORBIDDEN, "FORBIDDEN".into()))
    );
    // A hostile claim is a value like any other: it matches nothing.
    for hostile in [
        "x' OR '1'='1",
        "acme'; DROP TABLE tb_doc; --",
        "%",
        "acme\\",
        "",
    ] {
        let token = hs.sign(&claims(hostile, json!({"org": hostile})));
        assert_eq!(
            doc_ids(&http, &base, Some(&token), "{ docs { id } }").await,
            ids(&[]),
            "{url} {hostile}"
        );
        assert_eq!(
            doc_ids(&http, &base, Some(&token), "{ orgDocs { id } }").await,
            ids(&[]),
            "{url} {hostile}"
        );
    }
    // The client cannot name an injected key.
    let (status, _, body) = ask(
        &http,
        &base,
        Some(&alice),
        r#"{ docs(owner: "bob") { id } }"#,
    )
    .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{status} {body}"
    );
    let (_, _, body) = ask(
        &http,
        &base,
        Some(&alice),
        r#"mutation { addDoc(body: "x", owner: "bob") { id } }"#,
    )
    .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{body}"
    );
    // A mutation gets the claim after the client's arguments.
    let (_, _, body) = ask(
        &http,
        &base,
        Some(&bob),
        r#"mutation { addDoc(body: "bob's 'new' doc") { owner body } }"#,
    )
    .await;
    assert_eq!(
        body["data"]["addDoc"],
        json!({"owner": "bob", "body": "bob's 'new' doc"}),
        "{url}: {body}"
    );
    let (status, _, _) = ask(
        &http,
        &base,
        None,
        r#"mutation { addDoc(body: "x") { id } }"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        doc_ids(&http, &base, Some(&alice), "{ docs { id } }").await,
        ids(&["d1"]),
        "{url}"
    );
    running.stop().await.expect("stops");
}

#[tokio::test]
async fn injected_claims_filter_queries_and_feed_mutations_on_every_dialect() {
    let pg = support::PgScratch::new(PG_DOCS).await;
    injects_on(&pg.url).await;
    pg.drop().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("docs.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(SQLITE_DOCS)
        .unwrap();
    injects_on(&format!("sqlite://{}", db.display())).await;
    let maria = support::MysqlScratch::new(MARIADB_DOCS).await;
    injects_on(&maria.url).await;
}

/// A verified token is remembered (its meaning, not a pass): once its `exp` passes, the
/// next request with it is refused like any expired token.
#[tokio::test]
async fn a_remembered_token_is_refused_once_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("notes.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(SQLITE_NOTES)
        .unwrap();
    let running = support::serve(
        config(&format!(
            "[database]\nurl = \"sqlite://{}\"\n[auth]\nsecret = \"{SECRET}\"\nleeway_secs = 0\n",
            db.display()
        )),
        SDL,
    )
    .await;
    let (base, http) = (support::base(&running), reqwest::Client::new());
    let short = Signer::hmac(SECRET).sign(&json!({"sub": "alice", "exp": now() + 2}));
    for _ in 0..3 {
        let (status, _, body) = ask(&http, &base, Some(&short), "{ whoami { userId } }").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["whoami"][0]["userId"], "alice");
    }
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (status, challenge, _) = ask(&http, &base, Some(&short), "{ whoami { userId } }").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.as_deref(), Some("Bearer error=\"invalid_token\""));
    running.stop().await.expect("stops");
}
