//! [`Explanation`]: the [`Advisor`](crate::Advisor)'s account of one
//! pattern, in parts a program can use (a dashboard, `taskorch advise
//! --json`); its `Display` is the text `Advisor::explain` has always
//! given.

use std::fmt;

use serde::{Deserialize, Serialize};
use taskorch_actors::Pattern;

/// What a pattern is for, what it gives, where it stops, what it costs,
/// and how it is called ([`Advisor::explanation`](crate::Advisor::explanation)).
///
/// `Display` prints `summary`, then `When:` `use_when`, `When not:`
/// `limitations` and `Cost:` `cost`, one per line: exactly
/// [`Advisor::explain`](crate::Advisor::explain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    /// The pattern explained.
    pub pattern: Pattern,
    /// One line: its name and what it does.
    pub summary: String,
    /// When to use it, with typical work.
    pub use_when: String,
    /// What it gives over doing the same by hand, one point each.
    pub benefits: Vec<String>,
    /// When not to use it, and what to use instead.
    pub limitations: String,
    /// What it costs, as measured.
    pub cost: String,
    /// The call in Rust (inside an async fn with an `orch`; not compiled
    /// here, the guides hold compiled ones).
    pub example: String,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\nWhen: {}\nWhen not: {}\nCost: {}",
            self.summary, self.use_when, self.limitations, self.cost
        )
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

/// The explanation of `pattern`.
pub(super) fn of(pattern: Pattern) -> Explanation {
    match pattern {
        Pattern::Simple => Explanation {
            pattern,
            summary: "Simple: run one task and wait for its exit code and output.".into(),
            use_when: "Use it for short work whose result you need before going on: a git command, a conversion, an in-process action.".into(),
            benefits: strings(&[
                "One call: the exit code, both output streams and the run's duration come back together.",
                "Time-outs, retries and backoff apply per task; a non-zero exit is an Output, not an error.",
                "The process group is killed on time-out or cancel: nothing is left behind.",
            ]),
            limitations: "Not for work that runs for minutes (you cannot watch it) or that you do not wait for (launch it).".into(),
            cost: "A process start (about 1 ms here for /bin/true) plus a few microseconds of orchestration; an in-process action round trip costs a few microseconds.".into(),
            example: "let out = orch.run(Task::command(\"git\").args([\"status\", \"--short\"])).await?;".into(),
        },
        Pattern::LongRunning => Explanation {
            pattern,
            summary: "LongRunning: run one task and watch its output live, line by line.".into(),
            use_when: "Use it for training jobs, encodes, log tails, anything that runs for minutes and should be watched, cancelled, or read back later by run id.".into(),
            benefits: strings(&[
                "Lines arrive as they are written, stdout and stderr apart, numbered.",
                "Cancel it mid-way by run id; its process group is terminated, grandchildren included.",
                "The output stays readable by run id after the run, within a bounded ring.",
            ]),
            limitations: "Not for many small tasks (use Concurrent) or request/response work (use Pooled).".into(),
            cost: "The same process start as Simple; each line is delivered within microseconds and kept in a bounded ring per run.".into(),
            example: "let mut stream = orch.stream(Task::command(\"python3\").arg(\"train.py\")).await?;\nwhile let Some(line) = stream.next_line().await {\n    println!(\"{}\", line.text);\n}".into(),
        },
        Pattern::Concurrent => Explanation {
            pattern,
            summary: "Concurrent: run many tasks with a concurrency limit, results in input order.".into(),
            use_when: "Use it for fan-out: checksum 500 files 8 at a time, call an API for every row.".into(),
            benefits: strings(&[
                "One limit for the whole batch; results come back in input order.",
                "One failure does not stop the others; each slot carries its own Result.",
                "Memory stays flat: a queued task holds only its result slot until it starts.",
            ]),
            limitations: "Not for work that must run in a particular order (use a task graph) or forever (use Periodic).".into(),
            cost: "Commands run at about 75-90 % of a hand-written tokio fan-out's rate; each in-process task adds a few microseconds of bookkeeping. A queued task holds only its result slot (about 150 bytes): it becomes a run, with a record in the registry, when it starts.".into(),
            example: "let tasks = files.iter().map(|f| Task::command(\"sha256sum\").arg(f)).collect();\nlet results = orch.run_batch(tasks, 8).await;".into(),
        },
        Pattern::FireAndForget => Explanation {
            pattern,
            summary: "FireAndForget: start the work and get a run id back at once.".into(),
            use_when: "Use it when a request must return before the work ends: a nightly export started from a web request, shown on a dashboard later.".into(),
            benefits: strings(&[
                "Returns at once with a run id; status, wait and output work later from anywhere.",
                "With a store, the run and its outcome survive a restart.",
                "Cancel it by id at any time.",
            ]),
            limitations: "Not when the caller needs the result right away (use Simple).".into(),
            cost: "Launching costs microseconds (the spawn happens after the call returns); the run and its output stay in the registry for status and wait.".into(),
            example: "let id = orch.launch(Task::command(\"./export.sh\").name(\"nightly-export\")).await?;\n// later, from anywhere: orch.status(id), orch.wait(id).await".into(),
        },
        Pattern::Periodic => Explanation {
            pattern,
            summary: "Periodic: run the work every N seconds or on a cron expression.".into(),
            use_when: "Use it for health checks, compaction, reports: anything on a clock, with overlap and catch-up policies so a slow run does not pile up.".into(),
            benefits: strings(&[
                "Interval or cron (time zones, DST handled), one timer heap for all schedules.",
                "Overlap policies (skip, queue, allow) keep a slow run from piling up.",
                "Enable, disable and inspect a schedule while it lives; it survives a restart with a store.",
            ]),
            limitations: "Not for one-off delayed work or work triggered by events.".into(),
            cost: "One timer per schedule in a shared heap; each firing costs what the task costs.".into(),
            example: "let spec = ScheduleSpec::new(\"health\", Trigger::every(Duration::from_secs(30)), Task::command(\"./check.sh\"));\nlet schedule = orch.schedule(spec).await?;".into(),
        },
        Pattern::Pooled => Explanation {
            pattern,
            summary: "Pooled: send many small requests to warm worker processes over pipes.".into(),
            use_when: "Use it for a model scorer, an image resizer, a linter server: per-request work far cheaper than starting the program.".into(),
            benefits: strings(&[
                "A pipe round trip instead of a process start per request.",
                "Workers are restarted when they die and recycled after N requests.",
                "Requests beyond the workers wait their turn; each gets a time-out once a worker takes it.",
            ]),
            limitations: "Not for long or independent jobs, or when each request needs a clean process.".into(),
            cost: "A pipe round trip (about 12 us to a `cat` worker) instead of a process start (about a millisecond, far more for an interpreter such as Python); each worker holds its memory while idle (1.6 MiB for `cat`, 13 MiB for a Python loop).".into(),
            example: "let pool = orch.pool(PoolSpec::command(\"scorer\", \"python3\").args([\"scorer.py\"]).workers(4)).await?;\nlet reply = pool.request(\"{\\\"text\\\": \\\"hello\\\"}\").await?;".into(),
        },
    }
}
