//! The runtime's panic hook: cheap for planned panics, and chained to the
//! hook that was installed before it for everything else.
//!
//! ractor turns a panic inside a handler into a supervision event, and the
//! supervisor restarts the actor; the runner turns a panic inside a run's
//! task into that run's `RunPanicked` outcome. The standard hook would
//! still print each one (with a backtrace under `RUST_BACKTRACE=1`), which
//! costs ~200 us per panic and floods stderr in fault-injection tests.
//!
//! # What reaches the previous hook
//! A process-wide hook is shared with the application, which may have put
//! a crash reporter there (Sentry's panic integration takes the hook and
//! chains to it). Silencing a panic the application could not foresee
//! would hide it from that reporter, so:
//! - a *planned* panic — one raised by an injected fault ([`planned`]) —
//!   becomes one `tracing` event and nothing else: a test or the chaos
//!   harness asked for it, nobody needs a crash report of it, and fault
//!   injection keeps restarts at ~12 us;
//! - any other panic inside an actor handler is a bug of the runtime (or
//!   of code it calls): it is logged as a `tracing` event naming the actor
//!   *and* handed to the previous hook, so crash reporters see it. Such
//!   panics are rare, so their cost does not matter;
//! - every other panic (user code, an action, a run's task) goes to the
//!   previous hook unchanged.
//!
//! The hook is installed once per process. A hook the application installs
//! later replaces it (or, if it chains like Sentry's, wraps it); either
//! way nothing is lost but the quiet treatment of planned panics.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};

thread_local! {
    // Set only while an actor handler is being polled on this thread.
    static IN_ACTOR: Cell<Option<&'static str>> = const { Cell::new(None) };
    // Set by `planned` right before it panics, taken by the hook; the hook
    // runs on the panicking thread before unwinding starts.
    static PLANNED: Cell<bool> = const { Cell::new(false) };
}

/// Install the hook (once per process; later calls do nothing).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let planned = PLANNED.with(|flag| flag.replace(false));
            let actor = IN_ACTOR.with(Cell::get);
            if planned || actor.is_some() {
                let message = panic_message(info.payload());
                let location = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let actor = actor.unwrap_or("none");
                if planned {
                    tracing::debug!(target: "taskorch::fault", actor, %location, "planned panic: {message}");
                    return;
                }
                tracing::error!(target: "taskorch::supervisor", actor, %location, "actor panicked: {message}");
            }
            previous(info);
        }));
    });
}

/// Panic with `message` as a planned fault: the hook reports it as one
/// `tracing` event and does not hand it on (see the module docs). The
/// payload is the `String` message, which ractor and the runner read.
pub(crate) fn planned(message: String) -> ! {
    PLANNED.with(|flag| flag.set(true));
    std::panic::panic_any(message)
}

/// Run `fut` with actor panics reported quietly.
pub(crate) fn quiet<F: Future>(actor: &'static str, fut: F) -> Quiet<F> {
    Quiet { actor, fut }
}

pin_project_lite::pin_project! {
    /// Future wrapper that marks its polls as actor code.
    #[derive(Debug)]
    pub(crate) struct Quiet<F> {
        actor: &'static str,
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for Quiet<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let previous = IN_ACTOR.with(|flag| flag.replace(Some(*this.actor)));
        // Restore on unwind too, so a caught panic does not leave the flag set.
        let _restore = Restore(previous);
        this.fut.poll(cx)
    }
}

struct Restore(Option<&'static str>);

impl Drop for Restore {
    fn drop(&mut self) {
        IN_ACTOR.with(|flag| flag.set(self.0));
    }
}

/// The message of a panic payload (`panic!` makes a `&str` or a `String`).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}

#[cfg(test)]
mod tests {
    use std::panic::AssertUnwindSafe;
    use std::sync::Mutex;

    use futures::FutureExt;

    use super::*;

    const CHILD: &str = "TASKORCH_PANIC_HOOK_UNIT_CHILD";
    const NAME: &str = "panic_hook::tests::an_unplanned_actor_panic_reaches_the_previous_hook";

    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

    /// The hook is process-wide and installed once, so the check runs in a
    /// child process: this test binary again, on this test alone.
    #[test]
    fn an_unplanned_actor_panic_reaches_the_previous_hook() {
        if std::env::var_os(CHILD).is_some() {
            return child();
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "stdout:\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn child() {
        // The application's hook (a crash reporter), installed first.
        std::panic::set_hook(Box::new(|info| {
            let message = panic_message(info.payload());
            SEEN.lock().unwrap().push(message);
        }));
        install();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let bug = quiet("probe", async { panic!("a real bug") });
            assert!(AssertUnwindSafe(bug).catch_unwind().await.is_err());
            let fault = quiet("probe", async { planned("injected fault".into()) });
            assert!(AssertUnwindSafe(fault).catch_unwind().await.is_err());
            let in_run = async { planned("injected fault in a run".into()) };
            assert!(AssertUnwindSafe(in_run).catch_unwind().await.is_err());
            let user = async { panic!("user code") };
            assert!(AssertUnwindSafe(user).catch_unwind().await.is_err());
        });
        assert_eq!(*SEEN.lock().unwrap(), ["a real bug", "user code"]);
    }
}
