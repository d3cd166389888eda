//! Short run ids. Run ids are UUIDv7s: the ids of one session share their
//! first 13 hex digits (the clock), so a prefix does not tell them apart,
//! but the end is random. A run is named by a unique suffix of its 32 hex
//! digits, dashes ignored (as `docker` and `pueue` accept short ids):
//! `taskorch runs` prints the shortest unique suffix of at least
//! `SHOWN` digits (8), and every command that takes a run id accepts any
//! unique suffix of at least [`MIN`] digits, or the full id.

use crate::RunId;

use super::CliError;

pub(super) use crate::server::run_json::{MIN, short};
use crate::server::run_json::{is_short_form, matching};

/// A run id as typed: the full id, or a short one. Checks the form only
/// (clap's value parser): which run it names is [`resolve`]'s job.
pub(super) fn parse(text: &str) -> Result<String, String> {
    if text.parse::<RunId>().is_ok() || is_short_form(text) {
        Ok(text.trim().to_string())
    } else {
        Err(format!(
            "not a run id: give the full id or its last {MIN} or more hex digits \
             (as `taskorch runs` prints them)"
        ))
    }
}

/// The run `text` names among `all`: the full id as it is (an unknown one
/// is reported by the read), a suffix if exactly one id ends with it.
///
/// # Errors
/// `UnknownRun` when no id ends with it; `Usage` (exit 2) listing the
/// candidates when several do.
pub(super) fn resolve(text: &str, all: &[RunId]) -> Result<RunId, CliError> {
    if let Ok(id) = text.parse::<RunId>() {
        return Ok(id);
    }
    let matches = matching(text, all);
    match matches.as_slice() {
        [] => Err(CliError::UnknownRun(text.to_string())),
        [one] => Ok(*one),
        many => {
            let list: Vec<String> = many.iter().map(|id| format!("  {id}")).collect();
            Err(CliError::Usage(format!(
                "run id {text} is ambiguous: {} runs end with it; give more digits:\n{}",
                many.len(),
                list.join("\n")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> RunId {
        text.parse().unwrap()
    }

    #[test]
    fn short_ids_grow_until_unique() {
        let a = id("0190a5c4-7d1e-7cc0-9a55-2f6c1f0e4b11");
        let b = id("0190a5c4-7d1e-7cc0-9a55-2f6c2f0e4b11");
        let c = id("0190a5c4-7d1e-7cc0-9a55-2f6c1f0e4b22");
        let all = [a, b, c];
        assert_eq!(short(a, &all), "1f0e4b11");
        assert_eq!(short(b, &all), "2f0e4b11");
        assert_eq!(short(c, &all), "1f0e4b22");
        let clash = id("0190a5c4-7d1e-7cc0-9a55-2f6d1f0e4b11");
        assert_eq!(short(a, &[a, clash]), "c1f0e4b11");
        assert_eq!(resolve("1f0e4b11", &all).unwrap(), a);
        assert_eq!(resolve("F0E4B22", &all).unwrap(), c);
        assert!(matches!(resolve("0e4b11", &all), Err(CliError::Usage(_))));
        assert!(matches!(
            resolve("abcdef", &all),
            Err(CliError::UnknownRun(_))
        ));
        assert!(parse("4b11").is_err() && parse("nope!!").is_err());
    }
}
