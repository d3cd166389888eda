//! Process groups a crashed predecessor left running: on start, the store
//! hands over the groups of runs it found `Running` (see
//! `store::recover`), and those still alive *and ours* are stopped.

use crate::run::RunId;

/// Stop the process groups of interrupted runs that are still alive and
/// ours: SIGTERM now, SIGKILL after `grace` (on a thread of its own, so a
/// start does not wait). Returns the groups signalled.
#[cfg(target_os = "linux")]
pub(crate) fn stop_orphan_groups(groups: &[(u32, RunId)], grace: std::time::Duration) -> Vec<u32> {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;

    let ours: Vec<(u32, RunId)> = groups
        .iter()
        .copied()
        .filter(|&(pgid, run)| group_is_ours(pgid, run))
        .collect();
    for &(pgid, _) in &ours {
        let _ = killpg(Pid::from_raw(pgid as i32), Signal::SIGTERM);
    }
    if !ours.is_empty() {
        let later = ours.clone();
        let spawned = std::thread::Builder::new()
            .name("taskorch-reaper".into())
            .spawn(move || {
                std::thread::sleep(grace);
                for (pgid, run) in later {
                    // Checked again: in between, the group may have ended
                    // and its id been reused by someone else's.
                    if group_is_ours(pgid, run) {
                        let _ = killpg(Pid::from_raw(pgid as i32), Signal::SIGKILL);
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no thread for SIGKILL; groups got SIGTERM only");
        }
    }
    ours.into_iter().map(|(pgid, _)| pgid).collect()
}

/// Whether a live member of process group `pgid` carries run `run`'s id in
/// its environment (every process of a run does, and its descendants
/// inherit it), so a pid reused by another program is never signalled.
#[cfg(target_os = "linux")]
fn group_is_ours(pgid: u32, run: RunId) -> bool {
    let needle = format!("{}={run}", super::RUN_ID_ENV);
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten().any(|entry| {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            return false;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // Fields after the parenthesised command: state, ppid, pgrp.
        let mut rest = stat.rsplit(')').next().unwrap_or("").split_whitespace();
        let state = rest.next();
        let pgrp = rest.nth(1).and_then(|p| p.parse::<u32>().ok());
        if pgrp != Some(pgid) || matches!(state, Some("Z") | Some("X")) {
            return false;
        }
        std::fs::read(format!("/proc/{pid}/environ"))
            .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == needle.as_bytes()))
    })
}

/// Elsewhere a recycled pid cannot be told from ours, so nothing is
/// signalled: the run is still marked `Interrupted`.
#[cfg(not(target_os = "linux"))]
pub(crate) fn stop_orphan_groups(groups: &[(u32, RunId)], _grace: std::time::Duration) -> Vec<u32> {
    if !groups.is_empty() {
        tracing::warn!(
            groups = groups.len(),
            "process groups of interrupted runs were not checked or stopped on this platform"
        );
    }
    Vec::new()
}
