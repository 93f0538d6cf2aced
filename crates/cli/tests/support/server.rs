//! The real `fraiseql` binary as a child process: started with `run <toml> --port <free port>
//! --bind 127.0.0.1` in a temporary directory, ready once `GET /health/live` answers, killed
//! when dropped. Its stdout and stderr go to `server.log` in that directory, shown when
//! something fails.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to answer `/health/live`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// A running server.
pub(crate) struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Server {
    /// Starts `binary run fraiseql.toml` in `dir` and waits until it is live.
    pub(crate) async fn start(
        binary: &Path,
        dir: &Path,
        http: &reqwest::Client,
    ) -> Result<Self, String> {
        let port = free_port()?;
        let log = dir.join("server.log");
        let out = std::fs::File::create(&log)
            .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(binary)
            .args([
                "run",
                "fraiseql.toml",
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(dir)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.wait_live(http).await?;
        Ok(server)
    }

    async fn wait_live(&mut self, http: &reqwest::Client) -> Result<(), String> {
        let url = format!("{}/health/live", self.base);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut last = String::from("no answer");
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "the server exited during startup ({status}); its output:\n{}",
                    self.output()
                ));
            }
            match http.get(&url).timeout(Duration::from_secs(2)).send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => last = format!("HTTP {}", r.status()),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "GET {url} did not succeed within {}s (last: {last}); server output:\n{}",
            STARTUP_TIMEOUT.as_secs(),
            self.output()
        ))
    }

    /// POSTs one GraphQL request to `/graphql` and returns the response body as JSON.
    pub(crate) async fn graphql(
        &mut self,
        http: &reqwest::Client,
        query: &str,
        variables: Option<Value>,
    ) -> Result<Value, String> {
        let mut body = serde_json::Map::new();
        body.insert("query".into(), Value::String(query.into()));
        if let Some(v) = variables {
            body.insert("variables".into(), v);
        }
        let response = http
            .post(format!("{}/graphql", self.base))
            .json(&Value::Object(body))
            .send()
            .await
            .map_err(|e| self.failure(format!("request failed: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| self.failure(format!("reading the response: {e}")))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("HTTP {status}: the body is not JSON ({e}): {text}"))
    }

    /// A message that includes the server output when the server has died.
    fn failure(&mut self, message: String) -> String {
        match self.child.try_wait() {
            Ok(Some(status)) => format!(
                "{message}; the server exited ({status}); its output:\n{}",
                self.output()
            ),
            _ => message,
        }
    }

    /// `http://127.0.0.1:<port>`.
    #[allow(dead_code)] // the spec suite does not need it
    pub(crate) fn base(&self) -> String {
        self.base.clone()
    }

    /// Kills the process (SIGKILL) and waits for it.
    #[allow(dead_code)] // the spec suite does not need it
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process is still running.
    #[allow(dead_code)] // not every test binary asks
    pub(crate) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything the server printed so far.
    pub(crate) fn output(&self) -> String {
        std::fs::read_to_string(&self.log)
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log.display()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Our own child, by handle: never by name.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free right now on 127.0.0.1 (released before the server binds it).
fn free_port() -> Result<u16, String> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}
