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
