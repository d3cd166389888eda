//! The Pooled pattern: a pool of warm Python workers against spawning
//! Python for every request, timing both. Each worker is a four-line
//! Python script that reads one JSON request per line and writes one JSON
//! reply per line.
//!
//! ```text
//! cargo run --release --example pooled
//! ```

use std::time::{Duration, Instant};

use taskorch::{Config, Error, Orchestrator, PoolSpec, Task};

/// The worker: one request line in, one reply line out, flushed.
const WORKER: &str = r#"import sys, json
for line in sys.stdin:
    request = json.loads(line)
    print(json.dumps({"words": len(request["text"].split())}), flush=True)
"#;

const WARM_REQUESTS: usize = 1000;
const SPAWNED_REQUESTS: usize = 20;

#[tokio::main]
async fn main() -> taskorch::Result<()> {
    let orch = Orchestrator::start(Config::default()).await?;

    println!("== a pool of 2 warm Python workers");
    let spec = PoolSpec::command("wordcount", "python3")
        .args(["-u", "-c", WORKER])
        .workers(2)
        .request_timeout(Duration::from_secs(5));
    let pool = match orch.pool(spec).await {
        Ok(pool) => pool,
        Err(Error::NotFound { program }) => {
            println!("{program} is not installed; this example needs it");
            return orch.shutdown().await;
        }
        Err(e) => return Err(e),
    };
    let request = r#"{"text": "the quick brown fox jumps over the lazy dog"}"#;
    println!("request: {request}");
    println!("reply:   {}", pool.request(request).await?);

    let started = Instant::now();
    for _ in 0..WARM_REQUESTS {
        pool.request(request).await?;
    }
    let warm = started.elapsed() / WARM_REQUESTS as u32;

    println!("== the same work, spawning Python for every request");
    let task = Task::command("python3")
        .args(["-c", WORKER])
        .stdin(format!("{request}\n"));
    let started = Instant::now();
    for _ in 0..SPAWNED_REQUESTS {
        let out = orch.run(task.clone()).await?;
        assert_eq!(out.stdout_str().trim_end(), r#"{"words": 9}"#);
    }
    let spawned = started.elapsed() / SPAWNED_REQUESTS as u32;

    println!(
        "warm pool:         {:>10.1} us per request ({WARM_REQUESTS} requests)",
        warm.as_secs_f64() * 1e6
    );
    println!(
        "spawn per request: {:>10.1} us per request ({SPAWNED_REQUESTS} requests)",
        spawned.as_secs_f64() * 1e6
    );
    println!(
        "the pool is {:.0}x faster",
        spawned.as_secs_f64() / warm.as_secs_f64()
    );

    println!("== 8 callers at once share the 2 workers");
    let started = Instant::now();
    let callers: Vec<_> = (0..8)
        .map(|caller| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let request = format!(r#"{{"text": "caller {caller} says hello"}}"#);
                for _ in 0..250 {
                    pool.request(request.as_str()).await?;
                }
                Ok::<_, Error>(())
            })
        })
        .collect();
    for caller in callers {
        caller.await.expect("caller task")?;
    }
    println!("2,000 requests in {:?}", started.elapsed());
    println!("stats: {:?}", pool.stats());

    println!("== a request that is not one line");
    match pool.request("two\nlines").await {
        Ok(reply) => println!("unexpected reply: {reply}"),
        Err(e) => println!("error: {e}"),
    }

    pool.close().await?;
    println!(
        "closed; a late request gets: {:?}",
        pool.request(request).await
    );
    orch.shutdown().await
}
