//! The runtime context: the state every actor shares and that outlives any
//! actor incarnation (runs, actions, limits, shutdown, run tasks).
//!
//! Actors receive an `Arc<Context>` in their arguments; a restarted actor
//! gets the same one and rebuilds from it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ractor::ActorProcessingErr;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::action::ActionTable;
use crate::breaker::Breakers;
use crate::error::{Error, Result};
use crate::events::Events;
use crate::halt::Halt;
use crate::lines::LineLimits;
use crate::message::PatternMessage;
use crate::metrics::{DEFAULT_QUEUE, Metrics, MetricsRecorder, QueueMetrics};
use crate::priority::Priority;
use crate::process::ProcessLimits;
use crate::process::resolve::ProgramCache;
use crate::queues::{Permit, Queues};
use crate::registry::{Registry, Retention};
use crate::risk::RiskLimits;
use crate::shutdown::Shutdown;
use crate::slot::Reply;
use crate::store::Store;
use crate::task::DEFAULT_MAX_OUTPUT;
use crate::trace::{DEFAULT_TRACE_CAPACITY, MessageInfo, Outcome, TraceRecorder};

/// Limits that apply to all work of one runtime.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Process termination and output draining.
    pub process: ProcessLimits,
    /// How long in-flight runs may finish on their own at shutdown before
    /// they are terminated.
    pub shutdown_grace: Duration,
    /// Default capture cap per stream for tasks that set none.
    pub max_output: usize,
    /// Most runs executing at once across all patterns; the rest wait,
    /// `Queued`, for a permit.
    pub max_concurrency: usize,
    /// Bounds of each run's line ring (live output and `output(id)`).
    pub lines: LineLimits,
    /// Events the message trace keeps (0 turns it off).
    pub trace_capacity: usize,
    /// Events a subscriber of the event stream may fall behind by.
    pub event_capacity: usize,
    /// Bytes of events a subscriber of the event stream may fall behind by.
    pub event_capacity_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            process: ProcessLimits::default(),
            shutdown_grace: Duration::from_secs(5),
            max_output: DEFAULT_MAX_OUTPUT,
            max_concurrency: 64,
            lines: LineLimits::default(),
            trace_capacity: DEFAULT_TRACE_CAPACITY,
            event_capacity: crate::events::DEFAULT_EVENT_CAPACITY,
            event_capacity_bytes: crate::events::DEFAULT_EVENT_BYTES,
        }
    }
}

/// Shared runtime state (see the module docs).
#[derive(Debug)]
pub struct Context {
    registry: Arc<Registry>,
    actions: ActionTable,
    limits: Limits,
    shutdown: Shutdown,
    // Every run task of every actor incarnation, so shutdown can wait for
    // clean-up even of runs whose actor died.
    tasks: TaskTracker,
    // The global concurrency cap (one permit per executing run), handed out
    // by priority and named queue.
    queues: Queues,
    programs: ProgramCache,
    // The message trace: shared with the supervisor and pool workers.
    trace: Arc<TraceRecorder>,
    #[cfg(feature = "fault-injection")]
    faults: crate::fault::FaultPlan,
    // The event stream, the halt switch and the circuit breakers.
    events: Events,
    halt: Halt,
    breakers: Breakers,
    risk: RiskLimits,
    // Runtime-wide counters and latencies (see `metrics`), shared with
    // the registry and the supervisor.
    metrics: Arc<MetricsRecorder>,
}

impl Context {
    /// A fresh context.
    pub fn new(limits: Limits, retention: Retention) -> Arc<Self> {
        Context::with_store(limits, retention, Store::disabled())
    }

    /// A fresh context whose runs are journaled to `store`.
    pub fn with_store(limits: Limits, retention: Retention, store: Store) -> Arc<Self> {
        let events = Events::bounded(limits.event_capacity, limits.event_capacity_bytes);
        #[cfg(feature = "fault-injection")]
        let faults = crate::fault::FaultPlan::default();
        #[cfg(feature = "fault-injection")]
        if let Some(switch) = store.fault_switch() {
            faults.attach_store(switch);
        }
        let metrics = Arc::new(MetricsRecorder::new());
        Arc::new(Context {
            queues: Queues::new(limits.max_concurrency.max(1), store.clone()),
            registry: Arc::new(
                Registry::with_store(retention, store)
                    .with_events(events.clone())
                    .with_metrics(Arc::clone(&metrics)),
            ),
            actions: ActionTable::default(),
            limits,
            shutdown: Shutdown::default(),
            tasks: TaskTracker::new(),
            programs: ProgramCache::default(),
            trace: Arc::new(TraceRecorder::new(limits.trace_capacity)),
            #[cfg(feature = "fault-injection")]
            faults,
            breakers: Breakers::new(events.clone()),
            events,
            halt: Halt::default(),
            risk: RiskLimits::default(),
            metrics,
        })
    }

    /// The recorder of the runtime's metrics.
    pub fn metrics(&self) -> &Arc<MetricsRecorder> {
        &self.metrics
    }

    /// A snapshot of the runtime's metrics (see [`Metrics`]): the
    /// recorder's counts, the one queue of the global concurrency cap
    /// (under [`DEFAULT_QUEUE`]), and the store's commits (`None` without
    /// a store). Never blocks on a run or an actor.
    pub fn metrics_snapshot(&self) -> Metrics {
        let running = !self.shutdown.is_closing();
        let mut metrics =
            self.metrics
                .snapshot(Default::default(), self.store().commit_metrics(), running);
        let queue = QueueMetrics {
            queued: metrics.runs.current(crate::run::RunStatus::Queued),
            running: metrics.runs.current(crate::run::RunStatus::Running),
            concurrency: self.limits.max_concurrency.max(1),
            free: self.free_permits(),
            paused: false,
        };
        metrics.queues.insert(DEFAULT_QUEUE.to_string(), queue);
        // Each named queue under its name ("default", the global cap above,
        // cannot be declared): its runs waiting for a permit and running,
        // its own limit (the global cap without one).
        let global_free = self.free_permits();
        for state in self.queues.snapshot() {
            let Some(name) = state.name else { continue };
            let concurrency = state.concurrency.unwrap_or(self.limits.max_concurrency);
            let queue = QueueMetrics {
                queued: state.depth as u64,
                running: state.running as u64,
                concurrency,
                free: concurrency.saturating_sub(state.running).min(global_free),
                paused: state.paused,
            };
            metrics.queues.insert(name, queue);
        }
        metrics
    }

    /// The event stream's sending side.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// The halt switch (see [`halt`](crate::halt)).
    pub fn halt(&self) -> &Halt {
        &self.halt
    }

    /// Halt the runtime (see [`halt`](crate::halt)): raise the flag, cancel
    /// every unfinished run, emit `Halted`. `None` if it was already halted
    /// (a no-op), otherwise how many runs were cancelled.
    pub fn halt_runtime(&self, reason: &str) -> Option<usize> {
        self.halt.halt(&self.registry, &self.events, reason)
    }

    /// Resume after a halt: `false` if it was not halted (a no-op).
    pub fn resume_runtime(&self) -> bool {
        self.halt.resume(&self.registry, &self.events)
    }

    /// Check `value` against `limit` (see [`risk`](crate::risk)).
    ///
    /// # Errors
    /// `RiskLimitExceeded { name, value, limit, bound: Ceiling }` when `value > limit` or
    /// `value` is NaN.
    pub fn check_risk(&self, name: &str, value: f64, limit: f64, auto_halt: bool) -> Result<()> {
        crate::risk::check(&self.events, name, value, limit, auto_halt, |reason| {
            self.halt_runtime(reason);
        })
    }

    /// Check `value` against the registered limit `name`.
    ///
    /// # Errors
    /// `RiskLimitExceeded` as [`check_risk`](Self::check_risk);
    /// `InvalidConfig` if no limit is registered under `name`.
    pub fn check_registered_risk(&self, name: &str, value: f64) -> Result<()> {
        let Some(limit) = self.risk.get(name) else {
            return Err(Error::InvalidConfig(format!(
                "no risk limit named {name:?}: register it with Orchestrator::register_limit"
            )));
        };
        self.check_risk_limit(&limit, value)
    }

    /// Check `value` against `limit`, a ceiling or a floor (see
    /// [`risk`](crate::risk)).
    ///
    /// # Errors
    /// `RiskLimitExceeded { bound, .. }` when it trips.
    pub fn check_risk_limit(&self, limit: &crate::risk::RiskLimit, value: f64) -> Result<()> {
        crate::risk::check_limit(&self.events, limit, value, |reason| {
            self.halt_runtime(reason);
        })
    }

    /// The registered risk limits.
    pub fn risk_limits(&self) -> &RiskLimits {
        &self.risk
    }

    /// The circuit breakers.
    pub fn breakers(&self) -> &Breakers {
        &self.breakers
    }

    /// The run registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The durable store (disabled without one).
    pub fn store(&self) -> &Store {
        self.registry.store()
    }

    /// Send `answer` through `reply` once everything journaled so far is
    /// committed; at once without a store. A failed commit answers its
    /// error. Here, not in the store: the store sits below the actors'
    /// request plumbing and knows nothing of replies.
    pub(crate) fn answer_when_durable<T: Send + 'static>(
        &self,
        reply: Reply<T>,
        answer: Result<T>,
    ) {
        if !self.store().is_enabled() || answer.is_err() {
            reply.send(answer);
            return;
        }
        let store = self.store().clone();
        tokio::spawn(async move {
            match store.sync().await {
                Ok(()) => reply.send(answer),
                Err(e) => reply.send(Err(e)),
            }
        });
    }

    /// The in-process actions.
    pub fn actions(&self) -> &ActionTable {
        &self.actions
    }

    /// The runtime limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The shutdown state.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// The tracker of every run task.
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    /// Resolved program paths.
    pub(crate) fn programs(&self) -> &ProgramCache {
        &self.programs
    }

    /// The message trace.
    pub fn trace(&self) -> &Arc<TraceRecorder> {
        &self.trace
    }

    /// Pending injected faults.
    #[cfg(feature = "fault-injection")]
    pub fn faults(&self) -> &crate::fault::FaultPlan {
        &self.faults
    }

    /// The execution permits and named queues (see [`queues`](crate::queues)).
    pub fn queues(&self) -> &Queues {
        &self.queues
    }

    /// Wait for an execution permit for work of `priority` in `queue`
    /// (`None`: the default queue): the one entry point of every run's
    /// permit (the runner calls it for every pattern; a run due later calls
    /// it at its due time). Who waits longest is not who goes first: see
    /// [`queues`](crate::queues).
    ///
    /// # Cancel safety
    /// Cancel safe: a waiter that gives up holds no permit.
    pub(crate) async fn execution_permit(
        &self,
        priority: Priority,
        queue: Option<&str>,
    ) -> OwnedPermit {
        self.queues.acquire(priority, queue).await
    }

    /// Give the execution permit the calling run holds back to the others
    /// while it waits for runs of its own (a workflow's command block
    /// waiting for its command's run), and get one again with
    /// [`LentPermit::reclaim`]. No run then holds a permit while it waits for
    /// another, which with every permit taken would wait for ever.
    ///
    /// Call it only from a run's own work (an action), which always holds
    /// one permit.
    pub fn lend_permit(self: &Arc<Self>) -> LentPermit {
        self.queues.lend();
        LentPermit {
            ctx: Some(Arc::clone(self)),
        }
    }

    /// Execution permits free right now.
    pub fn free_permits(&self) -> usize {
        self.queues.free()
    }

    /// Whether the process just spawned for `actor`'s work is to be killed
    /// at once (the injected fault `KillChildProcess`); always `false`
    /// without the `fault-injection` feature.
    #[cfg_attr(not(feature = "fault-injection"), allow(unused_variables))]
    pub(crate) fn kill_at_spawn(&self, actor: &'static str) -> bool {
        #[cfg(feature = "fault-injection")]
        {
            self.faults.take_kill(actor)
        }
        #[cfg(not(feature = "fault-injection"))]
        {
            false
        }
    }

    /// Whether the run `actor` just started is to panic inside its task
    /// (the injected fault `PanicInRun`); always `false` without the
    /// `fault-injection` feature.
    #[cfg_attr(not(feature = "fault-injection"), allow(unused_variables))]
    pub(crate) fn panic_in_run(&self, actor: &'static str) -> bool {
        #[cfg(feature = "fault-injection")]
        {
            self.faults.take_run_panic(actor)
        }
        #[cfg(not(feature = "fault-injection"))]
        {
            false
        }
    }

    /// [`handle`](Self::handle) for a pattern actor's message: arms its
    /// reply, records its kind and request envelope, and hands it to
    /// `work`. Dropped unhandled (an injected fault), the message drops its
    /// reply with it and the reply guard answers the caller.
    pub(crate) async fn handle_message<M, F, Fut>(
        &self,
        actor: &'static str,
        mut message: M,
        work: F,
    ) -> Result<(), ActorProcessingErr>
    where
        M: PatternMessage,
        F: FnOnce(M) -> Fut,
        Fut: Future<Output = ()>,
    {
        message.accept();
        let info = message.info();
        self.handle(actor, info, async move { work(message).await })
            .await
    }

    /// Every actor handles each message through here: one place for what
    /// happens around a message — the message trace (one event per
    /// message, a `tracing` span around its handling), injected faults
    /// when the feature is on, quiet reporting of a panic — so every actor
    /// gets it the same way.
    ///
    /// `actor` is the child name ("executor", ...); `message` the message
    /// kind (its variant name), with the request's envelope when it has
    /// one. Return what this returns from the actor's handler: an error
    /// (an injected `ErrorNextMessage`) fails the actor.
    pub(crate) async fn handle<F: Future<Output = ()>>(
        &self,
        actor: &'static str,
        message: impl Into<MessageInfo>,
        work: F,
    ) -> Result<(), ActorProcessingErr> {
        let info = message.into();
        // Records the event when dropped, so a panic unwinding out of the
        // handler is recorded too.
        let handling = self.trace.begin(actor, info);
        let span = tracing::debug_span!(
            target: "taskorch::actor",
            "message",
            actor,
            message = info.kind(),
            correlation = tracing::field::Empty,
        );
        if let Some(correlation) = info.correlation() {
            span.record("correlation", tracing::field::display(correlation.id));
        }
        let outcome = crate::panic_hook::quiet(actor, async {
            #[cfg(feature = "fault-injection")]
            match self.faults.before(actor, &info).await {
                crate::fault::Verdict::Handle => {}
                crate::fault::Verdict::Fail(reason) => return Err(reason),
                crate::fault::Verdict::DropReply => {
                    // Dropping the unpolled handler drops the message and
                    // its reply with it; the reply guard answers the caller.
                    drop(work);
                    return Ok(Outcome::ReplyDropped);
                }
            }
            work.await;
            Ok::<_, String>(Outcome::Ok)
        })
        .instrument(span)
        .await;
        match outcome {
            Ok(outcome) => {
                handling.finish(outcome);
                Ok(())
            }
            Err(reason) => {
                handling.finish(Outcome::Error);
                Err(reason.into())
            }
        }
    }
}

/// One execution permit under the global cap and its queue's limits (see
/// [`Context::execution_permit`]); dropping it frees the permit.
pub(crate) type OwnedPermit = Permit;

/// A permit given back by its run ([`Context::lend_permit`]), to be taken
/// again before the run goes on. Dropped without
/// [`reclaim`](Self::reclaim) (the run was cancelled while it waited), the
/// permit is taken back as soon as one is free, so the cap holds either way.
#[must_use = "a lent permit is to be reclaimed before the run goes on"]
pub struct LentPermit {
    ctx: Option<Arc<Context>>,
}

impl std::fmt::Debug for LentPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LentPermit")
    }
}

impl LentPermit {
    /// Wait for a permit again (holding none meanwhile).
    ///
    /// # Cancel safety
    /// Cancel safe: dropped while waiting, the permit is taken back later.
    pub async fn reclaim(mut self) {
        if let Some(ctx) = &self.ctx {
            // Critical: the run was running already and only lent its slot;
            // its own permit still holds its queue's slot.
            ctx.queues
                .acquire(Priority::Critical, None)
                .await
                .dissolve();
        }
        self.ctx = None;
    }
}

impl Drop for LentPermit {
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx.take() {
            ctx.queues.take_back();
        }
    }
}
