//! Events: committed database changes published to NATS JetStream (or the embedded memory
//! bus) through a transactional outbox, and inbound events handled by SQL functions.
//!
//! `outbox.rs` is everything the database side does (the outbox and its capture triggers,
//! the relay's lease and statements, handler calls with their dedupe, dead letters).

#[allow(dead_code)] // used by the relay and consumers, which land next
mod outbox;
#[cfg(test)]
mod outbox_tests;
