//! The `fraiseql` commands as a user runs them: the real binary in a temporary directory,
//! checking output and exit codes (0 ok, 1 schema/check, 2 config, 3 database).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The spec harness's fresh databases (a MariaDB database loaded with the spec fixture); this
/// file uses only the MySQL/MariaDB one.
#[allow(dead_code)]
#[path = "support/database.rs"]
mod database;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_fraiseql")
}

fn fraiseql(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("FRAISEQL_PORT")
        .env_remove("FRAISEQL_HOST")
        .env("RUST_LOG", "warn")
        .output()
        .expect("fraiseql runs")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `fraiseql init app` in a fresh temporary directory; returns it and the project path.
fn project() -> (tempfile::TempDir, PathBuf) {
    project_on("sqlite")
}

/// `fraiseql init app --database <database>` in a fresh temporary directory.
fn project_on(database: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = fraiseql(tmp.path(), &["init", "app", "--database", database]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let dir = tmp.path().join("app");
    (tmp, dir)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A `fraiseql run` child, killed (by its own handle) when dropped.
struct Running {
    /// `None` once `terminate` took it.
    child: Option<Child>,
    base: String,
}

impl Running {
    fn start(dir: &Path, args: &[&str], port: u16) -> Self {
        let child = Command::new(bin())
            .args(args)
            .current_dir(dir)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("fraiseql starts");
        Self::wrap(child, port)
    }

    fn wrap(child: Child, port: u16) -> Self {
        let mut running = Self {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
        };
        running.wait_live();
        running
    }

    fn wait_live(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("server exited during startup: {status}");
            }
            if get(&format!("{}/health/live", self.base)).is_some_and(|(code, _)| code == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("server did not answer /health/live within 20 s");
    }

    /// SIGTERM, then the process's output once it exits.
    fn terminate(mut self) -> Output {
        let child = self.child.take().expect("running");
        // Our own child, by its process id.
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        child.wait_with_output().expect("server exits")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A minimal HTTP/1.0 GET: (status, body).
fn get(url: &str) -> Option<(u16, String)> {
    http(url, "GET", None)
}

/// A minimal HTTP/1.0 POST of a JSON body: (status, body).
fn post_json(url: &str, body: &str) -> Option<(u16, String)> {
    http(url, "POST", Some(body))
}

fn http(url: &str, method: &str, body: Option<&str>) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "{method} {path} HTTP/1.0\r\nHost: {host}\r\n").ok()?;
    if let Some(body) = body {
        write!(
            stream,
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
        .ok()?;
    }
    write!(stream, "\r\n{}", body.unwrap_or_default()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

#[test]
fn help_documents_exit_codes() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = fraiseql(tmp.path(), &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    for needle in [
        "run",
        "compile",
        "check",
        "explain",
        "sdl",
        "init",
        "config",
        "3  database connection failure",
    ] {
        assert!(help.contains(needle), "{needle} missing from\n{help}");
    }
    let out = fraiseql(tmp.path(), &["--version"]);
    assert!(stdout(&out).starts_with("fraiseql "), "{}", text(&out));
}

#[test]
fn init_scaffolds_a_project_that_checks_clean() {
    let (tmp, dir) = project();
    for file in [
        "fraiseql.toml",
        "schema.graphql",
        "db/schema.sql",
        "README.md",
        "app.db",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    let config = std::fs::read_to_string(dir.join("fraiseql.toml")).expect("config");
    assert!(config.contains("name = \"app\""), "{config}");
    assert!(config.contains("url = \"sqlite://./app.db\""), "{config}");

    let again = fraiseql(tmp.path(), &["init", "app"]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(stderr(&again).contains("not empty"), "{}", text(&again));

    let check = fraiseql(&dir, &["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    assert!(
        stdout(&check).contains("All checks passed."),
        "{}",
        text(&check)
    );
    let validate = fraiseql(&dir, &["config", "validate"]);
    assert_eq!(validate.status.code(), Some(0), "{}", text(&validate));

    let unknown = fraiseql(tmp.path(), &["init", "other", "--database", "oracle"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(
        stderr(&unknown).contains(
            "unknown database `oracle`; supported: `postgresql` (alias `postgres`, `pg`), \
             `mysql` (alias `mariadb`), `sqlite` (alias `sqlite3`)"
        ),
        "{}",
        text(&unknown)
    );
    assert!(!tmp.path().join("other").exists());
}

// `fraiseql init --database …` on each database: the README's steps create the database from
// the generated SQL (a fresh one, on the servers the spec suite uses), `fraiseql check`
// passes, and the README's query and mutation answer the same JSON on all three.

/// The README's query, before and after its mutation ran: newest post first.
const POSTS: &str = r#"{"data":{"posts":[{"title":"On Computable Numbers (draft)","published":false,"author":{"name":"Alan Turing"}},{"title":"Computing Machinery and Intelligence","published":true,"author":{"name":"Alan Turing"}},{"title":"Notes on the Analytical Engine","published":true,"author":{"name":"Ada Lovelace"}}]}}"#;
const POSTS_AFTER: &str = r#"{"data":{"posts":[{"title":"Hello","published":false,"author":{"name":"Ada Lovelace"}},{"title":"On Computable Numbers (draft)","published":false,"author":{"name":"Alan Turing"}},{"title":"Computing Machinery and Intelligence","published":true,"author":{"name":"Alan Turing"}},{"title":"Notes on the Analytical Engine","published":true,"author":{"name":"Ada Lovelace"}}]}}"#;
/// The README's mutation; the new post's id (generated by the database) is replaced by `<id>`.
const CREATED: &str =
    r#"{"data":{"createPost":{"id":"<id>","title":"Hello","author":{"name":"Ada Lovelace"}}}}"#;
/// The README's mutation for an author that does not exist.
const NO_AUTHOR: &str = r#"{"data":{"createPost":null},"errors":[{"message":"author does not exist","path":["createPost"],"extensions":{"code":"NOT_FOUND","status":"failed:not_found"}}]}"#;

#[test]
fn init_sqlite_answers_the_readme_examples() {
    let (_tmp, dir) = project();
    answers_the_readme_examples(&dir, None);
}

#[test]
fn init_postgresql_answers_the_readme_examples() {
    let (_tmp, dir) = project_on("postgresql");
    let config = std::fs::read_to_string(dir.join("fraiseql.toml")).expect("config");
    assert!(config.contains("type = \"postgresql\""), "{config}");
    assert!(
        config.contains("url = \"${DATABASE_URL:-postgresql://postgres@localhost:5432/app}\""),
        "{config}"
    );
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("readme");
    for step in [
        "createdb -h localhost -U postgres app\n",
        "psql -h localhost -U postgres -d app -v ON_ERROR_STOP=1 -f db/schema.sql\n",
    ] {
        assert!(readme.contains(step), "{step} missing from\n{readme}");
    }
    assert!(!dir.join("app.db").exists());

    let db = ScratchDatabase::postgres(&dir);
    answers_the_readme_examples(&dir, Some(&db.url));
}

#[test]
fn init_mysql_answers_the_readme_examples() {
    // `mariadb` is an alias of `mysql`, as in the config's `type`.
    let (_tmp, dir) = project_on("mariadb");
    let config = std::fs::read_to_string(dir.join("fraiseql.toml")).expect("config");
    assert!(config.contains("type = \"mysql\""), "{config}");
    assert!(
        config.contains("url = \"${DATABASE_URL:-mysql://root@127.0.0.1:3306/app}\""),
        "{config}"
    );
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("readme");
    for step in [
        "mariadb -h 127.0.0.1 -u root -e 'CREATE DATABASE app CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin'\n",
        "mariadb -h 127.0.0.1 -u root app < db/schema.sql\n",
    ] {
        assert!(readme.contains(step), "{step} missing from\n{readme}");
    }
    assert!(!dir.join("app.db").exists());

    let db = ScratchDatabase::mysql(&dir);
    answers_the_readme_examples(&dir, Some(&db.url));
}

/// `fraiseql check` passes, then a server answers the README's query and mutation with the
/// expected JSON. `database_url` goes in `DATABASE_URL`, which the generated config reads.
fn answers_the_readme_examples(dir: &Path, database_url: Option<&str>) {
    let command = |args: &[&str]| {
        let mut c = Command::new(bin());
        c.args(args)
            .current_dir(dir)
            .env_remove("DATABASE_URL")
            .env_remove("FRAISEQL_PORT")
            .env_remove("FRAISEQL_HOST")
            .env("RUST_LOG", "warn");
        if let Some(url) = database_url {
            c.env("DATABASE_URL", url);
        }
        c
    };
    let check = command(&["check"]).output().expect("fraiseql runs");
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    assert!(
        stdout(&check).contains("All checks passed."),
        "{}",
        text(&check)
    );

    let readme = std::fs::read_to_string(dir.join("README.md")).expect("readme");
    // The body of the README's `curl … -d '…'`.
    let query = readme
        .lines()
        .find_map(|l| l.trim().strip_prefix("-d '")?.strip_suffix('\''))
        .expect("a curl -d line in the README");
    let mutation = readme
        .split_once("```graphql\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block)
        .expect("a graphql block in the README");
    let mutation_body = |m: &str| serde_json::json!({ "query": m }).to_string();

    let port = free_port();
    let mut child = command(&["run", "--port", &port.to_string(), "--bind", "127.0.0.1"]);
    let server = Running::wrap(
        child
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("fraiseql starts"),
        port,
    );
    let graphql = |body: &str| {
        let (status, answer) =
            post_json(&format!("{}/graphql", server.base), body).expect("the server answers");
        assert_eq!(status, 200, "{answer}");
        // Re-serialised, so only the values and the key order count, not the spacing.
        let value: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
        value
    };

    assert_eq!(graphql(query).to_string(), POSTS);
    let mut created = graphql(&mutation_body(mutation));
    let id = created["data"]["createPost"]["id"].take();
    assert_eq!(id.as_str().map(str::len), Some(36), "{id}");
    created["data"]["createPost"]["id"] = "<id>".into();
    assert_eq!(created.to_string(), CREATED);
    assert_eq!(graphql(query).to_string(), POSTS_AFTER);

    let nobody = mutation.replace(
        "a1000000-0000-4000-8000-000000000001",
        "a1000000-0000-4000-8000-000000000009",
    );
    assert_eq!(graphql(&mutation_body(&nobody)).to_string(), NO_AUTHOR);
    drop(server);
}

/// Where the PostgreSQL and MySQL/MariaDB tests create their databases: the servers the spec
/// suite uses (`FRAISEQL_TEST_PG_URL`, `FRAISEQL_TEST_MYSQL_URL`), else the local defaults.
fn admin_url(variable: &str, default: &str) -> String {
    std::env::var(variable)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| default.into())
}

/// A database created and loaded with the client commands the generated README gives, on the
/// test server, under a unique name; dropped (with the same clients) when the test ends.
struct ScratchDatabase {
    /// The URL `fraiseql` connects with (`DATABASE_URL`).
    url: String,
    /// The client command that drops it.
    drop: Command,
}

impl ScratchDatabase {
    /// `createdb` and `psql -f db/schema.sql`, as in the README.
    fn postgres(dir: &Path) -> Self {
        let admin = admin_url(
            "FRAISEQL_TEST_PG_URL",
            "postgresql://postgres@127.0.0.1:5432/postgres",
        );
        let config: tokio_postgres::config::Config = admin.parse().expect("a PostgreSQL URL");
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            other => panic!("{admin}: a TCP host is needed, not {other:?}"),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config.get_user().unwrap_or("postgres").to_string();
        let password = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default();
        let client = |program: &str| {
            let mut c = Command::new(program);
            c.args(["-h", &host, "-p", &port.to_string(), "-U", &user])
                .env("PGPASSWORD", &password)
                .current_dir(dir);
            c
        };
        let name = unique_name();
        run_client(client("createdb").arg(&name));
        let mut drop = client("dropdb");
        drop.args(["--force", &name]);
        let db = Self {
            url: with_database(&admin, &name),
            drop,
        };
        run_client(client("psql").args([
            "-d",
            &name,
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-f",
            "db/schema.sql",
        ]));
        db
    }

    /// `mariadb -e 'CREATE DATABASE … COLLATE utf8mb4_nopad_bin'` and `mariadb … <
    /// db/schema.sql`, as in the README.
    fn mysql(dir: &Path) -> Self {
        let admin = admin_url(
            "FRAISEQL_TEST_MYSQL_URL",
            "mysql://root@127.0.0.1:3306/mysql",
        );
        let opts = mysql_async::Opts::from_url(&admin).expect("a MySQL URL");
        let client = || {
            let mut c = Command::new("mariadb");
            c.args([
                "-h",
                opts.ip_or_hostname(),
                "-P",
                &opts.tcp_port().to_string(),
                "-u",
                opts.user().unwrap_or("root"),
            ])
            .env("MYSQL_PWD", opts.pass().unwrap_or_default())
            .current_dir(dir);
            c
        };
        let name = unique_name();
        run_client(client().args([
            "-e",
            &format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin"),
        ]));
        let mut drop = client();
        drop.args(["-e", &format!("DROP DATABASE {name}")]);
        let db = Self {
            url: with_database(&admin, &name),
            drop,
        };
        let script = std::fs::File::open(dir.join("db/schema.sql")).expect("db/schema.sql");
        run_client(client().arg(&name).stdin(script));
        db
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        match self.drop.output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!("warning: could not drop the test database: {}", text(&out)),
            Err(e) => eprintln!("warning: could not drop the test database: {e}"),
        }
    }
}

/// Runs a database client; a missing client or a failed command fails the test.
fn run_client(command: &mut Command) {
    let program = command.get_program().to_string_lossy().into_owned();
    let out = command.output().unwrap_or_else(|e| {
        panic!("cannot run {program} (the PostgreSQL and MariaDB clients are needed): {e}")
    });
    assert!(out.status.success(), "{program}: {}", text(&out));
}

/// `fraiseql_init_<pid>_<n>_<nanos>`: unique across parallel tests and concurrent runs.
fn unique_name() -> String {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("fraiseql_init_{}_{n}_{nanos}", std::process::id())
}

/// The URL with its database (path) replaced: `mysql://u@h:3306/x?y` -> `…/name?y`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority..].find('/') {
        Some(slash) => &base[..authority + slash],
        None => base,
    };
    if query.is_empty() {
        format!("{base}/{name}")
    } else {
        format!("{base}/{name}?{query}")
    }
}

#[test]
fn compile_writes_the_compiled_document() {
    let (_tmp, dir) = project();
    let out = fraiseql(&dir, &["compile"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        stdout(&out).trim(),
        "Compiled 3 types, 4 queries, 1 mutations -> schema.compiled.json"
    );
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("schema.compiled.json")).expect("written"),
    )
    .expect("json");
    assert_eq!(doc["compiled_version"], 1);
    assert!(doc["schema"]["types"]["Post"].is_object());

    // The compiled file is itself an accepted input.
    let out = fraiseql(
        &dir,
        &["compile", "schema.compiled.json", "-o", "again.json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = fraiseql(&dir, &["sdl", "schema.compiled.json"]);
    assert!(stdout(&out).contains("type Post"), "{}", text(&out));
}

#[test]
fn compile_errors_exit_1_with_every_problem() {
    let tmp = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        tmp.path().join("schema.json"),
        r#"{"version": 1, "types": [{"name": "Order", "fields": [{"name": "id", "type": "Nope!"}]}],
            "queries": [{"name": "orders", "return_type": "[Missing!]!"}]}"#,
    )
    .expect("write");
    let out = fraiseql(tmp.path(), &["compile"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("Nope") && err.contains("Missing"),
        "{}",
        text(&out)
    );
    assert!(!tmp.path().join("schema.compiled.json").exists());
}

#[test]
fn sdl_prints_the_executable_schema() {
    let (_tmp, dir) = project();
    let out = fraiseql(&dir, &["sdl"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let sdl = stdout(&out);
    assert!(
        sdl.contains("type Query") && sdl.contains("createPost("),
        "{sdl}"
    );
}

#[test]
fn config_errors_exit_2() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let missing = fraiseql(tmp.path(), &["check"]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    std::fs::write(tmp.path().join("fraiseql.toml"), "[server]\nprot = 8080\n").expect("write");
    let bad = fraiseql(tmp.path(), &["check"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(stderr(&bad).contains("prot"), "{}", text(&bad));
    let run = fraiseql(tmp.path(), &["run"]);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    // A bare schema file and no database anywhere.
    std::fs::write(
        tmp.path().join("schema.graphql"),
        "type Post { id: ID! } type Query { posts: [Post!]! }",
    )
    .expect("write");
    let run = fraiseql(tmp.path(), &["run", "schema.graphql"]);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert!(stderr(&run).contains("--database"), "{}", text(&run));
}

#[test]
fn check_reports_unreachable_databases_with_exit_3_and_mismatches_with_1() {
    let (_tmp, dir) = project();
    std::fs::write(
        dir.join("down.toml"),
        "[database]\nurl = \"postgresql://postgres@127.0.0.1:1/postgres\"\nconnect_timeout_ms = 1000\n\
         [fraiseql]\nschema_file = \"schema.graphql\"\n",
    )
    .expect("write");
    let out = fraiseql(&dir, &["check", "--config", "down.toml"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stdout(&out).contains("FAIL  database 'primary'"),
        "{}",
        text(&out)
    );

    let conn = rusqlite::Connection::open(dir.join("app.db")).expect("open");
    conn.execute_batch("DROP VIEW v_author").expect("drop");
    let out = fraiseql(&dir, &["check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stdout(&out).contains(
            "FAIL  query 'authors': view 'v_author' does not exist in database 'primary'"
        ),
        "{}",
        text(&out)
    );
}

#[test]
fn explain_as_a_caller_checks_roles_and_sets_the_claims() {
    let (_tmp, dir) = project();
    let schema = std::fs::read_to_string(dir.join("schema.graphql")).unwrap();
    let guarded = schema.replacen(
        "  posts: [Post!]!\n",
        "  posts: [Post!]! @auth(requires: \"editor\")\n",
        1,
    );
    assert_ne!(schema, guarded, "the init schema changed: update this test");
    std::fs::write(dir.join("schema.graphql"), guarded).unwrap();
    // Without [auth], --as has nothing to read claims with.
    let out = fraiseql(
        &dir,
        &["explain", "{ posts { title } }", "--as", r#"{"sub": "u1"}"#],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("--as needs [auth]"), "{}", text(&out));

    let config = std::fs::read_to_string(dir.join("fraiseql.toml")).unwrap();
    std::fs::write(
        dir.join("fraiseql.toml"),
        format!("{config}\n[auth]\nsecret = \"0123456789abcdef0123456789abcdef\"\n"),
    )
    .unwrap();
    let reader = r#"{"sub": "u1", "roles": ["reader"]}"#;
    let out = fraiseql(&dir, &["explain", "{ posts { title } }", "--as", reader]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("[FORBIDDEN] `Query.posts` needs the role `editor`"),
        "{}",
        text(&out)
    );

    let editor = r#"{"sub": "u1'; --", "roles": ["editor"]}"#;
    let out = fraiseql(&dir, &["explain", "{ posts { title } }", "--as", editor]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = stdout(&out);
    assert!(
        shown.contains(r#"-- setting app.user_id = "u1'; --""#),
        "{shown}"
    );
    assert!(shown.contains("-- plan:"), "{shown}");

    for bad in ["not json", "[1]"] {
        let out = fraiseql(&dir, &["explain", "{ posts { title } }", "--as", bad]);
        assert_eq!(out.status.code(), Some(1), "{bad}: {}", text(&out));
        assert!(stderr(&out).contains("--as"), "{}", text(&out));
    }
}

#[test]
fn explain_shows_sql_and_plan() {
    let (_tmp, dir) = project();
    let out = fraiseql(
        &dir,
        &[
            "explain",
            "query P($n: Int) { posts(limit: $n) { title } }",
            "--variables",
            r#"{"n": 2}"#,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = stdout(&out);
    assert!(
        shown.contains("== database 'primary' (SQLite): posts"),
        "{shown}"
    );
    assert!(shown.contains("FROM \"v_post\""), "{shown}");
    assert!(shown.contains("int 2"), "{shown}");
    assert!(shown.contains("-- plan:"), "{shown}");

    let out = fraiseql(&dir, &["explain", "{ nope }"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("GRAPHQL_VALIDATION_FAILED"),
        "{}",
        text(&out)
    );

    std::fs::write(
        dir.join("down.toml"),
        "[database]\nurl = \"postgresql://postgres@127.0.0.1:1/postgres\"\nconnect_timeout_ms = 1000\n\
         [fraiseql]\nschema_file = \"schema.graphql\"\n",
    )
    .expect("write");
    let out = fraiseql(
        &dir,
        &["explain", "{ posts { title } }", "--config", "down.toml"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains("(no plan: the database is not reachable"),
        "{}",
        text(&out)
    );
    assert!(stdout(&out).contains("json_agg"), "{}", text(&out));
}

#[test]
fn run_serves_prints_the_banner_and_stops_on_sigterm() {
    let (_tmp, dir) = project();
    let port = free_port();
    let server = Running::start(
        &dir,
        &["run", "--port", &port.to_string(), "--bind", "127.0.0.1"],
        port,
    );
    let (status, body) = get(&format!("{}/health", server.base)).expect("health answers");
    assert_eq!(status, 200, "{body}");
    let out = server.terminate();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let banner = stdout(&out);
    for line in [
        "🍓 FraiseQL v",
        &format!("GraphQL endpoint: http://127.0.0.1:{port}/graphql"),
        &format!("Health check: http://127.0.0.1:{port}/health"),
        "Schema: 3 types, 4 queries, 1 mutations",
        "Database primary: SQLite (pool: max 20)",
        "Press Ctrl+C to stop",
    ] {
        assert!(banner.contains(line), "{line} missing from\n{banner}");
    }
}

#[test]
fn run_takes_a_schema_file_and_env_overrides() {
    let (_tmp, dir) = project();
    let port = free_port();
    let child = Command::new(bin())
        .args(["run", "schema.graphql", "--database", "sqlite://./app.db"])
        .current_dir(&dir)
        .env("FRAISEQL_PORT", port.to_string())
        .env("FRAISEQL_HOST", "127.0.0.1")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let server = Running::wrap(child, port);
    let (status, _) = get(&format!("{}/ready", server.base)).expect("ready answers");
    assert_eq!(status, 200);

    // The port is taken now: a second server fails with a configuration exit code.
    let out = fraiseql(
        &dir,
        &["run", "--port", &port.to_string(), "--bind", "127.0.0.1"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr(&out).contains("Address already in use"),
        "{}",
        text(&out)
    );
    drop(server);
}

/// A file of the repository, by its path from the root.
fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// `config validate`, `check` and `explain` against MariaDB: the quickstart's schema over the
/// spec fixture (`tests/spec/fixtures/mysql.sql`) in a database of its own, dropped at the
/// end. The same exit codes and lines as on SQLite, with the dialect's own SQL and plan.
#[test]
fn check_and_explain_on_mysql() {
    use database::{Dialect, FreshDatabase};
    let tmp = tempfile::tempdir().expect("temp dir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let fixture =
        std::fs::read_to_string(repo_file(Dialect::Mysql.fixtures()[0])).expect("fixture");
    let db = rt
        .block_on(FreshDatabase::create(
            Dialect::Mysql,
            "cli",
            &fixture,
            tmp.path(),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let result = std::panic::catch_unwind(|| check_and_explain_against(tmp.path(), &db.url));
    rt.block_on(db.drop_database());
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn check_and_explain_against(dir: &Path, url: &str) {
    std::fs::copy(
        repo_file("examples/quickstart/schema.graphql"),
        dir.join("schema.graphql"),
    )
    .expect("schema");
    std::fs::write(
        dir.join("fraiseql.toml"),
        format!("[database]\nurl = \"{url}\"\n[fraiseql]\nschema_file = \"schema.graphql\"\n"),
    )
    .expect("config");

    let validate = fraiseql(dir, &["config", "validate"]);
    assert_eq!(validate.status.code(), Some(0), "{}", text(&validate));
    let check = fraiseql(dir, &["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    for line in [
        "database 'primary' (MySQL/MariaDB, mysql://",
        "query 'orders': view 'v_order' has a 'data' column",
        "mutation 'createOrder': procedure 'fn_create_order' exists",
        "All checks passed.",
    ] {
        assert!(stdout(&check).contains(line), "{line}\n{}", text(&check));
    }

    let out = fraiseql(
        dir,
        &[
            "explain",
            "query P($n: Int) { orders(limit: $n) { identifier } }",
            "--variables",
            r#"{"n": 2}"#,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = stdout(&out);
    for part in [
        "== database 'primary' (MySQL/MariaDB): orders",
        "FROM `v_order`",
        "int 2",
        "-- plan:",
        "\"query_block\"",
    ] {
        assert!(shown.contains(part), "{part}\n{shown}");
    }
    let out = fraiseql(dir, &["explain", "{ orders { identifier } }", "--analyze"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stdout(&out).contains("\"r_loops\""), "{}", text(&out));

    // A view gone: a mismatch (exit 1) with the view's name.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        use mysql_async::prelude::Queryable;
        let opts = mysql_async::Opts::from_url(url).expect("url");
        let mut conn = mysql_async::Conn::new(opts).await.expect("connect");
        conn.query_drop("DROP VIEW v_customer")
            .await
            .expect("drop view");
        conn.disconnect().await.expect("disconnect");
    });
    let out = fraiseql(dir, &["check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stdout(&out).contains(
            "FAIL  query 'customers': view 'v_customer' does not exist in database 'primary'"
        ),
        "{}",
        text(&out)
    );

    // No server: exit 3.
    std::fs::write(
        dir.join("down.toml"),
        "[database]\nurl = \"mysql://root@127.0.0.1:1/app\"\nconnect_timeout_ms = 1000\n\
         [fraiseql]\nschema_file = \"schema.graphql\"\n",
    )
    .expect("write");
    let out = fraiseql(dir, &["check", "--config", "down.toml"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stdout(&out).contains("FAIL  database 'primary'"),
        "{}",
        text(&out)
    );
}

/// `fraiseql observers install` prints the outbox and the capture triggers, applies them
/// with `--apply` (twice: idempotent), and refuses a rule the database cannot serve.
#[test]
fn observers_install_prints_then_applies_and_refuses_bad_rules() {
    let (_tmp, dir) = project();
    let config = dir.join("fraiseql.toml");
    let base = std::fs::read_to_string(&config).unwrap();
    let rule = "\n[observers]\nbackend = \"memory\"\n[[observers.rules]]\ntable = \"tb_post\"\n\
                event = [\"INSERT\", \"UPDATE\"]\nsubject = \"posts.{op}\"\n";
    std::fs::write(&config, format!("{base}{rule}")).unwrap();

    let out = fraiseql(&dir, &["observers", "install"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let printed = stdout(&out);
    assert!(printed.contains("-- database primary"), "{printed}");
    assert!(
        printed.contains("CREATE TABLE IF NOT EXISTS fraiseql_outbox"),
        "{printed}"
    );
    assert!(
        printed.contains("CREATE TRIGGER \"fraiseql_capture_0_insert\""),
        "{printed}"
    );
    assert!(
        printed.contains("CREATE TRIGGER \"fraiseql_capture_0_update\""),
        "{printed}"
    );
    let db = rusqlite::Connection::open(dir.join("app.db")).unwrap();
    let triggers = |db: &rusqlite::Connection| -> i64 {
        db.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'fraiseql_capture_%'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(triggers(&db), 0, "printing applies nothing");

    for _ in 0..2 {
        let out = fraiseql(&dir, &["observers", "install", "--apply"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(stdout(&out).contains("installed the outbox on database primary"));
    }
    assert_eq!(triggers(&db), 2);

    // Hostile: a table that is not there, a condition that is not SQL over the row.
    for (bad, expected) in [
        (
            "table = \"tb_nope\"\nsubject = \"s\"",
            "has no table `tb_nope`",
        ),
        (
            "table = \"tb_post\"\nsubject = \"s\"\ncondition = \"nope = 1\"",
            "is not valid SQL",
        ),
        (
            "table = \"tb_post\"\nsubject = \"s\"\ncondition = \"1; DROP TABLE tb_post\"",
            "one SQL expression",
        ),
    ] {
        let rules = format!("\n[observers]\nbackend = \"memory\"\n[[observers.rules]]\n{bad}\n");
        std::fs::write(&config, format!("{base}{rules}")).unwrap();
        let out = fraiseql(&dir, &["observers", "install", "--apply"]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(stderr(&out).contains(expected), "{}", text(&out));
    }
    assert_eq!(triggers(&db), 2, "a refused install changes nothing");
    let posts: i64 = db
        .query_row("SELECT count(*) FROM tb_post", [], |r| r.get(0))
        .unwrap();
    assert!(posts > 0, "tb_post is still there");

    std::fs::write(&config, format!("{base}{rule}")).unwrap();
    let out = fraiseql(&dir, &["observers", "install", "--database", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr(&out).contains("database `nope` has no outbox"),
        "{}",
        text(&out)
    );
    let out = fraiseql(
        &dir,
        &[
            "events",
            "replay",
            "--subject",
            "a.>",
            "--handler",
            "h",
            "--since",
            "soon",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("--since `soon`"), "{}", text(&out));
}

/// `fraiseql tenant create|list|drop` on every dialect: databases made from the `{tenant}`
/// url with the schema file run in them, listed back, refused twice and for hostile names,
/// dropped only when confirmed.
#[test]
fn tenant_databases_are_created_listed_and_dropped_on_every_dialect() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    std::fs::write(
        dir.join("schema.sql"),
        "CREATE TABLE tb_project (id VARCHAR(36) PRIMARY KEY, name VARCHAR(100) NOT NULL);",
    )
    .unwrap();
    let prefix = unique_name();
    let templates = [
        with_database(&database::pg_admin_url(), &format!("{prefix}_{{tenant}}")),
        with_database(
            &database::mysql_admin_url(),
            &format!("{prefix}_{{tenant}}"),
        ),
        format!("sqlite://{}/{prefix}_{{tenant}}.db", dir.display()),
    ];
    for url in templates {
        std::fs::write(
            dir.join("fraiseql.toml"),
            format!(
                "[database]\nurl = \"{url}\"\n[multi_tenancy]\nstrategy = \"database_per_tenant\"\n"
            ),
        )
        .unwrap();
        let list = || {
            let out = fraiseql(dir, &["tenant", "list"]);
            assert_eq!(out.status.code(), Some(0), "{url}: {}", text(&out));
            stdout(&out).lines().map(str::to_owned).collect::<Vec<_>>()
        };
        for tenant in ["acme", "globex"] {
            let out = fraiseql(dir, &["tenant", "create", tenant, "--sql", "schema.sql"]);
            assert_eq!(out.status.code(), Some(0), "{url}: {}", text(&out));
            assert!(
                stdout(&out).contains(&format!("of tenant '{tenant}'")),
                "{}",
                text(&out)
            );
        }
        assert_eq!(list(), ["acme", "globex"], "{url}");
        let again = fraiseql(dir, &["tenant", "create", "acme"]);
        assert_eq!(again.status.code(), Some(1), "{url}: {}", text(&again));
        for hostile in ["x; DROP DATABASE postgres", "../etc", "acme'", ""] {
            let out = fraiseql(dir, &["tenant", "create", hostile]);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{url} {hostile:?}: {}",
                text(&out)
            );
            assert!(
                stderr(&out).contains("is not a tenant id"),
                "{}",
                text(&out)
            );
        }
        // Not confirmed (no terminal): nothing dropped.
        let out = fraiseql(dir, &["tenant", "drop", "acme"]);
        assert_eq!(out.status.code(), Some(2), "{url}: {}", text(&out));
        assert!(stderr(&out).contains("pass --yes"), "{}", text(&out));
        assert_eq!(list(), ["acme", "globex"], "{url}");
        for tenant in ["acme", "globex"] {
            let out = fraiseql(dir, &["tenant", "drop", tenant, "--yes"]);
            assert_eq!(out.status.code(), Some(0), "{url}: {}", text(&out));
        }
        assert!(list().is_empty(), "{url}");
    }
}
