//! `--key` and `--label` on `run`, the `runs --label/--key` filters, key
//! and labels in `show` and `runs --json`, jobs-file `key`/`labels`, and
//! their bad input (exit 2, naming it, nothing started).

use super::{Done, taskorch};

/// `taskorch run --store .taskorch OPTIONS -- COMMAND` in `dir`.
fn run_stored(dir: &std::path::Path, options: &[&str], command: &[&str]) -> Done {
    let mut args = vec!["run", "--store", ".taskorch"];
    args.extend_from_slice(options);
    args.push("--");
    args.extend_from_slice(command);
    taskorch(dir, &args)
}

fn json_runs(dir: &std::path::Path, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["runs", "--json"];
    all.extend_from_slice(args);
    let out = taskorch(dir, &all);
    assert_eq!(out.code, 0, "{out:?}");
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn runs_filters_by_labels_and_key_and_show_prints_them() {
    let dir = tempfile::tempdir().unwrap();
    for (bot, strategy) in [("b-1", "mean"), ("b-1", "trend"), ("b-2", "mean")] {
        let out = run_stored(
            dir.path(),
            &[
                "--label",
                &format!("bot={bot}"),
                "--label",
                &format!("strategy={strategy}"),
            ],
            &["true"],
        );
        assert_eq!(out.code, 0, "{out:?}");
    }
    assert_eq!(json_runs(dir.path(), &["--label", "bot=b-1"]).len(), 2);
    let both = json_runs(
        dir.path(),
        &["--label", "bot=b-1", "--label", "strategy=mean"],
    );
    assert_eq!(both.len(), 1, "repeated --label is AND");
    assert_eq!(both[0]["labels"]["bot"], "b-1");
    assert_eq!(both[0]["labels"]["strategy"], "mean");
    assert!(json_runs(dir.path(), &["--label", "bot=b-9"]).is_empty());

    // A key: the second run within the window is the first one again.
    let first = run_stored(dir.path(), &["--key", "job-42"], &["echo", "once"]);
    assert_eq!(
        (first.code, first.stdout.as_str()),
        (0, "once\n"),
        "{first:?}"
    );
    let again = run_stored(dir.path(), &["--key", "job-42"], &["echo", "twice"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(
        again.stdout, "once\n",
        "the stored run's output, not a new run"
    );
    assert!(again.stderr.contains("key job-42 names run"), "{again:?}");
    let keyed = json_runs(dir.path(), &["--key", "job-42"]);
    assert_eq!(keyed.len(), 1, "one run for the key");
    assert_eq!(keyed[0]["key"], "job-42");
    let id = keyed[0]["id"].as_str().unwrap().to_string();
    let show = taskorch(dir.path(), &["show", &id]);
    assert_eq!(show.code, 0, "{show:?}");
    assert!(show.stdout.contains("job-42"), "{}", show.stdout);
    let labelled = json_runs(dir.path(), &["--label", "strategy=trend"]);
    let id = labelled[0]["id"].as_str().unwrap().to_string();
    let show = taskorch(dir.path(), &["show", &id]);
    assert!(
        show.stdout.contains("bot=b-1 strategy=trend"),
        "{}",
        show.stdout
    );
}

#[test]
fn bad_keys_and_labels_are_exit_2_and_nothing_starts() {
    let dir = tempfile::tempdir().unwrap();
    let long = "k".repeat(65);
    let long_label = format!("{long}=v");
    let mut cases: Vec<Vec<&str>> = [
        ["--label", "=v"],
        ["--label", "novalue"],
        ["--label", &long_label],
        ["--key", ""],
    ]
    .into_iter()
    .map(|[option, value]| {
        vec![
            "run",
            "--store",
            ".taskorch",
            option,
            value,
            "--",
            "touch",
            "started",
        ]
    })
    .collect();
    cases.push(vec!["runs", "--label", "b@d=v"]);
    for args in &cases {
        let out = taskorch(dir.path(), args);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(
            out.stderr.contains("label") || out.stderr.contains("key"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(!dir.path().join("started").exists(), "{args:?}");
    }
}

#[test]
fn jobs_files_take_key_and_labels_and_refuse_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("jobs.toml"),
        "[[launch]]\nname = \"l\"\nshell = \"true\"\nkey = \"nightly-1\"\nlabels = { bot = \"b-7\", desk = \"fx\" }\n",
    )
    .unwrap();
    let out = taskorch(dir.path(), &["up", "jobs.toml", "--for", "1s"]);
    assert_eq!(out.code, 0, "{out:?}");
    let runs = json_runs(dir.path(), &["--label", "desk=fx"]);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["key"], "nightly-1");
    assert_eq!(runs[0]["labels"]["bot"], "b-7");

    for (entry, expected) in [
        (
            "[[launch]]\nname = \"l\"\nshell = \"true\"\nlabels = { \"\" = \"v\" }\n",
            "jobs.toml:4:10: [[launch]] \"l\": `labels`:",
        ),
        (
            "[[task]]\nname = \"t\"\nshell = \"true\"\nkey = \"\"\n",
            "jobs.toml:4:7: [[task]] \"t\": `key`:",
        ),
    ] {
        let bad = tempfile::tempdir().unwrap();
        std::fs::write(bad.path().join("jobs.toml"), entry).unwrap();
        let out = taskorch(bad.path(), &["up", "jobs.toml", "--for", "1s"]);
        assert_eq!(out.code, 2, "{entry}\n{out:?}");
        assert!(
            out.stderr.starts_with(&format!("taskorch: {expected}")),
            "{entry}: {}",
            out.stderr
        );
        assert!(!bad.path().join(".taskorch").exists(), "{entry}");
    }
}

#[tokio::test]
async fn runs_label_and_key_filters_reach_a_running_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("jobs.toml"),
        "[[service]]\nname = \"svc\"\nshell = \"echo up; sleep 300\"\nkey = \"svc-1\"\nlabels = { bot = \"b-7\" }\n\n\
         [[service]]\nname = \"other\"\nshell = \"echo up; sleep 300\"\nlabels = { bot = \"b-8\" }\n",
    )
    .unwrap();
    let mut up = super::Spawned::start(dir.path(), &["up", "jobs.toml"]);
    up.wait_for("svc            | up").await;
    up.wait_for("other          | up").await;
    // Reads go to the running `up` over its socket.
    let runs = json_runs(dir.path(), &["--label", "bot=b-7"]);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["name"], "svc");
    assert_eq!(runs[0]["status"], "running");
    let keyed = json_runs(dir.path(), &["--key", "svc-1"]);
    assert_eq!(keyed.len(), 1, "{keyed:?}");
    assert_eq!(keyed[0]["labels"]["bot"], "b-7");
    up.signal("TERM");
    assert_eq!(up.exit_code().await, 0, "stderr:\n{}", up.stderr());
}
