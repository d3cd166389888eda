//! Fault injection (cargo feature `fault-injection`): make an actor fail on
//! purpose, to test what the rest of the system does about it.
//!
//! Faults are queued per actor in a [`FaultPlan`] held by the runtime
//! context (outside the actors, so a fault can target the *next*
//! incarnation too). Message faults are consumed by `Context::handle` as
//! the message arrives, before it is handled; `KillChildProcess` is
//! consumed where the actor's work spawns a process; `PanicInRun` where a
//! run of the actor is started.
//!
//! # Which message a fault hits
//! - An untargeted fault ([`FaultTarget::next`]) hits the next message of
//!   the actor, whatever its kind. Several queue up: the first hits the
//!   next message, the second the one after.
//! - A targeted fault ([`FaultTarget::message`]) counts only messages of
//!   its kind, from the moment it is injected, and hits the `nth`
//!   (`.nth(3)`: the third `Launch` from now). Targeted faults are checked
//!   before untargeted ones; one message takes at most one fault.
//! - `DropReply` counts only messages that carry a reply (a timer tick has
//!   none: dropping it would lose work silently instead of testing what a
//!   caller sees).
//! - `KillChildProcess` counts processes spawned for the actor's work
//!   (`.nth(2)`: the second one from now); it takes no message kind.
//! - `PanicInRun` counts runs the actor starts (`.nth(2)`: the second run
//!   from now); it takes no message kind either. The batch coordinator's
//!   runs include those of task graphs. Pools start no runs: the pool
//!   actors refuse it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

mod kinds;

use crate::error::{Error, Result};
use crate::store::FaultSwitch;
use crate::trace::MessageInfo;

/// A fault to inject into an actor.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Panic while handling the message. The caller of that message gets
    /// `Error::ActorFailed`; the supervisor restarts the actor.
    PanicNextMessage,
    /// Sleep this long before handling the message (a slow actor: the
    /// messages behind it wait, which shows as queue time in the trace).
    DelayNextMessage(Duration),
    /// The handler returns an error instead of handling the message: the
    /// actor fails and the supervisor restarts it. The caller gets
    /// `Error::ActorFailed`.
    ErrorNextMessage,
    /// SIGKILL (the whole process group of) the next process spawned for
    /// this actor's work, right after the spawn. For "pool_keeper" or
    /// "pool_worker", the next pool worker process.
    KillChildProcess,
    /// Drop the message unhandled together with its reply, as a handler
    /// that loses its reply port would. The reply guard still answers:
    /// the caller gets `Error::ActorFailed`, never a hang. The actor keeps
    /// running.
    DropReply,
    /// Panic inside the run task of the next run this actor starts, once
    /// the run is registered and `Running`: for a process run right after
    /// its process is spawned (so the unwind must clean the process group
    /// up too), for an action run before its action is called. The run
    /// must still end in a terminal status, its caller and waiters must
    /// hear of it, and nothing may be left behind. Targets the actors that
    /// own runs: "executor", "batch" (batches and graphs), "launcher",
    /// "scheduler".
    PanicInRun,
    /// Fail the next `n` commits of the durable store's writer (actor
    /// name "store"; needs `Config::store`) as a full or failing disk
    /// would: the commit's write fails with `ENOSPC` inside redb, which
    /// rolls it back and latches the database handle (`PreviousIo`), so
    /// the store's reopen path runs exactly as after a real I/O error.
    FailCommits(u32),
    /// Crash a supervised service (target: the service's name): SIGKILL
    /// its current process group, or drop an action service's future as a
    /// failure. Its restart policy decides what follows. With
    /// `FaultTarget::next().nth(n)`, it hits the `n`th time the service is
    /// ready from now (a service ready now counts as the first).
    CrashService,
    /// Stall a supervised service for this long: SIGSTOP its process group,
    /// then SIGCONT (an action service's future is not polled meanwhile).
    /// A liveness check may catch it. Targets as `CrashService`.
    StallService(Duration),
    /// End a supervised service's current incarnation as if it had exited
    /// with this code (its group is killed; the restart policy sees the
    /// code: 0 is a clean exit). Targets as `CrashService`.
    ExitService(i32),
}

impl Fault {
    /// The fault's name, as in the trace.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::PanicNextMessage => "PanicNextMessage",
            Fault::DelayNextMessage(_) => "DelayNextMessage",
            Fault::ErrorNextMessage => "ErrorNextMessage",
            Fault::KillChildProcess => "KillChildProcess",
            Fault::DropReply => "DropReply",
            Fault::PanicInRun => "PanicInRun",
            Fault::FailCommits(_) => "FailCommits",
            Fault::CrashService => "CrashService",
            Fault::StallService(_) => "StallService",
            Fault::ExitService(_) => "ExitService",
        }
    }

    /// Whether the fault counts messages (or else spawned processes or
    /// started runs, see the module docs).
    fn counts_messages(&self) -> bool {
        !matches!(
            self,
            Fault::KillChildProcess | Fault::PanicInRun | Fault::FailCommits(_)
        ) && !self.is_service_fault()
    }

    /// Whether the fault targets a supervised service (by its name).
    pub fn is_service_fault(&self) -> bool {
        matches!(
            self,
            Fault::CrashService | Fault::StallService(_) | Fault::ExitService(_)
        )
    }
}

/// Panic as an injected fault: the quiet panic hook reports a planned
/// panic as one `tracing` event only (see `panic_hook`).
pub(crate) fn injected_panic(message: String) -> ! {
    crate::panic_hook::planned(message)
}

/// Which message (or spawned process) of an actor a fault hits; see the
/// module docs.
///
/// ```
/// # use taskorch_actors::FaultTarget;
/// let third_launch = FaultTarget::message("Launch").nth(3);
/// let next_message = FaultTarget::next();
/// # let _ = (third_launch, next_message);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultTarget {
    kind: Option<String>,
    nth: u32,
}

impl Default for FaultTarget {
    fn default() -> Self {
        FaultTarget::next()
    }
}

impl FaultTarget {
    /// The next message, whatever its kind (for `KillChildProcess`: the
    /// next spawned process).
    pub fn next() -> Self {
        FaultTarget { kind: None, nth: 1 }
    }

    /// The next message of `kind`: the message enum's variant name, as the
    /// trace shows it ("Run", "Stream", "Start", "Launch", "Add", "Tick",
    /// "Open", "Resize", "Retire", "Status", ...).
    pub fn message(kind: impl Into<String>) -> Self {
        FaultTarget {
            kind: Some(kind.into()),
            nth: 1,
        }
    }

    /// The `n`th such message (or process) from now instead of the next;
    /// `nth(1)` is the next one.
    pub fn nth(mut self, n: u32) -> Self {
        self.nth = n;
        self
    }

    /// The message kind, if the target names one.
    pub fn kind(&self) -> Option<&str> {
        self.kind.as_deref()
    }

    /// Which one of the counted messages (or processes) is hit, from 1.
    pub fn count(&self) -> u32 {
        self.nth
    }
}

/// Counts of a runtime's injected faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultStats {
    /// Faults ever injected (accepted).
    pub injected: u64,
    /// Faults that hit their message or process.
    pub fired: u64,
    /// Faults still waiting for theirs.
    pub pending: usize,
}

/// The name `Fault::FailCommits` is injected under: the store's writer is
/// not an actor, and takes no other fault.
pub const STORE_FAULT_TARGET: &str = "store";

/// The actors faults can target, with the message kinds each handles.
const ACTORS: &[(&str, &[&str])] = kinds::TARGETS;

/// The actors faults can target (child names, plus "pool_worker"), with
/// the message kinds each handles.
pub fn fault_targets() -> &'static [(&'static str, &'static [&'static str])] {
    ACTORS
}

/// A fault waiting for its message.
#[derive(Debug)]
struct Armed {
    actor: &'static str,
    kind: Option<&'static str>,
    /// Counted messages (or processes) still to go; fires at 1.
    left: u32,
    fault: Fault,
}

/// What `Context::handle` does with a message, after faults.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Handle it.
    Handle,
    /// Return this error from the handler.
    Fail(String),
    /// Drop it, and its reply, unhandled.
    DropReply,
}

/// Pending faults (see the module docs).
#[derive(Debug, Default)]
pub struct FaultPlan {
    // Fast path: handlers check this flag and skip the lock when nothing is
    // pending, so an armed build costs one relaxed load per message.
    armed: AtomicBool,
    pending: Mutex<Vec<Armed>>,
    injected: AtomicU64,
    fired: AtomicU64,
    /// The store's fault switch, when the runtime has a store.
    store: OnceLock<Arc<FaultSwitch>>,
    /// The application's own supervised actors, with the message kinds
    /// each declares (see [`register_actor`](Self::register_actor)).
    users: RwLock<Vec<(&'static str, &'static [&'static str])>>,
    /// Where faults for supervised services go, by service name (the
    /// services sit above the plan: each registers its own sink).
    services: ServiceSinks,
}

/// The fault sinks of the supervised services, by name.
#[derive(Default)]
struct ServiceSinks(Mutex<std::collections::HashMap<String, ServiceSink>>);

impl std::fmt::Debug for ServiceSinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.lock().keys()).finish()
    }
}

/// Hands a service fault (and the readiness count it fires at) to a
/// service's keeper.
pub(crate) type ServiceSink = Arc<dyn Fn(Fault, u32) + Send + Sync>;

impl FaultPlan {
    /// Queue `fault` for the next message of `actor` ("executor", ...).
    /// An actor no fault can target is refused with a warning in the log;
    /// [`inject_at`](Self::inject_at) returns the error instead.
    pub fn inject(&self, actor: &str, fault: Fault) {
        if let Err(e) = self.inject_at(actor, &FaultTarget::next(), fault) {
            tracing::warn!(error = %e, "fault not injected");
        }
    }

    /// Queue `fault` for the message (or spawned process) of `actor` that
    /// `target` names.
    ///
    /// # Errors
    /// `InvalidFault` for an actor faults cannot target (the root
    /// supervisor, an unknown name), a message kind the actor does not
    /// handle, a count of zero, or a message kind given with
    /// `KillChildProcess`.
    pub fn inject_at(&self, actor: &str, target: &FaultTarget, fault: Fault) -> Result<()> {
        let invalid = |reason: String| Error::InvalidFault {
            actor: actor.to_string(),
            reason,
        };
        if actor == STORE_FAULT_TARGET || matches!(fault, Fault::FailCommits(_)) {
            return self.inject_store(actor, target, fault);
        }
        let user = self
            .users
            .read()
            .iter()
            .find(|(name, _)| *name == actor)
            .copied();
        if let Some((name, kinds)) = user {
            return self.inject_user(name, kinds, target, fault);
        }
        if fault.is_service_fault() {
            return self.inject_service(actor, target, fault);
        }
        let Some(&(name, kinds)) = ACTORS.iter().find(|(name, _)| *name == actor) else {
            let mut known: Vec<&str> = ACTORS.iter().map(|(name, _)| *name).collect();
            known.extend(self.users.read().iter().map(|(name, _)| *name));
            let reason = if actor == "supervisor" {
                "the root supervisor takes no faults (nothing would restart it)".to_string()
            } else {
                format!("no such actor; faults can target {}", known.join(", "))
            };
            return Err(invalid(reason));
        };
        if target.nth == 0 {
            return Err(invalid(
                "nth counts from 1 (nth(1) is the next message)".to_string(),
            ));
        }
        if fault == Fault::PanicInRun && kinds::POOLS.contains(&name) {
            return Err(invalid(
                "PanicInRun needs an actor that starts runs; pools start none".to_string(),
            ));
        }
        let kind = match (&target.kind, &fault) {
            (None, _) => None,
            (Some(_), Fault::KillChildProcess) => {
                return Err(invalid(
                    "KillChildProcess counts spawned processes, not messages: give no message kind"
                        .to_string(),
                ));
            }
            (Some(_), Fault::PanicInRun) => {
                return Err(invalid(
                    "PanicInRun counts started runs, not messages: give no message kind"
                        .to_string(),
                ));
            }
            (Some(kind), _) => {
                Some(*kinds.iter().find(|k| **k == kind.as_str()).ok_or_else(|| {
                    invalid(format!(
                        "{name} handles no {kind:?} messages; it handles {}",
                        kinds.join(", ")
                    ))
                })?)
            }
        };
        self.pending.lock().push(Armed {
            actor: name,
            kind,
            left: target.nth,
            fault,
        });
        self.injected.fetch_add(1, Ordering::Relaxed);
        self.armed.store(true, Ordering::Release);
        Ok(())
    }

    /// Make the application's actor `name` a fault target; `kinds` are
    /// the message kinds it declares (`FaultTarget::message` must name
    /// one of them; with none declared, only untargeted faults apply).
    /// Registering a name again replaces its kinds.
    pub fn register_actor(&self, name: &'static str, kinds: &'static [&'static str]) {
        let mut users = self.users.write();
        match users.iter_mut().find(|(known, _)| *known == name) {
            Some(entry) => entry.1 = kinds,
            None => users.push((name, kinds)),
        }
    }

    /// A fault for one of the application's actors: it only handles
    /// messages (no runs, no processes of taskorch's).
    fn inject_user(
        &self,
        name: &'static str,
        kinds: &'static [&'static str],
        target: &FaultTarget,
        fault: Fault,
    ) -> Result<()> {
        let invalid = |reason: String| Error::InvalidFault {
            actor: name.to_string(),
            reason,
        };
        if !fault.counts_messages() {
            return Err(invalid(format!(
                "{} does not apply to an application's actor (it starts no runs or processes \
                 of taskorch's); message faults do",
                fault.name()
            )));
        }
        if target.nth == 0 {
            return Err(invalid(
                "nth counts from 1 (nth(1) is the next message)".to_string(),
            ));
        }
        let kind = match &target.kind {
            None => None,
            Some(kind) => Some(*kinds.iter().find(|k| **k == kind.as_str()).ok_or_else(|| {
                invalid(if kinds.is_empty() {
                    format!(
                        "its message type declares no KINDS, so no {kind:?} can be aimed at; \
                         use FaultTarget::next()"
                    )
                } else {
                    format!(
                        "{name} handles no {kind:?} messages; it handles {}",
                        kinds.join(", ")
                    )
                })
            })?),
        };
        self.pending.lock().push(Armed {
            actor: name,
            kind,
            left: target.nth,
            fault,
        });
        self.injected.fetch_add(1, Ordering::Relaxed);
        self.armed.store(true, Ordering::Release);
        Ok(())
    }

    /// Connect the store's fault switch (once, by the runtime's context).
    pub(crate) fn attach_store(&self, switch: Arc<FaultSwitch>) {
        let _ = self.store.set(switch);
    }

    /// `FailCommits` for the store's writer: the only fault it takes, and
    /// it takes no target but the next commit.
    fn inject_store(&self, actor: &str, target: &FaultTarget, fault: Fault) -> Result<()> {
        let invalid = |reason: &str| Error::InvalidFault {
            actor: actor.to_string(),
            reason: reason.to_string(),
        };
        let n = match (actor, fault) {
            (STORE_FAULT_TARGET, Fault::FailCommits(n)) => n,
            (STORE_FAULT_TARGET, _) => {
                return Err(invalid("the store takes only FailCommits"));
            }
            (_, _) => {
                return Err(invalid(
                    "FailCommits targets the store's writer: inject it into \"store\"",
                ));
            }
        };
        if n == 0 {
            return Err(invalid("FailCommits(0) fails nothing"));
        }
        if *target != FaultTarget::next() {
            return Err(invalid(
                "FailCommits counts commits from the next one: give FaultTarget::next()",
            ));
        }
        let Some(switch) = self.store.get() else {
            return Err(invalid(
                "this orchestrator has no store (Config::store): nothing to fail",
            ));
        };
        switch.fail_commits(n);
        self.injected.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Register the fault sink of service `name` (replacing an earlier
    /// one of that name).
    pub(crate) fn attach_service(&self, name: &str, sink: ServiceSink) {
        self.services.0.lock().insert(name.to_string(), sink);
    }

    /// Forget service `name`'s sink (the service was removed).
    pub(crate) fn detach_service(&self, name: &str) {
        self.services.0.lock().remove(name);
    }

    /// A service fault: handed to the service's keeper at once, which
    /// applies it at the `nth` readiness.
    fn inject_service(&self, actor: &str, target: &FaultTarget, fault: Fault) -> Result<()> {
        let invalid = |reason: String| Error::InvalidFault {
            actor: actor.to_string(),
            reason,
        };
        if target.kind.is_some() {
            return Err(invalid(format!(
                "{} counts readiness of the service, not messages: give no message kind",
                fault.name()
            )));
        }
        if target.nth == 0 {
            return Err(invalid(
                "nth counts from 1 (nth(1) is the next time)".into(),
            ));
        }
        if let Fault::StallService(d) = fault
            && d.is_zero()
        {
            return Err(invalid("StallService(0) stalls nothing".into()));
        }
        let Some(sink) = self.services.0.lock().get(actor).cloned() else {
            return Err(invalid(format!(
                "{} targets a supervised service by name, and no service is called {actor:?}",
                fault.name()
            )));
        };
        self.injected.fetch_add(1, Ordering::Relaxed);
        sink(fault, target.nth);
        Ok(())
    }

    /// Count a service fault as fired (by the service's keeper).
    pub(crate) fn service_fault_fired(&self) {
        self.fired.fetch_add(1, Ordering::Relaxed);
    }

    /// Drop every pending fault; returns how many there were.
    pub fn clear(&self) -> usize {
        let mut pending = self.pending.lock();
        let n = pending.len();
        pending.clear();
        self.armed.store(false, Ordering::Release);
        n + self.store.get().map_or(0, |s| s.clear())
    }

    /// Faults injected, fired, pending.
    pub fn stats(&self) -> FaultStats {
        let (store_fired, store_pending) = self.store.get().map_or((0, 0), |s| s.stats());
        FaultStats {
            injected: self.injected.load(Ordering::Relaxed),
            fired: self.fired.load(Ordering::Relaxed) + store_fired,
            pending: self.pending.lock().len() + store_pending,
        }
    }

    /// The fault for this message of `actor`, if one is due.
    pub(crate) fn take_for_message(
        &self,
        actor: &str,
        kind: &str,
        has_reply: bool,
    ) -> Option<Fault> {
        if !self.armed.load(Ordering::Acquire) {
            return None;
        }
        let mut pending = self.pending.lock();
        let counts = |a: &Armed| {
            a.actor == actor
                && a.fault.counts_messages()
                && (has_reply || a.fault != Fault::DropReply)
        };
        let mut fire = None;
        for (i, armed) in pending.iter_mut().enumerate() {
            if !counts(armed) || armed.kind.is_none_or(|k| k != kind) {
                continue;
            }
            if armed.left > 1 {
                armed.left -= 1;
            } else if fire.is_none() {
                fire = Some(i);
            }
            // A second one due on the same message stays at 1: it hits the
            // next matching message.
        }
        if fire.is_none()
            && let Some((i, armed)) = pending
                .iter_mut()
                .enumerate()
                .find(|(_, a)| a.actor == actor && a.kind.is_none() && a.fault.counts_messages())
            && counts(armed)
        {
            if armed.left > 1 {
                armed.left -= 1;
            } else {
                fire = Some(i);
            }
        }
        let fault = fire.map(|i| pending.remove(i).fault);
        self.settle(&pending, fault.is_some());
        fault
    }

    /// Whether the process just spawned for `actor`'s work is to be
    /// killed now.
    pub(crate) fn take_kill(&self, actor: &str) -> bool {
        self.take_counted(actor, &Fault::KillChildProcess)
    }

    /// Whether the run `actor` just started is to panic in its task.
    pub(crate) fn take_run_panic(&self, actor: &str) -> bool {
        self.take_counted(actor, &Fault::PanicInRun)
    }

    /// Count one event (a spawn, a run start) against the first pending
    /// `fault` of `actor`; whether it fires now.
    fn take_counted(&self, actor: &str, fault: &Fault) -> bool {
        if !self.armed.load(Ordering::Acquire) {
            return false;
        }
        let mut pending = self.pending.lock();
        let Some(i) = pending
            .iter()
            .position(|a| a.actor == actor && a.fault == *fault)
        else {
            return false;
        };
        let fire = pending[i].left <= 1;
        if fire {
            pending.remove(i);
        } else {
            pending[i].left -= 1;
        }
        self.settle(&pending, fire);
        fire
    }

    fn settle(&self, pending: &[Armed], fired: bool) {
        if fired {
            self.fired.fetch_add(1, Ordering::Relaxed);
        }
        if pending.is_empty() {
            self.armed.store(false, Ordering::Release);
        }
    }

    /// Apply the fault due for this message of `actor`, if any.
    pub(crate) async fn before(&self, actor: &str, info: &MessageInfo) -> Verdict {
        let kind = info.kind();
        match self.take_for_message(actor, kind, info.has_reply) {
            Some(Fault::PanicNextMessage) => {
                injected_panic(format!("injected fault: {actor} panics handling {kind}"))
            }
            Some(Fault::DelayNextMessage(delay)) => {
                tokio::time::sleep(delay).await;
                Verdict::Handle
            }
            Some(Fault::ErrorNextMessage) => Verdict::Fail(format!(
                "injected fault: {actor} returns an error handling {kind}"
            )),
            Some(Fault::DropReply) => Verdict::DropReply,
            Some(
                Fault::KillChildProcess
                | Fault::PanicInRun
                | Fault::FailCommits(_)
                | Fault::CrashService
                | Fault::StallService(_)
                | Fault::ExitService(_),
            )
            | None => Verdict::Handle,
        }
    }
}

/// Whether process `pid` is still alive (a zombie counts as dead: it has
/// exited and only waits to be reaped). The same as
/// `taskorch_actors::process::pid_alive`, kept here for fault tests.
pub fn process_alive(pid: u32) -> bool {
    crate::process::pid_alive(pid)
}

/// Whether any process of process group `pgid` is still alive (zombies
/// count as dead: they have exited and only wait to be reaped). For tests
/// and the chaos harness: a run's pid is its group's id, so this checks
/// the run's descendants too. The same as
/// `taskorch_actors::process::group_alive`.
pub fn process_group_alive(pgid: u32) -> bool {
    crate::process::group_alive(pgid)
}

#[cfg(test)]
mod tests;
