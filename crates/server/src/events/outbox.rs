//! The database side of events: installing the outbox and the capture triggers, the relay's
//! lease and statements, handler calls with their dedupe, and dead letters.
