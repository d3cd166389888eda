//! Unit tests of the user actor pieces that need no runtime: names and
//! what the trace learns from a message.

use super::names::{self, MAX_NAME_BYTES, Names, RESERVED};
use super::wrapper::info;
use super::*;
use crate::trace::MessageInfo;

#[test]
fn names_are_checked_reserved_and_freed_after_a_failed_start() {
    for bad in ["", "   ", "tab\there", &"x".repeat(MAX_NAME_BYTES + 1)] {
        assert!(
            matches!(names::check(bad), Err(Error::InvalidActorName { ref name, .. }) if name == bad),
            "{bad:?}"
        );
    }
    for reserved in RESERVED {
        assert!(matches!(
            names::check(reserved),
            Err(Error::InvalidActorName { .. })
        ));
    }
    let taken = Names::default();
    let a = taken.reserve("a").unwrap();
    // Reserved while its start is in flight: a second start is refused.
    assert!(matches!(
        taken.reserve("a"),
        Err(Error::DuplicateActor { ref name }) if name == "a"
    ));
    assert!(taken.taken().is_empty(), "not started yet");
    taken.settle(a, false);
    let a = taken.reserve("a").unwrap();
    taken.settle(a, true);
    let b = taken.reserve("b").unwrap();
    taken.settle(b, true);
    assert_eq!(taken.taken(), ["a", "b"]);
    // One leaked copy per distinct name, shared by every orchestrator.
    let other = Names::default().reserve("a").unwrap();
    assert!(std::ptr::eq(a, other));
}

#[derive(Debug)]
enum Msg {
    Stamped(Envelope),
    Asked(crate::slot::Reply<()>),
    // Only ever built and read for its kind: the port is never answered.
    Port(#[allow(dead_code)] ractor::RpcReplyPort<()>),
    Plain,
}

impl ActorMessage for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Stamped(_) => "Stamped",
            Msg::Asked(_) => "Asked",
            Msg::Port(_) => "Port",
            Msg::Plain => "Plain",
        }
    }
    fn envelope(&self) -> Option<Envelope> {
        match self {
            Msg::Stamped(envelope) => Some(*envelope),
            Msg::Asked(reply) => Some(reply.envelope()),
            _ => None,
        }
    }
    fn has_reply(&self) -> bool {
        matches!(self, Msg::Asked(_) | Msg::Port(_))
    }
}

#[tokio::test]
async fn the_trace_learns_kind_envelope_and_reply_from_the_message() {
    let stamped = Envelope::now();
    let seen = info(&Msg::Stamped(stamped));
    assert_eq!(seen.kind(), "Stamped");
    assert_eq!(seen.correlation(), Some(stamped.correlation));
    assert!(!seen.has_reply, "a stamped cast has no reply to drop");
    assert_eq!(info(&Msg::Plain), MessageInfo::new("Plain"));
    let (tx, _rx) = tokio::sync::oneshot::channel();
    assert_eq!(
        info(&Msg::Port(tx.into())),
        MessageInfo::new("Port").replies()
    );
    // A request through a slot: built around a `Reply` with its envelope.
    let slot = crate::slot::ActorSlot::<Msg>::new("asked", Duration::ZERO);
    let captured = std::sync::Mutex::new(None);
    let _ = slot
        .request(|reply| {
            let msg = Msg::Asked(reply);
            *captured.lock().unwrap() = Some(info(&msg));
            msg
        })
        .await;
    let asked = captured.lock().unwrap().take().unwrap();
    assert!(asked.has_reply && asked.correlation().is_some());
    assert_eq!(asked.kind(), "Asked");
}
