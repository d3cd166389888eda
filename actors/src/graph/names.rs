//! The names of a graph's tasks, append-only, so a handle can lend one
//! out (`GraphRun::name` returns `&str`) while the graph grows: the plan
//! itself is swapped on every add (see `plan.rs`), and a borrow of the old
//! one could not outlive the swap.
//!
//! Segment `s` holds `2^s` names and is allocated when its first name
//! comes; a name never moves once set, so `&self` lends it safely.

use std::sync::OnceLock;

/// Enough segments for every index a `u32` task index can reach.
const SEGMENTS: usize = 33;

/// One segment: its names, each set once.
type Segment = Box<[OnceLock<Box<str>>]>;

/// See the module docs.
pub(crate) struct Names {
    segments: [OnceLock<Segment>; SEGMENTS],
}

impl std::fmt::Debug for Names {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Names")
    }
}

impl Default for Names {
    fn default() -> Self {
        Names {
            segments: std::array::from_fn(|_| OnceLock::new()),
        }
    }
}

/// Segment and offset of index `i`: segment `s` holds `2^s - 1 ..
/// 2^(s+1) - 1`.
fn slot(i: usize) -> (usize, usize) {
    let n = i + 1;
    let segment = (usize::BITS - 1 - n.leading_zeros()) as usize;
    (segment, n - (1 << segment))
}

impl Names {
    /// Set the name of task `i` (the first call for `i` wins: names never
    /// change).
    pub(crate) fn set(&self, i: usize, name: &str) {
        let (segment, offset) = slot(i);
        let Some(cell) = self.segments.get(segment) else {
            return;
        };
        let names = cell.get_or_init(|| (0..1usize << segment).map(|_| OnceLock::new()).collect());
        let _ = names[offset].set(name.into());
    }

    /// The name of task `i`, once set.
    pub(crate) fn get(&self, i: usize) -> Option<&str> {
        let (segment, offset) = slot(i);
        let names = self.segments.get(segment)?.get()?;
        names.get(offset)?.get().map(|name| &**name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_where_they_were_set() {
        let names = Names::default();
        for i in 0..100 {
            names.set(i, &format!("t{i}"));
        }
        names.set(3, "changed");
        for i in 0..100 {
            assert_eq!(names.get(i), Some(format!("t{i}").as_str()));
        }
        assert_eq!(names.get(100), None);
        assert_eq!(slot(0), (0, 0));
        assert_eq!(slot(1), (1, 0));
        assert_eq!(slot(2), (1, 1));
        assert_eq!(slot(3), (2, 0));
    }
}
