//! Correlation: the id a request keeps through every actor it touches and
//! every run it starts, what a request carries to its actor ([`Envelope`]),
//! and the W3C `TRACEPARENT` handed to child processes.
//!
//! # How the W3C trace context is derived
//! taskorch does not read OpenTelemetry context; it derives one:
//! - the **trace id** (32 hex digits) is the request's [`CorrelationId`]:
//!   a random 64-bit prefix chosen once per process, then a 64-bit
//!   counter. It is what the trace log shows as `correlation`, so a child's
//!   `TRACEPARENT` leads straight to the request's events.
//! - the **parent id** (16 hex digits) is the id of the `tracing` span
//!   that was current when the request was made (`Span::current()` in the
//!   caller).
//! - the flags are `01` (sampled).
//!
//! A child gets `TRACEPARENT` only when the caller had an active span;
//! `TASKORCH_RUN_ID` it always gets. A `TRACEPARENT` the task sets itself
//! (`Task::env`) wins.

use std::fmt;
use std::num::NonZeroU64;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Environment variable a child gets when its request was made inside a
/// `tracing` span: the W3C trace context (see the module docs).
pub const TRACEPARENT_ENV: &str = "TRACEPARENT";

/// Identifies one request across every actor and run it touches (see the
/// module docs). `Display` is the 32-hex-digit W3C trace id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CorrelationId(NonZeroU64);

/// The per-process prefix of every trace id: random, so trace ids from two
/// processes do not collide; never zero, so no trace id is all zeros
/// (which W3C reserves as invalid).
fn prefix() -> u64 {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    *PREFIX.get_or_init(|| rand::random::<u64>() | 1)
}

impl CorrelationId {
    /// A fresh id (one atomic increment).
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // Wrapping past u64::MAX would take centuries at a billion a second.
        CorrelationId(NonZeroU64::new(n).unwrap_or(NonZeroU64::MIN))
    }

    /// The W3C trace id this correlation id stands for.
    pub fn trace_id(&self) -> u128 {
        (u128::from(prefix()) << 64) | u128::from(self.0.get())
    }

    /// The per-process sequence number of this id.
    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.trace_id())
    }
}

impl fmt::Debug for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CorrelationId({self})")
    }
}

/// A request's correlation: its id, and the caller's `tracing` span when
/// it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Correlation {
    /// The request's id.
    pub id: CorrelationId,
    /// The id of the caller's current `tracing` span, if it had one.
    pub parent_span: Option<NonZeroU64>,
}

impl Correlation {
    /// A fresh correlation for a request made now, in the caller's current
    /// `tracing` span.
    pub fn for_caller() -> Self {
        Correlation {
            id: CorrelationId::next(),
            parent_span: tracing::Span::current()
                .id()
                .map(|id| id.into_non_zero_u64()),
        }
    }

    /// The W3C `traceparent` value for a child of this request: `None`
    /// unless the caller had an active span (see the module docs).
    pub fn traceparent(&self) -> Option<String> {
        self.parent_span
            .map(|span| format!("00-{:032x}-{:016x}-01", self.id.trace_id(), span.get()))
    }
}

/// What a request carries to its actor besides its content: when it was
/// sent and its correlation. Travels inside the request's reply guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope {
    /// Trace clock reading at the send (see `trace::now`).
    pub(crate) sent: u64,
    /// The request's correlation.
    pub correlation: Correlation,
}

impl Envelope {
    /// An envelope stamped now.
    pub(crate) fn stamp(correlation: Correlation) -> Self {
        Envelope {
            sent: super::now(),
            correlation,
        }
    }

    /// An envelope stamped now for a new request, in the caller's current
    /// `tracing` span: a user actor's message that carries one gets a
    /// queue time and correlation in the message trace (see
    /// `user::ActorMessage`).
    pub fn now() -> Self {
        Envelope::stamp(Correlation::for_caller())
    }
}

/// What the trace (and fault injection) needs to know about one message
/// before it is handled. Built by each actor from its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageInfo {
    /// The message kind (variant name).
    pub(crate) kind: &'static str,
    /// The request's envelope, for requests sent through an `ActorSlot`.
    pub(crate) envelope: Option<Envelope>,
    /// Whether the message carries a reply port (`DropReply` only hits
    /// such messages: dropping a message nobody waits for would lose work
    /// silently instead of testing what a caller sees).
    pub(crate) has_reply: bool,
}

impl MessageInfo {
    /// A message of `kind` without a reply port or envelope (timer ticks,
    /// internal notices).
    pub fn new(kind: &'static str) -> Self {
        MessageInfo {
            kind,
            envelope: None,
            has_reply: false,
        }
    }

    /// A message with a plain reply port but no envelope (status probes).
    pub fn replies(mut self) -> Self {
        self.has_reply = true;
        self
    }

    /// A request: it has a reply, and its sender's envelope.
    pub fn request(mut self, envelope: Envelope) -> Self {
        self.has_reply = true;
        self.envelope = Some(envelope);
        self
    }

    /// The message kind.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The request's correlation, if it is a request.
    pub fn correlation(&self) -> Option<Correlation> {
        self.envelope.map(|e| e.correlation)
    }
}

impl From<&'static str> for MessageInfo {
    fn from(kind: &'static str) -> Self {
        MessageInfo::new(kind)
    }
}
