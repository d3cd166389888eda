//! [`ServiceSpec`]: what a supervised service runs, and every setting its
//! keeper, the jobs file's `[[service]]` and the CLI need: restart policy,
//! intensity and backoff, readiness and liveness, dependencies, group,
//! stop signal and grace, what happens past the intensity.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::command::CommandSpec;
use crate::error::{Error, Result};
use crate::process::StopSignal;
use crate::supervisor::{Restart, RestartIntensity, Strategy};
use crate::task::Backoff;

/// An in-process service: called again for every incarnation; the future
/// runs until the service ends (`Ok`: a clean exit, `Err`: a failure).
pub type ServiceFn = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Default start timeout: how long readiness may take.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);

/// Default grace between the stop signal and SIGKILL of the group.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(5);

/// When a service counts as ready (its dependents start then, and
/// `wait_ready` returns).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Readiness {
    /// As soon as the process is spawned (an action: called).
    #[default]
    Started,
    /// When a line of its stdout or stderr *contains* this text (a plain
    /// substring, not a regex: `"listening on"` matches
    /// `"INFO listening on :8080"`). Commands only.
    Line(String),
    /// When a TCP connection to `127.0.0.1:port` succeeds.
    Tcp(u16),
    /// When an HTTP/1.1 GET of this `http://` URL answers 2xx (no TLS).
    Http(String),
}

impl std::fmt::Display for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Readiness::Started => f.write_str("started"),
            Readiness::Line(text) => write!(f, "line {text:?}"),
            Readiness::Tcp(port) => write!(f, "tcp 127.0.0.1:{port}"),
            Readiness::Http(url) => write!(f, "http GET {url}"),
        }
    }
}

/// How a running service shows it is alive; a failed check ends the
/// incarnation (stop signal, grace, SIGKILL) and counts as a failure, so
/// the restart policy decides what follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Liveness {
    /// Probe every `every` (a `Tcp` or `Http` probe, each attempt bounded
    /// by `every`); one failed probe fails the check.
    Probe {
        /// The probe (`Tcp` or `Http`).
        probe: Readiness,
        /// Time between probes.
        every: Duration,
    },
    /// A line containing `line` must appear at least once per `within`.
    /// Commands only.
    Heartbeat {
        /// The substring a heartbeat line contains.
        line: String,
        /// The longest gap allowed between two heartbeats.
        within: Duration,
    },
}

/// What happens when a service gives up (restart intensity exceeded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Escalation {
    /// It stays `Failed`; the others keep running (the default).
    #[default]
    Stay,
    /// Every service of its group is stopped as well (OTP escalation: the
    /// group's supervisor gives up).
    StopGroup,
    /// The orchestrator reports itself unhealthy
    /// ([`Services::unhealthy`](super::Services::unhealthy)) until the
    /// service is started again.
    Unhealthy,
}

/// What a service runs.
#[derive(Clone)]
pub(crate) enum ServiceWork {
    Command(CommandSpec),
    Action(ServiceFn),
}

/// A service to supervise: a command or an in-process async function kept
/// running by its restart policy (see the [`service`](super) module docs).
///
/// ```
/// # use std::time::Duration;
/// # use taskorch_actors::{Readiness, Restart, ServiceSpec};
/// let api = ServiceSpec::command("api", "python3")
///     .args(["-m", "http.server", "8080"])
///     .restart(Restart::Permanent)
///     .intensity(5, Duration::from_secs(60))
///     .ready(Readiness::Tcp(8080))
///     .after("db")
///     .stop_grace(Duration::from_secs(10));
/// # let _ = api;
/// ```
#[derive(Clone)]
pub struct ServiceSpec {
    pub(crate) name: String,
    pub(crate) work: ServiceWork,
    pub(crate) restart: Restart,
    pub(crate) intensity: RestartIntensity,
    pub(crate) backoff: Backoff,
    pub(crate) ready: Readiness,
    pub(crate) start_timeout: Duration,
    pub(crate) liveness: Option<Liveness>,
    pub(crate) after: Vec<String>,
    pub(crate) requires: Vec<String>,
    pub(crate) stop_signal: StopSignal,
    pub(crate) stop_grace: Duration,
    pub(crate) escalation: Escalation,
    pub(crate) group: Option<String>,
    pub(crate) strategy: Strategy,
}

impl std::fmt::Debug for ServiceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("ServiceSpec");
        d.field("name", &self.name);
        match &self.work {
            ServiceWork::Command(c) => d.field("command", &c.program).field("args", &c.args),
            ServiceWork::Action(_) => d.field("action", &"<fn>"),
        };
        d.field("restart", &self.restart)
            .field("intensity", &self.intensity)
            .field("ready", &self.ready)
            .field("after", &self.after)
            .field("requires", &self.requires)
            .field("stop_signal", &self.stop_signal)
            .field("stop_grace", &self.stop_grace)
            .finish_non_exhaustive()
    }
}

impl ServiceSpec {
    fn new(name: String, work: ServiceWork) -> Self {
        ServiceSpec {
            name,
            work,
            restart: Restart::Permanent,
            intensity: RestartIntensity::default(),
            // The first restart in the window is immediate (see the keeper);
            // later ones wait 100 ms, 200 ms, ... up to 10 s, +-20 %.
            backoff: Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10))
                .with_jitter(0.2),
            ready: Readiness::Started,
            start_timeout: DEFAULT_START_TIMEOUT,
            liveness: None,
            after: Vec::new(),
            requires: Vec::new(),
            stop_signal: StopSignal::Term,
            stop_grace: DEFAULT_STOP_GRACE,
            escalation: Escalation::Stay,
            group: None,
            strategy: Strategy::OneForOne,
        }
    }

    /// A service that runs `program` (resolved on `PATH` as for tasks), in
    /// its own process group.
    pub fn command(name: impl Into<String>, program: impl Into<String>) -> Self {
        ServiceSpec::new(
            name.into(),
            ServiceWork::Command(CommandSpec::new(program.into())),
        )
    }

    /// An in-process service: `f` is called for every incarnation and its
    /// future runs until the service ends (`Ok(())` is a clean exit,
    /// `Err(reason)` a failure; a panic is a failure too).
    pub fn action<F, Fut>(name: impl Into<String>, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let f: ServiceFn = Arc::new(move || f().boxed());
        ServiceSpec::new(name.into(), ServiceWork::Action(f))
    }

    /// Append arguments (commands; ignored for actions).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        if let ServiceWork::Command(command) = &mut self.work {
            command.args(args);
        }
        self
    }

    /// Set an environment variable of the process (commands).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        if let ServiceWork::Command(command) = &mut self.work {
            command.env(key, value);
        }
        self
    }

    /// Run the process in `dir` (commands).
    pub fn current_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        if let ServiceWork::Command(command) = &mut self.work {
            command.current_dir(dir);
        }
        self
    }

    /// When it is started again: `Permanent` (always, the default),
    /// `Transient` (after a failure: non-zero exit, signal, failed
    /// liveness), `Temporary` (never).
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Give up (`Failed`) when it would restart more than `max_restarts`
    /// times within `within` (default 5 in 10 s, systemd's
    /// `StartLimitBurst` / `StartLimitIntervalSec`). A zero window is
    /// refused by `supervise`.
    pub fn intensity(mut self, max_restarts: u32, within: Duration) -> Self {
        self.intensity = RestartIntensity {
            max_restarts,
            within,
        };
        self
    }

    /// Delay before the *n*-th restart within the window (the first is
    /// immediate); default exponential 100 ms .. 10 s with 20 % jitter.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// When it counts as ready (default: started).
    pub fn ready(mut self, ready: Readiness) -> Self {
        self.ready = ready;
        self
    }

    /// How long readiness may take (default 30 s); past it the service is
    /// stopped and `wait_ready` answers `ReadinessTimedOut`.
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Check that it stays alive (see [`Liveness`]).
    pub fn liveness(mut self, liveness: Liveness) -> Self {
        self.liveness = Some(liveness);
        self
    }

    /// Start only once service `name` is ready; if `name` fails for good
    /// (or is stopped), this one is stopped.
    pub fn after(mut self, name: impl Into<String>) -> Self {
        self.after.push(name.into());
        self
    }

    /// As [`after`](Self::after), and also restart whenever `name`
    /// restarts (a hard dependency: a client that cannot survive its
    /// server's restart).
    pub fn requires(mut self, name: impl Into<String>) -> Self {
        self.requires.push(name.into());
        self
    }

    /// The signal its process group gets to stop (default SIGTERM).
    pub fn stop_signal(mut self, signal: StopSignal) -> Self {
        self.stop_signal = signal;
        self
    }

    /// How long the group has between the stop signal and SIGKILL
    /// (default 5 s).
    pub fn stop_grace(mut self, grace: Duration) -> Self {
        self.stop_grace = grace;
        self
    }

    /// What happens when it gives up (default: it stays failed).
    pub fn escalation(mut self, escalation: Escalation) -> Self {
        self.escalation = escalation;
        self
    }

    /// Put it in group `name`: with [`strategy`](Self::strategy)
    /// `OneForAll`, a failure of any member restarts every member; with
    /// `RestForOne`, the members supervised after the failed one restart
    /// with it; `Escalation::StopGroup` stops the members.
    pub fn group(mut self, name: impl Into<String>) -> Self {
        self.group = Some(name.into());
        self
    }

    /// Which members of its group restart with it when it fails (default
    /// `OneForOne`: only itself).
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The services it starts after (`after` and `requires`).
    pub fn dependencies(&self) -> impl Iterator<Item = &str> {
        self.after.iter().chain(&self.requires).map(String::as_str)
    }

    /// Whether it runs a command (else an in-process function).
    pub fn is_command(&self) -> bool {
        matches!(self.work, ServiceWork::Command(_))
    }

    /// Check the settings (before anything starts).
    pub(crate) fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Error::InvalidService {
            service: self.name.clone(),
            reason,
        };
        if self.name.trim().is_empty() || self.name.chars().any(char::is_control) {
            return Err(invalid(
                "the name must be non-empty, without control characters".into(),
            ));
        }
        if let ServiceWork::Command(command) = &self.work {
            if command.program.trim().is_empty() || command.program.contains('\0') {
                return Err(invalid("empty program name (or a NUL byte in it)".into()));
            }
            if command.args.iter().any(|a| a.contains('\0')) {
                return Err(invalid("NUL byte in an argument".into()));
            }
        }
        if self.intensity.within.is_zero() {
            return Err(invalid(
                "intensity: a zero restart window counts no restart; give a positive `within`"
                    .into(),
            ));
        }
        if self.start_timeout.is_zero() {
            return Err(invalid("start_timeout must be positive".into()));
        }
        crate::duration::check("intensity window", self.intensity.within)?;
        crate::duration::check("start_timeout", self.start_timeout)?;
        crate::duration::check("stop_grace", self.stop_grace)?;
        self.backoff.validate("backoff")?;
        let action = !self.is_command();
        check_probe(&self.ready, action).map_err(|r| invalid(format!("ready: {r}")))?;
        match &self.liveness {
            Some(Liveness::Probe { probe, every }) => {
                if matches!(probe, Readiness::Started | Readiness::Line(_)) {
                    return Err(invalid(format!(
                        "liveness probe {probe} checks nothing: use Tcp or Http, or a heartbeat"
                    )));
                }
                check_probe(probe, action).map_err(|r| invalid(format!("liveness: {r}")))?;
                if every.is_zero() {
                    return Err(invalid(
                        "liveness: the probe interval must be positive".into(),
                    ));
                }
                crate::duration::check("liveness interval", *every)?;
            }
            Some(Liveness::Heartbeat { line, within }) => {
                if action {
                    return Err(invalid(
                        "liveness: a heartbeat line needs a command (an action writes no lines)"
                            .into(),
                    ));
                }
                if line.is_empty() {
                    return Err(invalid("liveness: an empty heartbeat text".into()));
                }
                if within.is_zero() {
                    return Err(invalid(
                        "liveness: the heartbeat interval must be positive".into(),
                    ));
                }
                crate::duration::check("heartbeat interval", *within)?;
            }
            None => {}
        }
        if let Some(dep) = self.dependencies().find(|d| *d == self.name) {
            return Err(Error::ServiceCycle {
                path: vec![dep.to_string(), dep.to_string()],
            });
        }
        Ok(())
    }
}

/// Whether `probe` can work for this kind of service.
fn check_probe(probe: &Readiness, action: bool) -> std::result::Result<(), String> {
    match probe {
        Readiness::Tcp(0) => Err("tcp port 0 accepts no connection".into()),
        Readiness::Started | Readiness::Tcp(_) => Ok(()),
        Readiness::Line(text) if action => Err(format!(
            "line {text:?} needs a command (an action writes no lines)"
        )),
        Readiness::Line(text) if text.is_empty() => Err("an empty line pattern".into()),
        Readiness::Line(_) => Ok(()),
        Readiness::Http(url) => super::probe::HttpTarget::parse(url).map(|_| ()),
    }
}
