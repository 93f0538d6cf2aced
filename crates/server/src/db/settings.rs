//! The request settings a statement runs with (`[auth] claims` -> `app.user_id`, …) and
//! what each pooled connection holds of them.
//!
//! Settings are session-level on a connection: PostgreSQL `set_config(name, value, false)`,
//! MySQL/MariaDB user variables, SQLite the connection's `fraiseql_set_config` map. Every
//! statement, a request's or the server's own (event relay, inbound handlers: no settings),
//! names the settings it must see, and the connection is brought to exactly those before it
//! runs. PostgreSQL and MySQL/MariaDB connections remember what they hold ([`Held`]), so the
//! prelude is sent only when it changes: a run of requests by one caller costs nothing, and
//! a change is one statement pipelined before the first of the request (PostgreSQL) rather
//! than `BEGIN`, `set_config(…, true)` and `COMMIT` around every read (measured in
//! BENCHMARKS.md, "Auth"). SQLite's prelude is an in-process call, sent every time.
//!
//! A connection whose prelude failed or was abandoned holds unknown settings: it is marked
//! so, never handed out again (each driver's recycle drops it) and the statement's result is
//! not used.

use std::sync::{Arc, Mutex};

/// Settings as name -> value pairs, in config order; every configured name is present (an
/// absent claim is `''`), so two requests' settings differ only in values.
pub(crate) type Settings = Arc<[(String, String)]>;

/// No settings: the server's own statements.
pub(crate) fn none() -> Settings {
    Arc::from(Vec::new())
}

/// What one pooled connection holds; `None` while a change is in flight or after one failed.
#[derive(Debug)]
pub(super) struct Held(Mutex<Option<Settings>>);

impl Default for Held {
    fn default() -> Self {
        Self(Mutex::new(Some(none())))
    }
}

impl Held {
    /// The assignments that bring the connection to `wanted` (every wanted pair, and `''`
    /// for a name it holds that `wanted` lacks), or `None` when it holds them already. Marks
    /// the connection unknown until [`Held::now`] records that they were applied.
    pub(super) fn change(&self, wanted: &Settings) -> Option<Vec<(String, String)>> {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let cleared: Vec<(String, String)> = match held.as_ref() {
            Some(h) if Arc::ptr_eq(h, wanted) || **h == **wanted => return None,
            Some(h) => h
                .iter()
                .filter(|(name, _)| !wanted.iter().any(|(n, _)| n == name))
                .map(|(name, _)| (name.clone(), String::new()))
                .collect(),
            // Unknown: the connection is dropped at its next checkout; this statement's
            // result is refused with the failure that made it unknown.
            None => Vec::new(),
        };
        *held = None;
        Some(wanted.iter().cloned().chain(cleared).collect())
    }

    /// The assignments of the last [`Held::change`] were applied.
    pub(super) fn now(&self, wanted: &Settings) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(wanted.clone());
    }

    /// A change was started and never recorded: what the connection holds is unknown.
    pub(super) fn unknown(&self) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_connection_is_sent_only_what_changes_and_cleared_for_the_server() {
        let held = Held::default();
        assert_eq!(held.change(&none()), None, "a new connection holds nothing");
        let alice = settings(&[("app.user_id", "alice")]);
        assert_eq!(held.change(&alice), Some(alice.to_vec()));
        assert!(held.unknown(), "unknown until applied");
        held.now(&alice);
        assert_eq!(held.change(&alice.clone()), None);
        assert_eq!(held.change(&settings(&[("app.user_id", "alice")])), None);
        let bob = settings(&[("app.user_id", "bob")]);
        assert_eq!(held.change(&bob), Some(bob.to_vec()));
        held.now(&bob);
        // The server's own statement: every held name is cleared.
        assert_eq!(
            held.change(&none()),
            Some(vec![("app.user_id".to_string(), String::new())])
        );
        held.now(&none());
        assert!(!held.unknown());
        assert_eq!(held.change(&none()), None);
    }
}
