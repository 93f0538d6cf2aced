//! The binary's own output under hostile conditions: stdout closed by its reader (`| head`)
//! ends a command quietly instead of panicking, and log lines on stderr stay one line per
//! event whatever a client sends (newlines in values, a 1 MB operation name), in text and in
//! JSON, with the request id on the database error's line.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_fraiseql")
}

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("FRAISEQL_PORT")
        .env_remove("FRAISEQL_HOST")
        .env_remove("FRAISEQL_LOG_FORMAT")
        .env("RUST_LOG", "warn");
    c
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `fraiseql init app` in a fresh temporary directory; returns it and the project path.
fn project() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = command(tmp.path(), &["init", "app"])
        .output()
        .expect("fraiseql runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let dir = tmp.path().join("app");
    (tmp, dir)
}

/// Runs a command whose stdout reader reads `keep` bytes and then closes the pipe.
fn with_stdout_closed_after(dir: &Path, args: &[&str], keep: usize) -> Output {
    let mut child = command(dir, args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fraiseql starts");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut first = vec![0u8; keep];
    stdout
        .read_exact(&mut first)
        .expect("the first bytes arrive");
    drop(stdout);
    child.wait_with_output().expect("fraiseql exits")
}

#[test]
fn a_closed_stdout_ends_commands_quietly() {
    let (_tmp, dir) = project();
    let cases: &[(&[&str], usize)] = &[
        (&["sdl", "schema.graphql"], 0),
        (&["sdl", "schema.graphql"], 1),
        (&["explain", "{ posts { title } authors { name } }"], 0),
        (&["explain", "{ posts { title } authors { name } }"], 1),
        (&["check"], 0),
        (&["compile", "schema.graphql", "-o", "out.json"], 0),
        (&["compile", "--help"], 0),
        (&["compile", "--help"], 1),
        (&["--help"], 0),
        (&["init", "second"], 0),
    ];
    for (args, keep) in cases {
        let out = with_stdout_closed_after(&dir, args, *keep);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked") && out.status.code() == Some(0),
            "{args:?}, reader closed after {keep} byte(s): {}",
            text(&out)
        );
    }
}

/// A `fraiseql run` child whose stderr is collected; killed when dropped.
struct Server {
    child: Option<Child>,
    base: String,
}

impl Server {
    fn start(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let port_text = port.to_string();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--port", &port_text, "--bind", "127.0.0.1"]);
        let mut c = command(dir, &all);
        c.env("RUST_LOG", "info")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut server = Self {
            child: Some(c.spawn().expect("fraiseql starts")),
            base: format!("127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while post(&server.base, "", "{}").is_none() {
            if let Some(Ok(Some(status))) = server.child.as_mut().map(Child::try_wait) {
                panic!("server exited during startup: {status}");
            }
            assert!(Instant::now() < deadline, "no answer within 20 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// SIGTERM, then everything it wrote on stderr.
    fn stderr(mut self) -> String {
        let child = self.child.take().expect("running");
        // Our own child, by its process id.
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let out = child.wait_with_output().expect("server exits");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// POST /graphql over HTTP/1.0 with a request id; the response text, `None` if unreachable.
fn post(base: &str, request_id: &str, body: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(base).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "POST /graphql HTTP/1.0\r\nHost: {base}\r\nContent-Type: application/json\r\n\
         x-request-id: {request_id}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

fn pg_url() -> String {
    std::env::var("FRAISEQL_TEST_PG_URL")
        .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/postgres".into())
}

/// A scratch PostgreSQL database whose mutation fails with a message quoting its input
/// (`invalid input syntax for type uuid: "…"`); dropped at the end.
struct Scratch {
    name: String,
    runtime: tokio::runtime::Runtime,
    admin: tokio_postgres::Client,
}

impl Scratch {
    fn new(tag: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!("fraiseql_logs_{tag}_{}_{nanos}", std::process::id());
        let admin = runtime.block_on(async {
            let (admin, conn) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {} is needed: {e}", pg_url()));
            tokio::spawn(conn);
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create database");
            let url = db_url(&name);
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(conn);
            client
                .batch_execute(
                    r#"
CREATE TABLE tb_post (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), title text NOT NULL);
CREATE VIEW v_post AS
    SELECT id, jsonb_build_object('id', id::text, 'title', title) AS data FROM tb_post;
CREATE FUNCTION fn_create_post(p_title text) RETURNS SETOF v_post
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM p_title::uuid;
    INSERT INTO tb_post (title) VALUES (p_title);
    RETURN QUERY SELECT * FROM v_post WHERE data->>'title' = p_title;
END
$$;
"#,
                )
                .await
                .expect("setup");
            admin
        });
        Self {
            name,
            runtime,
            admin,
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = self.runtime.block_on(self.admin.batch_execute(&sql));
    }
}

fn db_url(name: &str) -> String {
    let base = pg_url();
    let (head, _) = base
        .rsplit_once('/')
        .expect("a database in FRAISEQL_TEST_PG_URL");
    format!("{head}/{name}")
}

const SDL: &str = r#"
type Post @source(view: "v_post") { id: ID! title: String }
type Query { posts: [Post!]! }
type Mutation { createPost(title: String!): Post @function(name: "fn_create_post") }
"#;

/// The hostile requests: a database error quoting a value with a newline, an operation name
/// with one, and a 1 MB operation name. Returns the server's stderr.
fn hostile_requests(format: Option<&str>) -> String {
    let scratch = Scratch::new(format.unwrap_or("text"));
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("schema.graphql"), SDL).expect("write schema");
    let envs: Vec<(&str, &str)> = format
        .map(|f| ("FRAISEQL_LOG_FORMAT", f))
        .into_iter()
        .collect();
    let url = db_url(&scratch.name);
    let server = Server::start(
        dir.path(),
        &["run", "schema.graphql", "--database", &url],
        &envs,
    );
    let forged = "2026-01-01T00:00:00Z ERROR forged: admin logged in";
    let mutation = serde_json::json!({
        "query": "mutation ($t: String!) { createPost(title: $t) { id } }",
        "variables": {"t": format!("x\n{forged}")},
    });
    let answer = post(&server.base, "req-db-error", &mutation.to_string()).expect("answers");
    assert!(answer.contains("\"invalid input value\""), "{answer}");
    let named = serde_json::json!({
        "query": "query Q { posts { id } }",
        "operationName": format!("Q\n{forged}"),
    });
    post(&server.base, "req-newline-name", &named.to_string()).expect("answers");
    let huge = serde_json::json!({
        "query": "query Q { posts { id } }",
        "operationName": "Q".repeat(1 << 20),
    });
    post(&server.base, "req-huge-name", &huge.to_string()).expect("answers");
    let stderr = server.stderr();
    assert!(
        !stderr
            .lines()
            .any(|l| l.starts_with("2026-01-01T00:00:00Z")),
        "a value started a line of its own:\n{stderr}"
    );
    assert!(stderr.len() < 64 * 1024, "{} bytes of log", stderr.len());
    stderr
}

fn lines_with<'a>(stderr: &'a str, needles: &[&str]) -> Vec<&'a str> {
    stderr
        .lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .collect()
}

#[test]
fn text_log_lines_cannot_be_forged() {
    let stderr = hostile_requests(None);
    let db = lines_with(&stderr, &["database error"]);
    assert_eq!(db.len(), 1, "{stderr}");
    assert!(db[0].contains("request_id=req-db-error"), "{}", db[0]);
    assert!(db[0].contains("code=\"22P02\""), "{}", db[0]);
    // The database's text is in the log (escaped), where the client's copy is not.
    assert!(
        db[0].contains(r#"error=invalid input syntax for type uuid: "x\n2026-01-01"#),
        "{}",
        db[0]
    );
    for id in ["req-db-error", "req-newline-name", "req-huge-name"] {
        let finished = lines_with(&stderr, &["request finished", &format!("request_id={id}")]);
        assert_eq!(finished.len(), 1, "{id}:\n{stderr}");
    }
    let huge = lines_with(&stderr, &["request finished", "request_id=req-huge-name"]);
    assert!(huge[0].len() < 2048, "{} bytes: {}", huge[0].len(), huge[0]);
    assert!(huge[0].contains("more bytes]"), "{}", huge[0]);
}

#[test]
fn json_log_lines_are_one_object_each() {
    let stderr = hostile_requests(Some("json"));
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let db: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["fields"]["message"] == "database error")
        .collect();
    assert_eq!(db.len(), 1, "{stderr}");
    assert_eq!(db[0]["span"]["request_id"], "req-db-error", "{}", db[0]);
    assert_eq!(db[0]["fields"]["code"], "22P02", "{}", db[0]);
    let finished: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["fields"]["message"] == "request finished")
        .collect();
    let named = finished
        .iter()
        .find(|e| e["span"]["request_id"] == "req-newline-name")
        .expect("the named request's line");
    assert!(
        named["span"]["operation"]
            .as_str()
            .is_some_and(|o| o.starts_with("Q\n2026")),
        "{named}"
    );
}
