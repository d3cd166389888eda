//! Events per second over the last minute: a ring of per-second counters.
//!
//! Each slot packs the second it counts (upper 32 bits, seconds of uptime)
//! and its count (lower 32 bits) into one `AtomicU64`, so a slot is moved
//! to a new second and counted in one compare-and-swap: no lock, no
//! allocation, and no count lost to a reset racing an increment. A slot
//! still holding an older second counts nothing.

use std::sync::atomic::{AtomicU64, Ordering};

/// Seconds the ring holds (one minute).
const SLOTS: usize = 60;
const COUNT_BITS: u32 = 32;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// Per-second counts of the last minute.
#[derive(Debug)]
pub(crate) struct RateRing {
    slots: [AtomicU64; SLOTS],
}

impl Default for RateRing {
    fn default() -> Self {
        RateRing {
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// The second of uptime `nanos` falls in, as the ring stores it (it wraps
/// after 136 years of uptime).
fn second(nanos: u64) -> u64 {
    (nanos / 1_000_000_000) & COUNT_MASK
}

impl RateRing {
    /// Count one event at `now` (nanoseconds of uptime).
    pub(crate) fn add(&self, now: u64) {
        let sec = second(now);
        // Below SLOTS: fits a usize.
        let slot = &self.slots[(sec % SLOTS as u64) as usize];
        let _ = slot.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |packed| {
            Some(if packed >> COUNT_BITS == sec {
                // A full count stays full rather than spill into the second.
                packed + u64::from(packed & COUNT_MASK < COUNT_MASK)
            } else {
                (sec << COUNT_BITS) | 1
            })
        });
    }

    /// Events counted in the current second and the 59 before it, as seen
    /// at `now` (nanoseconds of uptime).
    pub(crate) fn count(&self, now: u64) -> u64 {
        let sec = second(now);
        self.slots
            .iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .filter(|packed| {
                let at = packed >> COUNT_BITS;
                at <= sec && sec - at < SLOTS as u64
            })
            .map(|packed| packed & COUNT_MASK)
            .sum()
    }
}
