//! Unit tests of the permits: priority order, aging, queue limits, the
//! token bucket (paused time), pause and resume, and cancel safety.

use std::time::Duration;

use super::*;

fn queues(permits: usize) -> Queues {
    Queues::new(permits, Store::disabled())
}

/// Whether `acquire` has its permit after the pending wake-ups ran.
async fn granted(acquire: &mut Acquire) -> Option<Permit> {
    tokio::task::yield_now().await;
    futures::FutureExt::now_or_never(acquire)
}

#[tokio::test]
async fn the_most_urgent_waiter_gets_the_next_permit() {
    let q = queues(1);
    let held = q.acquire(Priority::Normal, None).await;
    let mut low = q.acquire(Priority::Low, None);
    let mut normal = q.acquire(Priority::Normal, None);
    let mut high = q.acquire(Priority::High, None);
    drop(held);
    let p = granted(&mut high).await.expect("high goes first");
    assert!(granted(&mut normal).await.is_none());
    drop(p);
    let p = granted(&mut normal).await.expect("then normal");
    assert!(granted(&mut low).await.is_none());
    drop(p);
    assert!(granted(&mut low).await.is_some(), "then low");
}

#[tokio::test]
async fn aging_lets_a_low_waiter_overtake_newcomers() {
    let q = queues(1);
    let mut holder = Some(q.acquire(Priority::Normal, None).await);
    let mut low = q.acquire(Priority::Low, None);
    // Every permit goes to a fresh High waiter while Low waits, until Low
    // has aged past newcomers two levels up.
    let mut grants = 0;
    loop {
        let mut high = q.acquire(Priority::High, None);
        drop(holder.take());
        if let Some(p) = granted(&mut low).await {
            drop(high);
            drop(p);
            break;
        }
        holder = Some(granted(&mut high).await.expect("high got it"));
        grants += 1;
        assert!(grants <= 2 * PERMIT_AGING + 1, "low starved");
    }
    assert!(grants >= 2 * PERMIT_AGING - 1, "aged too early: {grants}");
}

#[tokio::test]
async fn a_queue_runs_at_most_its_concurrency() {
    let q = queues(8);
    q.declare(&QueueSpec::new("q").concurrency(2))
        .await
        .unwrap();
    let a = q.acquire(Priority::Normal, Some("q")).await;
    let _b = q.acquire(Priority::Normal, Some("q")).await;
    let mut c = q.acquire(Priority::Critical, Some("q"));
    assert!(granted(&mut c).await.is_none(), "the queue is full");
    // Other work is not held up by the queue's limit.
    let mut other = q.acquire(Priority::Low, None);
    assert!(granted(&mut other).await.is_some());
    drop(a);
    let _c = granted(&mut c).await.expect("a slot came free");
    let state = q.snapshot();
    let named = state
        .iter()
        .find(|s| s.name.as_deref() == Some("q"))
        .unwrap();
    assert_eq!((named.running, named.depth), (2, 0));
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_allows_a_burst_then_refills() {
    let q = queues(1000);
    q.declare(&QueueSpec::new("r").rate(10, Duration::from_secs(1)))
        .await
        .unwrap();
    let start = Instant::now();
    let mut permits = Vec::new();
    for _ in 0..10 {
        permits.push(q.acquire(Priority::Normal, Some("r")).await);
    }
    assert_eq!(Instant::now(), start, "the burst is immediate");
    let mut next = q.acquire(Priority::Normal, Some("r"));
    assert!(granted(&mut next).await.is_none(), "no token left");
    permits.push(next.await);
    let waited = Instant::now() - start;
    assert!(
        (Duration::from_millis(99)..=Duration::from_millis(102)).contains(&waited),
        "one token per 100 ms, waited {waited:?}"
    );
    // Over 5 s, 50 more starts and no more.
    let end = start + Duration::from_secs(5) + Duration::from_millis(150);
    let mut count = 0;
    while let Ok(p) = tokio::time::timeout_at(end, q.acquire(Priority::Normal, Some("r"))).await {
        permits.push(p);
        count += 1;
    }
    assert_eq!(count, 50, "10 per second");
}

#[tokio::test]
async fn a_paused_queue_starts_nothing_until_resumed() {
    let q = queues(4);
    q.declare(&QueueSpec::new("p")).await.unwrap();
    let running = q.acquire(Priority::Normal, Some("p")).await;
    q.set_paused("p", true).await.unwrap();
    let mut waiting = q.acquire(Priority::Critical, Some("p"));
    assert!(granted(&mut waiting).await.is_none(), "paused");
    let snap = q.snapshot();
    let p = snap
        .iter()
        .find(|s| s.name.as_deref() == Some("p"))
        .unwrap();
    assert!(p.paused);
    assert_eq!((p.running, p.depth), (1, 1), "what runs goes on");
    q.set_paused("p", false).await.unwrap();
    assert!(granted(&mut waiting).await.is_some());
    drop(running);
}

#[tokio::test]
async fn bad_declarations_and_unknown_queues_are_named() {
    let q = queues(1);
    assert!(matches!(
        q.declare(&QueueSpec::new("z").rate(0, Duration::from_secs(1))).await,
        Err(Error::InvalidRate { queue, .. }) if queue == "z"
    ));
    assert!(matches!(
        q.declare(&QueueSpec::new("z").rate(5, Duration::ZERO)).await,
        Err(Error::InvalidRate { queue, .. }) if queue == "z"
    ));
    assert!(matches!(
        q.declare(&QueueSpec::new("z").concurrency(0)).await,
        Err(Error::InvalidQueue { queue, .. }) if queue == "z"
    ));
    assert!(matches!(
        q.declare(&QueueSpec::new("default")).await,
        Err(Error::InvalidQueue { queue, .. }) if queue == "default"
    ));
    assert!(matches!(
        q.declare(&QueueSpec::new("a b")).await,
        Err(Error::InvalidQueue { queue, .. }) if queue == "a b"
    ));
    assert!(matches!(q.check(Some("z")), Err(Error::UnknownQueue(n)) if n == "z"));
    assert!(matches!(q.set_paused("z", true).await, Err(Error::UnknownQueue(n)) if n == "z"));
    assert!(q.check(None).is_ok());
}

#[tokio::test]
async fn a_waiter_that_gives_up_holds_nothing() {
    let q = queues(1);
    let held = q.acquire(Priority::Normal, None).await;
    let gave_up = q.acquire(Priority::High, None);
    let mut next = q.acquire(Priority::Low, None);
    drop(gave_up);
    assert_eq!(q.snapshot()[0].depth, 1);
    drop(held);
    assert!(granted(&mut next).await.is_some());
    // Granted, then dropped before it was polled: the permit comes back.
    let granted_unpolled = q.acquire(Priority::Normal, None);
    drop(next);
    drop(granted_unpolled);
    assert_eq!(q.free(), 1);
}

#[tokio::test]
async fn a_lent_permit_dropped_unreclaimed_is_paid_back() {
    let q = queues(1);
    let held = q.acquire(Priority::Normal, None).await;
    q.lend();
    assert_eq!(q.free(), 1);
    let borrowed = q.acquire(Priority::Normal, None).await;
    q.take_back();
    drop(borrowed);
    assert_eq!(q.free(), 0, "the debt took the freed permit");
    drop(held);
    assert_eq!(q.free(), 1);
}

#[tokio::test]
async fn a_high_waiter_takes_the_next_slot_under_a_flood_of_low_ones() {
    let q = queues(4);
    let mut held: Vec<Permit> = Vec::new();
    for _ in 0..4 {
        held.push(q.acquire(Priority::Normal, None).await);
    }
    let mut flood: Vec<Acquire> = (0..1000).map(|_| q.acquire(Priority::Low, None)).collect();
    // Some turnovers of the flood first.
    for waiter in flood.iter_mut().take(40) {
        drop(held.remove(0));
        held.push(granted(waiter).await.expect("the oldest low goes"));
    }
    let mut high = q.acquire(Priority::High, None);
    drop(held.remove(0));
    let _high = granted(&mut high).await.expect("the very next slot");
    assert!(granted(&mut flood[40]).await.is_none());
}

#[tokio::test]
async fn redeclaring_updates_limits_and_keeps_the_pause() {
    let q = queues(4);
    q.declare(&QueueSpec::new("q").concurrency(1))
        .await
        .unwrap();
    q.set_paused("q", true).await.unwrap();
    q.declare(
        &QueueSpec::new("q")
            .concurrency(3)
            .rate(5, Duration::from_secs(1)),
    )
    .await
    .unwrap();
    let state = q.snapshot().into_iter().find(|s| s.name.is_some()).unwrap();
    assert!(state.paused);
    assert_eq!(state.concurrency, Some(3));
    assert_eq!(
        state.tokens,
        Some(5.0),
        "a new rate starts with a full bucket"
    );
}
