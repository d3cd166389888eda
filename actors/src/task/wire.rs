//! A [`Task`] on the wire (the durable store with bincode, task files and
//! the CLI with JSON): the form it had before its command moved into a
//! `CommandSpec`, field for field and in the same order, so every record
//! and file written before reads back, and what is written now reads in an
//! older release. `inherit_stdin` and `tee` are not on the wire (see
//! `Task`).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Backoff, Task, TaskKind};
use crate::breaker::BreakerSpec;
use crate::command::CommandSpec;
use crate::env::{EnvOp, EnvOps};

/// The kind as it was stored: a command carried its program and arguments.
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum KindOut<'a> {
    Command {
        program: &'a str,
        args: &'a [String],
    },
    Shell {
        script: &'a str,
    },
    Action {
        name: &'a str,
        #[serde(serialize_with = "json_in_binary::serialize")]
        input: &'a serde_json::Value,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum KindIn {
    Command {
        program: String,
        args: Vec<String>,
    },
    Shell {
        script: String,
    },
    Action {
        name: String,
        #[serde(deserialize_with = "json_in_binary::deserialize")]
        input: serde_json::Value,
    },
}

#[derive(Serialize)]
struct TaskOut<'a> {
    kind: KindOut<'a>,
    #[serde(serialize_with = "env_out")]
    env: &'a [EnvOp],
    current_dir: &'a Option<PathBuf>,
    stdin: &'a Option<Vec<u8>>,
    name: &'a Option<String>,
    timeout: &'a Option<Duration>,
    retries: u32,
    backoff: &'a Backoff,
    max_output: &'a Option<usize>,
    stray_args: bool,
    breaker: &'a Option<BreakerSpec>,
}

#[derive(Deserialize)]
struct TaskIn {
    kind: KindIn,
    #[serde(with = "crate::env::wire")]
    env: EnvOps,
    current_dir: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    name: Option<String>,
    timeout: Option<Duration>,
    retries: u32,
    backoff: Backoff,
    max_output: Option<usize>,
    stray_args: bool,
    breaker: Option<BreakerSpec>,
}

fn env_out<S: Serializer>(ops: &&[EnvOp], s: S) -> Result<S::Ok, S::Error> {
    crate::env::wire::serialize(ops, s)
}

impl Serialize for Task {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let command = &self.command;
        let kind = match &self.kind {
            TaskKind::Command => KindOut::Command {
                program: &command.program,
                args: &command.args,
            },
            TaskKind::Shell { script } => KindOut::Shell { script },
            TaskKind::Action { name, input } => KindOut::Action { name, input },
        };
        TaskOut {
            kind,
            env: &command.env,
            current_dir: &command.dir,
            stdin: &self.stdin,
            name: &self.name,
            timeout: &self.timeout,
            retries: self.retries,
            backoff: &self.backoff,
            max_output: &self.max_output,
            stray_args: self.stray_args,
            breaker: &self.breaker,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Task {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = TaskIn::deserialize(d)?;
        let (kind, program, args) = match wire.kind {
            KindIn::Command { program, args } => (TaskKind::Command, program, args),
            KindIn::Shell { script } => (TaskKind::Shell { script }, String::new(), Vec::new()),
            KindIn::Action { name, input } => {
                (TaskKind::Action { name, input }, String::new(), Vec::new())
            }
        };
        Ok(Task {
            kind,
            command: CommandSpec {
                program,
                args,
                env: wire.env,
                dir: wire.current_dir,
            },
            stdin: wire.stdin,
            inherit_stdin: false,
            tee: None,
            name: wire.name,
            timeout: wire.timeout,
            retries: wire.retries,
            backoff: wire.backoff,
            max_output: wire.max_output,
            stray_args: wire.stray_args,
            breaker: wire.breaker,
            // Not in this form: the store keeps them beside the run.
            job: super::JobOptions::default(),
        })
    }
}

/// Action inputs in binary formats: a `serde_json::Value` needs a
/// self-describing format to be read back, which bincode (the durable
/// store's codec) is not. There the value travels as its JSON text; in
/// human-readable formats (JSON, TOML) it stays the value it is, so task
/// files look the same as ever.
mod json_in_binary {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::Value;

    pub(super) fn serialize<S: Serializer>(value: &Value, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            value.serialize(s)
        } else {
            s.serialize_str(&value.to_string())
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        if d.is_human_readable() {
            Value::deserialize(d)
        } else {
            let text = String::deserialize(d)?;
            serde_json::from_str(&text).map_err(serde::de::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Task` as it was declared (and derived) before `CommandSpec`: what
    /// stores and task files written by earlier releases hold.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum OldKind {
        Command {
            program: String,
            args: Vec<String>,
        },
        Shell {
            script: String,
        },
        Action {
            name: String,
            #[serde(with = "json_in_binary")]
            input: serde_json::Value,
        },
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct OldTask {
        kind: OldKind,
        #[serde(with = "crate::env::wire")]
        env: EnvOps,
        current_dir: Option<PathBuf>,
        stdin: Option<Vec<u8>>,
        name: Option<String>,
        timeout: Option<Duration>,
        retries: u32,
        backoff: Backoff,
        max_output: Option<usize>,
        stray_args: bool,
        breaker: Option<BreakerSpec>,
    }

    fn old(kind: OldKind) -> OldTask {
        OldTask {
            kind,
            env: vec![
                EnvOp::Set("K".into(), "V".into()),
                EnvOp::Remove("R".into()),
                EnvOp::Clear,
            ],
            current_dir: Some("/srv".into()),
            stdin: Some(b"in".to_vec()),
            name: Some("n".into()),
            timeout: Some(Duration::from_secs(3)),
            retries: 2,
            backoff: Backoff::fixed(Duration::from_millis(5)),
            max_output: Some(64),
            stray_args: false,
            breaker: None,
        }
    }

    fn new_form(task: Task) -> Task {
        task.env("K", "V")
            .env_remove("R")
            .env_clear()
            .current_dir("/srv")
            .stdin(b"in".to_vec())
            .name("n")
            .timeout(Duration::from_secs(3))
            .retries(2)
            .backoff(Backoff::fixed(Duration::from_millis(5)))
            .max_output(64)
    }

    fn bincode<T: Serialize>(value: &T) -> Vec<u8> {
        bincode::serde::encode_to_vec(value, bincode::config::standard()).unwrap()
    }

    fn unbincode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> T {
        bincode::serde::decode_from_slice(bytes, bincode::config::standard())
            .unwrap()
            .0
    }

    #[test]
    fn every_kind_keeps_the_old_wire_form_in_bincode_and_json() {
        let pairs = [
            (
                old(OldKind::Command {
                    program: "rsync".into(),
                    args: vec!["-a".into(), "src/".into()],
                }),
                new_form(Task::command("rsync").args(["-a", "src/"])),
            ),
            (
                old(OldKind::Shell {
                    script: "echo hi".into(),
                }),
                new_form(Task::shell("echo hi")),
            ),
            (
                old(OldKind::Action {
                    name: "resize".into(),
                    input: serde_json::json!({"w": 640}),
                }),
                new_form(Task::action("resize", serde_json::json!({"w": 640}))),
            ),
        ];
        for (old, new) in pairs {
            let bytes = bincode(&old);
            assert_eq!(bincode(&new), bytes, "{new:?}");
            assert_eq!(unbincode::<Task>(&bytes), new);
            assert_eq!(unbincode::<OldTask>(&bincode(&new)), old);
            let json = serde_json::to_value(&old).unwrap();
            assert_eq!(serde_json::to_value(&new).unwrap(), json);
            assert_eq!(serde_json::from_value::<Task>(json).unwrap(), new);
        }
    }

    #[test]
    fn stray_arguments_are_not_stored_but_their_mark_is() {
        let task = Task::shell("true").arg("x");
        let back: Task = unbincode(&bincode(&task));
        assert_eq!(back, task);
        assert!(back.validate().is_err());
    }
}
