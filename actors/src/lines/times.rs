//! When each line was captured: [`LineTimes`], kept beside a
//! [`CapturedOutput`] rather than inside it. `CapturedOutput` and
//! `OutputLine` are part of the public contract with public fields, and
//! code outside this crate builds and destructures them: a new field would
//! break it. The times are a parallel list instead (`times[i]` belongs to
//! `lines[i]`), returned together with the lines by [`TimedOutput`].
//!
//! # What the time of a line is
//! The wall clock when the read of the child's pipe that completed the
//! line returned: one `SystemTime::now()` per read, shared by every line
//! split from it, so the writer side (which must keep up with the child)
//! reads the clock once per chunk, not once per line. Lines a single read
//! delivered therefore carry the same time. Within one run a line's time
//! is never earlier than the line's before it: a wall clock stepped back
//! (NTP) does not make a run's times go backwards.
//!
//! Times are kept as microseconds since the Unix epoch, the store's unit,
//! with 0 for "unknown": a run read back from a store written before times
//! were kept has lines but no times.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::CapturedOutput;

/// The capture time of each line of a [`CapturedOutput`], in the same
/// order (see the `lines` module docs for what the time of a line is).
///
/// Empty, or holding `None`s, where the times are unknown: a run stored by
/// a release that did not keep them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineTimes {
    /// Microseconds since the Unix epoch; 0 when unknown.
    micros: Vec<u64>,
}

impl LineTimes {
    pub(crate) fn from_micros(micros: Vec<u64>) -> Self {
        LineTimes { micros }
    }

    /// Microseconds since the epoch of the line at `index`; 0 when unknown.
    pub(crate) fn micros_at(&self, index: usize) -> u64 {
        self.micros.get(index).copied().unwrap_or(0)
    }

    /// When the line at `index` (of the lines these times go with) was
    /// captured; `None` when unknown.
    pub fn get(&self, index: usize) -> Option<SystemTime> {
        time(self.micros_at(index))
    }

    /// How many lines have a slot here (0 when none is known).
    pub fn len(&self) -> usize {
        self.micros.len()
    }

    /// Whether no line has a slot here.
    pub fn is_empty(&self) -> bool {
        self.micros.is_empty()
    }

    /// Each slot's time, in line order (`None` when unknown).
    pub fn iter(&self) -> impl Iterator<Item = Option<SystemTime>> + '_ {
        self.micros.iter().map(|&us| time(us))
    }
}

/// A run's captured lines with the time each was captured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimedOutput {
    /// The lines, exactly as `output(id)` returns them.
    pub output: CapturedOutput,
    /// `times.get(i)` is when `output.lines[i]` was captured.
    pub times: LineTimes,
}

impl TimedOutput {
    /// Each line with its time (`None` when unknown).
    pub fn iter(&self) -> impl Iterator<Item = (&crate::output::OutputLine, Option<SystemTime>)> {
        self.output
            .lines
            .iter()
            .enumerate()
            .map(|(i, line)| (line, self.times.get(i)))
    }
}

/// Microseconds since the epoch now, at least 1: 0 means "unknown", and
/// no real capture happens at the epoch.
pub(super) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .max(1)
}

/// The time of `us` microseconds since the epoch; `None` for 0 (unknown).
pub(crate) fn time(us: u64) -> Option<SystemTime> {
    (us != 0).then(|| UNIX_EPOCH + Duration::from_micros(us))
}
