//! A latency window: the last N samples in a ring of atomics (exact
//! percentiles over them at snapshot time), plus count and sum since start.
//!
//! Recording is one `fetch_add` for the slot, one store, and one
//! `fetch_add` for the sum: no lock, no allocation. A snapshot copies and
//! sorts the ring (its reader pays, not the hot path). A slot claimed but
//! not yet written when a snapshot reads it shows its previous sample (or
//! zero while the ring fills): an error of one sample, for an instant.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::LatencySummary;

/// The last `capacity` durations, in nanoseconds.
#[derive(Debug)]
pub(crate) struct LatencyWindow {
    samples: Box<[AtomicU64]>,
    /// Samples recorded since start; `next % capacity` is the next slot.
    next: AtomicU64,
    sum: AtomicU64,
}

impl LatencyWindow {
    /// An empty window of `capacity` samples (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        LatencyWindow {
            samples: (0..capacity.max(1)).map(|_| AtomicU64::new(0)).collect(),
            next: AtomicU64::new(0),
            sum: AtomicU64::new(0),
        }
    }

    /// Record one duration of `nanos` nanoseconds.
    pub(crate) fn record(&self, nanos: u64) {
        let at = self.next.fetch_add(1, Ordering::Relaxed);
        // `len` is at least 1, and the index is below it: it fits a usize.
        let slot = (at % self.samples.len() as u64) as usize;
        self.samples[slot].store(nanos, Ordering::Relaxed);
        self.sum.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Samples recorded since start.
    pub(crate) fn count(&self) -> u64 {
        self.next.load(Ordering::Relaxed)
    }

    /// Count, sum and the window's percentiles.
    pub(crate) fn summary(&self) -> LatencySummary {
        let count = self.count();
        let held = usize::try_from(count).map_or(self.samples.len(), |c| c.min(self.samples.len()));
        let mut window: Vec<u64> = self.samples[..held]
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .collect();
        window.sort_unstable();
        let at = |q: f64| percentile(&window, q).map(Duration::from_nanos);
        LatencySummary {
            count,
            sum: Duration::from_nanos(self.sum.load(Ordering::Relaxed)),
            window: held as u64,
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: window.last().copied().map(Duration::from_nanos),
        }
    }
}

/// The nearest-rank `q` percentile of `sorted` (`None` if it is empty): the
/// smallest sample with at least `q` of the samples at or below it.
pub(crate) fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    // Ranks are small (at most the window): the float round trip is exact.
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}
