//! `fraiseql events replay`: the stream's history on a subject, from a point in time, run
//! through a SQL handler, to rebuild a projection (seed 001, pattern 2). The replay reads
//! with its own ephemeral consumer, so live consumers are not disturbed, and runs every event
//! once whatever the live consumers handled (it records nothing in the inbox); it stops when
//! it has caught up with the stream.

use super::bus::{Bus, Nats};
use super::outbox::{self, Handled};
use crate::db::Database;
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use fraiseql_engine::config::{Backend, Config};
use futures::StreamExt;
use serde_json::{Map, Value};
use std::time::Duration;

/// What to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The subject (wildcards allowed).
    pub subject: String,
    /// From this time on (`None`: the whole history).
    pub since: Option<time::OffsetDateTime>,
    /// The SQL handler each event is given to.
    pub handler: String,
    /// The database the handler lives in.
    pub database: String,
    /// The tenant whose database it is, for a database per tenant: only that tenant's
    /// events (`ce-tenant`) are replayed there.
    pub tenant: Option<String>,
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0}")]
    Setup(String),
    /// The handler failed on an event; the events before it were applied.
    #[error("event {id} (stream sequence {sequence}) failed after {applied} applied: {message}")]
    Handler {
        id: String,
        sequence: u64,
        applied: u64,
        message: String,
    },
}

/// Replays; returns how many events the handler applied.
pub async fn replay(config: &Config, options: &ReplayOptions) -> Result<u64, ReplayError> {
    let setup = ReplayError::Setup;
    if config.observers.backend == Backend::Memory {
        return Err(setup(
            "the memory backend keeps no history; replay reads a JetStream stream".into(),
        ));
    }
    let cfg = config
        .databases
        .get(&options.database)
        .ok_or_else(|| setup(format!("database `{}` is not configured", options.database)))?;
    let per_tenant = crate::db::tenants::per_tenant(cfg);
    let cfg = match (&options.tenant, per_tenant) {
        (Some(t), true) if fraiseql_engine::config::valid_tenant(t) => {
            crate::db::tenants::tenant_config(cfg, t)
        }
        (Some(t), true) => return Err(setup(format!("`{t}` is not a valid tenant id"))),
        (None, true) => {
            return Err(setup(format!(
                "database `{}` is one per tenant: name the tenant whose database the events \
                 go to with --tenant",
                options.database
            )))
        }
        (Some(_), false) => {
            return Err(setup(format!(
                "--tenant is for a database per tenant, and `{}` is not one",
                options.database
            )))
        }
        (None, false) => cfg.clone(),
    };
    let db = Database::new(&options.database, &cfg).map_err(|e| setup(e.message))?;
    let Bus::Nats(nats) = Bus::connect(&config.observers, Vec::new())
        .await
        .map_err(setup)?
    else {
        return Err(setup("replay needs NATS".into()));
    };
    run(&nats, &db, options).await
}

async fn run(nats: &Nats, db: &Database, options: &ReplayOptions) -> Result<u64, ReplayError> {
    let setup = ReplayError::Setup;
    let stream = tokio::time::timeout(Duration::from_secs(10), nats.js.get_stream(&nats.stream))
        .await
        .map_err(|_| {
            setup(format!(
                "NATS did not answer at {}",
                nats.client.server_info().host
            ))
        })?
        .map_err(|e| setup(format!("stream `{}`: {e}", nats.stream)))?;
    let deliver_policy = match options.since {
        Some(start_time) => DeliverPolicy::ByStartTime { start_time },
        None => DeliverPolicy::All,
    };
    let consumer = stream
        .create_consumer(pull::Config {
            filter_subject: options.subject.clone(),
            deliver_policy,
            ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
            inactive_threshold: Duration::from_secs(60),
            ..Default::default()
        })
        .await
        .map_err(|e| setup(format!("consumer on `{}`: {e}", options.subject)))?;
    let mut pending = consumer.cached_info().num_pending;
    let mut applied = 0;
    if pending == 0 {
        return Ok(0);
    }
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| setup(format!("reading `{}`: {e}", options.subject)))?;
    while pending > 0 {
        let message = match messages.next().await {
            Some(Ok(m)) => m,
            Some(Err(e)) => return Err(setup(format!("reading `{}`: {e}", options.subject))),
            None => break,
        };
        let info = message.info().map_err(|e| setup(e.to_string()))?;
        let sequence = info.stream_sequence;
        pending = info.pending;
        let mut headers = Map::new();
        if let Some(map) = &message.headers {
            for (k, v) in map.iter() {
                if let Some(v) = v.first() {
                    headers.insert(k.to_string(), Value::String(v.to_string()));
                }
            }
        }
        let id = ["Nats-Msg-Id", "ce-id"]
            .iter()
            .find_map(|h| headers.get(*h).and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| format!("{}:{sequence}", nats.stream));
        headers.insert("subject".into(), Value::String(message.subject.to_string()));
        let fail = |message: String| ReplayError::Handler {
            id: id.clone(),
            sequence,
            applied,
            message,
        };
        let body = std::str::from_utf8(&message.payload)
            .map_err(|_| fail("the message body is not UTF-8 text".into()))?;
        let headers = Value::Object(headers);
        if let Some(tenant) = &options.tenant {
            // Another tenant's event never enters this tenant's database.
            if super::inbound::event_tenant(&headers) != Some(tenant.as_str()) {
                continue;
            }
        }
        let settings = super::inbound::tenant_settings(&headers);
        let headers = headers.to_string();
        match outbox::handle(db, &options.handler, None, body, &headers, &settings).await {
            Ok(Handled::Done) => applied += 1,
            Ok(Handled::Duplicate) => {}
            Err(e) => return Err(fail(e.message)),
        }
    }
    Ok(applied)
}
