//! The three example scenarios, run with small inputs: the same code
//! `cargo run --example video_pipeline | ml_training | api_service` runs
//! (it lives in `examples/scenarios/`).

use std::sync::Mutex;
use std::time::Duration;

use taskorch::{Error, Pattern, RunStatus};

use crate::common::*;

#[path = "../examples/scenarios/failure.rs"]
mod failure;
#[path = "../examples/scenarios/wait.rs"]
mod wait;

#[path = "../examples/scenarios/api_service.rs"]
mod api_service;
#[path = "../examples/scenarios/ml_training.rs"]
mod ml_training;
#[path = "../examples/scenarios/video_pipeline.rs"]
mod video_pipeline;

/// Collects what a scenario says, for the assertions (and for the test's
/// output when one fails).
#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl Log {
    fn say(&self) -> impl Fn(String) + Sync + '_ {
        move |line| {
            println!("{line}");
            self.0.lock().unwrap().push(line);
        }
    }

    fn contains(&self, fragment: &str) -> bool {
        self.0.lock().unwrap().iter().any(|l| l.contains(fragment))
    }
}

fn all_runs_ended(rt: &Runtime) {
    let open: Vec<_> = rt
        .runs()
        .into_iter()
        .filter(|r| !r.status.is_terminal())
        .collect();
    assert!(open.is_empty(), "runs left open: {open:?}");
}

#[tokio::test]
async fn video_pipeline_probes_transcodes_and_thumbnails() {
    use video_pipeline::{Settings, Tools};

    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let tools = video_pipeline::detect_tools(&rt).await.unwrap();
    let inputs = video_pipeline::make_samples(&rt, tools, dir.path(), 2, 64 << 10)
        .await
        .unwrap();
    let settings = Settings {
        inputs: inputs.clone(),
        out_dir: dir.path().to_path_buf(),
        probe_limit: 2,
        chunk_bytes: 16 << 10,
    };
    let log = Log::default();
    let report = video_pipeline::run(&rt, tools, &settings, &log.say())
        .await
        .unwrap();

    assert_eq!(report.tools, tools);
    assert_eq!(
        report.stages,
        [
            ("probe", Pattern::Concurrent),
            ("thumbnail", Pattern::FireAndForget),
            ("transcode", Pattern::LongRunning),
            ("verify", Pattern::Simple),
        ]
    );
    assert_eq!(report.files.len(), 2);
    for (file, input) in report.files.iter().zip(&inputs) {
        assert_eq!(&file.input, input, "input order is kept");
        assert!(file.verified, "{file:?}");
        assert!(file.output.exists() && file.output_bytes > 0, "{file:?}");
        assert_eq!(file.thumbnail_status, Some(RunStatus::Succeeded));
        assert!(file.thumbnail.exists());
        assert_eq!(file.progress.last(), Some(&100), "{file:?}");
        assert!(
            file.progress.windows(2).all(|w| w[0] < w[1]),
            "progress only moves forward: {:?}",
            file.progress
        );
        assert!(file.probe.bytes > 0);
        if tools == Tools::StandIn {
            // 64 KiB in 16 KiB chunks: one progress line per chunk.
            assert_eq!(file.progress, [25, 50, 75, 100]);
            assert_eq!(file.probe.bytes, 64 << 10);
            assert_eq!(file.probe.fingerprint.len(), 64, "a sha256");
            assert_eq!(std::fs::metadata(&file.thumbnail).unwrap().len(), 4096);
        }
    }
    if tools == Tools::StandIn {
        assert!(log.contains("ffmpeg is not installed"));
    }
    let thumbnails = rt
        .observe()
        .find_run(report.files[0].thumbnail_run)
        .unwrap();
    assert_eq!(thumbnails.pattern, Pattern::FireAndForget);
    all_runs_ended(&rt);
}

#[tokio::test]
async fn video_pipeline_reports_a_missing_input() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let tools = video_pipeline::detect_tools(&rt).await.unwrap();
    let settings = video_pipeline::Settings {
        inputs: vec![dir.path().join("missing.raw")],
        out_dir: dir.path().to_path_buf(),
        probe_limit: 1,
        chunk_bytes: 1024,
    };
    let log = Log::default();
    let failed = video_pipeline::run(&rt, tools, &settings, &log.say()).await;
    match failed {
        Err(failure::Failure::Step {
            step, exit_code, ..
        }) => {
            assert!(
                step.contains("probing") && step.contains("missing.raw"),
                "{step}"
            );
            assert_ne!(exit_code, Some(0));
        }
        other => panic!("{other:?}"),
    }
    all_runs_ended(&rt);
}

#[tokio::test]
async fn ml_training_streams_metrics_checkpoints_and_evaluates() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = ml_training::Settings {
        dir: dir.path().to_path_buf(),
        epochs: 5,
        epoch_time: Duration::from_millis(40),
        checkpoint_every: Duration::from_millis(30),
    };
    let log = Log::default();
    let report = ml_training::run(&rt, &settings, &log.say()).await.unwrap();

    assert_eq!(
        report.stages,
        [
            ("checkpoint", Pattern::Periodic),
            ("train", Pattern::LongRunning),
            ("evaluate", Pattern::FireAndForget),
        ]
    );
    let epochs: Vec<u32> = report.metrics.iter().map(|m| m.epoch).collect();
    assert_eq!(
        epochs,
        [1, 2, 3, 4, 5],
        "one metrics line per epoch, in order"
    );
    assert!(
        report.metrics.windows(2).all(|w| w[1].loss < w[0].loss),
        "the loss falls: {:?}",
        report.metrics
    );
    assert!(log.contains("epoch   5"));

    // The last checkpoint was taken after training: it holds epoch 5.
    assert!(report.checkpoints.contains(&report.final_checkpoint));
    let saved = std::fs::read_to_string(&report.final_checkpoint).unwrap();
    assert!(saved.contains("\"epoch\": 5"), "{saved}");
    let (runs, failures) = report.checkpoint_runs;
    assert!(runs >= 1 && failures == 0, "{runs} runs, {failures} failed");
    assert!(
        rt.observe().schedules().list().is_empty(),
        "the checkpoint job was removed"
    );

    let (eval_run, evaluation) = report.evaluation;
    assert_eq!(evaluation.epoch, 5);
    assert!(evaluation.accuracy > 0.8, "{evaluation:?}");
    let info = rt.observe().find_run(eval_run).unwrap();
    assert_eq!(info.pattern, Pattern::FireAndForget);
    assert_eq!(info.status, RunStatus::Succeeded);
    all_runs_ended(&rt);
}

#[tokio::test]
async fn api_service_answers_under_load_and_survives_a_worker_crash() {
    let rt = start_runtime().await;
    let settings = api_service::Settings {
        workers: 2,
        clients: 4,
        requests_per_client: 25,
        health_every: Duration::from_millis(30),
    };
    let log = Log::default();
    let report = api_service::run(&rt, &settings, &log.say()).await.unwrap();

    assert_eq!(
        report.stages,
        [("health", Pattern::Periodic), ("request", Pattern::Pooled)]
    );
    // Two phases of 4 clients x 25 requests: every one answered right.
    assert_eq!(report.answered, 200);
    assert_eq!(report.wrong, 0);
    assert!(report.latency.0 <= report.latency.1);
    assert!(
        matches!(&report.crash, Error::WorkerDied { pool, .. } if pool == api_service::POOL),
        "{:?}",
        report.crash
    );
    assert_eq!(report.health.workers, 2);
    assert!(report.health.restarts >= 1, "{:?}", report.health);
    assert!(report.health.served >= 200, "{:?}", report.health);
    assert!(report.health_runs.0 >= 1);
    assert_eq!(report.health_runs.1, 0, "no health check failed");
    assert!(report.throughput > 0.0);
    assert!(log.contains("worker replaced"));

    // The pool was closed: the first workers and the replacement are gone.
    assert_eq!(report.worker_pids.len(), 3, "{:?}", report.worker_pids);
    assert_all_dead(&report.worker_pids).await;
    assert!(
        rt.observe().schedules().list().is_empty(),
        "the health check was removed"
    );
    all_runs_ended(&rt);
}
