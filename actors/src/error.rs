//! The one error type of the runtime.
//!
//! Every variant carries the context a user needs to act on it: the program
//! that could not be found, the run that timed out, the actor that failed.
//! `Error` is `Clone` because one outcome can have many readers (several
//! `wait` callers of one run), so I/O sources are kept behind an `Arc`.

use std::sync::Arc;
use std::time::Duration;

use crate::run::RunId;
use crate::task_key::TaskKey;

/// Result alias used throughout taskorch.
pub type Result<T, E = Error> = std::result::Result<T, E>;

// Here, not in the store: `Error::is_store_in_use` compares against it, and
// the error vocabulary imports nothing above it.
/// The reason of the `Error::Store` a store in use elsewhere answers
/// (see [`Error::is_store_in_use`]).
pub(crate) const STORE_IN_USE: &str = "the store is in use by another orchestrator (in this or another \
     process); each orchestrator needs its own store file: stop the other one or choose another \
     path";

// Here, not in `risk`: the error and the `limit_exceeded` event name it,
// and both sit below the risk limits.
/// Which side of a risk limit trips it.
///
/// A `Ceiling` is the largest value that passes (exposure, position size:
/// trips when the value is above it); a `Floor` is the smallest (daily
/// P&L, free margin: trips when the value is below it). The limit itself
/// passes either way, and a NaN value trips both.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// Trip when the value is above the limit (the meaning of every limit
    /// registered without a bound).
    #[default]
    Ceiling,
    /// Trip when the value is below the limit.
    Floor,
}

impl Bound {
    /// Whether `value` trips a limit of this bound at `limit` (NaN trips).
    pub fn trips(self, value: f64, limit: f64) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        // `partial_cmp` is `None` for NaN, which must trip.
        let passing = match self {
            Bound::Ceiling => [Less, Equal],
            Bound::Floor => [Greater, Equal],
        };
        !value
            .partial_cmp(&limit)
            .is_some_and(|order| passing.contains(&order))
    }

    /// `"ceiling"` or `"floor"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Bound::Ceiling => "ceiling",
            Bound::Floor => "floor",
        }
    }

    /// How a tripped value compares to the limit: `">"` or `"<"`.
    pub(crate) fn tripped_sign(self) -> &'static str {
        match self {
            Bound::Ceiling => ">",
            Bound::Floor => "<",
        }
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Bound {
    type Err = Error;

    /// `"ceiling"` or `"floor"` (ASCII case ignored).
    fn from_str(s: &str) -> Result<Bound> {
        match s.to_ascii_lowercase().as_str() {
            "ceiling" => Ok(Bound::Ceiling),
            "floor" => Ok(Bound::Floor),
            _ => Err(Error::InvalidConfig(format!(
                "risk limit bound {s:?}: expected \"ceiling\" or \"floor\""
            ))),
        }
    }
}

/// Everything that can keep work from running or finishing.
///
/// A command that runs and exits non-zero is *not* an error: it is an
/// [`Output`](crate::Output) whose [`success`](crate::Output::success) is
/// `false`. `Err` means the work could not run or could not finish.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The program does not exist (or is not on `PATH`).
    #[error("program not found: {program}")]
    NotFound {
        /// The program as the task named it.
        program: String,
    },

    /// The program exists but may not be executed.
    #[error("permission denied: {program} is not executable")]
    PermissionDenied {
        /// The program as the task named it.
        program: String,
    },

    /// The work did not finish within its time limit.
    #[error("{} timed out after {after:?}", subject(run))]
    TimedOut {
        /// The run that timed out; `None` for requests that are not runs
        /// (a pool request, a bounded wait).
        run: Option<RunId>,
        /// The limit that was exceeded.
        after: Duration,
    },

    /// The work was cancelled before it finished.
    #[error("{} was cancelled", subject(run))]
    Cancelled {
        /// The cancelled run; `None` for work cancelled before it got an id.
        run: Option<RunId>,
    },

    /// No run with this id is known to this orchestrator (never existed,
    /// belongs to another orchestrator, or was evicted from history).
    #[error("unknown run {0}")]
    UnknownRun(RunId),

    /// No in-process action is registered under this name.
    #[error("unknown action {0:?}: register it with Orchestrator::register_action first")]
    UnknownAction(String),

    /// The task (or request) is malformed; the message says how.
    #[error("invalid task: {0}")]
    InvalidTask(String),

    /// A configuration value cannot work; the message names the field.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// The actor handling the request failed (panicked or stopped) before it
    /// could answer. The actor is restarted by the root supervisor.
    #[error("actor {actor} failed: {reason}")]
    ActorFailed {
        /// The child name of the actor ("executor", "batch", ...).
        actor: String,
        /// What happened to it.
        reason: String,
    },

    /// Something panicked inside the run's own task (the runtime's code
    /// around the work, or an action's closure before it returned its
    /// future). The run ended `Failed` with this error; its output ring is
    /// closed and every waiter has been woken.
    #[error("run {run} panicked: {message}")]
    RunPanicked {
        /// The run whose task panicked.
        run: RunId,
        /// The panic's message.
        message: String,
    },

    /// A duration is outside what the runtime can represent or schedule
    /// (`Duration::MAX` as a time-out, an interval of a billion years, a
    /// negative jitter). Nothing was started.
    #[error("{field} = {} is out of range: {limit}", show(value))]
    InvalidDuration {
        /// The setting that holds it ("Task::timeout", "Config::kill_grace", ...).
        field: String,
        /// The value given (`None` where it was not a duration at all, such
        /// as a negative or non-finite number of seconds).
        value: Option<Duration>,
        /// What is accepted ("at most 100 years", ...).
        limit: String,
    },

    /// The orchestrator is shutting down (or has shut down) and takes no
    /// new work; work cut short by the shutdown also ends with this.
    #[error("the orchestrator is shutting down")]
    ShuttingDown,

    /// A schedule's trigger cannot work: a malformed cron expression, an
    /// unknown time zone, an expression that never matches.
    #[error("invalid schedule {expression:?}: {reason}")]
    InvalidSchedule {
        /// The cron expression (or trigger) as given.
        expression: String,
        /// What is wrong with it.
        reason: String,
    },

    /// No schedule by this name exists (never added, or removed).
    #[error("unknown schedule {0:?}")]
    UnknownSchedule(String),

    /// A schedule by this name already exists; names are unique.
    #[error("a schedule named {0:?} already exists")]
    DuplicateSchedule(String),

    /// The named pool does not exist, is closed, or cannot keep workers up.
    #[error("pool unavailable: {0}")]
    PoolUnavailable(String),

    /// A pool with this name is already open (find it with
    /// `orch.observe().pools().find`, or close it first).
    #[error("a pool named {0:?} is already open")]
    PoolExists(String),

    /// A pool worker died (exited, crashed, or closed its stdout or stdin)
    /// before answering the request. The worker is replaced.
    #[error("pool {pool}: {} died before answering: {reason}", worker(pid))]
    WorkerDied {
        /// The pool's name.
        pool: String,
        /// The worker's pid, if it was known.
        pid: Option<u32>,
        /// How it died ("exited with exit status: 3", ...).
        reason: String,
    },

    /// A pool worker broke the line protocol (a reply that is not UTF-8,
    /// too long, more than one line, or output nobody asked for). The
    /// worker is replaced.
    #[error("pool {pool}: {} broke the line protocol: {reason}", worker(pid))]
    WorkerProtocol {
        /// The pool's name.
        pool: String,
        /// The worker's pid, if it was known.
        pid: Option<u32>,
        /// What it did wrong.
        reason: String,
    },

    /// Too many launched runs are waiting or running: the work was not
    /// accepted. Try again once some have finished, or raise the limit.
    #[error(
        "launch queue is full: {limit} launched runs are already queued or running (Config::max_queued)"
    )]
    QueueFull {
        /// The limit that was reached (`Config::max_queued`).
        limit: usize,
    },

    /// A fault injection that cannot work (feature `fault-injection`): an
    /// unknown actor, a message kind that actor never handles, a zero
    /// count, or a message kind given for a fault that counts processes.
    #[error("invalid fault for actor {actor:?}: {reason}")]
    InvalidFault {
        /// The actor as named by the caller.
        actor: String,
        /// What is wrong, and what would be accepted.
        reason: String,
    },

    /// Spawning the process failed for a reason other than not-found or
    /// permission-denied.
    #[error("could not start {program}: {source}")]
    Spawn {
        /// The program as the task named it.
        program: String,
        /// The operating system's error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// The durable store (`Config::store`) cannot be used: the file is
    /// corrupt, from a newer release, read-only, in use by another
    /// orchestrator, or a write failed for a reason other than the disk
    /// (a failing disk is [`StoreUnavailable`](Self::StoreUnavailable)).
    /// The reason says what to do; the file is never discarded or
    /// overwritten.
    #[error("store {}: {reason}", path.display())]
    Store {
        /// The database file.
        path: std::path::PathBuf,
        /// What is wrong, and what to do about it.
        reason: String,
    },

    /// The durable store cannot take writes for now: a write or fsync
    /// failed (a full disk, an I/O error), the store's writer is
    /// reopening the file, and the work that needed a commit was refused,
    /// not half-done. Everything acknowledged before stays stored. Free the
    /// space or fix the disk; the store recovers on its own, and the same
    /// call can then be made again.
    #[error("store {} is unavailable: {reason}", path.display())]
    StoreUnavailable {
        /// The database file.
        path: std::path::PathBuf,
        /// What failed, and what to do about it.
        reason: String,
    },

    /// A store URL (`StoreConfig::postgres`, `--store postgres://…`) that
    /// does not parse, or names a backend this build does not have.
    #[error("invalid store URL {url}: {reason}")]
    InvalidStoreUrl {
        /// The URL, without its password.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The PostgreSQL store could not be reached at start: the server is
    /// down or unreachable, the credentials are wrong, the database does
    /// not exist, or another orchestrator holds it.
    #[error("cannot connect to the store {url}: {reason}")]
    StoreConnect {
        /// The URL, without its password.
        url: String,
        /// What the server (or the network) said, and what to do.
        reason: String,
    },

    /// The store was written by a newer taskorch: its schema version is
    /// past what this release knows. Nothing was changed.
    #[error(
        "store {store} has schema version {found}, newer than {supported}, the newest this \
         taskorch knows; nothing was changed: upgrade taskorch, or use another database"
    )]
    StoreSchemaTooNew {
        /// The store (URL without its password, or file).
        store: String,
        /// The schema version found.
        found: u64,
        /// The newest schema version this release reads.
        supported: u64,
    },

    /// The runtime is halted (`orch.guard().halt`): no new work is
    /// accepted until `Orchestrator::resume`. Runs cut short by the halt
    /// end `Cancelled`.
    #[error("the orchestrator is halted: {reason}")]
    Halted {
        /// The reason given to `halt` (or the tripped risk limit).
        reason: String,
    },

    /// A risk limit was tripped (`orch.guard().check_limit`, `check`):
    /// a value above a ceiling or below a floor (or NaN).
    #[error("risk limit {name:?} exceeded: {value} {} {limit}", bound.tripped_sign())]
    RiskLimitExceeded {
        /// The limit's name.
        name: String,
        /// The value that was checked.
        value: f64,
        /// The limit it crossed.
        limit: f64,
        /// Which side of the limit tripped: `Ceiling` (the value was
        /// above it) or `Floor` (below it).
        bound: Bound,
    },

    /// The circuit breaker of a dependency is open: the work was refused
    /// at once, nothing was spawned. Try again after `retry_after`.
    #[error("circuit {key:?} is open; retry after {retry_after:?}")]
    CircuitOpen {
        /// The dependency key (`Task::breaker`).
        key: String,
        /// How long until the breaker lets a trial through.
        retry_after: Duration,
    },

    /// A workflow definition cannot run: the message names the block and
    /// what is wrong with it (unknown type, missing input, type mismatch,
    /// cycle).
    #[error("invalid workflow {workflow:?}: block {block:?}: {reason}")]
    InvalidWorkflow {
        /// The workflow's id.
        workflow: String,
        /// The offending block's id (empty when the fault is not one block's).
        block: String,
        /// What is wrong.
        reason: String,
    },

    /// A workflow file could not be parsed (malformed JSON or TOML).
    #[error("cannot parse workflow ({format}) at line {line}, column {column}: {message}")]
    WorkflowParse {
        /// "json" or "toml".
        format: &'static str,
        /// 1-based line of the error (0 if the parser gave none).
        line: usize,
        /// 1-based column of the error (0 if the parser gave none).
        column: usize,
        /// The parser's message.
        message: String,
    },

    /// No workflow with this id is running here.
    #[error("unknown workflow {0:?}")]
    UnknownWorkflow(String),
    /// A task graph's dependencies form a cycle, so none of the tasks in it
    /// could ever start. Nothing of the graph ran.
    #[error("dependency cycle in task graph: {} (each depends on the next)", path.join(" -> "))]
    DependencyCycle {
        /// The names of the tasks in the cycle, each depending on the next;
        /// the first is repeated at the end (`["a", "b", "a"]`).
        path: Vec<String>,
    },

    /// A graph task depends on a key that names no task: a key of a
    /// `TaskGraph` never submitted to this runtime (nor adopted from its
    /// store), or past the tasks of its graph. Nothing of the graph (or
    /// of what was being added to it) ran.
    #[error("task {task:?} depends on {dependency}, which is not a task of this graph")]
    UnknownDependency {
        /// The name of the task that declared the dependency.
        task: String,
        /// The key it named.
        dependency: TaskKey,
    },

    /// A graph task depends on a run (`GraphTask::after_run`) that
    /// neither the registry nor the store knows. Nothing of the graph (or
    /// of what was being added to it) ran.
    #[error("task {task:?} depends on run {run}, which this runtime does not know")]
    UnknownRunDependency {
        /// The name of the task that declared the dependency.
        task: String,
        /// The run it named.
        run: RunId,
    },

    /// Two tasks of one graph have the same name; names are unique within
    /// a graph (they name the runs and the skip reasons).
    #[error("a task named {0:?} is already in this graph")]
    DuplicateTask(String),

    /// A task key that does not belong to this graph (a key from another
    /// `TaskGraph`).
    #[error("{0} is not a task of this graph")]
    UnknownTask(TaskKey),

    /// A task's key (`Task::key`) is unusable: empty, longer than 256
    /// bytes, or with a NUL or other control character. Nothing ran.
    #[error("invalid job key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A task's label (`Task::label`) is unusable: an empty key, a key
    /// longer than 64 bytes or with a character outside
    /// `[A-Za-z0-9_.-/]`, a value longer than 1024 bytes, or more than 32
    /// labels on one task. Nothing ran.
    #[error("invalid label {key:?}: {reason}")]
    InvalidLabel {
        /// The label's key as given.
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A queue name (`Task::queue`, a queue's spec) is unusable: empty,
    /// longer than 64 bytes, or with a character outside
    /// `[A-Za-z0-9_.-/]`; or a queue's spec has a concurrency of 0.
    /// Nothing ran; the queue was left as it was.
    #[error("invalid queue {queue:?}: {reason}")]
    InvalidQueue {
        /// The name as given.
        queue: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Work was sent to a queue that has not been declared. Nothing ran.
    #[error("unknown queue {0:?}: declare it first")]
    UnknownQueue(String),

    /// A queue's rate limit cannot work: zero starts, or a zero or
    /// out-of-range interval. The queue was left as it was.
    #[error("invalid rate for queue {queue:?}: {reason}")]
    InvalidRate {
        /// The queue's name.
        queue: String,
        /// What is wrong with the rate.
        reason: String,
    },

    /// A rerun of a run that has not ended yet (queued or running): a
    /// rerun starts a new run of a finished one's task. Nothing ran.
    #[error("run {0} has not ended yet; only a finished run can be rerun")]
    RunStillActive(RunId),

    /// A delayed start (`Task::start_at`, `Task::start_after`) on a task
    /// that cannot have one: a schedule's task (the schedule says when it
    /// runs) or a task graph's (its dependencies do). Nothing was added.
    #[error(
        "{place}: a delayed start (Task::start_at / start_after) is not supported here; \
         launch the task with `launch` instead"
    )]
    StartNotSupported {
        /// Where the task was given ("schedule \"backup\"", "graph task \"build\"").
        place: String,
    },

    /// A backfill range that is not a range: `from` is after `to`.
    /// Nothing ran.
    #[error("invalid backfill of schedule {schedule:?}: {reason}")]
    InvalidBackfill {
        /// The schedule's name.
        schedule: String,
        /// What is wrong with the range.
        reason: String,
    },

    /// A backfill range holding more ticks than one backfill may run
    /// (`scheduler::MAX_BACKFILL`). Nothing ran: split the range.
    #[error(
        "backfill of schedule {schedule:?}: the range holds more than {limit} ticks; \
         split it into smaller ranges"
    )]
    BackfillTooLarge {
        /// The schedule's name.
        schedule: String,
        /// The most ticks one backfill runs.
        limit: usize,
    },

    /// A retry of a graph task that did not fail (`GraphRun::retry`): only
    /// a task that ended failed, timed out or interrupted runs again.
    /// Nothing changed.
    #[error(
        "graph task {task:?} is {status}: only a failed, timed-out or interrupted task can be retried"
    )]
    TaskNotFailed {
        /// The task's name.
        task: String,
        /// Its status (`succeeded`, `running`, `skipped`, ...).
        status: String,
    },

    /// A rerun of a run whose task was not kept: one admitted without it
    /// (a task graph's run without a store), or one evicted from memory
    /// with no store holding it. Nothing ran.
    #[error("run {run} cannot be rerun: {reason}")]
    TaskNotKept {
        /// The run asked for.
        run: RunId,
        /// Why its task is not at hand.
        reason: String,
    },

    /// A service spec that cannot work: an empty name, a zero restart
    /// window or start timeout, a readiness probe its kind of service
    /// cannot have. Nothing was started.
    #[error("service {service:?}: {reason}")]
    InvalidService {
        /// The service's name.
        service: String,
        /// What is wrong, naming the setting.
        reason: String,
    },

    /// A service of that name is already supervised here.
    #[error("a service named {0:?} is already supervised")]
    ServiceExists(String),

    /// No service of that name is supervised here.
    #[error("no service named {0:?}")]
    UnknownService(String),

    /// A service starts `after` (or `requires`) a name no service has.
    /// Nothing was started.
    #[error("service {service:?} depends on {dependency:?}, which is not a supervised service")]
    UnknownServiceDependency {
        /// The service that declared the dependency.
        service: String,
        /// The name it gave.
        dependency: String,
    },

    /// Services' `after` / `requires` form a cycle, so none of them could
    /// ever start. Nothing was started.
    #[error("dependency cycle among services: {} (each starts after the next)", path.join(" -> "))]
    ServiceCycle {
        /// The services of the cycle, each starting after the next; the
        /// first is repeated at the end (`["a", "b", "a"]`).
        path: Vec<String>,
    },

    /// A service's readiness probe did not succeed within its start
    /// timeout; the service was stopped, not left half-up.
    #[error("service {service:?} was not ready within {after:?}: probe {probe} never succeeded")]
    ReadinessTimedOut {
        /// The service.
        service: String,
        /// The probe, as `Readiness` displays it (`line "listening"`,
        /// `tcp 127.0.0.1:8080`, ...).
        probe: String,
        /// The start timeout.
        after: Duration,
    },

    /// The service gave up (restart intensity exceeded, or a dependency
    /// it requires failed for good).
    #[error("service {service:?} failed: {reason}")]
    ServiceFailed {
        /// The service.
        service: String,
        /// Why: the last exit and the last lines of its stderr, or the
        /// required service that failed.
        reason: String,
    },

    /// The service was stopped (by `stop`, a dependency, or shutdown)
    /// while the caller waited for it to be ready.
    #[error("service {0:?} is stopped")]
    ServiceStopped(String),
    /// An HTTP request the API cannot take (feature `server`): malformed
    /// JSON, an unknown field, a value of the wrong type, a bad query
    /// parameter or path segment. `what` names the part (`body`, `query`,
    /// `id`, ...); `reason` says what is wrong with it.
    #[error("bad request: {what}: {reason}")]
    BadRequest {
        /// The part of the request at fault.
        what: String,
        /// What is wrong with it (serde's message names the field).
        reason: String,
    },

    /// A short run id (a suffix of the id's hex digits) that names no run
    /// (`matches == 0`) or several.
    #[error("run id {id:?} matches {matches} runs; give the full id or more digits")]
    UnresolvedRunId {
        /// The id as given.
        id: String,
        /// How many runs it matches.
        matches: usize,
    },

    /// An HTTP request without the bearer token it needs, or with a wrong
    /// one.
    #[error("unauthorized: {reason}")]
    Unauthorized {
        /// Missing, malformed or wrong; never the token itself.
        reason: String,
    },

    /// An HTTP request body over the server's limit.
    #[error("request body over the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },

    /// An HTTP query string over the server's limit.
    #[error("query string of {len} bytes is over the limit of {limit} bytes")]
    QueryTooLarge {
        /// Its length, in bytes.
        len: usize,
        /// The limit, in bytes.
        limit: usize,
    },

    /// An HTTP request whose body did not arrive within the server's
    /// timeout (a slow or stalled client).
    #[error("request body not received within {after:?}")]
    RequestTimeout {
        /// The timeout.
        after: Duration,
    },

    /// No HTTP route for this method and path (a path with `..`, odd
    /// encodings and unknown resources included).
    #[error("no route for {method} {path}")]
    NoRoute {
        /// The request's method.
        method: String,
        /// The request's path, as received.
        path: String,
    },

    /// No task graph with this id is known here (`graphs().find`, `GET
    /// /graphs/{id}`).
    #[error("unknown graph {0}")]
    UnknownGraph(u64),

    /// A route that needs a live orchestrator, asked of a server that
    /// serves a store read-only (`taskorch serve`).
    #[error("{what} is not available: this server reads a store, read-only")]
    ReadOnly {
        /// What was asked ("POST /runs").
        what: String,
    },

    /// An I/O error while talking to a running process.
    #[error("i/o error on {context}: {source}")]
    Io {
        /// What was being done ("reading stdout of run ...").
        context: String,
        /// The operating system's error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// A user actor (or actor group) is already supervised under this
    /// name by this orchestrator: names are unique across the whole tree,
    /// because status, the trace and fault injection find actors by name.
    #[error("an actor named {name:?} is already supervised here")]
    DuplicateActor {
        /// The name asked for.
        name: String,
    },

    /// A user actor (or actor group) name that cannot be used: empty, too
    /// long, or one of the runtime's own actors ("executor", "batch",
    /// "launcher", "scheduler", "pool_keeper", "pool_worker",
    /// "supervisor", "store").
    #[error("invalid actor name {name:?}: {reason}")]
    InvalidActorName {
        /// The name asked for.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A user actor could not be started: its factory failed or its
    /// `pre_start` returned an error. Nothing was added to the tree.
    #[error("actor {actor} failed to start: {reason}")]
    ActorStart {
        /// The actor's name.
        actor: String,
        /// The factory's or `pre_start`'s error.
        reason: String,
    },
}

fn worker(pid: &Option<u32>) -> String {
    match pid {
        Some(pid) => format!("worker (pid {pid})"),
        None => "worker".to_string(),
    }
}

fn show(value: &Option<Duration>) -> String {
    match value {
        Some(d) => format!("{d:?}"),
        None => "a value that is not a duration".to_string(),
    }
}

fn subject(run: &Option<RunId>) -> String {
    match run {
        Some(id) => format!("run {id}"),
        None => "request".to_string(),
    }
}

impl Error {
    /// `ActorFailed` for `actor` with a reason.
    pub fn actor_failed(actor: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::ActorFailed {
            actor: actor.into(),
            reason: reason.into(),
        }
    }

    /// This error as run `id` reports it: a `TimedOut` or `Cancelled`
    /// without a run id gets `id` (one reason stops a whole batch; each of
    /// its runs reports it with its own id). Others are unchanged.
    pub fn for_run(self, id: RunId) -> Self {
        match self {
            Error::TimedOut { run: None, after } => Error::TimedOut {
                run: Some(id),
                after,
            },
            Error::Cancelled { run: None } => Error::Cancelled { run: Some(id) },
            other => other,
        }
    }

    /// Whether this is the `Store` error of a store file that another
    /// orchestrator (in this or another process) holds open: the one
    /// failure of `Store::open` that waiting or stopping the other side
    /// cures, which a tool may want to tell apart.
    pub fn is_store_in_use(&self) -> bool {
        matches!(self, Error::Store { reason, .. } if reason == STORE_IN_USE)
    }

    /// A short, stable name for the variant ("not_found", "timed_out", ...),
    /// for logs, JSON and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NotFound { .. } => "not_found",
            Error::PermissionDenied { .. } => "permission_denied",
            Error::TimedOut { .. } => "timed_out",
            Error::Cancelled { .. } => "cancelled",
            Error::UnknownRun(_) => "unknown_run",
            Error::UnknownAction(_) => "unknown_action",
            Error::InvalidTask(_) => "invalid_task",
            Error::InvalidConfig(_) => "invalid_config",
            Error::ActorFailed { .. } => "actor_failed",
            Error::ShuttingDown => "shutting_down",
            Error::RunPanicked { .. } => "run_panicked",
            Error::InvalidDuration { .. } => "invalid_duration",
            Error::PoolUnavailable(_) => "pool_unavailable",
            Error::InvalidSchedule { .. } => "invalid_schedule",
            Error::UnknownSchedule(_) => "unknown_schedule",
            Error::DuplicateSchedule(_) => "duplicate_schedule",
            Error::PoolExists(_) => "pool_exists",
            Error::WorkerDied { .. } => "worker_died",
            Error::WorkerProtocol { .. } => "worker_protocol",
            Error::QueueFull { .. } => "queue_full",
            Error::InvalidFault { .. } => "invalid_fault",
            Error::Spawn { .. } => "spawn",
            Error::Io { .. } => "io",
            Error::Store { .. } => "store",
            Error::StoreUnavailable { .. } => "store_unavailable",
            Error::InvalidStoreUrl { .. } => "invalid_store_url",
            Error::StoreConnect { .. } => "store_connect",
            Error::StoreSchemaTooNew { .. } => "store_schema_too_new",
            Error::Halted { .. } => "halted",
            Error::RiskLimitExceeded { .. } => "risk_limit_exceeded",
            Error::CircuitOpen { .. } => "circuit_open",
            Error::InvalidWorkflow { .. } => "invalid_workflow",
            Error::WorkflowParse { .. } => "workflow_parse",
            Error::UnknownWorkflow(_) => "unknown_workflow",
            Error::DependencyCycle { .. } => "dependency_cycle",
            Error::UnknownDependency { .. } => "unknown_dependency",
            Error::UnknownRunDependency { .. } => "unknown_run_dependency",
            Error::DuplicateTask(_) => "duplicate_task",
            Error::UnknownTask(_) => "unknown_task",
            Error::InvalidKey { .. } => "invalid_key",
            Error::InvalidLabel { .. } => "invalid_label",
            Error::InvalidQueue { .. } => "invalid_queue",
            Error::UnknownQueue(_) => "unknown_queue",
            Error::InvalidRate { .. } => "invalid_rate",
            Error::RunStillActive(_) => "run_still_active",
            Error::StartNotSupported { .. } => "start_not_supported",
            Error::InvalidBackfill { .. } => "invalid_backfill",
            Error::BackfillTooLarge { .. } => "backfill_too_large",
            Error::TaskNotKept { .. } => "task_not_kept",
            Error::TaskNotFailed { .. } => "task_not_failed",
            Error::DuplicateActor { .. } => "duplicate_actor",
            Error::InvalidActorName { .. } => "invalid_actor_name",
            Error::ActorStart { .. } => "actor_start",
            Error::InvalidService { .. } => "invalid_service",
            Error::ServiceExists(_) => "service_exists",
            Error::UnknownService(_) => "unknown_service",
            Error::UnknownServiceDependency { .. } => "unknown_service_dependency",
            Error::ServiceCycle { .. } => "service_cycle",
            Error::ReadinessTimedOut { .. } => "readiness_timed_out",
            Error::ServiceFailed { .. } => "service_failed",
            Error::ServiceStopped(_) => "service_stopped",
            Error::BadRequest { .. } => "bad_request",
            Error::UnresolvedRunId { .. } => "unresolved_run_id",
            Error::Unauthorized { .. } => "unauthorized",
            Error::BodyTooLarge { .. } => "body_too_large",
            Error::QueryTooLarge { .. } => "query_too_large",
            Error::RequestTimeout { .. } => "request_timeout",
            Error::NoRoute { .. } => "no_route",
            Error::ReadOnly { .. } => "read_only",
            Error::UnknownGraph(_) => "unknown_graph",
        }
    }

    /// Whether trying the same task again could give a different answer.
    ///
    /// Input errors (not found, not executable, malformed, unknown action),
    /// cancellation and shutdown are final; everything else is worth a retry.
    /// A halt, a tripped risk limit and an open circuit are final too: an
    /// attempt is not retried into them (an open circuit says itself when
    /// to come back: `retry_after`).
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            Error::NotFound { .. }
                | Error::PermissionDenied { .. }
                | Error::InvalidTask(_)
                | Error::InvalidConfig(_)
                | Error::UnknownAction(_)
                | Error::Cancelled { .. }
                | Error::ShuttingDown
                | Error::RunPanicked { .. }
                | Error::InvalidDuration { .. }
                | Error::UnknownRun(_)
                | Error::InvalidSchedule { .. }
                | Error::UnknownSchedule(_)
                | Error::DuplicateSchedule(_)
                | Error::PoolExists(_)
                | Error::InvalidFault { .. }
                | Error::Store { .. }
                | Error::InvalidStoreUrl { .. }
                | Error::StoreSchemaTooNew { .. }
                | Error::Halted { .. }
                | Error::RiskLimitExceeded { .. }
                | Error::CircuitOpen { .. }
                | Error::InvalidWorkflow { .. }
                | Error::WorkflowParse { .. }
                | Error::UnknownWorkflow(_)
                | Error::DependencyCycle { .. }
                | Error::UnknownDependency { .. }
                | Error::UnknownRunDependency { .. }
                | Error::DuplicateTask(_)
                | Error::UnknownTask(_)
                | Error::InvalidKey { .. }
                | Error::InvalidLabel { .. }
                | Error::InvalidQueue { .. }
                | Error::UnknownQueue(_)
                | Error::InvalidRate { .. }
                | Error::RunStillActive(_)
                | Error::StartNotSupported { .. }
                | Error::InvalidBackfill { .. }
                | Error::BackfillTooLarge { .. }
                | Error::TaskNotKept { .. }
                | Error::TaskNotFailed { .. }
                | Error::DuplicateActor { .. }
                | Error::InvalidActorName { .. }
                | Error::InvalidService { .. }
                | Error::ServiceExists(_)
                | Error::UnknownService(_)
                | Error::UnknownServiceDependency { .. }
                | Error::ServiceCycle { .. }
                | Error::ServiceFailed { .. }
                | Error::ServiceStopped(_)
                | Error::BadRequest { .. }
                | Error::UnresolvedRunId { .. }
                | Error::Unauthorized { .. }
                | Error::BodyTooLarge { .. }
                | Error::QueryTooLarge { .. }
                | Error::NoRoute { .. }
                | Error::ReadOnly { .. }
                | Error::UnknownGraph(_)
        )
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source: Arc::new(source),
        }
    }
}
