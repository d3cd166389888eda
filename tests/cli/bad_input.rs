//! Bad input: exact exit codes and messages, and nothing started.

use super::taskorch;

#[test]
fn unknown_subcommand_and_flag_are_usage_errors_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let sub = taskorch(dir.path(), &["frobnicate"]);
    assert_eq!(sub.code, 2);
    assert!(
        sub.stderr
            .starts_with("error: unrecognized subcommand 'frobnicate'"),
        "{}",
        sub.stderr
    );
    assert!(
        sub.stderr.contains("Usage: taskorch [OPTIONS] <COMMAND>"),
        "{}",
        sub.stderr
    );

    let flag = taskorch(dir.path(), &["runs", "--bogus"]);
    assert_eq!(flag.code, 2);
    assert!(
        flag.stderr
            .starts_with("error: unexpected argument '--bogus' found"),
        "{}",
        flag.stderr
    );
    assert!(
        flag.stderr.contains("Usage: taskorch runs"),
        "{}",
        flag.stderr
    );

    let duration = taskorch(dir.path(), &["run", "--timeout", "soon", "--", "true"]);
    assert_eq!(duration.code, 2);
    assert!(
        duration
            .stderr
            .contains("invalid value 'soon' for '--timeout <DURATION>'"),
        "{}",
        duration.stderr
    );
}

#[test]
fn every_subcommand_has_help_with_examples() {
    let dir = tempfile::tempdir().unwrap();
    for sub in [
        "run", "stream", "batch", "up", "runs", "show", "logs", "trace", "advise",
    ] {
        let help = taskorch(dir.path(), &[sub, "--help"]);
        assert_eq!(help.code, 0, "{sub}");
        assert!(
            help.stdout.contains("Examples:"),
            "{sub} --help:\n{}",
            help.stdout
        );
    }
    let top = taskorch(dir.path(), &["--help"]);
    assert!(top.stdout.contains("Examples:"));
}

/// `up` with `text` as the jobs file: the result, and whether a store was
/// created (it must not be: nothing starts).
fn up_with(text: &str) -> (super::Done, bool) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jobs.toml"), text).unwrap();
    let out = taskorch(dir.path(), &["up", "jobs.toml", "--for", "1s"]);
    (out, dir.path().join(".taskorch").exists())
}

#[test]
fn malformed_jobs_files_name_file_line_column_and_key_with_exit_2() {
    let cases = [
        (
            "[[task]]\nname = \"a\"\ncomand = [\"true\"]\n",
            "taskorch: jobs.toml:3:1: unknown field `comand`, expected one of",
        ),
        (
            "[[task]]\nname = \"a\"\nshell = \"true\"\ntimeout = \"3 fortnights\"\n",
            "taskorch: jobs.toml:4:11: invalid duration \"3 fortnights\"",
        ),
        (
            "[[task]]\nname = \"a\"\nshell = \"true\"\nafter = [\"b\"]\n",
            "taskorch: jobs.toml:4:10: `after` names \"b\", which is no [[task]] in this file\n",
        ),
        (
            "[[task]]\nname = \"a\"\nshell = \"true\"\nafter = [\"b\"]\n\n[[task]]\nname = \"b\"\nshell = \"true\"\nafter = [\"a\"]\n",
            "taskorch: jobs.toml:9:10: `after` makes a cycle: \"b\" waits for \"a\", which waits (directly or not) for \"b\"\n",
        ),
        (
            "[[schedule]]\nname = \"s\"\ncron = \"61 * * * *\"\nshell = \"true\"\n",
            "taskorch: jobs.toml:3:8: invalid `cron`:",
        ),
        (
            "[[task]]\nname = \"a\"\nshell = \"true\"\n[[launch]]\nname = \"a\"\nshell = \"true\"\n",
            "taskorch: jobs.toml:5:8: duplicate `name` \"a\": every entry needs its own\n",
        ),
        ("[[task]\nname = 1\n", "taskorch: jobs.toml:1:"),
    ];
    for (text, expected) in cases {
        let (out, store_created) = up_with(text);
        assert_eq!(out.code, 2, "{text}\n{out:?}");
        assert!(
            out.stderr.starts_with(expected),
            "{text}\nexpected {expected:?}\ngot {:?}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "something started: {}", out.stdout);
        assert!(!store_created, "the store was opened for a bad file");
    }
    // The unknown key's message also lists the keys that are allowed.
    let (out, _) = up_with("[[task]]\nname = \"a\"\ncomand = [\"true\"]\n");
    assert!(out.stderr.contains("`command`"), "{}", out.stderr);
}

#[test]
fn bad_run_ids_and_unknown_runs() {
    let dir = tempfile::tempdir().unwrap();
    let bad = taskorch(dir.path(), &["show", "nope"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("invalid value 'nope' for '<ID>'"),
        "{}",
        bad.stderr
    );

    let none = taskorch(dir.path(), &["runs"]);
    assert_eq!(none.code, 1);
    assert!(
        none.stderr.starts_with("taskorch: no store at .taskorch"),
        "{}",
        none.stderr
    );

    assert_eq!(
        taskorch(dir.path(), &["run", "--store", ".taskorch", "--", "true"]).code,
        0
    );
    let id = "0190a5c4-7d1e-7cc0-9a55-2f6c1f0e4b11";
    let unknown = taskorch(dir.path(), &["show", id]);
    assert_eq!(unknown.code, 1);
    assert_eq!(
        unknown.stderr,
        format!("taskorch: no run {id} in the store\n")
    );
}

/// Durations past what a clock can hold (they used to panic the run's task
/// or the scheduler, and `run` then waited for ever) are usage errors,
/// found before anything starts. Bounded: a hang fails the test.
#[tokio::test]
async fn durations_too_long_for_a_clock_are_usage_errors_not_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = super::Spawned::start(
        dir.path(),
        &["run", "--timeout", "300000000000y", "--", "true"],
    );
    assert_eq!(run.exit_code().await, 2, "{}", run.stderr());
    let stderr = run.stderr();
    assert!(
        stderr.contains("'300000000000y'") && stderr.contains("at most 100 years"),
        "{stderr}"
    );

    for (key, section) in [("every", "schedule"), ("timeout", "task")] {
        let text =
            format!("[[{section}]]\nname = \"a\"\nshell = \"true\"\n{key} = \"300000000000y\"\n");
        std::fs::write(dir.path().join("jobs.toml"), text).unwrap();
        let mut up = super::Spawned::start(dir.path(), &["up", "jobs.toml", "--for", "1s"]);
        assert_eq!(up.exit_code().await, 2, "{}", up.stderr());
        let stderr = up.stderr();
        assert!(
            stderr.starts_with("taskorch: jobs.toml:4:")
                && stderr
                    .contains("\"300000000000y\" is too long: a duration may be at most 100 years"),
            "{stderr}"
        );
        assert!(up.stdout().is_empty(), "something started: {}", up.stdout());
    }
}
