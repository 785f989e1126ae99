//! The resolver's listeners for containers on the laptop: one per container bridge
//! (`container_bridges`), on the bridge's gateway address port 53, answering only the bridge's
//! subnet. Kept in step with the bridges at connect and after every network change (a bridge that
//! appears gets a listener, one that goes or changes address loses it), and all stopped on
//! disconnect, so nothing listens on a bridge while disconnected. A listener that cannot start
//! (the port taken by another resolver on the bridge, e.g. Podman's aardvark-dns) is a warning
//! in the log, never a failure of the connection nor a degraded `status`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use ipnet::Ipv4Net;
use kubewire_dns::{BridgeListener, BridgeStarter, DnsError};

use crate::container_bridges::ContainerBridge;

/// The DNS port containers are pointed at.
pub const PORT: u16 = 53;

/// The listeners by bridge, and why the ones that could not start did not.
#[derive(Debug, Default)]
pub struct ContainerDns {
    listening: BTreeMap<ContainerBridge, BridgeListener>,
    failed: BTreeMap<ContainerBridge, String>,
}

impl ContainerDns {
    /// Listen for exactly `bridges` from now on: new ones started (by `start`: the daemon starts
    /// them on the DNS runtime, [`on_dns_runtime`]), gone or changed ones stopped.
    pub async fn sync<F, Fut>(&mut self, mut start: F, bridges: Vec<ContainerBridge>, port: u16)
    where
        F: FnMut(SocketAddr, Ipv4Net) -> Fut,
        Fut: Future<Output = Result<BridgeListener, DnsError>>,
    {
        let gone: Vec<_> = self
            .listening
            .keys()
            .filter(|b| !bridges.contains(b))
            .cloned()
            .collect();
        for bridge in gone {
            if let Some(l) = self.listening.remove(&bridge) {
                l.stop().await;
                tracing::info!(bridge = %bridge.name, gateway = %bridge.gateway, "container bridge gone: its DNS listener stopped");
            }
        }
        self.failed.retain(|b, _| bridges.contains(b));
        for bridge in bridges {
            if self.listening.contains_key(&bridge) {
                continue;
            }
            let addr = SocketAddr::new(IpAddr::V4(bridge.gateway), port);
            match start(addr, bridge.subnet).await {
                Ok(l) => {
                    tracing::info!(bridge = %bridge.name, listen = %l.local_addr(), subnet = %bridge.subnet, "containers on the bridge can use the laptop's resolver");
                    self.failed.remove(&bridge);
                    self.listening.insert(bridge, l);
                }
                Err(e) => {
                    tracing::warn!(bridge = %bridge.name, error = %e, "cannot answer the bridge's containers");
                    self.failed.insert(bridge, e.to_string());
                }
            }
        }
    }

    /// Where containers can ask (for `status` and `doctor`).
    #[must_use]
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.listening.values().map(BridgeListener::local_addr).collect()
    }

    /// The bridges whose listener could not start, and why (the log has them; part of what
    /// `DnsSession::containers_changed` compares).
    #[must_use]
    pub fn warnings(&self) -> Vec<String> {
        self.failed
            .iter()
            .map(|(b, why)| {
                format!(
                    "containers on {} cannot use the cluster's names: {why} (another DNS server on {}:{PORT}?)",
                    b.name, b.gateway
                )
            })
            .collect()
    }

    /// Stops every listener (disconnect).
    pub async fn stop(&mut self) {
        self.failed.clear();
        for (_, l) in std::mem::take(&mut self.listening) {
            l.stop().await;
        }
    }
}

/// Starts listeners on the DNS runtime (never the daemon's: see `dns_runtime`).
pub fn on_dns_runtime(
    starter: &BridgeStarter,
) -> impl FnMut(
    SocketAddr,
    Ipv4Net,
) -> std::pin::Pin<Box<dyn Future<Output = Result<BridgeListener, DnsError>> + Send>> {
    let starter = starter.clone();
    move |addr, subnet| Box::pin(crate::dns_runtime::listen_bridge(starter.clone(), addr, subnet))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubewire_dns::{ResolverConfig, SplitResolver};
    use std::time::Duration;

    fn bridge(name: &str, gateway: &str, subnet: &str) -> ContainerBridge {
        ContainerBridge {
            name: name.into(),
            gateway: gateway.parse().unwrap(),
            subnet: subnet.parse().unwrap(),
        }
    }

    #[tokio::test]
    async fn listeners_follow_the_bridges_and_all_stop_on_disconnect() {
        let resolver = SplitResolver::start(ResolverConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            zone: "cluster.local".into(),
            cluster_dns: None,
            reverse_ranges: vec![],
            default_namespace: None,
            namespaces: None,
            upstreams: vec![],
            cache: true,
            cluster_timeout: Duration::from_millis(300),
            upstream_timeout: Duration::from_secs(1),
        })
        .await
        .unwrap();
        // On the test's runtime: the DNS runtime is one per process, made in the first caller's
        // network namespace (another test's).
        let s = resolver.bridge_starter();
        let starter = move |a, n| {
            let s = s.clone();
            async move { s.listen(a, n).await }
        };
        let mut set = ContainerDns::default();
        let a = bridge("docker0", "127.81.0.1", "127.81.0.0/16");
        let b = bridge("br-0123456789ab", "127.82.0.1", "127.82.0.0/16");
        set.sync(starter.clone(), vec![a.clone()], 0).await;
        assert_eq!(set.addresses().len(), 1);
        let first = set.addresses()[0];
        set.sync(starter.clone(), vec![a.clone(), b.clone()], 0).await;
        assert_eq!(set.addresses().len(), 2);
        assert!(
            set.addresses().contains(&first),
            "an unchanged bridge keeps its listener"
        );
        set.sync(starter.clone(), vec![b], 0).await;
        assert_eq!(set.addresses().len(), 1);
        assert!(
            std::net::UdpSocket::bind(first).is_ok(),
            "the gone bridge's port is free"
        );
        // A listener that cannot start: a warning naming the bridge, nothing else changes.
        let taken = std::net::UdpSocket::bind("127.83.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let c = bridge("podman0", "127.83.0.1", "127.83.0.0/16");
        set.sync(starter.clone(), vec![c], port).await;
        assert!(set.addresses().is_empty());
        assert!(set.warnings()[0].contains("podman0"), "{:?}", set.warnings());
        set.stop().await;
        assert!(set.addresses().is_empty() && set.warnings().is_empty());
        resolver.stop().await.unwrap();
    }
}
