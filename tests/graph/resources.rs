//! Resource claims: locks (read/write), counted resources, across graphs.

use super::*;

#[tokio::test(start_paused = true)]
async fn write_claims_never_overlap_and_read_claims_share() {
    let rt = start_runtime().await;
    let probe = Probe::register(&rt);
    let mut g = TaskGraph::new();
    // Readers first: a waiting writer holds back the readers queued after
    // it (so writers are not starved), which would keep these apart.
    for i in 0..4 {
        g.add(step(&format!("reader{i}"), 10).resource(Resource::read("db")));
    }
    for i in 0..4 {
        g.add(step(&format!("writer{i}"), 10).resource(Resource::write("db")));
    }
    g.add(step("exclusive", 10).resource(Resource::exclusive("db")));
    assert!(rt.graphs().run(g).await.unwrap().success());

    let spans: Vec<(String, (u64, u64))> = probe
        .started()
        .into_iter()
        .map(|t| {
            let span = probe.span(&t).unwrap();
            (t, span)
        })
        .collect();
    let overlap = |a: (u64, u64), b: (u64, u64)| a.0 < b.1 && b.0 < a.1;
    let mut readers_overlapped = false;
    for (i, (a, sa)) in spans.iter().enumerate() {
        for (b, sb) in &spans[i + 1..] {
            let sole = !a.starts_with("reader") || !b.starts_with("reader");
            if sole {
                assert!(!overlap(*sa, *sb), "{a} and {b} overlapped");
            } else {
                readers_overlapped |= overlap(*sa, *sb);
            }
        }
    }
    assert!(readers_overlapped, "readers share the lock: {spans:?}");
    assert_eq!(
        rt.graphs().usage(&ResourceId::lock("db")),
        Default::default()
    );
}

#[tokio::test(start_paused = true)]
async fn claims_in_opposite_orders_never_deadlock_and_counted_resources_fit() {
    let rt = start_runtime().await;
    let probe = Probe::register(&rt);
    rt.graphs()
        .set_capacity(ResourceId::api("github"), 2)
        .unwrap();
    rt.graphs().set_capacity(ResourceId::cpu(), 4).unwrap();
    let mut g = TaskGraph::new();
    for i in 0..10 {
        let (x, y) = if i % 2 == 0 { ("a", "b") } else { ("b", "a") };
        g.add(
            step(&format!("ab{i}"), 10)
                .resource(Resource::write(x))
                .resource(Resource::write(y)),
        );
        g.add(step(&format!("api{i}"), 10).resource(Resource::api("github", 1)));
        g.add(step(&format!("cpu{i}"), 10).resource(Resource::cpu(3)));
    }
    let report = tokio::time::timeout(Duration::from_secs(60), rt.graphs().run(g))
        .await
        .expect("no deadlock")
        .unwrap();
    assert!(report.success());
    let max_overlap = |prefix: &str| {
        let spans: Vec<(u64, u64)> = probe
            .started()
            .iter()
            .filter(|t| t.starts_with(prefix))
            .map(|t| probe.span(t).unwrap())
            .collect();
        spans
            .iter()
            .map(|s| spans.iter().filter(|o| o.0 <= s.0 && s.0 < o.1).count())
            .max()
            .unwrap()
    };
    assert_eq!(max_overlap("ab"), 1);
    assert_eq!(max_overlap("api"), 2, "the quota, fully used");
    assert_eq!(max_overlap("cpu"), 1, "3 + 3 slots > 4");
}

#[tokio::test(start_paused = true)]
async fn claims_hold_across_graphs() {
    let rt = start_runtime().await;
    let probe = Probe::register(&rt);
    let graph = |prefix: &str| {
        let mut g = TaskGraph::new();
        for i in 0..3 {
            g.add(step(&format!("{prefix}{i}"), 10).resource(Resource::write("db")));
        }
        g
    };
    let (a, b) = tokio::join!(rt.graphs().run(graph("a")), rt.graphs().run(graph("b")));
    assert!(a.unwrap().success() && b.unwrap().success());
    let spans: Vec<(u64, u64)> = probe
        .started()
        .iter()
        .map(|t| probe.span(t).unwrap())
        .collect();
    for (i, x) in spans.iter().enumerate() {
        for y in &spans[i + 1..] {
            assert!(x.1 < y.0 || y.1 < x.0, "{spans:?}");
        }
    }
}
