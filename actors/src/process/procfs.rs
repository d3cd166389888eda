//! What `/proc` says about process groups (Linux), for the questions a
//! signal cannot answer: `killpg(pgid, 0)` succeeds while the group holds
//! only zombies, which have exited and merely wait for their parent.

/// Whether process group `pgid` has a member that has not exited (zombies
/// do not count). Elsewhere than Linux there is no `/proc` to ask, so a
/// group that still answers signals is taken as alive.
#[cfg(target_os = "linux")]
pub(crate) fn group_has_live_member(pgid: u32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.filter_map(|entry| entry.ok())
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .any(|stat| {
            let (state, group) = state_and_group(&stat);
            group == Some(pgid) && !matches!(state, Some("Z") | Some("X") | None)
        })
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn group_has_live_member(_pgid: u32) -> bool {
    true
}

/// The state letter and process group of a `/proc/<pid>/stat` line. The
/// command name is in parentheses and may hold spaces and parentheses, so
/// the fields are read after the last `)`: state, ppid, pgrp.
#[cfg(target_os = "linux")]
fn state_and_group(stat: &str) -> (Option<&str>, Option<u32>) {
    let mut fields = stat.rsplit(')').next().unwrap_or("").split_whitespace();
    let state = fields.next();
    let group = fields.nth(1).and_then(|f| f.parse().ok());
    (state, group)
}
