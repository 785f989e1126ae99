//! Errors as users see them: what went wrong, and what to do about it. The CLI prints the two on
//! their own lines, `doctor` puts them in its problem and fix columns, the tray in its error card;
//! none of them takes an error's text apart.

use crate::client::ClientError;

/// What went wrong and, where there is one, what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// What went wrong (no fix in it).
    pub what: String,
    /// What to do, a sentence starting with a capital letter.
    pub fix: Option<String>,
}

impl Problem {
    /// A problem with a fix.
    #[must_use]
    pub fn with_fix(what: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            fix: Some(fix.into()),
        }
    }

    /// A problem without a known fix.
    #[must_use]
    pub fn bare(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            fix: None,
        }
    }
}

impl std::fmt::Display for Problem {
    /// The problem, then the fix: `what. Fix`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.fix {
            Some(fix) => write!(f, "{}. {fix}", self.what),
            None => f.write_str(&self.what),
        }
    }
}

/// The daemon's log, where a failure without its own fix is explained.
pub const DAEMON_LOG_FIX: &str =
    "Check the kubewire daemon's log (`journalctl -u kubewired -n 50`), then try again.";

impl ClientError {
    /// What went wrong and what to do. The error's text (`Display`) is the two together (for the
    /// variants with a fix, it is made from this).
    #[must_use]
    pub fn problem(&self) -> Problem {
        match self {
            Self::NotRunning { socket } => Problem::with_fix(
                format!("the kubewire daemon is not running (nothing listens at {socket})"),
                "Start it: `sudo systemctl start kubewired` (or run `sudo kubewired` in a terminal)",
            ),
            Self::PermissionDenied { socket } => Problem::with_fix(
                format!("you may not use the kubewire daemon at {socket}"),
                "Add yourself to the `kubewire` group (`sudo usermod -aG kubewire $USER`, then log in again)",
            ),
            Self::NoAnswer { secs } => Problem::with_fix(
                format!("the kubewire daemon did not answer within {secs} s: it may be stuck"),
                "Restart it: `sudo systemctl restart kubewired`",
            ),
            Self::Frame(_) | Self::Closed | Self::Daemon { .. } | Self::Unexpected => {
                Problem::bare(self.to_string())
            }
        }
    }

    /// What to do, if there is something.
    #[must_use]
    pub fn fix(&self) -> Option<String> {
        self.problem().fix
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::ErrorCode;

    /// The error's text says the problem and then the fix (its first letter in either case).
    pub(crate) fn assert_text_is_problem_and_fix(text: &str, problem: &Problem) {
        assert!(text.starts_with(&problem.what), "{text:?} vs {problem:?}");
        if let Some(fix) = &problem.fix {
            let tail = &fix[1..];
            assert!(text.ends_with(tail), "{text:?} vs {problem:?}");
            assert!(fix.starts_with(char::is_uppercase), "{fix}");
        }
    }

    #[test]
    fn every_client_error_splits_into_its_problem_and_fix() {
        let socket = "/run/kubewire/kubewired.sock".to_owned();
        for e in [
            ClientError::NotRunning {
                socket: socket.clone(),
            },
            ClientError::PermissionDenied { socket },
            ClientError::NoAnswer { secs: 30 },
            ClientError::Closed,
            ClientError::Unexpected,
            ClientError::Daemon {
                code: ErrorCode::NotOwner,
                message: "the tunnel belongs to uid 1001".into(),
            },
        ] {
            assert_text_is_problem_and_fix(&e.to_string(), &e.problem());
        }
    }

    #[test]
    fn the_group_fix_keeps_its_first_word() {
        let e = ClientError::PermissionDenied {
            socket: "/run/kubewire/kubewired.sock".into(),
        };
        assert_eq!(
            e.fix().as_deref(),
            Some(
                "Add yourself to the `kubewire` group (`sudo usermod -aG kubewire $USER`, then log in again)"
            )
        );
        assert_eq!(
            e.problem().what,
            "you may not use the kubewire daemon at /run/kubewire/kubewired.sock"
        );
    }
}
