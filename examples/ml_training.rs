//! An ML training flow run by automatic pattern selection: a long-running
//! training process whose metrics are streamed as it prints them
//! (LongRunning), a checkpoint job every half second while it trains
//! (Periodic), and an evaluation of the final checkpoint launched in the
//! background and collected later (FireAndForget). Each is one
//! `orch.execute(Request)`.
//!
//! The trainer and the evaluation are small Python programs (logistic
//! regression on synthetic data); needs `python3`.
//!
//! ```text
//! cargo run --release --example ml_training
//! ```

use std::time::{Duration, Instant};

use taskorch::{Config, Orchestrator};

#[path = "scenarios/failure.rs"]
mod failure;
#[path = "scenarios/ml_training.rs"]
mod scenario;
#[path = "scenarios/wait.rs"]
mod wait;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let orch = Orchestrator::start(Config::default()).await?;
    let dir = tempfile::tempdir()?;
    let settings = scenario::Settings {
        dir: dir.path().to_path_buf(),
        epochs: 20,
        epoch_time: Duration::from_millis(150),
        checkpoint_every: Duration::from_millis(500),
    };
    println!("training in {}", dir.path().display());

    let started = Instant::now();
    let say = move |line: String| println!("[{:>6.2} s] {line}", started.elapsed().as_secs_f64());
    let report = match scenario::run(&orch, &settings, &say).await {
        Ok(report) => report,
        Err(e) => {
            orch.shutdown().await?;
            return Err(e.into());
        }
    };

    println!("\nstage and the pattern execute() picked:");
    for (stage, pattern) in &report.stages {
        println!("{stage:<11} {pattern}");
    }
    if let (Some(first), Some(last)) = (report.metrics.first(), report.metrics.last()) {
        println!(
            "\nloss {:.4} -> {:.4}, training accuracy {:.1}% -> {:.1}% over {} epochs",
            first.loss,
            last.loss,
            first.accuracy * 100.0,
            last.accuracy * 100.0,
            report.metrics.len()
        );
    }
    println!(
        "checkpoint job: {} runs, {} failed, {} files; evaluated {}",
        report.checkpoint_runs.0,
        report.checkpoint_runs.1,
        report.checkpoints.len(),
        report.final_checkpoint.display()
    );
    let (eval_run, evaluation) = report.evaluation;
    println!(
        "evaluation (run {eval_run}): epoch {}, held-out accuracy {:.1}%",
        evaluation.epoch,
        evaluation.accuracy * 100.0
    );
    orch.shutdown().await?;
    Ok(())
}
