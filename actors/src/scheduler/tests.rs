//! Scheduler tests at the crate level: the store, the in-flight guard, and
//! the actor spawned on its own (no supervisor) on paused time.

use std::sync::Arc;
use std::time::Duration;

use ractor::Actor;
use serde_json::json;

use super::*;
use crate::context::Limits;
use crate::registry::Retention;
use crate::slot::ActorSlot;
use crate::task::Task;

const S: Duration = Duration::from_secs(1);

fn noop() -> Task {
    Task::action("noop", json!(null))
}

#[test]
fn store_refuses_duplicate_names_and_frees_removed_ones() {
    let store = ScheduleStore::new(Clock::system());
    let spec = ScheduleSpec::new("a", Trigger::every(S), noop());
    let first = store.insert(spec.clone(), None).unwrap();
    let err = store.insert(spec.clone(), None).unwrap_err();
    assert!(matches!(&err, crate::Error::DuplicateSchedule(n) if n == "a"));
    assert!(store.current("a", first.id()).is_ok());

    store.remove(&first);
    let second = store.insert(spec, None).unwrap();
    // Removing through a stale entry leaves the new schedule alone.
    store.remove(&first);
    assert!(store.get("a").is_some());
    let err = store.current("a", first.id()).unwrap_err();
    assert!(matches!(&err, crate::Error::UnknownSchedule(n) if n == "a"));
    assert!(store.current("a", second.id()).is_ok());
}

#[test]
fn the_in_flight_guard_counts_failures_and_hands_over_a_queued_run() {
    let store = ScheduleStore::new(Clock::system());
    let registry = crate::Registry::new(Retention::default());
    let entry = store
        .insert(ScheduleSpec::new("q", Trigger::every(S), noop()), None)
        .unwrap();
    {
        let mut state = entry.state.lock();
        state.in_flight = 1;
        state.pending = true;
    }
    let record = registry.admit(crate::registry::Admission::new("q", Pattern::Periodic));
    // Dropped before the run finished (never happens in the runner, which
    // always records an outcome): counted as a failure, not lost.
    drop(InFlight {
        entry: Arc::clone(&entry),
        store: Arc::clone(&store),
        record,
    });
    let state = entry.state.lock();
    assert_eq!((state.in_flight, state.failures), (0, 1));
    drop(state);
    let ready = store.take_ready();
    assert_eq!(ready.len(), 1);
    assert!(Arc::ptr_eq(&ready[0], &entry));
}

async fn spawn_scheduler() -> (
    Arc<Context>,
    ActorSlot<SchedulerMessage>,
    ractor::ActorRef<SchedulerMessage>,
) {
    let ctx = Context::new(Limits::default(), Retention::default());
    ctx.actions()
        .register("noop", |_| async { Ok(json!(null)) });
    let store = ScheduleStore::new(Clock::system());
    let (actor, _) = Actor::spawn(
        None,
        Scheduler,
        SchedulerArguments {
            ctx: Arc::clone(&ctx),
            store,
        },
    )
    .await
    .unwrap();
    let slot = ActorSlot::new(SCHEDULER, S);
    slot.set_up(actor.clone());
    (ctx, slot, actor)
}

async fn add(slot: &ActorSlot<SchedulerMessage>, spec: ScheduleSpec) -> Arc<ScheduleEntry> {
    let spec = Arc::new(spec);
    slot.request(|reply| SchedulerMessage::Add {
        spec: Arc::clone(&spec),
        reply,
    })
    .await
    .unwrap()
}

async fn detail(slot: &ActorSlot<SchedulerMessage>) -> String {
    slot.call(SchedulerMessage::Status).await.unwrap().detail
}

#[tokio::test(start_paused = true)]
async fn toggling_schedules_keeps_the_timing_heap_bounded() {
    let (_ctx, slot, actor) = spawn_scheduler().await;
    let mut entries = Vec::new();
    for i in 0..100 {
        let spec = ScheduleSpec::new(format!("s{i}"), Trigger::every(S * 3600), noop());
        entries.push(add(&slot, spec).await);
    }
    assert!(
        detail(&slot)
            .await
            .contains("100 schedules, timing heap 100")
    );
    for _ in 0..20 {
        for entry in &entries {
            for enabled in [false, true] {
                let (name, id) = (Arc::clone(&entry.spec.name), entry.id());
                slot.request(|reply| SchedulerMessage::SetEnabled {
                    name: Arc::clone(&name),
                    id,
                    enabled,
                    reply,
                })
                .await
                .unwrap();
            }
        }
    }
    let detail = detail(&slot).await;
    let heap: usize = detail
        .split("timing heap ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no heap size in {detail:?}"));
    assert!(heap <= 2 * 100 + 64, "stale items are compacted: {detail}");
    actor.stop(None);
}

#[tokio::test(start_paused = true)]
async fn a_stopped_runtime_fires_nothing() {
    let (ctx, slot, actor) = spawn_scheduler().await;
    let entry = add(&slot, ScheduleSpec::new("s", Trigger::every(S), noop())).await;
    ctx.shutdown().begin();
    tokio::time::advance(S * 5).await;
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
    assert_eq!(entry.state.lock().runs, 0);
    let spec = Arc::new(ScheduleSpec::new("t", Trigger::every(S), noop()));
    let err = slot
        .request(|reply| SchedulerMessage::Add {
            spec: Arc::clone(&spec),
            reply,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, crate::Error::ShuttingDown), "{err:?}");
    actor.stop(None);
}
