//! `taskorch rerun ID` and `taskorch runs --dead` on a store directory.

use super::taskorch;

fn runs_json(dir: &std::path::Path, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["runs", "--json"];
    all.extend_from_slice(args);
    let out = taskorch(dir, &all);
    assert_eq!(out.code, 0, "{out:?}");
    serde_json::from_str(&out.stdout).unwrap()
}

fn names(runs: &[serde_json::Value]) -> Vec<&str> {
    let mut names: Vec<&str> = runs.iter().map(|r| r["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    names
}

#[test]
fn runs_dead_lists_the_runs_that_failed_after_every_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let store = ["--store", ".taskorch"];
    let run = |name: &str, extra: &[&str], cmd: &[&str]| {
        let mut args = vec!["run"];
        args.extend_from_slice(&store);
        args.extend_from_slice(&["--name", name]);
        args.extend_from_slice(extra);
        args.push("--");
        args.extend_from_slice(cmd);
        taskorch(dir.path(), &args).code
    };
    assert_eq!(run("ok", &[], &["true"]), 0);
    assert_eq!(run("fails", &["--retries", "1"], &["false"]), 1);
    assert_eq!(run("slow", &["--timeout", "100ms"], &["sleep", "5"]), 124);

    let dead = runs_json(dir.path(), &["--dead"]);
    assert_eq!(names(&dead), ["fails", "slow"]);
    let fails = dead.iter().find(|r| r["name"] == "fails").unwrap();
    assert_eq!(fails["attempts"], 2, "every attempt was used");
    assert_eq!(
        names(&runs_json(dir.path(), &["--dead", "--name", "slow"])),
        ["slow"]
    );
    assert_eq!(runs_json(dir.path(), &[]).len(), 3);
}

#[test]
fn rerun_runs_a_stored_run_again_and_exits_with_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let first = taskorch(
        dir.path(),
        &[
            "run",
            "--store",
            ".taskorch",
            "--name",
            "job",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
    );
    assert_eq!(first.code, 3, "{first:?}");
    let old = runs_json(dir.path(), &[]);
    let short = old[0]["short_id"].as_str().unwrap().to_string();
    let old_id = old[0]["id"].as_str().unwrap().to_string();

    let again = taskorch(dir.path(), &["rerun", &short]);
    assert_eq!(again.code, 3, "{again:?}");
    assert_eq!(again.stdout, "out\n");
    assert!(
        again
            .stderr
            .contains(&format!("rerun of {old_id} started as ")),
        "{again:?}"
    );
    assert!(again.stderr.ends_with("err\n"), "{again:?}");

    let runs = runs_json(dir.path(), &["--name", "job"]);
    assert_eq!(runs.len(), 2);
    // Newest first: the rerun, linked to the first run.
    assert_eq!(runs[0]["rerun_of"], old_id.as_str());
    assert_eq!(runs[1]["rerun_of"], serde_json::Value::Null);
    let show = taskorch(dir.path(), &["show", runs[0]["short_id"].as_str().unwrap()]);
    assert!(show.stdout.contains("rerun of"), "{show:?}");
    assert!(show.stdout.contains(&old_id), "{show:?}");
}

#[test]
fn rerun_of_an_unknown_run_or_without_a_store_fails() {
    let dir = tempfile::tempdir().unwrap();
    let none = taskorch(dir.path(), &["rerun", "abcdef12"]);
    assert_eq!(none.code, 1, "{none:?}");
    assert!(none.stderr.contains("no store at"), "{none:?}");
    assert!(
        !dir.path().join(".taskorch").exists(),
        "nothing was created"
    );

    assert_eq!(
        taskorch(dir.path(), &["run", "--store", ".taskorch", "--", "true"]).code,
        0
    );
    let unknown = taskorch(dir.path(), &["rerun", "abcdef12"]);
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert!(unknown.stderr.contains("no run abcdef12"), "{unknown:?}");
    let bad = taskorch(dir.path(), &["rerun", "xyz"]);
    assert_eq!(bad.code, 2, "{bad:?}");
}
