//! Memory bounds: the hard ceiling on captured output, the event ring's
//! bounds in the configuration.

use std::time::Duration;

use taskorch::graph::{GraphTask, TaskGraph};
use taskorch::task::MAX_OUTPUT_CEILING;
use taskorch::{Config, Error, Orchestrator, Task};

use crate::common::*;

fn assert_invalid_task<T: std::fmt::Debug>(result: taskorch::Result<T>) {
    match result {
        Err(Error::InvalidTask(why)) => {
            assert!(why.contains("max_output"), "{why}");
            assert!(why.contains(&MAX_OUTPUT_CEILING.to_string()), "{why}");
        }
        other => panic!("expected InvalidTask naming max_output, got {other:?}"),
    }
}

#[tokio::test]
async fn a_max_output_past_the_ceiling_is_refused_naming_field_and_limit() {
    let rt = start_runtime().await;
    let unbounded = Task::command("true").max_output(usize::MAX);
    assert_invalid_task(rt.run(unbounded.clone()).await);
    assert_invalid_task(rt.launch(unbounded.clone()).await);
    let mut g = TaskGraph::new();
    g.add(GraphTask::new("big", unbounded));
    match rt.graphs().start(g).await {
        Err(Error::InvalidTask(why)) => assert!(why.contains("max_output"), "{why}"),
        other => panic!("expected InvalidTask, got {other:?}"),
    }
    // At the ceiling is fine.
    let out = rt
        .run(Task::command("true").max_output(MAX_OUTPUT_CEILING))
        .await
        .unwrap();
    assert!(out.success());
}

#[tokio::test]
async fn unbounded_output_and_event_settings_are_refused_at_start() {
    for (field, config) in [
        (
            "max_output",
            Config {
                max_output: usize::MAX,
                ..fast_config()
            },
        ),
        (
            "output_ring_bytes",
            Config {
                output_ring_bytes: usize::MAX,
                ..fast_config()
            },
        ),
        (
            "event_capacity",
            Config {
                event_capacity: usize::MAX,
                ..fast_config()
            },
        ),
        (
            "event_capacity_bytes",
            Config {
                event_capacity_bytes: 0,
                ..fast_config()
            },
        ),
    ] {
        let started = tokio::time::timeout(Duration::from_secs(10), Orchestrator::start(config))
            .await
            .expect("start answers");
        match started {
            Err(Error::InvalidConfig(why)) => {
                assert!(why.contains(&format!("Config::{field} ")), "{why}")
            }
            Err(other) => panic!("{field}: expected InvalidConfig, got {other}"),
            Ok(orch) => {
                orch.shutdown().await.unwrap();
                panic!("{field}: an unbounded setting was accepted");
            }
        }
    }
}
