//! What the background event tasks report to `/health`: each relay's and consumer's state,
//! last error and counts; and the backoff they restart with.

use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// One relay's state: `starting`, `publishing` (it holds the lease), `standby` (another
/// process does), `error`.
#[derive(Default)]
pub(crate) struct RelayStatus {
    state: Mutex<(&'static str, Option<String>)>,
    leader: AtomicBool,
    published: AtomicU64,
    pending: AtomicU64,
    /// Milliseconds the oldest waiting row has waited.
    lag_ms: AtomicU64,
}

impl RelayStatus {
    pub(crate) fn set_state(&self, state: &'static str) {
        *lock(&self.state) = (state, None);
    }

    pub(crate) fn fail(&self, error: &str) {
        *lock(&self.state) = ("error", Some(crate::log::clip(error).to_string()));
    }

    pub(crate) fn leader(&self, yes: bool) {
        self.leader.store(yes, Ordering::Relaxed);
    }

    /// Whether this process holds the database's lease now.
    pub(crate) fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }

    pub(crate) fn published(&self, n: u64) {
        self.published.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn depth(&self, pending: u64, age_secs: Option<f64>) {
        self.pending.store(pending, Ordering::Relaxed);
        let ms = age_secs.map_or(0, |s| (s * 1000.0) as u64);
        self.lag_ms.store(ms, Ordering::Relaxed);
    }

    pub(crate) fn is_error(&self) -> bool {
        lock(&self.state).0 == "error"
    }

    /// The `/health` entry; the error text only for `details`.
    pub(crate) fn to_json(&self, details: bool) -> Value {
        let (state, error) = lock(&self.state).clone();
        let mut v = json!({
            "state": if state.is_empty() { "starting" } else { state },
            "published": self.published.load(Ordering::Relaxed),
            "pending": self.pending.load(Ordering::Relaxed),
            "lag_seconds": self.lag_ms.load(Ordering::Relaxed) as f64 / 1000.0,
        });
        if let (Some(e), true, Value::Object(map)) = (error, details, &mut v) {
            map.insert("error".into(), Value::String(e));
        }
        v
    }
}

/// One inbound consumer's state: `starting`, `running`, `error`.
#[derive(Default)]
pub(crate) struct ConsumerStatus {
    state: Mutex<(&'static str, Option<String>)>,
    handled: AtomicU64,
    failed: AtomicU64,
    dead: AtomicU64,
    pending: AtomicU64,
}

impl ConsumerStatus {
    pub(crate) fn set_state(&self, state: &'static str) {
        *lock(&self.state) = (state, None);
    }

    pub(crate) fn fail(&self, error: &str) {
        *lock(&self.state) = ("error", Some(crate::log::clip(error).to_string()));
    }

    pub(crate) fn handled(&self) {
        self.handled.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dead_lettered(&self) {
        self.dead.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn pending(&self, n: u64) {
        self.pending.store(n, Ordering::Relaxed);
    }

    pub(crate) fn is_error(&self) -> bool {
        lock(&self.state).0 == "error"
    }

    pub(crate) fn to_json(&self, details: bool) -> Value {
        let (state, error) = lock(&self.state).clone();
        let mut v = json!({
            "state": if state.is_empty() { "starting" } else { state },
            "handled": self.handled.load(Ordering::Relaxed),
            "failed": self.failed.load(Ordering::Relaxed),
            "dead_lettered": self.dead.load(Ordering::Relaxed),
            "pending": self.pending.load(Ordering::Relaxed),
        });
        if let (Some(e), true, Value::Object(map)) = (error, details, &mut v) {
            map.insert("error".into(), Value::String(e));
        }
        v
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Delays between restarts: 100 ms doubling to 5 s, with jitter so replicas do not retry
/// in step.
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    pub(crate) fn new() -> Self {
        Self { next: Self::FIRST }
    }

    pub(crate) fn next(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        delay.mul_f64(0.5 + fastrand::f64() / 2.0)
    }

    pub(crate) fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}
