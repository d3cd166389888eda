//! A child's environment: the host's, changed by a task's (or a pool's)
//! `env`, `env_remove` and `env_clear` calls, applied in the order they
//! were made, as `std::process::Command` applies its own.
//!
//! The runtime adds its own variables last ([`apply`]): `TASKORCH_RUN_ID`,
//! and `TRACEPARENT` when the request was made inside a span. A
//! `TRACEPARENT` inherited from the host is always removed otherwise: it
//! names a trace this child is not part of. A task that sets
//! `TRACEPARENT` itself keeps its own.
//!
//! # Spawn speed
//! Changing or clearing the environment keeps the `posix_spawn` path: the
//! standard library falls back to `fork` only for a bare program name with
//! a changed `PATH`, and the runtime always spawns the absolute path it
//! resolved (`process::resolve`).

use std::ffi::OsStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::trace::TRACEPARENT_ENV;

/// One change to the inherited environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnvOp {
    /// Set a variable.
    Set(String, String),
    /// Remove a variable (inherited or set before).
    Remove(String),
    /// Remove every variable: inherited and set before.
    Clear,
}

/// The changes of one task or pool, in order.
pub(crate) type EnvOps = Vec<EnvOp>;

/// The variables `ops` set, in order (what the child gets on top of what
/// it inherits, as far as it is not removed later).
pub(crate) fn set_vars(ops: &[EnvOp]) -> impl Iterator<Item = (&str, &str)> {
    ops.iter().filter_map(|op| match op {
        EnvOp::Set(k, v) => Some((k.as_str(), v.as_str())),
        _ => None,
    })
}

/// What `key` will be in the child as far as `ops` decide it:
/// `Some(Some(v))` set, `Some(None)` removed, `None` inherited unchanged.
pub(crate) fn lookup<'a>(ops: &'a [EnvOp], key: &str) -> Option<Option<&'a OsStr>> {
    ops.iter().rev().find_map(|op| match op {
        EnvOp::Set(k, v) if k == key => Some(Some(OsStr::new(v.as_str()))),
        EnvOp::Remove(k) if k == key => Some(None),
        EnvOp::Clear => Some(None),
        _ => None,
    })
}

/// Check every variable name and value; `owner` says whose they are in the
/// message ("pool p: ").
pub(crate) fn validate(ops: &[EnvOp], owner: &str, error: fn(String) -> Error) -> Result<()> {
    for op in ops {
        let (key, value) = match op {
            EnvOp::Set(k, v) => (k, Some(v)),
            EnvOp::Remove(k) => (k, None),
            EnvOp::Clear => continue,
        };
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            return Err(error(format!(
                "{owner}invalid environment variable name {key:?}"
            )));
        }
        if value.is_some_and(|v| v.contains('\0')) {
            return Err(error(format!(
                "{owner}NUL byte in the value of environment variable {key}"
            )));
        }
    }
    Ok(())
}

/// Apply `ops` to `cmd`, then the runtime's own variables: `extra` (the
/// run id, a pool's names), and `TRACEPARENT` (see the module docs).
pub(crate) fn apply(
    cmd: &mut tokio::process::Command,
    ops: &[EnvOp],
    traceparent: Option<&str>,
    extra: &[(&str, &str)],
) {
    for op in ops {
        match op {
            EnvOp::Set(k, v) => {
                cmd.env(k, v);
            }
            EnvOp::Remove(k) => {
                cmd.env_remove(k);
            }
            EnvOp::Clear => {
                cmd.env_clear();
            }
        }
    }
    if !matches!(lookup(ops, TRACEPARENT_ENV), Some(Some(_))) {
        match traceparent {
            Some(tp) => cmd.env(TRACEPARENT_ENV, tp),
            None => cmd.env_remove(TRACEPARENT_ENV),
        };
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
}

/// On the wire (the durable store, task files) the changes are the list of
/// pairs that plain `env` calls always made, so records written before
/// `env_remove` existed read back unchanged. A removal is the pair
/// `(key, "\0")` and a clear `("\0", "\0")`: no real variable can look like
/// either, since `validate` refuses a NUL byte in names and values.
pub(crate) mod wire {
    use super::*;

    const NUL: &str = "\0";

    pub(crate) fn serialize<S: Serializer>(ops: &[EnvOp], s: S) -> Result<S::Ok, S::Error> {
        let pairs: Vec<(&str, &str)> = ops
            .iter()
            .map(|op| match op {
                EnvOp::Set(k, v) => (k.as_str(), v.as_str()),
                EnvOp::Remove(k) => (k.as_str(), NUL),
                EnvOp::Clear => (NUL, NUL),
            })
            .collect();
        pairs.serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<EnvOps, D::Error> {
        let pairs = Vec::<(String, String)>::deserialize(d)?;
        Ok(pairs
            .into_iter()
            .map(|(k, v)| match (k.as_str(), v.as_str()) {
                (NUL, NUL) => EnvOp::Clear,
                (_, NUL) => EnvOp::Remove(k),
                _ => EnvOp::Set(k, v),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_round_trips_and_reads_plain_pairs() {
        let ops = vec![
            EnvOp::Set("A".into(), "1".into()),
            EnvOp::Clear,
            EnvOp::Remove("B".into()),
            EnvOp::Set("C".into(), String::new()),
        ];
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Holder(#[serde(with = "wire")] EnvOps);
        let json = serde_json::to_string(&Holder(ops.clone())).unwrap();
        assert_eq!(serde_json::from_str::<Holder>(&json).unwrap().0, ops);
        let old: Holder = serde_json::from_str(r#"[["A","1"],["B","2"]]"#).unwrap();
        assert_eq!(
            old.0,
            vec![
                EnvOp::Set("A".into(), "1".into()),
                EnvOp::Set("B".into(), "2".into())
            ]
        );
    }

    #[test]
    fn lookup_follows_the_order_of_the_calls() {
        let ops = vec![
            EnvOp::Set("PATH".into(), "/x".into()),
            EnvOp::Remove("PATH".into()),
        ];
        assert_eq!(lookup(&ops, "PATH"), Some(None));
        let ops = vec![EnvOp::Clear, EnvOp::Set("PATH".into(), "/y".into())];
        assert_eq!(lookup(&ops, "PATH"), Some(Some(OsStr::new("/y"))));
        assert_eq!(lookup(&ops, "HOME"), Some(None));
        assert_eq!(lookup(&[], "HOME"), None);
    }
}
