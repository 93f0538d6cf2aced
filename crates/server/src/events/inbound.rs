//! Inbound events: each `[[observers.subscribe]]` is a durable JetStream consumer (every
//! replica with the same durable name shares its messages) whose messages call a SQL
//! handler. A message is acknowledged only after the handler's transaction committed; the
//! transaction also records the event id for the consumer, so a redelivered event that was
//! already handled is acknowledged without running the handler again (effectively once).
//!
//! A failed handler is redelivered after the configured backoff; after `max_deliver`
//! deliveries the event goes to the dead letters (the `dead_letter` table and the subject
//! `<stream>.dlq.<durable>`) and is terminated. A database that is unavailable is not the
//! event's fault: it is retried without ever being dead-lettered. A body that is not JSON
//! can never succeed and is dead-lettered at once.
//!
//! With the memory backend the same happens in the process: the consumer reads the memory
//! bus and retries in place.
//!
//! A handler on a database per tenant runs in the event's tenant's database (`ce-tenant`),
//! opened like a request's. An event without a valid tenant, or for a tenant without a
//! database, has nowhere to go: it is dead-lettered on the subject only (there is no
//! database to keep it in).

use super::bus::{Bus, Nats};
use super::message::Message;
use super::outbox::{self, Handled};
use super::relay::sleep_or_stop;
use super::status::{Backoff, ConsumerStatus};
use crate::db::tenants::{TenantDatabases, TenantDbError};
use crate::db::{Database, DbError, DbErrorKind};
use crate::metrics::Metrics;
use async_nats::jetstream::{self, consumer::pull, AckKind};
use fraiseql_engine::config::SubscribeConfig;
use futures::StreamExt;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Messages asked for per pull.
const PULL_BATCH: usize = 16;

/// How often a consumer's backlog is measured.
const LAG_EVERY: Duration = Duration::from_secs(5);

/// Where a subscription's handler runs.
pub(crate) enum Target {
    /// A configured database.
    Fixed(Arc<Database>),
    /// The event's tenant's own database `.0` (a database per tenant).
    PerTenant(String, Arc<TenantDatabases>),
}

/// One subscription's consumer.
pub(crate) struct Consumer {
    pub(crate) sub: SubscribeConfig,
    pub(crate) durable: String,
    pub(crate) target: Target,
    pub(crate) bus: Arc<Bus>,
    pub(crate) status: Arc<ConsumerStatus>,
    pub(crate) metrics: Metrics,
}

/// One delivery of an event, whichever bus it came on.
pub(crate) struct Delivery<'a> {
    pub(crate) subject: &'a str,
    pub(crate) id: String,
    pub(crate) headers: Value,
    pub(crate) body: &'a [u8],
    /// 1 for the first delivery.
    pub(crate) attempt: u32,
}

/// What to do with a delivery after the handler ran.
#[derive(Debug, PartialEq)]
pub(crate) enum Verdict {
    /// Handled (or handled before): acknowledge.
    Ack,
    /// Failed: deliver again after this delay.
    Retry(Duration),
    /// Dead-lettered: never deliver again.
    Dead,
}

impl Consumer {
    /// Runs until `stop` turns true; restarts the subscription after any failure.
    pub(crate) async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut backoff = Backoff::new();
        loop {
            let result = match &*self.bus {
                Bus::Nats(nats) => self.consume_nats(nats, &mut stop, &mut backoff).await,
                Bus::Memory(memory) => {
                    let rx = memory.subscribe(&self.sub.subject);
                    self.status.set_state("running");
                    self.consume_memory(rx, &mut stop).await;
                    Ok(())
                }
            };
            match result {
                Ok(()) => return,
                Err(e) => {
                    self.status.fail(&e);
                    tracing::warn!(consumer = %self.durable, error = %crate::log::clip(&e), "[observers] consumer stopped; starting again");
                }
            }
            if sleep_or_stop(backoff.next(), &mut stop).await {
                return;
            }
        }
    }

    async fn consume_nats(
        &self,
        nats: &Nats,
        stop: &mut watch::Receiver<bool>,
        backoff: &mut Backoff,
    ) -> Result<(), String> {
        let stream = nats
            .js
            .get_stream(&nats.stream)
            .await
            .map_err(|e| format!("stream `{}`: {e}", nats.stream))?;
        let config = pull::Config {
            durable_name: Some(self.durable.clone()),
            filter_subject: self.sub.subject.clone(),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(self.sub.ack_wait_secs),
            // Redelivery is counted here (dead letters after max_deliver), not by the
            // server, which would drop the message silently.
            max_deliver: -1,
            ..Default::default()
        };
        let consumer = stream
            .get_or_create_consumer(&self.durable, config)
            .await
            .map_err(|e| format!("consumer `{}`: {e}", self.durable))?;
        // Small pulls: messages are handled one at a time, and replicas sharing the durable
        // consumer each get a share instead of one taking a large batch.
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(PULL_BATCH)
            .messages()
            .await
            .map_err(|e| format!("consumer `{}`: {e}", self.durable))?;
        self.status.set_state("running");
        backoff.reset();
        let mut lag = tokio::time::interval(LAG_EVERY);
        loop {
            tokio::select! {
                _ = stop.changed() => return Ok(()),
                _ = lag.tick() => {
                    if let Ok(info) = consumer.get_info().await {
                        self.status.pending(info.num_pending);
                        self.metrics.consumer_lag(&self.durable, info.num_pending);
                    }
                }
                next = messages.next() => {
                    let message = match next {
                        Some(Ok(m)) => m,
                        Some(Err(e)) => return Err(format!("consumer `{}`: {e}", self.durable)),
                        None => return Err(format!("consumer `{}` ended", self.durable)),
                    };
                    self.status.set_state("running");
                    self.on_nats_message(nats, message).await?;
                }
            }
        }
    }

    async fn on_nats_message(
        &self,
        nats: &Nats,
        message: jetstream::Message,
    ) -> Result<(), String> {
        let (attempt, seq) = match message.info() {
            Ok(info) => (
                u32::try_from(info.delivered).unwrap_or(1),
                info.stream_sequence,
            ),
            Err(_) => (1, 0),
        };
        let mut headers = Map::new();
        if let Some(map) = &message.headers {
            for (name, values) in map.iter() {
                if let Some(value) = values.first() {
                    headers.insert(name.to_string(), Value::String(value.to_string()));
                }
            }
        }
        let subject = message.subject.to_string();
        let id = event_id(&headers).unwrap_or_else(|| format!("{}:{seq}", nats.stream));
        headers.insert("subject".into(), Value::String(subject.clone()));
        let delivery = Delivery {
            subject: &subject,
            id,
            headers: Value::Object(headers),
            body: &message.payload,
            attempt,
        };
        let verdict = self.deliver(&delivery).await;
        let ack = match verdict {
            Verdict::Ack => AckKind::Ack,
            Verdict::Retry(delay) => AckKind::Nak(Some(delay)),
            Verdict::Dead => {
                self.dead_letter_subject(nats, &delivery).await;
                AckKind::Term
            }
        };
        // An acknowledgement lost with the connection is redelivered, and the inbox makes
        // that harmless.
        message
            .ack_with(ack)
            .await
            .map_err(|e| format!("acknowledging: {e}"))
    }

    async fn consume_memory(
        &self,
        mut rx: tokio::sync::mpsc::Receiver<Arc<Message>>,
        stop: &mut watch::Receiver<bool>,
    ) {
        loop {
            let message = tokio::select! {
                _ = stop.changed() => return,
                m = rx.recv() => match m { Some(m) => m, None => return },
            };
            let mut headers = Map::new();
            for (name, value) in &message.headers {
                headers.insert((*name).to_owned(), Value::String(value.clone()));
            }
            headers.insert("subject".into(), Value::String(message.subject.clone()));
            let mut delivery = Delivery {
                subject: &message.subject,
                id: message.id().to_owned(),
                headers: Value::Object(headers),
                body: &message.body,
                attempt: 1,
            };
            loop {
                match self.deliver(&delivery).await {
                    Verdict::Ack | Verdict::Dead => break,
                    Verdict::Retry(delay) => {
                        if sleep_or_stop(delay, stop).await {
                            return;
                        }
                        delivery.attempt += 1;
                    }
                }
            }
        }
    }

    /// Runs the handler for one delivery and decides what becomes of it.
    pub(crate) async fn deliver(&self, d: &Delivery<'_>) -> Verdict {
        let body = match std::str::from_utf8(d.body)
            .ok()
            .filter(|b| serde_json::from_str::<serde::de::IgnoredAny>(b).is_ok())
        {
            Some(body) => body,
            None => {
                let why = "the message body is not JSON";
                return match self.database(&d.headers).await {
                    Ok(db) => self.to_dead_letters(&db, d, why).await,
                    Err(_) => self.dead(d, why),
                };
            }
        };
        let db = match self.database(&d.headers).await {
            Ok(db) => db,
            Err(TenantDbError::Down(e)) => {
                self.status.failed();
                tracing::warn!(consumer = %self.durable, event = %d.id, error = %crate::log::clip(&e.message), "[observers] the tenant's database is unavailable; the event waits");
                return Verdict::Retry(self.delay(d.attempt));
            }
            Err(TenantDbError::Unknown) => {
                let why = "the event names no tenant with a database (ce-tenant)";
                return self.dead(d, why);
            }
        };
        let headers = d.headers.to_string();
        let settings = tenant_settings(&d.headers);
        let handled = tokio::time::timeout(
            Duration::from_secs(self.sub.ack_wait_secs),
            outbox::handle(
                &db,
                &self.sub.handler,
                Some((&self.durable, &d.id)),
                body,
                &headers,
                &settings,
            ),
        )
        .await
        .unwrap_or_else(|_| {
            Err(DbError::new(
                DbErrorKind::Timeout,
                format!(
                    "handler ran longer than ack_wait_secs ({})",
                    self.sub.ack_wait_secs
                ),
            ))
        });
        match handled {
            Ok(Handled::Done) => {
                self.status.handled();
                self.metrics.event_processed(&self.sub.subject);
                Verdict::Ack
            }
            Ok(Handled::Duplicate) => Verdict::Ack,
            Err(e) => {
                self.status.failed();
                self.metrics.handler_failed(&self.durable);
                tracing::warn!(consumer = %self.durable, event = %d.id, attempt = d.attempt, error = %crate::log::clip(&e.message), "[observers] handler failed");
                // A database that is away is not the event's fault: wait, never dead-letter.
                let outage = matches!(e.kind, DbErrorKind::Unavailable | DbErrorKind::CircuitOpen);
                if !outage && d.attempt >= self.sub.max_deliver {
                    return self.to_dead_letters(&db, d, &e.message).await;
                }
                Verdict::Retry(self.delay(d.attempt))
            }
        }
    }

    /// The delay before delivery `attempt + 1`: the backoff list's entry, the last one
    /// repeating.
    fn delay(&self, attempt: u32) -> Duration {
        let list = &self.sub.backoff;
        let i = (attempt.max(1) as usize - 1).min(list.len().saturating_sub(1));
        list.get(i)
            .map_or(Duration::from_secs(1), |d| Duration::from_millis(d.0))
    }

    /// The database the handler of an event with `headers` runs in.
    async fn database(&self, headers: &Value) -> Result<Arc<Database>, TenantDbError> {
        match &self.target {
            Target::Fixed(db) => Ok(db.clone()),
            Target::PerTenant(name, tenants) => match event_tenant(headers) {
                Some(t) => tenants.get(name, t).await,
                None => Err(TenantDbError::Unknown),
            },
        }
    }

    /// Stores the event as a dead letter in `db`: `Dead`, or `Retry` when it cannot be
    /// stored (the event is then kept in the stream rather than lost).
    async fn to_dead_letters(&self, db: &Database, d: &Delivery<'_>, why: &str) -> Verdict {
        let body = String::from_utf8_lossy(d.body);
        let headers = d.headers.to_string();
        if let Err(e) = outbox::dead_letter(
            db,
            &self.durable,
            d.subject,
            &d.id,
            &body,
            &headers,
            why,
            d.attempt,
        )
        .await
        {
            tracing::error!(consumer = %self.durable, event = %d.id, error = %e.message, "[observers] cannot store a dead letter; the event is kept");
            return Verdict::Retry(self.delay(d.attempt));
        }
        self.dead(d, why)
    }

    /// Counts and logs a dead letter: `Dead` (on NATS it also goes to the dead-letter
    /// subject).
    fn dead(&self, d: &Delivery<'_>, why: &str) -> Verdict {
        self.status.dead_lettered();
        self.metrics.dead_lettered(&self.durable);
        tracing::error!(consumer = %self.durable, event = %d.id, subject = %d.subject, attempts = d.attempt, error = %crate::log::clip(why), "[observers] event dead-lettered");
        Verdict::Dead
    }

    /// Publishes a dead letter on `<stream>.dlq.<durable>` (stored when a stream takes it).
    async fn dead_letter_subject(&self, nats: &Nats, d: &Delivery<'_>) {
        let subject = format!("{}.dlq.{}", nats.stream, self.durable);
        let mut headers = async_nats::HeaderMap::new();
        if let Value::Object(map) = &d.headers {
            for (name, value) in map {
                if let (Some(v), false) = (value.as_str(), name == "subject") {
                    headers.insert(name.as_str(), v);
                }
            }
        }
        headers.insert("fraiseql-original-subject", d.subject);
        headers.insert("fraiseql-deliveries", d.attempt.to_string().as_str());
        let body = bytes::Bytes::copy_from_slice(d.body);
        if let Err(e) = nats
            .client
            .publish_with_headers(subject, headers, body)
            .await
        {
            tracing::warn!(consumer = %self.durable, error = %e, "[observers] dead letter not published");
        }
    }
}

/// The id a message carries: `Nats-Msg-Id`, else `ce-id`.
fn event_id(headers: &Map<String, Value>) -> Option<String> {
    ["Nats-Msg-Id", "ce-id"].iter().find_map(|name| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    })
}

/// The settings a handler runs with for an event with `headers`: its tenant (`ce-tenant`,
/// when it is a valid tenant id) as `app.tenant_id`, so a handler on a database with
/// row-level security writes and reads as that tenant; none otherwise.
pub(crate) fn tenant_settings(headers: &Value) -> crate::db::Settings {
    match event_tenant(headers) {
        Some(t) => std::sync::Arc::from(vec![(
            fraiseql_engine::config::TENANT_SETTING.to_owned(),
            t.to_owned(),
        )]),
        None => crate::db::settings::none(),
    }
}

/// An event's tenant: its `ce-tenant` header when that is a valid tenant id.
pub(crate) fn event_tenant(headers: &Value) -> Option<&str> {
    headers
        .get("ce-tenant")
        .and_then(Value::as_str)
        .filter(|t| fraiseql_engine::config::valid_tenant(t))
}

#[cfg(test)]
mod tests {
    use super::tenant_settings;
    use serde_json::json;

    #[test]
    fn an_event_tenant_becomes_the_handler_setting_only_when_valid() {
        let s = tenant_settings(&json!({"ce-tenant": "acme"}));
        assert_eq!(&*s, [("app.tenant_id".to_owned(), "acme".to_owned())]);
        for headers in [
            json!({}),
            json!({"ce-tenant": "acme'; DROP TABLE x; --"}),
            json!({"ce-tenant": ""}),
            json!({"ce-tenant": 7}),
        ] {
            assert!(tenant_settings(&headers).is_empty(), "{headers}");
        }
    }
}
