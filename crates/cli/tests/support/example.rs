//! An example of `examples/` as its README runs it: `bash examples/<name>/run.sh --port N`
//! with the binary cargo built (`FRAISEQL_BIN`) and database URLs of the test's own, the
//! README's queries and answers, and the statements each database was sent (`/metrics`).
//!
//! A README pairs each ```` ```graphql ```` block with the ```` ```json ```` blocks that follow
//! it: the last is the exact answer, and a first one, when there are two, the variables. The
//! heading above a pair says when it applies (`## When a database is down`).

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The repository's root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file of the repository, as text.
pub(crate) fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// One query of a README and its answer.
#[derive(Debug, Clone)]
pub(crate) struct Pair {
    /// The `## ` heading above it.
    pub(crate) section: String,
    pub(crate) query: String,
    pub(crate) variables: Option<Value>,
    pub(crate) answer: Value,
}

/// Every (graphql, [variables], answer) of a README, in order.
pub(crate) fn readme_pairs(text: &str) -> Vec<Pair> {
    // (section, language, body) of every fenced block.
    let mut blocks: Vec<(String, String, String)> = Vec::new();
    let mut section = String::new();
    let mut open: Option<(String, String)> = None;
    for line in text.lines() {
        match &mut open {
            Some((language, body)) => {
                if line == "```" {
                    blocks.push((
                        section.clone(),
                        std::mem::take(language),
                        std::mem::take(body),
                    ));
                    open = None;
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
            None => {
                if let Some(heading) = line.strip_prefix("## ") {
                    section = heading.to_string();
                } else if let Some(language) = line.strip_prefix("```") {
                    open = Some((language.to_string(), String::new()));
                }
            }
        }
    }
    assert!(open.is_none(), "a fenced block is not closed");
    let json = |body: &str| -> Value {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("README JSON: {e}\n{body}"))
    };
    let mut pairs = Vec::new();
    let mut i = 0;
    while i < blocks.len() {
        let (section, language, query) = &blocks[i];
        i += 1;
        if language != "graphql" {
            continue;
        }
        let start = i;
        while i < blocks.len() && blocks[i].1 == "json" {
            i += 1;
        }
        let answers = &blocks[start..i];
        let (variables, answer) = match answers {
            [answer] => (None, json(&answer.2)),
            [variables, answer] => (Some(json(&variables.2)), json(&answer.2)),
            _ => panic!(
                "a graphql block needs its answer (and at most variables before it):\n{query}"
            ),
        };
        pairs.push(Pair {
            section: section.clone(),
            query: query.clone(),
            variables,
            answer,
        });
    }
    pairs
}

/// The query of the README's `curl … -d '{"query":"…"}'` line that holds `needle`.
pub(crate) fn readme_curl_query(text: &str, needle: &str) -> String {
    let body = text
        .lines()
        .filter(|l| l.contains(needle))
        .find_map(|l| {
            l.trim()
                .strip_prefix("-d '")?
                .split_once('\'')
                .map(|(b, _)| b)
        })
        .unwrap_or_else(|| panic!("no `-d '…'` line with {needle} in the README"));
    let body: Value = serde_json::from_str(body).expect("the curl body is JSON");
    body["query"].as_str().expect("a query").to_string()
}

/// A value as JSON text, keys in their order: two answers are the same when these are.
pub(crate) fn exact(value: &Value) -> String {
    value.to_string()
}

/// A database name no other test run uses (run.sh only touches names `fraiseql_*`).
pub(crate) fn unique_name(label: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "fraiseql_ex{}_{}_{nanos}_{label}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn admin_url(variable: &str, default: &str) -> String {
    std::env::var(variable)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| default.into())
}

/// `url` with its database (path) replaced by `name`, its query string kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    let (scheme, rest) = base.split_once("://").expect("a URL with a scheme");
    let authority = rest.split('/').next().unwrap_or_default();
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("{scheme}://{authority}/{name}{query}")
}

/// Databases created for one test (by run.sh) on the servers the other tests use
/// (`FRAISEQL_TEST_PG_URL`, `FRAISEQL_TEST_MYSQL_URL`), dropped when it ends.
#[derive(Default)]
pub(crate) struct SharedDatabases {
    postgres: Vec<(String, String)>,
    mariadb: Vec<(String, String)>,
}

impl SharedDatabases {
    /// The URL of a new PostgreSQL database for run.sh to create.
    pub(crate) fn postgres(&mut self, label: &str) -> String {
        let admin = admin_url(
            "FRAISEQL_TEST_PG_URL",
            "postgresql://postgres@127.0.0.1:5432/postgres",
        );
        let name = unique_name(label);
        self.postgres.push((admin.clone(), name.clone()));
        with_database(&admin, &name)
    }

    /// The URL of a new MariaDB database for run.sh to create.
    pub(crate) fn mariadb(&mut self, label: &str) -> String {
        let admin = admin_url("FRAISEQL_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306");
        let name = unique_name(label);
        self.mariadb.push((admin.clone(), name.clone()));
        with_database(&admin, &name)
    }
}

impl Drop for SharedDatabases {
    fn drop(&mut self) {
        for (admin, name) in &self.postgres {
            let _ = Command::new("psql")
                .arg(admin)
                .args([
                    "-q",
                    "-c",
                    &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                ])
                .output();
        }
        for (admin, name) in &self.mariadb {
            let Ok(opts) = mysql_async::Opts::from_url(admin) else {
                continue;
            };
            let _ = Command::new("mariadb")
                .args(["--protocol=TCP", "-h", opts.ip_or_hostname()])
                .args(["-P", &opts.tcp_port().to_string()])
                .args(["-u", opts.user().unwrap_or("root")])
                .env("MYSQL_PWD", opts.pass().unwrap_or_default())
                .args(["-e", &format!("DROP DATABASE IF EXISTS `{name}`")])
                .output();
        }
    }
}

/// An example served by its run.sh; stopped when dropped.
pub(crate) struct Example {
    child: Child,
    base: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Example {
    /// `bash examples/<name>/run.sh --port <free port>` with `env` set, once it answers.
    pub(crate) fn start(name: &str, env: &[(&str, String)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("run.log");
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut command = Command::new("bash");
        command
            .arg(format!("examples/{name}/run.sh"))
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .current_dir(root())
            .env("FRAISEQL_BIN", env!("CARGO_BIN_EXE_fraiseql"))
            .env("RUST_LOG", "warn")
            .env_remove("DATABASE_URL")
            .env_remove("FRAISEQL_SERVER__PORT")
            .env_remove("FRAISEQL_SERVER__HOST")
            .env_remove("FRAISEQL_DATABASE__URL");
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("bash runs");
        let mut example = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        };
        example.wait_live();
        example
    }

    /// What run.sh and the server printed so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_live(&mut self) {
        // run.sh creates and loads the databases first.
        let deadline = Instant::now() + Duration::from_secs(180);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("run.sh exited ({status}) before serving:\n{}", self.log());
            }
            if http(&format!("{}/health/live", self.base), None)
                .is_some_and(|(code, _)| code == 200)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the example did not serve within 180 s:\n{}", self.log());
    }

    /// The answer to a GraphQL request (status 200 expected).
    pub(crate) fn graphql(&self, query: &str, variables: Option<&Value>) -> Value {
        let body = serde_json::json!({ "query": query, "variables": variables }).to_string();
        let (status, answer) = http(&format!("{}/graphql", self.base), Some(&body))
            .unwrap_or_else(|| panic!("no answer to\n{query}\nlog:\n{}", self.log()));
        assert_eq!(status, 200, "{answer}");
        serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{e}: {answer}"))
    }

    /// Sends a README pair and checks the answer, values and key order.
    pub(crate) fn assert_answers(&self, pair: &Pair) {
        let got = self.graphql(&pair.query, pair.variables.as_ref());
        assert_eq!(
            exact(&got),
            exact(&pair.answer),
            "README section `{}`, query:\n{}\nserver log:\n{}",
            pair.section,
            pair.query,
            self.log()
        );
    }

    /// Statements sent to each database so far (`fraiseql_database_queries_total`, all
    /// outcomes).
    pub(crate) fn statements(&self) -> BTreeMap<String, u64> {
        let (status, text) = http(&format!("{}/metrics", self.base), None).expect("/metrics");
        assert_eq!(status, 200, "{text}");
        let mut out = BTreeMap::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("fraiseql_database_queries_total{") else {
                continue;
            };
            let database = rest
                .split("database=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .expect("a database label")
                .to_string();
            let n: f64 = line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .expect("a count");
            *out.entry(database).or_insert(0) += n as u64;
        }
        out
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        // run.sh ends in `exec fraiseql`: the child is the server, ours to stop.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Statements sent between two readings of [`Example::statements`], databases that were
/// sent none left out.
pub(crate) fn sent(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> Vec<(String, u64)> {
    after
        .iter()
        .map(|(db, n)| (db.clone(), n - before.get(db).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// A minimal HTTP/1.0 request (a POST of a JSON body, or a GET): (status, body).
fn http(url: &str, body: Option<&str>) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .ok()?;
    let method = if body.is_some() { "POST" } else { "GET" };
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
