//! A worker's serve loop: the hot path of the pooled pattern.
//!
//! Each worker process has one loop, in a tokio task its worker actor
//! starts and owns. The loop takes the next request off the pool's shared
//! FIFO queue (retries first), writes it to the worker's stdin as one line,
//! reads one line back, and answers the caller directly: a request costs a
//! queue hand-off and a oneshot reply, no actor hop. While idle the loop
//! also watches the worker: output nobody asked for, a closed stdout (the
//! worker died), its `max_age`, and the tokens that retire or stop it.
//!
//! # Stray lines
//! A worker answers one line per request. A line it writes while no
//! request is pending (a second reply line, written late) fails it as a
//! protocol break, and the next request goes to another worker: before
//! each request is written, the kernel is asked whether the pipe holds
//! unread output. A line written *after* the next request was sent cannot
//! be told from that request's reply by a one-line protocol; the worker is
//! replaced when the real reply then arrives unasked.
//!
//! When the loop ends it terminates the process group (closing stdin
//! first, so a well-behaved worker exits by itself), records how the worker
//! ended in its [`WorkerInfo`], and stops the worker actor; the keeper
//! reads the ending from its supervision event and decides on a
//! replacement.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ractor::ActorCell;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::job::Job;
use super::line::{Line, read_line};
use super::shared::{PoolShared, WorkerInfo};
use crate::error::Error;
use crate::process::child::{ChildProcess, terminate};
use crate::process::piped::PipedChild;
use crate::process::{GroupChild, ProcessLimits};
use crate::runner::Owner;
use crate::trace::TraceRecorder;

/// How long a dead worker's exit status is waited for, to say how it died.
const EXIT_STATUS_WAIT: Duration = Duration::from_millis(50);

/// How a worker ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WorkerEnd {
    /// Served its share (`recycle_after`, `max_age`): replace it at once.
    Recycled,
    /// Told to go (`resize` down): no replacement.
    Retired,
    /// Its pool is closing and the queue is empty: no replacement.
    Drained,
    /// Stopped by its owner (keeper stop, shutdown, its actor died).
    Stopped,
    /// Failed: replaced after the pool's restart backoff.
    Failed {
        /// What went wrong, for logs and `PoolUnavailable`.
        reason: String,
        /// It failed while handling a request (not while idle).
        during_request: bool,
    },
}

/// What one worker's loop needs.
#[derive(Debug)]
pub(crate) struct Serve {
    pub(crate) pool: Arc<PoolShared>,
    pub(crate) info: Arc<WorkerInfo>,
    /// Stops the loop; its reason is what an in-flight request answers.
    pub(crate) owner: Owner,
    /// A child of the owner's token: cancelled alone, the worker finishes
    /// its request and leaves (resize down).
    pub(crate) retire: CancellationToken,
    pub(crate) limits: ProcessLimits,
    /// The worker actor, stopped when the loop is over.
    pub(crate) actor: ActorCell,
    /// The message trace: one event per request.
    pub(crate) trace: Arc<TraceRecorder>,
}

/// What a worker waits on besides its pipes, set up once for its whole
/// life: registering a timer and a cancellation waiter for every request
/// would cost more than the rest of our side of the hot path.
struct Waits {
    /// The owner's token: stop now.
    stopped: Pin<Box<WaitForCancellationFutureOwned>>,
    /// The retire token (also fires on stop): leave when idle.
    retired: Pin<Box<WaitForCancellationFutureOwned>>,
    /// The request time-out, re-armed lazily: it keeps an earlier request's
    /// deadline until it fires, and is only moved then (see `handle`).
    timer: Pin<Box<Sleep>>,
}

/// The worker's pipes and reusable buffers.
struct Io {
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    out: Vec<u8>,
    reply: Vec<u8>,
}

/// How one exchange with the worker went.
enum Outcome {
    Reply(String),
    Died(String),
    Protocol(String),
    TimedOut,
    Stopped,
}

/// Serve requests with `process` until the worker ends, then terminate it
/// and report the ending.
pub(crate) async fn run(serve: Serve, process: PipedChild) {
    let PipedChild {
        mut child,
        stdin,
        stdout,
        stderr,
    } = process;
    let pid = child.pid();
    let worker = serve.info.id;
    let log_pool = Arc::clone(&serve.pool);
    let mut stderr_task = tokio::spawn(super::log::collect(stderr, move |text| {
        log_pool.log.lock().push(worker, pid, text);
    }));
    let mut io = Io {
        stdin: Some(stdin),
        stdout: BufReader::new(stdout),
        out: Vec::new(),
        reply: Vec::new(),
    };

    let end = serve.serve(&mut io, &mut child).await;
    // A graceful ending is reported before the process is waited for, so
    // the replacement starts while this one winds down.
    let early = matches!(end, WorkerEnd::Recycled | WorkerEnd::Retired);
    if early {
        serve.report(end.clone());
    }
    let grace = serve.limits.kill_grace;
    // Closing stdin is the polite stop of the protocol: a worker reading
    // lines sees end of file and exits by itself.
    drop(io.stdin.take());
    let polite = matches!(
        end,
        WorkerEnd::Recycled | WorkerEnd::Retired | WorkerEnd::Drained
    );
    if !polite || tokio::time::timeout(grace, child.wait()).await.is_err() {
        let _ = terminate(&mut child, grace).await;
    }
    // The worker is over: nothing of its group may outlive it.
    child.kill_group();
    // Its last stderr lines are what a failure report quotes.
    if tokio::time::timeout(serve.limits.drain_timeout, &mut stderr_task)
        .await
        .is_err()
    {
        stderr_task.abort();
    }
    if !early {
        serve.report(end);
    }
}

impl Serve {
    fn report(&self, end: WorkerEnd) {
        // From here on the keeper counts the worker gone.
        self.pool.set_pid(self.info.id, None);
        let _ = self.info.end.set(end);
        self.actor.stop(None);
    }

    fn stopped_or_retired(&self) -> WorkerEnd {
        if self.owner.token().is_cancelled() {
            WorkerEnd::Stopped
        } else {
            WorkerEnd::Retired
        }
    }

    /// A queued request, without waiting (retries first).
    fn try_take(&self) -> Result<Option<Job>, WorkerEnd> {
        if let Ok(job) = self.pool.retries_rx.try_recv() {
            return Ok(Some(job));
        }
        match self.pool.jobs_rx.try_recv() {
            Ok(job) => Ok(Some(job)),
            Err(async_channel::TryRecvError::Empty) => Ok(None),
            Err(async_channel::TryRecvError::Closed) => Err(WorkerEnd::Drained),
        }
    }

    async fn serve(&self, io: &mut Io, child: &mut GroupChild) -> WorkerEnd {
        let spec = &self.pool.spec;
        let mut waits = Waits {
            stopped: Box::pin(self.owner.token().clone().cancelled_owned()),
            retired: Box::pin(self.retire.clone().cancelled_owned()),
            timer: Box::pin(tokio::time::sleep(spec.request_timeout)),
        };
        // Shortened by up to 10 % so workers started together do not all
        // retire at the same moment.
        let retire_at = spec.max_age.map(|age| {
            let age = crate::duration::mul_f64(age, 1.0 - rand::random_range(0.0..0.1));
            crate::duration::after(self.info.started, age)
        });
        let expiry = async {
            match retire_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(expiry);
        loop {
            if self.retire.is_cancelled() {
                return self.stopped_or_retired();
            }
            if retire_at.is_some_and(|at| Instant::now() >= at) {
                return WorkerEnd::Recycled;
            }
            // Under load the next request is already queued: take it
            // without setting up the idle wait below.
            let job = match self.try_take() {
                Ok(Some(job)) => job,
                Err(end) => return end,
                Ok(None) => tokio::select! {
                    biased;
                    _ = waits.retired.as_mut() => return self.stopped_or_retired(),
                    ready = io.stdout.fill_buf() => {
                        let unasked = matches!(ready, Ok(bytes) if !bytes.is_empty());
                        return unsolicited(child, unasked).await;
                    }
                    _ = &mut expiry => return WorkerEnd::Recycled,
                    Ok(job) = self.pool.retries_rx.recv() => job,
                    job = self.pool.jobs_rx.recv() => match job {
                        Ok(job) => job,
                        Err(_) => return WorkerEnd::Drained,
                    },
                },
            };
            if job.is_abandoned() {
                job.discard();
                continue;
            }
            // Output nobody asked for (a second reply line written late)
            // would be read as this request's reply. The idle wait above
            // only sees what the reactor has reported, and it may not have
            // run since the line arrived: ask the kernel.
            if unread_output(&io.stdout) {
                // Not sent: it goes to another worker, ahead of the
                // queue, whatever its idempotency.
                if let Err(refused) = self.pool.retries.try_send(job) {
                    refused.into_inner().answer(Err(self.pool.refusal()));
                }
                let unasked = matches!(
                    tokio::time::timeout(EXIT_STATUS_WAIT, io.stdout.fill_buf()).await,
                    Ok(Ok(bytes)) if !bytes.is_empty()
                );
                return unsolicited(child, unasked).await;
            }
            if let Some(end) = self.handle(job, io, child, &mut waits).await {
                return end;
            }
            let served = self.info.served.load(Ordering::Relaxed);
            if spec.recycle_after.is_some_and(|limit| served >= limit) {
                return WorkerEnd::Recycled;
            }
        }
    }

    /// Send `job` to the worker and answer it; `Some` if the worker must go.
    async fn handle(
        &self,
        mut job: Job,
        io: &mut Io,
        child: &mut GroupChild,
        waits: &mut Waits,
    ) -> Option<WorkerEnd> {
        let pool = &*self.pool;
        let spec = &pool.spec;
        let (queued, taken) = (job.queued, self.trace.is_on().then(crate::trace::now));
        pool.busy.fetch_add(1, Ordering::Relaxed);
        self.info.busy.store(true, Ordering::Relaxed);
        // Deadlines only move forward, so the timer (armed for an earlier
        // request) fires at or before this one's: check then, and re-arm.
        let deadline = crate::duration::after(Instant::now(), spec.request_timeout);
        let outcome = {
            let exchange = io.exchange(&job.line, spec.max_reply);
            tokio::pin!(exchange);
            loop {
                tokio::select! {
                    biased;
                    _ = waits.stopped.as_mut() => break Outcome::Stopped,
                    outcome = &mut exchange => break outcome,
                    _ = waits.timer.as_mut() => {
                        if Instant::now() >= deadline {
                            break Outcome::TimedOut;
                        }
                        waits.timer.as_mut().reset(deadline);
                    }
                }
            }
        };
        pool.busy.fetch_sub(1, Ordering::Relaxed);
        self.info.busy.store(false, Ordering::Relaxed);
        let pid = self.info.pid();
        if let Some(taken) = taken {
            let ok = matches!(outcome, Outcome::Reply(_));
            self.trace.request(super::POOL_WORKER, queued, taken, ok);
        }
        match outcome {
            Outcome::Reply(text) => {
                job.answer(Ok(text));
                self.info.served.fetch_add(1, Ordering::Relaxed);
                pool.note_success();
                None
            }
            Outcome::Died(reason) => {
                let reason = describe_exit(child, &reason).await;
                let died = Error::WorkerDied {
                    pool: pool.name().to_string(),
                    pid,
                    reason: reason.clone(),
                };
                if spec.retry_idempotent && !job.retried {
                    job.retried = true;
                    // Ahead of the queue, for another worker (this one is
                    // done); a pool that stopped taking requests answers.
                    if let Err(refused) = pool.retries.try_send(job) {
                        refused.into_inner().answer(Err(died));
                    }
                } else {
                    job.answer(Err(died));
                }
                Some(WorkerEnd::Failed {
                    reason,
                    during_request: true,
                })
            }
            Outcome::Protocol(reason) => {
                job.answer(Err(Error::WorkerProtocol {
                    pool: pool.name().to_string(),
                    pid,
                    reason: reason.clone(),
                }));
                Some(WorkerEnd::Failed {
                    reason: format!("broke the line protocol: {reason}"),
                    during_request: true,
                })
            }
            Outcome::TimedOut => {
                let after = spec.request_timeout;
                job.answer(Err(Error::TimedOut { run: None, after }));
                Some(WorkerEnd::Failed {
                    reason: format!("did not answer within {after:?}"),
                    during_request: true,
                })
            }
            Outcome::Stopped => {
                job.answer(Err(self.owner.reason()));
                Some(WorkerEnd::Stopped)
            }
        }
    }
}

impl Io {
    /// Write `line` and read the one-line reply.
    ///
    /// # Cancel safety
    /// Not cancel safe: a cancelled exchange leaves the pipes mid-message,
    /// so the worker must be replaced afterwards (the caller does).
    async fn exchange(&mut self, line: &str, cap: usize) -> Outcome {
        let Some(stdin) = self.stdin.as_mut() else {
            return Outcome::Died("its stdin is closed".into());
        };
        // One buffer, one write: the worker sees the line at once.
        self.out.clear();
        self.out.extend_from_slice(line.as_bytes());
        self.out.push(b'\n');
        if let Err(e) = stdin.write_all(&self.out).await {
            return Outcome::Died(format!("stopped reading its stdin ({e})"));
        }
        self.reply.clear();
        match read_line(&mut self.stdout, &mut self.reply, cap).await {
            Err(e) => Outcome::Died(format!("error reading its stdout ({e})")),
            Ok(Line::Eof) => Outcome::Died("closed its stdout".into()),
            Ok(Line::TooLong) => {
                Outcome::Protocol(format!("a reply longer than max_reply ({cap} bytes)"))
            }
            Ok(Line::Complete) => {
                if !self.stdout.buffer().is_empty() {
                    return Outcome::Protocol("more than one line for one request".into());
                }
                if self.reply.last() == Some(&b'\r') {
                    self.reply.pop();
                }
                match std::str::from_utf8(&self.reply) {
                    Ok(text) => Outcome::Reply(text.to_owned()),
                    Err(e) => Outcome::Protocol(format!("a reply that is not UTF-8 ({e})")),
                }
            }
        }
    }
}

/// Whether the worker wrote something (or closed its stdout) that is not
/// read yet: in our buffer, or in the pipe — asked of the kernel, which
/// knows what tokio's cached readiness may not.
fn unread_output(stdout: &BufReader<ChildStdout>) -> bool {
    !stdout.buffer().is_empty() || pipe_readable(stdout.get_ref())
}

/// A zero-timeout `poll` of the pipe. An error (EINTR, ENOMEM) says
/// nothing either way: no.
#[cfg(unix)]
fn pipe_readable(pipe: &ChildStdout) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0)
}

/// Windows pipes have no `poll`: only what tokio has seen counts.
#[cfg(not(unix))]
fn pipe_readable(_pipe: &ChildStdout) -> bool {
    false
}

/// A worker whose stdout became readable with no request pending: it
/// wrote output nobody asked for (`unasked`), or it closed its stdout.
async fn unsolicited(child: &mut GroupChild, unasked: bool) -> WorkerEnd {
    let reason = if unasked {
        "broke the line protocol: wrote output nobody asked for".to_string()
    } else {
        describe_exit(child, "closed its stdout").await
    };
    WorkerEnd::Failed {
        reason,
        during_request: false,
    }
}

/// How a worker that stopped talking died: its exit status if it exits
/// promptly, else `fallback` (it closed a pipe but lives on).
async fn describe_exit(child: &mut GroupChild, fallback: &str) -> String {
    match tokio::time::timeout(EXIT_STATUS_WAIT, child.wait_leader()).await {
        Ok(Ok(status)) => format!("{fallback}; exited with {status}"),
        _ => fallback.to_string(),
    }
}
