//! The key and label indexes: a keyed admission finds the live or recent
//! run under one lock (threads racing on one key admit one run), a key
//! expires after the window, and evicted runs leave the label index.

use std::sync::Arc;
use std::time::Duration;

use super::super::*;
use crate::output::Output;
use crate::task::Task;

fn keyed(key: &str) -> crate::task::JobOptions {
    Task::command("true").key(key).job().clone()
}

fn labelled(bot: &str) -> crate::task::JobOptions {
    Task::command("true")
        .label("bot", bot)
        .label("desk", "fx")
        .job()
        .clone()
}

#[tokio::test]
async fn a_key_names_its_run_while_live_and_for_the_window() {
    let reg = Registry::new(Retention {
        key_window: Duration::from_millis(200),
        ..Retention::default()
    });
    let Keyed::New(first) =
        reg.admit_keyed(Admission::new("a", Pattern::FireAndForget).job(&keyed("k")))
    else {
        panic!("the first admission of a key is new");
    };
    let Keyed::Existing(same) =
        reg.admit_keyed(Admission::new("b", Pattern::FireAndForget).job(&keyed("k")))
    else {
        panic!("a live key names its run");
    };
    assert_eq!(same.id(), first.id());
    reg.finish(&first, Ok(Output::empty(first.id())))
        .await
        .unwrap();
    assert!(matches!(
        reg.admit_keyed(Admission::new("c", Pattern::FireAndForget).job(&keyed("k"))),
        Keyed::Existing(r) if r.id() == first.id()
    ));
    assert_eq!(reg.find_key("k").map(|r| r.id()), Some(first.id()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(reg.find_key("k").is_none(), "the window is over");
    let Keyed::New(second) =
        reg.admit_keyed(Admission::new("d", Pattern::FireAndForget).job(&keyed("k")))
    else {
        panic!("after the window a new run is admitted");
    };
    assert_ne!(second.id(), first.id());
    assert!(reg.keys.lock().expiring.is_empty());
}

#[test]
fn threads_racing_on_one_key_admit_one_run() {
    let reg = Arc::new(Registry::new(Retention::default()));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let reg = Arc::clone(&reg);
            std::thread::spawn(move || {
                (0..100)
                    .map(|_| {
                        match reg.admit_keyed(
                            Admission::new("r", Pattern::FireAndForget).job(&keyed("race")),
                        ) {
                            Keyed::New(r) | Keyed::Existing(r) => r.id(),
                        }
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let ids: Vec<RunId> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]));
    assert_eq!(reg.len(), 1);
}

#[tokio::test]
async fn evicted_runs_leave_the_label_index() {
    let reg = Registry::new(Retention {
        history_limit: 2,
        ..Retention::default()
    });
    let mut ids = Vec::new();
    for i in 0..5 {
        let bot = if i % 2 == 0 { "even" } else { "odd" };
        let record = reg.admit(Admission::new("l", Pattern::FireAndForget).job(&labelled(bot)));
        ids.push(record.id());
        reg.finish(&record, Ok(Output::empty(record.id())))
            .await
            .unwrap();
    }
    let found: Vec<RunId> = reg
        .query(&RunQuery::new().label("desk", "fx"))
        .iter()
        .map(|info| info.id)
        .collect();
    assert_eq!(found, ids[3..]);
    let index = reg.labels.read();
    let held: usize = index
        .values()
        .flat_map(|values| values.values())
        .map(|ids| ids.len())
        .sum();
    assert_eq!(held, 4, "two labels of each of the two kept runs");
    assert_eq!(index["bot"].len(), 2, "{index:?}");
}
