//! Injected faults of a service (feature `fault-injection`): queued in
//! the keeper, applied at the readiness they target (see
//! `Fault::CrashService`).

use tokio::time::Instant;

use super::{Keeper, TRACE_ACTOR};
use crate::trace::{EventKind, Outcome as TraceOutcome};

/// A pending injected fault.
pub(super) struct PendingFault {
    pub(super) fault: crate::fault::Fault,
    /// Readiness events still to go; fires at 1.
    pub(super) left: u32,
}

impl Keeper {
    /// Apply the faults due at this readiness.
    pub(super) fn on_ready(
        &mut self,
        record: &crate::registry::RunRecord,
        stop: &tokio_util::sync::CancellationToken,
        stall_end: &mut Option<Instant>,
        exit_as: &mut Option<(i32, &'static str)>,
    ) {
        use crate::fault::Fault;
        let mut due = Vec::new();
        self.faults.retain_mut(|p| {
            if p.left <= 1 {
                due.push(p.fault.clone());
                false
            } else {
                p.left -= 1;
                true
            }
        });
        let ctx = &self.table.ctx;
        for fault in due {
            ctx.faults().service_fault_fired();
            ctx.trace().note(
                TRACE_ACTOR,
                fault.name(),
                EventKind::Fault,
                TraceOutcome::Ok,
                None,
                Some(record.id()),
            );
            match fault {
                Fault::CrashService | Fault::ExitService(_) => {
                    if let Fault::ExitService(code) = fault {
                        *exit_as = Some((code, fault.name()));
                    }
                    match record.pid() {
                        Some(pid) => crate::process::signal_group(pid, None),
                        // An action: dropped as a failure.
                        None => {
                            if exit_as.is_none() {
                                *exit_as = Some((1, fault.name()));
                            }
                            stop.cancel();
                        }
                    }
                }
                Fault::StallService(d) => {
                    if let Some(pid) = record.pid() {
                        crate::process::freeze_group(pid, true);
                    }
                    *stall_end = Some(crate::duration::after(Instant::now(), d));
                }
                _ => {}
            }
        }
    }

    /// End an injected stall.
    pub(super) fn thaw(&self, record: &crate::registry::RunRecord) {
        if let Some(pid) = record.pid() {
            crate::process::freeze_group(pid, false);
        }
    }
}
