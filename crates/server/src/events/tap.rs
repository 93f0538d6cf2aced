//! Taps: the messages of one subject as they reach the bus, for the GraphQL subscriptions of
//! this process (`subscriptions/hub.rs`). The memory bus hands each message over directly. On
//! JetStream a tap is an ordered consumer (ephemeral, starting after the stream's last
//! message when the tap starts); when NATS goes away the tap pauses, and when it is back the consumer is made
//! again from the stream sequence after the last one delivered, so what the stream kept in
//! between still arrives, in order. Nothing is acknowledged: a tap only reads.

use super::bus::Bus;
use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Events a tap holds before its reader has taken them (the reader fans them out at once;
/// the bound keeps a stalled reader from holding the stream's history in memory).
const TAP_QUEUE: usize = 1024;

/// One message from a tap.
#[derive(Debug, Clone)]
pub(crate) struct Tapped {
    pub(crate) subject: String,
    /// `ce-op`: `INSERT`, `UPDATE`, `DELETE` (absent on messages other services publish).
    pub(crate) op: Option<String>,
    /// `ce-subject`: the changed row's own id, when it has one.
    pub(crate) about: Option<String>,
    /// `ce-time`: when the change was committed (RFC 3339).
    pub(crate) time: Option<String>,
    /// `ce-tenant`: the tenant whose statement made the change (`[multi_tenancy]`).
    pub(crate) tenant: Option<String>,
    pub(crate) body: bytes::Bytes,
}

/// Starts a tap on `subject` (wildcards allowed); it ends when `stop` turns true or the
/// receiver is dropped.
pub(crate) fn start(
    bus: &Arc<Bus>,
    subject: &str,
    stop: watch::Receiver<bool>,
) -> mpsc::Receiver<Tapped> {
    let (tx, rx) = mpsc::channel(TAP_QUEUE);
    match &**bus {
        Bus::Memory(memory) => {
            let mut messages = memory.subscribe(subject);
            tokio::spawn(async move {
                let mut stop = stop;
                loop {
                    let message = tokio::select! {
                        m = messages.recv() => m,
                        _ = stop.changed() => None,
                    };
                    let Some(m) = message else { return };
                    let tapped = Tapped {
                        subject: m.subject.clone(),
                        op: m.header("ce-op").map(str::to_owned),
                        about: m.header("ce-subject").map(str::to_owned),
                        time: m.header("ce-time").map(str::to_owned),
                        tenant: m.header("ce-tenant").map(str::to_owned),
                        body: m.body.clone(),
                    };
                    if tx.send(tapped).await.is_err() {
                        return;
                    }
                }
            });
        }
        Bus::Nats(_) => {
            let bus = bus.clone();
            let subject = subject.to_owned();
            tokio::spawn(async move { jetstream(bus, subject, tx, stop).await });
        }
    }
    rx
}

/// Reads `subject` through ordered consumers until stopped, making a new one after the last
/// delivered sequence whenever the current one ends or cannot be made.
async fn jetstream(
    bus: Arc<Bus>,
    subject: String,
    tx: mpsc::Sender<Tapped>,
    mut stop: watch::Receiver<bool>,
) {
    let Bus::Nats(nats) = &*bus else { return };
    let mut last: Option<u64> = None;
    let mut delay = Duration::from_millis(100);
    loop {
        if *stop.borrow() || tx.is_closed() {
            return;
        }
        let made = async {
            let mut stream = nats
                .js
                .get_stream(&nats.stream)
                .await
                .map_err(|e| e.to_string())?;
            // The first consumer starts after the stream's last message, as a sequence: a
            // consumer made again after an outage then resumes from there, not from "new".
            let start = match last {
                Some(seq) => seq + 1,
                None => {
                    let info = stream.info().await.map_err(|e| e.to_string())?;
                    let seq = info.state.last_sequence;
                    last = Some(seq);
                    seq + 1
                }
            };
            let config = OrderedConfig {
                filter_subject: subject.clone(),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: start,
                },
                ..Default::default()
            };
            let consumer = stream
                .create_consumer(config)
                .await
                .map_err(|e| e.to_string())?;
            consumer.messages().await.map_err(|e| e.to_string())
        };
        let mut messages = match made.await {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(subject = %subject, error = %e, "[subscriptions] tap waits for NATS");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.changed() => return,
                }
                delay = (delay * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        delay = Duration::from_millis(100);
        loop {
            let next = tokio::select! {
                n = messages.next() => n,
                _ = stop.changed() => return,
            };
            match next {
                Some(Ok(m)) => {
                    if let Ok(info) = m.info() {
                        last = Some(info.stream_sequence);
                    }
                    let header = |name: &str| {
                        m.headers
                            .as_ref()
                            .and_then(|h| h.get(name))
                            .map(|v| v.as_str().to_owned())
                    };
                    let tapped = Tapped {
                        subject: m.subject.to_string(),
                        op: header("ce-op"),
                        about: header("ce-subject"),
                        time: header("ce-time"),
                        tenant: header("ce-tenant"),
                        body: m.payload.clone(),
                    };
                    if tx.send(tapped).await.is_err() {
                        return;
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!(subject = %subject, error = %e, "[subscriptions] tap interrupted; resuming");
                    break;
                }
                None => break,
            }
        }
    }
}
