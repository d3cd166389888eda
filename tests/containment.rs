//! Containment: the whole process group gets the SIGTERM grace, a run
//! ends when its leader exits even as a subreaper, and nothing of a host
//! that is `kill -9`ed outlives it (the guardian).

use std::path::Path;
use std::time::Duration;

use taskorch::{Config, PoolSpec, RunStatus, Task};

use crate::common::{start_with, wait_until};

/// A group member that traps SIGTERM, takes 300 ms to clean up, then
/// writes `cleaned` to `$MARKER`; it writes its pid to `$READY` once the
/// trap is set. Its leader (the shell that started it in the background)
/// dies of SIGTERM at once.
const CLEANS_UP: &str = r#"sh -c 'trap "sleep 0.3; echo cleaned > \"$MARKER\"; exit 0" TERM
echo $$ > "$READY"
while :; do sleep 0.05; done' &"#;

fn grace_config() -> Config {
    Config {
        kill_grace: Duration::from_secs(5),
        shutdown_grace: Duration::from_millis(100),
        ..Config::default()
    }
}

async fn wait_for_file(path: &Path) -> String {
    assert!(
        wait_until(Duration::from_secs(10), || path.exists()).await,
        "{} was not written",
        path.display()
    );
    // Written with one `echo`: read it once it is complete.
    let mut text = String::new();
    wait_until(Duration::from_secs(5), || {
        text = std::fs::read_to_string(path).unwrap_or_default();
        text.ends_with('\n')
    })
    .await;
    text
}

#[tokio::test]
async fn a_cancelled_runs_whole_group_gets_the_term_grace() {
    let rt = start_with(grace_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let (ready, marker) = (dir.path().join("ready"), dir.path().join("marker"));
    let task = Task::shell(format!("{CLEANS_UP}\nwait"))
        .env("READY", ready.display().to_string())
        .env("MARKER", marker.display().to_string());
    let id = rt.launch(task).await.unwrap();
    wait_for_file(&ready).await;
    rt.cancel(id).await.unwrap();
    assert_eq!(wait_for_file(&marker).await, "cleaned\n");
    assert!(
        wait_until(Duration::from_secs(10), || rt
            .status(id)
            .is_some_and(|s| s.is_terminal()))
        .await
    );
    assert_eq!(rt.status(id), Some(RunStatus::Cancelled));
}

#[tokio::test]
async fn a_pool_workers_whole_group_gets_the_term_grace_at_shutdown() {
    let rt = start_with(grace_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let (ready, marker) = (dir.path().join("ready"), dir.path().join("marker"));
    let script = format!("{CLEANS_UP}\nwhile IFS= read -r l; do echo \"$l\"; done");
    let spec = PoolSpec::command("cleaners", "sh")
        .args(["-c", &script])
        .env("READY", ready.display().to_string())
        .env("MARKER", marker.display().to_string());
    let pool = rt.pool(spec).await.unwrap();
    assert_eq!(pool.request("hi").await.unwrap(), "hi");
    wait_for_file(&ready).await;
    rt.shutdown().await.unwrap();
    assert_eq!(wait_for_file(&marker).await, "cleaned\n");
}
