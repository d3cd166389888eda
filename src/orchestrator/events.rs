//! The event stream: `subscribe`.

use taskorch_actors::EventStream;

use super::Orchestrator;

impl Orchestrator {
    /// Subscribe to the event stream: every run queued, started, line of
    /// output, finished; workflows and their blocks; schedules fired and
    /// skipped; actors restarted or given up on; halts and resumes; circuit
    /// breakers opened, half-open and closed; risk limits exceeded. Each
    /// [`Event`](crate::events::Event) has a time, a correlation id and a stable JSON
    /// form (`serde_json::to_string(&event)`; schema in the README section
    /// "Events").
    ///
    /// The subscriber sees events emitted after this call, `seq` going up
    /// by one from event to event, also while many runs emit at once. One
    /// that falls more than `Config::event_capacity` events or
    /// `Config::event_capacity_bytes` bytes behind loses the oldest and
    /// reads [`EventItem::Lagged`](crate::events::EventItem::Lagged)`(n)`; it never
    /// slows the runtime, and pins at most that much memory. Without
    /// subscribers no event is even built.
    pub fn subscribe(&self) -> EventStream {
        self.inner.ctx.events().subscribe()
    }
}
