//! `--key K` and `--label k=v` of `run`, `stream` and `runs`: parsed and
//! checked by the runtime's own rules (`JobOptions::validate`), so a bad
//! one is refused by the argument parser (exit 2) with the runtime's
//! message (`InvalidKey`, `InvalidLabel`).

use crate::task::JobOptions;

/// A caller's key, as `Task::key` accepts it.
pub(super) fn parse_key(s: &str) -> Result<String, String> {
    let options = JobOptions {
        key: Some(s.to_string()),
        ..JobOptions::default()
    };
    options.validate().map_err(|e| e.to_string())?;
    Ok(s.to_string())
}

/// A label `k=v` (split at the first `=`: a label key has none), as
/// `Task::label` accepts it.
pub(super) fn parse_label(s: &str) -> Result<(String, String), String> {
    let Some((key, value)) = s.split_once('=') else {
        return Err(format!("a label is key=value, not {s:?}"));
    };
    let options = JobOptions {
        labels: [(key.to_string(), value.to_string())].into_iter().collect(),
        ..JobOptions::default()
    };
    options.validate().map_err(|e| e.to_string())?;
    Ok((key.to_string(), value.to_string()))
}
