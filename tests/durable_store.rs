//! The store file itself: a damaged file is refused with `Error::Store`
//! and left byte for byte as it was, never a panic; the file, its
//! directory and the CLI's socket are private to their owner.

use std::path::Path;
use std::time::Duration;

use taskorch::{Config, Error, Orchestrator, ScheduleSpec, Task, Trigger};

use crate::common::fast_config;

fn stored(path: &Path) -> Config {
    fast_config().store(path)
}

const PAGE: usize = 4096;

/// A real store: runs with output, a failure, a schedule; shut down
/// cleanly.
async fn build_store(path: &Path) {
    let orch = Orchestrator::start(stored(path)).await.unwrap();
    for i in 0..4 {
        orch.run(Task::shell(format!("echo line-{i}; echo err-{i} >&2")).name(format!("run-{i}")))
            .await
            .unwrap();
    }
    let id = orch
        .launch(Task::shell("exit 3").name("fails"))
        .await
        .unwrap();
    orch.wait(id).await.unwrap();
    orch.schedule(ScheduleSpec::new(
        "hourly",
        Trigger::every(Duration::from_secs(3600)),
        Task::command("true"),
    ))
    .await
    .unwrap();
    orch.shutdown().await.unwrap();
}

/// Seeded garbage (xorshift): the same bytes on every run.
fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_in_any_page_is_refused_cleanly_and_the_file_is_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original.redb");
    build_store(&original).await;
    let pristine = std::fs::read(&original).unwrap();
    let pages = pristine.len().div_ceil(PAGE);
    assert!(pages > 4, "a store of several pages: {pages}");
    let (mut started, mut refused) = (0, 0);
    for page in 0..pages {
        for seed in [1, 2] {
            let case = dir.path().join(format!("p{page}-s{seed}"));
            let path = case.join("state.redb");
            std::fs::create_dir(&case).unwrap();
            let mut damaged = pristine.clone();
            let end = ((page + 1) * PAGE).min(damaged.len());
            let noise = garbage(seed * 1000 + page as u64, end - page * PAGE);
            damaged[page * PAGE..end].copy_from_slice(&noise);
            std::fs::write(&path, &damaged).unwrap();
            // On a task of its own: a panic anywhere in the start is a
            // JoinError here, not a crash of the test.
            let start = tokio::spawn(Orchestrator::start(stored(&path)));
            let result = tokio::time::timeout(Duration::from_secs(30), start)
                .await
                .unwrap_or_else(|_| panic!("page {page} seed {seed}: start hung"))
                .unwrap_or_else(|e| panic!("page {page} seed {seed}: start panicked: {e}"));
            match result {
                Ok(orch) => {
                    // An unused page: the store works.
                    orch.run(Task::command("true")).await.unwrap();
                    orch.shutdown().await.unwrap();
                    started += 1;
                }
                Err(Error::Store { path: p, reason }) => {
                    assert_eq!(p, path);
                    assert!(
                        reason.contains("move it aside") && reason.contains("backup"),
                        "page {page} seed {seed}: the reason says what to do: {reason}"
                    );
                    assert!(
                        std::fs::read(&path).unwrap() == damaged,
                        "page {page} seed {seed}: a refused file is never written: {reason}"
                    );
                    refused += 1;
                }
                Err(e) => panic!("page {page} seed {seed}: expected Error::Store, got {e}"),
            }
        }
    }
    assert!(
        refused > 0,
        "damage in the live pages is refused ({started} started)"
    );
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn the_store_file_and_its_directory_are_private_to_their_owner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state").join("store.redb");
    let orch = Orchestrator::start(stored(&path)).await.unwrap();
    orch.run(Task::command("true").env("TOKEN", "secret"))
        .await
        .unwrap();
    orch.shutdown().await.unwrap();
    assert_eq!(mode(path.parent().unwrap()), 0o700, "the directory");
    assert_eq!(mode(&path), 0o600, "the file");
}

#[cfg(unix)]
#[tokio::test]
async fn the_up_socket_is_private_to_its_owner() {
    use crate::cli::Spawned;
    use crate::common::wait_until;

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("jobs.toml"),
        "[[service]]\nname = \"svc\"\nshell = \"while true; do sleep 0.1; done\"\n",
    )
    .unwrap();
    let mut up = Spawned::start(dir.path(), &["up", "jobs.toml"]);
    let socket = dir.path().join(".taskorch/up.sock");
    let bound = wait_until(Duration::from_secs(20), || socket.exists()).await;
    let modes = bound.then(|| (mode(&socket), mode(&dir.path().join(".taskorch"))));
    up.signal("TERM");
    assert_eq!(up.exit_code().await, 0, "stderr:\n{}", up.stderr());
    assert_eq!(modes, Some((0o600, 0o700)), "socket and store directory");
    // Nothing of the private staging is left beside it.
    let left: Vec<_> = std::fs::read_dir(dir.path().join(".taskorch"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".up.sock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
