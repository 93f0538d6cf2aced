//! Where messages go: NATS JetStream, or the embedded single-process bus (`backend =
//! "memory"`). The relay publishes through [`Bus::publish`]; inbound consumers read from
//! JetStream durable consumers (`inbound.rs`) or from [`Memory::subscribe`].
//!
//! Publishing is ordered: one message at a time, each acknowledged by the stream before the
//! next is sent, and the count returned is the prefix the stream stored. The relay marks
//! only that prefix, so a message is never marked before the stream has it, never skipped,
//! and never stored after one that followed it.

use super::message::Message;
use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use async_nats::HeaderMap;
use fraiseql_engine::config::{Backend, ObserversConfig};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a publish waits for the stream's acknowledgement.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Messages a memory subscriber may hold before the publisher waits for it.
const MEMORY_QUEUE: usize = 1024;

/// Why messages were not published.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PublishError {
    /// NATS is away or slow: the same message can go later.
    Retry(String),
    /// This message can never go (no stream takes its subject, too large): publishing it
    /// again would block every message behind it.
    Reject(String),
}

/// Why the stream cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StreamError {
    /// NATS or JetStream does not answer: try again later.
    Unavailable(String),
    /// The stream exists but does not take these subjects; a configuration problem.
    Uncovered(Vec<String>),
    /// The server refused to create it (its subjects overlap another stream's, …).
    Refused(String),
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamError::Unavailable(why) => write!(f, "NATS JetStream unavailable: {why}"),
            StreamError::Uncovered(subjects) => write!(
                f,
                "the stream exists but does not take the subjects {}; add them to its \
                 subjects, or name another stream in [observers] stream",
                subjects.join(", ")
            ),
            StreamError::Refused(why) => write!(f, "cannot create the stream: {why}"),
        }
    }
}

/// The bus of one server.
pub(crate) enum Bus {
    /// Boxed: a JetStream context is far larger than the memory bus.
    Nats(Box<Nats>),
    Memory(Memory),
}

impl Bus {
    /// Connects (NATS: in the background, retrying for ever, so a NATS that is down at
    /// start does not stop the server).
    /// `subjects` are those the stream must take.
    pub(crate) async fn connect(
        config: &ObserversConfig,
        subjects: Vec<String>,
    ) -> Result<Bus, String> {
        match config.backend {
            Backend::Memory => Ok(Bus::Memory(Memory::default())),
            Backend::Nats => Nats::connect(config, subjects)
                .await
                .map(|n| Bus::Nats(Box::new(n))),
        }
    }

    /// Whether messages can go out now.
    pub(crate) fn connected(&self) -> bool {
        match self {
            Bus::Nats(n) => n.client.connection_state() == async_nats::connection::State::Connected,
            Bus::Memory(_) => true,
        }
    }

    /// Publishes `messages` in order; returns how many were stored, and the error that
    /// stopped the rest.
    pub(crate) async fn publish(&self, messages: &[Message]) -> (usize, Option<PublishError>) {
        match self {
            Bus::Nats(n) => n.publish(messages).await,
            Bus::Memory(m) => {
                for message in messages {
                    m.publish(message).await;
                }
                (messages.len(), None)
            }
        }
    }
}

/// A JetStream connection and the stream it publishes to.
pub(crate) struct Nats {
    pub(crate) client: async_nats::Client,
    pub(crate) js: jetstream::Context,
    pub(crate) stream: String,
    /// What the stream must take (rule and subscription subjects).
    subjects: Vec<String>,
    duplicate_window: Duration,
}

impl Nats {
    async fn connect(config: &ObserversConfig, subjects: Vec<String>) -> Result<Nats, String> {
        let options = async_nats::ConnectOptions::new()
            .name("fraiseql")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => tracing::info!("[observers] NATS connected"),
                    async_nats::Event::Disconnected => {
                        tracing::warn!("[observers] NATS disconnected; reconnecting")
                    }
                    other => tracing::debug!("[observers] NATS: {other}"),
                }
            });
        let client = options
            .connect(config.url())
            .await
            .map_err(|e| format!("NATS URL `{}`: {e}", config.url()))?;
        let mut js = jetstream::new(client.clone());
        js.set_timeout(ACK_TIMEOUT);
        Ok(Nats {
            client,
            js,
            stream: config.stream.clone(),
            subjects,
            duplicate_window: Duration::from_secs(config.duplicate_window_secs),
        })
    }

    /// Makes sure the stream exists and takes the subjects (wildcards allowed): an existing
    /// stream is used as it is when it covers them; a missing one is created with them.
    /// Whether it was created now.
    pub(crate) async fn ensure_stream(&self) -> Result<bool, StreamError> {
        let wanted = minimal(&self.subjects);
        match self.js.get_stream(&self.stream).await {
            Ok(mut existing) => {
                let info = existing
                    .info()
                    .await
                    .map_err(|e| StreamError::Unavailable(e.to_string()))?;
                let uncovered: Vec<String> = wanted
                    .iter()
                    .filter(|s| !info.config.subjects.iter().any(|p| covers(p, s)))
                    .cloned()
                    .collect();
                if uncovered.is_empty() {
                    Ok(false)
                } else {
                    Err(StreamError::Uncovered(uncovered))
                }
            }
            Err(e) => {
                let missing = matches!(
                    e.kind(),
                    jetstream::context::GetStreamErrorKind::JetStream(j)
                        if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
                );
                if !missing {
                    return Err(StreamError::Unavailable(e.to_string()));
                }
                let config = stream::Config {
                    name: self.stream.clone(),
                    subjects: wanted,
                    duplicate_window: self.duplicate_window,
                    storage: stream::StorageType::File,
                    ..Default::default()
                };
                match self.js.create_stream(config).await {
                    Ok(_) => {
                        tracing::info!(stream = %self.stream, "[observers] JetStream stream created");
                        Ok(true)
                    }
                    Err(e) => match e.kind() {
                        jetstream::context::CreateStreamErrorKind::JetStream(j) => {
                            Err(StreamError::Refused(j.to_string()))
                        }
                        _ => Err(StreamError::Unavailable(e.to_string())),
                    },
                }
            }
        }
    }

    async fn publish(&self, messages: &[Message]) -> (usize, Option<PublishError>) {
        // One message in flight at a time. With several, a connection lost mid-batch can
        // drop one message from the socket while the ones queued behind it are sent after
        // the reconnect: the stream would store them before the dropped one is published
        // again, out of order. An acknowledgement per message costs a round trip on the
        // relay's side, not on any request's.
        let mut stored = 0;
        let mut stopped = None;
        for message in messages {
            let mut headers = HeaderMap::new();
            for (name, value) in &message.headers {
                headers.insert(*name, value.as_str());
            }
            let publish = jetstream::message::PublishMessage::build()
                .payload(message.body.clone())
                .headers(headers);
            let acked = match self.js.send_publish(message.subject.clone(), publish).await {
                Ok(ack) => ack.await.map_err(|e| publish_error(e.kind(), &e)),
                Err(e) => Err(publish_error(e.kind(), &e)),
            };
            match acked {
                Ok(_) => stored += 1,
                Err(e) => {
                    stopped = Some(e);
                    break;
                }
            }
        }
        if stopped == Some(PublishError::Reject(NO_STREAM.into())) {
            stopped = Some(self.no_stream().await);
        }
        (stored, stopped)
    }

    /// No stream took a message: either ours is gone (deleted, or never created while NATS
    /// was away), which creating it again fixes, or the subject is one it does not take.
    async fn no_stream(&self) -> PublishError {
        match self.ensure_stream().await {
            // Created just now: the same message goes in the next round.
            Ok(true) => PublishError::Retry(format!("stream `{}` created", self.stream)),
            // It was there, covering the configured subjects, yet refused this one: an
            // emitted event on a subject no stream takes.
            Ok(false) => PublishError::Reject(format!(
                "no stream takes this subject (stream `{}` does not); add it to the stream's \
                 subjects ([observers] stream_subjects)",
                self.stream
            )),
            Err(e) => PublishError::Retry(e.to_string()),
        }
    }
}

/// The placeholder text of a `StreamNotFound` before [`Nats::no_stream`] looks into it.
const NO_STREAM: &str = "no stream";

fn publish_error(kind: PublishErrorKind, e: &dyn std::fmt::Display) -> PublishError {
    match kind {
        PublishErrorKind::StreamNotFound => PublishError::Reject(NO_STREAM.into()),
        PublishErrorKind::MaxPayloadExceeded => PublishError::Reject(e.to_string()),
        _ => PublishError::Retry(e.to_string()),
    }
}

/// The embedded bus: every subscriber whose pattern matches gets each message, in order;
/// a full subscriber makes the publisher wait (the outbox holds the rest), so nothing is
/// dropped. Nothing survives the process.
#[derive(Default)]
pub(crate) struct Memory {
    subscribers: Mutex<Vec<(String, mpsc::Sender<Arc<Message>>)>>,
}

impl Memory {
    /// Messages on subjects matching `pattern` from now on.
    pub(crate) fn subscribe(&self, pattern: &str) -> mpsc::Receiver<Arc<Message>> {
        let (tx, rx) = mpsc::channel(MEMORY_QUEUE);
        self.lock().push((pattern.to_owned(), tx));
        rx
    }

    async fn publish(&self, message: &Message) {
        let targets: Vec<mpsc::Sender<Arc<Message>>> = {
            let mut subs = self.lock();
            subs.retain(|(_, tx)| !tx.is_closed());
            subs.iter()
                .filter(|(pattern, _)| matches(pattern, &message.subject))
                .map(|(_, tx)| tx.clone())
                .collect()
        };
        let message = Arc::new(message.clone());
        for tx in targets {
            // A subscriber that went away between the filter and here is no loss.
            let _ = tx.send(message.clone()).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, mpsc::Sender<Arc<Message>>)>> {
        self.subscribers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Whether `subject` (no wildcards) matches `pattern` (`*` one token, `>` the rest).
pub(crate) fn matches(pattern: &str, subject: &str) -> bool {
    covers(pattern, subject)
}

/// Whether every subject `inner` (wildcards allowed) matches is matched by `outer`.
pub(crate) fn covers(outer: &str, inner: &str) -> bool {
    let mut o = outer.split('.');
    let mut i = inner.split('.');
    loop {
        match (o.next(), i.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(t)) if t != ">" => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// `subjects` without those another one covers (a stream refuses overlapping subjects).
fn minimal(subjects: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in subjects {
        if out.iter().any(|kept| covers(kept, s)) {
            continue;
        }
        out.retain(|kept| !covers(s, kept));
        out.push(s.clone());
    }
    out
}

/// A rule's subject template as the stream subject that takes every rendering of it: a
/// token with a placeholder becomes `*`.
pub(crate) fn template_pattern(template: &str) -> String {
    template
        .split('.')
        .map(|t| if t.contains('{') { "*" } else { t })
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_matching_follows_nats() {
        assert!(matches("a.b", "a.b"));
        assert!(matches("a.*", "a.b"));
        assert!(!matches("a.*", "a.b.c"));
        assert!(matches("a.>", "a.b.c"));
        assert!(!matches("a.>", "a"));
        assert!(!matches("a.b", "a.b.c"));
        assert!(covers("a.>", "a.*.c"));
        assert!(!covers("a.*", "a.>"));
        assert!(covers("a.*", "a.*"));
        assert!(!covers("a.b", "a.*"));
    }

    #[test]
    fn stream_subjects_drop_what_another_covers() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            minimal(&list(&["a.b", "a.>", "c.*", "c.d", "a.b"])),
            list(&["a.>", "c.*"])
        );
        assert_eq!(
            template_pattern("t.{tenant_id}.orders.{op}"),
            "t.*.orders.*"
        );
        assert_eq!(template_pattern("x.id_{id}"), "x.*");
    }

    #[tokio::test]
    async fn memory_subscribers_get_matching_messages_in_order() {
        let bus = Memory::default();
        let mut all = bus.subscribe("e.>");
        let mut one = bus.subscribe("e.one");
        let dropped = bus.subscribe("e.*");
        drop(dropped);
        for subject in ["e.one", "e.two", "other"] {
            let m = Message {
                subject: subject.into(),
                headers: vec![],
                body: bytes::Bytes::from_static(b"{}"),
            };
            bus.publish(&m).await;
        }
        assert_eq!(all.recv().await.unwrap().subject, "e.one");
        assert_eq!(all.recv().await.unwrap().subject, "e.two");
        assert_eq!(one.recv().await.unwrap().subject, "e.one");
        assert!(one.try_recv().is_err());
        assert_eq!(bus.lock().len(), 2, "a closed subscriber is forgotten");
    }
}
