//! The event hub: the JSON form, lag markers, and no work without
//! subscribers.

use super::*;

fn finished() -> EventBody {
    EventBody::RunFinished {
        run_id: RunId::new(),
        status: RunStatus::Succeeded,
        exit_code: Some(0),
        error: None,
    }
}

#[test]
fn nothing_is_built_without_subscribers() {
    let events = Events::new(8);
    let mut built = false;
    events.emit(None, || {
        built = true;
        finished()
    });
    assert!(!built);
    let stream = events.subscribe();
    assert!(events.is_active());
    drop(stream);
    assert!(!events.is_active());
    assert_eq!(events.subscribers(), 0);
}

#[tokio::test]
async fn json_form_is_flat_and_versioned() {
    let events = Events::new(8);
    let mut stream = events.subscribe();
    events.emit(Some("abc".into()), || EventBody::LimitExceeded {
        name: "exposure".into(),
        value: 12.5,
        limit: 10.0,
        auto_halt: true,
    });
    let Some(EventItem::Event(event)) = stream.next().await else {
        panic!("no event");
    };
    let json: serde_json::Value = serde_json::to_value(&event).unwrap();
    let object = json.as_object().unwrap();
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "auto_halt",
            "correlation",
            "limit",
            "name",
            "schema",
            "seq",
            "time",
            "time_ms",
            "type",
            "value"
        ]
    );
    assert_eq!(json["schema"], 1);
    assert_eq!(json["type"], "limit_exceeded");
    assert_eq!(json["correlation"], "abc");
    assert!(json["time"].as_str().unwrap().ends_with('Z'));
    // The JSON form reads back to the same event.
    let back: Event = serde_json::from_value(json).unwrap();
    assert_eq!(back, event);
}

#[tokio::test]
async fn a_slow_subscriber_gets_a_lag_marker_and_the_rest() {
    let events = Events::new(4);
    let mut slow = events.subscribe();
    for _ in 0..10 {
        events.emit(None, finished);
    }
    assert_eq!(slow.next().await, Some(EventItem::Lagged(6)));
    let mut seqs = Vec::new();
    while let Some(EventItem::Event(event)) = slow.try_next() {
        seqs.push(event.seq);
    }
    assert_eq!(seqs, [6, 7, 8, 9]);
}

#[tokio::test]
async fn the_stream_ends_when_the_runtime_is_gone() {
    let events = Events::new(4);
    let mut stream = events.subscribe();
    drop(events);
    assert_eq!(stream.next().await, None);
}
