//! Shared by the benchmarks: sample statistics, the raw fan-out floor, and
//! the ours / floor / ratio
//! line every benchmark prints.

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
