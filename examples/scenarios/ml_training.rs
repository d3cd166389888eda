//! The ML training scenario: a long-running training process whose
//! metrics are streamed as it prints them, a periodic job that checkpoints
//! its weights while it trains, and a fire-and-forget evaluation of the
//! final checkpoint that the scenario collects later.
//!
//! The trainer is a small Python program (logistic regression by gradient
//! descent on two synthetic clusters, seeded, so every run learns the same
//! thing): one JSON line of metrics per epoch on stdout, its weights
//! rewritten atomically after each epoch. The checkpoint job copies those
//! weights to `checkpoints/ckpt-<run id>.json` (each run of a schedule has
//! its own id in `TASKORCH_RUN_ID`). The evaluation scores a checkpoint on
//! held-out data.
//!
//! Shared by `examples/ml_training.rs` and the integration test
//! (`tests/scenarios.rs`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use taskorch::{Execution, Orchestrator, Pattern, Request, RunId, RunStatus, Task};

// Declared beside this module by whoever includes it (the example, the
// test), so the test binary holds one copy for all three scenarios.
use super::failure::{Failure, Result};
use super::wait::wait_for;

/// The trainer: `train.py EPOCHS EPOCH_MS OUT_DIR`.
const TRAIN: &str = r#"
import json, math, os, random, sys, time
epochs, epoch_ms, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
random.seed(7)
def blob(cx, cy, label, n):
    return [((random.gauss(cx, 1.0), random.gauss(cy, 1.0)), label) for _ in range(n)]
data = blob(-1.5, -1.0, 0, 150) + blob(1.5, 1.0, 1, 150)
w, b, lr = [0.0, 0.0], 0.0, 0.5
print("training on %d examples for %d epochs" % (len(data), epochs), file=sys.stderr, flush=True)
for epoch in range(1, epochs + 1):
    gw, gb, loss, correct = [0.0, 0.0], 0.0, 0.0, 0
    for (x, y), label in data:
        p = 1 / (1 + math.exp(-(w[0] * x + w[1] * y + b)))
        loss -= label * math.log(max(p, 1e-12)) + (1 - label) * math.log(max(1 - p, 1e-12))
        gw[0] += (p - label) * x; gw[1] += (p - label) * y; gb += p - label
        correct += (p >= 0.5) == (label == 1)
    n = len(data)
    w = [w[0] - lr * gw[0] / n, w[1] - lr * gw[1] / n]; b -= lr * gb / n
    tmp = os.path.join(out, "weights.json.tmp")
    with open(tmp, "w") as f:
        json.dump({"epoch": epoch, "w": w, "b": b}, f)
    os.replace(tmp, os.path.join(out, "weights.json"))
    print(json.dumps({"epoch": epoch, "loss": round(loss / n, 4), "accuracy": round(correct / n, 4)}), flush=True)
    time.sleep(epoch_ms / 1000)
"#;

/// The checkpoint job, run in the training directory.
const CHECKPOINT: &str = r#"
[ -f weights.json ] || { echo "no weights yet"; exit 0; }
mkdir -p checkpoints
cp weights.json "checkpoints/ckpt-$TASKORCH_RUN_ID.json"
echo "checkpoints/ckpt-$TASKORCH_RUN_ID.json"
"#;

/// The evaluation: `eval.py CHECKPOINT`, held-out data from another seed.
const EVALUATE: &str = r#"
import json, math, random, sys
ckpt = json.load(open(sys.argv[1]))
random.seed(11)
def blob(cx, cy, label, n):
    return [((random.gauss(cx, 1.0), random.gauss(cy, 1.0)), label) for _ in range(n)]
held_out = blob(-1.5, -1.0, 0, 100) + blob(1.5, 1.0, 1, 100)
w, b = ckpt["w"], ckpt["b"]
correct = sum((w[0] * x + w[1] * y + b >= 0) == (label == 1) for (x, y), label in held_out)
print(json.dumps({"epoch": ckpt["epoch"], "accuracy": correct / len(held_out)}), flush=True)
"#;

/// How to train.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The training directory (weights, checkpoints).
    pub dir: PathBuf,
    /// Epochs to train.
    pub epochs: u32,
    /// Pause after each epoch, standing in for real work.
    pub epoch_time: Duration,
    /// How often the checkpoint job runs.
    pub checkpoint_every: Duration,
}

/// One epoch's metrics, as the trainer prints them.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Metrics {
    /// 1, 2, ...
    pub epoch: u32,
    /// Mean log loss over the training set.
    pub loss: f64,
    /// Share of the training set classified right.
    pub accuracy: f64,
}

/// What the evaluation printed.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Evaluation {
    /// The epoch of the checkpoint evaluated.
    pub epoch: u32,
    /// Share of the held-out set classified right.
    pub accuracy: f64,
}

/// The whole run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Each stage and the pattern `execute` picked for it.
    pub stages: Vec<(&'static str, Pattern)>,
    /// Metrics per epoch, in the order they were streamed.
    pub metrics: Vec<Metrics>,
    /// Checkpoint files written, oldest first.
    pub checkpoints: Vec<PathBuf>,
    /// Runs of the checkpoint schedule, and how many failed.
    pub checkpoint_runs: (u64, u64),
    /// The checkpoint that was evaluated (the last one, taken after
    /// training ended).
    pub final_checkpoint: PathBuf,
    /// The evaluation's run and result.
    pub evaluation: (RunId, Evaluation),
}

/// Train, checkpoint and evaluate in `settings.dir`; `say` gets a line for
/// each step as it happens.
pub async fn run(
    orch: &Orchestrator,
    settings: &Settings,
    say: &(dyn Fn(String) + Sync),
) -> Result<Report> {
    let dir = &settings.dir;
    let mut stages = Vec::new();

    // The checkpoint job, every `checkpoint_every` while training (Periodic).
    let checkpoint = Task::shell(CHECKPOINT).current_dir(dir).name("checkpoint");
    let request = Request::new(checkpoint).every(settings.checkpoint_every);
    stages.push(("checkpoint", Pattern::select(&request)));
    let schedule = match orch.execute(request).await? {
        Execution::Scheduled(schedule) => schedule,
        other => return Err(Failure::unexpected("scheduling checkpoints", other)),
    };
    say(format!(
        "checkpoint job scheduled every {:?}",
        settings.checkpoint_every
    ));

    // Training, metrics streamed as they are printed (LongRunning).
    let train = Task::command("python3")
        .args(["-u", "-c", TRAIN])
        .arg(settings.epochs.to_string())
        .arg(settings.epoch_time.as_millis().to_string())
        .arg(dir.display().to_string())
        .name("train");
    let request = Request::new(train).streaming(true);
    stages.push(("train", Pattern::select(&request)));
    let trained = stream_training(orch, request, say).await;
    // Whatever happened to training, the job that watches it must stop.
    let metrics = match trained {
        Ok(metrics) => metrics,
        Err(e) => {
            let _ = schedule.remove().await;
            return Err(e);
        }
    };

    // One more checkpoint after the last epoch, so the final weights are
    // saved, then stop the job.
    let runs_at_end = schedule.info().runs;
    let saved = wait_for(Duration::from_secs(30), || {
        let info = schedule.info();
        (info.runs > runs_at_end && info.in_flight == 0).then_some(info)
    })
    .await;
    schedule.remove().await?;
    let info = saved?;
    let Some(last) = info.last else {
        return Err(Failure::broken(
            "checkpointing",
            "the checkpoint job never ran",
        ));
    };
    if last.status != RunStatus::Succeeded {
        let out = orch.wait(last.id).await?;
        return Err(Failure::step("the last checkpoint", &out));
    }
    let final_checkpoint = dir.join(format!("checkpoints/ckpt-{}.json", last.id));
    say(format!(
        "checkpoint job stopped after {} runs ({} failed); final checkpoint {}",
        info.runs,
        info.failures,
        file_name(&final_checkpoint)
    ));

    // Evaluate the final checkpoint in the background (FireAndForget)...
    let evaluate = Task::command("python3")
        .args(["-c", EVALUATE])
        .arg(final_checkpoint.display().to_string())
        .name("evaluate");
    let request = Request::new(evaluate).wait(false);
    stages.push(("evaluate", Pattern::select(&request)));
    let eval_id = match orch.execute(request).await? {
        Execution::Launched(eval_id) => eval_id,
        other => return Err(Failure::unexpected("launching the evaluation", other)),
    };
    say(format!("evaluation launched as run {eval_id}"));

    // ...while the scenario goes on: list what the checkpoint job saved.
    let checkpoints = list_checkpoints(&dir.join("checkpoints"))?;
    say(format!("{} checkpoints on disk", checkpoints.len()));

    // Come back for the evaluation.
    let out = orch.wait(eval_id).await?;
    if !out.success() {
        return Err(Failure::step("evaluation", &out));
    }
    let evaluation: Evaluation = parse(&out.stdout_str(), "evaluation")?;
    say(format!(
        "evaluation of epoch {}: held-out accuracy {:.1}%",
        evaluation.epoch,
        evaluation.accuracy * 100.0
    ));
    Ok(Report {
        stages,
        metrics,
        checkpoints,
        checkpoint_runs: (info.runs, info.failures),
        final_checkpoint,
        evaluation: (eval_id, evaluation),
    })
}

/// Run the training request and collect its metrics as they stream.
async fn stream_training(
    orch: &Orchestrator,
    request: Request,
    say: &(dyn Fn(String) + Sync),
) -> Result<Vec<Metrics>> {
    let mut stream = match orch.execute(request).await? {
        Execution::Streaming(stream) => stream,
        other => return Err(Failure::unexpected("starting training", other)),
    };
    let mut metrics = Vec::new();
    while let Some(line) = stream.next_line().await {
        match serde_json::from_str::<Metrics>(&line.text) {
            Ok(m) => {
                say(format!(
                    "epoch {:>3}  loss {:.4}  accuracy {:.1}%",
                    m.epoch,
                    m.loss,
                    m.accuracy * 100.0
                ));
                metrics.push(m);
            }
            Err(_) => say(format!("trainer: {}", line.text)),
        }
    }
    let out = stream.wait().await?;
    if !out.success() {
        return Err(Failure::step("training", &out));
    }
    Ok(metrics)
}

fn parse<T: for<'de> Deserialize<'de>>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text.trim())
        .map_err(|e| Failure::broken(what, format!("unreadable output {text:?}: {e}")))
}

fn list_checkpoints(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Failure::broken(
                format!("listing {}", dir.display()),
                e.to_string(),
            ));
        }
    };
    // Run ids sort by time (UUID v7), so names sort oldest first.
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    Ok(files)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
