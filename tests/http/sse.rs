//! The live streams over the wire: `/events` with `Last-Event-ID`
//! replay and `lagged`, a run's output stream ending with its outcome.

use std::time::Duration;

use serde_json::json;

use super::*;

#[tokio::test]
async fn events_stream_live_and_replay_after_a_reconnect_with_last_event_id() {
    let s = serve().await;
    let mut events = SseReader::new(s.get("/events").await);
    let first = s.launch(json!({"shell": "echo hi"})).await;
    let seen = events.until(|e| finished(e, &first)).await;
    let types: Vec<String> = seen
        .iter()
        .map(|e| json(e)["type"].as_str().unwrap().to_string())
        .collect();
    assert!(types.contains(&"run_queued".to_string()), "{types:?}");
    assert!(types.contains(&"run_output".to_string()), "{types:?}");
    // Ids are the events' seq, one apart.
    let ids: Vec<u64> = seen
        .iter()
        .map(|e| e.id.as_deref().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    for (event, id) in seen.iter().zip(&ids) {
        assert_eq!(json(event)["seq"], *id);
    }
    let last = *ids.last().unwrap();
    drop(events);

    // Events while no client is connected.
    let second = s.launch(json!({"shell": "echo again"})).await;
    s.wait_run(&second).await;

    // Reconnect with the last id: the missed events, from last + 1, no gap.
    let response = s
        .client
        .get(s.url("/events"))
        .header("Last-Event-ID", last.to_string())
        .send()
        .await
        .unwrap();
    let mut events = SseReader::new(response);
    let replayed = events.until(|e| finished(e, &second)).await;
    assert_eq!(
        replayed[0].id.as_deref(),
        Some((last + 1).to_string().as_str())
    );
    assert!(
        replayed.iter().all(|e| e.event.is_none()),
        "no loss: {replayed:?}"
    );

    // The query form, for a first EventSource connect.
    let mut from_query = SseReader::new(s.get(&format!("/events?last_event_id={last}")).await);
    let again = from_query.next().await.unwrap();
    assert_eq!(again.id.as_deref(), Some((last + 1).to_string().as_str()));
}

#[tokio::test]
async fn a_replay_past_the_ring_starts_with_a_lagged_event() {
    let mut config = config();
    config.replay = 4;
    let s = serve_with(config).await;
    let mut events = SseReader::new(s.get("/events").await);
    let id = s.launch(json!({"shell": "seq 1 20"})).await;
    let seen = events.until(|e| finished(e, &id)).await;
    let newest: u64 = seen.last().unwrap().id.as_deref().unwrap().parse().unwrap();
    drop(events);
    let response = s
        .client
        .get(s.url("/events"))
        .header("Last-Event-ID", "0")
        .send()
        .await
        .unwrap();
    let mut events = SseReader::new(response);
    let lagged = events.next().await.unwrap();
    assert_eq!(lagged.event.as_deref(), Some("lagged"));
    let missed = json(&lagged)["missed"].as_u64().unwrap();
    // The ring holds the last 4: everything after 0 before them was lost.
    assert_eq!(missed, newest - 4);
    let next = events.next().await.unwrap();
    assert_eq!(next.id.as_deref(), Some((newest - 3).to_string().as_str()));
}

#[tokio::test]
async fn a_client_that_falls_behind_gets_lagged_and_is_dropped() {
    let mut config = config();
    config.client_buffer = 8;
    // Long enough that only the lag, not a stalled write, ends it.
    config.write_timeout = Duration::from_secs(60);
    let s = serve_with(config).await;
    let response = s.get("/events").await;
    // Not reading while a run writes far more than the socket buffers
    // and the client's buffer hold.
    let id = s.launch(json!({"shell": "seq 1 200000"})).await;
    s.wait_run(&id).await;
    let mut events = SseReader::new(response);
    let mut lagged = None;
    while let Some(event) = events.next().await {
        if event.event.as_deref() == Some("lagged") {
            lagged = Some(event);
        }
    }
    // The stream ended (we were dropped) right after the lagged event.
    let lagged = lagged.expect("a lagged event before the end");
    assert!(json(&lagged)["missed"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn output_stream_replays_follows_and_ends_with_the_outcome() {
    let s = serve().await;
    let id = s
        .launch(json!({"shell": "echo first; sleep 0.5; echo second >&2; exit 4"}))
        .await;
    let mut stream = SseReader::new(s.get(&format!("/runs/{id}/output/stream")).await);
    let seen = stream.until(|e| e.event.as_deref() == Some("end")).await;
    let lines: Vec<_> = seen
        .iter()
        .filter(|e| e.event.as_deref() == Some("line"))
        .collect();
    assert_eq!(lines.len(), 2, "{seen:?}");
    assert_eq!(json(lines[0])["text"], "first");
    assert_eq!(json(lines[0])["stream"], "stdout");
    assert_eq!(json(lines[1])["text"], "second");
    assert_eq!(json(lines[1])["stream"], "stderr");
    let end = json(seen.last().unwrap());
    assert_eq!(end["id"], id.as_str());
    assert_eq!(end["status"], "failed");
    assert_eq!(end["exit_code"], 4);
    assert!(
        stream.next().await.is_none(),
        "the stream closes after `end`"
    );

    // Reconnecting after the first line: only what followed it, then the end.
    let first_id = lines[0].id.clone().unwrap();
    let response = s
        .client
        .get(s.url(&format!("/runs/{id}/output/stream")))
        .header("Last-Event-ID", first_id)
        .send()
        .await
        .unwrap();
    let mut resumed = SseReader::new(response);
    let again = resumed.until(|e| e.event.as_deref() == Some("end")).await;
    let texts: Vec<_> = again
        .iter()
        .filter(|e| e.event.as_deref() == Some("line"))
        .map(|e| json(e)["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts, ["second"]);
}
