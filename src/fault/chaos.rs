//! [`Chaos`]: a seeded chaos harness. It starts an orchestrator (with a
//! durable store unless told otherwise) and drives a mixed workload
//! through every pattern: run, stream, batch, launch, a task graph, a
//! workflow (action and command blocks), a pool and two schedules. Faults
//! come from two sides:
//!
//! - one planned fault per round into a random actor ([`Chaos::plan`]):
//!   panics, errors, delays, lost replies, killed processes;
//! - inside the runs: each task does a seeded hazard (see `hazard`): an
//!   action that panics before returning its future, panics inside it or
//!   hangs until cancelled; a child that traps SIGTERM and cleans up, one
//!   that ignores SIGTERM, a double-forked daemon left in the group, a
//!   grandchild that holds stdout open; and a scheduled action that
//!   panics on two ticks out of three.
//!
//! Then it checks the runtime's promises:
//!
//! 1. every accepted run reaches a terminal status;
//! 2. no call hangs: each is bounded by `call_timeout`;
//! 3. no process outlives its run: every process of a run records its pid
//!    and start time, and every one carries a marker in its environment;
//!    once the runs are over none may be running, nor a zombie left
//!    unreaped by this process tree (pool workers: once the runtime has
//!    shut down);
//! 4. `system_status()` answers throughout (a poller asks it all along);
//! 5. the registry holds exactly the accepted runs: every run in it was
//!    submitted (each task has a unique name), none twice, and every run
//!    id a caller got back is there;
//! 6. no task executed twice: each appends a line to its own marker file;
//! 7. a child that traps SIGTERM, stopped by a timeout or a cancel,
//!    finishes its cleanup (the grace covers the whole process group).
//!
//! What (3) covers: processes that stay in their run's process group. A
//! daemon that calls `setsid` leaves it on purpose, and is not followed.
//!
//! The same seed gives the same fault sequence and the same workload; how
//! the two interleave is up to the machine.

mod actors;
mod hazard;
mod procs;
mod report;
mod round;
mod workload;

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use taskorch_actors::{Backoff, Error, Fault, FaultTarget, RestartIntensity, Result};

pub use report::ChaosReport;

use crate::{Config, Orchestrator};
use hazard::Scratch;
use workload::Workload;

/// One fault of the plan: into which actor, which message, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFault {
    /// The actor ("executor", "batch", ..., "store" for the store's
    /// writer, or a user actor's name with [`Chaos::user_actors`]).
    pub actor: &'static str,
    /// Which of its messages (or spawned processes).
    pub target: FaultTarget,
    /// What goes wrong.
    pub fault: Fault,
}

/// The message kinds the workload sends each actor, so targeted faults
/// find their message.
const EXERCISED: &[(&str, &[&str])] = &[
    ("executor", &["Run", "Stream", "Status"]),
    ("batch", &["Start", "Status"]),
    ("launcher", &["Launch", "Status"]),
    ("scheduler", &["SetEnabled", "Tick", "Status"]),
    ("pool_keeper", &["Resize", "Status", "WorkerEnded"]),
    ("pool_worker", &["Retire"]),
];

/// The actors that own runs: `PanicInRun` makes one of their run tasks
/// panic from inside.
const RUN_OWNERS: &[&str] = &["executor", "batch", "launcher", "scheduler"];

/// Where `FailCommits` goes: the durable store's writer.
const STORE: &str = "store";

/// A seeded chaos run (see the module docs).
///
/// ```no_run
/// # async fn f() -> taskorch::Result<()> {
/// let report = taskorch::fault::Chaos::new(42).faults(300).run().await?;
/// assert!(report.is_ok(), "{report}");
/// println!("{report}");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Chaos {
    seed: u64,
    faults: usize,
    config: Config,
    call_timeout: Duration,
    max_delay: Duration,
    store: bool,
    user_actors: bool,
}

impl Chaos {
    /// A harness for `seed`: 200 rounds, each call bounded by 30 s, a store, and a
    /// configuration with short grace periods and a restart intensity high
    /// enough that actors keep coming back (see [`config`](Self::config)).
    pub fn new(seed: u64) -> Self {
        Chaos {
            seed,
            faults: 200,
            config: Config {
                kill_grace: Duration::from_millis(300),
                shutdown_grace: Duration::from_millis(300),
                restart_intensity: RestartIntensity {
                    max_restarts: 1_000_000,
                    within: Duration::from_secs(1),
                },
                restart_backoff: Backoff::none(),
                history_limit: 1_000_000,
                ..Config::default()
            },
            call_timeout: Duration::from_secs(30),
            max_delay: Duration::from_millis(40),
            store: true,
            user_actors: false,
        }
    }

    /// Whether the orchestrator keeps a durable store (default: yes, a
    /// fresh one in the harness's scratch directory, unless the
    /// [`config`](Self::config) names one).
    pub fn store(mut self, on: bool) -> Self {
        self.store = on;
        self
    }

    /// Whether the workload also runs the application's own actors
    /// (default: no): one under the root ("chaos_actor") and a one_for_all
    /// actor group ("chaos_group") of two ("chaos_member_a",
    /// "chaos_member_b"), each counting additions in state kept outside
    /// the actor. The plan then aims at them too (message faults, by
    /// name), and the report checks that each total is exactly what its
    /// callers were acknowledged.
    pub fn user_actors(mut self, on: bool) -> Self {
        self.user_actors = on;
        self
    }

    /// How many rounds to run, with one planned actor fault each (the
    /// faults inside runs come on top).
    pub fn faults(mut self, n: usize) -> Self {
        self.faults = n;
        self
    }

    /// The orchestrator's configuration. With the default restart
    /// intensity actors are soon given up on, and calls answer
    /// `ActorFailed` at once; the invariants hold either way. Keep
    /// `history_limit` above the number of runs (about 8 per fault), or
    /// evicted runs look missing.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The bound on each call; one that takes longer counts as hung.
    pub fn call_timeout(mut self, bound: Duration) -> Self {
        self.call_timeout = bound;
        self
    }

    /// The longest `DelayNextMessage` the plan draws (default 40 ms).
    pub fn max_delay(mut self, max: Duration) -> Self {
        self.max_delay = max;
        self
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The fault sequence this seed gives, in injection order: message
    /// faults and killed processes into any actor the workload exercises,
    /// panics inside the run tasks of the actors that own runs
    /// (`PanicInRun`), with a store, failed commits (`FailCommits`), and
    /// with [`user_actors`](Self::user_actors), message faults into the
    /// user actors by name.
    pub fn plan(&self) -> Vec<PlannedFault> {
        let mut rng = StdRng::seed_from_u64(self.seed);
        let max_delay = u64::try_from(self.max_delay.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        (0..self.faults)
            .map(|_| {
                let user_targets = if self.user_actors {
                    actors::TARGETS
                } else {
                    &[]
                };
                let drawn = rng.random_range(0..EXERCISED.len() + user_targets.len());
                let (mut actor, kinds) = match drawn.checked_sub(EXERCISED.len()) {
                    None => EXERCISED[drawn],
                    Some(user) => user_targets[user],
                };
                let user = drawn >= EXERCISED.len();
                let fault = match rng.random_range(0..100) {
                    0..20 => Fault::PanicNextMessage,
                    20..35 => Fault::ErrorNextMessage,
                    35..50 => Fault::DelayNextMessage(Duration::from_millis(
                        rng.random_range(1..=max_delay),
                    )),
                    50..62 => Fault::DropReply,
                    62..72 => Fault::KillChildProcess,
                    // Rarer: while the store reopens, every run is refused,
                    // which would starve the rest of the workload.
                    94..100 if self.store => Fault::FailCommits(rng.random_range(1..=3)),
                    _ => Fault::PanicInRun,
                };
                let fault = match fault {
                    // A user actor starts no process of taskorch's.
                    Fault::KillChildProcess if user => Fault::PanicNextMessage,
                    other => other,
                };
                match fault {
                    Fault::PanicInRun => {
                        actor = RUN_OWNERS[rng.random_range(0..RUN_OWNERS.len())];
                    }
                    Fault::FailCommits(_) => actor = STORE,
                    _ => {}
                }
                let aimed = rng.random_bool(0.35);
                let nth = rng.random_range(1..=3);
                let target = match (&fault, aimed) {
                    (Fault::FailCommits(_), _) | (_, false) => FaultTarget::next(),
                    (Fault::KillChildProcess | Fault::PanicInRun, true) => {
                        FaultTarget::next().nth(nth)
                    }
                    (_, true) => {
                        FaultTarget::message(kinds[rng.random_range(0..kinds.len())]).nth(nth)
                    }
                };
                PlannedFault {
                    actor,
                    target,
                    fault,
                }
            })
            .collect()
    }

    /// Start an orchestrator, run the workload with the plan's faults,
    /// check the invariants, shut down, and report.
    ///
    /// # Errors
    /// Only if the harness cannot run at all: the orchestrator does not
    /// start (`InvalidConfig`, `ActorFailed`), its user actors do not
    /// start (`ActorStart`), or its scratch directory cannot be made
    /// (`Io`). Broken invariants are in the report.
    pub async fn run(self) -> Result<ChaosReport> {
        let started = Instant::now();
        let plan = self.plan();
        let scratch = tempfile::Builder::new()
            .prefix("taskorch-chaos-")
            .tempdir()
            .map_err(|e| Error::Io {
                context: "creating the chaos harness's scratch directory".into(),
                source: std::sync::Arc::new(e),
            })?;
        let io = |context: &str, e: std::io::Error| Error::Io {
            context: context.into(),
            source: std::sync::Arc::new(e),
        };
        let files = Scratch::create(&scratch.path().join("work"))
            .map_err(|e| io("laying out the chaos harness's scratch directory", e))?;
        let mut config = self.config.clone();
        if self.store && config.store.is_none() {
            config.store = Some(scratch.path().join("store.redb"));
        }
        let orch = Orchestrator::start(config).await?;
        let tag = scratch
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("taskorch-chaos")
            .to_string();
        let mut workload = Workload::new(
            orch.clone(),
            files,
            tag,
            self.call_timeout,
            StdRng::seed_from_u64(self.seed ^ 0x9e37_79b9_7f4a_7c15),
        );
        let poller = workload.poll_status();
        workload.setup().await;
        if self.user_actors {
            workload.users = actors::UserActors::start(&orch).await?;
        }
        for (round, planned) in plan.iter().enumerate() {
            // Every planned fault names a known actor and kind, so this
            // cannot be refused; if it were, the report would say so.
            if let Err(e) = orch.faults().inject_at(
                planned.actor,
                planned.target.clone(),
                planned.fault.clone(),
            ) {
                workload.note_violation(format!("fault {round} refused: {e}"));
            }
            workload.round(round).await;
        }
        let stats = orch.faults().stats();
        orch.faults().clear();
        let mut report = workload.finish(poller).await;
        for planned in &plan {
            *report
                .faults_by_kind
                .entry(planned.fault.name().to_string())
                .or_default() += 1;
        }
        report.seed = self.seed;
        report.rounds = plan.len();
        report.faults_injected = stats.injected;
        report.faults_fired = stats.fired;
        report.elapsed = started.elapsed();
        Ok(report)
    }
}
