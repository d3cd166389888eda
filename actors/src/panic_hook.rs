//! A quiet panic hook for actor panics.
//!
//! ractor turns a panic inside a handler into a supervision event, and the
//! supervisor restarts the actor. The standard hook still runs first and
//! prints the message (with a backtrace under `RUST_BACKTRACE=1`), which
//! costs ~200 us per panic and floods stderr in fault-injection tests. This
//! hook reports panics raised *inside an actor handler* as one `tracing`
//! error event instead, and hands every other panic to the previous hook
//! unchanged: user code keeps its usual panic output.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};

thread_local! {
    // Set only while an actor handler is being polled on this thread.
    static IN_ACTOR: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// Install the hook (once per process; later calls do nothing).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| match IN_ACTOR.with(Cell::get) {
            Some(actor) => {
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".to_string());
                let location = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                tracing::error!(target: "taskorch::supervisor", actor, %location, "actor panicked: {message}");
            }
            None => previous(info),
        }));
    });
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
