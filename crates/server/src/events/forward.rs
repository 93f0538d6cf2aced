//! Channel rules: a user's own `pg_notify` channels forwarded to subjects as they are
//! (seed 004). Best-effort by nature: a notification sent while no server listens, or while
//! NATS is away, is gone. Only the process holding the database's relay lease forwards, so
//! replicas do not publish each notification once each.

use super::bus::Bus;
use super::message::Message;
use super::outbox;
use super::relay::sleep_or_stop;
use super::status::{Backoff, RelayStatus};
use crate::db::Database;
use crate::metrics::Metrics;
use futures::StreamExt;
use std::sync::Arc;
use tokio::sync::watch;

/// The channel rules of one database.
pub(crate) struct Forward {
    pub(crate) db: Arc<Database>,
    pub(crate) bus: Arc<Bus>,
    /// `(channel, subject)`.
    pub(crate) routes: Vec<(String, String)>,
    /// The database's relay: forwarding happens while it holds the lease.
    pub(crate) relay: Arc<RelayStatus>,
    pub(crate) source: String,
    pub(crate) metrics: Metrics,
}

impl Forward {
    pub(crate) async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let channels: Vec<String> = {
            let mut c: Vec<String> = self.routes.iter().map(|(c, _)| c.clone()).collect();
            c.dedup();
            c
        };
        let mut backoff = Backoff::new();
        loop {
            match outbox::listen(&self.db, &channels).await {
                Ok(notifications) => {
                    backoff.reset();
                    tokio::pin!(notifications);
                    loop {
                        let next = tokio::select! {
                            _ = stop.changed() => return,
                            n = notifications.next() => n,
                        };
                        match next {
                            Some(Ok((channel, payload))) => self.forward(&channel, payload).await,
                            Some(Err(e)) => {
                                tracing::warn!(database = %self.db.name, error = %e.message, "[observers] pg_notify listener lost; listening again");
                                break;
                            }
                            None => break,
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(database = %self.db.name, error = %e.message, "[observers] cannot LISTEN for channel rules");
                }
            }
            if sleep_or_stop(backoff.next(), &mut stop).await {
                return;
            }
        }
    }

    async fn forward(&self, channel: &str, payload: String) {
        if !self.relay.is_leader() {
            return;
        }
        let id = uuid::Uuid::new_v4().to_string();
        // A payload that is not JSON is sent as it is, and says so.
        let media = if serde_json::from_str::<serde::de::IgnoredAny>(&payload).is_ok() {
            "application/json"
        } else {
            "text/plain"
        };
        let time = now_rfc3339();
        for (_, subject) in self.routes.iter().filter(|(c, _)| c == channel) {
            let message = Message {
                subject: subject.clone(),
                headers: vec![
                    ("Nats-Msg-Id", id.clone()),
                    ("ce-specversion", "1.0".to_owned()),
                    ("ce-id", id.clone()),
                    ("ce-type", format!("pg_notify.{channel}")),
                    ("ce-source", self.source.clone()),
                    ("ce-time", time.clone()),
                    ("Content-Type", media.to_owned()),
                ],
                body: bytes::Bytes::from(payload.clone()),
            };
            let (stored, error) = self.bus.publish(std::slice::from_ref(&message)).await;
            if stored == 1 {
                self.metrics.events_published(&self.db.name, 1);
            } else {
                self.metrics.events_failed(&self.db.name);
                tracing::warn!(channel, subject = %subject, error = ?error, "[observers] pg_notify not forwarded (best-effort)");
            }
        }
    }
}

/// Now, in RFC 3339 (UTC).
fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
