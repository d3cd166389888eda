//! Restart intensity bookkeeping: a sliding window of restart times.

use std::collections::VecDeque;

use tokio::time::Instant;

use super::spec::RestartIntensity;

/// Restart times of one child within the intensity window.
#[derive(Debug, Default)]
pub(crate) struct RestartWindow {
    times: VecDeque<Instant>,
}

impl RestartWindow {
    /// Admit one more restart at `now`: `Some(prior)` with the number of
    /// restarts already in the window, or `None` when the intensity is
    /// exhausted (give up).
    pub(crate) fn admit(&mut self, now: Instant, intensity: RestartIntensity) -> Option<u32> {
        while let Some(&oldest) = self.times.front() {
            if now.duration_since(oldest) >= intensity.within {
                self.times.pop_front();
            } else {
                break;
            }
        }
        if self.times.len() >= intensity.max_restarts as usize {
            return None;
        }
        let prior = self.times.len() as u32;
        self.times.push_back(now);
        Some(prior)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn gives_up_past_the_intensity_and_forgets_old_restarts() {
        let intensity = RestartIntensity {
            max_restarts: 3,
            within: Duration::from_secs(10),
        };
        let mut window = RestartWindow::default();
        let t0 = Instant::now();
        assert_eq!(window.admit(t0, intensity), Some(0));
        assert_eq!(
            window.admit(t0 + Duration::from_secs(1), intensity),
            Some(1)
        );
        assert_eq!(
            window.admit(t0 + Duration::from_secs(2), intensity),
            Some(2)
        );
        assert_eq!(window.admit(t0 + Duration::from_secs(3), intensity), None);
        // The first restart leaves the window at t0 + 10 s.
        assert_eq!(
            window.admit(t0 + Duration::from_secs(10), intensity),
            Some(2)
        );
    }
}
