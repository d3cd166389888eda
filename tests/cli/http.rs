//! `taskorch up JOBS --http ADDR` serves the live API next to the jobs
//! file (the same run JSON as `runs --json`); `taskorch serve` serves a
//! store read-only.

use std::time::Duration;

use serde_json::Value;

use super::{Spawned, taskorch};
use crate::common::wait_until;

/// The address `taskorch` printed on stderr (`HTTP API on http://ADDR/`).
async fn served_addr(up: &Spawned) -> String {
    let mut addr = None;
    wait_until(Duration::from_secs(20), || {
        addr = up
            .stderr()
            .lines()
            .find_map(|l| l.split("HTTP API on http://").nth(1))
            .map(|rest| rest.trim_end_matches('/').to_string());
        addr.is_some()
    })
    .await;
    addr.unwrap_or_else(|| panic!("no address on stderr:\n{}", up.stderr()))
}

fn jobs(dir: &std::path::Path) -> String {
    let path = dir.join("jobs.toml");
    std::fs::write(
        &path,
        "[[launch]]\nname = \"hello\"\ncommand = [\"echo\", \"hello\"]\n",
    )
    .unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn up_with_http_serves_the_runs_and_takes_the_printed_token() {
    let dir = tempfile::tempdir().unwrap();
    let file = jobs(dir.path());
    let mut up = Spawned::start(
        dir.path(),
        &["up", &file, "--store", "st", "--http", "127.0.0.1:0"],
    );
    let addr = served_addr(&up).await;
    up.wait_for("launch   hello          succeeded").await;
    let client = reqwest::Client::new();
    let runs: Vec<Value> = client
        .get(format!("http://{addr}/runs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["name"], "hello");
    assert_eq!(runs[0]["command"], "echo hello");
    // No token was configured: one was generated and printed.
    let token = up
        .stderr()
        .lines()
        .find_map(|l| {
            l.split("bearer token (Authorization: Bearer ...): ")
                .nth(1)
                .map(str::to_string)
        })
        .expect("a printed token");
    let refused = client
        .post(format!("http://{addr}/runs"))
        .body(r#"{"command": ["true"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let launched = client
        .post(format!("http://{addr}/runs"))
        .bearer_auth(&token)
        .body(r#"{"command": ["true"], "name": "from-http"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(launched.status(), 201);
    up.signal("TERM");
    assert_eq!(up.exit_code().await, 0, "stderr:\n{}", up.stderr());

    // The same object as `runs --json` prints, key for key.
    let listed = taskorch(
        dir.path(),
        &["runs", "--store", "st", "--json", "--name", "hello"],
    );
    let listed: Vec<Value> = serde_json::from_str(&listed.stdout).unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&listed[0]), keys(&runs[0]));
}

#[tokio::test]
async fn serve_reads_a_store_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let ran = taskorch(
        dir.path(),
        &["--store", "st", "run", "--", "echo", "stored"],
    );
    assert_eq!(ran.code, 0, "{ran:?}");
    let mut serve = Spawned::start(
        dir.path(),
        &[
            "--store",
            "st",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--http-loopback-writes",
        ],
    );
    let addr = served_addr(&serve).await;
    let client = reqwest::Client::new();
    let runs: Vec<Value> = client
        .get(format!("http://{addr}/runs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
    let id = runs[0]["id"].as_str().unwrap().to_string();
    let output: Value = client
        .get(format!("http://{addr}/runs/{id}/output"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(output["lines"][0]["text"], "stored");
    let refused = client
        .post(format!("http://{addr}/runs"))
        .body(r#"{"command": ["true"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 405);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["kind"], "read_only");
    serve.signal("INT");
    assert_eq!(serve.exit_code().await, 0, "stderr:\n{}", serve.stderr());
}
