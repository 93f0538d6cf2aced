//! The circuit breaker of one database, as a plain state machine: the caller passes the time
//! in (`now`), so the tests drive it with a clock of their own and nothing here sleeps or
//! reads a clock. `resilience.rs` keeps one per database behind a lock and publishes each
//! change of state.
//!
//! Closed: calls pass; `failure_threshold` unhealthy calls in a row open it. Open: calls are
//! refused until `recovery_timeout` has passed, then the next call is let through as a probe
//! and the circuit is half-open. Half-open: one probe at a time; `success_threshold` healthy
//! probes close it, an unhealthy one opens it again.
//!
//! Each change of state starts a new generation, and a call's outcome counts only in the
//! generation it was admitted in: a slow call admitted while closed that fails after the
//! circuit opened does not extend the open time, and one that succeeds does not close it
//! (only probes do).

use fraiseql_engine::config::BreakerSettings;
use std::time::Duration;
use tokio::time::Instant;

/// How long a caller refused while another probe is out is told to wait.
const PROBE_PENDING_RETRY: Duration = Duration::from_secs(1);

/// The states, numbered as the `fraiseql_federation_circuit_breaker_state` gauge shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CircuitState {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

impl CircuitState {
    /// The gauge's value.
    pub(crate) fn gauge(self) -> i64 {
        self as i64
    }

    /// The name `/health` shows.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// What a finished call says about the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Health {
    /// It answered (with rows, or refusing the statement: either way it is up).
    Answered,
    /// It could not be reached, dropped the connection, or did not answer in time.
    Unhealthy,
    /// The call was abandoned before either (its client went away): no evidence.
    Unknown,
}

/// Leave to make one call, from [`Breaker::admit`]; give it back to [`Breaker::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pass {
    generation: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { successes: u32, probing: bool },
}

/// One database's circuit.
#[derive(Debug)]
pub(crate) struct Breaker {
    settings: BreakerSettings,
    state: State,
    generation: u64,
}

impl Breaker {
    /// A closed circuit.
    pub(crate) fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            state: State::Closed { failures: 0 },
            generation: 0,
        }
    }

    /// The state now (an open circuit whose time is up still says open until a call comes).
    pub(crate) fn state(&self) -> CircuitState {
        match self.state {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { .. } => CircuitState::Open,
            State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Lets a call through, or says how long until one may be.
    pub(crate) fn admit(&mut self, now: Instant) -> Result<Pass, Duration> {
        match self.state {
            State::Closed { .. } => {}
            State::Open { until } if now < until => return Err(until - now),
            State::Open { .. } => self.enter(State::HalfOpen {
                successes: 0,
                probing: true,
            }),
            State::HalfOpen { probing: true, .. } => return Err(PROBE_PENDING_RETRY),
            State::HalfOpen { successes, .. } => {
                self.state = State::HalfOpen {
                    successes,
                    probing: true,
                }
            }
        }
        Ok(Pass {
            generation: self.generation,
        })
    }

    /// Counts the outcome of a call admitted with `pass`.
    pub(crate) fn record(&mut self, pass: Pass, health: Health, now: Instant) {
        if pass.generation != self.generation {
            return;
        }
        let s = self.settings;
        match (self.state, health) {
            (State::Closed { .. }, Health::Answered) => self.state = State::Closed { failures: 0 },
            (State::Closed { failures }, Health::Unhealthy) => {
                if failures + 1 >= s.failure_threshold {
                    self.open(now);
                } else {
                    self.state = State::Closed {
                        failures: failures + 1,
                    };
                }
            }
            (State::HalfOpen { successes, .. }, Health::Answered) => {
                if successes + 1 >= s.success_threshold {
                    self.enter(State::Closed { failures: 0 });
                } else {
                    self.state = State::HalfOpen {
                        successes: successes + 1,
                        probing: false,
                    };
                }
            }
            (State::HalfOpen { .. }, Health::Unhealthy) => self.open(now),
            // The probe went away without a word: let the next call probe instead.
            (State::HalfOpen { successes, .. }, Health::Unknown) => {
                self.state = State::HalfOpen {
                    successes,
                    probing: false,
                }
            }
            (State::Closed { .. }, Health::Unknown) | (State::Open { .. }, _) => {}
        }
    }

    /// How long until a call may pass: `None` when one may now.
    pub(crate) fn retry_after(&self, now: Instant) -> Option<Duration> {
        match self.state {
            State::Open { until } if now < until => Some(until - now),
            State::HalfOpen { probing: true, .. } => Some(PROBE_PENDING_RETRY),
            _ => None,
        }
    }

    fn open(&mut self, now: Instant) {
        self.enter(State::Open {
            until: now + self.settings.recovery_timeout,
        });
    }

    fn enter(&mut self, state: State) {
        self.state = state;
        self.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECOVERY: Duration = Duration::from_secs(30);

    fn breaker(failures: u32, successes: u32) -> Breaker {
        Breaker::new(BreakerSettings {
            failure_threshold: failures,
            recovery_timeout: RECOVERY,
            success_threshold: successes,
        })
    }

    /// Admits a call at `now` and records `health` for it.
    fn call(b: &mut Breaker, now: Instant, health: Health) -> Result<(), Duration> {
        let pass = b.admit(now)?;
        b.record(pass, health, now);
        Ok(())
    }

    #[test]
    fn consecutive_failures_open_it_and_an_answer_resets_the_count() {
        let t0 = Instant::now();
        let mut b = breaker(3, 1);
        for _ in 0..2 {
            call(&mut b, t0, Health::Unhealthy).expect("closed");
        }
        call(&mut b, t0, Health::Answered).expect("closed");
        for _ in 0..2 {
            call(&mut b, t0, Health::Unhealthy).expect("closed");
        }
        assert_eq!(b.state(), CircuitState::Closed, "2 in a row, not 3");
        call(&mut b, t0, Health::Unhealthy).expect("closed");
        assert_eq!(b.state(), CircuitState::Open);
        let later = t0 + Duration::from_secs(10);
        assert_eq!(b.admit(later), Err(RECOVERY - Duration::from_secs(10)));
        assert_eq!(b.retry_after(later), Some(Duration::from_secs(20)));
    }

    #[test]
    fn calls_abandoned_without_an_answer_do_not_count() {
        let t0 = Instant::now();
        let mut b = breaker(1, 1);
        call(&mut b, t0, Health::Unknown).expect("closed");
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[test]
    fn after_the_recovery_time_one_probe_at_a_time_and_successes_close_it() {
        let t0 = Instant::now();
        let mut b = breaker(1, 2);
        call(&mut b, t0, Health::Unhealthy).expect("closed");
        assert_eq!(
            b.admit(t0 + RECOVERY - Duration::from_millis(1)),
            Err(Duration::from_millis(1))
        );

        let t1 = t0 + RECOVERY;
        let probe = b
            .admit(t1)
            .expect("the first call after the recovery time probes");
        assert_eq!(b.state(), CircuitState::HalfOpen);
        assert_eq!(b.admit(t1), Err(PROBE_PENDING_RETRY), "one probe at a time");
        b.record(probe, Health::Answered, t1);
        assert_eq!(b.state(), CircuitState::HalfOpen, "one success of two");
        assert_eq!(b.retry_after(t1), None);

        let probe = b.admit(t1).expect("the next probe");
        b.record(probe, Health::Answered, t1);
        assert_eq!(b.state(), CircuitState::Closed);
        assert_eq!(b.retry_after(t1), None);
        b.admit(t1).expect("closed");
        b.admit(t1).expect("closed: no limit on calls");
    }

    #[test]
    fn a_failed_probe_opens_it_for_another_recovery_time() {
        let t0 = Instant::now();
        let mut b = breaker(1, 1);
        call(&mut b, t0, Health::Unhealthy).expect("closed");
        let t1 = t0 + RECOVERY + Duration::from_secs(5);
        call(&mut b, t1, Health::Unhealthy).expect("probe");
        assert_eq!(b.state(), CircuitState::Open);
        assert_eq!(
            b.admit(t1 + Duration::from_secs(1)),
            Err(RECOVERY - Duration::from_secs(1))
        );
        call(&mut b, t1 + RECOVERY, Health::Answered).expect("probe");
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[test]
    fn a_probe_abandoned_lets_the_next_call_probe() {
        let t0 = Instant::now();
        let mut b = breaker(1, 1);
        call(&mut b, t0, Health::Unhealthy).expect("closed");
        let t1 = t0 + RECOVERY;
        call(&mut b, t1, Health::Unknown).expect("probe");
        assert_eq!(b.state(), CircuitState::HalfOpen);
        call(&mut b, t1, Health::Answered).expect("a new probe");
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[test]
    fn outcomes_of_an_earlier_state_are_ignored() {
        let t0 = Instant::now();
        let mut b = breaker(2, 1);
        // Two calls in flight while closed; both fail, then a third that was slow answers.
        let (a, c, slow) = (
            b.admit(t0).expect("closed"),
            b.admit(t0).expect("closed"),
            b.admit(t0).expect("closed"),
        );
        b.record(a, Health::Unhealthy, t0);
        b.record(c, Health::Unhealthy, t0);
        assert_eq!(b.state(), CircuitState::Open);
        b.record(slow, Health::Answered, t0 + Duration::from_secs(1));
        assert_eq!(b.state(), CircuitState::Open, "only a probe closes it");
        // A late failure does not push the reopening back either.
        let late = b.admit(t0).map(|_| ()).unwrap_err();
        b.record(a, Health::Unhealthy, t0 + Duration::from_secs(20));
        assert_eq!(b.retry_after(t0), Some(late));
    }

    #[test]
    fn gauge_values() {
        assert_eq!(
            [
                CircuitState::Closed,
                CircuitState::Open,
                CircuitState::HalfOpen
            ]
            .map(CircuitState::gauge),
            [0, 1, 2]
        );
    }
}
