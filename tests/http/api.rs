//! The JSON resources: launch, list with filters, one run (full and
//! short ids), output paging, cancel, rerun, schedules, system, halt.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use taskorch::{ScheduleSpec, Task, Trigger};

use super::*;

/// The keys of a run object: the shape `taskorch runs --json` prints.
const RUN_KEYS: [&str; 23] = [
    "id",
    "short_id",
    "name",
    "status",
    "pattern",
    "command",
    "queued",
    "started",
    "finished",
    "duration",
    "exit_code",
    "signal",
    "attempts",
    "stdout_bytes",
    "stderr_bytes",
    "stdout_truncated",
    "stderr_truncated",
    "stdout_dropped",
    "stderr_dropped",
    "error",
    "key",
    "labels",
    "rerun_of",
];

fn keys(run: &Value) -> BTreeSet<String> {
    run.as_object()
        .expect("a run object")
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn launch_list_show_and_page_output() {
    let s = serve().await;
    let id = s
        .launch(json!({
            "name": "greet",
            "command": ["sh", "-c", "echo one; echo two; echo three"],
            "labels": {"team": "a"},
            "key": "greet-1",
            "env": {"X": "1"},
            "timeout": "30s",
            "retries": 0,
            "priority": "high"
        }))
        .await;
    let run = s.wait_run(&id).await;
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["exit_code"], 0);
    assert_eq!(run["labels"]["team"], "a");
    assert_eq!(run["key"], "greet-1");
    assert_eq!(run["name"], "greet");
    let expected: BTreeSet<String> = RUN_KEYS.iter().map(|k| k.to_string()).collect();
    assert_eq!(keys(&run), expected);

    // The short id the run carries names it too, as in the CLI.
    let short = run["short_id"].as_str().unwrap().to_string();
    assert_eq!(
        s.get_json(&format!("/runs/{short}")).await["id"],
        id.as_str()
    );

    // Filters as query parameters.
    let other = s.launch(json!({"shell": "exit 3", "name": "fails"})).await;
    s.wait_run(&other).await;
    let labelled = s.get_json("/runs?label=team=a").await;
    let ids: Vec<&str> = labelled
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![id.as_str()]);
    let failed = s.get_json("/runs?status=failed").await;
    assert_eq!(failed.as_array().unwrap().len(), 1);
    assert_eq!(failed[0]["id"], other.as_str());
    assert_eq!(s.get_json("/runs?key=greet-1").await[0]["id"], id.as_str());
    assert_eq!(
        s.get_json("/runs?prefix=gr")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(s.get_json("/runs?dead=true").await[0]["id"], other.as_str());
    // Newest first; limit and offset page through.
    let all = s.get_json("/runs").await;
    assert_eq!(all[0]["id"], other.as_str());
    assert_eq!(
        s.get_json("/runs?limit=1&offset=1").await[0]["id"],
        id.as_str()
    );
    assert_eq!(
        s.get_json("/runs?since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z")
            .await,
        json!([])
    );

    // Output, paged by seq.
    let page = s.get_json(&format!("/runs/{id}/output?limit=2")).await;
    let texts: Vec<&str> = page["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["one", "two"]);
    assert_eq!(page["lines"][0]["stream"], "stdout");
    assert!(page["lines"][0]["time"].is_string());
    let next = page["next"].as_u64().expect("a next page");
    let rest = s.get_json(&format!("/runs/{id}/output?after={next}")).await;
    assert_eq!(rest["lines"].as_array().unwrap().len(), 1);
    assert_eq!(rest["lines"][0]["text"], "three");
    assert_eq!(rest["next"], Value::Null);
}

#[tokio::test]
async fn launch_with_a_live_key_answers_the_same_run() {
    let s = serve().await;
    let body = json!({"shell": "sleep 30", "key": "only-once"});
    let first = s.launch(body.clone()).await;
    let second = s.launch(body).await;
    assert_eq!(first, second);
    let response = s.post(&format!("/runs/{first}/cancel"), "").await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn cancel_ends_a_long_run_cancelled_and_rerun_starts_a_new_one() {
    let s = serve().await;
    let id = s.launch(json!({"shell": "sleep 30"})).await;
    let response = s.post(&format!("/runs/{id}/cancel"), "").await;
    assert_eq!(response.status(), 200);
    let run = s.wait_run(&id).await;
    assert_eq!(run["status"], "cancelled");

    let response = s.post(&format!("/runs/{id}/rerun"), "").await;
    assert_eq!(response.status(), 201);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["rerun_of"], id.as_str());
    let new = answer["id"].as_str().unwrap().to_string();
    assert_ne!(new, id);
    let rerun = s.get_json(&format!("/runs/{new}")).await;
    assert_eq!(rerun["rerun_of"], id.as_str());
    s.post(&format!("/runs/{new}/cancel"), "").await;
    // A rerun of a run still going is refused, typed.
    let live = s.launch(json!({"shell": "sleep 30"})).await;
    let refused = s.post(&format!("/runs/{live}/rerun"), "").await;
    assert_problem(refused, 409, "run_still_active").await;
    s.post(&format!("/runs/{live}/cancel"), "").await;
}

#[tokio::test]
async fn schedules_are_listed_disabled_enabled_and_triggered() {
    let s = serve().await;
    s.orch()
        .schedule(ScheduleSpec::new(
            "tick",
            Trigger::every(Duration::from_secs(3600)),
            Task::shell("true"),
        ))
        .await
        .unwrap();
    let list = s.get_json("/schedules").await;
    assert_eq!(list[0]["name"], "tick");
    assert_eq!(list[0]["enabled"], true);
    let off: Value = s
        .post("/schedules/tick/disable", "")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(off["enabled"], false);
    let on: Value = s
        .post("/schedules/tick/enable", "")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(on["enabled"], true);
    let fired: Value = s
        .post("/schedules/tick/trigger", "")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fired["outcome"], "started");
    let id = fired["run_id"].as_str().unwrap().to_string();
    assert_eq!(s.wait_run(&id).await["status"], "succeeded");
    assert_problem(
        s.post("/schedules/nope/trigger", "").await,
        404,
        "unknown_schedule",
    )
    .await;
}

#[tokio::test]
async fn system_status_halt_and_resume() {
    let s = serve().await;
    let status = s.get_json("/system").await;
    let names: Vec<&str> = status["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"executor"), "{status}");
    let halted: Value = s
        .post("/halt", r#"{"reason":"maintenance"}"#)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(halted["halted"], "maintenance");
    assert_eq!(halted["changed"], true);
    let refused = s.post("/runs", r#"{"shell":"true"}"#).await;
    assert_problem(refused, 409, "halted").await;
    let resumed: Value = s.post("/resume", "").await.json().await.unwrap();
    assert_eq!(resumed["halted"], Value::Null);
    s.launch(json!({"shell": "true"})).await;
    assert_eq!(s.get_json("/risk-limits").await, json!([]));
    assert_eq!(s.get_json("/pools").await, json!([]));
}

#[tokio::test]
async fn the_dashboard_page_links_the_api_document() {
    let s = serve().await;
    let response = s.get("/").await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    assert!(page.contains("/openapi.json"), "{page}");
}

#[tokio::test]
async fn an_embedded_router_serves_inside_the_applications_own_app() {
    let rt = start_runtime().await;
    // The application's own server, with our API nested under /taskorch.
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .nest("/taskorch", rt.orch.http_router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    let health = client
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
    let runs = client
        .get(format!("http://{addr}/taskorch/runs"))
        .send()
        .await
        .unwrap();
    assert_eq!(runs.status(), 200);
    // No token configured in this process: writes are refused, typed.
    let launch = client
        .post(format!("http://{addr}/taskorch/runs"))
        .body(r#"{"shell":"true"}"#)
        .send()
        .await
        .unwrap();
    assert_problem(launch, 401, "unauthorized").await;
    server.abort();
}

#[tokio::test]
async fn graphs_are_listed_and_shown_with_their_edges_and_states() {
    use taskorch::graph::{GraphTask, TaskGraph};
    let s = serve().await;
    let mut g = TaskGraph::new();
    let build = g.add(GraphTask::new("build", Task::shell("true")));
    g.add(GraphTask::new("test", Task::shell("sleep 30")).after(build));
    let run = s.orch().graphs().start(g).await.unwrap();
    let list = s.get_json("/graphs").await;
    assert_eq!(list[0]["id"], run.id());
    // Wait until `test` runs (so `build` succeeded).
    let mut graph = Value::Null;
    for _ in 0..200 {
        graph = s.get_json(&format!("/graphs/{}", run.id())).await;
        if graph["tasks"][1]["status"] == "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(graph["tasks"][0]["name"], "build");
    assert_eq!(graph["tasks"][0]["status"], "succeeded");
    assert!(graph["tasks"][0]["run_id"].is_string(), "{graph}");
    assert_eq!(graph["tasks"][1]["depends_on"], json!(["build"]));
    assert_eq!(graph["tasks"][1]["status"], "running");
    assert_problem(s.get("/graphs/999999").await, 404, "unknown_graph").await;
    assert_problem(s.get("/graphs/x").await, 400, "bad_request").await;
}
