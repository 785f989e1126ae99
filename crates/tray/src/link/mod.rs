//! The link between the tray process and its window process (`kubewire-window`): a socket only the
//! user can open (a private directory on Unix, an owner-only named pipe on Windows). The window sends
//! [`LinkRequest`]s (the contract's commands, `docs/tray-contract.md`) and receives [`LinkMessage`]s:
//! the reply to each request and the events the tray publishes (`state`, `log`, `focus`). One JSON
//! message per line ([`kubewire_ipc::framing`]).

pub mod server;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

#[cfg(unix)]
pub use unix::{Listener, connect, default_path};
#[cfg(windows)]
pub use windows::{Listener, connect, default_path};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The reading half of a link connection.
pub type ReadHalf = Box<dyn tokio::io::AsyncBufRead + Send + Unpin>;
/// The writing half of a link connection.
pub type WriteHalf = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;

/// The environment variable that overrides where the link listens (tests run several apps).
pub const PATH_ENV: &str = "KUBEWIRE_TRAY_SOCKET";

/// Where the link is: [`PATH_ENV`], else this OS's per-user default.
#[must_use]
pub fn path() -> std::path::PathBuf {
    std::env::var_os(PATH_ENV).map_or_else(default_path, std::path::PathBuf::from)
}

/// Removes the link's socket file at exit (nothing to do for a pipe).
pub fn remove(path: &std::path::Path) {
    if cfg!(unix) {
        let _ = std::fs::remove_file(path);
    }
}

/// A command from the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkRequest {
    /// Echoed in the reply.
    pub id: u64,
    /// The command's name (`connect`, `get_state`, ..., and the link's own `attach`, `open_window`).
    pub cmd: String,
    /// The command's arguments, by name (`{"context": "dev"}`).
    #[serde(default)]
    pub args: Value,
}

/// What the tray sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum LinkMessage {
    /// The answer to request `id`: `ok` with the command's value, or `err` with a `UiError`.
    Reply {
        id: u64,
        #[serde(flatten)]
        result: LinkResult,
    },
    /// An event for the window (`state`, `log`), or `focus`: bring the window to the front.
    Event { name: String, payload: Value },
}

/// A command's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LinkResult {
    Ok(Value),
    Err(Value),
}

/// The event that asks the window to come to the front.
pub const FOCUS: &str = "focus";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_a_stable_shape() -> Result<(), serde_json::Error> {
        let reply = LinkMessage::Reply {
            id: 7,
            result: LinkResult::Ok(serde_json::json!({"phase": "connected"})),
        };
        assert_eq!(
            serde_json::to_value(&reply)?,
            serde_json::json!({"type": "reply", "id": 7, "ok": {"phase": "connected"}})
        );
        let event = LinkMessage::Event {
            name: "state".into(),
            payload: serde_json::json!(1),
        };
        assert_eq!(
            serde_json::to_value(&event)?,
            serde_json::json!({"type": "event", "name": "state", "payload": 1})
        );
        let request: LinkRequest = serde_json::from_str(r#"{"id":1,"cmd":"get_state"}"#)?;
        assert_eq!(request.args, Value::Null);
        let back: LinkMessage = serde_json::from_str(r#"{"type":"reply","id":2,"err":{"title":"x"}}"#)?;
        assert_eq!(
            back,
            LinkMessage::Reply {
                id: 2,
                result: LinkResult::Err(serde_json::json!({"title": "x"}))
            }
        );
        Ok(())
    }
}
