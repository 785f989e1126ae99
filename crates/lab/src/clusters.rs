//! Which of the lab's clusters a thing belongs to, and the names that keep the clusters apart.
//!
//! `lab up --clusters 2` builds cluster `a` exactly as a plain `lab up` does and a second cluster `b`
//! with the same pod, service and Kilo ranges and the same cluster domain: two clusters whose ranges
//! overlap, as two real k3s clusters made with the defaults do. What must differ is only what the
//! machine shares: namespace, interface and bridge names (`b-` in front), the nodes' public addresses
//! on the one underlay, the API server's port and the kubeconfig context. Pure: no I/O.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The most clusters one lab holds.
pub const MAX_CLUSTERS: u8 = 2;

/// A cluster of the lab: 0 is `a` (the lab as it always was), 1 is `b`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct ClusterId(u8);

/// A cluster name that is not one of the lab's.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("no cluster named {0:?}: the lab's clusters are a and b (`lab up --clusters 2`)")]
pub struct BadClusterName(pub String);

impl ClusterId {
    /// The first cluster, `a`.
    pub const A: ClusterId = ClusterId(0);
    /// The second cluster, `b`.
    pub const B: ClusterId = ClusterId(1);

    /// The first `count` clusters, `a` first.
    pub fn first(count: u8) -> impl Iterator<Item = ClusterId> {
        (0..count.clamp(1, MAX_CLUSTERS)).map(ClusterId)
    }

    /// 0 for `a`, 1 for `b`.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// `a`, `b`.
    pub fn name(self) -> String {
        char::from(b'a'.saturating_add(self.0)).to_string()
    }

    /// What goes in front of the cluster's node names and its other machine-wide names: nothing for
    /// `a`, `b-` for `b` (so `b`'s nodes are `b-aws`, `b-gcp`, ... and their pods `echo-b-aws`, ...).
    pub fn prefix(self) -> String {
        if self == Self::A {
            String::new()
        } else {
            format!("{}-", self.name())
        }
    }

    /// The kubeconfig context (and its cluster and user): `kubewire-lab`, `kubewire-lab-b`.
    pub fn context(self) -> String {
        if self == Self::A {
            "kubewire-lab".into()
        } else {
            format!("kubewire-lab-{}", self.name())
        }
    }

    /// Where its API server listens on the host (and the laptop namespace reaches it): 127.0.0.1:6443
    /// for `a`, 6444 for `b`.
    pub fn api_addr(self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 6443 + u16::from(self.0))
    }

    /// Its files (cluster DNS configuration and log, CA): the lab directory for `a`, `<dir>/b` for `b`.
    pub fn home(self, lab_dir: &Path) -> PathBuf {
        if self == Self::A {
            lab_dir.to_path_buf()
        } else {
            lab_dir.join(self.name())
        }
    }

    /// The bridge of its location LAN `location_index` in the underlay namespace: `lan0`, `b-lan0`.
    /// The clusters' LANs carry the same addresses, so each cluster has its own.
    pub fn lan_bridge(self, location_index: u8) -> String {
        format!("{}lan{location_index}", self.prefix())
    }

    /// The last octet its nodes' public addresses are first taken from (192.0.2.10 for `a`, as always;
    /// 192.0.2.110 for `b`), so that the clusters' automatic addresses stay apart.
    pub fn underlay_start(self) -> u8 {
        10u8.saturating_add(self.0.saturating_mul(100))
    }
}

impl From<ClusterId> for String {
    fn from(id: ClusterId) -> String {
        id.name()
    }
}

impl TryFrom<String> for ClusterId {
    type Error = BadClusterName;
    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

impl std::str::FromStr for ClusterId {
    type Err = BadClusterName;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ClusterId::first(MAX_CLUSTERS)
            .find(|id| id.name() == name)
            .ok_or_else(|| BadClusterName(name.into()))
    }
}

impl std::fmt::Display for ClusterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keeps_the_labs_names_and_b_gets_its_own() {
        let a = ClusterId::A;
        assert_eq!(
            (a.prefix(), a.context(), a.api_addr().to_string(), a.lan_bridge(0)),
            (
                String::new(),
                "kubewire-lab".into(),
                "127.0.0.1:6443".into(),
                "lan0".into()
            )
        );
        assert_eq!(a.home(Path::new("/lab")), Path::new("/lab"));
        let b: ClusterId = "b".parse().unwrap();
        assert_eq!(
            (b.prefix(), b.context(), b.api_addr().to_string(), b.lan_bridge(3)),
            (
                "b-".into(),
                "kubewire-lab-b".into(),
                "127.0.0.1:6444".into(),
                "b-lan3".into()
            )
        );
        assert_eq!(b.home(Path::new("/lab")), Path::new("/lab/b"));
        assert_eq!(b.underlay_start(), 110);
        assert!("c".parse::<ClusterId>().is_err());
        assert_eq!(ClusterId::first(2).collect::<Vec<_>>(), [a, b]);
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"b\"");
    }
}
