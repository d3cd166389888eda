//! The application's own actors under taskorch's root supervisor: a
//! session actor whose state lives outside it survives a crash; an actor
//! group (`rest_for_one`) with a member that crash-loops until the group
//! escalates and the root restarts it whole; then the status listing,
//! beside the pattern actors, and each actor's message trace.
//!
//! ```text
//! cargo run --release --example user_actors
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskorch::supervision::ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use taskorch::supervision::{ActorMessage, ActorSpec, Envelope, GroupSpec, Reply, Strategy};
use taskorch::{Backoff, ChildState, Config, Orchestrator, SystemStatus};

/// What must survive a restart: kept outside the actor, handed to every
/// incarnation by the factory.
#[derive(Default)]
struct Sessions {
    open: Mutex<HashMap<String, u32>>,
}

enum SessionMsg {
    Login { user: String, sent: Envelope },
    Count { user: String, reply: Reply<u32> },
    Crash,
}

impl ActorMessage for SessionMsg {
    const KINDS: &'static [&'static str] = &["Login", "Count", "Crash"];
    fn kind(&self) -> &'static str {
        match self {
            SessionMsg::Login { .. } => "Login",
            SessionMsg::Count { .. } => "Count",
            SessionMsg::Crash => "Crash",
        }
    }
    fn envelope(&self) -> Option<Envelope> {
        match self {
            SessionMsg::Login { sent, .. } => Some(*sent),
            SessionMsg::Count { reply, .. } => Some(reply.envelope()),
            SessionMsg::Crash => None,
        }
    }
    fn has_reply(&self) -> bool {
        matches!(self, SessionMsg::Count { .. })
    }
    fn accept(&mut self) {
        if let SessionMsg::Count { reply, .. } = self {
            reply.accept();
        }
    }
}

struct SessionActor;

impl Actor for SessionActor {
    type Msg = SessionMsg;
    type State = Arc<Sessions>;
    type Arguments = Arc<Sessions>;

    async fn pre_start(
        &self,
        _myself: ActorRef<SessionMsg>,
        sessions: Arc<Sessions>,
    ) -> Result<Arc<Sessions>, ActorProcessingErr> {
        Ok(sessions)
    }

    async fn handle(
        &self,
        _myself: ActorRef<SessionMsg>,
        message: SessionMsg,
        sessions: &mut Arc<Sessions>,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SessionMsg::Login { user, .. } => {
                *sessions.open.lock().unwrap().entry(user).or_default() += 1;
            }
            SessionMsg::Count { user, reply } => {
                let n = sessions.open.lock().unwrap().get(&user).copied();
                reply.send(Ok(n.unwrap_or(0)));
            }
            SessionMsg::Crash => panic!("a bug in the session actor"),
        }
        Ok(())
    }
}

/// A stage of the ingest group: answers which incarnation it is, and
/// panics when poked (a crash loop, for the example).
enum StageMsg {
    Incarnation(RpcReplyPort<u32>),
    Poke,
}

impl ActorMessage for StageMsg {
    const KINDS: &'static [&'static str] = &["Incarnation", "Poke"];
    fn kind(&self) -> &'static str {
        match self {
            StageMsg::Incarnation(_) => "Incarnation",
            StageMsg::Poke => "Poke",
        }
    }
    fn has_reply(&self) -> bool {
        matches!(self, StageMsg::Incarnation(_))
    }
}

struct Stage;

impl Actor for Stage {
    type Msg = StageMsg;
    type State = u32;
    type Arguments = Arc<AtomicU32>;

    async fn pre_start(
        &self,
        _myself: ActorRef<StageMsg>,
        starts: Arc<AtomicU32>,
    ) -> Result<u32, ActorProcessingErr> {
        Ok(starts.fetch_add(1, Ordering::SeqCst) + 1)
    }

    async fn handle(
        &self,
        _myself: ActorRef<StageMsg>,
        message: StageMsg,
        incarnation: &mut u32,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            StageMsg::Incarnation(port) => {
                let _ = port.send(*incarnation);
            }
            StageMsg::Poke => panic!("the writer cannot reach its sink"),
        }
        Ok(())
    }
}

fn stage(name: &str) -> ActorSpec<Stage> {
    let starts = Arc::new(AtomicU32::new(0));
    ActorSpec::new(name, move || (Stage, Arc::clone(&starts)))
}

fn print_status(title: &str, status: &SystemStatus) {
    println!("{title}");
    for child in &status.children {
        println!(
            "  {:<12} {:<10} restarts={} {}",
            child.name,
            format!("{:?}", child.state),
            child.restarts,
            child.detail.as_deref().unwrap_or("")
        );
    }
}

async fn wait_for(orch: &Orchestrator, name: &str, state: ChildState, restarts: u32) {
    for _ in 0..1_000 {
        if let Ok(status) = orch.system_status().await
            && status
                .child(name)
                .is_some_and(|c| c.state == state && c.restarts == restarts)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{name} never reached {state:?} with {restarts} restarts");
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let orch = Orchestrator::start(Config::default()).await?;
    let actors = orch.guard().actors();

    // 1. A session actor: its sessions live outside it.
    let sessions = Arc::new(Sessions::default());
    let session_spec = {
        let sessions = Arc::clone(&sessions);
        ActorSpec::new("sessions", move || (SessionActor, Arc::clone(&sessions)))
            .intensity(3, Duration::from_secs(10))
    };
    let session = actors.spawn(session_spec).await?;
    for user in ["ada", "ada", "grace"] {
        let sent = Envelope::now();
        let user = user.to_string();
        session.cast(SessionMsg::Login { user, sent }).await?;
    }
    session.cast(SessionMsg::Crash).await?;
    let ada = session
        .request(|reply| SessionMsg::Count {
            user: "ada".into(),
            reply,
        })
        .await?;
    println!("after a crash and a restart, ada still has {ada} sessions");

    // 2. A rest_for_one group: the writer depends on the reader. The
    //    writer crash-loops past the group's intensity (1 in 10 s): the
    //    group escalates, and the root restarts it with both members.
    let ingest = actors
        .group(
            GroupSpec::new("ingest")
                .strategy(Strategy::RestForOne)
                .intensity(1, Duration::from_secs(10))
                .backoff(Backoff::fixed(Duration::from_millis(10))),
        )
        .await?;
    let reader = ingest.spawn(stage("reader")).await?;
    let writer = ingest.spawn(stage("writer")).await?;
    writer.cast(StageMsg::Poke).await?;
    wait_for(&orch, "writer", ChildState::Running, 1).await;
    writer.cast(StageMsg::Poke).await?;
    wait_for(&orch, "ingest", ChildState::Running, 1).await;
    println!(
        "the group escalated and came back: reader incarnation {}, writer incarnation {}",
        reader.call(StageMsg::Incarnation).await?,
        writer.call(StageMsg::Incarnation).await?,
    );

    print_status("system status:", &orch.system_status().await?);

    println!("trace (messages and restarts per user actor):");
    // A reply can reach its caller a moment before the handler's trace
    // event is recorded (the event is written when the handler returns).
    for _ in 0..1_000 {
        if orch
            .trace()
            .for_actor("writer")
            .events()
            .last()
            .map(|e| e.name())
            == Some("Incarnation")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let trace = orch.trace();
    for name in ["sessions", "reader", "writer"] {
        let events = trace.for_actor(name);
        let summary: Vec<String> = events
            .events()
            .iter()
            .map(|e| match e.queue_time() {
                Some(queued) => format!("{} ({:?} queued)", e.name(), queued),
                None => e.name().to_string(),
            })
            .collect();
        println!("  {name:<9} {}", summary.join(", "));
    }
    orch.shutdown().await?;
    Ok(())
}
