//! Shared by the benchmarks: sample statistics, the ours / floor / ratio
//! line every benchmark prints, and the raw floors several of them use (a
//! fan-out, a `cat` worker over its pipes).

#![allow(dead_code)]

use std::future::Future;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use taskorch::RunId;
use taskorch_actors::Output;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Latency samples of one measured operation.
#[derive(Debug, Default, Clone)]
pub struct Samples(Vec<Duration>);

impl Samples {
    pub fn with_capacity(n: usize) -> Self {
        Samples(Vec::with_capacity(n))
    }

    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    /// Time `f` once and record it.
    pub async fn time<T, F: std::future::Future<Output = T>>(&mut self, f: F) -> T {
        let start = Instant::now();
        let out = f.await;
        self.0.push(start.elapsed());
        out
    }

    pub fn quantile(&self, q: f64) -> Duration {
        let mut v = self.0.clone();
        v.sort_unstable();
        if v.is_empty() {
            return Duration::ZERO;
        }
        let idx = ((v.len() - 1) as f64 * q).round() as usize;
        v[idx]
    }

    pub fn median(&self) -> Duration {
        self.quantile(0.5)
    }

    pub fn p99(&self) -> Duration {
        self.quantile(0.99)
    }

    pub fn max(&self) -> Duration {
        self.0.iter().copied().max().unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// A count or size from the environment (`BENCH_SAMPLES=200 cargo bench
/// --bench simple`), or `default` when unset or unparsable.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

pub fn us(d: Duration) -> String {
    format!("{:.2} us", d.as_secs_f64() * 1e6)
}

/// Print one comparison line: ours, the raw floor, and their ratio.
pub fn report(what: &str, ours: &Samples, floor: &Samples, target: &str) {
    let ratio = ours.median().as_secs_f64() / floor.median().as_secs_f64();
    println!(
        "{what:<44} ours median {:>11} p99 {:>11} | floor median {:>11} p99 {:>11} | ratio {:.3}x  (target {target})",
        us(ours.median()),
        us(ours.p99()),
        us(floor.median()),
        us(floor.p99()),
        ratio
    );
}

/// Print a figure that has a target but no same-run floor beside it.
pub fn report_alone(what: &str, ours: &Samples, target: &str) {
    println!(
        "{what:<44} ours median {:>11} p99 {:>11} max {:>11}  (target {target})",
        us(ours.median()),
        us(ours.p99()),
        us(ours.max())
    );
}

/// A `cat` we talk to directly over its pipes: the Pooled floor.
pub struct RawWorker {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    line: String,
}

impl RawWorker {
    pub fn spawn() -> RawWorker {
        let mut child = Command::new("/bin/cat")
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn cat");
        RawWorker {
            stdin: child.stdin.take().unwrap(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            _child: child,
            line: String::new(),
        }
    }

    /// Send `request` and read the echoed line back.
    pub async fn round_trip(&mut self, request: &str) {
        let mut out = Vec::with_capacity(request.len() + 1);
        out.extend_from_slice(request.as_bytes());
        out.push(b'\n');
        self.stdin.write_all(&out).await.unwrap();
        self.line.clear();
        self.stdout.read_line(&mut self.line).await.unwrap();
        assert_eq!(self.line.trim_end(), request);
    }
}

/// The raw floor: `n` jobs, at most `limit` at once, started as permits
/// free up (lazily, like ours).
pub async fn fan_out<F, Fut>(n: usize, limit: usize, job: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let start = Instant::now();
    let slots = Arc::new(Semaphore::new(limit));
    let mut set = JoinSet::new();
    for _ in 0..n {
        let permit = Arc::clone(&slots).acquire_owned().await.expect("open");
        let job = job();
        set.spawn(async move {
            job.await;
            drop(permit);
        });
        // Reap as we go so the set stays at about `limit` entries.
        while let Some(done) = set.try_join_next() {
            done.expect("job");
        }
    }
    while let Some(done) = set.join_next().await {
        done.expect("job");
    }
    start.elapsed()
}

/// A finished run's output without captured bytes, for the benches that
/// drive the registry directly.
pub fn empty_output(run_id: RunId) -> Output {
    Output {
        run_id,
        exit_code: Some(0),
        stdout: Vec::new(),
        stderr: Vec::new(),
        stdout_truncated: false,
        stderr_truncated: false,
        stdout_dropped: 0,
        stderr_dropped: 0,
        value: None,
        duration: Duration::from_millis(3),
        attempts: 1,
        signal: None,
    }
}
