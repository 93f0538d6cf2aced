//! `[multi_tenancy]` (issue 15) through a real server, `strategy = "row"`: the tenant named
//! by the header (behind a gateway) or by a verified token's claim becomes `app.tenant_id`,
//! which PostgreSQL row-level security policies (a view with `security_invoker`, read by a
//! role that is not a superuser), MariaDB stored functions and SQLite's `current_setting`
//! read; hostile, missing and disagreeing tenants are refused before any database work;
//! metrics count each tenant, capped.

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::jwt::{claims, Signer, SECRET};

mod support;

/// Projects of two tenants; the write function takes the tenant from the setting.
const PG_PROJECTS: &str = r#"
CREATE TYPE mutation_response AS (status text, message text, entity_id text,
  entity_type text, entity jsonb, updated_fields text[], cascade jsonb, metadata jsonb);
CREATE TABLE tb_project (id text PRIMARY KEY,
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id'), name text NOT NULL);
ALTER TABLE tb_project ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_tenant ON tb_project
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
INSERT INTO tb_project VALUES ('p1', 'acme', 'Rocket'), ('p2', 'acme', 'Anvil'),
  ('p3', 'globex', 'Dome');
CREATE VIEW v_project WITH (security_invoker = true) AS
  SELECT id, tenant_id, jsonb_build_object('id', id, 'name', name, 'tenant_id', tenant_id) AS data
  FROM tb_project;
-- Without security_invoker a view reads as its owner: the one way to leak.
CREATE VIEW v_project_leaky AS
  SELECT id, jsonb_build_object('id', id, 'name', name, 'tenant_id', tenant_id) AS data
  FROM tb_project;
CREATE FUNCTION fn_create_project(p_id text, p_name text) RETURNS mutation_response
LANGUAGE plpgsql AS $$
DECLARE r mutation_response;
BEGIN
  INSERT INTO tb_project (id, name) VALUES (p_id, p_name);
  r.status := 'success'; r.entity_id := p_id; r.entity_type := 'Project';
  RETURN r;
END $$;
"#;

const SQLITE_PROJECTS: &str = r#"
CREATE TABLE tb_project (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, name TEXT NOT NULL);
INSERT INTO tb_project VALUES ('p1', 'acme', 'Rocket'), ('p2', 'acme', 'Anvil'),
  ('p3', 'globex', 'Dome');
CREATE VIEW v_project AS SELECT id, tenant_id,
  json_object('id', id, 'name', name, 'tenant_id', tenant_id) AS data
  FROM tb_project WHERE tenant_id = current_setting('app.tenant_id', 1);
CREATE VIEW v_project_leaky AS SELECT id,
  json_object('id', id, 'name', name, 'tenant_id', tenant_id) AS data FROM tb_project;
CREATE TABLE fraiseql_mutation_response (status TEXT NOT NULL, message TEXT, entity_id TEXT,
  entity_type TEXT, entity TEXT, metadata TEXT);
CREATE VIEW fn_create_project AS SELECT NULL AS p_id, NULL AS p_name WHERE 0;
CREATE TRIGGER fn_create_project_call INSTEAD OF INSERT ON fn_create_project BEGIN
  INSERT INTO tb_project VALUES (NEW.p_id, current_setting('app.tenant_id'), NEW.p_name);
  INSERT INTO fraiseql_mutation_response (status, entity_id, entity_type)
    VALUES ('success', NEW.p_id, 'Project');
END;
"#;

const MARIADB_PROJECTS: &str = r#"
CREATE TABLE tb_project (id VARCHAR(36) PRIMARY KEY, tenant_id VARCHAR(63) NOT NULL,
  name VARCHAR(100) NOT NULL);
INSERT INTO tb_project VALUES ('p1', 'acme', 'Rocket'), ('p2', 'acme', 'Anvil'),
  ('p3', 'globex', 'Dome');
CREATE FUNCTION app_tenant() RETURNS TEXT NOT DETERMINISTIC READS SQL DATA RETURN @`app.tenant_id`;
CREATE VIEW v_project AS SELECT id, tenant_id,
  JSON_OBJECT('id', id, 'name', name, 'tenant_id', tenant_id) AS data
  FROM tb_project WHERE tenant_id = app_tenant();
CREATE VIEW v_project_leaky AS SELECT id,
  JSON_OBJECT('id', id, 'name', name, 'tenant_id', tenant_id) AS data FROM tb_project;
CREATE PROCEDURE fn_create_project(IN p_id TEXT, IN p_name TEXT)
BEGIN
  INSERT INTO tb_project VALUES (p_id, @`app.tenant_id`, p_name);
  SELECT 'success' AS status, p_id AS entity_id, 'Project' AS entity_type;
END;
"#;

const SDL: &str = r#"
type Project @source(view: "v_project") { id: ID! name: String! tenantId: String! }
type LeakyProject @source(view: "v_project_leaky") { id: ID! name: String! tenantId: String! }
type Query {
  projects: [Project!]!
  project(id: ID!): Project
  leakyProjects: [LeakyProject!]!
}
type Mutation {
  createProject(id: ID!, name: String!): Project @function(name: "fn_create_project")
}
"#;

fn config(text: &str) -> fraiseql_engine::config::Config {
    fraiseql_engine::config::parse(text, "fraiseql.toml", &|_| None)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Status, error code (if any) and body of `query` sent with `headers`.
async fn ask(
    http: &reqwest::Client,
    base: &str,
    headers: &[(&str, &str)],
    query: &str,
) -> (StatusCode, Option<String>, Value) {
    let mut request = http
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": query }));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let body: Value = response.json().await.expect("JSON");
    let code = body["errors"][0]["extensions"]["code"]
        .as_str()
        .map(str::to_owned);
    (status, code, body)
}

/// The project ids a tenant's `projects` answers with, sorted.
async fn project_ids(http: &reqwest::Client, base: &str, headers: &[(&str, &str)]) -> Vec<String> {
    let (status, _, body) = ask(http, base, headers, "{ projects { id tenantId } }").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut ids: Vec<String> = body["data"]["projects"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// The row strategy behind a gateway (the header names the tenant) on the database at `url`,
/// whose one pooled connection every request shares.
async fn rows_are_kept_apart(url: &str, leaky_leaks: bool) {
    let running = support::serve(
        config(&format!(
            "[database]\nurl = \"{url}\"\npool_min = 1\npool_max = 1\n[multi_tenancy]\n\
             strategy = \"row\"\nmax_tenant_labels = 2\n"
        )),
        SDL,
    )
    .await;
    let (base, http) = (support::base(&running), reqwest::Client::new());
    let acme = [("X-Tenant-ID", "acme")];
    let globex = [("X-Tenant-ID", "globex")];
    assert_eq!(
        project_ids(&http, &base, &acme).await,
        ["p1", "p2"],
        "{url}"
    );
    assert_eq!(project_ids(&http, &base, &globex).await, ["p3"], "{url}");
    assert_eq!(
        project_ids(&http, &base, &acme).await,
        ["p1", "p2"],
        "{url}: not globex's"
    );
    // By id: another tenant's row is not there.
    let (_, _, body) = ask(&http, &base, &globex, r#"{ project(id: "p1") { id } }"#).await;
    assert_eq!(body["data"]["project"], Value::Null, "{url}: {body}");
    // A mutation writes under the caller's tenant and reads back as it.
    let (_, _, body) = ask(
        &http,
        &base,
        &globex,
        r#"mutation { createProject(id: "p4", name: "globex's 'new' one") { id tenantId } }"#,
    )
    .await;
    assert_eq!(
        body["data"]["createProject"],
        json!({"id": "p4", "tenantId": "globex"}),
        "{url}: {body}"
    );
    assert_eq!(
        project_ids(&http, &base, &acme).await,
        ["p1", "p2"],
        "{url}"
    );
    assert_eq!(
        project_ids(&http, &base, &globex).await,
        ["p3", "p4"],
        "{url}"
    );
    // Missing, hostile and unknown tenants.
    let (status, code, _) = ask(&http, &base, &[], "{ projects { id } }").await;
    assert_eq!(
        (status, code.as_deref()),
        (StatusCode::UNAUTHORIZED, Some("UNAUTHENTICATED")),
        "{url}"
    );
    let long = "a".repeat(64);
    for hostile in [
        "acme' OR '1'='1",
        "acme; DROP TABLE tb_project",
        "../acme",
        "acme\u{202e}",
        "ácme",
        long.as_str(),
    ] {
        let request = http
            .post(format!("{base}/graphql"))
            .header("X-Tenant-ID", hostile.as_bytes())
            .json(&json!({"query": "{ projects { id } }"}));
        let response = request.send().await.expect("request");
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{url}: {hostile:?}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_REQUEST",
            "{body}"
        );
    }
    // A tenant with no rows sees none.
    assert!(project_ids(&http, &base, &[("X-Tenant-ID", "initech")])
        .await
        .is_empty());
    // A view that ignores the tenant is the one way to leak (what `fraiseql check` warns of).
    let (_, _, body) = ask(&http, &base, &acme, "{ leakyProjects { id } }").await;
    let leaked = body["data"]["leakyProjects"].as_array().unwrap().len();
    assert_eq!(leaked > 2, leaky_leaks, "{url}: {body}");
    // Per-tenant metrics, the tenants past max_tenant_labels counted as `other`.
    let metrics = support::metrics(&http, &base).await;
    assert!(
        metrics.contains(r#"fraiseql_tenant_requests_total{endpoint="/graphql",tenant_id="acme"}"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"tenant_id="globex""#), "{metrics}");
    assert!(metrics.contains(r#"tenant_id="other""#), "{metrics}");
    assert!(!metrics.contains(r#"tenant_id="initech""#), "{metrics}");
    assert!(!metrics.contains("DROP TABLE"), "{metrics}");
    running.stop().await.expect("stops");
}

/// The projects database on PostgreSQL and a login role that is not a superuser (superusers
/// pass every policy) and owns nothing, with what the server needs granted; the URL names
/// that role.
async fn rls_database() -> (support::PgScratch, String, String) {
    let db = support::PgScratch::new(PG_PROJECTS).await;
    let role = format!("app_{}", &db.name[11..]);
    let (scratch, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    support::pg_admin()
        .await
        .batch_execute(&format!("CREATE ROLE {role} LOGIN"))
        .await
        .unwrap();
    scratch
        .batch_execute(&format!(
            "GRANT SELECT, INSERT ON tb_project TO {role}; GRANT SELECT ON v_project, \
             v_project_leaky TO {role}; GRANT USAGE ON TYPE mutation_response TO {role};"
        ))
        .await
        .unwrap();
    let url = db.url.replacen("://postgres@", &format!("://{role}@"), 1);
    (db, role, url)
}

async fn drop_rls_database(db: support::PgScratch, role: &str) {
    db.drop().await;
    support::pg_admin()
        .await
        .batch_execute(&format!("DROP ROLE IF EXISTS {role}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn postgresql_row_level_security_keeps_tenants_apart() {
    let (db, role, url) = rls_database().await;
    assert_ne!(url, db.url, "the test URL names the postgres user");
    rows_are_kept_apart(&url, true).await;
    // `fraiseql check` names the view that leaks, and passes the one that does not.
    let schema = fraiseql_engine::schema::load_schema(SDL, "schema.graphql").unwrap();
    let cfg = config(&format!("[database]\nurl = \"{url}\"\n[multi_tenancy]\n"));
    let report = fraiseql_server::check(&cfg, &schema).await;
    let warnings = report.warnings.join("\n");
    assert!(
        warnings.contains("view 'v_project_leaky' (read by 'v_project_leaky') reads as its owner"),
        "{warnings}"
    );
    assert!(!warnings.contains("'v_project' "), "{warnings}");
    assert!(
        report
            .ok
            .iter()
            .any(|l| l.contains("view 'v_project' reads only tables with row-level security")),
        "{:?}",
        report.ok
    );
    drop_rls_database(db, &role).await;
}

#[tokio::test]
async fn sqlite_and_mariadb_views_keep_tenants_apart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("projects.db");
    rusqlite::Connection::open(&file)
        .unwrap()
        .execute_batch(SQLITE_PROJECTS)
        .unwrap();
    rows_are_kept_apart(&format!("sqlite://{}", file.display()), true).await;
    let maria = support::MysqlScratch::new(MARIADB_PROJECTS).await;
    rows_are_kept_apart(&maria.url, true).await;
}

#[tokio::test]
async fn with_auth_the_token_names_the_tenant_and_the_header_must_agree() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("projects.db");
    rusqlite::Connection::open(&file)
        .unwrap()
        .execute_batch(SQLITE_PROJECTS)
        .unwrap();
    let running = support::serve(
        config(&format!(
            "[database]\nurl = \"sqlite://{}\"\n[auth]\nsecret = \"{SECRET}\"\n[multi_tenancy]\n",
            file.display()
        )),
        SDL,
    )
    .await;
    let (base, http) = (support::base(&running), reqwest::Client::new());
    let hs = Signer::hmac(SECRET);
    let acme = format!(
        "Bearer {}",
        hs.sign(&claims("alice", json!({"tenant_id": "acme"})))
    );
    let no_tenant = format!("Bearer {}", hs.sign(&claims("bob", json!({}))));
    let q = "{ projects { id } }";
    assert_eq!(
        project_ids(&http, &base, &[("Authorization", &acme)]).await,
        ["p1", "p2"]
    );
    assert_eq!(
        project_ids(
            &http,
            &base,
            &[("Authorization", &acme), ("X-Tenant-ID", "acme")]
        )
        .await,
        ["p1", "p2"]
    );
    // A header that names another tenant than the token.
    let (status, code, _) = ask(
        &http,
        &base,
        &[("Authorization", &acme), ("X-Tenant-ID", "globex")],
        q,
    )
    .await;
    assert_eq!(
        (status, code.as_deref()),
        (StatusCode::FORBIDDEN, Some("FORBIDDEN"))
    );
    // With [auth], a header alone is not believed.
    let (status, code, _) = ask(
        &http,
        &base,
        &[("Authorization", &no_tenant), ("X-Tenant-ID", "globex")],
        q,
    )
    .await;
    assert_eq!(
        (status, code.as_deref()),
        (StatusCode::UNAUTHORIZED, Some("UNAUTHENTICATED"))
    );
    // A hostile claim is refused like a hostile header.
    let hostile = format!(
        "Bearer {}",
        hs.sign(&claims("eve", json!({"tenant_id": "acme' OR '1'='1"})))
    );
    let (status, _, _) = ask(&http, &base, &[("Authorization", &hostile)], q).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    running.stop().await.expect("stops");
}

/// One tenant's database: its projects, a view without any tenant filter (the database is
/// the boundary), and the write function.
const PG_TENANT_DB: &str = r#"
CREATE TYPE mutation_response AS (status text, message text, entity_id text,
  entity_type text, entity jsonb, updated_fields text[], cascade jsonb, metadata jsonb);
CREATE TABLE tb_project (id text PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL);
CREATE VIEW v_project AS
  SELECT id, jsonb_build_object('id', id, 'name', name, 'tenant_id', tenant_id) AS data
  FROM tb_project;
CREATE VIEW v_project_leaky AS SELECT * FROM v_project;
CREATE FUNCTION fn_create_project(p_id text, p_name text) RETURNS mutation_response
LANGUAGE plpgsql AS $$
DECLARE r mutation_response;
BEGIN
  INSERT INTO tb_project VALUES (p_id, current_setting('app.tenant_id'), p_name);
  r.status := 'success'; r.entity_id := p_id; r.entity_type := 'Project';
  RETURN r;
END $$;
"#;

#[tokio::test]
async fn each_tenant_has_its_own_postgresql_database() {
    let admin = support::pg_admin().await;
    let prefix = format!(
        "fraiseql_t_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    for (tenant, rows) in [
        ("acme", "('p1', 'acme', 'Rocket'), ('p2', 'acme', 'Anvil')"),
        ("globex", "('p3', 'globex', 'Dome')"),
    ] {
        let name = format!("{prefix}_{tenant}");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let (c, connection) = tokio_postgres::connect(
            &support::with_database(&support::pg_url(), &name),
            tokio_postgres::NoTls,
        )
        .await
        .unwrap();
        tokio::spawn(connection);
        c.batch_execute(PG_TENANT_DB).await.unwrap();
        c.batch_execute(&format!("INSERT INTO tb_project VALUES {rows}"))
            .await
            .unwrap();
    }
    let url = support::with_database(&support::pg_url(), &format!("{prefix}_{{tenant}}"));
    // One tenant database open at a time: every switch closes one and opens the other.
    let running = support::serve(
        config(&format!(
            "[database]\nurl = \"{url}\"\npool_max = 2\n[multi_tenancy]\n\
             strategy = \"database_per_tenant\"\nmax_tenant_pools = 1\n"
        )),
        SDL,
    )
    .await;
    let (base, http) = (support::base(&running), reqwest::Client::new());
    let acme = [("X-Tenant-ID", "acme")];
    let globex = [("X-Tenant-ID", "globex")];
    for _ in 0..3 {
        assert_eq!(project_ids(&http, &base, &acme).await, ["p1", "p2"]);
        assert_eq!(project_ids(&http, &base, &globex).await, ["p3"]);
    }
    let (_, _, body) = ask(
        &http,
        &base,
        &acme,
        r#"mutation { createProject(id: "p9", name: "new") { id tenantId } }"#,
    )
    .await;
    assert_eq!(
        body["data"]["createProject"],
        json!({"id": "p9", "tenantId": "acme"}),
        "{body}"
    );
    assert_eq!(project_ids(&http, &base, &acme).await, ["p1", "p2", "p9"]);
    assert_eq!(project_ids(&http, &base, &globex).await, ["p3"]);
    // A tenant without a database: a clear error, nothing opened.
    let (_, code, body) = ask(
        &http,
        &base,
        &[("X-Tenant-ID", "initech")],
        "{ projects { id } }",
    )
    .await;
    assert_eq!(code.as_deref(), Some("NOT_FOUND"), "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("unknown tenant 'initech'"));
    let metrics = support::metrics(&http, &base).await;
    let open: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("fraiseql_tenant_pools_open "))
        .expect("the gauge")
        .parse()
        .unwrap();
    assert!(open <= 1.0, "{metrics}");
    // One tenant's database goes away: only that tenant's requests fail.
    admin
        .batch_execute(&format!("DROP DATABASE {prefix}_globex WITH (FORCE)"))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (_, code, body) = ask(&http, &base, &globex, "{ projects { id } }").await;
    assert!(code.is_some(), "{body}");
    assert_eq!(project_ids(&http, &base, &acme).await, ["p1", "p2", "p9"]);
    running.stop().await.expect("stops");
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {prefix}_acme WITH (FORCE)"
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn each_tenant_has_its_own_sqlite_file_and_unknown_ones_are_not_created() {
    let dir = tempfile::tempdir().unwrap();
    for (tenant, rows) in [
        ("acme", "('p1', 'acme', 'Rocket')"),
        ("globex", "('p3', 'globex', 'Dome')"),
    ] {
        let c = rusqlite::Connection::open(dir.path().join(format!("tenant_{tenant}.db"))).unwrap();
        c.execute_batch(SQLITE_PROJECTS).unwrap();
        c.execute_batch(&format!(
            "DELETE FROM tb_project; INSERT INTO tb_project VALUES {rows}"
        ))
        .unwrap();
    }
    let url = format!("sqlite://{}/tenant_{{tenant}}.db", dir.path().display());
    let running = support::serve(
        config(&format!(
            "[database]\nurl = \"{url}\"\n[multi_tenancy]\nstrategy = \"database_per_tenant\"\n"
        )),
        SDL,
    )
    .await;
    let (base, http) = (support::base(&running), reqwest::Client::new());
    assert_eq!(
        project_ids(&http, &base, &[("X-Tenant-ID", "acme")]).await,
        ["p1"]
    );
    assert_eq!(
        project_ids(&http, &base, &[("X-Tenant-ID", "globex")]).await,
        ["p3"]
    );
    let (_, code, _) = ask(
        &http,
        &base,
        &[("X-Tenant-ID", "initech")],
        "{ projects { id } }",
    )
    .await;
    assert_eq!(code.as_deref(), Some("NOT_FOUND"));
    assert!(
        !dir.path().join("tenant_initech.db").exists(),
        "no file for an unknown tenant"
    );
    running.stop().await.expect("stops");
}

/// 10,000 requests from random tenants — lists, reads by id, mutations — on `base`, 16 at a
/// time: every row any of them sees is its own tenant's.
async fn randomized(base: &str, tenants: &[&str]) {
    let http = reqwest::Client::new();
    let mut rng = fastrand::Rng::with_seed(15);
    let jobs: Vec<(String, String)> = (0..10_000)
        .map(|i| {
            let tenant = tenants[rng.usize(..tenants.len())].to_owned();
            let query = match rng.u8(..10) {
                0 => format!(
                    r#"mutation {{ createProject(id: "r{i}", name: "n{i}") {{ id tenantId }} }}"#
                ),
                1..=4 => format!(
                    r#"{{ project(id: "p{}") {{ id tenantId }} }}"#,
                    rng.u8(1..5)
                ),
                _ => "{ projects { id tenantId } }".to_owned(),
            };
            (tenant, query)
        })
        .collect();
    let seen = futures::future::join_all(jobs.chunks(625).map(|chunk| {
        let (http, base) = (http.clone(), base.to_owned());
        async move {
            let mut rows = 0usize;
            for (tenant, query) in chunk {
                let (status, _, body) = ask(&http, &base, &[("X-Tenant-ID", tenant)], query).await;
                assert_eq!(status, StatusCode::OK, "{tenant} {query}: {body}");
                assert!(body.get("errors").is_none(), "{tenant} {query}: {body}");
                let mut check = |p: &Value| {
                    if !p.is_null() {
                        assert_eq!(p["tenantId"], tenant.as_str(), "{tenant} {query}: {body}");
                        rows += 1;
                    }
                };
                match body["data"].as_object().unwrap().values().next().unwrap() {
                    Value::Array(list) => list.iter().for_each(&mut check),
                    one => check(one),
                }
            }
            rows
        }
    }))
    .await;
    assert!(seen.iter().sum::<usize>() > 10_000, "the requests saw rows");
}

#[tokio::test]
async fn ten_thousand_randomized_requests_see_only_their_tenant_on_both_strategies() {
    // Row strategy: PostgreSQL row-level security, as a role that is not a superuser.
    let (db, role, url) = rls_database().await;
    let running = support::serve(
        config(&format!(
            "[database]\nurl = \"{url}\"\npool_max = 4\n[multi_tenancy]\n"
        )),
        SDL,
    )
    .await;
    randomized(&support::base(&running), &["acme", "globex", "initech"]).await;
    running.stop().await.expect("stops");
    drop_rls_database(db, &role).await;

    // Database per tenant: a SQLite file each, whose view shows every row it holds.
    let dir = tempfile::tempdir().unwrap();
    for tenant in ["acme", "globex", "initech"] {
        let c = rusqlite::Connection::open(dir.path().join(format!("t_{tenant}.db"))).unwrap();
        c.execute_batch(SQLITE_PROJECTS).unwrap();
        c.execute_batch(&format!(
            "DROP VIEW v_project; CREATE VIEW v_project AS SELECT id, tenant_id, \
             json_object('id', id, 'name', name, 'tenant_id', tenant_id) AS data FROM tb_project; \
             DELETE FROM tb_project WHERE tenant_id <> '{tenant}';"
        ))
        .unwrap();
    }
    let url = format!("sqlite://{}/t_{{tenant}}.db", dir.path().display());
    let running = support::serve(
        config(&format!(
            "[database]\nurl = \"{url}\"\n[multi_tenancy]\nstrategy = \"database_per_tenant\"\n"
        )),
        SDL,
    )
    .await;
    randomized(&support::base(&running), &["acme", "globex", "initech"]).await;
    running.stop().await.expect("stops");
}

/// A handler in each tenant database: records the event, and the tenant it ran as.
const PG_TENANT_HANDLER: &str = r#"
CREATE TABLE tb_note (event_id text, tenant text, body text);
CREATE FUNCTION fn_on_note(p_event jsonb, p_headers jsonb) RETURNS void LANGUAGE sql AS $$
  INSERT INTO tb_note VALUES (p_headers->>'ce-id', current_setting('app.tenant_id', true),
    p_event->>'text')
$$;
"#;

/// The `project.insert` events of `names`' stream (waiting for `n`): each project's id,
/// `ce-tenant` and `ce-source`, sorted.
async fn published_projects(
    js: &async_nats::jetstream::Context,
    names: &support::nats::Names,
    n: usize,
) -> Vec<(String, String, String)> {
    let subject = names.subject("project.insert");
    let wait = std::time::Duration::from_secs(10);
    let stored = support::nats::read(js, &names.stream, &subject, n, wait).await;
    let mut seen: Vec<(String, String, String)> = stored
        .iter()
        .map(|m| {
            (
                m.json()["id"].as_str().unwrap().to_owned(),
                m.header("ce-tenant").unwrap_or_default().to_owned(),
                m.header("ce-source").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    seen.sort();
    seen
}

/// The rows of `sql` in the tenant database `name`, polled until there are `n` (or 10 s).
async fn tenant_rows(name: &str, sql: &str, n: usize) -> Vec<Vec<Option<String>>> {
    let (c, connection) = tokio_postgres::connect(
        &support::with_database(&support::pg_url(), name),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let rows: Vec<Vec<Option<String>>> = c
            .query(sql, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (0..r.len()).map(|i| r.get(i)).collect())
            .collect();
        if rows.len() >= n || tokio::time::Instant::now() >= deadline {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn tenant_databases_publish_their_own_events_and_handlers_run_in_the_events_tenant() {
    use support::nats::{self, Names};
    let names = Names::new();
    let admin = support::pg_admin().await;
    let prefix = format!(
        "fraiseql_t_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    for tenant in ["acme", "globex"] {
        let name = format!("{prefix}_{tenant}");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let (c, connection) = tokio_postgres::connect(
            &support::with_database(&support::pg_url(), &name),
            tokio_postgres::NoTls,
        )
        .await
        .unwrap();
        tokio::spawn(connection);
        c.batch_execute(PG_TENANT_DB).await.unwrap();
        c.batch_execute(PG_TENANT_HANDLER).await.unwrap();
    }
    let url = support::with_database(&support::pg_url(), &format!("{prefix}_{{tenant}}"));
    let (changed, note) = (names.subject("project.{op}"), names.subject("note"));
    // One tenant database open at a time: each switch closes one pool and its relay.
    let text = format!(
        "[project]\nname = \"shop\"\n[database]\nurl = \"{url}\"\npool_max = 3\n\
         [multi_tenancy]\nstrategy = \"database_per_tenant\"\nmax_tenant_pools = 1\n\
         [observers]\nbackend = \"nats\"\nnats_url = \"{}\"\nstream = \"{}\"\n\
         [[observers.rules]]\ntable = \"tb_project\"\nsubject = \"{changed}\"\n\
         [[observers.subscribe]]\nsubject = \"{note}\"\nhandler = \"fn_on_note\"\n\
         durable = \"note_{}\"\nbackoff = [\"100ms\"]\n",
        nats::url(),
        names.stream,
        names.prefix
    );
    let running = support::serve(config(&text), SDL).await;
    let (base, http) = (support::base(&running), reqwest::Client::new());
    let (client, js) = nats::jetstream(&nats::url()).await;
    let mut dead = client
        .subscribe(format!("{}.dlq.note_{}", names.stream, names.prefix))
        .await
        .unwrap();
    client.flush().await.unwrap();

    // Each tenant's write comes out of its own database, naming its tenant.
    for (tenant, id) in [("acme", "a1"), ("globex", "g1"), ("acme", "a2")] {
        let (_, _, body) = ask(
            &http,
            &base,
            &[("X-Tenant-ID", tenant)],
            &format!(r#"mutation {{ createProject(id: "{id}", name: "n") {{ id }} }}"#),
        )
        .await;
        assert_eq!(body["data"]["createProject"]["id"], id, "{body}");
    }
    // A writer beside the server, while acme's pool is closed: its row carries no
    // setting, and goes out as acme's when acme's database opens again.
    let (c, connection) = tokio_postgres::connect(
        &support::with_database(&support::pg_url(), &format!("{prefix}_acme")),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let (_, _, body) = ask(
        &http,
        &base,
        &[("X-Tenant-ID", "globex")],
        "{ projects { id } }",
    )
    .await;
    assert_eq!(body["data"]["projects"][0]["id"], "g1", "{body}");
    c.batch_execute("INSERT INTO tb_project VALUES ('a3', 'acme', 'outside')")
        .await
        .unwrap();
    assert_eq!(
        project_ids(&http, &base, &[("X-Tenant-ID", "acme")])
            .await
            .len(),
        3
    );
    let seen = published_projects(&js, &names, 4).await;
    let from = |t: &str| format!("/fraiseql/shop/primary/{t}");
    assert_eq!(
        seen,
        [
            ("a1".into(), "acme".into(), from("acme")),
            ("a2".into(), "acme".into(), from("acme")),
            ("a3".into(), "acme".into(), from("acme")),
            ("g1".into(), "globex".into(), from("globex")),
        ]
    );

    // Inbound: each event's handler runs in its tenant's database, as that tenant; an
    // event with no tenant, a hostile one or an unknown one is dead-lettered.
    for (id, tenant) in [
        ("n1", Some("acme")),
        ("n2", Some("globex")),
        ("n3", None),
        ("n4", Some("acme' OR '1'='1")),
        ("n5", Some("initech")),
    ] {
        let mut headers = vec![("ce-id", id)];
        if let Some(t) = tenant {
            headers.push(("ce-tenant", t));
        }
        let mut map = async_nats::HeaderMap::new();
        for (k, v) in headers {
            map.insert(k, v);
        }
        let body = format!(r#"{{"text": "{id}"}}"#);
        js.publish_with_headers(note.clone(), map, body.into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let q = "SELECT event_id, tenant, body FROM tb_note ORDER BY event_id";
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        tenant_rows(&format!("{prefix}_acme"), q, 1).await,
        [[s("n1"), s("acme"), s("n1")]]
    );
    assert_eq!(
        tenant_rows(&format!("{prefix}_globex"), q, 1).await,
        [[s("n2"), s("globex"), s("n2")]]
    );
    let mut dead_ids = Vec::new();
    for _ in 0..3 {
        let m = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            futures::StreamExt::next(&mut dead),
        )
        .await
        .expect("a dead letter")
        .unwrap();
        dead_ids.push(
            m.headers
                .as_ref()
                .and_then(|h| h.get("ce-id"))
                .map(|v| v.to_string())
                .unwrap(),
        );
    }
    dead_ids.sort();
    assert_eq!(dead_ids, ["n3", "n4", "n5"]);
    let health: Value = reqwest::get(format!("{base}/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        health["events"]["tenant_relays"]["running"].as_u64() >= Some(1),
        "{health}"
    );
    running.stop().await.expect("stops");
    nats::delete_stream(&js, &names.stream).await;
    for tenant in ["acme", "globex"] {
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {prefix}_{tenant} WITH (FORCE)"
            ))
            .await
            .unwrap();
    }
}

/// A mutation per tenant through a server over `url` (a `{tenant}` template) with a table
/// rule: each event comes out of its tenant's database, naming that tenant.
async fn tenant_events_name_their_tenant(url: &str, source: &str) {
    use support::nats::{self, Names};
    let names = Names::new();
    let changed = names.subject("project.{op}");
    let text = format!(
        "[project]\nname = \"shop\"\n[databases.tenant]\nurl = \"{url}\"\n\
         [multi_tenancy]\nstrategy = \"database_per_tenant\"\nmax_tenant_pools = 1\n\
         [observers]\nbackend = \"nats\"\nnats_url = \"{}\"\nstream = \"{}\"\n\
         [[observers.rules]]\ndatabase = \"tenant\"\ntable = \"tb_project\"\n\
         subject = \"{changed}\"\n",
        nats::url(),
        names.stream,
    );
    let sdl = SDL.replace("@source(view:", "@source(database: \"tenant\", view:");
    let sdl = sdl.replace(
        "@function(name: \"fn_create_project\")",
        "@function(name: \"fn_create_project\", database: \"tenant\")",
    );
    let running = support::serve(config(&text), &sdl).await;
    let (base, http) = (support::base(&running), reqwest::Client::new());
    for (tenant, id) in [("acme", "a1"), ("globex", "g1"), ("acme", "a2")] {
        let (_, _, body) = ask(
            &http,
            &base,
            &[("X-Tenant-ID", tenant)],
            &format!(r#"mutation {{ createProject(id: "{id}", name: "n") {{ id }} }}"#),
        )
        .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let (_client, js) = nats::jetstream(&nats::url()).await;
    let seen = published_projects(&js, &names, 3).await;
    let from = |t: &str| format!("/fraiseql/shop/{source}/{t}");
    assert_eq!(
        seen,
        [
            ("a1".into(), "acme".into(), from("acme")),
            ("a2".into(), "acme".into(), from("acme")),
            ("g1".into(), "globex".into(), from("globex")),
        ]
    );
    running.stop().await.expect("stops");
    nats::delete_stream(&js, &names.stream).await;
}

#[tokio::test]
async fn sqlite_and_mariadb_tenant_databases_publish_their_tenants_events() {
    let dir = tempfile::tempdir().unwrap();
    for tenant in ["acme", "globex"] {
        let c = rusqlite::Connection::open(dir.path().join(format!("tenant_{tenant}.db"))).unwrap();
        c.execute_batch(SQLITE_PROJECTS).unwrap();
    }
    let url = format!("sqlite://{}/tenant_{{tenant}}.db", dir.path().display());
    tenant_events_name_their_tenant(&url, "tenant").await;

    use mysql_async::prelude::Queryable;
    let prefix = format!(
        "fraiseql_t_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let mut admin = support::mysql_connect(&support::mysql_url()).await;
    for tenant in ["acme", "globex"] {
        admin
            .query_drop(format!("CREATE DATABASE `{prefix}_{tenant}`"))
            .await
            .unwrap();
        let mut c = support::mysql_connect(&support::with_database(
            &support::mysql_url(),
            &format!("{prefix}_{tenant}"),
        ))
        .await;
        c.query_drop(MARIADB_PROJECTS).await.unwrap();
    }
    let url = support::with_database(&support::mysql_url(), &format!("{prefix}_{{tenant}}"));
    tenant_events_name_their_tenant(&url, "tenant").await;
    for tenant in ["acme", "globex"] {
        admin
            .query_drop(format!("DROP DATABASE `{prefix}_{tenant}`"))
            .await
            .unwrap();
    }
}

/// Subscribers of two tenants on the server at `addr` (the tenant in `connection_init`):
/// each tenant's new project reaches its own tenant's subscriber only.
async fn subscribers_hear_only_their_tenant(addr: &str) {
    use support::ws::Ws;
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let socket = |tenant: &'static str| async move {
        let mut ws = Ws::connect(addr, "/graphql", Some("graphql-transport-ws")).await;
        ws.send(json!({"type": "connection_init", "payload": {"tenantId": tenant}}))
            .await;
        assert_eq!(ws.recv().await, json!({"type": "connection_ack"}));
        ws.subscribe("s", "subscription { projectCreated { id tenantId } }")
            .await;
        ws
    };
    let (mut acme, mut globex) = (socket("acme").await, socket("globex").await);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for (tenant, id) in [("acme", "s1"), ("globex", "s2"), ("acme", "s3")] {
        let (_, _, body) = ask(
            &http,
            &base,
            &[("X-Tenant-ID", tenant)],
            &format!(r#"mutation {{ createProject(id: "{id}", name: "n") {{ id }} }}"#),
        )
        .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let heard = |m: Value| {
        let p = &m["payload"]["data"]["projectCreated"];
        (
            p["id"].as_str().map(str::to_owned),
            p["tenantId"].as_str().map(str::to_owned),
        )
    };
    let some = |id: &str, t: &str| (Some(id.to_owned()), Some(t.to_owned()));
    assert_eq!(heard(acme.recv().await), some("s1", "acme"));
    assert_eq!(heard(acme.recv().await), some("s3", "acme"));
    assert_eq!(heard(globex.recv().await), some("s2", "globex"));
    let quiet = std::time::Duration::from_millis(500);
    assert_eq!(
        acme.recv_within(quiet).await,
        None,
        "acme heard another tenant"
    );
    assert_eq!(
        globex.recv_within(quiet).await,
        None,
        "globex heard another tenant"
    );
}

fn subscription_sdl(topic: &str, database: Option<&str>) -> String {
    let mut sdl = format!(
        "{SDL}\ntype Subscription {{ projectCreated: Project! @topic(name: \"{topic}\") }}\n"
    );
    if let Some(db) = database {
        sdl = sdl.replace(
            "@source(view:",
            &format!("@source(database: \"{db}\", view:"),
        );
        sdl = sdl.replace(
            "@function(name: \"fn_create_project\")",
            &format!("@function(name: \"fn_create_project\", database: \"{db}\")"),
        );
    }
    sdl
}

#[tokio::test]
async fn subscribers_hear_only_their_tenants_changes_on_both_strategies() {
    use support::nats::{self, Names};
    // Row strategy: one PostgreSQL database under row-level security, events through NATS.
    let (db, role, url) = rls_database().await;
    let names = Names::new();
    let topic = names.subject("project.created");
    let observers = format!(
        "[observers]\nbackend = \"nats\"\nnats_url = \"{}\"\nstream = \"{}\"\n\
         install_triggers = false\n\
         [[observers.rules]]\ntable = \"tb_project\"\nevent = \"INSERT\"\nsubject = \"{topic}\"\n",
        nats::url(),
        names.stream
    );
    // The outbox is installed by the owner; the app role may read and mark it.
    let owner = config(&format!("[database]\nurl = \"{}\"\n{observers}", db.url));
    fraiseql_server::install_observers(&owner, None, true)
        .await
        .expect("installed");
    let (c, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    c.batch_execute(&format!(
        "GRANT USAGE ON SCHEMA fraiseql TO {role}; \
         GRANT SELECT, UPDATE, DELETE ON ALL TABLES IN SCHEMA fraiseql TO {role};"
    ))
    .await
    .unwrap();
    let running = support::serve(
        config(&format!(
            "[database]\nurl = \"{url}\"\n[multi_tenancy]\n{observers}"
        )),
        &subscription_sdl(&topic, None),
    )
    .await;
    subscribers_hear_only_their_tenant(&running.addr.to_string()).await;
    running.stop().await.expect("stops");
    let (_client, js) = nats::jetstream(&nats::url()).await;
    nats::delete_stream(&js, &names.stream).await;
    drop_rls_database(db, &role).await;

    // A database per tenant: a SQLite file each, events on the memory bus.
    let dir = tempfile::tempdir().unwrap();
    for tenant in ["acme", "globex"] {
        let c = rusqlite::Connection::open(dir.path().join(format!("tenant_{tenant}.db"))).unwrap();
        c.execute_batch(SQLITE_PROJECTS).unwrap();
    }
    let url = format!("sqlite://{}/tenant_{{tenant}}.db", dir.path().display());
    let running = support::serve(
        config(&format!(
            "[databases.tenant]\nurl = \"{url}\"\n[multi_tenancy]\n\
             strategy = \"database_per_tenant\"\n[observers]\nbackend = \"memory\"\n\
             [[observers.rules]]\ndatabase = \"tenant\"\ntable = \"tb_project\"\n\
             event = \"INSERT\"\nsubject = \"projects.created\"\n"
        )),
        &subscription_sdl("projects.created", Some("tenant")),
    )
    .await;
    subscribers_hear_only_their_tenant(&running.addr.to_string()).await;
    running.stop().await.expect("stops");
}
