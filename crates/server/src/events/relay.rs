//! The relay: one task per database with an outbox. It takes the database's lease (so one
//! process publishes its events, in order), then publishes the unpublished outbox rows in
//! `seq` order, marks what the stream acknowledged, and sleeps until a commit wakes it
//! (PostgreSQL `NOTIFY`) or `poll_interval_ms` passes. A NATS outage or a crash loses
//! nothing: rows stay unpublished until the stream has them, and JetStream drops a message
//! whose id (`Nats-Msg-Id`) it stored already, so a row published but not yet marked when
//! the process died is not stored twice.

use super::bus::{Bus, PublishError};
use super::message;
use super::outbox::{self, Lease};
use super::status::{Backoff, RelayStatus};
use crate::db::{Database, DbError};
use crate::metrics::Metrics;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often a process without the lease asks for it again.
const LEASE_RETRY: Duration = Duration::from_secs(1);
/// How often the outbox depth is measured and old published rows deleted.
const HOUSEKEEPING: Duration = Duration::from_secs(5);
/// How long a stopping relay keeps publishing what is waiting.
const DRAIN: Duration = Duration::from_secs(5);

/// What one relay needs.
pub(crate) struct Relay {
    pub(crate) db: Arc<Database>,
    pub(crate) bus: Arc<Bus>,
    pub(crate) status: Arc<RelayStatus>,
    pub(crate) metrics: Metrics,
    /// `ce-source` of this database's events.
    pub(crate) source: String,
    /// The tenant whose database this is (a database per tenant): `ce-tenant` of its events.
    pub(crate) tenant: Option<String>,
    pub(crate) batch: usize,
    pub(crate) poll: Duration,
    pub(crate) retention: Duration,
    /// Install the outbox and triggers first (start-up could not: the database was down).
    pub(crate) install: Option<fraiseql_engine::config::ObserversConfig>,
}

impl Relay {
    /// Runs until `stop` turns true, then drains for up to [`DRAIN`].
    pub(crate) async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut backoff = Backoff::new();
        while let Some(observers) = &self.install {
            match outbox::install(&self.db, observers).await {
                Ok(()) => break,
                Err(e) => {
                    self.status.fail(&e.to_string());
                    tracing::warn!(database = %self.db.name, error = %crate::log::clip(&e.to_string()), "[observers] cannot install the outbox yet");
                }
            }
            if sleep_or_stop(backoff.next(), &mut stop).await {
                return;
            }
        }
        while !*stop.borrow() {
            match Lease::try_acquire(&self.db).await {
                Ok(Some(lease)) => {
                    self.status.set_state("publishing");
                    self.status.leader(true);
                    tracing::info!(database = %self.db.name, "[observers] relay holds the outbox lease");
                    let result = self.publish(lease, &mut stop, &mut backoff).await;
                    self.status.leader(false);
                    match result {
                        Ok(()) => return,
                        Err(e) => {
                            self.status.fail(&e);
                            tracing::warn!(database = %self.db.name, error = %crate::log::clip(&e), "[observers] relay stopped; starting again");
                        }
                    }
                }
                Ok(None) => {
                    // Another process publishes this database's events.
                    self.status.set_state("standby");
                    if sleep_or_stop(LEASE_RETRY, &mut stop).await {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    self.status.fail(&e.message);
                    tracing::warn!(database = %self.db.name, error = %crate::log::clip(&e.message), "[observers] relay cannot take the outbox lease");
                }
            }
            if sleep_or_stop(backoff.next(), &mut stop).await {
                return;
            }
        }
    }

    /// Publishes while holding `lease`; `Ok` when stopped, `Err` when the database failed
    /// (the lease is then given up and taken again).
    async fn publish(
        &self,
        mut lease: Lease,
        stop: &mut watch::Receiver<bool>,
        backoff: &mut Backoff,
    ) -> Result<(), String> {
        let mut housekeeping = Instant::now() - HOUSEKEEPING;
        let mut draining: Option<Instant> = None;
        loop {
            if draining.is_none() && *stop.borrow() {
                draining = Some(Instant::now() + DRAIN);
            }
            if housekeeping.elapsed() >= HOUSEKEEPING {
                self.housekeep().await.map_err(|e| e.message)?;
                housekeeping = Instant::now();
            }
            let rows = outbox::pending(&self.db, self.batch)
                .await
                .map_err(|e| e.message)?;
            if rows.is_empty() {
                if draining.is_some() {
                    return Ok(());
                }
                self.status.set_state("publishing");
                tokio::select! {
                    waited = lease.wait(self.poll) => waited.map_err(|e| e.message)?,
                    _ = stop.changed() => {}
                }
                continue;
            }
            if !self.bus.connected() {
                // Sending now would only queue in the client until NATS is back.
                self.status
                    .fail("NATS is not connected; events wait in the outbox");
                if draining.is_some() {
                    return Ok(());
                }
                tokio::select! {
                    () = tokio::time::sleep(self.poll.max(Duration::from_millis(250))) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            let messages: Vec<message::Message> = rows
                .iter()
                .map(|r| message::from_row(r, &self.source, self.tenant.as_deref()))
                .collect();
            let (stored, error) = self.bus.publish(&messages).await;
            tracing::debug!(database = %self.db.name, first = rows[0].seq, last = rows[rows.len() - 1].seq, stored, error = ?error, "[observers] published");
            if stored > 0 {
                let seqs: Vec<i64> = rows[..stored].iter().map(|r| r.seq).collect();
                outbox::mark_published(&self.db, &seqs)
                    .await
                    .map_err(|e| e.message)?;
                self.metrics.events_published(&self.db.name, stored as u64);
                self.status.published(stored as u64);
                self.status.set_state("publishing");
                backoff.reset();
            }
            match error {
                None => {}
                Some(PublishError::Reject(why)) => {
                    // This row can never go; keep it (with why) and go on with the rest.
                    let row = &rows[stored];
                    tracing::error!(database = %self.db.name, event = %row.id, subject = %messages[stored].subject, error = %why, "[observers] event cannot be published; kept in the outbox with its error");
                    outbox::mark_failed(&self.db, row.seq, &why)
                        .await
                        .map_err(|e| e.message)?;
                    self.metrics.events_failed(&self.db.name);
                }
                Some(PublishError::Retry(why)) => {
                    self.metrics.events_failed(&self.db.name);
                    self.status.fail(&format!("NATS: {why}"));
                    tracing::warn!(database = %self.db.name, error = %why, "[observers] publish failed; the events wait in the outbox");
                    if let Some(until) = draining {
                        if Instant::now() >= until {
                            return Ok(());
                        }
                    }
                    let delay = backoff.next();
                    if draining.is_some() {
                        tokio::time::sleep(delay.min(DRAIN)).await;
                    } else {
                        tokio::select! {
                            () = tokio::time::sleep(delay) => {}
                            _ = stop.changed() => {}
                        }
                    }
                }
            }
            if let Some(until) = draining {
                if Instant::now() >= until {
                    tracing::warn!(database = %self.db.name, "[observers] stopping with events still in the outbox; they go out at the next start");
                    return Ok(());
                }
            }
        }
    }

    /// Measures the outbox and deletes published rows past their retention.
    async fn housekeep(&self) -> Result<(), DbError> {
        let (depth, age) = outbox::depth(&self.db).await?;
        self.metrics
            .outbox_depth(&self.db.name, depth, age.unwrap_or(0.0));
        self.status.depth(depth, age);
        let purged = outbox::purge(&self.db, self.retention).await?;
        if purged > 0 {
            tracing::debug!(database = %self.db.name, purged, "[observers] published outbox rows deleted");
        }
        Ok(())
    }
}

/// Sleeps `delay`, or less when `stop` turns true; whether it did.
pub(crate) async fn sleep_or_stop(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(delay) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}
