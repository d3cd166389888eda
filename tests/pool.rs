//! The Pooled pattern: `orch.pool(spec)` and `Pool::request`.

use std::time::Duration;

use taskorch::{Error, PoolSpec};

use crate::common::*;

#[tokio::test]
async fn smoke() {
    let rt = start_runtime().await;
    let pool = rt
        .pool(PoolSpec::command("echo", "cat").workers(2))
        .await
        .unwrap();
    assert_eq!(pool.request("hello").await.unwrap(), "hello");
    let stats = pool.stats();
    assert_eq!(stats.workers, 2);
    assert_eq!(stats.served, 1);
    let pids = pool.worker_pids();
    pool.close().await.unwrap();
    assert_all_dead(&pids).await;
    let err = pool.request("x").await.unwrap_err();
    assert!(matches!(err, Error::PoolUnavailable(_)), "{err:?}");
    let _ = Duration::ZERO;
}
