//! The [`Advisor`]: recommends an execution pattern from what the work
//! needs, and explains each pattern in plain words.
//!
//! The rules are the same ones [`Pattern::select`](crate::Pattern) applies
//! to a concrete request, stated in terms of requirements instead of
//! options, plus two judgements a request cannot express: very short work
//! asked for at a high rate belongs in a warm pool, and work that runs for
//! minutes should be watchable and cancellable.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use taskorch_actors::Pattern;

pub use explanation::Explanation;

mod explanation;

/// Work at least this long is "long": worth watching and cancelling.
const LONG: Duration = Duration::from_secs(60);
/// Work at most this long, asked for often, costs less than a process start.
const SHORT: Duration = Duration::from_millis(50);
/// "Often": from this many requests per second, spawning a process per
/// request (about a millisecond each, more for an interpreter) dominates.
const HIGH_RATE: f64 = 10.0;

/// What the caller needs from a piece of work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Requirements {
    /// How long one unit of work is expected to take.
    pub expected_duration: Duration,
    /// The caller wants to see output while it runs.
    pub streaming: bool,
    /// How many independent units there are.
    pub tasks: usize,
    /// The caller needs the result (exit code, output, value).
    pub needs_result: bool,
    /// The work repeats on a schedule.
    pub recurring: bool,
    /// How often requests arrive (for request/response work).
    pub requests_per_second: f64,
}

impl Default for Requirements {
    /// One task of about a second, result needed, nothing else.
    fn default() -> Self {
        Requirements {
            expected_duration: Duration::from_secs(1),
            streaming: false,
            tasks: 1,
            needs_result: true,
            recurring: false,
            requests_per_second: 0.0,
        }
    }
}

/// A pattern that was considered and is a reasonable second choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alternative {
    /// The pattern.
    pub pattern: Pattern,
    /// When it would be the better choice.
    pub reason: String,
}

/// What the [`Advisor`] recommends, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recommendation {
    /// The recommended pattern.
    pub pattern: Pattern,
    /// Why, in one or two sentences naming the deciding requirement.
    pub reason: String,
    /// Other patterns worth considering, best first.
    pub alternatives: Vec<Alternative>,
}

impl fmt::Display for Recommendation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pattern, self.reason)?;
        for alt in &self.alternatives {
            write!(f, "\n  also: {} — {}", alt.pattern, alt.reason)?;
        }
        Ok(())
    }
}

/// Recommends and explains execution patterns.
#[derive(Debug, Clone, Copy, Default)]
pub struct Advisor;

impl Advisor {
    /// Recommend a pattern for `req`.
    ///
    /// First rule that matches: recurring → Periodic; streaming →
    /// LongRunning; short work at a high rate → Pooled; several tasks →
    /// Concurrent; result not needed → FireAndForget; long work →
    /// LongRunning; otherwise Simple. Nonsensical inputs (a negative or
    /// non-finite rate, zero tasks) are read as their nearest meaningful
    /// value and said so in the reason.
    pub fn recommend(req: &Requirements) -> Recommendation {
        let rate = if req.requests_per_second.is_finite() {
            req.requests_per_second.max(0.0)
        } else {
            0.0
        };
        let tasks = req.tasks.max(1);
        let mut note = String::new();
        if req.tasks == 0 {
            note.push_str(" (0 tasks read as one: there is nothing to fan out)");
        }
        let alt = |pattern, reason: &str| Alternative {
            pattern,
            reason: reason.to_string(),
        };
        let short_and_frequent = rate >= HIGH_RATE && req.expected_duration <= SHORT;

        let (pattern, reason, alternatives) = if req.recurring {
            let result = if req.needs_result {
                " Each run's result is kept in the run registry; Schedule::info() shows the last one."
            } else {
                ""
            };
            (
                Pattern::Periodic,
                format!(
                    "the work recurs, so the scheduler runs it on its interval or cron expression.{result}"
                ),
                vec![alt(
                    Pattern::FireAndForget,
                    "if it only needs to run once later, launch it instead of scheduling it",
                )],
            )
        } else if req.streaming {
            (
                Pattern::LongRunning,
                format!(
                    "the caller wants output while the work runs{}; a stream delivers each line as it is written and the run can be cancelled mid-way.",
                    if req.expected_duration >= LONG {
                        " and it runs for a long time"
                    } else {
                        ""
                    }
                ),
                vec![alt(
                    Pattern::FireAndForget,
                    "if nobody watches live, launch it and read its output later by run id",
                )],
            )
        } else if short_and_frequent {
            (
                Pattern::Pooled,
                format!(
                    "{rate} requests per second of work taking {:?} each: starting a process per request would cost more than the work, so warm workers answer over pipes.",
                    req.expected_duration
                ),
                vec![alt(
                    Pattern::Simple,
                    "if the work can be an in-process action, a Simple action round trip is cheaper still",
                )],
            )
        } else if tasks > 1 {
            (
                Pattern::Concurrent,
                format!(
                    "{tasks} independent tasks: the batch coordinator runs them with a concurrency limit and returns the results in input order."
                ),
                vec![alt(
                    Pattern::FireAndForget,
                    "if the caller does not wait for the whole batch, launch each task and poll",
                )],
            )
        } else if !req.needs_result {
            (
                Pattern::FireAndForget,
                "the caller does not need the result: launch returns a run id at once and the run finishes in the background.".to_string(),
                vec![alt(Pattern::Simple, "if the caller must know it succeeded before going on")],
            )
        } else if req.expected_duration >= LONG {
            (
                Pattern::LongRunning,
                format!(
                    "the work takes {:?}: run it as a stream so it can be watched and cancelled, and wait for its output at the end.",
                    req.expected_duration
                ),
                vec![
                    alt(
                        Pattern::FireAndForget,
                        "if the caller should not hold a connection open meanwhile",
                    ),
                    alt(Pattern::Simple, "if nobody will watch or cancel it"),
                ],
            )
        } else {
            (
                Pattern::Simple,
                "one short task whose result is needed: run it and wait.".to_string(),
                vec![alt(
                    Pattern::FireAndForget,
                    "if the caller can come back for the result later",
                )],
            )
        };
        Recommendation {
            pattern,
            reason: format!("{}{note}", capitalize(&reason)),
            alternatives,
        }
    }

    /// When to use `pattern`, when not to, and what it costs, as text:
    /// [`explanation`](Self::explanation)`(pattern).to_string()` (the
    /// contract's signature; the parts are in the struct).
    pub fn explain(pattern: Pattern) -> String {
        Advisor::explanation(pattern).to_string()
    }

    /// The explanation of `pattern` in parts: summary, when to use it, its
    /// benefits, its limitations, its cost and an example call. Its
    /// `Display` is [`explain`](Self::explain)'s text.
    pub fn explanation(pattern: Pattern) -> Explanation {
        explanation::of(pattern)
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests;
