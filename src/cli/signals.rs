//! The signals that stop a `taskorch` command: SIGINT (Ctrl-C), SIGTERM
//! and SIGHUP (the terminal closed), and what each means.
//!
//! [`Signals::install`] registers all three handlers at once, when the
//! binary starts, before any store is opened or any child started: a
//! signal that arrives during `up`'s store recovery or `[[setup]]` is
//! then held until the command looks, instead of killing the process
//! (which would leave its children's process groups behind). The first
//! signal asks for a graceful stop ([`Signals::shutdown`]); a second one
//! of any kind forces it ([`Signals::forced`]: every group is still
//! terminated, but no grace is waited for).
//!
//! A command stopped by a signal exits as a shell reports a process
//! killed by it: 128 + the signal's number ([`Signal::exit_code`]: 130
//! for SIGINT, 143 for SIGTERM, 129 for SIGHUP).

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// A signal that stops a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGTERM: `kill`, a service manager.
    Terminate,
    /// SIGHUP: the terminal went away.
    Hangup,
}

impl Signal {
    /// The exit code of a command it stopped: 128 + its number, as a
    /// shell reports a process killed by it.
    pub fn exit_code(self) -> i32 {
        128 + match self {
            Signal::Hangup => 1,
            Signal::Interrupt => 2,
            Signal::Terminate => 15,
        }
    }
}

/// What has arrived so far.
#[derive(Debug, Clone, Copy, Default)]
struct Received {
    /// The first signal (the one the exit code reports).
    first: Option<Signal>,
    /// How many arrived, of any kind.
    count: u32,
}

/// The installed handlers (see the module docs). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Signals {
    received: watch::Receiver<Received>,
}

impl Signals {
    /// Register the handlers of SIGINT, SIGTERM and SIGHUP now. Must be
    /// called inside a tokio runtime. A handler that cannot be registered
    /// (the system refuses) is skipped with a warning on stderr: that
    /// signal then keeps its default action.
    pub fn install() -> Signals {
        let (tx, rx) = watch::channel(Received::default());
        let mut streams = Vec::new();
        for (kind, which) in [
            (SignalKind::interrupt(), Signal::Interrupt),
            (SignalKind::terminate(), Signal::Terminate),
            (SignalKind::hangup(), Signal::Hangup),
        ] {
            // `signal` registers the handler before it returns.
            match signal(kind) {
                Ok(stream) => streams.push((stream, which)),
                Err(e) => eprintln!("taskorch: warning: cannot handle {which:?}: {e}"),
            }
        }
        for (mut stream, which) in streams {
            let tx = tx.clone();
            // Lives as long as the runtime; nothing to stop: the process
            // exits with it.
            tokio::spawn(async move {
                while stream.recv().await.is_some() {
                    tx.send_modify(|r| {
                        r.first.get_or_insert(which);
                        r.count += 1;
                    });
                }
            });
        }
        Signals { received: rx }
    }

    /// Resolves on the first signal (at once if one already arrived).
    /// Cancel-safe.
    pub async fn shutdown(&self) {
        self.at_least(1).await;
    }

    /// Resolves on the second signal: stop now. Cancel-safe.
    pub async fn forced(&self) {
        self.at_least(2).await;
    }

    /// The first signal that arrived, if any.
    pub fn received(&self) -> Option<Signal> {
        self.received.borrow().first
    }

    async fn at_least(&self, n: u32) {
        let mut seen = self.received.clone();
        if seen.wait_for(|r| r.count >= n).await.is_err() {
            // Every handler task ended (the runtime is shutting down): no
            // signal will come.
            std::future::pending::<()>().await;
        }
    }
}
