//! The event hub: [`Events`] (the sending side every hook shares) and
//! [`EventStream`] (one subscriber), over a tokio `broadcast` channel
//! bounded twice: in events (`Config::event_capacity`) and in bytes
//! (`Config::event_capacity_bytes`).
//!
//! # Numbering and sending are one step
//! An event's `seq` is taken and the event put into the channel under one
//! small lock ([`Hub::tail`]), so the channel holds events in `seq` order
//! and a subscriber that keeps up sees `seq` go up by exactly one. Taken
//! and sent in two steps, two threads could swap between them and a
//! subscriber would see `1335, 1337, 1336`. The lock is held for the
//! number, the clock reading and the channel's own send (which takes a
//! lock of its own anyway); the event is built before it.
//!
//! # The byte bound
//! The channel holds each event in an [`Arc`]ed slot until every
//! subscriber has read it (tokio drops a value once its last receiver has
//! seen it) or it is overwritten. Counting events alone, a lagging
//! subscriber could pin `event_capacity` events of up to a whole output
//! line each (4,096 × 64 KiB = 256 MiB). So each slot carries its event's
//! approximate size ([`Event::approx_bytes`]), the hub counts the bytes of
//! the slots still alive, and when a send takes them past the byte bound
//! the oldest live slots give up their event (the slot stays, empty, in
//! the channel). A subscriber reaching empty slots counts them as lost and
//! reads one [`EventItem::Lagged`]`(n)` for them, as it does when it falls
//! behind the event count; the newest event is never emptied, so one
//! event larger than the bound still reaches a subscriber that keeps up.
//! What a lagging subscriber pins is thus at most `event_capacity_bytes`
//! plus the newest event, plus a few hundred bytes of empty slot per
//! event of `event_capacity`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::SystemTime;

use parking_lot::Mutex;
use tokio::sync::broadcast;

use super::{EVENT_SCHEMA_VERSION, Event, EventBody};

/// Bytes of events a subscriber may fall behind by before it loses the
/// oldest (`Config::event_capacity_bytes`): 16 MiB.
pub const DEFAULT_EVENT_BYTES: usize = 16 << 20;

/// The most events `Config::event_capacity` may ask for: the channel
/// reserves a slot per event up front (rounded up to a power of two).
pub const MAX_EVENT_CAPACITY: usize = 1 << 20;

/// The sending side, shared by every hook of one runtime. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Events {
    hub: Arc<Hub>,
    // Live `EventStream`s: the cheap "is anybody listening" flag. Apart
    // from the hub, so a stream does not keep the sender (and the channel)
    // alive after the runtime is gone.
    subscribers: Arc<AtomicUsize>,
}

#[derive(Debug)]
struct Hub {
    /// The next `seq`, the channel's sender and the live slots, under one
    /// lock: see "Numbering and sending are one step".
    tail: Mutex<Tail>,
    /// Bytes of the events still held by live slots (decremented by the
    /// slots themselves, from whichever thread drops them).
    held: Arc<AtomicUsize>,
    /// The byte bound.
    max_bytes: usize,
}

#[derive(Debug)]
struct Tail {
    seq: u64,
    tx: broadcast::Sender<Arc<Slot>>,
    /// Every slot sent and possibly still alive, oldest first: where the
    /// byte bound finds the oldest events to drop. Dead slots are pruned
    /// from the front on every send; slots die roughly in order (the
    /// slowest subscriber reads, and the channel overwrites, oldest first),
    /// so this stays about as long as the channel.
    sent: VecDeque<Weak<Slot>>,
    /// The channel's real capacity (tokio rounds it up to a power of two);
    /// entries past it are dead for sure.
    capacity: usize,
}

/// One event in the channel; emptied when the byte bound drops it.
#[derive(Debug)]
struct Slot {
    event: Mutex<Option<Event>>,
    bytes: usize,
    held: Arc<AtomicUsize>,
}

impl Slot {
    /// The event, unless the byte bound dropped it.
    fn event(&self) -> Option<Event> {
        self.event.lock().clone()
    }

    /// Drop the event (the byte bound); whether there was one.
    fn empty(&self) -> bool {
        let dropped = self.event.lock().take().is_some();
        if dropped {
            self.held.fetch_sub(self.bytes, Ordering::Relaxed);
        }
        dropped
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.event.get_mut().is_some() {
            self.held.fetch_sub(self.bytes, Ordering::Relaxed);
        }
    }
}

impl Events {
    /// A hub whose subscribers may fall `capacity` events behind (clamped
    /// to 1..=[`MAX_EVENT_CAPACITY`]) and [`DEFAULT_EVENT_BYTES`] bytes.
    pub fn new(capacity: usize) -> Self {
        Events::bounded(capacity, DEFAULT_EVENT_BYTES)
    }

    /// A hub whose subscribers may fall `capacity` events (clamped to
    /// 1..=[`MAX_EVENT_CAPACITY`]) or `max_bytes` bytes of events behind,
    /// whichever comes first.
    pub fn bounded(capacity: usize, max_bytes: usize) -> Self {
        let capacity = capacity.clamp(1, MAX_EVENT_CAPACITY);
        let (tx, _) = broadcast::channel(capacity);
        Events {
            hub: Arc::new(Hub {
                tail: Mutex::new(Tail {
                    seq: 0,
                    tx,
                    sent: VecDeque::new(),
                    capacity: capacity.next_power_of_two(),
                }),
                held: Arc::new(AtomicUsize::new(0)),
                max_bytes,
            }),
            subscribers: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Whether anybody subscribes (one atomic load).
    #[inline]
    pub fn is_active(&self) -> bool {
        self.subscribers.load(Ordering::Relaxed) > 0
    }

    /// Emit the event `body` builds, if anybody subscribes; `body` does not
    /// run otherwise.
    #[inline]
    pub fn emit(&self, correlation: Option<String>, body: impl FnOnce() -> EventBody) {
        if self.is_active() {
            self.send(correlation, body());
        }
    }

    fn send(&self, correlation: Option<String>, body: EventBody) {
        let bytes = Event::approx_size(correlation.as_deref(), &body);
        let hub = &self.hub;
        let mut tail = hub.tail.lock();
        // Stamped under the lock too, so times follow `seq`.
        let now = SystemTime::now();
        let seq = tail.seq;
        tail.seq += 1;
        let slot = Arc::new(Slot {
            event: Mutex::new(Some(Event {
                schema: EVENT_SCHEMA_VERSION,
                seq,
                time: now.into(),
                time_ms: now
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64),
                correlation,
                body,
            })),
            bytes,
            held: Arc::clone(&hub.held),
        });
        hub.held.fetch_add(bytes, Ordering::Relaxed);
        let weak = Arc::downgrade(&slot);
        // An error means every receiver has gone since the check: nobody
        // to tell (the slot is dropped here, its bytes with it).
        if tail.tx.send(slot).is_ok() {
            tail.sent.push_back(weak);
            tail.trim(&hub.held, hub.max_bytes);
        }
    }

    /// A new subscriber, seeing events emitted from now on.
    pub fn subscribe(&self) -> EventStream {
        // Counted before the receiver exists, so no event emitted after
        // `subscribe` returns is skipped by the flag.
        self.subscribers.fetch_add(1, Ordering::Relaxed);
        let rx = self.hub.tail.lock().tx.subscribe();
        EventStream {
            rx,
            pending: None,
            subscribers: Arc::clone(&self.subscribers),
        }
    }

    /// Live subscribers.
    pub fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::Relaxed)
    }

    /// Approximate bytes of the events the channel holds for subscribers
    /// that have not read them yet (at most the byte bound plus the newest
    /// event).
    pub fn held_bytes(&self) -> usize {
        self.hub.held.load(Ordering::Relaxed)
    }
}

impl Tail {
    /// Forget dead slots, and empty the oldest live ones while the events
    /// held exceed `max_bytes` (never the newest).
    fn trim(&mut self, held: &AtomicUsize, max_bytes: usize) {
        while self.sent.len() > self.capacity {
            // Overwritten in the channel: dead, or about to be.
            self.sent.pop_front();
        }
        while self.sent.front().is_some_and(|s| s.strong_count() == 0) {
            self.sent.pop_front();
        }
        while held.load(Ordering::Relaxed) > max_bytes && self.sent.len() > 1 {
            if let Some(slot) = self.sent.pop_front().and_then(|s| s.upgrade()) {
                slot.empty();
            }
        }
    }
}

/// What [`EventStream::next`] yields.
#[derive(Debug, Clone, PartialEq)]
pub enum EventItem {
    /// The next event.
    Event(Event),
    /// The subscriber fell behind (by more than the event count or the
    /// byte bound): this many of the oldest events were lost; the stream
    /// goes on with the oldest one still held.
    Lagged(u64),
}

/// One subscriber's view of the event stream (`orch.observe().subscribe()`).
/// Dropping it unsubscribes.
#[derive(Debug)]
pub struct EventStream {
    rx: broadcast::Receiver<Arc<Slot>>,
    // The event read right after lost ones: handed out after the lag
    // marker that reports them.
    pending: Option<Event>,
    subscribers: Arc<AtomicUsize>,
}

/// One read from the channel.
enum Read {
    Event(Event),
    Lost(u64),
    Empty,
    Closed,
}

impl EventStream {
    /// The next event, a [`EventItem::Lagged`] marker after events were
    /// lost, or `None` once the runtime is gone.
    ///
    /// # Cancel safety
    /// Cancel safe: an event is consumed only when this returns it (or
    /// keeps it for the next call, behind the lag marker it returns).
    pub async fn next(&mut self) -> Option<EventItem> {
        if let Some(item) = self.take_pending() {
            return Some(item);
        }
        // Await only while nothing is lost yet: lost events are reported
        // at once, not held back until the next event comes.
        let first = match self.rx.recv().await {
            Ok(slot) => match slot.event() {
                Some(event) => return Some(EventItem::Event(event)),
                None => Read::Lost(1),
            },
            Err(broadcast::error::RecvError::Lagged(n)) => Read::Lost(n),
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        self.after(first)
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_next(&mut self) -> Option<EventItem> {
        if let Some(item) = self.take_pending() {
            return Some(item);
        }
        match self.read() {
            Read::Event(event) => Some(EventItem::Event(event)),
            Read::Empty | Read::Closed => None,
            lost @ Read::Lost(_) => self.after(lost),
        }
    }

    /// The next event, skipping lag markers (for callers that only count
    /// on what they see).
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn next_event(&mut self) -> Option<Event> {
        loop {
            match self.next().await? {
                EventItem::Event(event) => return Some(event),
                EventItem::Lagged(_) => continue,
            }
        }
    }

    fn take_pending(&mut self) -> Option<EventItem> {
        self.pending.take().map(EventItem::Event)
    }

    /// Without waiting, one read of the channel.
    fn read(&mut self) -> Read {
        match self.rx.try_recv() {
            Ok(slot) => match slot.event() {
                Some(event) => Read::Event(event),
                None => Read::Lost(1),
            },
            Err(broadcast::error::TryRecvError::Lagged(n)) => Read::Lost(n),
            Err(broadcast::error::TryRecvError::Empty) => Read::Empty,
            Err(broadcast::error::TryRecvError::Closed) => Read::Closed,
        }
    }

    /// After `first` lost events: read on (without waiting) through every
    /// further loss, then report them all in one marker, keeping the event
    /// that follows for the next call.
    fn after(&mut self, first: Read) -> Option<EventItem> {
        let Read::Lost(mut lost) = first else {
            return None;
        };
        loop {
            match self.read() {
                Read::Lost(n) => lost += n,
                Read::Event(event) => {
                    self.pending = Some(event);
                    break;
                }
                Read::Empty | Read::Closed => break,
            }
        }
        Some(EventItem::Lagged(lost))
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}
