//! Finding the harness's processes again, by its own records and by a
//! marker in their environment, never by name; a zombie counts as a
//! process until someone reaps it.
//!
//! A pid alone identifies nothing on a busy machine (pids are reused), so
//! every record carries the process's start time (field 22 of
//! `/proc/<pid>/stat`, in clock ticks since boot): a live pid is the
//! recorded process only if its start time matches. That works for
//! zombies too, whose environment can no longer be read.
//!
//! A zombie is a violation when reaping it is this process's job: when its
//! parent is this process or one of its descendants (the runtime, a
//! guardian, a subreaper). An orphan reparented to the machine's init is
//! reaped by init; an init that never reaps (some container and VM
//! entrypoints do not) leaves it a zombie for ever, which is counted apart
//! and is no fault of the runtime.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use taskorch_actors::process;
#[cfg(target_os = "linux")]
use taskorch_actors::process::procfs;
use tokio::time::{sleep, timeout};

/// The environment variable every process of a harness carries: runs'
/// processes `<tag>`, pool workers `<tag>-pool`.
pub(super) const MARKER: &str = "TASKORCH_CHAOS";

/// One process as recorded: pid and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Proc {
    pub(super) pid: u32,
    pub(super) start: u64,
}

/// What is left of a set of processes.
#[derive(Debug, Default)]
pub(super) struct Leftovers {
    /// Still running (they are SIGKILLed on the way out).
    pub(super) live: Vec<u32>,
    /// Exited but not reaped by their parent, this process or one of its
    /// descendants.
    pub(super) zombies: Vec<u32>,
    /// Zombies left to a parent outside this process tree (init).
    pub(super) zombies_of_init: usize,
}

/// State, parent and start time of `pid`, or `None` once it is gone
/// (reaped).
#[cfg(target_os = "linux")]
fn stat(pid: u32) -> Option<(char, u32, u64)> {
    let stat = procfs::stat(pid)?;
    Some((stat.state, stat.parent, stat.start))
}

#[cfg(not(target_os = "linux"))]
fn stat(_pid: u32) -> Option<(char, u32, u64)> {
    None
}

/// Whether `pid` is this process or one of its descendants.
fn in_our_tree(mut pid: u32) -> bool {
    let me = std::process::id();
    // Bounded: a parent chain is short, and a pid read mid-exit could
    // otherwise make us loop.
    for _ in 0..64 {
        if pid == me {
            return true;
        }
        match stat(pid) {
            Some((_, parent, _)) if parent > 1 => pid = parent,
            _ => return false,
        }
    }
    false
}

/// `pid` as a record, if it is up now.
pub(super) fn record(pid: u32) -> Option<Proc> {
    stat(pid).map(|(_, _, start)| Proc { pid, start })
}

/// "<run id> <pid> <start time>" lines the scripts appended to `file`.
pub(super) fn recorded(file: &Path) -> Vec<Proc> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace().skip(1);
            Some(Proc {
                pid: fields.next()?.parse().ok()?,
                start: fields.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// Live processes whose environment holds `MARKER=value` exactly.
#[cfg(target_os = "linux")]
pub(super) fn marked(value: &str) -> Vec<Proc> {
    procfs::pids()
        .filter(|&pid| procfs::environ_var(pid, MARKER).is_some_and(|v| v == value.as_bytes()))
        .filter_map(record)
        .collect()
}

#[cfg(not(target_os = "linux"))]
pub(super) fn marked(_value: &str) -> Vec<Proc> {
    Vec::new()
}

/// What is left of one recorded process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    Gone,
    Live,
    /// A zombie whose parent is in this process tree.
    Zombie,
    /// A zombie left to init.
    ZombieOfInit,
}

fn present(proc: &Proc) -> Presence {
    match stat(proc.pid) {
        Some((state, parent, start)) if start == proc.start => match state {
            'Z' | 'X' if in_our_tree(parent) => Presence::Zombie,
            'Z' | 'X' => Presence::ZombieOfInit,
            _ => Presence::Live,
        },
        _ => Presence::Gone,
    }
}

/// Wait (at most `within`) for `procs`, and for every process marked with
/// one of `markers`, to be gone and reaped; then report what is left and
/// SIGKILL the live ones, so a failed check leaves nothing running.
pub(super) async fn leftovers(procs: &[Proc], markers: &[&str], within: Duration) -> Leftovers {
    let scan = || -> Leftovers {
        let mut all: HashSet<Proc> = procs.iter().copied().collect();
        for marker in markers {
            all.extend(marked(marker));
        }
        let mut out = Leftovers::default();
        for proc in all {
            match present(&proc) {
                Presence::Zombie => out.zombies.push(proc.pid),
                Presence::Live => out.live.push(proc.pid),
                Presence::ZombieOfInit => out.zombies_of_init += 1,
                Presence::Gone => {}
            }
        }
        out.live.sort_unstable();
        out.zombies.sort_unstable();
        out
    };
    let _ = timeout(within, async {
        loop {
            let left = scan();
            if left.live.is_empty() && left.zombies.is_empty() {
                break;
            }
            sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let left = scan();
    left.live.iter().copied().for_each(process::kill_pid);
    left
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_zombie_counts_until_it_is_reaped() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let me = record(child.id()).expect("just spawned");
        let exited = timeout(Duration::from_secs(10), async {
            while present(&me) != Presence::Zombie {
                sleep(Duration::from_millis(5)).await;
            }
        });
        exited.await.expect("`true` exits");
        // Not reaped yet: it stays a zombie however long we wait.
        let left = leftovers(&[me], &[], Duration::from_millis(200)).await;
        assert_eq!(left.zombies, [me.pid]);
        assert!(left.live.is_empty());
        child.wait().unwrap();
        let left = leftovers(&[me], &[], Duration::from_secs(5)).await;
        assert!(left.zombies.is_empty() && left.live.is_empty());
    }

    #[tokio::test]
    async fn a_marked_process_is_found_and_killed() {
        let tag = format!("procs-test-{}", std::process::id());
        let mut child = std::process::Command::new("sleep")
            .arg("600")
            .env(MARKER, &tag)
            .spawn()
            .unwrap();
        // Seen in CI under load: the first scan of /proc right after the
        // spawn missed the child's environment; wait (bounded) until it
        // is readable, as the harness only scans long after its spawns.
        timeout(Duration::from_secs(10), async {
            while marked(&tag).is_empty() {
                sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the marked child shows up in /proc");
        let left = leftovers(&[], &[&tag], Duration::from_millis(100)).await;
        assert_eq!(left.live, [child.id()]);
        // Killed on the way out.
        child.wait().unwrap();
        assert!(marked(&tag).is_empty());
    }
}
