//! `/metrics`: the exposition format checked by a parser (no `promtool`
//! here), the names of the issue, base units and `_total`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::*;

/// One sample line.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parse OpenMetrics text strictly: every line a `# HELP`/`# TYPE`/
/// `# UNIT` comment, a sample of a declared family, or the final
/// `# EOF`. Returns the families' types and the samples.
fn parse(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "ends with # EOF");
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap();
            let name = parts.next().expect("a family name");
            assert!(valid_name(name), "{line}");
            match kind {
                "TYPE" => {
                    let t = parts.next().expect("a type");
                    assert!(
                        ["counter", "gauge", "histogram", "info", "unknown"].contains(&t),
                        "{line}"
                    );
                    assert!(
                        types.insert(name.to_string(), t.to_string()).is_none(),
                        "one TYPE per family: {line}"
                    );
                }
                "HELP" | "UNIT" => {}
                other => panic!("unknown comment {other}: {line}"),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("closing brace");
                let mut labels = BTreeMap::new();
                for pair in body.split("\",").filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once("=\"").expect("k=\"v\"");
                    assert!(valid_name(k), "label {k}: {line}");
                    labels.insert(k.to_string(), v.trim_end_matches('"').to_string());
                }
                (name, labels)
            }
            None => (series, BTreeMap::new()),
        };
        assert!(valid_name(name), "{line}");
        let family = types
            .keys()
            .filter(|f| name.starts_with(f.as_str()))
            .max_by_key(|f| f.len())
            .unwrap_or_else(|| panic!("sample of an undeclared family: {line}"));
        let suffix = &name[family.len()..];
        match types[family].as_str() {
            "counter" => assert!(["_total", "_created"].contains(&suffix), "{line}"),
            "histogram" => assert!(
                ["_bucket", "_sum", "_count", "_created"].contains(&suffix),
                "{line}"
            ),
            _ => assert_eq!(suffix, "", "{line}"),
        }
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    (types, samples)
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

#[tokio::test]
async fn metrics_parse_and_name_what_the_issue_asks_for() {
    let s = serve().await;
    let ok = s.launch(json!({"shell": "true"})).await;
    let bad = s.launch(json!({"shell": "exit 1"})).await;
    s.wait_run(&ok).await;
    s.wait_run(&bad).await;
    let response = s.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    let (types, samples) = parse(&text);

    let families: BTreeSet<&str> = types.keys().map(String::as_str).collect();
    for family in [
        "taskorch_runs_submitted",
        "taskorch_runs_started",
        "taskorch_runs_finished",
        "taskorch_runs",
        "taskorch_queue_depth",
        "taskorch_queue_wait_seconds",
        "taskorch_run_duration_seconds",
        "taskorch_actor_restarts",
        "taskorch_pool_workers",
        "taskorch_schedule_lateness_seconds",
        "taskorch_event_subscribers",
        "taskorch_event_subscribers_lagged",
        "taskorch_uptime_seconds",
    ] {
        assert!(families.contains(family), "no {family} in\n{text}");
    }
    // Counters and histograms where the conventions want them.
    assert_eq!(types["taskorch_runs_finished"], "counter");
    assert_eq!(types["taskorch_run_duration_seconds"], "histogram");
    assert_eq!(types["taskorch_queue_wait_seconds"], "histogram");

    let fire = [("pattern", "fire_and_forget")];
    assert_eq!(
        value(&samples, "taskorch_runs_started_total", &fire),
        Some(2.0)
    );
    let failed = [("pattern", "fire_and_forget"), ("status", "failed")];
    assert_eq!(
        value(&samples, "taskorch_runs_finished_total", &failed),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "taskorch_queue_wait_seconds_count", &fire),
        Some(2.0)
    );
    let succeeded = [("pattern", "fire_and_forget"), ("status", "succeeded")];
    assert_eq!(
        value(&samples, "taskorch_run_duration_seconds_count", &succeeded),
        Some(1.0)
    );
    // Buckets rise and end with +Inf = count.
    let buckets: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == "taskorch_run_duration_seconds_bucket"
                && s.labels.get("status").map(String::as_str) == Some("succeeded")
        })
        .collect();
    assert!(buckets.windows(2).all(|w| w[0].value <= w[1].value));
    assert_eq!(buckets.last().unwrap().labels["le"], "+Inf");
    assert_eq!(buckets.last().unwrap().value, 1.0);
}

#[test]
fn the_parser_refuses_what_prometheus_would() {
    for bad in [
        "foo 1\n# EOF",                            // undeclared family
        "# TYPE foo counter\nfoo 1\n# EOF",        // counter without _total
        "# TYPE foo gauge\nfoo{a=\"b\"} x\n# EOF", // not a number
        "# TYPE 9foo gauge\n9foo 1\n# EOF",        // bad name
        "# TYPE foo gauge\nfoo 1\n",               // no EOF
    ] {
        assert!(std::panic::catch_unwind(|| parse(bad)).is_err(), "{bad}");
    }
}
