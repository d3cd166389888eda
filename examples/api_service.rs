//! A high-throughput API run by automatic pattern selection: warm Python
//! workers answer price-quote requests from 16 concurrent clients
//! (Pooled), while a health check runs every 250 ms (Periodic). Half-way
//! one worker is crashed on purpose: its request fails, the pool replaces
//! the worker, nothing else is lost, and the health check shows the
//! restart. Every request is one `orch.execute(Request)`.
//!
//! Needs `python3`.
//!
//! ```text
//! cargo run --release --example api_service
//! ```

use std::time::{Duration, Instant};

use taskorch::{Config, Orchestrator};

#[path = "scenarios/failure.rs"]
mod failure;
#[path = "scenarios/api_service.rs"]
mod scenario;
#[path = "scenarios/wait.rs"]
mod wait;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let orch = Orchestrator::start(Config::default()).await?;
    let settings = scenario::Settings {
        workers: 4,
        clients: 16,
        requests_per_client: 1_000,
        health_every: Duration::from_millis(250),
    };
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
        println!("{stage:<8} {pattern}");
    }
    println!(
        "\n{} requests answered right, {} wrong or lost; {:.0} requests/s; latency median {:?}, p99 {:?}",
        report.answered, report.wrong, report.throughput, report.latency.0, report.latency.1
    );
    println!("the crashing request: {}", report.crash);
    println!(
        "worker processes over the run: {:?} (all gone: the pool is closed)",
        report.worker_pids
    );
    println!(
        "health checks: {} runs, {} failed; last: {:?}",
        report.health_runs.0, report.health_runs.1, report.health
    );
    orch.shutdown().await?;
    Ok(())
}
