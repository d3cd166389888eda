//! Durations from users, made safe: one limit every user-given duration is
//! checked against where it enters, and saturating arithmetic for every
//! deadline the runtime computes from one.
//!
//! `Instant + Duration` panics on overflow, and `Duration::MAX`, or a jobs
//! file's `every = "300000000000y"`, overflows it. A panic there used to
//! crash the actor or the run task that computed the deadline, so:
//! - builders keep what they are given, and the check that turns a task,
//!   schedule, pool or configuration into work ([`check`]) refuses a
//!   duration above [`MAX`] with `Error::InvalidDuration`, naming the
//!   field and the limit;
//! - the runtime computes deadlines only through `after`, which
//!   saturates, so a duration that reached it unchecked (a field added
//!   later, a deserialized value) can at worst mean "not in this century",
//!   never a panic.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::error::{Error, Result};

/// The longest duration the runtime accepts anywhere: 100 years (of 365.25
/// days). Far beyond any real time-out or interval, and far below what
/// `Instant` arithmetic overflows at.
pub const MAX: Duration = Duration::from_secs(3_155_760_000);

/// How [`MAX`] reads in an error.
const LIMIT: &str = "at most 100 years";

/// `duration`, if it is at most [`MAX`]: the check every setting that
/// takes a duration goes through (tasks, schedules, pools, batches, the
/// runtime's configuration, the CLI).
///
/// # Errors
/// `InvalidDuration` naming `field` otherwise.
pub fn check(field: &str, duration: Duration) -> Result<Duration> {
    if duration <= MAX {
        Ok(duration)
    } else {
        Err(Error::InvalidDuration {
            field: field.to_string(),
            value: Some(duration),
            limit: LIMIT.to_string(),
        })
    }
}

/// `at + duration`, saturated: a duration above [`MAX`] counts as [`MAX`].
pub(crate) fn after(at: Instant, duration: Duration) -> Instant {
    at.checked_add(duration.min(MAX))
        // Only an `at` itself near the end of time gets here.
        .unwrap_or(at)
}

/// `at + duration` on the wall clock, saturated like [`after`].
pub(crate) fn wall_after(at: SystemTime, duration: Duration) -> SystemTime {
    at.checked_add(duration.min(MAX)).unwrap_or(at)
}

/// `duration` seconds as a [`Duration`], from a float that may be negative,
/// NaN or huge (a computed delay): clamped to `0..=MAX`.
pub(crate) fn from_secs_f64(seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds.clamp(0.0, MAX.as_secs_f64())).unwrap_or(Duration::ZERO)
}

/// `duration * factor`, saturated at [`MAX`] (a backoff's growth, a
/// jitter sample), for any factor: negative or NaN gives zero.
pub(crate) fn mul_f64(duration: Duration, factor: f64) -> Duration {
    from_secs_f64(duration.as_secs_f64() * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_saturates_instead_of_panicking() {
        let now = Instant::now();
        assert!(after(now, Duration::MAX) >= now + MAX);
        assert_eq!(
            after(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
    }

    #[test]
    fn float_conversions_clamp() {
        assert_eq!(from_secs_f64(-1.0), Duration::ZERO);
        assert_eq!(from_secs_f64(f64::NAN), Duration::ZERO);
        assert_eq!(from_secs_f64(f64::INFINITY), MAX);
        assert_eq!(mul_f64(Duration::MAX, 2.0), MAX);
        assert_eq!(mul_f64(Duration::from_secs(2), 1.5), Duration::from_secs(3));
    }

    #[test]
    fn check_names_the_field_and_the_limit() {
        assert_eq!(check("x", MAX).unwrap(), MAX);
        let e = check("Task::timeout", Duration::MAX).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("Task::timeout") && text.contains("100 years"),
            "{text}"
        );
    }
}
