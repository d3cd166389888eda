//! The wall clock cron schedules follow: [`Clock`].
//!
//! Interval schedules run on tokio's monotonic clock. Cron schedules need
//! a wall clock too, and a test needs to control it: on paused tokio time
//! (`start_paused`, `advance`) a [`Clock::simulated`] clock reads
//! "a fixed start + the tokio time elapsed since", so a test can put the
//! runtime just before a daylight-saving change and advance through it in
//! microseconds of real time.
//!
//! The system clock can jump (NTP, a suspended laptop): the scheduler
//! never sleeps more than [`RESYNC`] at a time while a cron schedule waits
//! on the system clock, so a cron job is at most that late after a jump.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// The longest the scheduler sleeps between looks at the system wall
/// clock while a cron schedule is waiting (see the module docs).
pub(crate) const RESYNC: Duration = Duration::from_secs(1);

/// The wall clock of a runtime's cron schedules.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    // `None`: the system clock. `Some`: wall time `start` at tokio `origin`.
    simulated: Option<(SystemTime, Instant)>,
}

impl Clock {
    /// The system wall clock (the default). It does not move with
    /// `tokio::time::advance`: on paused time, cron schedules wait for the
    /// real clock; use [`Clock::simulated`] there.
    pub fn system() -> Self {
        Clock { simulated: None }
    }

    /// A clock that reads `start` now and then advances with tokio time:
    /// with paused time (`tokio::time::pause`, `advance`) it moves only when
    /// the test moves it. Create it inside the tokio runtime whose time it
    /// follows.
    pub fn simulated(start: SystemTime) -> Self {
        Clock {
            simulated: Some((start, Instant::now())),
        }
    }

    /// Whether this is a simulated clock.
    pub fn is_simulated(&self) -> bool {
        self.simulated.is_some()
    }

    /// The wall time now.
    pub fn now(&self) -> SystemTime {
        match self.simulated {
            None => SystemTime::now(),
            Some((start, origin)) => start + Instant::now().saturating_duration_since(origin),
        }
    }

    /// The wall time at tokio instant `at`, read on this clock now.
    pub(crate) fn wall_at(&self, at: Instant) -> SystemTime {
        let (wall, now) = (self.now(), Instant::now());
        if at >= now {
            crate::duration::wall_after(wall, at - now)
        } else {
            wall.checked_sub(now - at).unwrap_or(wall)
        }
    }

    /// The tokio instant at which this clock will read `wall`, as far as can
    /// be told now (the system clock may still jump).
    pub(crate) fn instant_at(&self, wall: SystemTime) -> Instant {
        let (now_wall, now) = (self.now(), Instant::now());
        match wall.duration_since(now_wall) {
            Ok(ahead) => crate::duration::after(now, ahead),
            Err(behind) => now.checked_sub(behind.duration()).unwrap_or(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn simulated_clock_follows_tokio_time() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let clock = Clock::simulated(start);
        assert_eq!(clock.now(), start);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now(), start + Duration::from_secs(90));
        let in_a_minute = Instant::now() + Duration::from_secs(60);
        assert_eq!(clock.wall_at(in_a_minute), start + Duration::from_secs(150));
        assert_eq!(
            clock.instant_at(start + Duration::from_secs(150)),
            in_a_minute
        );
        assert_eq!(
            clock.instant_at(start + Duration::from_secs(30)),
            Instant::now() - Duration::from_secs(60)
        );
    }

    #[test]
    fn system_clock_reads_system_time() {
        let clock = Clock::system();
        assert!(!clock.is_simulated());
        let diff = clock
            .now()
            .duration_since(SystemTime::now())
            .unwrap_or_else(|e| e.duration());
        assert!(diff < Duration::from_secs(1));
    }
}
