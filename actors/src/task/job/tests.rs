//! One test per rule of `JobOptions::validate`, through `Task::validate`
//! (the path every pattern takes), plus the builders and `Start::due`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{MAX_KEY_BYTES, MAX_LABEL_KEY_BYTES, MAX_LABEL_VALUE_BYTES, MAX_LABELS, Start};
use crate::error::Error;
use crate::priority::Priority;
use crate::task::Task;

fn task() -> Task {
    Task::command("true")
}

#[test]
fn builders_set_every_option_and_validate_accepts_them() {
    let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let t = task()
        .key("training_session_123")
        .label("bot", "b-7")
        .label("strategy/v2", "")
        .priority(Priority::High)
        .queue("gpu.large")
        .start_at(at);
    let job = t.job();
    assert_eq!(job.key.as_deref(), Some("training_session_123"));
    assert_eq!(job.labels.len(), 2);
    assert_eq!(job.labels["bot"], "b-7");
    assert_eq!(job.priority, Priority::High);
    assert_eq!(job.queue.as_deref(), Some("gpu.large"));
    assert_eq!(job.start, Some(Start::At(at)));
    assert!(!job.is_empty());
    // A start_at in the past is accepted: it is due at once.
    t.validate().unwrap();
    assert!(task().job().is_empty());
}

#[test]
fn a_later_start_replaces_an_earlier_one_and_a_label_its_value() {
    let t = task()
        .start_at(SystemTime::now())
        .start_after(Duration::from_secs(5))
        .label("k", "1")
        .label("k", "2");
    assert_eq!(t.job().start, Some(Start::After(Duration::from_secs(5))));
    assert_eq!(t.job().labels["k"], "2");
}

#[test]
fn due_counts_after_from_acceptance_and_saturates() {
    let accepted = UNIX_EPOCH + Duration::from_secs(1000);
    assert_eq!(
        Start::After(Duration::from_secs(5)).due(accepted),
        accepted + Duration::from_secs(5)
    );
    let at = UNIX_EPOCH + Duration::from_secs(10);
    assert_eq!(Start::At(at).due(accepted), at);
    // Duration::MAX is clamped to duration::MAX, never a panic.
    assert_eq!(
        Start::After(Duration::MAX).due(accepted),
        accepted + crate::duration::MAX
    );
}

fn key_error(key: &str) -> String {
    match task().key(key).validate() {
        Err(Error::InvalidKey { key: k, reason }) => {
            assert_eq!(k, key);
            reason
        }
        other => panic!("{key:?}: expected InvalidKey, got {other:?}"),
    }
}

#[test]
fn keys_that_are_empty_too_long_or_with_control_characters_are_refused() {
    assert!(key_error("").contains("empty"));
    assert!(key_error(&"k".repeat(MAX_KEY_BYTES + 1)).contains("256"));
    assert!(key_error("a\0b").contains("control"));
    assert!(key_error("a\nb").contains("control"));
    task().key("k".repeat(MAX_KEY_BYTES)).validate().unwrap();
    task().key("any text: ü / ✓").validate().unwrap();
}

fn label_error(key: &str, value: &str) -> String {
    match task().label(key, value).validate() {
        Err(Error::InvalidLabel { key: k, reason }) => {
            assert_eq!(k, key);
            reason
        }
        other => panic!("{key:?}: expected InvalidLabel, got {other:?}"),
    }
}

#[test]
fn label_keys_and_values_out_of_bounds_are_refused() {
    assert!(label_error("", "v").contains("empty"));
    assert!(label_error(&"k".repeat(MAX_LABEL_KEY_BYTES + 1), "v").contains("64"));
    assert!(label_error("a b", "v").contains("' '"));
    assert!(label_error("bot=1", "v").contains("'='"));
    assert!(label_error("k", &"v".repeat(MAX_LABEL_VALUE_BYTES + 1)).contains("1024"));
    task()
        .label(
            "k".repeat(MAX_LABEL_KEY_BYTES),
            "v".repeat(MAX_LABEL_VALUE_BYTES),
        )
        .label("A-z_0.9/x", "")
        .validate()
        .unwrap();
}

#[test]
fn more_than_32_labels_are_refused() {
    let many = |n: usize| (0..n).fold(task(), |t, i| t.label(format!("k{i:02}"), "v"));
    many(MAX_LABELS).validate().unwrap();
    match many(MAX_LABELS + 1).validate() {
        Err(Error::InvalidLabel { reason, .. }) => assert!(reason.contains("33"), "{reason}"),
        other => panic!("expected InvalidLabel, got {other:?}"),
    }
}

#[test]
fn queue_names_out_of_bounds_are_refused() {
    for (name, part) in [("", "empty"), (&*"q".repeat(65), "64"), ("a b", "' '")] {
        match task().queue(name).validate() {
            Err(Error::InvalidQueue { queue, reason }) => {
                assert_eq!(queue, name);
                assert!(reason.contains(part), "{reason}");
            }
            other => panic!("{name:?}: expected InvalidQueue, got {other:?}"),
        }
    }
    task().queue("q".repeat(64)).validate().unwrap();
    assert!(matches!(
        super::check_queue("x:y"),
        Err(Error::InvalidQueue { .. })
    ));
}

#[test]
fn starts_absurdly_far_ahead_are_invalid_durations() {
    let too_long = crate::duration::MAX + Duration::from_secs(1);
    match task().start_after(too_long).validate() {
        Err(Error::InvalidDuration { field, value, .. }) => {
            assert_eq!(field, "Task::start_after");
            assert_eq!(value, Some(too_long));
        }
        other => panic!("expected InvalidDuration, got {other:?}"),
    }
    let far = SystemTime::now() + too_long + Duration::from_secs(60);
    match task().start_at(far).validate() {
        Err(Error::InvalidDuration { field, .. }) => assert_eq!(field, "Task::start_at"),
        other => panic!("expected InvalidDuration, got {other:?}"),
    }
    task().start_after(crate::duration::MAX).validate().unwrap();
    task()
        .start_at(SystemTime::now() + Duration::from_secs(3600))
        .validate()
        .unwrap();
    task().start_at(UNIX_EPOCH).validate().unwrap();
}

#[test]
fn new_variants_have_stable_kinds() {
    let id = crate::run::RunId::new();
    let cases = [
        (
            Error::InvalidKey {
                key: String::new(),
                reason: String::new(),
            },
            "invalid_key",
        ),
        (
            Error::InvalidLabel {
                key: String::new(),
                reason: String::new(),
            },
            "invalid_label",
        ),
        (
            Error::InvalidQueue {
                queue: String::new(),
                reason: String::new(),
            },
            "invalid_queue",
        ),
        (Error::UnknownQueue("q".into()), "unknown_queue"),
        (
            Error::InvalidRate {
                queue: "q".into(),
                reason: String::new(),
            },
            "invalid_rate",
        ),
        (Error::RunStillActive(id), "run_still_active"),
        (
            Error::TaskNotKept {
                run: id,
                reason: String::new(),
            },
            "task_not_kept",
        ),
    ];
    for (error, kind) in cases {
        assert_eq!(error.kind(), kind);
        assert!(!error.is_retryable(), "{kind} is final");
    }
    assert!(
        Error::RunStillActive(id)
            .to_string()
            .contains(&id.to_string())
    );
}
