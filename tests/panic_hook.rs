//! The runtime's panic hook chains to the one the application installed
//! before it (a crash reporter such as Sentry's must still see panics),
//! while panics raised by injected faults stay quiet. The hook is
//! process-wide, so the check runs in a child process of its own: this
//! test binary, started again on [`hook_child`] alone.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use taskorch::Task;

use crate::common::*;

const CHILD: &str = "TASKORCH_PANIC_HOOK_CHILD";

static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[test]
fn the_application_hook_still_sees_panics() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "panic_hook::hook_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the child test did not run:\n{stdout}"
    );
}

/// Runs only when started by the test above.
#[tokio::test]
async fn hook_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    // The application's hook, installed before the runtime's.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        SEEN.lock().unwrap().push(message);
    }));
    let rt = start_runtime().await;
    rt.register_action("panics", |_: Value| async {
        panic!("the user's action panicked");
        #[allow(unreachable_code)]
        Ok::<_, String>(Value::Null)
    });
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        rt.run(Task::action("panics", json!(null))),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!out.success());
    #[cfg(feature = "fault-injection")]
    {
        rt.inject_fault("executor", taskorch::Fault::PanicNextMessage);
        let refused = tokio::time::timeout(Duration::from_secs(10), rt.run(Task::command("true")))
            .await
            .unwrap();
        assert!(refused.is_err());
    }
    let seen = SEEN.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|m| m.contains("the user's action panicked")),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|m| m.contains("injected fault")),
        "a planned panic reached the application's hook: {seen:?}"
    );
}
