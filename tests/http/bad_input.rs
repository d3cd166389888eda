//! Every bad input of the issue: the right status, a problem document
//! with the error's kind, and nothing in the runtime blocked or growing.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

#[tokio::test]
async fn malformed_json_unknown_fields_and_wrong_types_are_bad_requests() {
    let s = serve().await;
    for (body, needle) in [
        (r#"{"shell": "true""#, "EOF"),
        (r#"{"shell": "true", "colour": "red"}"#, "colour"),
        (r#"{"command": "ls"}"#, "invalid type"),
        (r#"{"shell": "true", "retries": -1}"#, "invalid value"),
        (r#"{"shell": "true", "timeout": "soon"}"#, "soon"),
        (r#"{"shell": "true", "priority": "urgent"}"#, "urgent"),
        (r#"{"command": []}"#, "empty"),
        (r#"{"command": ["ls"], "shell": "ls"}"#, "not both"),
        (r#"{}"#, "command"),
        ("", "EOF"),
    ] {
        let doc = assert_problem(s.post("/runs", body).await, 400, "bad_request").await;
        let detail = doc["detail"].as_str().unwrap();
        assert!(detail.contains(needle), "{body}: {detail}");
    }
    // A task the runtime refuses: its own typed error.
    let doc = assert_problem(
        s.post(
            "/runs",
            &json!({"shell": "true", "env": {"A=B": "1"}}).to_string(),
        )
        .await,
        400,
        "invalid_task",
    )
    .await;
    assert!(doc["detail"].as_str().unwrap().contains("A=B"), "{doc}");
    assert!(s.orch().runs().is_empty(), "nothing was launched");
}

#[tokio::test]
async fn unknown_and_malformed_run_ids_are_4xx_never_500() {
    let s = serve().await;
    let unknown = "0197b2c4-8a2e-7c31-9a55-3f1d2e4b6a70";
    for path in [
        format!("/runs/{unknown}"),
        format!("/runs/{unknown}/output"),
        format!("/runs/{unknown}/output/stream"),
    ] {
        assert_problem(s.get(&path).await, 404, "unknown_run").await;
    }
    assert_problem(
        s.post(&format!("/runs/{unknown}/cancel"), "").await,
        404,
        "unknown_run",
    )
    .await;
    assert_problem(
        s.post(&format!("/runs/{unknown}/rerun"), "").await,
        404,
        "unknown_run",
    )
    .await;
    // A short id matching nothing, then text that is no id at all.
    assert_problem(s.get("/runs/abcdef12").await, 404, "unresolved_run_id").await;
    for bad in ["nope", "12", "%F0%9F%92%A9", "a%00b", "zzzzzzzzzz"] {
        let response = s.get(&format!("/runs/{bad}")).await;
        assert_problem(response, 400, "bad_request").await;
    }
    // Bad query parameters.
    assert_problem(s.get("/runs?status=sleeping").await, 400, "bad_request").await;
    assert_problem(s.get("/runs?colour=red").await, 400, "bad_request").await;
    assert_problem(s.get("/runs?limit=many").await, 400, "bad_request").await;
    assert_problem(s.get("/runs?limit=100000").await, 400, "bad_request").await;
    assert_problem(s.get("/runs?since=yesterday").await, 400, "bad_request").await;
    assert_problem(s.get("/events?last_event_id=x").await, 400, "bad_request").await;
}

#[tokio::test]
async fn dot_segments_odd_encodings_and_unknown_routes_get_problems() {
    let s = serve().await;
    // reqwest normalises `..` away, so these go over a raw socket.
    for path in [
        "/runs/../metrics",
        "/runs/%2e%2e/metrics",
        "/runs%2fx",
        "/%2E/runs",
    ] {
        let (status, body) = raw_get(s.addr(), path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("\"kind\":\"bad_request\""), "{path}: {body}");
    }
    assert_problem(s.get("/nothing/here").await, 404, "no_route").await;
    let delete = s
        .client
        .delete(s.url("/runs"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_problem(delete, 404, "no_route").await;
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_refused_on_every_mutating_route() {
    let s = serve().await;
    let id = s.launch(json!({"shell": "true"})).await;
    for path in [
        "/runs".to_string(),
        format!("/runs/{id}/cancel"),
        format!("/runs/{id}/rerun"),
        "/halt".to_string(),
        "/resume".to_string(),
    ] {
        let missing = s.client.post(s.url(&path)).body("{}").send().await.unwrap();
        let doc = assert_problem(missing, 401, "unauthorized").await;
        assert!(doc["detail"].as_str().unwrap().contains("missing"), "{doc}");
        let wrong = s
            .client
            .post(s.url(&path))
            .bearer_auth("guess")
            .body("{}")
            .send()
            .await
            .unwrap();
        let doc = assert_problem(wrong, 401, "unauthorized").await;
        assert!(!doc["detail"].as_str().unwrap().contains(TOKEN));
        let basic = s
            .client
            .post(s.url(&path))
            .basic_auth("u", Some(TOKEN))
            .send()
            .await
            .unwrap();
        assert_problem(basic, 401, "unauthorized").await;
    }
    // Reads stay open on a loopback server.
    assert_eq!(s.get("/runs").await.status(), 200);
    assert_eq!(s.orch().runs().len(), 1, "no refused request did anything");
}

#[tokio::test]
async fn reads_need_the_token_when_configured_and_loopback_writes_when_allowed() {
    let mut config = config();
    config.token_for_reads = true;
    let s = serve_with(config).await;
    assert_problem(s.get("/runs").await, 401, "unauthorized").await;
    let ok = s
        .client
        .get(s.url("/runs"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    let mut config = super::config();
    config.loopback_writes = true;
    config.token = None;
    let s = serve_with(config).await;
    let launched = s
        .client
        .post(s.url("/runs"))
        .body(r#"{"shell":"true"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(launched.status(), 201);
}

#[tokio::test]
async fn a_huge_body_or_query_is_refused_unread() {
    let s = serve().await;
    let huge = format!(r#"{{"shell": "{}"}}"#, "x".repeat(200 * 1024));
    let doc = assert_problem(s.post("/runs", &huge).await, 413, "body_too_large").await;
    assert!(doc["detail"].as_str().unwrap().contains("65536"), "{doc}");
    let query = format!("/runs?name={}", "n".repeat(8 * 1024));
    assert_problem(s.get(&query).await, 414, "query_too_large").await;
    assert!(s.orch().runs().is_empty());
}

#[tokio::test]
async fn a_slow_loris_client_is_cut_off_and_a_stalled_body_times_out() {
    let s = serve().await;
    // Half a request head, then nothing: the connection is closed after
    // the header timeout (500 ms here), whatever the client does.
    let started = Instant::now();
    let mut slow = TcpStream::connect(s.addr()).await.unwrap();
    slow.write_all(b"GET /runs HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server kept a slow-loris connection open");
    assert!(started.elapsed() < Duration::from_secs(5));

    // A whole head promising a body that never comes: 408, a problem.
    let mut stalled = TcpStream::connect(s.addr()).await.unwrap();
    let head = format!(
        "POST /runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\n{{\"shell\""
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"kind\":\"request_timeout\""), "{answer}");
    // The server still serves everyone else.
    assert_eq!(s.get("/runs").await.status(), 200);
}

#[tokio::test]
async fn an_sse_client_that_never_reads_is_dropped_and_never_slows_the_runtime() {
    let mut config = config();
    config.client_buffer = 16;
    config.write_timeout = Duration::from_millis(500);
    let s = serve_with(config).await;
    // Connect and never read a byte.
    let mut stuck = TcpStream::connect(s.addr()).await.unwrap();
    stuck
        .write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(subscribers_become(&s, 1).await, "the client never joined");
    // Enough events to fill the socket buffers many times over: a run
    // writing 100,000 lines (one event each).
    // A runtime held up by the client would leave it running.
    let id = s.launch(json!({"shell": "seq 1 100000"})).await;
    let run = s.wait_run(&id).await;
    assert_eq!(
        run["status"], "succeeded",
        "held up by a client that does not read"
    );
    // The server gave up on it: its subscription is gone, its socket
    // closed (what was buffered, then the end).
    assert!(
        subscribers_become(&s, 0).await,
        "the stuck client was never dropped"
    );
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), stuck.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the stuck connection stayed open");
}

/// Wait until `/events` has `n` clients.
async fn subscribers_become(s: &Served, n: u64) -> bool {
    for _ in 0..200 {
        let text = s.get("/metrics").await.text().await.unwrap();
        let now = text
            .lines()
            .find_map(|l| l.strip_prefix("taskorch_event_subscribers "))
            .and_then(|v| v.parse::<f64>().ok());
        if now == Some(n as f64) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A GET over a raw socket, path as given (no normalising client).
async fn raw_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

#[tokio::test]
async fn no_cors_headers_so_another_origin_cannot_read_or_preflight() {
    let s = serve().await;
    let read = s
        .client
        .get(s.url("/runs"))
        .header("Origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert!(read.headers().get("access-control-allow-origin").is_none());
    let preflight = s
        .client
        .request(reqwest::Method::OPTIONS, s.url("/runs"))
        .header("Origin", "http://evil.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(
        preflight
            .headers()
            .get("access-control-allow-methods")
            .is_none()
    );
    assert!(!preflight.status().is_success(), "{}", preflight.status());
}
