//! [`CommandSpec`]: a program to start, described once for tasks and pools
//! — the program as the caller named it, its arguments, the changes to the
//! environment it inherits and the directory it runs in — and
//! [`Launch`], the borrowed, resolved form the process layer spawns.
//!
//! `Task` and `PoolSpec` keep their own public builder methods (`arg`,
//! `args`, `env`, `env_remove`, `env_clear`, `current_dir`: the public
//! contract); each is one call to the method of the same name here.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::env::{EnvOp, EnvOps};

/// A program to start: what runs, with what, where.
///
/// On the wire (the durable store) its fields are those the task and the
/// pool spec had before it existed, in the same order: bincode writes a
/// nested struct as its fields, so records written then read back
/// unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CommandSpec {
    /// The program as the caller named it (a bare name is looked up on
    /// `PATH` when the process is spawned).
    pub(crate) program: String,
    pub(crate) args: Vec<String>,
    /// Changes to the inherited environment, in order.
    #[serde(with = "crate::env::wire")]
    pub(crate) env: EnvOps,
    /// Named as the builder method that sets it, on the wire too.
    #[serde(rename = "current_dir")]
    pub(crate) dir: Option<PathBuf>,
}

impl CommandSpec {
    /// `program`, with no arguments, the inherited environment and the
    /// current directory.
    pub(crate) fn new(program: String) -> Self {
        CommandSpec {
            program,
            args: Vec::new(),
            env: Vec::new(),
            dir: None,
        }
    }

    pub(crate) fn arg(&mut self, arg: impl Into<String>) {
        self.args.push(arg.into());
    }

    pub(crate) fn args<I, S>(&mut self, args: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
    }

    pub(crate) fn env(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.env.push(EnvOp::Set(key.into(), value.into()));
    }

    pub(crate) fn env_remove(&mut self, key: impl Into<String>) {
        self.env.push(EnvOp::Remove(key.into()));
    }

    pub(crate) fn env_clear(&mut self) {
        self.env.push(EnvOp::Clear);
    }

    pub(crate) fn current_dir(&mut self, dir: impl Into<PathBuf>) {
        self.dir = Some(dir.into());
    }

    /// The working directory, if set.
    pub(crate) fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// What the process layer spawns: this command with its program
    /// resolved to `program` (an absolute path).
    pub(crate) fn launch<'a>(&'a self, program: &'a Path) -> Launch<'a> {
        Launch {
            program,
            display: &self.program,
            args: &self.args,
            env: &self.env,
            dir: self.dir(),
        }
    }
}

/// A command as the process layer spawns it: resolved, borrowed from its
/// description.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Launch<'a> {
    /// Absolute path of the program.
    pub(crate) program: &'a Path,
    /// The program as the caller named it (for errors).
    pub(crate) display: &'a str,
    pub(crate) args: &'a [String],
    /// Changes to the inherited environment, in order.
    pub(crate) env: &'a [EnvOp],
    pub(crate) dir: Option<&'a Path>,
}
