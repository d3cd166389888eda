//! The Simple pattern in one page: a command that works, one that fails, a
//! program that does not exist, and an in-process action — and what each
//! returns. Ends with the supervisor's view of the runtime.
//!
//! ```text
//! cargo run --release --example quickstart
//! ```

use std::time::Duration;

use serde_json::json;
use taskorch::{Config, Orchestrator, Task};

#[tokio::main]
async fn main() -> taskorch::Result<()> {
    let orch = Orchestrator::start(Config::default()).await?;

    orch.register_action("add", |input| async move {
        let a = input["a"].as_i64().ok_or("missing a")?;
        let b = input["b"].as_i64().ok_or("missing b")?;
        Ok(json!(a + b))
    });

    println!("== a command that works");
    let out = orch
        .run(Task::command("echo").args(["hello", "from", "taskorch"]))
        .await?;
    println!(
        "success={} exit={:?} stdout={:?} run={} took={:?}",
        out.success(),
        out.exit_code,
        out.stdout_str(),
        out.run_id,
        out.duration
    );

    println!("== a command that fails (non-zero exit is an Output, not an Err)");
    let out = orch
        .run(
            Task::shell("echo 'disk full' >&2; exit 3")
                .name("failing-job")
                .retries(1)
                .backoff(taskorch::Backoff::fixed(Duration::from_millis(50))),
        )
        .await?;
    println!(
        "success={} exit={:?} stderr={:?} attempts={}",
        out.success(),
        out.exit_code,
        out.stderr_str(),
        out.attempts
    );

    println!("== a program that does not exist");
    match orch.run(Task::command("no-such-program-xyz")).await {
        Ok(out) => println!("unexpected success: {out:?}"),
        Err(e) => println!("error: {e}"),
    }

    println!("== a command that takes too long");
    match orch
        .run(
            Task::command("sleep")
                .arg("10")
                .timeout(Duration::from_millis(200)),
        )
        .await
    {
        Ok(out) => println!("unexpected success: {out:?}"),
        Err(e) => println!("error: {e}"),
    }

    println!("== an in-process action");
    let out = orch
        .run(Task::action("add", json!({"a": 40, "b": 2})))
        .await?;
    println!("success={} value={:?}", out.success(), out.value);
    let out = orch.run(Task::action("add", json!({"a": 1}))).await?;
    println!("success={} error={:?}", out.success(), out.stderr_str());

    println!("== runs in the registry");
    for run in orch.runs() {
        println!(
            "{}  {:<12} {:<10} exit={:?}",
            run.id, run.name, run.status, run.exit_code
        );
    }

    println!("== supervision tree");
    for child in orch.system_status().await?.children {
        println!(
            "{:<10} {:?} restarts={} {}",
            child.name,
            child.state,
            child.restarts,
            child.detail.unwrap_or_default()
        );
    }

    orch.shutdown().await
}
