//! Supervised services: the application's own long-running work — a
//! command or an in-process async function — kept running by a restart
//! policy, with readiness and liveness probes, start order by dependency,
//! and a stop in reverse order with each service's own signal and grace.
//!
//! # Layout
//! - `spec`: [`ServiceSpec`] and its settings ([`Readiness`],
//!   [`Liveness`], [`Escalation`]).
//! - `status`: [`ServiceState`], [`ServiceStatus`].
//! - `order`: the dependency checks (unknown name, cycle) and start order.
//! - `keeper`: one keeper task per service (its module docs: messages,
//!   restart behaviour, how it stops).
//! - `incarnation`: one incarnation = one run in the registry and the
//!   store, labelled `service=<name>`, so a service's history is that of
//!   its runs.
//! - `probe`: TCP connect and HTTP GET probes, the line matcher.
//! - `durable`: the store record of a service.
//!
//! # The tree
//! ```text
//! Services (table: outside every keeper, in the runtime)
//! ├── keeper "db"      incarnation: run 0193…, process group 4242
//! ├── keeper "api"     after "db": starts once "db" is ready
//! └── keeper "worker"  group "jobs", rest_for_one
//! ```
//! Keepers are tokio tasks, not actors of the root supervisor: a service's
//! own restart policy and window is the supervision here, and a keeper has
//! no code path that fails (every error of its service is the service's
//! outcome). State that must survive — spec, status, current run — is in
//! the service's cell, read by every [`Service`] handle.
//!
//! # Order and dependencies
//! [`Services::supervise_all`] checks a set of specs together (a name
//! given twice, an `after`/`requires` no service has, a cycle: each a
//! typed error, nothing started) and starts them dependencies first. A
//! service with `after(a)` starts when `a` is ready, and is stopped if `a`
//! fails for good; with `requires(a)` it also restarts whenever `a`
//! restarts. Groups restart by their strategy (`one_for_all`,
//! `rest_for_one`). At shutdown services stop one by one in reverse
//! supervise order (dependents first), each with its stop signal and
//! grace, then SIGKILL of its group.
//!
//! # Persistence
//! With the store, each service's spec (commands) and failure are kept:
//! the next start of the orchestrator brings every permanent command
//! service back, and a `Failed` one comes back `Failed` until it is
//! started by hand (`Service::start` / `restart`). A later `supervise` of
//! a restored name returns the restored service (its stored spec stays).

mod durable;
mod handle;
mod incarnation;
mod keeper;
mod order;
mod probe;
mod spec;
mod status;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::task::TaskTracker;

pub use handle::Service;
pub use incarnation::SERVICE_LABEL;
pub use spec::{
    DEFAULT_START_TIMEOUT, DEFAULT_STOP_GRACE, Escalation, Liveness, Readiness, ServiceFn,
    ServiceSpec,
};
pub use status::{ServiceState, ServiceStatus};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::registry::RunRecord;
use crate::store::Op;
use durable::ServiceRow;
use incarnation::Resolved;
use keeper::{Begin as Initial, Control, Keeper, StopBy};

/// One service's state outside its keeper.
pub(crate) struct Cell {
    pub(crate) spec: ServiceSpec,
    /// Its place in the supervise order.
    order: u64,
    pub(crate) work: Resolved,
    pub(crate) status: watch::Sender<ServiceStatus>,
    /// What `wait_ready` answers while it is stopped or failed.
    failure: Mutex<Option<Error>>,
    control: mpsc::UnboundedSender<Control>,
    /// The current (or last) incarnation's run.
    pub(crate) current: Mutex<Option<Arc<RunRecord>>>,
}

impl Cell {
    /// Change the status (only the keeper does).
    pub(crate) fn update(&self, f: impl FnOnce(&mut ServiceStatus)) {
        self.status.send_modify(f);
    }

    pub(crate) fn set_failure(&self, error: Error) {
        *self.failure.lock() = Some(error);
    }

    pub(crate) fn clear_failure(&self) {
        *self.failure.lock() = None;
    }

    /// Hand `control` to the keeper (one that is gone has nothing to do).
    pub(crate) fn send(&self, control: Control) {
        let _ = self.control.send(control);
    }
}

/// The services of one runtime (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct Services {
    table: Arc<Table>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("names", &self.names())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Table {
    pub(crate) ctx: Arc<Context>,
    /// The user actors of the same orchestrator: one namespace for both
    /// (fault injection targets either by name).
    actors: std::sync::OnceLock<crate::user::UserActors>,
    /// In supervise order.
    cells: RwLock<Vec<Arc<Cell>>>,
    next_order: AtomicU64,
    keepers: TaskTracker,
    /// Services whose escalation reported the orchestrator unhealthy.
    unhealthy: Mutex<Vec<(String, String)>>,
    /// Stored rows of action services (and of failed ones), by name,
    /// picked up by a later `supervise` of that name.
    stored: Mutex<HashMap<String, ServiceRow>>,
    /// Command services restored from the store and not yet supervised
    /// again: `supervise` of such a name adopts the restored service.
    restored: Mutex<HashSet<String>>,
    /// Woken whenever a service is added (keepers waiting for a
    /// dependency not supervised yet look again).
    pub(crate) added: tokio::sync::Notify,
    /// Ends every keeper: cancelled by `shutdown` once every service is
    /// stopped, and with the runtime's root token (the emergency stop).
    pub(crate) closed: tokio_util::sync::CancellationToken,
}

impl Table {
    /// The cell of service `name`, if it is supervised.
    pub(crate) fn cell(&self, name: &str) -> Option<Arc<Cell>> {
        self.cells
            .read()
            .iter()
            .find(|c| c.spec.name == name)
            .cloned()
    }

    /// The services that start after `name` (`after` or `requires`).
    pub(crate) fn dependents(&self, name: &str) -> Vec<Arc<Cell>> {
        self.cells
            .read()
            .iter()
            .filter(|c| c.spec.dependencies().any(|d| d == name))
            .cloned()
            .collect()
    }

    /// The services that `requires` `name`.
    pub(crate) fn requiring(&self, name: &str) -> Vec<Arc<Cell>> {
        self.cells
            .read()
            .iter()
            .filter(|c| c.spec.requires.iter().any(|d| d == name))
            .cloned()
            .collect()
    }

    /// The other members of `cell`'s group (`later`: only those supervised
    /// after it).
    pub(crate) fn group_members(&self, cell: &Cell, later: bool) -> Vec<Arc<Cell>> {
        let Some(group) = &cell.spec.group else {
            return Vec::new();
        };
        self.cells
            .read()
            .iter()
            .filter(|c| {
                c.spec.name != cell.spec.name
                    && c.spec.group.as_ref() == Some(group)
                    && (!later || c.order > cell.order)
            })
            .cloned()
            .collect()
    }

    pub(crate) fn set_unhealthy(&self, name: &str, reason: &str) {
        let mut unhealthy = self.unhealthy.lock();
        unhealthy.retain(|(n, _)| n != name);
        unhealthy.push((name.to_string(), reason.to_string()));
    }

    pub(crate) fn clear_unhealthy(&self, name: &str) {
        self.unhealthy.lock().retain(|(n, _)| n != name);
    }

    /// Journal `cell` (its spec and whether it failed) with the store.
    pub(crate) fn persist(&self, cell: &Cell) {
        let store = self.ctx.store();
        if !store.is_enabled() {
            return;
        }
        let status = cell.status.borrow();
        let failed = (status.state == ServiceState::Failed)
            .then(|| status.reason.clone().unwrap_or_default());
        let row = ServiceRow::new(&cell.spec, cell.order, failed);
        let name = cell.spec.name.clone();
        store.journal(|| Op::Service {
            name,
            record: Some(crate::store::encode_record(&row)),
        });
    }
}

impl Services {
    /// An empty table for the runtime `ctx`.
    pub(crate) fn new(ctx: Arc<Context>) -> Self {
        Services {
            table: Arc::new(Table {
                cells: RwLock::new(Vec::new()),
                actors: std::sync::OnceLock::new(),
                next_order: AtomicU64::new(0),
                keepers: TaskTracker::new(),
                unhealthy: Mutex::new(Vec::new()),
                stored: Mutex::new(HashMap::new()),
                restored: Mutex::new(HashSet::new()),
                added: tokio::sync::Notify::new(),
                closed: ctx.shutdown().root().child_token(),
                ctx,
            }),
        }
    }

    /// Share one namespace with `actors` (the user actors of the same
    /// orchestrator), in both directions: a service may not take an
    /// actor's name (`DuplicateActor`), nor an actor a service's
    /// (`ServiceExists`). Set once; later calls are ignored.
    pub fn share_names_with(&self, actors: &crate::user::UserActors) {
        if self.table.actors.set(actors.clone()).is_err() {
            return;
        }
        // Weak: the actors' check must not keep the services alive.
        let table = Arc::downgrade(&self.table);
        actors.share_names_with(Box::new(move |name| {
            table.upgrade().is_some_and(|table| {
                table.cells.read().iter().any(|c| c.spec.name == name)
                    || table.restored.lock().contains(name)
                    || table.stored.lock().contains_key(name)
            })
        }));
    }

    /// Bring back the services the store held (`records`: name and
    /// record bytes): command services restart (the permanent ones that
    /// had not failed) or come back `Failed`; the rows of action services
    /// wait for their `supervise`.
    pub(crate) fn restore(&self, records: Vec<(String, Vec<u8>)>) {
        let mut rows: Vec<(String, ServiceRow)> = records
            .into_iter()
            .filter_map(|(name, bytes)| {
                crate::store::decode_record::<ServiceRow>(&bytes)
                    .inspect_err(|e| tracing::error!(service = %name, error = %e, "stored service unreadable"))
                    .ok()
                    .map(|row| (name, row))
            })
            .collect();
        rows.sort_by_key(|(_, row)| row.order);
        let next = rows.last().map_or(0, |(_, row)| row.order + 1);
        self.table.next_order.fetch_max(next, Ordering::Relaxed);
        for (name, row) in rows {
            let Some(spec) = row.spec(&name) else {
                self.table.stored.lock().insert(name, row);
                continue;
            };
            let initial = match (&row.failed, row.comes_back()) {
                (Some(reason), _) => Initial::Failed(reason.clone()),
                (None, true) => Initial::Run,
                (None, false) => Initial::Stopped,
            };
            match self.add(spec, row.order, initial) {
                Ok(()) => {
                    self.table.restored.lock().insert(name);
                }
                Err(e) => {
                    tracing::error!(service = %name, error = %e, "stored service not restored")
                }
            }
        }
    }

    /// Supervise one service (see [`supervise_all`](Self::supervise_all)).
    ///
    /// # Errors
    /// As `supervise_all`.
    pub fn supervise(&self, spec: ServiceSpec) -> Result<Service> {
        // A name restored from the store: that service (see the module
        // docs).
        if self.table.restored.lock().remove(&spec.name)
            && let Some(found) = self.find(&spec.name)
        {
            return Ok(found);
        }
        let mut handles = self.supervise_all(vec![spec])?;
        Ok(handles.remove(0))
    }

    /// Check `specs` together with the services already supervised and
    /// start them, each after what it depends on (otherwise in the given
    /// order). Returns their handles in the given order. Nothing starts
    /// if any spec is refused.
    ///
    /// # Errors
    /// `InvalidService` (bad settings, e.g. a zero restart window),
    /// `ServiceExists`, `DuplicateActor` (a user actor has that name),
    /// `UnknownServiceDependency`, `ServiceCycle`,
    /// `NotFound` / `PermissionDenied` for a program that cannot run,
    /// `ShuttingDown`.
    pub fn supervise_all(&self, specs: Vec<ServiceSpec>) -> Result<Vec<Service>> {
        self.table.ctx.shutdown().check()?;
        for spec in &specs {
            spec.validate()?;
        }
        let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
        let existing: HashSet<String> = self.names().into_iter().collect();
        if let Some(actors) = self.table.actors.get()
            && let Some(name) = names.iter().find(|n| actors.is_taken(n))
        {
            return Err(Error::DuplicateActor { name: name.clone() });
        }
        let ordered = order::order(specs, &existing)?;
        // Every program resolved before any service starts.
        let resolved = ordered
            .iter()
            .map(|spec| Resolved::new(&self.table.ctx, &spec.work))
            .collect::<Result<Vec<_>>>()?;
        for (spec, work) in ordered.into_iter().zip(resolved) {
            let stored = self.table.stored.lock().remove(&spec.name);
            let initial = match stored.and_then(|row| row.failed) {
                Some(reason) => Initial::Failed(reason),
                None => Initial::Run,
            };
            let order = self.table.next_order.fetch_add(1, Ordering::Relaxed);
            self.add_resolved(spec, work, order, initial);
        }
        Ok(names.iter().filter_map(|name| self.find(name)).collect())
    }

    fn add(&self, spec: ServiceSpec, order: u64, initial: Initial) -> Result<()> {
        spec.validate()?;
        let work = Resolved::new(&self.table.ctx, &spec.work)?;
        self.add_resolved(spec, work, order, initial);
        Ok(())
    }

    fn add_resolved(&self, spec: ServiceSpec, work: Resolved, order: u64, initial: Initial) {
        let (tx, rx) = mpsc::unbounded_channel();
        let state = match initial {
            Initial::Run => ServiceState::Starting,
            Initial::Failed(_) => ServiceState::Failed,
            Initial::Stopped => ServiceState::Stopped,
        };
        let mut first = ServiceStatus::new(&spec.name, state);
        if let Initial::Failed(reason) = &initial {
            // Journaled below with the record: the reason must survive the
            // next restart too.
            first.reason = Some(reason.clone());
        }
        let (status, _) = watch::channel(first);
        let cell = Arc::new(Cell {
            spec,
            order,
            work,
            status,
            failure: Mutex::new(None),
            control: tx,
            current: Mutex::new(None),
        });
        {
            let mut cells = self.table.cells.write();
            cells.push(Arc::clone(&cell));
            cells.sort_by_key(|c| c.order);
        }
        self.table.added.notify_waiters();
        #[cfg(feature = "fault-injection")]
        {
            let sink = cell.control.clone();
            self.table.ctx.faults().attach_service(
                &cell.spec.name,
                Arc::new(move |fault, nth| {
                    let _ = sink.send(Control::Fault(fault, nth));
                }),
            );
        }
        self.table.persist(&cell);
        let keeper = Keeper::new(Arc::clone(&self.table), Arc::clone(&cell), rx);
        self.table.keepers.spawn(keeper.run(initial));
    }

    /// The service called `name`, if it is supervised here.
    pub fn find(&self, name: &str) -> Option<Service> {
        self.table
            .cells
            .read()
            .iter()
            .find(|c| c.spec.name == name)
            .map(|cell| Service::new(Arc::clone(cell), Arc::clone(&self.table.ctx)))
    }

    /// Names of the services, in supervise order.
    pub fn names(&self) -> Vec<String> {
        self.table
            .cells
            .read()
            .iter()
            .map(|c| c.spec.name.clone())
            .collect()
    }

    /// The status of every service, in supervise order (for a listing:
    /// state, restarts, uptime, last exit, pid, run id).
    pub fn list(&self) -> Vec<ServiceStatus> {
        let cells: Vec<Arc<Cell>> = self.table.cells.read().clone();
        cells.iter().map(|c| status_of(c)).collect()
    }

    /// Why the orchestrator is unhealthy, if a service that escalates
    /// (`Escalation::Unhealthy`) gave up: `(service, reason)` pairs.
    pub fn unhealthy(&self) -> Vec<(String, String)> {
        self.table.unhealthy.lock().clone()
    }

    /// Stop service `name` and forget it (its store record too; its runs
    /// stay in the history).
    ///
    /// # Errors
    /// `UnknownService`.
    pub async fn remove(&self, name: &str) -> Result<()> {
        let service = self
            .find(name)
            .ok_or_else(|| Error::UnknownService(name.to_string()))?;
        service.stop().await?;
        self.table.cells.write().retain(|c| c.spec.name != name);
        service.forget();
        #[cfg(feature = "fault-injection")]
        self.table.ctx.faults().detach_service(name);
        let name = name.to_string();
        self.table
            .ctx
            .store()
            .journal(|| Op::Service { name, record: None });
        Ok(())
    }

    /// Stop every service, last supervised first (dependents before what
    /// they depend on), each with its stop signal and grace, then let the
    /// keepers go. Not recorded as a stop: permanent services come back
    /// with the next start of a durable orchestrator.
    pub async fn shutdown(&self) {
        let cells: Vec<Arc<Cell>> = self.table.cells.read().clone();
        for cell in cells.iter().rev() {
            let (tx, rx) = oneshot::channel();
            cell.send(Control::Stop {
                by: StopBy::Shutdown,
                reason: Some("the orchestrator shut down".into()),
                done: Some(tx),
            });
            // The stop takes at most the grace plus the SIGKILL settle time;
            // a keeper that is gone answers at once (the sender drops).
            let bound =
                cell.spec.stop_grace + crate::process::child::KILL_SETTLE + Duration::from_secs(1);
            let _ = tokio::time::timeout(bound, rx).await;
        }
        self.table.cells.write().clear();
        self.table.closed.cancel();
        self.table.keepers.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.table.keepers.wait()).await;
    }
}

fn status_of(cell: &Cell) -> ServiceStatus {
    let mut status = cell.status.borrow().clone();
    if matches!(status.state, ServiceState::Starting | ServiceState::Ready) {
        status.pid = cell.current.lock().as_ref().and_then(|r| r.pid());
    }
    status
}
