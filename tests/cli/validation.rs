//! Validation before anything starts: every key of a jobs file and every
//! argument is checked with the runtime's own checks when it is read, so a
//! task the runtime would refuse later (after `up` had started, exiting 0)
//! is bad input: exit 2, a message naming the entry and the key, and
//! nothing started (no marker file, no store).

use super::taskorch;

/// A `[[setup]]` step that leaves a marker: if it ran, `up` started.
const MARKER: &str = "[[setup]]\nname = \"marker\"\nshell = \"touch started\"\n\n";

/// `up` on a jobs file of [`MARKER`] then `entry` exits 2 with exactly
/// `taskorch: EXPECTED` on stderr, before anything started: no output, the
/// setup step not run, no store opened.
fn assert_up_refuses_before_starting(entry: &str, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jobs.toml"), format!("{MARKER}{entry}")).unwrap();
    let out = taskorch(dir.path(), &["up", "jobs.toml", "--for", "1s"]);
    assert_eq!(out.code, 2, "{entry}\n{out:?}");
    assert_eq!(out.stderr, format!("taskorch: {expected}\n"), "{entry}");
    assert!(
        out.stdout.is_empty(),
        "{entry}: something started: {}",
        out.stdout
    );
    assert!(
        !dir.path().join("started").exists(),
        "{entry}: the setup step ran"
    );
    assert!(
        !dir.path().join(".taskorch").exists(),
        "{entry}: the store was opened"
    );
}

#[test]
fn jobs_file_keys_the_runtime_would_refuse_are_exit_2_naming_entry_and_key() {
    let cases = [
        (
            "[[task]]\nname = \"a\"\ncommand = [\"ec\\u0000ho\", \"x\"]\n",
            "jobs.toml:7:11: [[task]] \"a\": `command`: NUL byte in program name \"ec\\0ho\"",
        ),
        (
            "[[task]]\nname = \"a\"\ncommand = [\"true\"]\ncwd = \"no/such/dir\"\n",
            "jobs.toml:8:7: [[task]] \"a\": `cwd`: working directory no/such/dir does not exist or is not a directory",
        ),
        (
            "[[task]]\nname = \"a\"\ncommand = [\"\"]\n",
            "jobs.toml:7:11: [[task]] \"a\": `command`: empty program name",
        ),
        (
            "[[launch]]\nname = \"l\"\nshell = \"true\"\ntimeout = \"0s\"\n",
            "jobs.toml:8:11: [[launch]] \"l\": `timeout`: timeout must be greater than zero",
        ),
        (
            "[[service]]\nname = \"s\"\nshell = \"true\"\nenv = { \"A=B\" = \"x\" }\n",
            "jobs.toml:8:7: [[service]] \"s\": `env`: invalid environment variable name \"A=B\"",
        ),
        (
            "[[task]]\nname = \"a\"\nshell = \"true\"\nenv = { A = \"x\\u0000\" }\n",
            "jobs.toml:8:7: [[task]] \"a\": `env`: NUL byte in the value of environment variable A",
        ),
        (
            "[[schedule]]\nname = \"c\"\nevery = \"1s\"\nshell = \"tr\\u0000ue\"\n",
            "jobs.toml:8:9: [[schedule]] \"c\": `shell`: NUL byte in shell script",
        ),
        (
            "[[pool]]\nname = \"p\"\ncommand = [\"cat\"]\nrecycle_after = 0\n",
            "jobs.toml:8:17: [[pool]] \"p\": `recycle_after`: pool p: PoolSpec::recycle_after must be at least 1",
        ),
        (
            "[[pool]]\nname = \"p\"\ncommand = [\"cat\"]\nrequest_timeout = \"0s\"\n",
            "jobs.toml:8:19: [[pool]] \"p\": `request_timeout`: pool p: PoolSpec::request_timeout must be greater than zero",
        ),
        (
            "[settings]\nmax_concurrency = 0\n",
            "jobs.toml:5:1: [settings]: `max_concurrency`: Config::max_concurrency must be at least 1",
        ),
    ];
    for (entry, expected) in cases {
        assert_up_refuses_before_starting(entry, expected);
    }
}

#[test]
fn arguments_the_runtime_would_refuse_are_exit_2_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["run", "--store", ".taskorch", "--", ""],
            "taskorch: CMD: empty program name\n",
        ),
        (
            &[
                "run",
                "--store",
                ".taskorch",
                "--timeout",
                "0s",
                "--",
                "touch",
                "started",
            ],
            "taskorch: --timeout 0s: timeout must be greater than zero\n",
        ),
        (
            &[
                "stream",
                "--store",
                ".taskorch",
                "--timeout",
                "0ms",
                "--",
                "touch",
                "started",
            ],
            "taskorch: --timeout 0s: timeout must be greater than zero\n",
        ),
        (
            &[
                "batch",
                "--store",
                ".taskorch",
                "--timeout",
                "0s",
                "--stdin",
            ],
            "taskorch: --timeout 0s: timeout must be greater than zero\n",
        ),
    ];
    for (args, expected) in cases {
        let out = super::taskorch_with_stdin(dir.path(), args, "touch started\n");
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert_eq!(out.stderr, expected, "{args:?}");
        assert!(!dir.path().join("started").exists(), "{args:?} ran");
        assert!(
            !dir.path().join(".taskorch").exists(),
            "{args:?} opened the store"
        );
    }
}

#[test]
fn a_batch_line_the_runtime_would_refuse_is_exit_2_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = super::taskorch_with_stdin(
        dir.path(),
        &["batch", "--stdin"],
        "touch started\n\n# comment\necho a\0b\n",
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(
        out.stderr,
        "taskorch: standard input:4: NUL byte in argument 0 (\"a\\0b\") of echo\n"
    );
    assert!(!dir.path().join("started").exists(), "a job ran");
}

#[test]
fn an_upper_case_toml_extension_is_a_jobs_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("JOBS.TOML"),
        "[[task]]\nname = \"a\"\nshell = \"echo from-toml\"\n",
    )
    .unwrap();
    let out = taskorch(dir.path(), &["batch", "JOBS.TOML"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "from-toml\n");
}

#[test]
fn queue_entries_and_keys_the_runtime_would_refuse_are_exit_2_naming_entry_and_key() {
    let cases = [
        (
            "[[queue]]\nname = \"q\"\nrate = \"0/1s\"\n",
            "jobs.toml:7:8: [[queue]] \"q\": `rate`: invalid rate for queue \"q\": a rate of 0 starts would never start anything",
        ),
        (
            "[[queue]]\nname = \"q\"\nrate = \"often\"\n",
            "jobs.toml:7:8: [[queue]] \"q\": `rate`: invalid rate \"often\" (expected \"N/interval\", as \"100/1s\" or \"5/m\")",
        ),
        (
            "[[queue]]\nname = \"q\"\nconcurrency = 0\n",
            "jobs.toml:7:15: [[queue]] \"q\": `concurrency`: invalid queue \"q\": a concurrency of 0 would never start anything: give at least 1",
        ),
        (
            "[[launch]]\nname = \"l\"\nshell = \"true\"\nqueue = \"nope\"\n",
            "jobs.toml:8:9: [[launch]] \"l\": `queue`: unknown queue \"nope\": declare it with a [[queue]] entry",
        ),
        (
            "[[task]]\nname = \"t\"\nshell = \"true\"\npriority = \"urgent\"\n",
            "jobs.toml:8:12: [[task]] \"t\": `priority`: invalid priority \"urgent\" (expected \"low\", \"normal\", \"high\" or \"critical\")",
        ),
    ];
    for (entry, expected) in cases {
        assert_up_refuses_before_starting(entry, expected);
    }
}
