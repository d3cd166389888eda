//! The event hub: the JSON form, lag markers, and no work without
//! subscribers.

use super::*;

fn finished() -> EventBody {
    EventBody::RunFinished {
        run_id: RunId::new(),
        status: RunStatus::Succeeded,
        exit_code: Some(0),
        error: None,
        stdout_truncated: false,
        stderr_truncated: false,
        stdout_dropped: 0,
        stderr_dropped: 0,
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
        bound: crate::error::Bound::Ceiling,
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
            "bound",
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

fn output(text: String) -> EventBody {
    EventBody::RunOutput {
        run_id: RunId::new(),
        stream: crate::output::StreamKind::Stdout,
        line_seq: 0,
        text,
    }
}

#[test]
fn seq_is_gapless_and_in_order_under_concurrent_emitters() {
    const THREADS: u64 = 8;
    const EACH: u64 = 5_000;
    // Room for every event: this subscriber never lags, so it must see
    // every number, in order.
    let events = Events::bounded(1 << 16, usize::MAX);
    let mut stream = events.subscribe();
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for _ in 0..EACH {
                    events.emit(None, finished);
                }
            });
        }
    });
    let mut expected = 0;
    while let Some(item) = stream.try_next() {
        let EventItem::Event(event) = item else {
            panic!("a subscriber with room for everything lagged: {item:?}");
        };
        assert_eq!(event.seq, expected, "seq out of order or with a gap");
        expected += 1;
    }
    assert_eq!(expected, THREADS * EACH);
}

#[test]
fn a_lagging_subscriber_pins_at_most_the_byte_bound() {
    let line = "x".repeat(1_000);
    let size = Event::approx_size(None, &output(line.clone()));
    let bound = 10 * size;
    // Room for 1,024 events, but only ten of these fit in the bytes.
    let events = Events::bounded(1_024, bound);
    let mut slow = events.subscribe();
    for _ in 0..100 {
        events.emit(None, || output(line.clone()));
        assert!(
            events.held_bytes() <= bound,
            "held {} > bound {bound}",
            events.held_bytes()
        );
    }
    assert_eq!(slow.try_next(), Some(EventItem::Lagged(90)));
    let mut seqs = Vec::new();
    while let Some(EventItem::Event(event)) = slow.try_next() {
        seqs.push(event.seq);
    }
    assert_eq!(seqs, (90..100).collect::<Vec<_>>());
    // Read: nothing pinned any more.
    assert_eq!(events.held_bytes(), 0);
}

#[tokio::test]
async fn the_byte_bound_lag_marker_comes_before_the_rest_when_awaited() {
    let events = Events::bounded(64, 1);
    let mut slow = events.subscribe();
    for i in 0..5 {
        events.emit(None, || output(format!("line {i}")));
    }
    // Every event but the newest was over the bound.
    assert_eq!(slow.next().await, Some(EventItem::Lagged(4)));
    let Some(EventItem::Event(event)) = slow.next().await else {
        panic!("the newest event is kept");
    };
    assert_eq!(event.seq, 4);
    assert_eq!(slow.try_next(), None);
}

#[test]
fn a_subscriber_that_keeps_up_gets_events_larger_than_the_bound() {
    let events = Events::bounded(64, 10);
    let mut stream = events.subscribe();
    for i in 0..3 {
        events.emit(None, || output("y".repeat(100)));
        let Some(EventItem::Event(event)) = stream.try_next() else {
            panic!("event {i} lost");
        };
        assert_eq!(event.seq, i);
    }
}

#[test]
fn a_huge_capacity_is_clamped_not_a_panic() {
    let events = Events::new(usize::MAX);
    let mut stream = events.subscribe();
    events.emit(None, finished);
    assert!(matches!(stream.try_next(), Some(EventItem::Event(_))));
}
