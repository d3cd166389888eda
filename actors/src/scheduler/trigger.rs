//! When a schedule fires: [`Trigger`], a fixed interval or a cron
//! expression in a time zone.
//!
//! Cron parsing and the search for the next match are croner's job; this
//! module only adds the time zone, the checks that turn bad input into
//! `Error::InvalidSchedule`, and the conversion to and from `SystemTime`.
//!
//! A parsed croner pattern is about 5 KiB (it keeps a byte for every
//! possible year), too much to hold once per schedule when there are
//! thousands. A trigger keeps only its expression; the patterns themselves
//! sit in a bounded [`CronCache`] of the schedule store, shared by every
//! schedule with the same expression and re-parsed (microseconds) when
//! evicted.
//!
//! # Daylight saving time
//! croner follows Vixie cron: a job whose time falls in the hour skipped
//! in spring runs once, at the first valid time after the gap (a 02:30
//! daily job in Europe/Berlin runs at 03:00 on that day); a job at a fixed
//! time in the hour repeated in autumn runs once, in the first copy of the
//! hour. Jobs that name no fixed hour (`*/30 * * * *`) keep their pace in
//! real time, so they run in both copies of the repeated hour, and not in
//! the skipped one.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, TimeZone, Utc};
use croner::Cron;
use croner::errors::CronError;
use parking_lot::Mutex;

use crate::error::{Error, Result};

/// When a schedule fires.
///
/// ```
/// use std::time::Duration;
/// use taskorch_actors::scheduler::Trigger;
///
/// // Every 5 s, the first time 5 s from now.
/// let health = Trigger::every(Duration::from_secs(5));
/// // Every 5 s, the first time right away.
/// let eager = Trigger::every(Duration::from_secs(5)).immediately();
/// // At 03:30 every day, Berlin time (seconds field optional).
/// let compact = Trigger::cron("30 3 * * *")?.in_time_zone("Europe/Berlin")?;
/// assert_eq!(compact.to_string(), "cron \"30 3 * * *\" in Europe/Berlin");
/// # Ok::<(), taskorch_actors::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Trigger {
    kind: Kind,
    immediately: bool,
}

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Every(Duration),
    Cron(Arc<CronTrigger>),
}

/// A checked cron expression and the zone its fields are read in.
#[derive(Debug)]
pub(crate) struct CronTrigger {
    expression: String,
    zone: Zone,
}

/// The time zone a cron expression is read in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Zone {
    Utc,
    Local,
    Named(chrono_tz::Tz),
}

impl Trigger {
    /// Fire every `interval`, the first time one interval from now (see
    /// [`immediately`](Self::immediately)). Intervals follow the monotonic
    /// clock: changes of the wall clock do not move them.
    ///
    /// A zero interval is refused when the schedule is added
    /// (`Error::InvalidTask`).
    pub fn every(interval: Duration) -> Self {
        Trigger {
            kind: Kind::Every(interval),
            immediately: false,
        }
    }

    /// Fire whenever the wall clock matches the cron expression `expr`, read
    /// in UTC unless [`in_time_zone`](Self::in_time_zone) or
    /// [`in_local_time`](Self::in_local_time) says otherwise.
    ///
    /// Five fields (`min hour day month weekday`) or six with a leading
    /// seconds field (`sec min hour day month weekday`), plus an optional
    /// year; names (`MON`, `JAN`), ranges, lists, steps, `L`, `W`, `#` and
    /// the `@daily`-style nicknames are accepted.
    ///
    /// # Errors
    /// `Error::InvalidSchedule` naming the expression and what is wrong with
    /// it: a malformed field, a value out of range, or a pattern that never
    /// matches any time (`0 0 30 2 *`).
    pub fn cron(expr: impl AsRef<str>) -> Result<Self> {
        let expression = expr.as_ref().trim().to_string();
        let invalid = |reason: String| Error::InvalidSchedule {
            expression: expression.clone(),
            reason,
        };
        let cron = Cron::from_str(&expression).map_err(|e| {
            invalid(match culprit(&expression) {
                Some(field) => format!("{field}: {}", describe(&e)),
                None => describe(&e),
            })
        })?;
        // A pattern that parses may still never match (the 30th of
        // February); say so now rather than leave a schedule that never runs.
        if let Err(e) = next_in_zone(&cron, Zone::Utc, SystemTime::now()) {
            return Err(invalid(describe(&e)));
        }
        Ok(Trigger {
            kind: Kind::Cron(Arc::new(CronTrigger {
                expression,
                zone: Zone::Utc,
            })),
            immediately: false,
        })
    }

    /// Read the cron expression in the IANA time zone `name`
    /// (`"Europe/Berlin"`), daylight saving time included (see the module
    /// docs for what happens on the days the clocks change).
    ///
    /// # Errors
    /// `Error::InvalidSchedule` if `name` is not a known IANA time zone, or
    /// if this is not a cron trigger.
    pub fn in_time_zone(self, name: impl AsRef<str>) -> Result<Self> {
        let name = name.as_ref();
        let zone = chrono_tz::Tz::from_str(name.trim()).map_err(|_| Error::InvalidSchedule {
            expression: self.expression_or_description(),
            reason: format!(
                "unknown time zone {name:?}: expected an IANA name such as \"Europe/Berlin\" or \"UTC\""
            ),
        })?;
        self.with_zone(Zone::Named(zone))
    }

    /// Read the cron expression in the system's local time zone.
    ///
    /// # Errors
    /// `Error::InvalidSchedule` if this is not a cron trigger.
    pub fn in_local_time(self) -> Result<Self> {
        self.with_zone(Zone::Local)
    }

    fn with_zone(self, zone: Zone) -> Result<Self> {
        match self.kind {
            Kind::Cron(cron) => Ok(Trigger {
                kind: Kind::Cron(Arc::new(CronTrigger {
                    expression: cron.expression.clone(),
                    zone,
                })),
                immediately: self.immediately,
            }),
            Kind::Every(_) => Err(Error::InvalidSchedule {
                expression: self.to_string(),
                reason: "a time zone applies only to cron triggers; intervals follow the \
                         monotonic clock"
                    .into(),
            }),
        }
    }

    /// Also fire once as soon as the schedule is added (an interval then
    /// counts from that first run).
    pub fn immediately(mut self) -> Self {
        self.immediately = true;
        self
    }

    /// The interval, for an interval trigger.
    pub fn interval(&self) -> Option<Duration> {
        match &self.kind {
            Kind::Every(interval) => Some(*interval),
            Kind::Cron(_) => None,
        }
    }

    /// The cron expression, for a cron trigger.
    pub fn expression(&self) -> Option<&str> {
        match &self.kind {
            Kind::Cron(cron) => Some(&cron.expression),
            Kind::Every(_) => None,
        }
    }

    /// The time zone name of a cron trigger ("UTC", "Local", "Europe/Berlin").
    pub fn time_zone(&self) -> Option<&str> {
        match &self.kind {
            Kind::Cron(cron) => Some(match cron.zone {
                Zone::Utc => "UTC",
                Zone::Local => "Local",
                Zone::Named(tz) => tz.name(),
            }),
            Kind::Every(_) => None,
        }
    }

    /// Whether the schedule also fires once when added.
    pub fn is_immediate(&self) -> bool {
        self.immediately
    }

    pub(crate) fn kind(&self) -> &Kind {
        &self.kind
    }

    fn expression_or_description(&self) -> String {
        match &self.kind {
            Kind::Cron(cron) => cron.expression.clone(),
            Kind::Every(_) => self.to_string(),
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Every(interval) => write!(f, "every {interval:?}")?,
            Kind::Cron(cron) => write!(
                f,
                "cron {:?} in {}",
                cron.expression,
                self.time_zone().unwrap_or("UTC")
            )?,
        }
        if self.immediately {
            f.write_str(", immediately")?;
        }
        Ok(())
    }
}

impl CronTrigger {
    /// The first matching time strictly after `after`; `None` if the pattern
    /// matches nothing more (a year field that has run out).
    pub(crate) fn next_after(&self, cache: &CronCache, after: SystemTime) -> Option<SystemTime> {
        let cron = cache.get(&self.expression)?;
        next_in_zone(&cron, self.zone, after).ok()
    }

    /// The latest matching time at or before `at`; `None` if there is none
    /// within croner's search range.
    pub(crate) fn latest_at_or_before(
        &self,
        cache: &CronCache,
        at: SystemTime,
    ) -> Option<SystemTime> {
        let cron = cache.get(&self.expression)?;
        let utc = DateTime::<Utc>::from(at);
        let found = match self.zone {
            Zone::Utc => cron
                .find_previous_occurrence(&utc, true)
                .map(SystemTime::from),
            Zone::Local => cron
                .find_previous_occurrence(&utc.with_timezone(&chrono::Local), true)
                .map(SystemTime::from),
            Zone::Named(tz) => cron
                .find_previous_occurrence(&utc.with_timezone(&tz), true)
                .map(SystemTime::from),
        };
        found.ok()
    }
}

/// Parsed cron patterns by expression, bounded (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct CronCache {
    parsed: Mutex<HashMap<String, Arc<Cron>>>,
}

impl CronCache {
    /// Patterns kept at most: about 1.3 MiB. A working set beyond it is
    /// re-parsed as it is used.
    const CAPACITY: usize = 256;

    /// The parsed pattern of `expression` (checked by `Trigger::cron`, so
    /// `None` only if croner changed its mind).
    pub(crate) fn get(&self, expression: &str) -> Option<Arc<Cron>> {
        if let Some(cron) = self.parsed.lock().get(expression) {
            return Some(Arc::clone(cron));
        }
        let cron = Arc::new(Cron::from_str(expression).ok()?);
        let mut parsed = self.parsed.lock();
        if parsed.len() >= Self::CAPACITY {
            // Crude but bounded; patterns in use are back on their next tick.
            parsed.clear();
        }
        parsed.insert(expression.to_string(), Arc::clone(&cron));
        Some(cron)
    }
}

/// Search in `zone`, so the fields are matched against that zone's wall
/// clock and a repeated hour is told apart by the instant.
fn next_in_zone(
    cron: &Cron,
    zone: Zone,
    after: SystemTime,
) -> std::result::Result<SystemTime, CronError> {
    let utc = DateTime::<Utc>::from(after);
    match zone {
        Zone::Utc => next_in(cron, utc),
        Zone::Local => next_in(cron, utc.with_timezone(&chrono::Local)),
        Zone::Named(tz) => next_in(cron, utc.with_timezone(&tz)),
    }
}

fn next_in<Tz: TimeZone>(
    cron: &Cron,
    after: DateTime<Tz>,
) -> std::result::Result<SystemTime, CronError> {
    cron.find_next_occurrence(&after, false)
        .map(SystemTime::from)
}

/// The field croner refuses, found by parsing each field alone among
/// wildcards: croner's own messages ("Number out of bounds.") do not say
/// which field they mean.
fn culprit(expression: &str) -> Option<String> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let names: &[&str] = match fields.len() {
        5 => &["minute", "hour", "day-of-month", "month", "day-of-week"],
        6 => &[
            "second",
            "minute",
            "hour",
            "day-of-month",
            "month",
            "day-of-week",
        ],
        7 => &[
            "second",
            "minute",
            "hour",
            "day-of-month",
            "month",
            "day-of-week",
            "year",
        ],
        _ => return None,
    };
    if expression.starts_with('@') {
        return None;
    }
    (0..fields.len()).find_map(|i| {
        let probe: Vec<&str> = (0..fields.len())
            .map(|j| if j == i { fields[i] } else { "*" })
            .collect();
        Cron::from_str(&probe.join(" "))
            .is_err()
            .then(|| format!("{} field {:?}", names[i], fields[i]))
    })
}

/// croner's messages, reworded where they would confuse a user of ours.
fn describe(error: &CronError) -> String {
    match error {
        CronError::EmptyPattern => "the expression is empty".into(),
        CronError::TimeSearchLimitExceeded => {
            "the expression never matches any time (for example the 30th of February)".into()
        }
        CronError::InvalidPattern(msg) => msg.clone(),
        CronError::IllegalCharacters(msg) => format!("illegal characters: {msg}"),
        CronError::ComponentError(msg) => msg.clone(),
        CronError::InvalidDate | CronError::InvalidTime => {
            "the expression leads to a date or time that does not exist".into()
        }
    }
}

#[cfg(test)]
mod tests;
