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
    /// Ask the whole group to stop with `signal` (a service's own stop
    /// signal). Where there is no such signal (Windows), the polite stop.
    fn request_signal(&mut self, signal: super::StopSignal) -> io::Result<()> {
        let _ = signal;
        self.request_stop()
    }
    /// Kill the whole group (SIGKILL / terminate the job object).
    fn kill(&mut self) -> io::Result<()>;
    /// Wait until nothing of the group is left — the direct child reaped,
    /// every other member exited, the zombies that are ours reaped — and
    /// answer the direct child's exit status. Cancel safe.
    fn wait(&mut self) -> WaitFuture<'_>;
}

/// How long the group may take to disappear after SIGKILL before
/// [`terminate`] gives up on it: only a process stuck in the kernel
/// (uninterruptible sleep) or a zombie whose parent never reaps it lasts
/// that long.
pub(crate) const KILL_SETTLE: Duration = Duration::from_secs(5);

/// Stop `child`: polite stop to the whole group, up to `grace` for the
/// *group* to be gone (not only its leader: `sh -c 'a; b'`, npm or make
/// exit on SIGTERM at once while their workload is still cleaning up),
/// then kill what is left, then wait for it to be gone and reaped. A zero
/// grace kills at once.
///
/// Signal errors are ignored on purpose: the usual one is "no such
/// process", meaning the group is already gone, and `wait` reports the
/// exit either way.
///
/// # Errors
/// What `wait` reports, or `TimedOut` if members of the group outlived
/// SIGKILL by [`KILL_SETTLE`].
pub(crate) async fn terminate<C: ChildProcess + ?Sized>(
    child: &mut C,
    grace: Duration,
) -> io::Result<ExitStatus> {
    terminate_with(child, super::StopSignal::Term, grace).await
}

/// [`terminate`] with `signal` as the polite stop (SIGINT, SIGQUIT, ...
/// for a service that stops on those).
///
/// # Errors
/// As [`terminate`].
pub(crate) async fn terminate_with<C: ChildProcess + ?Sized>(
    child: &mut C,
    signal: super::StopSignal,
    grace: Duration,
) -> io::Result<ExitStatus> {
    if !grace.is_zero() {
        let _ = child.request_signal(signal);
        if let Ok(status) = tokio::time::timeout(grace, child.wait()).await {
            return status;
        }
    }
    let _ = child.kill();
    match tokio::time::timeout(KILL_SETTLE, child.wait()).await {
        Ok(status) => status,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "members of process group {} outlived SIGKILL by {KILL_SETTLE:?}",
                child.pid().unwrap_or(0)
            ),
        )),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::sync::{Arc, Mutex};
    use tokio::sync::Notify;

    use tokio::time::Instant;

    /// A process group that is gone only on the signals it honours: its
    /// members leave `cleanup` after SIGTERM (never, if `None`), or at
    /// once on SIGKILL.
    struct Mock {
        log: Arc<Mutex<Vec<&'static str>>>,
        cleanup: Option<Duration>,
        termed: Option<Instant>,
        exited: Arc<Notify>,
        dead: bool,
    }

    impl ChildProcess for Mock {
        fn pid(&self) -> Option<u32> {
            Some(42)
        }
        fn request_stop(&mut self) -> io::Result<()> {
            self.log.lock().unwrap().push("term");
            self.termed = Some(Instant::now());
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
            let gone_at = self.termed.zip(self.cleanup).map(|(at, d)| at + d);
            Box::pin(async move {
                if !dead {
                    let cleaned_up = async {
                        match gone_at {
                            Some(at) => tokio::time::sleep_until(at).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        _ = exited.notified() => {}
                        _ = cleaned_up => {}
                    }
                }
                Ok(ExitStatus::from_raw(15))
            })
        }
    }

    fn group(cleanup: Option<Duration>) -> (Mock, Arc<Mutex<Vec<&'static str>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let m = Mock {
            log: Arc::clone(&log),
            cleanup,
            termed: None,
            exited: Arc::new(Notify::new()),
            dead: false,
        };
        (m, log)
    }

    fn mock(exits_on_term: bool) -> (Mock, Arc<Mutex<Vec<&'static str>>>) {
        group(exits_on_term.then_some(Duration::ZERO))
    }

    #[tokio::test(start_paused = true)]
    async fn a_group_cleaning_up_after_term_gets_the_whole_grace() {
        // The leader exits on SIGTERM at once; the group is gone only when
        // its last member has cleaned up, 1.5 s later: no SIGKILL.
        let (mut child, log) = group(Some(Duration::from_millis(1500)));
        let started = Instant::now();
        terminate(&mut child, Duration::from_secs(2)).await.unwrap();
        assert_eq!(*log.lock().unwrap(), ["term"]);
        assert_eq!(started.elapsed(), Duration::from_millis(1500));
    }

    #[tokio::test(start_paused = true)]
    async fn a_group_still_cleaning_up_when_the_grace_ends_is_killed() {
        let (mut child, log) = group(Some(Duration::from_secs(3)));
        let started = Instant::now();
        terminate(&mut child, Duration::from_secs(2)).await.unwrap();
        assert_eq!(*log.lock().unwrap(), ["term", "kill"]);
        assert_eq!(started.elapsed(), Duration::from_secs(2));
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
