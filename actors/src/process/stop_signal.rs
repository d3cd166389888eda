//! [`StopSignal`]: the polite stop a process group gets before SIGKILL.
//!
//! SIGTERM by default; a service may stop on another one (nginx and
//! PostgreSQL stop gracefully on SIGQUIT / SIGINT, many dev servers only on
//! SIGINT). On Windows there is no polite signal: every stop kills the job.

use serde::{Deserialize, Serialize};

/// The signal that asks a process group to stop; SIGKILL follows after
/// the grace period if the group is still there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum StopSignal {
    /// SIGTERM (the default).
    #[default]
    Term,
    /// SIGINT (what Ctrl-C sends).
    Int,
    /// SIGQUIT.
    Quit,
    /// SIGHUP.
    Hup,
    /// SIGUSR1.
    Usr1,
    /// SIGUSR2.
    Usr2,
}

impl StopSignal {
    /// Every signal, in declaration order.
    pub const ALL: [StopSignal; 6] = [
        StopSignal::Term,
        StopSignal::Int,
        StopSignal::Quit,
        StopSignal::Hup,
        StopSignal::Usr1,
        StopSignal::Usr2,
    ];

    /// The signal's name: `"SIGTERM"`, `"SIGINT"`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            StopSignal::Term => "SIGTERM",
            StopSignal::Int => "SIGINT",
            StopSignal::Quit => "SIGQUIT",
            StopSignal::Hup => "SIGHUP",
            StopSignal::Usr1 => "SIGUSR1",
            StopSignal::Usr2 => "SIGUSR2",
        }
    }
}

impl std::fmt::Display for StopSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for StopSignal {
    type Err = String;

    /// `"SIGINT"`, `"INT"` or `"int"` (case-insensitive, `SIG` optional).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        StopSignal::ALL
            .into_iter()
            .find(|signal| &signal.as_str()[3..] == bare)
            .ok_or_else(|| {
                let known: Vec<&str> = StopSignal::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown stop signal {s:?}; known: {}", known.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_with_or_without_sig_in_any_case() {
        for signal in StopSignal::ALL {
            assert_eq!(signal.as_str().parse::<StopSignal>(), Ok(signal));
            assert_eq!(
                signal.as_str()[3..].to_lowercase().parse::<StopSignal>(),
                Ok(signal)
            );
        }
        assert!(
            "SIGKILL"
                .parse::<StopSignal>()
                .unwrap_err()
                .contains("SIGTERM")
        );
    }
}
