//! Process groups a crashed predecessor left running: on start, the store
//! hands over the groups of runs it found `Running` (see
//! `store::recover`), and those still alive *and ours* are stopped.

use crate::run::RunId;

/// Stop the process groups of interrupted runs that are still alive and
/// ours: SIGTERM now, SIGKILL after `grace` (on a thread of its own, so a
/// start does not wait). Returns the groups signalled.
#[cfg(target_os = "linux")]
pub(crate) fn stop_orphan_groups(groups: &[(u32, RunId)], grace: std::time::Duration) -> Vec<u32> {
    use super::procfs::group_carries;
    use super::unix::signal_group;
    use nix::sys::signal::Signal;

    let ours: Vec<(u32, RunId)> = groups
        .iter()
        .copied()
        .filter(|&(pgid, run)| group_carries(pgid, run))
        .collect();
    for &(pgid, _) in &ours {
        let _ = signal_group(pgid, Some(Signal::SIGTERM));
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
                    if group_carries(pgid, run) {
                        let _ = signal_group(pgid, Some(Signal::SIGKILL));
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no thread for SIGKILL; groups got SIGTERM only");
        }
    }
    ours.into_iter().map(|(pgid, _)| pgid).collect()
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
