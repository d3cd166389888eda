//! Circuit breakers, one per dependency key (`Task::breaker("payments-api")`).
//!
//! ```text
//!            N consecutive failures, or failure rate >= r over the window
//!  Closed ───────────────────────────────────────────────────────────▶ Open
//!    ▲                                                                  │
//!    │ trial succeeds            trial fails (open again)               │ reset_timeout
//!    └──────────── HalfOpen ◀──────────────────────────────────────────┘
//!                  (one trial let through; others fail fast)
//! ```
//!
//! An open breaker refuses work with `Error::CircuitOpen { key,
//! retry_after }` before anything is spawned: at `prepare` (so no run is
//! registered at all) and again at each attempt (a retry does not go
//! through an open breaker either).
//!
//! What counts: a non-zero exit, an action error, a time-out or a spawn
//! or I/O failure is a failure of the dependency; a success resets the
//! consecutive count. Cancellation, shutdown, a halt and a failed actor
//! say nothing about the dependency and are not counted (a half-open trial
//! ended that way frees the trial slot for the next caller).
//!
//! Timing is on tokio's clock, so the state machine is tested on paused
//! time. The table lives in the runtime `Context`, outside every actor, so
//! it survives actor restarts; it is not persisted.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::events::{EventBody, Events};
use crate::output::Output;

mod spec;
#[cfg(test)]
mod tests;

pub use spec::{BreakerOptions, BreakerSpec};

/// Where a breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Work goes through.
    Closed,
    /// Work fails fast with `CircuitOpen`.
    Open,
    /// One trial may go through; its outcome closes or reopens it.
    HalfOpen,
}

/// One breaker's line in `SystemStatus::breakers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerStatus {
    /// The dependency key.
    pub key: String,
    /// Its state.
    pub state: BreakerState,
    /// Consecutive failures counted.
    pub consecutive_failures: u32,
    /// Until a trial is let through, when open.
    pub retry_after: Option<Duration>,
    /// How many times it has opened.
    pub opened: u64,
}

#[derive(Debug)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { trial_out: bool },
}

#[derive(Debug)]
struct Breaker {
    state: State,
    options: BreakerOptions,
    consecutive: u32,
    // Outcomes within the rate window: (when, failed).
    window: VecDeque<(Instant, bool)>,
    opened: u64,
}

/// Every breaker of one runtime.
#[derive(Debug)]
pub struct Breakers {
    table: Mutex<HashMap<String, Breaker>>,
    events: Events,
}

/// Permission for one attempt; tell it the outcome with [`Trial::record`].
/// Dropped without one (the attempt was abandoned), it frees a half-open
/// trial slot without counting anything.
#[derive(Debug)]
pub(crate) struct Trial<'a> {
    breakers: &'a Breakers,
    key: &'a str,
    done: bool,
}

impl Breakers {
    /// An empty table whose changes are emitted to `events`.
    pub fn new(events: Events) -> Self {
        Breakers {
            table: Mutex::new(HashMap::new()),
            events,
        }
    }

    /// Fail fast if `spec`'s breaker is open and not yet due a trial.
    ///
    /// # Errors
    /// `CircuitOpen`.
    pub fn check(&self, spec: &BreakerSpec) -> Result<()> {
        let table = self.table.lock();
        match table.get(&spec.key).map(|b| &b.state) {
            Some(State::Open { until }) => {
                let now = Instant::now();
                if now < *until {
                    return Err(open(&spec.key, *until - now));
                }
                Ok(())
            }
            Some(State::HalfOpen { trial_out: true }) => {
                Err(open(&spec.key, spec.options.reset_timeout))
            }
            _ => Ok(()),
        }
    }

    /// Let one attempt through `spec`'s breaker, or refuse it.
    ///
    /// # Errors
    /// `CircuitOpen` while open, or half-open with its trial in flight.
    pub(crate) fn admit<'a>(&'a self, spec: &'a BreakerSpec) -> Result<Trial<'a>> {
        let now = Instant::now();
        let mut table = self.table.lock();
        let breaker = table.entry(spec.key.clone()).or_insert_with(|| Breaker {
            state: State::Closed,
            options: spec.options,
            consecutive: 0,
            window: VecDeque::new(),
            opened: 0,
        });
        breaker.options = spec.options;
        match breaker.state {
            State::Closed => {}
            State::Open { until } if now < until => return Err(open(&spec.key, until - now)),
            State::Open { .. } | State::HalfOpen { trial_out: false } => {
                breaker.state = State::HalfOpen { trial_out: true };
                drop(table);
                self.events.emit(None, || EventBody::BreakerHalfOpen {
                    key: spec.key.clone(),
                });
            }
            State::HalfOpen { trial_out: true } => {
                return Err(open(&spec.key, spec.options.reset_timeout));
            }
        }
        Ok(Trial {
            breakers: self,
            key: &spec.key,
            done: false,
        })
    }

    fn record(&self, key: &str, verdict: Option<bool>) {
        let now = Instant::now();
        let mut table = self.table.lock();
        let Some(breaker) = table.get_mut(key) else {
            return;
        };
        let opts = breaker.options;
        let Some(failed) = verdict else {
            // Not the dependency's doing: free a trial slot, count nothing.
            if let State::HalfOpen { trial_out: true } = breaker.state {
                breaker.state = State::HalfOpen { trial_out: false };
            }
            return;
        };
        let event = match breaker.state {
            State::HalfOpen { .. } if failed => Some(breaker.open(key, now)),
            State::HalfOpen { .. } => {
                breaker.state = State::Closed;
                breaker.consecutive = 0;
                breaker.window.clear();
                Some(EventBody::BreakerClosed {
                    key: key.to_string(),
                })
            }
            // An attempt admitted before the breaker opened: too late to count.
            State::Open { .. } => None,
            State::Closed => {
                breaker.consecutive = if failed { breaker.consecutive + 1 } else { 0 };
                if let Some(rate) = opts.failure_rate {
                    breaker.window.push_back((now, failed));
                    while breaker
                        .window
                        .front()
                        .is_some_and(|&(at, _)| now.duration_since(at) > opts.window)
                    {
                        breaker.window.pop_front();
                    }
                    let calls = breaker.window.len();
                    let failures = breaker.window.iter().filter(|(_, f)| *f).count();
                    if failed
                        && calls >= opts.min_calls as usize
                        && failures as f64 >= rate * calls as f64
                    {
                        Some(breaker.open(key, now))
                    } else {
                        None
                    }
                } else {
                    None
                }
                .or_else(|| (breaker.consecutive >= opts.failures).then(|| breaker.open(key, now)))
            }
        };
        drop(table);
        if let Some(body) = event {
            tracing::warn!(target: "taskorch::breaker", key, ?body, "circuit breaker changed");
            self.events.emit(None, || body);
        }
    }

    /// Every breaker's state, by key.
    pub fn status(&self) -> Vec<BreakerStatus> {
        let now = Instant::now();
        let table = self.table.lock();
        let mut all: Vec<BreakerStatus> = table
            .iter()
            .map(|(key, b)| BreakerStatus {
                key: key.clone(),
                state: match b.state {
                    State::Closed => BreakerState::Closed,
                    State::Open { until } if now < until => BreakerState::Open,
                    // Due a trial: the next caller gets it.
                    State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
                },
                consecutive_failures: b.consecutive,
                retry_after: match b.state {
                    State::Open { until } if now < until => Some(until - now),
                    _ => None,
                },
                opened: b.opened,
            })
            .collect();
        all.sort_by(|a, b| a.key.cmp(&b.key));
        all
    }

    /// The state of the breaker for `key`, if one exists.
    pub fn state(&self, key: &str) -> Option<BreakerState> {
        self.status()
            .into_iter()
            .find(|s| s.key == key)
            .map(|s| s.state)
    }
}

impl Breaker {
    /// Open now; the event that says so.
    fn open(&mut self, key: &str, now: Instant) -> EventBody {
        self.state = State::Open {
            until: crate::duration::after(now, self.options.reset_timeout),
        };
        self.opened += 1;
        let failures = self.consecutive;
        self.consecutive = 0;
        self.window.clear();
        EventBody::BreakerOpened {
            key: key.to_string(),
            failures,
            retry_after_ms: self.options.reset_timeout.as_millis() as u64,
        }
    }
}

impl Trial<'_> {
    /// Count the attempt's outcome (see the module docs for what counts).
    pub(crate) fn record(mut self, outcome: &Result<Output>) {
        self.done = true;
        let verdict = match outcome {
            Ok(out) => Some(!out.success()),
            Err(
                Error::Cancelled { .. }
                | Error::ShuttingDown
                | Error::Halted { .. }
                | Error::ActorFailed { .. }
                | Error::CircuitOpen { .. },
            ) => None,
            Err(_) => Some(true),
        };
        self.breakers.record(self.key, verdict);
    }
}

impl Drop for Trial<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.breakers.record(self.key, None);
        }
    }
}

fn open(key: &str, retry_after: Duration) -> Error {
    Error::CircuitOpen {
        key: key.to_string(),
        retry_after,
    }
}
