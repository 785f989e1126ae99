//! The lab controller's control socket (`<lab dir>/control.sock`): one JSON request per line, one JSON
//! response per line. `kubewire-lab` commands and tests change the running lab through it.

use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clusters::ClusterId;
use crate::desc::LabDescription;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// The current description.
    Status,
    /// A new node (a new cloud VM joins): namespace, WireGuard, pod, API object, mesh.
    AddNode { name: String, location: String },
    /// A node leaves: its namespaces and API object go.
    RemoveNode { name: String },
    /// A node's public address changes (its WireGuard endpoint follows).
    SetEndpoint { name: String, ip: Ipv4Addr },
    /// Ready (`last-seen` refreshed) or stale (`last-seen` two minutes old: out of the mesh).
    SetReady { name: String, ready: bool },
    /// Annotates `name` as its location's leader (Kilo re-elects).
    SetLeader { name: String },
    /// A ClusterIP Service `namespace/name` at `cluster_ip`, backed by `web`'s pods, with its
    /// Namespace, API objects, kube-proxy rules and DNS records (e.g. a hostile `com/github`).
    AddService {
        namespace: String,
        name: String,
        cluster_ip: Ipv4Addr,
    },
    /// Removes a Service added by `AddService` (and its Namespace when it was the last one there).
    RemoveService { namespace: String, name: String },
    /// Stops the API server (the network stays).
    ApiStop,
    /// Starts it again on the same address, with the same objects.
    ApiStart,
    /// Tears the whole lab down.
    Shutdown,
    /// `request` for cluster `cluster` of a lab with several (`b`); every other request is for `a`.
    InCluster {
        cluster: ClusterId,
        request: Box<Request>,
    },
}

impl Request {
    /// This request for cluster `cluster` (for `a`, the request itself).
    pub fn in_cluster(self, cluster: ClusterId) -> Request {
        if cluster == ClusterId::A {
            return self;
        }
        Request::InCluster {
            cluster,
            request: Box::new(self),
        }
    }

    /// The cluster a request is for, and the request.
    pub fn target(self) -> (ClusterId, Request) {
        match self {
            Request::InCluster { cluster, request } => (cluster, *request),
            other => (ClusterId::A, other),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    pub message: String,
    pub lab: Option<LabDescription>,
}

impl Response {
    pub fn ok(message: impl Into<String>, lab: Option<LabDescription>) -> Self {
        Self {
            ok: true,
            message: message.into(),
            lab,
        }
    }
    pub fn err(message: impl Into<String>) -> Self {
        Self {
            ok: false,
            message: message.into(),
            lab: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the lab is not running (no controller answers at {path}): start it with `cargo xtask lab up`")]
    NotRunning { path: String },
    #[error("talking to the lab controller: {0}")]
    Io(#[from] std::io::Error),
    #[error("the lab controller sent an unreadable answer: {0}")]
    Protocol(#[from] serde_json::Error),
    #[error("{0}")]
    Refused(String),
}

/// Sends one request and waits (up to `timeout`) for the answer; a refusal becomes an error.
pub fn send(socket: &Path, request: &Request, timeout: Duration) -> Result<Response, ControlError> {
    let mut stream = UnixStream::connect(socket).map_err(|_| ControlError::NotRunning {
        path: socket.display().to_string(),
    })?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut line = serde_json::to_string(request)?;
    line.push('\n');
    stream.write_all(line.as_bytes())?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer)?;
    let response: Response = serde_json::from_str(&answer)?;
    if response.ok {
        Ok(response)
    } else {
        Err(ControlError::Refused(response.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_one_readable_json_line() {
        let r = Request::SetEndpoint {
            name: "gcp".into(),
            ip: "192.0.2.50".parse().unwrap(),
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, r#"{"cmd":"set-endpoint","name":"gcp","ip":"192.0.2.50"}"#);
        assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), r);
        let b = r.clone().in_cluster(ClusterId::B);
        let s = serde_json::to_string(&b).unwrap();
        assert_eq!(
            s,
            r#"{"cmd":"in-cluster","cluster":"b","request":{"cmd":"set-endpoint","name":"gcp","ip":"192.0.2.50"}}"#
        );
        assert_eq!(
            serde_json::from_str::<Request>(&s).unwrap().target(),
            (ClusterId::B, r.clone())
        );
        assert_eq!(r.clone().in_cluster(ClusterId::A), r);
    }
}
