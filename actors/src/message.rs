//! What every pattern actor's message tells the runtime about itself: its
//! kind for the trace and fault targets, the request envelope it carries,
//! and its reply guard to arm. [`pattern_message!`] writes all of it from
//! one list of the variants, so a new variant is named once.

use crate::supervisor::ChildMessage;
use crate::trace::MessageInfo;

/// A message of a pattern actor (executor, batch, launcher, scheduler,
/// pool keeper); [`Context::handle_message`](crate::Context) reads it
/// before the actor handles it.
pub(crate) trait PatternMessage: ChildMessage {
    /// The variant's name, one of the type's `KINDS`.
    fn kind(&self) -> &'static str;

    /// What the trace records about this message.
    fn info(&self) -> MessageInfo;

    /// Arm the request's reply (see [`Reply::accept`](crate::Reply::accept)).
    fn accept(&mut self);
}

/// Implement [`PatternMessage`] and [`ChildMessage`] for a message enum
/// (written with the enum's own visibility) and give it a `KINDS` table (every variant's name, in the order listed,
/// then the `also` kinds: events the actor handles like messages).
///
/// - `requests`: struct variants with a `reply: Reply<_>` field: traced
///   with their envelope, their reply armed on arrival;
/// - `plain`: variants without a reply (timer ticks, internal nudges);
/// - `status`: the tuple variant holding the supervisor's status probe.
macro_rules! pattern_message {
    (
        $vis:vis $msg:ident {
            requests: [$($request:ident),* $(,)?],
            plain: [$($plain:ident),* $(,)?],
            status: $status:ident
            $(, also: [$($also:literal),* $(,)?])? $(,)?
        }
    ) => {
        impl $msg {
            /// Every variant's name, as the message trace shows it and
            /// fault targets name it.
            // The fault target table (`fault/kinds.rs`, a lower layer that
            // cannot import the actors) is checked against it by a test;
            // for a crate-private message that test is its only reader.
            #[allow(dead_code)]
            $vis const KINDS: &'static [&'static str] = &[
                $(stringify!($request),)*
                $(stringify!($plain),)*
                stringify!($status),
                $($($also,)*)?
            ];
        }

        impl $crate::message::PatternMessage for $msg {
            fn kind(&self) -> &'static str {
                match self {
                    $($msg::$request { .. } => stringify!($request),)*
                    $($msg::$plain { .. } => stringify!($plain),)*
                    $msg::$status(_) => stringify!($status),
                }
            }

            fn info(&self) -> $crate::trace::MessageInfo {
                let info = $crate::trace::MessageInfo::new(self.kind());
                match self {
                    $($msg::$request { reply, .. } => info.request(reply.envelope()),)*
                    $($msg::$plain { .. } => info,)*
                    $msg::$status(_) => info.replies(),
                }
            }

            fn accept(&mut self) {
                match self {
                    $($msg::$request { reply, .. } => reply.accept(),)*
                    $($msg::$plain { .. } => {})*
                    $msg::$status(_) => {}
                }
            }
        }

        impl $crate::supervisor::ChildMessage for $msg {
            fn status_request(
                reply: ::ractor::RpcReplyPort<$crate::supervisor::ChildReport>,
            ) -> Self {
                $msg::$status(reply)
            }
        }
    };
}

pub(crate) use pattern_message;

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use ractor::RpcReplyPort;

    use super::PatternMessage;
    use crate::slot::{ActorSlot, Reply};
    use crate::supervisor::{ChildMessage, ChildReport};
    use crate::trace::MessageInfo;

    #[derive(Debug)]
    enum Probe {
        Ask { reply: Reply<()> },
        Tick,
        Status(RpcReplyPort<ChildReport>),
    }

    pattern_message!(Probe {
        requests: [Ask],
        plain: [Tick],
        status: Status,
        also: ["Ended"],
    });

    #[test]
    fn kinds_list_the_variants_in_order_then_the_extra_kinds() {
        assert_eq!(Probe::KINDS, ["Ask", "Tick", "Status", "Ended"]);
    }

    #[test]
    fn plain_and_status_messages_are_traced_by_kind_and_reply() {
        let tick = Probe::Tick;
        assert_eq!(tick.kind(), "Tick");
        assert_eq!(tick.info(), MessageInfo::new("Tick"));
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let status = Probe::status_request(tx.into());
        assert_eq!(status.kind(), "Status");
        assert_eq!(status.info(), MessageInfo::new("Status").replies());
        // The probe's port is the one the supervisor waits on.
        let Probe::Status(port) = status else {
            panic!("status_request built {status:?}");
        };
        port.send(ChildReport {
            detail: "up".into(),
        })
        .unwrap();
        assert_eq!(rx.try_recv().unwrap().detail, "up");
    }

    #[tokio::test]
    async fn a_request_is_traced_with_its_envelope_and_its_reply_armed() {
        // No incarnation behind the slot: the request is built, then
        // refused at once (no restart wait).
        let slot = ActorSlot::<Probe>::new("probe", Duration::ZERO);
        let seen = Mutex::new(None);
        let answer = slot
            .request(|reply| {
                let envelope = reply.envelope();
                let mut ask = Probe::Ask { reply };
                ask.accept();
                *seen.lock().unwrap() = Some((ask.kind(), ask.info(), envelope));
                ask
            })
            .await;
        assert!(answer.is_err());
        let (kind, info, envelope) = seen.lock().unwrap().take().unwrap();
        assert_eq!(kind, "Ask");
        assert_eq!(info, MessageInfo::new("Ask").request(envelope));
    }
}
