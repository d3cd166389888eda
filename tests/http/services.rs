//! Services over HTTP: list, one by name, stop / start / restart, and
//! `unknown_service` for a name no service has.

use std::time::{Duration, Instant};

use serde_json::Value;
use taskorch::ServiceSpec;

use super::*;

/// Wait (bounded) until the service's JSON satisfies `done`.
async fn wait_service(s: &Served, name: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = s.get_json(&format!("/services/{name}")).await;
        if done(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "service {name} never got there: {v}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn services_are_listed_shown_stopped_started_and_restarted() {
    let s = serve().await;
    s.orch()
        .supervise(ServiceSpec::command("sleeper", "/bin/sleep").args(["30"]))
        .await
        .unwrap();
    let list = s.get_json("/services").await;
    assert_eq!(list[0]["name"], "sleeper");
    let first = wait_service(&s, "sleeper", |v| v["pid"].is_u64()).await;
    assert_eq!(first["restarts"], 0);
    let stopped: Value = s
        .post("/services/sleeper/stop", "")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stopped["state"], "stopped");
    let started: Value = s
        .post("/services/sleeper/start", "")
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(started["state"], "stopped");
    let before = wait_service(&s, "sleeper", |v| v["pid"].is_u64()).await;
    let restarted = s.post("/services/sleeper/restart", "").await;
    assert_eq!(restarted.status(), 200);
    wait_service(&s, "sleeper", |v| {
        v["pid"].is_u64() && v["pid"] != before["pid"]
    })
    .await;
    for path in [
        "/services/nope/restart",
        "/services/nope/stop",
        "/services/nope/start",
    ] {
        assert_problem(s.post(path, "").await, 404, "unknown_service").await;
    }
    assert_problem(s.get("/services/nope").await, 404, "unknown_service").await;
}
