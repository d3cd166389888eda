//! Risk limits: named bounds that work checks a value against, with the
//! option to halt the whole runtime when one trips.
//!
//! A limit is a ceiling (trips when `value > limit`: exposure, position
//! size) or a floor (trips when `value < limit`: daily P&L, free margin);
//! see [`Bound`]. A NaN value trips either: a guard that cannot compare
//! must not wave work through. A tripped limit emits `limit_exceeded`
//! (naming its bound) and returns `Error::RiskLimitExceeded { bound, .. }`;
//! with `auto_halt` it first halts the runtime (see [`halt`](crate::halt)),
//! reason "risk limit NAME exceeded: VALUE > LIMIT" (`<` for a floor).
//!
//! Limits may be registered up front ([`RiskLimits::add`], or
//! [`RiskLimits::register`] for a ceiling) and then checked by name, from
//! application code or from a workflow block.

use dashmap::DashMap;
use serde::{Deserialize, Serialize};

pub use crate::error::Bound;
use crate::error::{Error, Result};
use crate::events::{EventBody, Events};

/// A risk limit: its name, value, bound and whether tripping it halts the
/// runtime.
///
/// ```
/// use taskorch_actors::{Bound, RiskLimit};
///
/// let loss = RiskLimit::floor("daily_loss", -500.0).halting();
/// assert_eq!(loss.bound, Bound::Floor);
/// assert!(loss.trips(-600.0) && !loss.trips(-500.0));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskLimit {
    /// Its name.
    pub name: String,
    /// The largest value that passes (a ceiling) or the smallest (a floor).
    pub limit: f64,
    /// Whether tripping it halts the runtime.
    pub auto_halt: bool,
    /// Which side trips it (`Ceiling` for limits stored before bounds
    /// existed).
    #[serde(default)]
    pub bound: Bound,
}

impl RiskLimit {
    /// A ceiling: trips when the value is above `limit`. Does not halt
    /// unless [`halting`](Self::halting).
    pub fn ceiling(name: impl Into<String>, limit: f64) -> Self {
        RiskLimit {
            name: name.into(),
            limit,
            auto_halt: false,
            bound: Bound::Ceiling,
        }
    }

    /// A floor: trips when the value is below `limit`. Does not halt
    /// unless [`halting`](Self::halting).
    pub fn floor(name: impl Into<String>, limit: f64) -> Self {
        RiskLimit {
            bound: Bound::Floor,
            ..RiskLimit::ceiling(name, limit)
        }
    }

    /// Halt the runtime when it trips.
    pub fn halting(self) -> Self {
        self.auto_halt(true)
    }

    /// Whether tripping it halts the runtime.
    pub fn auto_halt(mut self, auto_halt: bool) -> Self {
        self.auto_halt = auto_halt;
        self
    }

    /// Whether `value` trips it (NaN does).
    pub fn trips(&self, value: f64) -> bool {
        self.bound.trips(value, self.limit)
    }

    /// `Ok` if it can be checked.
    ///
    /// # Errors
    /// `InvalidConfig` for an empty name or a limit that is not finite.
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(Error::InvalidConfig("empty risk limit name".into()));
        }
        if !self.limit.is_finite() {
            return Err(Error::InvalidConfig(format!(
                "risk limit {:?} must be a finite number, not {}",
                self.name, self.limit
            )));
        }
        Ok(())
    }
}

/// The registered limits of one runtime.
#[derive(Debug, Default)]
pub struct RiskLimits {
    table: DashMap<String, RiskLimit>,
}

impl RiskLimits {
    /// Register (or replace) the ceiling `name`.
    ///
    /// # Errors
    /// `InvalidConfig` for an empty name or a limit that is not a finite
    /// number.
    pub fn register(&self, name: &str, limit: f64, auto_halt: bool) -> Result<()> {
        self.add(RiskLimit::ceiling(name, limit).auto_halt(auto_halt))
    }

    /// Register (or replace) `limit` under its name, ceiling or floor.
    ///
    /// # Errors
    /// `InvalidConfig` for an empty name or a limit that is not a finite
    /// number.
    pub fn add(&self, limit: RiskLimit) -> Result<()> {
        limit.validate()?;
        self.table.insert(limit.name.clone(), limit);
        Ok(())
    }

    /// The limit `name`, if registered.
    pub fn get(&self, name: &str) -> Option<RiskLimit> {
        self.table.get(name).map(|l| l.clone())
    }

    /// Every registered limit, by name.
    pub fn list(&self) -> Vec<RiskLimit> {
        let mut all: Vec<RiskLimit> = self.table.iter().map(|l| l.clone()).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }
}

/// Check `value` against the ceiling `limit` (see the module docs); `halt`
/// halts the runtime with the reason given. Takes the events and a halt
/// hook, not the `Context` (which calls it): the limits sit below the
/// context.
///
/// # Errors
/// `RiskLimitExceeded { name, value, limit, bound: Ceiling }` when
/// `value > limit` or `value` is NaN.
pub(crate) fn check(
    events: &Events,
    name: &str,
    value: f64,
    limit: f64,
    auto_halt: bool,
    halt: impl FnOnce(&str),
) -> Result<()> {
    let limit = RiskLimit::ceiling(name, limit).auto_halt(auto_halt);
    check_limit(events, &limit, value, halt)
}

/// Check `value` against `limit`, ceiling or floor (see the module docs).
///
/// # Errors
/// `RiskLimitExceeded { name, value, limit, bound }` when it trips.
pub(crate) fn check_limit(
    events: &Events,
    limit: &RiskLimit,
    value: f64,
    halt: impl FnOnce(&str),
) -> Result<()> {
    if !limit.trips(value) {
        return Ok(());
    }
    let RiskLimit {
        name,
        limit: at,
        auto_halt,
        bound,
    } = limit;
    tracing::warn!(target: "taskorch::risk", name, value, limit = at, %bound, auto_halt, "risk limit exceeded");
    events.emit(None, || EventBody::LimitExceeded {
        name: name.clone(),
        value,
        limit: *at,
        bound: *bound,
        auto_halt: *auto_halt,
    });
    let error = Error::RiskLimitExceeded {
        name: name.clone(),
        value,
        limit: *at,
        bound: *bound,
    };
    if *auto_halt {
        halt(&format!(
            "risk limit {name} exceeded: {value} {} {at}",
            bound.tripped_sign()
        ));
    }
    Err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_and_floors_trip_on_their_side_and_nan_trips_both() {
        let cap = RiskLimit::ceiling("exposure", 10.0);
        assert!(!cap.trips(10.0) && !cap.trips(-1e9) && cap.trips(10.5));
        let floor = RiskLimit::floor("daily_loss", -500.0);
        assert!(!floor.trips(-500.0) && !floor.trips(1e9) && floor.trips(-600.0));
        assert!(cap.trips(f64::NAN) && floor.trips(f64::NAN));
    }

    #[test]
    fn a_bad_limit_is_refused_and_stored_limits_default_to_ceilings() {
        let limits = RiskLimits::default();
        assert!(matches!(
            limits.add(RiskLimit::floor("x", f64::NEG_INFINITY)),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            limits.add(RiskLimit::floor(" ", 1.0)),
            Err(Error::InvalidConfig(_))
        ));
        let old: RiskLimit =
            serde_json::from_str(r#"{"name": "x", "limit": 1.0, "auto_halt": false}"#).unwrap();
        assert_eq!(old.bound, Bound::Ceiling);
        assert!(matches!(
            "sideways".parse::<Bound>(),
            Err(Error::InvalidConfig(_))
        ));
        assert_eq!("Floor".parse::<Bound>().unwrap(), Bound::Floor);
    }
}
