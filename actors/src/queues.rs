//! Execution permits, by priority and named queue.
//!
//! Every run takes one permit before it starts (the runner asks
//! [`Queues::acquire`] for it; a graph driver takes them for its tasks),
//! and gives it back when it ends. The permits are the global concurrency
//! cap (`Limits::max_concurrency`); who gets the next free one is decided
//! here, not first come first served:
//!
//! - **Priority, with aging.** Each waiter is ranked with
//!   [`Priority::aged_rank`] on a clock that counts the permits granted
//!   so far, with [`PERMIT_AGING`] ticks per level: the best-ranked waiter
//!   gets the next permit, so a waiting `High` run starts before waiting
//!   `Normal` ones, and a `Low` run that has watched `3 * PERMIT_AGING`
//!   permits go to newcomers ranks ahead of any newcomer (it cannot
//!   starve).
//! - **Named queues** ([`QueueSpec`], declared with [`Queues::declare`]):
//!   a waiter of a queue is eligible only while its queue is not paused,
//!   runs fewer than its concurrency limit, and has a token of its rate
//!   limit (a token bucket holding at most `starts` tokens, refilled
//!   continuously at `starts` per `per`: a burst of at most `starts`).
//!   Work that names no queue waits in the default queue, which has no
//!   limits of its own.
//!
//! A permit is handed over through a oneshot channel while the state's lock
//! is not held, so dropping a permit (which takes the lock) never
//! deadlocks; a waiter that gives up removes itself, and a permit sent to
//! one that gave up in between comes back when the channel drops it.
//!
//! With a store, declarations and pauses are journaled (table `queues`) and
//! restored on start (`Queues::restore`) before any recovered run waits
//! for a permit.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::metrics::DEFAULT_QUEUE;
use crate::priority::Priority;
use crate::store::{Op, QueueRow, Store};

/// Permits granted per priority level of aging (see the module docs): a
/// waiting run ranks one level higher for every this many permits granted
/// while it waits. Large enough that a `High` run overtakes a deep flood
/// of `Low` work queued up to `2 * PERMIT_AGING` grants before it; small
/// enough that `Low` work still starts under a flood of urgent work.
pub const PERMIT_AGING: u32 = 256;

/// A queue's rate limit: at most `starts` runs start per `per`, with a burst
/// of at most `starts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Starts allowed per interval (at least 1).
    pub starts: u32,
    /// The interval.
    pub per: Duration,
}

/// The declaration of a named queue (see the module docs): built with
/// [`QueueSpec::new`], declared with `Orchestrator::queue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    name: String,
    concurrency: Option<usize>,
    rate: Option<Rate>,
}

impl QueueSpec {
    /// A queue named `name`, limited only by the global cap until
    /// [`concurrency`](Self::concurrency) or [`rate`](Self::rate) says
    /// otherwise.
    pub fn new(name: impl Into<String>) -> Self {
        QueueSpec {
            name: name.into(),
            concurrency: None,
            rate: None,
        }
    }

    /// At most `n` runs of this queue execute at once (within the global
    /// cap). `0` is refused with `InvalidQueue` when declared.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n);
        self
    }

    /// At most `n` runs of this queue start per `per` (a token bucket with a
    /// burst of at most `n`). `n == 0` or a zero `per` is refused with
    /// `InvalidRate` when declared.
    pub fn rate(mut self, n: u32, per: Duration) -> Self {
        self.rate = Some(Rate { starts: n, per });
        self
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its concurrency limit, if it has one.
    pub fn concurrency_limit(&self) -> Option<usize> {
        self.concurrency
    }

    /// Its rate limit, if it has one.
    pub fn rate_limit(&self) -> Option<Rate> {
        self.rate
    }

    /// Check the spec.
    ///
    /// # Errors
    /// `InvalidQueue` for a bad name (see `Task::queue`), the reserved
    /// name `"default"`, or a concurrency of 0; `InvalidRate` for a rate of 0 starts, a zero interval or one
    /// over [`duration::MAX`](crate::duration::MAX). Each names the queue.
    pub fn validate(&self) -> Result<()> {
        crate::task::check_queue(&self.name)?;
        // Metrics give the global cap this name.
        if self.name == DEFAULT_QUEUE {
            return Err(Error::InvalidQueue {
                queue: self.name.clone(),
                reason: "the name \"default\" is reserved for work that names no queue".into(),
            });
        }
        if self.concurrency == Some(0) {
            return Err(Error::InvalidQueue {
                queue: self.name.clone(),
                reason: "a concurrency of 0 would never start anything: give at least 1".into(),
            });
        }
        if let Some(rate) = self.rate {
            let invalid = |reason: &str| {
                Err(Error::InvalidRate {
                    queue: self.name.clone(),
                    reason: reason.to_string(),
                })
            };
            if rate.starts == 0 {
                return invalid("a rate of 0 starts would never start anything");
            }
            if rate.per.is_zero() {
                return invalid("the interval of a rate must be longer than zero");
            }
            if rate.per > crate::duration::MAX {
                return invalid("the interval of a rate is at most 100 years");
            }
        }
        Ok(())
    }

    fn row(&self, paused: bool) -> QueueRow {
        QueueRow {
            concurrency: self.concurrency.map(|n| n as u64),
            rate: self.rate.map(|r| {
                let micros = u64::try_from(r.per.as_micros()).unwrap_or(u64::MAX);
                (r.starts, micros)
            }),
            paused,
        }
    }
}

/// One queue's state right now, for metrics ([`Queues::snapshot`]).
#[derive(Debug, Clone, PartialEq)]
pub struct QueueState {
    /// The queue's name; `None` for the default queue (work that names
    /// none).
    pub name: Option<String>,
    /// Runs waiting for a permit in it.
    pub depth: usize,
    /// Runs of it executing.
    pub running: usize,
    /// Whether it is paused.
    pub paused: bool,
    /// Its concurrency limit, if any.
    pub concurrency: Option<usize>,
    /// Its rate limit, if any.
    pub rate: Option<Rate>,
    /// Tokens in its bucket (starts it may make at once), with a rate.
    pub tokens: Option<f64>,
}

/// The permits of one runtime and its queues (see the module docs). Cheap
/// to clone.
#[derive(Clone)]
pub struct Queues {
    gate: Arc<Gate>,
}

impl std::fmt::Debug for Queues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queues")
            .field("free", &self.gate.state.lock().free)
            .finish_non_exhaustive()
    }
}

struct Gate {
    state: Mutex<State>,
    store: Store,
}

#[derive(Default)]
struct State {
    free: usize,
    // Permits owed back by lent permits dropped unreclaimed (see
    // `take_back`): paid from the next releases.
    debt: usize,
    // The aging clock: permits granted so far.
    clock: u64,
    // Arrival order, to break rank ties.
    seq: u64,
    default: Lane,
    lanes: HashMap<Arc<str>, Lane>,
}

type Key = (i64, u64);

#[derive(Default)]
struct Lane {
    limit: Option<usize>,
    bucket: Option<Bucket>,
    paused: bool,
    running: usize,
    waiters: BTreeMap<Key, oneshot::Sender<Permit>>,
    // A timer will dispatch again when the next token is due.
    timer: bool,
}

struct Bucket {
    rate: Rate,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn full(rate: Rate) -> Self {
        Bucket {
            rate,
            tokens: f64::from(rate.starts),
            last: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        let per = self.rate.per.as_secs_f64();
        let cap = f64::from(self.rate.starts);
        self.tokens = (self.tokens + elapsed / per * cap).min(cap);
        self.last = now;
    }

    // Float rounding may leave a hair under a whole token when one is due.
    fn has_token(&self) -> bool {
        self.tokens >= 1.0 - 1e-9
    }

    /// When the next whole token is due.
    fn next_token(&self) -> Instant {
        let missing = (1.0 - self.tokens).max(0.0);
        let secs = missing / f64::from(self.rate.starts) * self.rate.per.as_secs_f64();
        self.last + Duration::from_secs_f64(secs.min(crate::duration::MAX.as_secs_f64()))
    }
}

impl Lane {
    fn declared(spec: &QueueSpec, paused: bool) -> Self {
        Lane {
            limit: spec.concurrency,
            bucket: spec.rate.map(Bucket::full),
            paused,
            ..Lane::default()
        }
    }

    /// Whether its head may start now, ignoring the global cap; with a rate
    /// limit, `Err(when)` a token is due.
    fn ready(&mut self, now: Instant) -> std::result::Result<bool, Instant> {
        if self.waiters.is_empty() || self.paused {
            return Ok(false);
        }
        if self.limit.is_some_and(|limit| self.running >= limit) {
            return Ok(false);
        }
        if let Some(bucket) = &mut self.bucket {
            bucket.refill(now);
            if !bucket.has_token() {
                return Err(bucket.next_token());
            }
        }
        Ok(true)
    }

    fn spec(&self, name: &str) -> QueueSpec {
        QueueSpec {
            name: name.to_string(),
            concurrency: self.limit,
            rate: self.bucket.as_ref().map(|b| b.rate),
        }
    }
}

impl State {
    fn lane(&mut self, name: Option<&str>) -> &mut Lane {
        match name.and_then(|n| self.lanes.get_mut(n)) {
            Some(lane) => lane,
            None => &mut self.default,
        }
    }

    /// The declared name `name` is kept under (shared by its permits), or
    /// `None` for the default queue (also for a name not declared, which
    /// `check` refuses at submit).
    fn lane_name(&self, name: Option<&str>) -> Option<Arc<str>> {
        name.and_then(|n| self.lanes.get_key_value(n))
            .map(|(k, _)| Arc::clone(k))
    }
}

/// One execution permit: one slot of the global cap, and one of its
/// queue's. Dropping it frees both.
pub struct Permit {
    gate: Arc<Gate>,
    lane: Option<Arc<str>>,
    // Dissolved permits (see `dissolve`) give nothing back.
    live: bool,
}

impl std::fmt::Debug for Permit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permit").field("queue", &self.lane).finish()
    }
}

impl Permit {
    /// Keep the global slot taken but give the queue's slot back and drop
    /// the permit (a lent permit being reclaimed: the run's own permit
    /// still counts it in its queue and gives the slot back at its end).
    pub(crate) fn dissolve(mut self) {
        self.live = false;
        let mut state = self.gate.state.lock();
        let lane = state.lane(self.lane.as_deref());
        lane.running = lane.running.saturating_sub(1);
        // Nothing to dispatch: no slot of the global cap came free, and the
        // default queue (the only one reclaiming permits) has no limit.
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.live {
            self.gate.release(self.lane.as_deref());
        }
    }
}

/// A wait for a permit ([`Queues::acquire`]). Cancel safe: dropped, it
/// leaves the queue, and a permit granted meanwhile is given back.
#[must_use = "a permit is granted only to a waiter that is polled"]
pub struct Acquire {
    // Granted at once (nobody waited and the queue could start): no
    // channel, no waiter entry — the common, uncontended case.
    ready: Option<Permit>,
    rx: Option<oneshot::Receiver<Permit>>,
    gate: Arc<Gate>,
    lane: Option<Arc<str>>,
    key: Key,
    done: bool,
}

impl std::fmt::Debug for Acquire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acquire")
            .field("queue", &self.lane)
            .finish()
    }
}

impl Future for Acquire {
    type Output = Permit;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Permit> {
        if let Some(permit) = self.ready.take() {
            self.done = true;
            return Poll::Ready(permit);
        }
        let Some(rx) = self.rx.as_mut() else {
            unreachable!("an Acquire without a channel was granted at once and polled once")
        };
        match Pin::new(rx).poll(cx) {
            Poll::Ready(Ok(permit)) => {
                self.done = true;
                Poll::Ready(permit)
            }
            // The sender sits in the gate this future holds, and leaves it
            // only by sending: it is never dropped unsent.
            Poll::Ready(Err(_)) => unreachable!("a waiter's sender is dropped only by sending"),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        // Granted at once: the permit (if not taken) drops with `ready`.
        if self.done || self.rx.is_none() {
            return;
        }
        let mut state = self.gate.state.lock();
        let lane = state.lane(self.lane.as_deref());
        lane.waiters.remove(&self.key);
        // A permit already sent drops with `rx`, after the lock is released.
    }
}

impl Queues {
    /// `permits` permits (at least 1), no queue declared; declarations and
    /// pauses are journaled to `store`.
    pub fn new(permits: usize, store: Store) -> Self {
        let state = State {
            free: permits.max(1),
            ..State::default()
        };
        Queues {
            gate: Arc::new(Gate {
                state: Mutex::new(state),
                store,
            }),
        }
    }

    /// Wait for a permit for work of `priority` in `queue` (`None`: the
    /// default queue). The wait begins now (not at the first poll).
    ///
    /// # Cancel safety
    /// Cancel safe (see [`Acquire`]).
    pub fn acquire(&self, priority: Priority, queue: Option<&str>) -> Acquire {
        let (tx, rx) = {
            let mut state = self.gate.state.lock();
            if let Some(permit) = self.grant_at_once(&mut state, queue) {
                return Acquire {
                    ready: Some(permit),
                    rx: None,
                    gate: Arc::clone(&self.gate),
                    lane: None,
                    key: (0, 0),
                    done: false,
                };
            }
            drop(state);
            oneshot::channel()
        };
        let (lane, key, grants) = {
            let mut state = self.gate.state.lock();
            state.seq += 1;
            let key = (priority.aged_rank(state.clock, PERMIT_AGING), state.seq);
            let lane = state.lane_name(queue);
            state.lane(lane.as_deref()).waiters.insert(key, tx);
            (lane, key, self.gate.dispatch(&mut state))
        };
        hand_over(grants);
        Acquire {
            ready: None,
            rx: Some(rx),
            gate: Arc::clone(&self.gate),
            lane,
            key,
            done: false,
        }
    }

    /// A permit for `queue` without queueing, when a slot is free, nobody
    /// waits in any queue (so no one ranks before us) and `queue` may
    /// start now: what [`Gate::dispatch`] would decide, without the
    /// waiter's channel and map entry.
    fn grant_at_once(&self, state: &mut State, queue: Option<&str>) -> Option<Permit> {
        if state.free == 0
            || !state.default.waiters.is_empty()
            || state.lanes.values().any(|lane| !lane.waiters.is_empty())
        {
            return None;
        }
        let name = state.lane_name(queue);
        let lane = state.lane(name.as_deref());
        if lane.paused || lane.limit.is_some_and(|limit| lane.running >= limit) {
            return None;
        }
        if let Some(bucket) = &mut lane.bucket {
            bucket.refill(Instant::now());
            if !bucket.has_token() {
                return None;
            }
            bucket.tokens -= 1.0;
        }
        lane.running += 1;
        state.free -= 1;
        state.clock += 1;
        Some(Permit {
            gate: Arc::clone(&self.gate),
            lane: name,
            live: true,
        })
    }

    /// A permit of the default queue at once, if one is free and nobody
    /// eligible waits for it.
    pub fn try_acquire(&self) -> Option<Permit> {
        let mut state = self.gate.state.lock();
        // Dispatch runs on every change, so a free permit means no eligible
        // waiter is left.
        if state.free == 0 {
            return None;
        }
        state.free -= 1;
        state.clock += 1;
        state.default.running += 1;
        Some(Permit {
            gate: Arc::clone(&self.gate),
            lane: None,
            live: true,
        })
    }

    /// Permits of the global cap free right now.
    pub fn free(&self) -> usize {
        self.gate.state.lock().free
    }

    /// Add a permit to the global cap for a while (a run lending its own,
    /// see `Context::lend_permit`).
    pub(crate) fn lend(&self) {
        self.gate.release_global();
    }

    /// Take back a lent permit without waiting: a free one now, or the next
    /// one released.
    pub(crate) fn take_back(&self) {
        let mut state = self.gate.state.lock();
        if state.free > 0 {
            state.free -= 1;
        } else {
            state.debt += 1;
        }
    }

    /// `Ok` if `queue` is `None` or declared.
    ///
    /// # Errors
    /// `UnknownQueue(name)` for a queue never declared.
    pub fn check(&self, queue: Option<&str>) -> Result<()> {
        match queue {
            Some(name) if !self.gate.state.lock().lanes.contains_key(name) => {
                Err(Error::UnknownQueue(name.to_string()))
            }
            _ => Ok(()),
        }
    }

    /// Declare `spec`'s queue, or update its limits (its waiters, runs and
    /// paused state stay). Durable once this returns, with a store.
    ///
    /// # Errors
    /// What [`QueueSpec::validate`] returns (nothing changed); `Store` if
    /// the commit failed.
    pub async fn declare(&self, spec: &QueueSpec) -> Result<()> {
        spec.validate()?;
        let grants = {
            let mut state = self.gate.state.lock();
            let paused = match state.lanes.get_mut(spec.name.as_str()) {
                Some(lane) => {
                    lane.limit = spec.concurrency;
                    let same_rate = lane.bucket.as_ref().map(|b| b.rate) == spec.rate;
                    if !same_rate {
                        lane.bucket = spec.rate.map(Bucket::full);
                    }
                    lane.paused
                }
                None => {
                    state
                        .lanes
                        .insert(Arc::from(spec.name.as_str()), Lane::declared(spec, false));
                    false
                }
            };
            self.journal(spec, paused);
            self.gate.dispatch(&mut state)
        };
        hand_over(grants);
        self.gate.store.sync().await
    }

    /// Pause (`true`) or resume (`false`) the queue `name`: while paused,
    /// none of its waiting work starts; what runs goes on. Durable once
    /// this returns, with a store.
    ///
    /// # Errors
    /// `UnknownQueue(name)` if it was never declared; `Store` if the
    /// commit failed.
    pub async fn set_paused(&self, name: &str, paused: bool) -> Result<()> {
        let grants = {
            let mut state = self.gate.state.lock();
            let Some(lane) = state.lanes.get_mut(name) else {
                return Err(Error::UnknownQueue(name.to_string()));
            };
            lane.paused = paused;
            let spec = lane.spec(name);
            self.journal(&spec, paused);
            self.gate.dispatch(&mut state)
        };
        hand_over(grants);
        self.gate.store.sync().await
    }

    /// Declare again the queues a store held (at start, before any run
    /// waits). A row whose limits are no longer valid is skipped and
    /// logged: its runs wait in the default queue.
    pub(crate) fn restore(&self, rows: &[(String, QueueRow)]) {
        let mut state = self.gate.state.lock();
        for (name, row) in rows {
            let mut spec = QueueSpec::new(name.as_str());
            spec.concurrency = row
                .concurrency
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
            spec.rate = row.rate.map(|(starts, micros)| Rate {
                starts,
                per: Duration::from_micros(micros),
            });
            if let Err(e) = spec.validate() {
                tracing::error!(queue = %name, error = %e, "stored queue definition skipped");
                continue;
            }
            state
                .lanes
                .insert(Arc::from(name.as_str()), Lane::declared(&spec, row.paused));
        }
    }

    /// Every queue's state: the default queue first, then the declared
    /// ones by name.
    pub fn snapshot(&self) -> Vec<QueueState> {
        let now = Instant::now();
        let mut state = self.gate.state.lock();
        let view = |name: Option<&str>, lane: &mut Lane| {
            let tokens = lane.bucket.as_mut().map(|b| {
                b.refill(now);
                b.tokens
            });
            QueueState {
                name: name.map(str::to_string),
                depth: lane.waiters.len(),
                running: lane.running,
                paused: lane.paused,
                concurrency: lane.limit,
                rate: lane.bucket.as_ref().map(|b| b.rate),
                tokens,
            }
        };
        let mut out = vec![view(None, &mut state.default)];
        let mut named: Vec<_> = state
            .lanes
            .iter_mut()
            .map(|(name, lane)| view(Some(name), lane))
            .collect();
        named.sort_by(|a, b| a.name.cmp(&b.name));
        out.extend(named);
        out
    }

    fn journal(&self, spec: &QueueSpec, paused: bool) {
        self.gate.store.journal(|| Op::Queue {
            name: spec.name.clone(),
            row: spec.row(paused),
        });
    }
}

impl Gate {
    fn release(self: &Arc<Self>, lane: Option<&str>) {
        let grants = {
            let mut state = self.state.lock();
            let lane = state.lane(lane);
            lane.running = lane.running.saturating_sub(1);
            Self::free_one(&mut state);
            self.dispatch(&mut state)
        };
        hand_over(grants);
    }

    fn release_global(self: &Arc<Self>) {
        let grants = {
            let mut state = self.state.lock();
            Self::free_one(&mut state);
            self.dispatch(&mut state)
        };
        hand_over(grants);
    }

    fn free_one(state: &mut State) {
        if state.debt > 0 {
            state.debt -= 1;
        } else {
            state.free += 1;
        }
    }

    /// Grant free permits to the best-ranked eligible waiters; arm a timer
    /// for queues that wait only for a token. The grants are sent by the
    /// caller once the lock is released ([`hand_over`]).
    fn dispatch(self: &Arc<Self>, state: &mut State) -> Vec<(oneshot::Sender<Permit>, Permit)> {
        let mut grants = Vec::new();
        // Every run's permit release dispatches; with nobody waiting there
        // is nothing to grant, and no clock to read.
        if state.free == 0
            || (state.default.waiters.is_empty()
                && state.lanes.values().all(|lane| lane.waiters.is_empty()))
        {
            return grants;
        }
        let now = Instant::now();
        while state.free > 0 {
            let mut best: Option<(Key, Option<Arc<str>>)> = None;
            let mut consider = |name: Option<&Arc<str>>, lane: &mut Lane| match lane.ready(now) {
                Ok(true) => {
                    let head = *lane
                        .waiters
                        .keys()
                        .next()
                        .expect("ready lanes have waiters");
                    if best.as_ref().is_none_or(|(key, _)| head < *key) {
                        best = Some((head, name.cloned()));
                    }
                }
                Ok(false) => {}
                Err(due) => {
                    if !lane.timer
                        && let Some(name) = name
                    {
                        lane.timer = arm_timer(Arc::downgrade(self), Arc::clone(name), due);
                    }
                }
            };
            consider(None, &mut state.default);
            for (name, lane) in state.lanes.iter_mut() {
                consider(Some(name), lane);
            }
            let Some((key, name)) = best else { break };
            let lane = state.lane(name.as_deref());
            let tx = lane.waiters.remove(&key).expect("the head was just seen");
            lane.running += 1;
            if let Some(bucket) = &mut lane.bucket {
                bucket.tokens -= 1.0;
            }
            state.free -= 1;
            state.clock += 1;
            let permit = Permit {
                gate: Arc::clone(self),
                lane: name,
                live: true,
            };
            grants.push((tx, permit));
        }
        grants
    }
}

/// Send each grant; one whose waiter gave up meanwhile comes back (the
/// permit drops, which releases it and dispatches again).
fn hand_over(grants: Vec<(oneshot::Sender<Permit>, Permit)>) {
    for (tx, permit) in grants {
        drop(tx.send(permit));
    }
}

/// Dispatch again when queue `name`'s next token is due; `false` if no
/// timer could be armed (no tokio runtime here: the next change of the
/// queues' state dispatches instead).
fn arm_timer(gate: Weak<Gate>, name: Arc<str>, due: Instant) -> bool {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return false;
    };
    handle.spawn(async move {
        tokio::time::sleep_until(due).await;
        let Some(gate) = gate.upgrade() else { return };
        let grants = {
            let mut state = gate.state.lock();
            if let Some(lane) = state.lanes.get_mut(&name) {
                lane.timer = false;
            }
            gate.dispatch(&mut state)
        };
        hand_over(grants);
    });
    true
}

#[cfg(test)]
mod tests;
