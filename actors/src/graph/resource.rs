//! Resources graph tasks claim ([`Resource`]) and the runtime-wide table
//! that grants them ([`ResourceTable`]).
//!
//! A resource is named by a [`ResourceId`] of one of four kinds: a named
//! lock ("database"), the CPU slots of the machine, a memory budget, or an
//! external API with a concurrency quota. A claim is one of:
//!
//! - **shared** ([`Resource::read`]): any number of shared holders at once;
//! - **sole** ([`Resource::write`], [`Resource::exclusive`]): nobody else
//!   holds the resource in any way meanwhile;
//! - **units** ([`Resource::cpu`], [`Resource::memory`], [`Resource::api`]):
//!   held units never exceed the resource's capacity.
//!
//! Sole excludes everyone; units must fit; shared only waits for a sole
//! holder. Every claim of a task is granted **at once, under one lock, or
//! not at all**: a task never holds one resource while waiting for
//! another, so two tasks can never deadlock on each other's claims,
//! whatever order they list them in.
//!
//! The table belongs to the runtime (it lives in the
//! [`Context`](crate::Context)), so claims hold across every graph of one
//! orchestrator: two graphs writing the same database never overlap
//! either. A grant is released when its run ends, whatever ends it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::error::{Error, Result};

/// The kind of a [`ResourceId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// A named lock: no capacity, only shared and sole claims.
    Lock,
    /// The CPU slots of the machine (capacity: the available parallelism,
    /// unless set).
    Cpu,
    /// A memory budget in bytes (no default capacity: set one before
    /// claiming memory).
    Memory,
    /// An external API, by name, with a quota of concurrent calls
    /// (capacity 1 unless set).
    Api,
}

/// Names one resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourceId {
    kind: ResourceKind,
    name: String,
}

impl ResourceId {
    /// From its parts (as stored; see `graph/durable.rs`).
    pub(super) fn from_parts(kind: ResourceKind, name: String) -> Self {
        ResourceId { kind, name }
    }

    /// The named lock `name`.
    pub fn lock(name: impl Into<String>) -> Self {
        ResourceId {
            kind: ResourceKind::Lock,
            name: name.into(),
        }
    }

    /// The machine's CPU slots.
    pub fn cpu() -> Self {
        ResourceId {
            kind: ResourceKind::Cpu,
            name: String::new(),
        }
    }

    /// The memory budget.
    pub fn memory() -> Self {
        ResourceId {
            kind: ResourceKind::Memory,
            name: String::new(),
        }
    }

    /// The external API `name`.
    pub fn api(name: impl Into<String>) -> Self {
        ResourceId {
            kind: ResourceKind::Api,
            name: name.into(),
        }
    }

    /// Its kind.
    pub fn kind(&self) -> ResourceKind {
        self.kind
    }

    /// Its name (empty for the CPU slots and the memory budget).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The capacity it has when none was set.
    fn default_capacity(&self) -> Option<u64> {
        match self.kind {
            ResourceKind::Lock | ResourceKind::Memory => None,
            ResourceKind::Cpu => Some(
                std::thread::available_parallelism()
                    .map(|n| n.get() as u64)
                    .unwrap_or(1),
            ),
            ResourceKind::Api => Some(1),
        }
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ResourceKind::Lock => write!(f, "lock {:?}", self.name),
            ResourceKind::Cpu => f.write_str("CPU slots"),
            ResourceKind::Memory => f.write_str("memory"),
            ResourceKind::Api => write!(f, "API {:?}", self.name),
        }
    }
}

impl From<&str> for ResourceId {
    /// A named lock.
    fn from(name: &str) -> Self {
        ResourceId::lock(name)
    }
}

impl From<String> for ResourceId {
    /// A named lock.
    fn from(name: String) -> Self {
        ResourceId::lock(name)
    }
}

/// How a task holds a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Shared with other readers (and unit holders); excluded by a sole
    /// holder.
    Read,
    /// Sole: nobody else holds the resource meanwhile.
    Write,
    /// Sole, like `Write`; for things rather than data (a GPU, the staging
    /// environment), and for a counted resource it means the whole of it.
    Exclusive,
    /// This many units of a counted resource (CPU slots, bytes, API calls).
    Units(u64),
}

impl Access {
    fn is_sole(&self) -> bool {
        matches!(self, Access::Write | Access::Exclusive)
    }

    /// The one access equivalent to holding both (a task listing one
    /// resource twice).
    fn merge(self, other: Access) -> Access {
        match (self, other) {
            (a, _) if a.is_sole() => a,
            (_, b) if b.is_sole() => b,
            (Access::Units(a), Access::Units(b)) => Access::Units(a.saturating_add(b)),
            (Access::Units(n), Access::Read) | (Access::Read, Access::Units(n)) => Access::Units(n),
            (Access::Read, Access::Read) => Access::Read,
            // Sole cases are handled above.
            (a, _) => a,
        }
    }
}

/// A claim on one resource, declared with [`GraphTask::resource`](super::GraphTask::resource).
///
/// ```
/// use taskorch_actors::graph::{Resource, ResourceId};
///
/// let claims = [
///     Resource::read("config"),               // shared lock
///     Resource::write("database"),            // sole lock
///     Resource::exclusive("staging"),         // sole lock
///     Resource::cpu(4),                       // 4 CPU slots
///     Resource::memory(2 << 30),              // 2 GiB of the memory budget
///     Resource::api("github", 1),             // one call of the API's quota
///     Resource::exclusive(ResourceId::cpu()), // the whole machine
/// ];
/// # let _ = claims;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resource {
    id: ResourceId,
    access: Access,
}

impl Resource {
    /// From its parts (as stored; see `graph/durable.rs`).
    pub(super) fn from_parts(id: ResourceId, access: Access) -> Self {
        Resource { id, access }
    }

    /// Shared use of `id` (a `&str` names a lock).
    pub fn read(id: impl Into<ResourceId>) -> Self {
        Resource {
            id: id.into(),
            access: Access::Read,
        }
    }

    /// Sole use of `id` (a `&str` names a lock).
    pub fn write(id: impl Into<ResourceId>) -> Self {
        Resource {
            id: id.into(),
            access: Access::Write,
        }
    }

    /// Sole use of `id`; for a counted resource, all of it.
    pub fn exclusive(id: impl Into<ResourceId>) -> Self {
        Resource {
            id: id.into(),
            access: Access::Exclusive,
        }
    }

    /// `slots` of the machine's CPU slots.
    pub fn cpu(slots: u64) -> Self {
        Resource {
            id: ResourceId::cpu(),
            access: Access::Units(slots),
        }
    }

    /// `bytes` of the memory budget.
    pub fn memory(bytes: u64) -> Self {
        Resource {
            id: ResourceId::memory(),
            access: Access::Units(bytes),
        }
    }

    /// `calls` concurrent calls of the external API `name`'s quota.
    pub fn api(name: impl Into<String>, calls: u64) -> Self {
        Resource {
            id: ResourceId::api(name),
            access: Access::Units(calls),
        }
    }

    /// The resource.
    pub fn id(&self) -> &ResourceId {
        &self.id
    }

    /// How it is held.
    pub fn access(&self) -> Access {
        self.access
    }

    /// Whether holding `self` and `other` at once is impossible whatever
    /// the capacity (one of them is sole, on the same resource).
    pub fn conflicts_with(&self, other: &Resource) -> bool {
        self.id == other.id && (self.access.is_sole() || other.access.is_sole())
    }
}

/// A task's claims, one per resource (duplicates merged), sorted.
pub(crate) fn normalize(claims: &[Resource]) -> Box<[Resource]> {
    let mut merged: Vec<Resource> = Vec::with_capacity(claims.len());
    for claim in claims {
        match merged.iter_mut().find(|c| c.id == claim.id) {
            Some(held) => held.access = held.access.merge(claim.access),
            None => merged.push(claim.clone()),
        }
    }
    merged.sort_by(|a, b| a.id.cmp(&b.id));
    merged.into_boxed_slice()
}

/// How much of one resource is held right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResourceUsage {
    /// Shared holders.
    pub shared: u32,
    /// Whether a sole holder has it.
    pub sole: bool,
    /// Units held (counted resources).
    pub units: u64,
}

impl ResourceUsage {
    fn is_idle(&self) -> bool {
        *self == ResourceUsage::default()
    }
}

/// Why claims were not granted.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Held by others now: these resources.
    Busy(Vec<ResourceId>),
    /// Can never be granted (a claim larger than the capacity).
    Never(Error),
}

/// Every resource of one runtime: capacities and current holders.
#[derive(Debug, Default)]
pub struct ResourceTable {
    table: Mutex<Table>,
    /// Woken whenever a grant is released.
    released: Notify,
}

#[derive(Debug, Default)]
struct Table {
    capacities: HashMap<ResourceId, u64>,
    held: HashMap<ResourceId, ResourceUsage>,
}

impl Table {
    fn capacity(&self, id: &ResourceId) -> Option<u64> {
        self.capacities
            .get(id)
            .copied()
            .or_else(|| id.default_capacity())
    }

    /// Whether `claim`, by a task called `task`, could ever be granted.
    fn check(&self, task: &str, claim: &Resource) -> Result<()> {
        let Access::Units(units) = claim.access else {
            return Ok(());
        };
        let invalid = |why: String| Err(Error::InvalidTask(format!("task {task:?} {why}")));
        if claim.id.kind == ResourceKind::Lock {
            return invalid(format!(
                "claims {units} units of {}, but a lock has no units: use read, write or exclusive",
                claim.id
            ));
        }
        if units == 0 {
            return invalid(format!("claims 0 units of {}", claim.id));
        }
        match self.capacity(&claim.id) {
            None => invalid(format!(
                "claims {units} units of {}, which has no capacity: set one with \
                 orch.graphs().set_capacity",
                claim.id
            )),
            Some(capacity) if units > capacity => invalid(format!(
                "claims {units} units of {}, more than its capacity of {capacity}",
                claim.id
            )),
            Some(_) => Ok(()),
        }
    }
}

impl ResourceTable {
    /// Set the capacity of a counted resource (CPU slots, memory, an API).
    /// Holders keep what they hold; new claims must fit the new capacity.
    ///
    /// # Errors
    /// `InvalidConfig` for a lock (locks have no capacity) or a capacity
    /// of zero.
    pub fn set_capacity(&self, id: ResourceId, capacity: u64) -> Result<()> {
        if id.kind == ResourceKind::Lock {
            return Err(Error::InvalidConfig(format!(
                "{id} has no capacity: locks are claimed with read, write or exclusive"
            )));
        }
        if capacity == 0 {
            return Err(Error::InvalidConfig(format!(
                "the capacity of {id} must be at least 1"
            )));
        }
        self.table.lock().capacities.insert(id, capacity);
        // A raised capacity may let waiting claims through.
        self.released.notify_waiters();
        Ok(())
    }

    /// The capacity of `id` (`None` for a lock, and for the memory budget
    /// until one is set).
    pub fn capacity(&self, id: &ResourceId) -> Option<u64> {
        self.table.lock().capacity(id)
    }

    /// How much of `id` is held right now.
    pub fn usage(&self, id: &ResourceId) -> ResourceUsage {
        self.table.lock().held.get(id).copied().unwrap_or_default()
    }

    /// Check a task's claims against the capacities at submit.
    pub(crate) fn check(&self, task: &str, claims: &[Resource]) -> Result<()> {
        let table = self.table.lock();
        claims.iter().try_for_each(|claim| table.check(task, claim))
    }

    /// Grant every one of `claims` at once, or none.
    pub(crate) fn try_grant(
        self: &Arc<Self>,
        task: &str,
        claims: &[Resource],
    ) -> std::result::Result<Grant, Refusal> {
        let mut table = self.table.lock();
        let mut busy = Vec::new();
        for claim in claims {
            // The capacity may have been lowered since submit.
            table.check(task, claim).map_err(Refusal::Never)?;
            let held = table.held.get(&claim.id).copied().unwrap_or_default();
            let fits = match claim.access {
                Access::Read => !held.sole,
                Access::Write | Access::Exclusive => held.is_idle(),
                Access::Units(n) => {
                    let capacity = table.capacity(&claim.id).unwrap_or(0);
                    !held.sole && held.units.saturating_add(n) <= capacity
                }
            };
            if !fits {
                busy.push(claim.id.clone());
            }
        }
        if !busy.is_empty() {
            return Err(Refusal::Busy(busy));
        }
        for claim in claims {
            let held = table.held.entry(claim.id.clone()).or_default();
            match claim.access {
                Access::Read => held.shared += 1,
                Access::Write | Access::Exclusive => held.sole = true,
                Access::Units(n) => held.units += n,
            }
        }
        Ok(Grant {
            table: Arc::clone(self),
            claims: claims.into(),
        })
    }

    /// Woken on every release (and capacity change). Register before
    /// trying a grant, so a release in between is not missed.
    pub(crate) fn released(&self) -> &Notify {
        &self.released
    }

    fn release(&self, claims: &[Resource]) {
        {
            let mut table = self.table.lock();
            for claim in claims {
                let Some(held) = table.held.get_mut(&claim.id) else {
                    continue;
                };
                match claim.access {
                    Access::Read => held.shared = held.shared.saturating_sub(1),
                    Access::Write | Access::Exclusive => held.sole = false,
                    Access::Units(n) => held.units = held.units.saturating_sub(n),
                }
                if held.is_idle() {
                    table.held.remove(&claim.id);
                }
            }
        }
        self.released.notify_waiters();
    }
}

/// Claims held by one run; released when dropped (the run's task drops it
/// when the run ends, whatever ends it).
#[derive(Debug)]
pub(crate) struct Grant {
    table: Arc<ResourceTable>,
    claims: Box<[Resource]>,
}

impl Drop for Grant {
    fn drop(&mut self) {
        self.table.release(&self.claims);
    }
}
