//! Graphs refused before anything runs, and the empty graph.

use super::*;

#[tokio::test]
async fn bad_graphs_are_refused_before_anything_runs() {
    let rt = start_runtime().await;
    Probe::register(&rt);

    let mut g = TaskGraph::new();
    let a = g.add(step("a", 0));
    let b = g.add(step("b", 0).after(a));
    g.add_dependency(a, b).unwrap();
    let err = rt.graphs().start(g).await.unwrap_err();
    assert!(
        matches!(&err, Error::DependencyCycle { path } if path == &["a", "b", "a"]),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "dependency cycle in task graph: a -> b -> a (each depends on the next)"
    );

    let mut other = TaskGraph::new();
    let foreign = other.add(step("x", 0));
    let mut g = TaskGraph::new();
    g.add(step("a", 0).after(foreign));
    let err = rt.graphs().start(g).await.unwrap_err();
    assert!(
        matches!(&err, Error::UnknownDependency { task, dependency } if task == "a" && *dependency == foreign),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "task \"a\" depends on task #0 of graph {}, which is not a task of this graph",
            other.id()
        )
    );

    let mut g = TaskGraph::new();
    g.add(step("a", 0));
    g.add(step("a", 0));
    let err = rt.graphs().start(g).await.unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateTask(name) if name == "a"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "a task named \"a\" is already in this graph"
    );

    let err = rt
        .graphs()
        .start(TaskGraph::new().limit(0))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidTask(why) if why == "graph limit must be at least 1 (got 0)"),
        "{err:?}"
    );

    let mut g = TaskGraph::new();
    g.add(step("ok", 0));
    g.add(GraphTask::new(
        "missing",
        Task::command("no-such-program-xyz"),
    ));
    let err = rt.graphs().start(g).await.unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { program } if program == "no-such-program-xyz"),
        "{err:?}"
    );

    let mut g = TaskGraph::new();
    g.add(GraphTask::new("a", Task::action("nope", json!(null))));
    let err = rt.graphs().start(g).await.unwrap_err();
    assert!(
        matches!(&err, Error::UnknownAction(name) if name == "nope"),
        "{err:?}"
    );

    let mut g = TaskGraph::new();
    g.add(step("big", 0).resource(Resource::api("github", 5)));
    let err = rt.graphs().start(g).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid task: task \"big\" claims 5 units of API \"github\", more than its capacity of 1"
    );

    let mut g = TaskGraph::new();
    g.add(step("mem", 0).resource(Resource::memory(1 << 30)));
    let err = rt.graphs().start(g).await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidTask(m) if m.contains("no capacity")),
        "{err:?}"
    );
    assert!(matches!(
        rt.graphs().set_capacity(ResourceId::lock("db"), 2),
        Err(Error::InvalidConfig(_))
    ));

    assert!(rt.runs().is_empty(), "nothing ran");
}

#[tokio::test]
async fn an_empty_graph_finishes_at_once() {
    let rt = start_runtime().await;
    let report = rt.graphs().run(TaskGraph::new()).await.unwrap();
    assert_eq!(report.stats.total, 0);
    assert!(report.success());
}
