//! `taskorch metrics`: the live metrics of a running `up`, as text and
//! JSON; refused (exit 1) when no `up` runs on the store.

use super::{Spawned, taskorch};

#[tokio::test]
async fn metrics_of_a_running_up_and_none_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = "[[launch]]\nname = \"quick\"\ncommand = [\"true\"]\n\n\
                [[service]]\nname = \"svc\"\nshell = \"echo ready; sleep 300\"\n";
    std::fs::write(dir.path().join("jobs.toml"), jobs).unwrap();

    let refused = taskorch(dir.path(), &["metrics"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("no taskorch up is running on .taskorch"),
        "{refused:?}"
    );

    let mut up = Spawned::start(dir.path(), &["up", "jobs.toml"]);
    up.wait_for("svc            | ready").await;
    up.wait_for("launch   quick          succeeded").await;

    let json = taskorch(dir.path(), &["metrics", "--json"]);
    assert_eq!(json.code, 0, "{json:?}");
    let m: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(m["running"], true);
    assert_eq!(
        m["runs_by_pattern"]["fire_and_forget"]["finished"]["succeeded"],
        1
    );
    assert_eq!(m["runs"]["current"]["running"], 1, "the service's run");
    assert!(m["store"]["commits"].as_u64().unwrap() >= 1, "{m}");
    assert_eq!(m["actors"]["executor"]["restarts"], 0);

    let text = taskorch(dir.path(), &["metrics"]);
    assert_eq!(text.code, 0, "{text:?}");
    for line in [
        "uptime",
        "runs          submitted",
        "queue default",
        "run time",
        "store",
        "restarts",
    ] {
        assert!(
            text.stdout.contains(line),
            "no {line:?} in:\n{}",
            text.stdout
        );
    }

    up.signal("TERM");
    assert_eq!(up.exit_code().await, 0, "stderr:\n{}", up.stderr());
    assert_eq!(taskorch(dir.path(), &["metrics"]).code, 1);
}
