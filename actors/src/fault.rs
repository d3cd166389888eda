//! Fault injection (cargo feature `fault-injection`): make an actor fail on
//! purpose, to test what the rest of the system does about it.
//!
//! Faults are queued per actor name in a [`FaultPlan`] held by the runtime
//! context (outside the actors, so a fault can target the *next*
//! incarnation too) and consumed by the actor at the start of its next
//! message, before the message is handled.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

/// A fault to inject into an actor.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Panic while handling the next message. The caller of that message
    /// gets `Error::ActorFailed`; the supervisor restarts the actor.
    PanicNextMessage,
    /// Sleep this long before handling the next message (a slow actor).
    DelayNextMessage(Duration),
}

/// Pending faults by actor name.
#[derive(Debug, Default)]
pub struct FaultPlan {
    // Fast path: handlers check this flag and skip the lock when nothing is
    // pending, so an armed build costs one relaxed load per message.
    armed: AtomicBool,
    pending: Mutex<HashMap<String, VecDeque<Fault>>>,
}

impl FaultPlan {
    /// Queue `fault` for the next message of `actor` ("executor", ...).
    pub fn inject(&self, actor: &str, fault: Fault) {
        self.pending
            .lock()
            .entry(actor.to_string())
            .or_default()
            .push_back(fault);
        self.armed.store(true, Ordering::Release);
    }

    /// Take the next fault queued for `actor`.
    pub(crate) fn take(&self, actor: &str) -> Option<Fault> {
        if !self.armed.load(Ordering::Acquire) {
            return None;
        }
        let mut pending = self.pending.lock();
        let fault = pending.get_mut(actor).and_then(VecDeque::pop_front);
        if pending.values().all(VecDeque::is_empty) {
            self.armed.store(false, Ordering::Release);
        }
        fault
    }

    /// Apply the next fault queued for `actor`, if any.
    pub(crate) async fn apply(&self, actor: &str) {
        match self.take(actor) {
            Some(Fault::PanicNextMessage) => panic!("injected fault: {actor} panics"),
            Some(Fault::DelayNextMessage(delay)) => tokio::time::sleep(delay).await,
            None => {}
        }
    }
}
