//! The admission gate for GraphQL requests: at most `max_concurrent_requests` execute at
//! once, at most `max_queue_depth` wait for a slot, and anyone beyond is turned away at once
//! (503 + `Retry-After`) rather than queued without bound.

use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Concurrency slots plus a bounded waiting room.
pub(crate) struct Admission {
    slots: Semaphore,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// The gate is full: both every slot and the waiting room are taken.
#[derive(Debug)]
pub(crate) struct Overloaded;

impl Admission {
    pub(crate) fn new(max_concurrent: usize, max_waiting: usize) -> Self {
        let slots = max_concurrent.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            slots: Semaphore::new(slots),
            waiting: AtomicUsize::new(0),
            max_waiting,
        }
    }

    /// Takes a slot, waiting in line when there is room in the line.
    pub(crate) async fn enter(&self) -> Result<SemaphorePermit<'_>, Overloaded> {
        if let Ok(permit) = self.slots.try_acquire() {
            return Ok(permit);
        }
        let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _leave = Leave(&self.waiting);
        if ahead >= self.max_waiting {
            return Err(Overloaded);
        }
        self.slots.acquire().await.map_err(|_| Overloaded)
    }
}

/// Leaves the waiting room on every path out of `enter`, including cancellation.
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn queue_is_bounded() {
        let gate = Admission::new(1, 1);
        let first = gate.enter().await.expect("slot");
        // The second waits in line; the third finds the line full.
        let second = gate.enter();
        tokio::pin!(second);
        assert!(tokio::time::timeout(Duration::from_millis(20), &mut second)
            .await
            .is_err());
        assert!(gate.enter().await.is_err());
        drop(first);
        let _second = second.await.expect("admitted after the first left");
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn no_queue_means_immediate_rejection() {
        let gate = Admission::new(1, 0);
        let _held = gate.enter().await.expect("slot");
        assert!(gate.enter().await.is_err());
    }
}
