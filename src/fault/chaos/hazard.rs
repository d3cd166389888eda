//! The faults the harness injects *inside* runs: what each task of the
//! workload does. An in-process action may panic before it returns its
//! future, panic inside it, or hang until cancelled; a process may trap
//! SIGTERM and clean up, ignore SIGTERM, leave a double-forked daemon in
//! its process group, or leave a grandchild holding its stdout open.
//!
//! Every run appends its run id (a process) or a line (an action) to a
//! per-task marker file, so a run executed twice shows as two lines; every
//! process appends `<run id> <pid> <start time>` to the pid file, so the
//! harness finds it again (see `procs`).
//!
//! What the promise covers: processes that stay in their run's process
//! group, whatever they do with SIGTERM, their parent or their pipes. A
//! daemon that calls `setsid` leaves the group (and the session) on
//! purpose; only a cgroup could follow it, so the harness does not run one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use crate::Orchestrator;

/// The action every in-process task of the workload runs.
pub(super) const ACTION: &str = "chaos-act";

/// The action of the action schedule: panics before its future on every
/// third tick and inside it on the next.
pub(super) const TICK_ACTION: &str = "chaos-tick-act";

/// What one task does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hazard {
    /// A shell script that succeeds (leaving a grandchild behind).
    ShellOk,
    /// A shell script that exits 1 (leaving a grandchild behind).
    ShellFail,
    /// An action that returns `Ok`.
    ActionOk,
    /// An action that returns `Err`.
    ActionFail,
    /// An action whose closure panics before it returns its future.
    PanicEarly,
    /// An action whose future panics.
    PanicInside,
    /// An action whose future never completes: only its timeout or a
    /// cancel ends the run.
    Hang,
    /// A script whose child traps SIGTERM and cleans up (50 ms, then a
    /// marker) while the leader dies at once; it runs until stopped.
    TrapTerm,
    /// A script that ignores SIGTERM (so does its child): only SIGKILL
    /// ends it; it runs until stopped.
    IgnoreTerm,
    /// A script that double-forks a daemon (stdio on /dev/null) that
    /// stays in its process group, then exits.
    Daemon,
    /// A script that exits while a grandchild keeps its stdout open and
    /// writes to it later.
    PipeHolder,
}

impl Hazard {
    const ALL: [Hazard; 11] = [
        Hazard::ShellOk,
        Hazard::ShellFail,
        Hazard::ActionOk,
        Hazard::ActionFail,
        Hazard::PanicEarly,
        Hazard::PanicInside,
        Hazard::Hang,
        Hazard::TrapTerm,
        Hazard::IgnoreTerm,
        Hazard::Daemon,
        Hazard::PipeHolder,
    ];

    /// Draw one: a fault 45 % of the time, else a benign task.
    pub(super) fn draw(rng: &mut StdRng, shell_only: bool) -> Hazard {
        let pool: Vec<Hazard> = Self::ALL
            .into_iter()
            .filter(|h| !shell_only || h.is_shell())
            .collect();
        let (benign, faults): (Vec<Hazard>, Vec<Hazard>) =
            pool.into_iter().partition(|h| !h.is_fault());
        let from = if rng.random_bool(0.45) {
            faults
        } else {
            benign
        };
        from[rng.random_range(0..from.len())]
    }

    /// The name in the report.
    pub(super) fn name(self) -> &'static str {
        match self {
            Hazard::ShellOk => "shell-ok",
            Hazard::ShellFail => "shell-fail",
            Hazard::ActionOk => "action-ok",
            Hazard::ActionFail => "action-fail",
            Hazard::PanicEarly => "action-panics-before-future",
            Hazard::PanicInside => "action-panics-in-future",
            Hazard::Hang => "action-hangs",
            Hazard::TrapTerm => "child-traps-term",
            Hazard::IgnoreTerm => "child-ignores-term",
            Hazard::Daemon => "double-forked-daemon",
            Hazard::PipeHolder => "grandchild-holds-stdout",
        }
    }

    /// Whether this is an injected fault (the report counts those).
    pub(super) fn is_fault(self) -> bool {
        !matches!(
            self,
            Hazard::ShellOk | Hazard::ShellFail | Hazard::ActionOk | Hazard::ActionFail
        )
    }

    /// Whether the task is a process (else an in-process action).
    pub(super) fn is_shell(self) -> bool {
        !matches!(
            self,
            Hazard::ActionOk
                | Hazard::ActionFail
                | Hazard::PanicEarly
                | Hazard::PanicInside
                | Hazard::Hang
        )
    }

    /// Whether only a timeout or a cancel ends the run.
    pub(super) fn runs_until_stopped(self) -> bool {
        matches!(self, Hazard::Hang | Hazard::TrapTerm | Hazard::IgnoreTerm)
    }

    /// The script's kind argument, or the action's mode.
    fn mode(self) -> &'static str {
        match self {
            Hazard::ShellOk | Hazard::ActionOk => "ok",
            Hazard::ShellFail | Hazard::ActionFail => "fail",
            Hazard::PanicEarly => "panic-early",
            Hazard::PanicInside => "panic-inside",
            Hazard::Hang => "hang",
            Hazard::TrapTerm => "trap",
            Hazard::IgnoreTerm => "ignore",
            Hazard::Daemon => "daemon",
            Hazard::PipeHolder => "pipe",
        }
    }
}

/// The harness's scratch directory: the task script, the pid file, the
/// marker and cleanup directories.
#[derive(Debug, Clone)]
pub(super) struct Scratch {
    dir: PathBuf,
}

/// The task script (see the module docs). `rec` appends a process's pid
/// and start time, read with shell builtins only.
const SCRIPT: &str = r#"# sh hz.sh DIR KIND NAME CODE: one task of the chaos harness.
dir=$1 kind=$2 name=$3 code=$4
rec() {
  read -r st < "/proc/$1/stat" || return 0
  set -- $st
  echo "${TASKORCH_RUN_ID:-none} $1 ${22}" >> "$dir/pids"
}
if [ "$kind" = trap-inner ]; then
  trap 'sleep 0.05; echo "$TASKORCH_RUN_ID" >> "$dir/clean/$name"; exit 143' TERM
  echo armed >> "$dir/clean/$name.armed"
  sleep 600 & rec $!
  wait
  exit 0
fi
rec $$
echo "$TASKORCH_RUN_ID" >> "$dir/marks/$name"
case $kind in
  ok|fail) sleep 600 & rec $! ;;
  pipe) ( sleep 0.1; echo late; exec sleep 600 ) & rec $! ;;
  daemon) ( sleep 600 </dev/null >/dev/null 2>&1 & rec $! ) ;;
  trap) sh "$0" "$dir" trap-inner "$name" 0 & rec $!; wait ;;
  ignore) trap '' TERM; sleep 600 & rec $!; wait ;;
esac
echo line
exit $code
"#;

impl Scratch {
    /// Lay out `dir`.
    pub(super) fn create(dir: &Path) -> std::io::Result<Scratch> {
        std::fs::create_dir_all(dir.join("marks"))?;
        std::fs::create_dir_all(dir.join("clean"))?;
        std::fs::write(dir.join("hz.sh"), SCRIPT)?;
        Ok(Scratch {
            dir: dir.to_path_buf(),
        })
    }

    /// Where scripts record their processes.
    pub(super) fn pids(&self) -> PathBuf {
        self.dir.join("pids")
    }

    /// The shell command line of a process task.
    pub(super) fn command(&self, hazard: Hazard, name: &str) -> String {
        let code = u8::from(hazard == Hazard::ShellFail);
        format!(
            "sh '{}' '{}' {} '{name}' {code}",
            self.dir.join("hz.sh").display(),
            self.dir.display(),
            hazard.mode()
        )
    }

    /// The input of an action task.
    pub(super) fn input(hazard: Hazard, name: &str) -> Value {
        json!({ "mode": hazard.mode(), "name": name })
    }

    /// How many times the task called `name` ran (lines in its marker).
    pub(super) fn executions(&self, name: &str) -> usize {
        std::fs::read_to_string(self.dir.join("marks").join(name)).map_or(0, |s| s.lines().count())
    }

    /// Whether the TERM trap of task `name` was set.
    pub(super) fn armed(&self, name: &str) -> bool {
        self.dir
            .join("clean")
            .join(format!("{name}.armed"))
            .exists()
    }

    /// Whether the TERM trap of task `name` finished its cleanup.
    pub(super) fn cleaned(&self, name: &str) -> bool {
        self.dir.join("clean").join(name).exists()
    }

    fn mark(&self, name: &str) {
        use std::io::Write;
        // Only task names the workload made reach here (no '/').
        let path = self.dir.join("marks").join(name);
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = file.write_all(b"action\n");
        }
    }
}

/// The panics of [`TICK_ACTION`] so far.
#[derive(Debug, Default)]
pub(super) struct TickPanics {
    /// Before it returned its future.
    pub(super) early: AtomicU64,
    /// Inside its future.
    pub(super) inside: AtomicU64,
}

/// Register [`ACTION`] and [`TICK_ACTION`]; the tick action counts its
/// panics in `tick_panics`.
pub(super) fn register(orch: &Orchestrator, scratch: &Scratch, tick_panics: Arc<TickPanics>) {
    let marks = scratch.clone();
    orch.register_action(ACTION, move |input: Value| {
        // Workflow blocks get {"inputs", "params"}; plain tasks the params.
        let params = input.get("params").cloned().unwrap_or(input);
        let mode = params["mode"].as_str().unwrap_or("ok").to_string();
        if let Some(name) = params["name"].as_str() {
            marks.mark(name);
        }
        if mode == "panic-early" {
            panic!("chaos: the action panics before returning its future");
        }
        let script = params["script"].clone();
        async move {
            match mode.as_str() {
                "fail" => Err("chaos: asked to fail".to_string()),
                "panic-inside" => panic!("chaos: the action's future panics"),
                "hang" => std::future::pending().await,
                _ => Ok(json!({ "script": script.as_str().unwrap_or("true") })),
            }
        }
    });
    let ticks = AtomicU64::new(0);
    orch.register_action(TICK_ACTION, move |_input: Value| {
        let n = ticks.fetch_add(1, Ordering::Relaxed);
        if n.is_multiple_of(3) {
            tick_panics.early.fetch_add(1, Ordering::Relaxed);
            panic!("chaos: the scheduled action panics before returning its future");
        }
        let inside = n % 3 == 1;
        if inside {
            tick_panics.inside.fetch_add(1, Ordering::Relaxed);
        }
        async move {
            if inside {
                panic!("chaos: the scheduled action's future panics");
            }
            Ok(Value::Null)
        }
    });
}
