//! The guardian: containment that survives the death of the host process.
//!
//! Every run, scheduled run and pool worker leads its own process group, so
//! neither the terminal's signals nor the death of the host reach it. When
//! the host dies without running its shutdown — SIGKILL, the OOM killer,
//! `panic = "abort"`, `std::process::exit` — those groups would run on
//! with nobody to stop them. The guardian stops them.
//!
//! # Design
//! One guardian per host process, shared by every orchestrator in it,
//! started at the first spawn: a `/bin/sh` running a small script, leader
//! of its own process group (the terminal's Ctrl-C reaches the host, not
//! it), ignoring SIGINT, SIGHUP, SIGQUIT and SIGTERM. Its stdin is a pipe
//! whose only write end the host holds (close-on-exec, so no child
//! inherits it). The host writes `+<pgid>` when a group is spawned and
//! `-<pgid>` when it is gone (its drop guard has killed it); the guardian
//! keeps the set. When the host dies, however it dies, the kernel closes
//! the write end; the guardian reads end of file, sends SIGTERM to every
//! group still in its set, waits one second (the SIGTERM grace; without a
//! `sleep` on the `PATH`, none), sends SIGKILL to them, and exits. A normal exit does the
//! same, with the set empty if the orchestrators were shut down.
//!
//! A child exists before the host learns its pid (its `exec` runs while
//! the host waits in `posix_spawn`, a millisecond or more under load), so a
//! host killed then never writes its `+pgid`. The host therefore writes
//! `s` before each spawn, and every child carries `TASKORCH_HOST=<host
//! marker>` in its environment (inherited by its descendants): if a spawn
//! was in flight when the host died, the guardian, on Linux, also signals
//! every process it finds with that marker in `/proc/<pid>/environ`, and
//! its group — with the SIGTERM and again with the SIGKILL, so a child
//! still in `exec` at the first look is found at the second. Only then: a
//! daemon a run started on purpose (`setsid`) is not hunted down when the
//! host exits.
//!
//! # Why this design
//! - `PR_SET_PDEATHSIG` needs code in the child between `fork` and `exec`
//!   (`pre_exec`), which forces `fork` instead of `posix_spawn` (1.5x to
//!   70x slower spawns, see DESIGN.md); it kills only the direct child,
//!   not its group; and it fires when the *thread* that forked exits,
//!   which tokio's blocking threads do when idle.
//! - Re-executing the host's own binary (`/proc/self/exe`) as the guardian
//!   would need a hook in the application's `main`, and the host is
//!   usually an application, not our binary.
//! - `/bin/sh` is on every Unix (runs already use it for `Task::shell`);
//!   the script uses only builtins, plus `sleep` for the grace, so the
//!   guardian costs one small process per host and nothing per run but
//!   three short writes to a pipe (`s`, `+`, `-`: a few microseconds,
//!   against a spawn's ~500 us).
//!
//! # Caveats
//! - A child spawned as the host dies that clears its environment before
//!   the guardian's second look escapes; without `/proc` (or a `grep -z`),
//!   any child caught between its spawn and its `+pgid` line does.
//! - Writes never block the host: the pipe is non-blocking, and a guardian
//!   that falls behind (or is stopped) gets the unsent lines with the next
//!   one.
//! - If the guardian dies while the host lives (someone killed it), the
//!   next spawn or release notices (`EPIPE`), reaps it and starts a new one
//!   with the whole set; a guardian that cannot be started is retried at
//!   most once a second, with a warning.
//! - A process that left its group (`setsid`, a double-forking daemon)
//!   escapes, as it escapes the runtime's own termination, unless it is
//!   caught by the sweep above.
//! - Killing the guardian itself with SIGKILL while the host dies leaves
//!   the groups running, as killing any supervisor does.

use std::collections::HashSet;
use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use parking_lot::Mutex;

/// The guardian's program: keep the set of live groups; on end of file,
/// SIGTERM them all, wait a second, SIGKILL them all. The set is a string
/// of space-separated pgids with a space at both ends, so one is removed
/// with two expansions (POSIX sh has no arrays). Lines: `s` a spawn
/// starts, `f` it failed, `+<pgid>` it succeeded, `=<pgid>` a live group
/// (a new guardian being told the set), `-<pgid>` a group is gone. If a
/// spawn was in flight when the host died, `sweep` also signals every
/// process whose environment carries this host's marker (`$1`): that
/// child is in no set yet, but carries the marker. This needs Linux's
/// `/proc` and a `grep` with `-z`; without them it finds nothing.
const SCRIPT: &str = r#"trap '' INT HUP QUIT TERM
live=' '
spawning=0
while IFS= read -r line; do
  case $line in
    s) spawning=$((spawning + 1)) ;;
    f) spawning=$((spawning - 1)) ;;
    +*) spawning=$((spawning - 1)); live="$live${line#+} " ;;
    =*) live="$live${line#=} " ;;
    -*) p=${line#-}
        case $live in *" $p "*) live="${live%%" $p "*} ${live#*" $p "}" ;; esac ;;
  esac
done
sweep() {
  for p in $live; do kill -s "$1" -- "-$p" 2>/dev/null; done
  [ "$spawning" -gt 0 ] || return 0
  grep -l -s -z -x -F "TASKORCH_HOST=$host" /proc/[0-9]*/environ 2>/dev/null |
  while IFS= read -r f; do
    p=${f#/proc/}; p=${p%/environ}
    kill -s "$1" -- "-$p" "$p" 2>/dev/null
  done
}
host=$1
sweep TERM
sleep 1 </dev/null >/dev/null 2>&1
sweep KILL
exit 0
"#;

/// Environment variable every child gets: the marker of its host process
/// (module docs), which the guardian looks for.
pub(crate) const HOST_ENV: &str = "TASKORCH_HOST";

/// This host's marker: its pid and start time, so a recycled pid does not
/// make another process's children ours.
pub(crate) static HOST_MARK: LazyLock<String> = LazyLock::new(|| {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}.{nanos}", std::process::id())
});

/// The shortest time between two starts of the guardian, so one that dies
/// at once is not restarted on every spawn.
const RESTART_EVERY: Duration = Duration::from_secs(1);

/// The host's one guardian (module docs).
static GUARDIAN: LazyLock<Mutex<Guardian>> = LazyLock::new(|| Mutex::new(Guardian::default()));

#[derive(Default)]
struct Guardian {
    /// The running guardian and the write end of its stdin.
    process: Option<(Child, ChildStdin)>,
    /// Groups spawned and not yet gone: what a new guardian is told.
    live: HashSet<i32>,
    /// Spawns in flight (told with `s`, not yet ended by `+` or `f`).
    spawning: usize,
    /// Lines not yet written (the pipe was full).
    pending: Vec<u8>,
    /// When a guardian was last started (or failed to start).
    started: Option<Instant>,
}

/// A spawn in flight, told to the guardian before it starts (see the
/// module docs): end it with [`Spawning::spawned`], or drop it if the
/// spawn failed.
#[derive(Debug)]
pub(crate) struct Spawning {
    done: bool,
}

/// Tell the guardian that a child is about to be spawned.
pub(crate) fn spawning() -> Spawning {
    let mut guardian = GUARDIAN.lock();
    guardian.spawning += 1;
    guardian.send(format_args!("s"));
    Spawning { done: false }
}

impl Spawning {
    /// The spawn succeeded: its process group is `pgid`.
    pub(crate) fn spawned(mut self, pgid: i32) {
        self.done = true;
        let mut guardian = GUARDIAN.lock();
        guardian.spawning -= 1;
        guardian.live.insert(pgid);
        guardian.send(format_args!("+{pgid}"));
    }
}

impl Drop for Spawning {
    fn drop(&mut self) {
        if !self.done {
            let mut guardian = GUARDIAN.lock();
            guardian.spawning -= 1;
            guardian.send(format_args!("f"));
        }
    }
}

/// Tell the guardian that process group `pgid` is gone (or being killed
/// by the runtime itself).
pub(crate) fn release(pgid: i32) {
    let mut guardian = GUARDIAN.lock();
    if guardian.live.remove(&pgid) {
        guardian.send(format_args!("-{pgid}"));
    }
}

impl Guardian {
    fn send(&mut self, line: std::fmt::Arguments<'_>) {
        if self.process.is_none() {
            // A new guardian is told the whole state, this change included.
            self.start();
            return;
        }
        // Writing into a Vec cannot fail.
        let _ = writeln!(self.pending, "{line}");
        self.flush();
    }

    /// Start a guardian and tell it every live group.
    fn start(&mut self) {
        if self.started.is_some_and(|at| at.elapsed() < RESTART_EVERY) {
            return;
        }
        self.started = Some(Instant::now());
        match spawn() {
            Ok(process) => {
                self.process = Some(process);
                self.pending.clear();
                for pgid in &self.live {
                    let _ = writeln!(self.pending, "={pgid}");
                }
                for _ in 0..self.spawning {
                    let _ = writeln!(self.pending, "s");
                }
                self.flush();
            }
            Err(e) => tracing::warn!(
                error = %e,
                "cannot start the guardian (/bin/sh): process groups will outlive a crash of \
                 this process"
            ),
        }
    }

    fn flush(&mut self) {
        let Some((_, stdin)) = self.process.as_mut() else {
            return;
        };
        while !self.pending.is_empty() {
            match stdin.write(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                // Behind or stopped: the rest goes with the next line.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the guardian is gone; starting another");
                    self.lost();
                    self.start();
                    return;
                }
            }
        }
    }

    /// The guardian stopped reading: make sure it is dead, and reap it.
    fn lost(&mut self) {
        if let Some((mut child, stdin)) = self.process.take() {
            drop(stdin);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn() -> io::Result<(Child, ChildStdin)> {
    let mut child = Command::new(super::SHELL.0)
        .arg(super::SHELL.1)
        .arg(SCRIPT)
        .arg("taskorch-guardian")
        .arg(HOST_MARK.as_str())
        // Nothing of a run's identity: the guardian is nobody's run, and
        // must not find itself in its sweep.
        .env_remove(super::RUN_ID_ENV)
        .env_remove(HOST_ENV)
        .env_remove(crate::trace::TRACEPARENT_ENV)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own group: signals meant for the host's group miss it.
        .process_group(0)
        .spawn()?;
    let Some(stdin) = child.stdin.take() else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(io::Error::other("the guardian's stdin was not piped"));
    };
    if let Err(e) = fcntl(&stdin, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e.into());
    }
    Ok((child, stdin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    /// A `sleep` leading its own group, as a run would.
    fn group() -> Child {
        Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap()
    }

    fn gone(child: &mut Child) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if child.try_wait().unwrap().is_some() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A guardian of its own (the host's one serves the other tests): told
    /// of one group, killed, replaced while a second group starts; the
    /// replacement, seeing end of file, kills both.
    #[test]
    fn a_replaced_guardian_kills_every_group_it_was_told_of_at_end_of_file() {
        let mut guardian = Guardian::default();
        let mut first = group();
        guardian.spawning += 1;
        guardian.live.insert(first.id() as i32);
        guardian.send(format_args!("+{}", first.id()));
        let (old, _) = guardian.process.as_mut().unwrap();
        old.kill().unwrap();
        old.wait().unwrap();
        // Noticed at the next line (EPIPE); restarts are allowed at once here.
        guardian.started = None;
        let mut second = group();
        guardian.live.insert(second.id() as i32);
        guardian.send(format_args!("+{}", second.id()));
        let (mut new, stdin) = guardian.process.take().expect("a new guardian");
        drop(stdin);
        assert!(gone(&mut first), "the group told to the first guardian");
        assert!(gone(&mut second), "the group told to the second");
        new.wait().unwrap();
    }
}
