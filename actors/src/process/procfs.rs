//! What `/proc` says about processes (Linux): the one place that reads it.
//!
//! It answers the questions a signal cannot: `kill(pid, 0)` succeeds for a
//! zombie, which has exited and merely waits for its parent; and only
//! `/proc/<pid>/environ` tells a process of one of our runs (it carries
//! [`RUN_ID_ENV`](super::RUN_ID_ENV)) from a stranger that got a reused
//! pid. The runtime uses it to tell when a group is gone and to stop the
//! groups a crashed predecessor left; tests and the chaos harness use it to
//! check that nothing was left behind.

use crate::run::RunId;

/// What `/proc/<pid>/stat` says of one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// The state letter (`R`, `S`, `D`, `T`, `Z` for a zombie, ...).
    pub state: char,
    /// The parent's pid.
    pub parent: u32,
    /// The process group.
    pub group: u32,
    /// The session.
    pub session: u32,
    /// When the process started, in clock ticks since boot: with the pid,
    /// it names one process even after its pid is reused.
    pub start: u64,
}

impl Stat {
    /// Whether the process has exited (a zombie, or dead and being
    /// reaped): it is still listed, but runs nothing.
    pub fn exited(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// Read `/proc/<pid>/stat`; `None` once there is no such process (not even
/// a zombie).
pub fn stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The fields of a `/proc/<pid>/stat` line. The command name is in
/// parentheses and may hold spaces and parentheses, so the fields are read
/// after the last `)`: state (field 3), ppid, pgrp, session, ..., and the
/// start time (field 22).
fn parse_stat(line: &str) -> Option<Stat> {
    let mut fields = line.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    let group = fields.next()?.parse().ok()?;
    let session = fields.next()?.parse().ok()?;
    // Fields 7 to 21 lie between the session and the start time.
    let start = fields.nth(15)?.parse().ok()?;
    Some(Stat {
        state,
        parent,
        group,
        session,
        start,
    })
}

/// Every pid `/proc` lists now (zombies included).
pub fn pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
}

/// The value of variable `name` in the environment process `pid` started
/// with; `None` if it has none, or its environment cannot be read (a
/// zombie's, another user's).
pub fn environ_var(pid: u32, name: &str) -> Option<Vec<u8>> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ.split(|&b| b == 0).find_map(|var| {
        var.strip_prefix(name.as_bytes())?
            .strip_prefix(b"=")
            .map(<[u8]>::to_vec)
    })
}

/// The command line of process `pid`, its arguments separated by NUL
/// bytes; `None` once it is gone (empty for a zombie).
pub fn cmdline(pid: u32) -> Option<Vec<u8>> {
    std::fs::read(format!("/proc/{pid}/cmdline")).ok()
}

/// Whether process `pid` is alive: listed and not exited.
pub fn pid_alive(pid: u32) -> bool {
    stat(pid).is_some_and(|stat| !stat.exited())
}

/// Whether process group `pgid` has a member that has not exited.
pub fn group_alive(pgid: u32) -> bool {
    pids()
        .filter_map(stat)
        .any(|stat| stat.group == pgid && !stat.exited())
}

/// Whether a live member of process group `pgid` carries run `run`'s id in
/// its environment (every process of a run does, and its descendants
/// inherit it), so a group id reused by another program is never taken
/// for the run's.
pub(crate) fn group_carries(pgid: u32, run: RunId) -> bool {
    let id = run.to_string();
    pids().any(|pid| {
        stat(pid).is_some_and(|stat| stat.group == pgid && !stat.exited())
            && environ_var(pid, super::RUN_ID_ENV).is_some_and(|value| value == id.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_after_the_last_parenthesis() {
        let line = "4242 (a (b) c) S 1 4242 4240 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 \
                    987654 1000 10 18446744073709551615";
        let stat = parse_stat(line).expect("a stat line");
        assert_eq!(
            stat,
            Stat {
                state: 'S',
                parent: 1,
                group: 4242,
                session: 4240,
                start: 987654,
            }
        );
        assert!(!stat.exited());
        assert!(parse_stat("4242 (cut").is_none());
    }

    #[test]
    fn this_process_is_alive_and_carries_its_environment() {
        let me = std::process::id();
        let stat = stat(me).expect("our own stat");
        assert!(pid_alive(me));
        assert!(group_alive(stat.group));
        assert!(pids().any(|pid| pid == me));
        assert!(environ_var(me, "PATH").is_some());
        assert_eq!(environ_var(me, "TASKORCH_NO_SUCH_VARIABLE"), None);
        let args = cmdline(me).expect("our own command line");
        let exe = std::env::args().next().expect("argv[0]");
        assert!(args.starts_with(exe.as_bytes()));
    }
}
