//! Diagnostics: what the planner wants a human to know, as data (the Plan carries them; the CLI prints
//! them on stderr). Each names the object and, when there is one, the annotation or field.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The kind of object a diagnostic, a refusal or a skipped item is about.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    /// A Kubernetes Node.
    Node,
    /// A Kilo `Peer` (`peers.kilo.squat.ai`).
    Peer,
    /// A Kubernetes Service (`namespace/name`).
    Service,
    /// A setting or local fact given to the planner (a CLI flag, a daemon setting).
    Setting,
    /// The snapshot as a whole.
    Snapshot,
    /// A Kubernetes Namespace.
    Namespace,
}

/// One object: its kind and name (`namespace/name` for Services).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct ObjectRef {
    /// What kind of object.
    pub kind: ObjectKind,
    /// Its name.
    pub name: String,
}

impl ObjectRef {
    /// A Node by name.
    pub fn node(name: impl Into<String>) -> Self {
        Self {
            kind: ObjectKind::Node,
            name: name.into(),
        }
    }
    /// A Kilo Peer by name.
    pub fn peer(name: impl Into<String>) -> Self {
        Self {
            kind: ObjectKind::Peer,
            name: name.into(),
        }
    }
    /// A Service by namespace and name.
    #[must_use]
    pub fn service(namespace: &str, name: &str) -> Self {
        Self {
            kind: ObjectKind::Service,
            name: format!("{namespace}/{name}"),
        }
    }
    /// A setting by its name (e.g. `service-cidr`).
    pub fn setting(name: impl Into<String>) -> Self {
        Self {
            kind: ObjectKind::Setting,
            name: name.into(),
        }
    }
    /// A Namespace by name.
    pub fn namespace(name: impl Into<String>) -> Self {
        Self {
            kind: ObjectKind::Namespace,
            name: name.into(),
        }
    }
    /// The snapshot as a whole.
    #[must_use]
    pub fn snapshot() -> Self {
        Self {
            kind: ObjectKind::Snapshot,
            name: String::new(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ObjectKind::Node => "node",
            ObjectKind::Peer => "peer",
            ObjectKind::Service => "service",
            ObjectKind::Setting => "setting",
            ObjectKind::Snapshot => "snapshot",
            ObjectKind::Namespace => "namespace",
        };
        if self.name.is_empty() {
            f.write_str(kind)
        } else {
            write!(f, "{kind}/{}", self.name)
        }
    }
}

/// A warning about one object: an invalid annotation, a conflict, a fallback taken.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Diagnostic {
    /// The object it is about.
    pub object: ObjectRef,
    /// The annotation or field, e.g. `kilo.squat.ai/endpoint` or `spec.allowedIPs[1]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong and what was done about it.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic about a field (annotation) of an object.
    pub fn field(object: ObjectRef, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            object,
            field: Some(field.into()),
            message: message.into(),
        }
    }
    /// A diagnostic about an object as a whole.
    pub fn object(object: ObjectRef, message: impl Into<String>) -> Self {
        Self {
            object,
            field: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}: {field}: {}", self.object, self.message),
            None => write!(f, "{}: {}", self.object, self.message),
        }
    }
}
