//! `taskorch batch`: lines and TOML, summary, joblog, resume, stdin.

use super::{taskorch, taskorch_with_stdin};

#[test]
fn batch_runs_every_line_and_summarises() {
    let dir = tempfile::tempdir().unwrap();
    let lines = "echo one\n\n# a comment\necho two | tr a-z A-Z\nfalse\nno-such-program-xyz\n";
    std::fs::write(dir.path().join("jobs.txt"), lines).unwrap();
    let out = taskorch(
        dir.path(),
        &["batch", "jobs.txt", "-j", "3", "--joblog", "log.tsv"],
    );
    assert_eq!(out.code, 1, "{out:?}");
    // Output in input order, whatever order the jobs finished in.
    assert_eq!(out.stdout, "one\nTWO\n");
    assert!(
        out.stderr.contains("JOBS  SUCCEEDED  FAILED  NOT STARTED"),
        "{}",
        out.stderr
    );
    let summary = out
        .stderr
        .lines()
        .skip_while(|l| !l.starts_with("JOBS"))
        .nth(1)
        .unwrap();
    let cells: Vec<&str> = summary.split_whitespace().collect();
    assert_eq!(&cells[..6], ["4", "2", "1", "1", "0", "0"], "{summary}");
    assert!(
        out.stderr
            .contains("program not found: no-such-program-xyz"),
        "{}",
        out.stderr
    );

    let log = std::fs::read_to_string(dir.path().join("log.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = log.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows[0][0], "Seq");
    assert_eq!(rows.len(), 5);
    let exit_of = |cmd: &str| rows.iter().find(|r| r[8] == cmd).unwrap()[6];
    assert_eq!(exit_of("echo one"), "0");
    assert_eq!(exit_of("false"), "1");
    assert_eq!(exit_of("no-such-program-xyz"), "127");

    // Resume: only the jobs that did not succeed run again.
    let again = taskorch(
        dir.path(),
        &["batch", "jobs.txt", "--joblog", "log.tsv", "--resume"],
    );
    assert_eq!(again.code, 1);
    assert!(
        again
            .stderr
            .contains("resuming: 2 of 4 jobs already succeeded"),
        "{}",
        again.stderr
    );
    assert_eq!(again.stdout, "");
    let log = std::fs::read_to_string(dir.path().join("log.tsv")).unwrap();
    assert_eq!(log.lines().count(), 5 + 2);
}

#[test]
fn batch_from_stdin_and_from_a_toml_file() {
    let dir = tempfile::tempdir().unwrap();
    let input: String = (0..20).map(|i| format!("echo {i}\n")).collect();
    let out = taskorch_with_stdin(dir.path(), &["batch", "--stdin", "-j", "4"], &input);
    assert_eq!(out.code, 0, "{out:?}");
    let expected: String = (0..20).map(|i| format!("{i}\n")).collect();
    assert_eq!(out.stdout, expected);
    // Not a terminal: plain progress lines, the last one complete.
    assert!(
        out.stderr
            .contains("taskorch: 20/20 done, 0 failed, 0 running"),
        "{}",
        out.stderr
    );

    std::fs::write(
        dir.path().join("jobs.toml"),
        "[[task]]\nname = \"a\"\nshell = \"echo from a\"\n\n[[task]]\nname = \"b\"\ncommand = [\"echo\", \"from b\"]\n",
    )
    .unwrap();
    let toml = taskorch(dir.path(), &["batch", "jobs.toml"]);
    assert_eq!(toml.code, 0, "{toml:?}");
    assert_eq!(toml.stdout, "from a\nfrom b\n");

    std::fs::write(
        dir.path().join("up.toml"),
        "[[pool]]\nname = \"p\"\ncommand = [\"cat\"]\n",
    )
    .unwrap();
    let refused = taskorch(dir.path(), &["batch", "up.toml"]);
    assert_eq!(refused.code, 2);
    assert_eq!(
        refused.stderr,
        "taskorch: up.toml: batch runs [[task]] entries only; this file has [[schedule]] or [[pool]] entries: run it with `taskorch up`\n"
    );
}

#[test]
fn batch_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let missing = taskorch(dir.path(), &["batch", "nope.txt"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .starts_with("taskorch: nope.txt: cannot read:"),
        "{}",
        missing.stderr
    );
    let zero = taskorch(dir.path(), &["batch", "--stdin", "-j", "0"]);
    assert_eq!(zero.code, 2);
    assert_eq!(zero.stderr, "taskorch: -j must be at least 1\n");
    let none = taskorch(dir.path(), &["batch"]);
    assert_eq!(none.code, 2);
    assert!(
        none.stderr
            .contains("the following required arguments were not provided"),
        "{}",
        none.stderr
    );
    let resume = taskorch(dir.path(), &["batch", "--stdin", "--resume"]);
    assert_eq!(resume.code, 2);
    assert!(
        resume.stderr.contains("--joblog <FILE>"),
        "{}",
        resume.stderr
    );
}
