//! Pool upkeep, off the request path: a background task per database that opens
//! `pool_min` connections once the database answers (startup never waits for it, and a
//! database that is down is simply tried again at the next tick) and closes connections
//! idle for longer than `idle_timeout_ms`, down to `pool_min`. Deadpool does neither by
//! itself: it opens connections on demand and keeps them forever.

use deadpool::managed::{Manager, Pool, WeakPool};
use std::time::Duration;

/// What the upkeep keeps: resolved from `pool_min` and `idle_timeout_ms`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plan {
    /// Connections kept open (never more than the pool's maximum).
    pub(super) min: usize,
    /// Idle connections older than this are closed; `None` keeps them.
    pub(super) idle: Option<Duration>,
}

/// The longest pause between two rounds: also how soon `pool_min` is restored after the
/// database comes back.
const MAX_TICK: Duration = Duration::from_secs(5);
/// The shortest pause, so a tiny `idle_timeout_ms` cannot make the task spin.
const MIN_TICK: Duration = Duration::from_millis(50);

/// Starts the upkeep of `pool`, when there is anything to keep and a runtime to run it on
/// (one-off commands build a database outside one). `discard` marks connections to close
/// whatever their age (an abandoned statement's). The task holds the pool weakly and ends
/// with it; the caller also aborts it when the database is dropped.
pub(super) fn spawn<M>(
    pool: &Pool<M>,
    plan: Plan,
    discard: fn(&M::Type) -> bool,
) -> Option<tokio::task::AbortHandle>
where
    M: Manager + 'static,
{
    if plan.min == 0 && plan.idle.is_none() {
        return None;
    }
    let rt = tokio::runtime::Handle::try_current().ok()?;
    let tick = plan
        .idle
        .map_or(MAX_TICK, |idle| (idle / 2).clamp(MIN_TICK, MAX_TICK));
    let weak = pool.weak();
    Some(rt.spawn(run(weak, plan, discard, tick)).abort_handle())
}

async fn run<M: Manager>(
    weak: WeakPool<M>,
    plan: Plan,
    discard: fn(&M::Type) -> bool,
    tick: Duration,
) {
    loop {
        let Some(pool) = weak.upgrade() else { return };
        close_idle(&pool, plan, discard);
        warm(&pool, plan.min).await;
        drop(pool);
        tokio::time::sleep(tick).await;
    }
}

/// Closes idle connections past the idle timeout (or marked by `discard`), keeping
/// `plan.min` open. Only connections waiting in the pool are looked at; those in use are not.
fn close_idle<M: Manager>(pool: &Pool<M>, plan: Plan, discard: fn(&M::Type) -> bool) {
    let mut surplus = pool.status().size.saturating_sub(plan.min);
    pool.retain(|conn, metrics| {
        let stale = plan.idle.is_some_and(|idle| metrics.last_used() >= idle);
        if discard(conn) || (stale && surplus > 0) {
            surplus = surplus.saturating_sub(1);
            return false;
        }
        true
    });
}

/// Opens connections until `min` are open. The pool hands out idle connections before it
/// opens new ones, so the idle ones are held too (for the length of a connect) while the
/// missing ones are opened; a failure (database down) waits for the next round.
async fn warm<M: Manager>(pool: &Pool<M>, min: usize) {
    let status = pool.status();
    if status.size >= min {
        return;
    }
    let want = (min - status.size + status.available).min(status.max_size);
    let held = futures::future::join_all((0..want).map(|_| pool.get())).await;
    let failed = held.iter().filter(|c| c.is_err()).count();
    if failed > 0 {
        tracing::debug!(failed, "could not open the pool's minimum connections yet");
    }
}
