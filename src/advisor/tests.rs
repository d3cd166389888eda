//! Table tests for the Advisor: each row is a situation and the pattern it
//! must get.

use super::*;
use Pattern::*;

fn req() -> Requirements {
    Requirements::default()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

#[test]
fn recommendations_table() {
    #[rustfmt::skip]
    let cases: Vec<(&str, Requirements, Pattern)> = vec![
        ("defaults: one short task, result needed", req(), Simple),
        ("quick command", Requirements { expected_duration: ms(20), ..req() }, Simple),
        ("ten-second job, result needed", Requirements { expected_duration: secs(10), ..req() }, Simple),
        ("just under long", Requirements { expected_duration: secs(59), ..req() }, Simple),
        ("zero duration", Requirements { expected_duration: Duration::ZERO, ..req() }, Simple),
        ("0 tasks reads as one", Requirements { tasks: 0, ..req() }, Simple),
        ("1 task", Requirements { tasks: 1, ..req() }, Simple),
        ("low rate, short", Requirements { requests_per_second: 2.0, expected_duration: ms(5), ..req() }, Simple),
        ("high rate but slow work", Requirements { requests_per_second: 100.0, expected_duration: secs(2), ..req() }, Simple),
        ("negative rate is zero", Requirements { requests_per_second: -5.0, expected_duration: ms(1), ..req() }, Simple),
        ("NaN rate is zero", Requirements { requests_per_second: f64::NAN, expected_duration: ms(1), ..req() }, Simple),
        ("infinite rate is zero", Requirements { requests_per_second: f64::INFINITY, expected_duration: ms(1), ..req() }, Simple),
        ("one hour, result needed", Requirements { expected_duration: secs(3600), ..req() }, LongRunning),
        ("exactly long", Requirements { expected_duration: secs(60), ..req() }, LongRunning),
        ("long and streaming", Requirements { expected_duration: secs(7200), streaming: true, ..req() }, LongRunning),
        ("short but streaming", Requirements { expected_duration: ms(100), streaming: true, ..req() }, LongRunning),
        ("streaming without result", Requirements { streaming: true, needs_result: false, ..req() }, LongRunning),
        ("streaming many tasks", Requirements { streaming: true, tasks: 10, ..req() }, LongRunning),
        ("streaming at a high rate", Requirements { streaming: true, requests_per_second: 500.0, expected_duration: ms(1), ..req() }, LongRunning),
        ("500 files", Requirements { tasks: 500, ..req() }, Concurrent),
        ("2 tasks", Requirements { tasks: 2, ..req() }, Concurrent),
        ("many long tasks", Requirements { tasks: 20, expected_duration: secs(600), ..req() }, Concurrent),
        ("many tasks, no result", Requirements { tasks: 50, needs_result: false, ..req() }, Concurrent),
        ("many tasks at a low rate", Requirements { tasks: 8, requests_per_second: 1.0, ..req() }, Concurrent),
        ("nightly export, no result", Requirements { needs_result: false, expected_duration: secs(1800), ..req() }, FireAndForget),
        ("short, no result", Requirements { needs_result: false, expected_duration: ms(10), ..req() }, FireAndForget),
        ("0 tasks, no result", Requirements { tasks: 0, needs_result: false, ..req() }, FireAndForget),
        ("high rate, very short", Requirements { requests_per_second: 1000.0, expected_duration: ms(1), ..req() }, Pooled),
        ("rate at the threshold", Requirements { requests_per_second: 10.0, expected_duration: ms(50), ..req() }, Pooled),
        ("high rate, many tasks", Requirements { requests_per_second: 200.0, expected_duration: ms(5), tasks: 100, ..req() }, Pooled),
        ("high rate, no result", Requirements { requests_per_second: 50.0, expected_duration: ms(2), needs_result: false, ..req() }, Pooled),
        ("high rate, zero duration", Requirements { requests_per_second: 50.0, expected_duration: Duration::ZERO, ..req() }, Pooled),
        ("just below the rate", Requirements { requests_per_second: 9.9, expected_duration: ms(1), ..req() }, Simple),
        ("just above short", Requirements { requests_per_second: 100.0, expected_duration: ms(51), ..req() }, Simple),
        ("recurring health check", Requirements { recurring: true, expected_duration: ms(100), ..req() }, Periodic),
        ("recurring, result needed", Requirements { recurring: true, needs_result: true, ..req() }, Periodic),
        ("recurring, no result", Requirements { recurring: true, needs_result: false, ..req() }, Periodic),
        ("recurring and streaming", Requirements { recurring: true, streaming: true, ..req() }, Periodic),
        ("recurring batch", Requirements { recurring: true, tasks: 30, ..req() }, Periodic),
        ("recurring at a high rate", Requirements { recurring: true, requests_per_second: 100.0, expected_duration: ms(1), ..req() }, Periodic),
        ("recurring long job", Requirements { recurring: true, expected_duration: secs(3600), ..req() }, Periodic),
        ("max tasks", Requirements { tasks: usize::MAX, ..req() }, Concurrent),
    ];
    assert!(cases.len() >= 40, "the issue asks for at least 40 cases");
    for (what, requirements, want) in cases {
        let rec = Advisor::recommend(&requirements);
        assert_eq!(rec.pattern, want, "{what}: {rec}");
        assert!(!rec.reason.is_empty(), "{what}: a reason is given");
        assert!(
            rec.alternatives.iter().all(|a| a.pattern != rec.pattern),
            "{what}: alternatives differ from the pick"
        );
    }
}

#[test]
fn reasons_name_the_deciding_requirement() {
    let rec = Advisor::recommend(&Requirements {
        tasks: 500,
        ..req()
    });
    assert!(rec.reason.contains("500"), "{}", rec.reason);
    let rec = Advisor::recommend(&Requirements {
        requests_per_second: 1000.0,
        expected_duration: ms(1),
        ..req()
    });
    assert!(
        rec.reason.contains("1000 requests per second"),
        "{}",
        rec.reason
    );
    let rec = Advisor::recommend(&Requirements {
        recurring: true,
        ..req()
    });
    assert!(
        rec.reason.contains("registry"),
        "recurring + needs result says where results go: {}",
        rec.reason
    );
    let rec = Advisor::recommend(&Requirements { tasks: 0, ..req() });
    assert!(rec.reason.contains("0 tasks"), "{}", rec.reason);
    assert!(rec.reason.starts_with(char::is_uppercase));
}

#[test]
fn every_pattern_is_explained_in_four_parts() {
    for pattern in Pattern::ALL {
        let text = Advisor::explain(pattern);
        for part in ["When:", "When not:", "Cost:"] {
            assert!(text.contains(part), "{pattern}: missing {part:?} in {text}");
        }
        let title = text.lines().next().unwrap();
        let name = match pattern {
            Simple => "Simple",
            LongRunning => "LongRunning",
            Concurrent => "Concurrent",
            FireAndForget => "FireAndForget",
            Periodic => "Periodic",
            Pooled => "Pooled",
        };
        assert!(title.starts_with(name), "{title}");
    }
}

#[test]
fn recommendation_displays_with_alternatives() {
    let rec = Advisor::recommend(&req());
    let text = rec.to_string();
    assert!(text.starts_with("simple: "));
    assert!(text.contains("also: fire_and_forget"));
}

#[test]
fn explanations_table() {
    // What each explanation must say: the pattern's answer and its cost
    // in the units that matter for it.
    #[rustfmt::skip]
    let cases: [(Pattern, &[&str]); 6] = [
        (Simple, &["exit code", "wait", "process start", "microseconds"]),
        (LongRunning, &["live", "cancel", "ring"]),
        (Concurrent, &["concurrency limit", "input order", "result slot"]),
        (FireAndForget, &["run id", "status and wait", "microseconds"]),
        (Periodic, &["cron", "overlap", "timer"]),
        (Pooled, &["warm worker", "pipe round trip", "idle"]),
    ];
    for (pattern, fragments) in cases {
        let text = Advisor::explain(pattern);
        for fragment in fragments {
            assert!(
                text.contains(fragment),
                "{pattern}: {fragment:?} not in {text}"
            );
        }
    }
}

#[test]
fn advice_agrees_with_selection_where_a_request_can_say_the_same() {
    use taskorch_actors::{Request, Task};

    // Every mix of the four needs a Request can express; where the request
    // is valid, execute() would run the pattern the Advisor recommends.
    let mut compared = 0;
    for bits in 0..16u8 {
        let (recurring, streaming, many, no_result) =
            (bits & 1 != 0, bits & 2 != 0, bits & 4 != 0, bits & 8 != 0);
        let needs = Requirements {
            recurring,
            streaming,
            tasks: if many { 5 } else { 1 },
            needs_result: !no_result,
            ..req()
        };
        let mut request = Request::new(Task::command("true"));
        if recurring {
            request = request.every(secs(1));
        }
        if streaming {
            request = request.streaming(true);
        }
        if many {
            request = request.batch(vec![Task::command("true"); 5], 2);
        }
        if no_result {
            request = request.wait(false);
        }
        if let Ok(selected) = request.validate() {
            compared += 1;
            assert_eq!(
                Advisor::recommend(&needs).pattern,
                selected,
                "{needs:?} vs {request:?}"
            );
        }
    }
    assert!(compared >= 6, "only {compared} valid combinations");
}

#[test]
fn explanations_print_the_text_explain_always_gave() {
    // Captured from `Advisor::explain` before it had a struct behind it.
    let golden = include_str!("explain.golden");
    let today: Vec<&str> = golden
        .trim_end_matches('\n')
        .split("\n\n----\n\n")
        .collect();
    assert_eq!(today.len(), Pattern::ALL.len());
    for (pattern, text) in Pattern::ALL.into_iter().zip(today) {
        let explanation = Advisor::explanation(pattern);
        assert_eq!(explanation.pattern, pattern);
        assert_eq!(explanation.to_string(), text, "{pattern}");
        let explained: String = Advisor::explain(pattern);
        assert_eq!(explained, text, "{pattern}");
        assert!(explanation.benefits.len() >= 2, "{pattern}");
        assert!(explanation.use_when.starts_with("Use it "), "{pattern}");
        assert!(explanation.limitations.starts_with("Not "), "{pattern}");
        assert!(explanation.example.contains("orch."), "{pattern}");
        let json = serde_json::to_value(&explanation).unwrap();
        for field in [
            "pattern",
            "summary",
            "use_when",
            "benefits",
            "limitations",
            "cost",
            "example",
        ] {
            assert!(!json[field].is_null(), "{pattern}: {field}");
        }
    }
}
