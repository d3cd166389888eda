//! LongRunning pattern benchmarks, each against raw tokio pipe reading
//! measured in the same process run:
//!
//! 1. Memory: a child prints 1 GiB of short lines; the growth of this
//!    process's resident set (peak minus the level before) is printed
//!    beside the target, ring cap + 16 MiB. Once with a reader following
//!    the stream, once with nobody reading. Runs first, so the figures of
//!    the other benchmarks cannot hide in memory already taken.
//! 2. Line latency: the child stamps each line with its wall clock when it
//!    writes it; the latency is the time until `next_line` returns it.
//!    Floor: the same child read with `BufReader::lines` over its raw pipe.
//!    Target: median under 100 us, p99 under 1 ms.
//! 3. Throughput: 100 MB of short lines through `next_line` vs a raw
//!    `BufReader::lines` loop over the same child, interleaved round by
//!    round. Target: at least 80 % of the floor.
//!
//! The child is this benchmark binary itself (selected by an environment
//! variable), so the writer costs the same for both sides and is much
//! faster than either reader.
//!
//! ```text
//! cargo bench --bench streaming
//! ```

mod util;

use std::io::Write;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use taskorch::{Config, Orchestrator, Task};
use tokio::io::{AsyncBufReadExt, BufReader};
use util::{Samples, report};

/// Selects the child role: `latency:<lines>` or `bulk:<bytes>`.
const CHILD_ENV: &str = "TASKORCH_BENCH_CHILD";

const MIB: u64 = 1 << 20;

/// The bulk child's line: short, as progress output is.
const LINE: &[u8] = b"progress: epoch 0042 step 001337 loss 0.03125 lr 0.0001\n";

/// `bytes` rounded down to whole lines.
fn whole_lines(bytes: u64) -> u64 {
    bytes / LINE.len() as u64 * LINE.len() as u64
}

fn main() {
    if let Ok(role) = std::env::var(CHILD_ENV) {
        child(&role);
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    // Measure from a spawned task, as callers in a real service are (see
    // benches/simple.rs).
    runtime
        .block_on(async { tokio::spawn(benches()).await })
        .expect("benchmarks");
}

// ---------------------------------------------------------------- child

fn child(role: &str) {
    let (kind, n) = role.split_once(':').expect("role:count");
    let n: u64 = n.parse().expect("count");
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match kind {
        "latency" => {
            for _ in 0..n {
                // Spaced out, so every line is measured on its own rather
                // than queued behind the previous one.
                std::thread::sleep(Duration::from_micros(300));
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
                writeln!(out, "{}", now.as_nanos()).unwrap();
                out.flush().unwrap();
            }
        }
        "bulk" => {
            let block: Vec<u8> = LINE.repeat((64 << 10) / LINE.len());
            let mut left = n;
            while left > 0 {
                let take = left.min(block.len() as u64) as usize;
                out.write_all(&block[..take]).unwrap();
                left -= take as u64;
            }
            out.flush().unwrap();
        }
        other => panic!("unknown child role {other}"),
    }
}

fn child_task(role: &str) -> Task {
    let exe = std::env::current_exe().expect("own path");
    Task::command(exe.to_string_lossy().into_owned()).env(CHILD_ENV, role)
}

fn raw_child(role: &str) -> tokio::process::Child {
    tokio::process::Command::new(std::env::current_exe().expect("own path"))
        .env(CHILD_ENV, role)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("raw spawn")
}

// ----------------------------------------------------------- benchmarks

async fn benches() {
    let config = Config::default();
    let ring_cap = config.output_ring_bytes as u64;
    let orch = Orchestrator::start(config).await.expect("start");
    println!("taskorch streaming benchmarks");
    memory(&orch, ring_cap).await;
    latency(&orch).await;
    throughput(&orch).await;
    orch.shutdown().await.expect("shutdown");
}

/// Resident set size of this process, from /proc.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Samples the RSS every 2 ms on a plain thread until dropped; keeps the
/// peak.
struct RssWatch {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssWatch {
    fn start() -> Self {
        let peak = Arc::new(AtomicU64::new(rss_bytes()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak, stop) = (Arc::clone(&peak), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_bytes(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        RssWatch {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.peak.load(Ordering::Relaxed).max(rss_bytes())
    }
}

async fn memory(orch: &Orchestrator, ring_cap: u64) {
    let total = whole_lines(1 << 30);
    let target = ring_cap + 16 * MIB;
    for reading in [true, false] {
        let before = rss_bytes();
        let watch = RssWatch::start();
        let started = Instant::now();
        let mut stream = orch
            .stream(child_task(&format!("bulk:{total}")))
            .await
            .unwrap();
        let mut lines = 0u64;
        if reading {
            while stream.next_line().await.is_some() {
                lines += 1;
            }
        }
        let id = stream.run_id();
        let out = stream.wait().await.unwrap();
        assert!(out.success());
        let took = started.elapsed();
        let peak = watch.finish();
        let growth = peak.saturating_sub(before);
        let captured = orch.output(id).unwrap();
        println!(
            "{:<44} RSS growth {:>6.1} MiB (before {:.1} MiB, peak {:.1} MiB) | target < {:.0} MiB (ring cap {:.0} MiB + 16) | {} | {:.1} s, ring kept {} lines, dropped {}{}",
            if reading {
                "memory: 1 GiB of lines, reader following"
            } else {
                "memory: 1 GiB of lines, nobody reading"
            },
            growth as f64 / MIB as f64,
            before as f64 / MIB as f64,
            peak as f64 / MIB as f64,
            target as f64 / MIB as f64,
            ring_cap as f64 / MIB as f64,
            if growth < target { "ok" } else { "OVER" },
            took.as_secs_f64(),
            captured.lines.len(),
            captured.dropped,
            if reading {
                format!(", read {lines} lines")
            } else {
                String::new()
            }
        );
    }
}

fn latency_of(line: &str) -> Duration {
    let sent: u128 = line.trim().parse().expect("a timestamp line");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    Duration::from_nanos(now.as_nanos().saturating_sub(sent) as u64)
}

async fn latency(orch: &Orchestrator) {
    const ROUNDS: usize = 6;
    const LINES: usize = 500;
    let role = format!("latency:{LINES}");
    let (mut ours, mut floor) = (Samples::default(), Samples::default());
    for round in 0..ROUNDS + 1 {
        // Round 0 warms both paths up and is not recorded.
        let keep = round > 0;
        let mut stream = orch.stream(child_task(&role)).await.unwrap();
        while let Some(line) = stream.next_line().await {
            let took = latency_of(&line.text);
            if keep {
                ours.push(took);
            }
        }
        assert!(stream.wait().await.unwrap().success());

        let mut child = raw_child(&role);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        while let Some(line) = lines.next_line().await.unwrap() {
            let took = latency_of(&line);
            if keep {
                floor.push(took);
            }
        }
        assert!(child.wait().await.unwrap().success());
    }
    report(
        "line latency: child write -> next_line",
        &ours,
        &floor,
        "median < 100 us, p99 < 1 ms",
    );
}

async fn throughput(orch: &Orchestrator) {
    const ROUNDS: usize = 3;
    let total = whole_lines(100_000_000);
    let role = format!("bulk:{total}");
    let (mut ours, mut floor) = (Samples::default(), Samples::default());
    let (mut delivered, mut missed) = (0u64, 0u64);
    for round in 0..ROUNDS + 1 {
        let keep = round > 0;
        let started = Instant::now();
        let mut stream = orch.stream(child_task(&role)).await.unwrap();
        let mut bytes = 0u64;
        while let Some(line) = stream.next_line().await {
            bytes += line.text.len() as u64 + 1;
        }
        let lost = stream.missed();
        assert!(stream.wait().await.unwrap().success());
        if keep {
            // Normalised to the bytes delivered: a reader slower than the
            // child skips lines (by design, the child is never held back),
            // and skipped lines are not throughput.
            ours.push(
                started
                    .elapsed()
                    .mul_f64(total as f64 / bytes.max(1) as f64),
            );
            delivered += bytes;
            missed += lost;
        }

        let started = Instant::now();
        let mut child = raw_child(&role);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut bytes = 0u64;
        while let Some(line) = lines.next_line().await.unwrap() {
            bytes += line.len() as u64 + 1;
        }
        assert!(child.wait().await.unwrap().success());
        assert_eq!(bytes, total);
        if keep {
            floor.push(started.elapsed());
        }
    }
    let rate = |d: Duration| total as f64 / 1e6 / d.as_secs_f64();
    let (ours_rate, floor_rate) = (rate(ours.median()), rate(floor.median()));
    println!(
        "{:<44} ours {:>7.1} MB/s | floor {:>7.1} MB/s (raw BufReader::lines) | ratio {:.3}  (target >= 0.80) | lines skipped by our reader: {} ({:.2} % of bytes)",
        "throughput: 100 MB of short lines",
        ours_rate,
        floor_rate,
        ours_rate / floor_rate,
        missed,
        100.0 * (1.0 - delivered as f64 / (ROUNDS as u64 * total) as f64)
    );
    report(
        "  same, time per 100 MB delivered",
        &ours,
        &floor,
        "<= 1.25x",
    );
}
