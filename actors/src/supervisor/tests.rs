//! Supervisor behaviour with a test child that fails on command, on paused
//! time: start/stop order, the three strategies, restart types, intensity,
//! backoff.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::oneshot;

use super::*;
use crate::error::Error;
use crate::slot::ActorSlot;
use crate::task::Backoff;

type Log = Arc<Mutex<Vec<String>>>;

/// A child that records its lifecycle and fails when told to.
struct Probe;

struct ProbeArgs {
    name: &'static str,
    log: Log,
    incarnations: Arc<AtomicU64>,
}

enum ProbeMsg {
    Panic,
    Stop,
    /// Busy for this long (a child stuck in a slow message: its stop waits
    /// for it, up to its shutdown timeout).
    Stall(Duration),
    /// Answers this incarnation's number.
    Ping(RpcReplyPort<u64>),
    Status(RpcReplyPort<ChildReport>),
}

impl ChildMessage for ProbeMsg {
    fn status_request(reply: RpcReplyPort<ChildReport>) -> Self {
        ProbeMsg::Status(reply)
    }
}

impl Actor for Probe {
    type Msg = ProbeMsg;
    type State = (ProbeArgs, u64);
    type Arguments = ProbeArgs;

    async fn pre_start(
        &self,
        _me: ActorRef<ProbeMsg>,
        args: ProbeArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let n = args.incarnations.fetch_add(1, Ordering::SeqCst) + 1;
        args.log.lock().push(format!("start {}", args.name));
        Ok((args, n))
    }

    async fn handle(
        &self,
        me: ActorRef<ProbeMsg>,
        msg: ProbeMsg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ProbeMsg::Panic => {
                crate::panic_hook::quiet("probe", async { panic!("told to fail") }).await
            }
            ProbeMsg::Stop => me.stop(None),
            ProbeMsg::Stall(busy) => tokio::time::sleep(busy).await,
            ProbeMsg::Ping(reply) => {
                let _ = reply.send(state.1);
            }
            ProbeMsg::Status(reply) => {
                let _ = reply.send(ChildReport {
                    detail: format!("incarnation {}", state.1),
                });
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _me: ActorRef<ProbeMsg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.0.log.lock().push(format!("stop {}", state.0.name));
        Ok(())
    }
}

struct Tree {
    sup: ActorRef<SupervisorMessage>,
    slots: Vec<ActorSlot<ProbeMsg>>,
    log: Log,
}

const NAMES: [&str; 3] = ["a", "b", "c"];

async fn tree(policy: SupervisorPolicy, restart: [Restart; 3]) -> Tree {
    crate::panic_hook::install();
    let log: Log = Arc::default();
    let mut slots = Vec::new();
    let mut children = Vec::new();
    for (name, restart) in NAMES.into_iter().zip(restart) {
        let slot = ActorSlot::new(name, Duration::from_secs(30));
        let (log, incarnations) = (Arc::clone(&log), Arc::new(AtomicU64::new(0)));
        children.push(
            ChildSpec::new(slot.clone(), move || {
                let args = ProbeArgs {
                    name,
                    log: Arc::clone(&log),
                    incarnations: Arc::clone(&incarnations),
                };
                (Probe, args)
            })
            .restart(restart),
        );
        slots.push(slot);
    }
    let (sup, _) = Actor::spawn(
        None,
        RootSupervisor,
        SupervisorArguments {
            children,
            policy,
            trace: Arc::new(crate::trace::TraceRecorder::new(1024)),
            events: crate::events::Events::new(16),
            metrics: Arc::default(),
            escalate: false,
            name: super::SUPERVISOR,
        },
    )
    .await
    .unwrap();
    Tree { sup, slots, log }
}

fn policy(strategy: Strategy) -> SupervisorPolicy {
    SupervisorPolicy {
        strategy,
        intensity: RestartIntensity {
            max_restarts: 3,
            within: Duration::from_secs(10),
        },
        backoff: Backoff::fixed(Duration::from_secs(1)),
        status_timeout: Duration::from_secs(1),
    }
}

impl Tree {
    async fn status(&self) -> SystemStatus {
        let (tx, rx) = oneshot::channel();
        self.sup.cast(SupervisorMessage::Status(tx.into())).unwrap();
        rx.await.unwrap()
    }

    async fn incarnation(&self, i: usize) -> Result<u64, Error> {
        self.slots[i].call(ProbeMsg::Ping).await
    }

    async fn incarnations(&self) -> Vec<u64> {
        let mut all = Vec::new();
        for i in 0..3 {
            all.push(self.incarnation(i).await.unwrap());
        }
        all
    }

    /// Make child `i` panic and wait until the supervisor has handled it.
    async fn fail(&self, i: usize) {
        let before = self.status().await.children[i].clone();
        self.slots[i].send(ProbeMsg::Panic).await.unwrap();
        loop {
            let now = self.status().await.children[i].clone();
            if now.restarts != before.restarts || now.state != before.state {
                return;
            }
            tokio::task::yield_now().await;
        }
    }

    fn states(status: &SystemStatus) -> Vec<ChildState> {
        status.children.iter().map(|c| c.state).collect()
    }

    async fn shutdown(self) -> Log {
        let (tx, rx) = oneshot::channel();
        self.sup
            .cast(SupervisorMessage::Shutdown(tx.into()))
            .unwrap();
        rx.await.unwrap();
        self.sup.stop_and_wait(None, None).await.unwrap();
        self.log
    }
}

#[tokio::test(start_paused = true)]
async fn children_start_in_order_and_stop_in_reverse() {
    let t = tree(policy(Strategy::OneForOne), [Restart::Permanent; 3]).await;
    let status = t.status().await;
    assert_eq!(Tree::states(&status), [ChildState::Running; 3]);
    assert_eq!(status.children[1].detail.as_deref(), Some("incarnation 1"));
    let slot = t.slots[0].clone();
    let log = t.shutdown().await;
    assert_eq!(
        *log.lock(),
        [
            "start a", "start b", "start c", "stop c", "stop b", "stop a"
        ]
    );
    assert!(matches!(
        slot.send(ProbeMsg::Stop).await,
        Err(Error::ShuttingDown)
    ));
}

#[tokio::test(start_paused = true)]
async fn one_for_one_restarts_only_the_failed_child() {
    let t = tree(policy(Strategy::OneForOne), [Restart::Permanent; 3]).await;
    t.fail(1).await;
    assert_eq!(t.incarnations().await, [1, 2, 1]);
    let status = t.status().await;
    assert_eq!(status.children[1].restarts, 1);
    assert!(
        status.children[1]
            .last_failure
            .as_deref()
            .unwrap()
            .contains("told to fail")
    );
    assert_eq!(status.children[0].restarts, 0);
    t.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn one_for_all_restarts_every_child_in_order() {
    let t = tree(policy(Strategy::OneForAll), [Restart::Permanent; 3]).await;
    t.log.lock().clear();
    t.fail(1).await;
    assert_eq!(t.incarnations().await, [2, 2, 2]);
    // Siblings stop last-first, then all start in order.
    assert_eq!(
        *t.log.lock(),
        ["stop c", "stop a", "start a", "start b", "start c"]
    );
    t.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn rest_for_one_restarts_the_child_and_those_after_it() {
    let t = tree(policy(Strategy::RestForOne), [Restart::Permanent; 3]).await;
    t.fail(1).await;
    assert_eq!(t.incarnations().await, [1, 2, 2]);
    t.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn restart_types_decide_who_comes_back() {
    let t = tree(
        policy(Strategy::OneForOne),
        [Restart::Permanent, Restart::Transient, Restart::Temporary],
    )
    .await;
    // Transient: back after a failure, not after a normal stop.
    t.fail(1).await;
    assert_eq!(t.incarnation(1).await.unwrap(), 2);
    t.slots[1].send(ProbeMsg::Stop).await.unwrap();
    while t.status().await.children[1].state != ChildState::Stopped {
        tokio::task::yield_now().await;
    }
    // Temporary: never back; a failure leaves it Failed.
    t.fail(2).await;
    let status = t.status().await;
    assert_eq!(
        Tree::states(&status),
        [ChildState::Running, ChildState::Stopped, ChildState::Failed]
    );
    assert!(matches!(
        t.incarnation(2).await,
        Err(Error::ActorFailed { .. })
    ));
    // Permanent: back even after a normal stop.
    t.slots[0].send(ProbeMsg::Stop).await.unwrap();
    while t.status().await.children[0].restarts != 1 {
        tokio::task::yield_now().await;
    }
    assert_eq!(t.incarnation(0).await.unwrap(), 2);
    t.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn first_restart_is_immediate_later_ones_back_off() {
    let t = tree(policy(Strategy::OneForOne), [Restart::Permanent; 3]).await;
    let start = tokio::time::Instant::now();
    t.fail(0).await;
    assert_eq!(t.status().await.children[0].state, ChildState::Running);
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "the first restart waits for nothing"
    );

    t.fail(0).await;
    assert_eq!(t.status().await.children[0].state, ChildState::Restarting);
    tokio::time::advance(Duration::from_millis(999)).await;
    assert_eq!(t.status().await.children[0].state, ChildState::Restarting);
    // A caller arriving now waits for the next incarnation instead of failing.
    assert_eq!(t.incarnation(0).await.unwrap(), 3);
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    t.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn past_the_intensity_the_child_fails_and_the_rest_keep_running() {
    let t = tree(policy(Strategy::OneForOne), [Restart::Permanent; 3]).await;
    for _ in 0..3 {
        t.fail(1).await;
        // Let any backoff elapse so the next failure hits a running child.
        let _ = t.incarnation(1).await.unwrap();
    }
    t.fail(1).await;
    let status = t.status().await;
    assert_eq!(
        Tree::states(&status),
        [ChildState::Running, ChildState::Failed, ChildState::Running]
    );
    assert_eq!(status.children[1].restarts, 3);
    assert!(
        status.children[1]
            .last_failure
            .as_deref()
            .unwrap()
            .contains("gave up after 3 restarts")
    );
    let err = t.incarnation(1).await.unwrap_err();
    assert!(
        matches!(&err, Error::ActorFailed { actor, .. } if actor == "b"),
        "{err}"
    );
    assert_eq!(t.incarnation(0).await.unwrap(), 1);
    assert_eq!(t.incarnation(2).await.unwrap(), 1);
    t.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn restarts_older_than_the_window_are_forgiven() {
    let t = tree(policy(Strategy::OneForOne), [Restart::Permanent; 3]).await;
    for round in 0..3 {
        for _ in 0..3 {
            t.fail(2).await;
            let _ = t.incarnation(2).await.unwrap();
        }
        assert_eq!(
            t.status().await.children[2].state,
            ChildState::Running,
            "round {round}"
        );
        tokio::time::advance(Duration::from_secs(11)).await;
    }
    assert_eq!(t.status().await.children[2].restarts, 9);
    t.shutdown().await;
}

/// The status, which must come without waiting for any stop.
async fn prompt_status(t: &Tree) -> SystemStatus {
    tokio::time::timeout(Duration::from_secs(2), t.status())
        .await
        .expect("status answers while a child is being stopped")
}

#[tokio::test(start_paused = true)]
async fn status_answers_while_a_stalled_sibling_is_stopped_for_a_restart() {
    let t = tree(policy(Strategy::OneForAll), [Restart::Permanent; 3]).await;
    // "c" is stuck for a minute: stopping it takes its whole shutdown
    // timeout (10 s), then a kill.
    t.slots[2]
        .send(ProbeMsg::Stall(Duration::from_secs(60)))
        .await
        .unwrap();
    t.slots[1].send(ProbeMsg::Panic).await.unwrap();
    loop {
        let status = prompt_status(&t).await;
        if Tree::states(&status) == [ChildState::Restarting; 3] {
            break;
        }
        tokio::task::yield_now().await;
    }
    // Still answering while "c" is being stopped, and nothing has started
    // again while it may still run.
    tokio::time::advance(Duration::from_secs(5)).await;
    let status = prompt_status(&t).await;
    assert_eq!(Tree::states(&status), [ChildState::Restarting; 3]);
    // Once "c" is gone, all three come back, in order.
    assert_eq!(t.incarnations().await, [2, 2, 2]);
    t.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn status_answers_during_a_slow_shutdown() {
    let t = tree(policy(Strategy::OneForOne), [Restart::Permanent; 3]).await;
    t.slots[0]
        .send(ProbeMsg::Stall(Duration::from_secs(60)))
        .await
        .unwrap();
    let (tx, rx) = oneshot::channel();
    t.sup.cast(SupervisorMessage::Shutdown(tx.into())).unwrap();
    let status = prompt_status(&t).await;
    assert_eq!(Tree::states(&status), [ChildState::Stopping; 3]);
    rx.await.unwrap();
    let status = prompt_status(&t).await;
    assert_eq!(Tree::states(&status), [ChildState::Stopped; 3]);
    // Stopped in reverse start order ("a" was killed: no post_stop).
    assert_eq!(
        *t.log.lock(),
        ["start a", "start b", "start c", "stop c", "stop b"]
    );
    t.sup.stop_and_wait(None, None).await.unwrap();
}
