//! `taskorch advise`, and `runs` filters.

use super::taskorch;

#[test]
fn advise_recommends_and_explains() {
    let dir = tempfile::tempdir().unwrap();
    let out = taskorch(
        dir.path(),
        &["advise", "--duration", "2h", "--streaming", "--tasks", "1"],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.starts_with("recommended: long_running\nwhy: "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("in taskorch: `taskorch stream -- CMD`"),
        "{}",
        out.stdout
    );
    let explained = taskorch::Advisor::explain(taskorch::Pattern::LongRunning);
    assert!(out.stdout.contains(&explained), "{}", out.stdout);
    assert!(out.stdout.contains("\nBenefits:\n  - "), "{}", out.stdout);
    assert!(
        out.stdout.contains("\nExample:\n  let mut stream"),
        "{}",
        out.stdout
    );

    let json = taskorch(
        dir.path(),
        &["advise", "--duration", "20ms", "--rate", "500", "--json"],
    );
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["recommendation"]["pattern"], "pooled");
    assert_eq!(
        json["explanation"].as_str(),
        Some(taskorch::Advisor::explain(taskorch::Pattern::Pooled).as_str())
    );
    assert_eq!(json["details"]["pattern"], "pooled");
    assert!(
        json["details"]["benefits"]
            .as_array()
            .is_some_and(|b| !b.is_empty())
    );
    assert!(
        json["details"]["example"]
            .as_str()
            .is_some_and(|e| e.contains("pool.request"))
    );

    let bad = taskorch(dir.path(), &["advise", "--rate", "-3"]);
    assert_eq!(bad.code, 2);
    assert_eq!(
        bad.stderr,
        "taskorch: --rate must be a number of requests per second, 0 or more, not -3\n"
    );
}

#[test]
fn runs_filters_by_status_and_name_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    for (name, cmd) in [("a", "true"), ("b", "false"), ("a", "true"), ("c", "true")] {
        taskorch(
            dir.path(),
            &["run", "--store", ".taskorch", "--name", name, "--", cmd],
        );
    }
    let count = |args: &[&str]| {
        let mut all = vec!["runs", "--json"];
        all.extend_from_slice(args);
        let out = taskorch(dir.path(), &all);
        assert_eq!(out.code, 0, "{out:?}");
        serde_json::from_str::<Vec<serde_json::Value>>(&out.stdout)
            .unwrap()
            .len()
    };
    assert_eq!(count(&[]), 4);
    assert_eq!(count(&["--status", "failed"]), 1);
    assert_eq!(count(&["--name", "a"]), 2);
    assert_eq!(count(&["--limit", "3"]), 3);
    let table = taskorch(dir.path(), &["runs"]);
    assert!(table.stdout.starts_with("ID "), "{}", table.stdout);
    assert_eq!(table.stdout.lines().count(), 5);
    let bad = taskorch(dir.path(), &["runs", "--status", "done"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("unknown run status \"done\""),
        "{}",
        bad.stderr
    );
}
