//! User actor names: which are allowed, which are taken, and the
//! `&'static str` the trace, the slots and the fault plan hold them as.

use std::collections::HashSet;
use std::sync::OnceLock;

use parking_lot::Mutex;

use crate::error::{Error, Result};

/// The runtime's own actors (and fault targets): no user actor may take
/// their names, or status lines and faults would mean two actors.
pub(crate) const RESERVED: &[&str] = &[
    "executor",
    "batch",
    "launcher",
    "scheduler",
    "pool_keeper",
    "pool_worker",
    "supervisor",
    "store",
];

/// The longest name accepted, in bytes: names are shown in status lines
/// and trace exports.
pub(crate) const MAX_NAME_BYTES: usize = 128;

/// Whether a name is taken outside the user actors (by a service).
pub type NameTaken = Box<dyn Fn(&str) -> bool + Send + Sync>;

/// The names taken in one orchestrator, in the order they were taken.
#[derive(Default)]
pub(super) struct Names {
    taken: Mutex<Vec<Taken>>,
    /// Services share the namespace (fault injection finds either by
    /// name), but live a layer above: they hand in this check.
    elsewhere: OnceLock<NameTaken>,
}

impl std::fmt::Debug for Names {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Names")
            .field("taken", &self.taken)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Taken {
    name: &'static str,
    /// Reserved while its start is in flight; a failed start frees it.
    started: bool,
}

impl Names {
    /// Check `name` and reserve it.
    pub(super) fn reserve(&self, name: &str) -> Result<&'static str> {
        check(name)?;
        if self.elsewhere.get().is_some_and(|taken| taken(name)) {
            return Err(Error::ServiceExists(name.into()));
        }
        let mut taken = self.taken.lock();
        if taken.iter().any(|t| t.name == name) {
            return Err(Error::DuplicateActor { name: name.into() });
        }
        let name = intern(name);
        taken.push(Taken {
            name,
            started: false,
        });
        Ok(name)
    }

    /// Refuse names for which `taken` answers true (set once; later
    /// calls are ignored).
    pub(super) fn share_with(&self, taken: NameTaken) {
        let _ = self.elsewhere.set(taken);
    }

    /// The start of `name` is over: keep the name if it started, else free
    /// it.
    pub(super) fn settle(&self, name: &'static str, started: bool) {
        let mut taken = self.taken.lock();
        if started {
            if let Some(t) = taken.iter_mut().find(|t| t.name == name) {
                t.started = true;
            }
        } else {
            taken.retain(|t| t.name != name);
        }
    }

    /// Whether `name` is taken (started, or its start in flight).
    pub(super) fn is_taken(&self, name: &str) -> bool {
        self.taken.lock().iter().any(|t| t.name == name)
    }

    /// The names of actors and groups that started.
    pub(super) fn taken(&self) -> Vec<&'static str> {
        self.taken
            .lock()
            .iter()
            .filter(|t| t.started)
            .map(|t| t.name)
            .collect()
    }
}

/// Whether `name` can name a user actor.
pub(crate) fn check(name: &str) -> Result<()> {
    let invalid = |reason: &str| {
        Err(Error::InvalidActorName {
            name: name.into(),
            reason: reason.into(),
        })
    };
    if name.trim().is_empty() {
        return invalid("a name must not be empty");
    }
    if name.len() > MAX_NAME_BYTES {
        return invalid(&format!("a name is at most {MAX_NAME_BYTES} bytes"));
    }
    if name.chars().any(char::is_control) {
        return invalid("a name must not contain control characters");
    }
    if RESERVED.contains(&name) {
        return invalid(&format!(
            "{name:?} is one of the runtime's own actors ({})",
            RESERVED.join(", ")
        ));
    }
    Ok(())
}

/// The process-wide `&'static str` for `name`. The trace ring, the slots
/// and the fault plan hold actor names as `&'static str` (recording
/// allocates nothing); a user actor's name is leaked once per distinct
/// name per process, not per actor or orchestrator, so tests that start
/// many orchestrators with the same names leak nothing more.
fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES.get_or_init(Mutex::default).lock();
    if let Some(known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}
