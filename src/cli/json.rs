//! `--json` output of the read commands, one shape everywhere: a run is
//! the same object in `runs --json` (an array of them) and `show --json`.
//! Times are RFC 3339 strings in UTC (`2026-12-07T20:41:00.123456Z`),
//! durations are seconds as numbers (`1.25`), ids are the full id plus
//! `short_id`, the suffix `runs` prints (see `ids`). Not serde's default
//! forms for `SystemTime` and `Duration`, which no script wants to read.

use std::time::SystemTime;

use serde::Serialize;

use crate::OutputLine;

pub(super) use crate::server::run_json::{Run, seconds, time};

/// One line of `logs --json --timestamps`: the line's own fields, and
/// when it was captured (`null` when the store has no time for it).
#[derive(Debug, Serialize)]
pub(super) struct Line<'a> {
    #[serde(flatten)]
    line: &'a OutputLine,
    time: Option<String>,
}

impl<'a> Line<'a> {
    pub(super) fn new(line: &'a OutputLine, time: Option<SystemTime>) -> Self {
        Line {
            line,
            time: time.map(self::time),
        }
    }
}
