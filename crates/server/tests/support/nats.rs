//! NATS for the event tests: the shared JetStream server (`FRAISEQL_TEST_NATS_URL`), names
//! private to one test (stream, subject prefix), reading a stream back, and a private
//! `nats-server` a test can stop and start again. Each test binary uses part of it.
#![allow(dead_code)]

use async_nats::jetstream::{self, consumer::pull};
use futures::StreamExt;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `FRAISEQL_TEST_NATS_URL`, or the local default.
pub(crate) fn url() -> String {
    std::env::var("FRAISEQL_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A stream name and subject prefix of one test's own.
pub(crate) struct Names {
    pub(crate) stream: String,
    /// Subjects of the test start with this (`t<id>`), so no two tests' streams overlap.
    pub(crate) prefix: String,
}

impl Names {
    pub(crate) fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            stream: format!("fraiseql_t_{id}"),
            prefix: format!("t{id}"),
        }
    }

    pub(crate) fn subject(&self, rest: &str) -> String {
        format!("{}.{rest}", self.prefix)
    }
}

/// A JetStream context on `url`; panics (fails the test) when NATS cannot be reached.
pub(crate) async fn jetstream(url: &str) -> (async_nats::Client, jetstream::Context) {
    let client = tokio::time::timeout(Duration::from_secs(5), async_nats::connect(url))
        .await
        .unwrap_or_else(|_| panic!("NATS at {url} does not answer"))
        .unwrap_or_else(|e| panic!("NATS at {url}: {e}"));
    let js = jetstream::new(client.clone());
    (client, js)
}

/// One stored message.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) subject: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
    pub(crate) sequence: u64,
}

impl Stored {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// Every message of `stream` on `subject`, waiting up to `within` for at least `at_least`.
pub(crate) async fn read(
    js: &jetstream::Context,
    stream: &str,
    subject: &str,
    at_least: usize,
    within: Duration,
) -> Vec<Stored> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let got = read_now(js, stream, subject).await;
        if got.len() >= at_least || tokio::time::Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every message of `stream` on `subject` stored now (none when the stream is missing).
pub(crate) async fn read_now(js: &jetstream::Context, stream: &str, subject: &str) -> Vec<Stored> {
    let Ok(stream) = js.get_stream(stream).await else {
        return Vec::new();
    };
    let consumer = stream
        .create_consumer(pull::Config {
            filter_subject: subject.to_owned(),
            ack_policy: jetstream::consumer::AckPolicy::None,
            inactive_threshold: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .expect("ephemeral consumer");
    let mut pending = consumer.cached_info().num_pending;
    let mut out = Vec::new();
    if pending == 0 {
        return out;
    }
    let mut messages = consumer.messages().await.expect("messages");
    while pending > 0 {
        let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(5), messages.next()).await
        else {
            break;
        };
        let info = m.info().expect("jetstream message");
        pending = info.pending;
        let sequence = info.stream_sequence;
        let headers = m
            .headers
            .iter()
            .flat_map(|h| h.iter())
            .filter_map(|(k, v)| Some((k.to_string(), v.first()?.to_string())))
            .collect();
        out.push(Stored {
            subject: m.subject.to_string(),
            headers,
            body: String::from_utf8_lossy(&m.payload).into_owned(),
            sequence,
        });
    }
    // In stream order whatever order the pulls delivered them in.
    out.sort_by_key(|m| m.sequence);
    out
}

/// Deletes a test's stream (at the end of the test).
pub(crate) async fn delete_stream(js: &jetstream::Context, stream: &str) {
    let _ = js.delete_stream(stream).await;
}

/// A `nats-server` with JetStream of a test's own, on a free port, its store in a
/// temporary directory that outlives stops and starts.
pub(crate) struct PrivateNats {
    pub(crate) port: u16,
    store: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateNats {
    /// Picks a port and a store; not started.
    pub(crate) fn new() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Self {
            port,
            store: tempfile::tempdir().expect("temp dir"),
            child: None,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts it and waits until it accepts connections.
    pub(crate) async fn start(&mut self) {
        let bin = [
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
            "nats-server",
        ]
        .into_iter()
        .find(|b| !b.starts_with('/') || PathBuf::from(b).exists())
        .unwrap_or("nats-server");
        let child = Command::new(bin)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start nats-server ({bin}): {e}"));
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "private nats-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills it (its store stays).
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.stop();
    }
}
