//! Read replicas of one database (`[databases.<name>] replicas`): which replica's turn it is,
//! and which replicas answer. [`super::Database::fetch_all`] asks [`Replicas::turn`] for
//! the replicas to try, in order; a replica it cannot reach is marked down
//! ([`Replica::mark_down`]) and left out of every turn until a background probe finds it
//! answering again, so requests never wait on a replica known to be down and a replica
//! that comes back is used again without a restart.
//!
//! Down means unreachable (`DbErrorKind::Unavailable`: refused, reset, unknown database,
//! TLS refused), nothing else: a rejected statement or a timeout says nothing about whether
//! the next read would reach the replica.

use super::{DbError, DbErrorKind, Target};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often a replica that is down is tried again.
pub(crate) const PROBE_EVERY: Duration = Duration::from_secs(1);

/// The replicas of one database and whose turn is next.
pub(super) struct Replicas {
    list: Vec<Arc<Replica>>,
    /// Counts reads; the read takes the replica at this count modulo those up.
    next: AtomicUsize,
}

impl Replicas {
    pub(super) fn new(list: Vec<Replica>) -> Self {
        Self {
            list: list.into_iter().map(Arc::new).collect(),
            next: AtomicUsize::new(0),
        }
    }

    pub(super) fn all(&self) -> &[Arc<Replica>] {
        &self.list
    }

    /// The replicas up now, starting with the one whose turn it is and going round: the
    /// order a read tries them in. Empty without replicas or when all are down (the read
    /// then goes to the primary). Turns are taken among the replicas up, so one being down
    /// does not give its turns to its neighbour alone.
    pub(super) fn turn(&self) -> Vec<&Arc<Replica>> {
        if self.list.is_empty() {
            return Vec::new();
        }
        let mut up: Vec<&Arc<Replica>> = self.list.iter().filter(|r| r.is_up()).collect();
        if !up.is_empty() {
            let first = self.next.fetch_add(1, Ordering::Relaxed) % up.len();
            up.rotate_left(first);
        }
        up
    }
}

/// One read replica: its pool and whether it answers.
pub(crate) struct Replica {
    /// Its place in `replicas`, as metrics and `/health` name it.
    pub(crate) index: usize,
    /// The database it is a replica of, for the log.
    database: String,
    /// Its URL without the password, for the log and `fraiseql check`.
    pub(crate) url: String,
    pub(crate) target: Target,
    /// Cleared when it could not be reached; set again when it answers.
    up: AtomicBool,
    /// A probe is running (at most one per replica).
    probing: AtomicBool,
}

impl Replica {
    /// A replica assumed up: its first read finds out, and costs at most one failover.
    pub(super) fn new(database: &str, index: usize, url: String, target: Target) -> Self {
        Self {
            index,
            database: database.to_string(),
            url,
            target,
            up: AtomicBool::new(true),
            probing: AtomicBool::new(false),
        }
    }

    /// Whether reads are sent to it.
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Leaves it out of every turn from now on and starts probing it in the background
    /// (when there is a runtime to probe on; one-off commands have no turns to take).
    pub(super) fn mark_down(self: &Arc<Self>, e: &DbError) {
        if self.up.swap(false, Ordering::AcqRel) {
            tracing::warn!(
                database = %self.database,
                replica = self.index,
                url = %self.url,
                error = %crate::log::clip(&e.message),
                "read replica unreachable; reads go to the other replicas or the primary \
                 until it answers"
            );
        }
        if self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn(probe(Arc::downgrade(self)))),
            Err(_) => self.probing.store(false, Ordering::Release),
        }
    }

    fn mark_up(&self) {
        if !self.up.swap(true, Ordering::AcqRel) {
            tracing::info!(
                database = %self.database,
                replica = self.index,
                url = %self.url,
                "read replica answers again; reads go to it"
            );
        }
    }

    /// Pings it now (`/health`): an answer marks it up, a failure to reach it marks it
    /// down. Either way the result is returned as it came.
    pub(crate) async fn check(self: &Arc<Self>) -> Result<(), DbError> {
        let result = self.target.ping().await;
        match &result {
            Ok(()) => self.mark_up(),
            Err(e) if e.kind == DbErrorKind::Unavailable => self.mark_down(e),
            Err(_) => {}
        }
        result
    }
}

/// Pings a replica that is down every [`PROBE_EVERY`] until it answers, then puts it back
/// in turn. Holds it weakly, so the probe ends with the database.
async fn probe(replica: Weak<Replica>) {
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let Some(replica) = replica.upgrade() else {
            return;
        };
        // Marked up meanwhile (by `/health`): nothing left to do.
        let answered = replica.is_up() || replica.target.ping().await.is_ok();
        if answered {
            // Cleared first: a read that finds it down again after this starts a new probe.
            replica.probing.store(false, Ordering::Release);
            replica.mark_up();
            return;
        }
    }
}

#[cfg(test)]
#[path = "replicas_tests.rs"]
mod tests;
