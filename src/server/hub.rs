//! The event ring `/events` serves from: one subscriber to the runtime's
//! event stream per router, which renders each event's JSON once, keeps
//! the last `HttpConfig::replay` of them for `Last-Event-ID` replay, and
//! fans them out to the SSE clients over a broadcast channel of
//! `HttpConfig::client_buffer` events. A client that falls that far
//! behind reads `Lagged` there and is dropped (see `sse`): the runtime is
//! never slowed, and each client pins at most the channel's bound.
//!
//! The same task feeds the run histograms of `/metrics` (queue wait and
//! run time, read off the run's record when it starts and ends).

use std::collections::VecDeque;
use std::sync::Arc;

use std::sync::Mutex;
use tokio::sync::{broadcast, oneshot};

use crate::Orchestrator;
use crate::events::{EventBody, EventItem};

use super::HttpConfig;
use super::metrics::HttpMetrics;

/// One event, rendered.
#[derive(Debug)]
pub(crate) struct Frame {
    /// The event's `seq`: the SSE `id`.
    pub(crate) seq: u64,
    /// Its JSON form.
    pub(crate) json: String,
}

/// The ring and the fan-out; the pump task stops when this is dropped.
#[derive(Debug)]
pub(crate) struct Hub {
    ring: Arc<Mutex<VecDeque<Arc<Frame>>>>,
    tx: broadcast::Sender<Arc<Frame>>,
    _stop: oneshot::Sender<()>,
}

/// What a new client gets: the frames after its last id that the ring
/// still holds, how many it missed before them, and its live feed.
pub(crate) struct Joined {
    pub(crate) missed: u64,
    pub(crate) replay: Vec<Arc<Frame>>,
    pub(crate) live: broadcast::Receiver<Arc<Frame>>,
}

impl Hub {
    pub(crate) fn start(
        orch: &Orchestrator,
        config: &HttpConfig,
        metrics: Arc<HttpMetrics>,
    ) -> Hub {
        let capacity = config.replay.max(1);
        let ring = Arc::new(Mutex::new(VecDeque::with_capacity(capacity.min(1024))));
        let (tx, _) = broadcast::channel(config.client_buffer.max(1));
        let (stop, mut stopped) = oneshot::channel();
        let mut events = orch.observe().subscribe();
        let pump_ring = Arc::clone(&ring);
        let pump_tx = tx.clone();
        let orch = orch.clone();
        tokio::spawn(async move {
            loop {
                let item = tokio::select! {
                    item = events.next() => item,
                    _ = &mut stopped => return,
                };
                match item {
                    Some(EventItem::Event(event)) => {
                        observe(&orch, &event.body, &metrics);
                        // Plain data: serializing it cannot fail.
                        let json = serde_json::to_string(&event).unwrap_or_default();
                        let frame = Arc::new(Frame {
                            seq: event.seq,
                            json,
                        });
                        {
                            // Never poisoned: nothing panics while holding it.
                            let mut ring = pump_ring
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                            if ring.len() == capacity {
                                ring.pop_front();
                            }
                            ring.push_back(Arc::clone(&frame));
                        }
                        // No client listening is fine.
                        let _ = pump_tx.send(frame);
                    }
                    // We fell behind the runtime: the gap in `seq` tells
                    // the clients (a replay across it reports `missed`).
                    Some(EventItem::Lagged(n)) => metrics.pump_lagged(n),
                    None => return,
                }
            }
        });
        Hub {
            ring,
            tx,
            _stop: stop,
        }
    }

    /// Join after event `last` (`None`: live only).
    pub(crate) fn join(&self, last: Option<u64>) -> Joined {
        // Subscribe before reading the ring, so nothing falls between;
        // the client skips what it gets twice.
        let live = self.tx.subscribe();
        let Some(last) = last else {
            return Joined {
                missed: 0,
                replay: Vec::new(),
                live,
            };
        };
        let ring = self
            .ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let replay: Vec<Arc<Frame>> = ring.iter().filter(|f| f.seq > last).cloned().collect();
        let missed = match (replay.first(), ring.back()) {
            (Some(first), _) => first.seq.saturating_sub(last + 1),
            // Nothing newer held: missed is what the ring went past.
            (None, Some(newest)) if newest.seq > last => newest.seq - last,
            _ => 0,
        };
        Joined {
            missed,
            replay,
            live,
        }
    }

    /// Clients connected now.
    pub(crate) fn clients(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// Feed the run histograms from one event.
fn observe(orch: &Orchestrator, body: &EventBody, metrics: &HttpMetrics) {
    match body {
        EventBody::RunStarted { run_id } => {
            if let Some(info) = orch.observe().find_run(*run_id)
                && let Some(started) = info.started
                && let Ok(wait) = started.duration_since(info.queued)
            {
                metrics.queue_wait(info.pattern, wait);
            }
        }
        EventBody::RunFinished { run_id, status, .. } => {
            if let Some(info) = orch.observe().find_run(*run_id)
                && let (Some(started), Some(finished)) = (info.started, info.finished)
                && let Ok(took) = finished.duration_since(started)
            {
                metrics.run_time(info.pattern, *status, took);
            }
        }
        _ => {}
    }
}
