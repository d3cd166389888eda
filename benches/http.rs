//! HTTP API benchmarks (feature `server`), each against a floor measured
//! in the same process run:
//!
//! 1. Requests per second of `GET /runs/{id}` against an axum hello-world
//!    (`GET /` answering a constant, served by the same kind of loop),
//!    both over loopback with the same client and concurrency, rounds
//!    interleaved. Target: at least 0.5 of the floor.
//! 2. Requests per second of `POST /runs` (a launch of `/bin/true`)
//!    against a hello-world `POST` that reads its body. No target; the
//!    ratio shows what a launch costs over the wire.
//! 3. Event delivery latency to 100 SSE clients of `/events`: from the
//!    call that emits an event (`guard().halt`) to each client reading it.
//!    Target: median under 5 ms.
//! 4. What an idle server costs a launch (`benches/launch`'s figure): the
//!    `launch` call latency of an orchestrator with its API served (the
//!    event hub subscribed, no client) against one without, interleaved.
//!    Target: under 3 % more.
//!
//! ```text
//! cargo bench --bench http
//! BENCH_SECONDS=5 BENCH_CONCURRENCY=16 cargo bench --bench http
//! ```

mod util;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use taskorch::server::{Http, HttpConfig, Listener};
use taskorch::{Config, Orchestrator, Task};
use util::{Samples, report};

const TOKEN: &str = "bench-token";

#[tokio::main]
async fn main() {
    tokio::spawn(benches()).await.expect("benchmarks");
}

async fn benches() {
    let seconds: u64 = util::env_or("BENCH_SECONDS", 3);
    let concurrency: usize = util::env_or("BENCH_CONCURRENCY", 8);
    let rounds: usize = util::env_or("BENCH_ROUNDS", 3);
    println!("taskorch HTTP benchmarks ({rounds} rounds of {seconds} s, {concurrency} clients)");
    let window = Duration::from_secs(seconds);
    read_and_launch(window, concurrency, rounds).await;
    sse_latency(
        util::env_or("BENCH_SSE_CLIENTS", 100),
        util::env_or("BENCH_SAMPLES", 200),
    )
    .await;
    idle_cost(util::env_or("BENCH_LAUNCHES", 2000)).await;
}

async fn serve(orch: &Orchestrator) -> Listener {
    Http::new(orch)
        .config(HttpConfig::default().token(TOKEN))
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .expect("bind")
}

/// The floor: axum's hello world on `axum::serve`.
async fn hello_world() -> std::net::SocketAddr {
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(|| async { "hello" })
            .post(|body: String| async move { body.len().to_string() }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Requests per second `concurrency` clients get through in `window`.
async fn rate(
    window: Duration,
    concurrency: usize,
    request: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync + 'static,
) -> f64 {
    let client = reqwest::Client::new();
    let request = Arc::new(request);
    let deadline = Instant::now() + window;
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, request) = (client.clone(), Arc::clone(&request));
        workers.push(tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < deadline {
                let response = request(&client).send().await.expect("answered");
                let status = response.status();
                let body = response.bytes().await.unwrap_or_default();
                assert!(
                    status.is_success(),
                    "{status}: {}",
                    String::from_utf8_lossy(&body)
                );
                done += 1;
            }
            done
        }));
    }
    let mut total = 0;
    for w in workers {
        total += w.await.expect("worker");
    }
    total as f64 / window.as_secs_f64()
}

fn print_rate(what: &str, ours: f64, floor: f64, target: &str) {
    println!(
        "{what:<44} ours {ours:>10.0} req/s | floor {floor:>10.0} req/s | ratio {:.3}  (target {target})",
        ours / floor
    );
}

async fn read_and_launch(window: Duration, concurrency: usize, rounds: usize) {
    // Reads and launches on separate orchestrators: the launches pile up
    // runs, which the reads of one run must not have to look past.
    let reader = Orchestrator::start(Config::default()).await.expect("start");
    let launcher = Orchestrator::start(Config::default()).await.expect("start");
    let read_api = serve(&reader).await;
    let launch_api = serve(&launcher).await;
    let floor = hello_world().await;
    let id = reader
        .launch(Task::command("/bin/true"))
        .await
        .expect("launch");
    reader.wait(id).await.expect("wait");
    let (mut read, mut read_floor, mut post, mut post_floor) = (0.0, 0.0, 0.0, 0.0);
    for _ in 0..rounds {
        let url = format!("http://{}/runs/{id}", read_api.local_addr());
        read += rate(window, concurrency, move |c| c.get(&url)).await;
        let url = format!("http://{floor}/");
        read_floor += rate(window, concurrency, move |c| c.get(&url)).await;
        let url = format!("http://{}/runs", launch_api.local_addr());
        post += rate(window, concurrency, move |c| {
            c.post(&url)
                .bearer_auth(TOKEN)
                .header("content-type", "application/json")
                .body(r#"{"command": ["/bin/true"]}"#)
        })
        .await;
        let url = format!("http://{floor}/");
        post_floor += rate(window, concurrency, move |c| {
            c.post(&url)
                .header("content-type", "application/json")
                .body(r#"{"command": ["/bin/true"]}"#)
        })
        .await;
    }
    print_rate("GET /runs/{id} vs hello world", read, read_floor, ">= 0.5");
    print_rate(
        "POST /runs (launch) vs hello-world POST",
        post,
        post_floor,
        "none",
    );
    read_api.stop().await;
    launch_api.stop().await;
    reader.shutdown().await.expect("shutdown");
    launcher.shutdown().await.expect("shutdown");
}

async fn sse_latency(clients: usize, samples: usize) {
    let orch = Orchestrator::start(Config::default()).await.expect("start");
    let listener = serve(&orch).await;
    let url = format!("http://{}/events", listener.local_addr());
    // Each client reports (marker, when read) for every halt event.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let client = reqwest::Client::new();
    let mut readers = Vec::new();
    for _ in 0..clients {
        let response = client.get(&url).send().await.expect("connect");
        let tx = tx.clone();
        readers.push(tokio::spawn(async move {
            let mut stream = response.bytes_stream();
            let mut buf = String::new();
            while let Some(Ok(chunk)) = stream.next().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let frame: String = buf.drain(..end + 2).collect();
                    if let Some(at) = frame.find("\"reason\":\"m-") {
                        let marker: String =
                            frame[at + 10..].chars().take_while(|c| *c != '"').collect();
                        let _ = tx.send((marker, Instant::now()));
                    }
                }
            }
        }));
    }
    drop(tx);
    let mut latency = Samples::with_capacity(samples * clients);
    for i in 0..samples {
        let marker = format!("m-{i}");
        let start = Instant::now();
        orch.guard().halt(marker.clone());
        let mut got = 0;
        while got < clients {
            let (seen, at) = rx.recv().await.expect("a client reading");
            if seen == marker {
                latency.push(at.duration_since(start));
                got += 1;
            }
        }
        orch.guard().resume();
    }
    util::report_alone(
        &format!("event delivery to {clients} SSE clients"),
        &latency,
        "median < 5 ms",
    );
    for r in readers {
        r.abort();
    }
    listener.stop().await;
    orch.shutdown().await.expect("shutdown");
}

async fn idle_cost(launches: usize) {
    let plain = Orchestrator::start(Config::default()).await.expect("start");
    let served = Orchestrator::start(Config::default()).await.expect("start");
    let listener = serve(&served).await;
    let task = Task::command("/bin/true");
    let (mut ours, mut floor) = (
        Samples::with_capacity(launches),
        Samples::with_capacity(launches),
    );
    for i in 0..launches + 100 {
        let start = Instant::now();
        let id = served.launch(task.clone()).await.expect("launch");
        let with_server = start.elapsed();
        served.wait(id).await.expect("wait");
        let start = Instant::now();
        let id = plain.launch(task.clone()).await.expect("launch");
        let without = start.elapsed();
        plain.wait(id).await.expect("wait");
        if i >= 100 {
            ours.push(with_server);
            floor.push(without);
        }
    }
    report("launch call, idle server vs none", &ours, &floor, "< 1.03x");
    listener.stop().await;
    plain.shutdown().await.expect("shutdown");
    served.shutdown().await.expect("shutdown");
}
