//! The small interface the runtime needs from a running child process, and
//! the termination sequence written once against it.
//!
//! Keeping the platform code behind [`ChildProcess`] lets the termination
//! logic (polite stop, grace period, kill) be tested with a mock and paused
//! time, and keeps `cfg` out of the runner.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::process::ExitStatus;
use std::time::Duration;

/// A boxed future borrowing the child.
pub(crate) type WaitFuture<'a> = Pin<Box<dyn Future<Output = io::Result<ExitStatus>> + Send + 'a>>;

/// A spawned child and everything started in its process group (Unix) or
/// job object (Windows).
pub(crate) trait ChildProcess: Send {
    /// The child's pid (also its process-group id on Unix).
    fn pid(&self) -> Option<u32>;
    /// Ask the whole group to stop (SIGTERM on Unix; Windows has no polite
    /// signal for arbitrary processes, so it kills).
    fn request_stop(&mut self) -> io::Result<()>;
    /// Kill the whole group (SIGKILL / terminate the job object).
    fn kill(&mut self) -> io::Result<()>;
    /// Wait for the direct child to exit. Cancel safe.
    fn wait(&mut self) -> WaitFuture<'_>;
}

/// Stop `child`: polite stop to the group, up to `grace` for it to exit,
/// then kill the group, then reap. A zero grace kills at once.
///
/// Signal errors are ignored on purpose: the usual one is "no such
/// process", meaning the group is already gone, and `wait` reports the
/// exit either way.
pub(crate) async fn terminate<C: ChildProcess + ?Sized>(
    child: &mut C,
    grace: Duration,
) -> io::Result<ExitStatus> {
    if !grace.is_zero() {
        let _ = child.request_stop();
        if let Ok(status) = tokio::time::timeout(grace, child.wait()).await {
            return status;
        }
    }
    let _ = child.kill();
    child.wait().await
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::sync::{Arc, Mutex};
    use tokio::sync::Notify;

    /// A child that exits only on the signals it is configured to honour.
    struct Mock {
        log: Arc<Mutex<Vec<&'static str>>>,
        exits_on_term: bool,
        exited: Arc<Notify>,
        dead: bool,
    }

    impl ChildProcess for Mock {
        fn pid(&self) -> Option<u32> {
            Some(42)
        }
        fn request_stop(&mut self) -> io::Result<()> {
            self.log.lock().unwrap().push("term");
            if self.exits_on_term {
                self.dead = true;
                self.exited.notify_one();
            }
            Ok(())
        }
        fn kill(&mut self) -> io::Result<()> {
            self.log.lock().unwrap().push("kill");
            self.dead = true;
            self.exited.notify_one();
            Ok(())
        }
        fn wait(&mut self) -> WaitFuture<'_> {
            let exited = Arc::clone(&self.exited);
            let dead = self.dead;
            Box::pin(async move {
                if !dead {
                    exited.notified().await;
                }
                Ok(ExitStatus::from_raw(15))
            })
        }
    }

    fn mock(exits_on_term: bool) -> (Mock, Arc<Mutex<Vec<&'static str>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let m = Mock {
            log: Arc::clone(&log),
            exits_on_term,
            exited: Arc::new(Notify::new()),
            dead: false,
        };
        (m, log)
    }

    #[tokio::test(start_paused = true)]
    async fn polite_child_gets_only_term() {
        let (mut child, log) = mock(true);
        let started = tokio::time::Instant::now();
        terminate(&mut child, Duration::from_secs(2)).await.unwrap();
        assert_eq!(*log.lock().unwrap(), ["term"]);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn stubborn_child_is_killed_after_the_grace_period() {
        let (mut child, log) = mock(false);
        let started = tokio::time::Instant::now();
        terminate(&mut child, Duration::from_secs(2)).await.unwrap();
        assert_eq!(*log.lock().unwrap(), ["term", "kill"]);
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_grace_kills_at_once() {
        let (mut child, log) = mock(true);
        terminate(&mut child, Duration::ZERO).await.unwrap();
        assert_eq!(*log.lock().unwrap(), ["kill"]);
    }
}
