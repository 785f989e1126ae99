//! kube-proxy's job on every node: DNAT of service IPs to their endpoints (random balancing), and
//! masquerading of service traffic that comes from outside the pod range, so replies return through
//! the node the traffic entered (as kube-proxy's iptables mode does). Nodes route the service range
//! to `cni0` so their own connections to a service find a route before the DNAT. Endpoints outside
//! the pod range (a Kilo Peer's address, for Services created through the API) work the same way: a
//! pod's packet is DNATed on its node and routed to the leader that has the Peer; it is not
//! masqueraded (its source is in the pod range), so the Peer sees the pod's address and its reply
//! comes back through the node, whose conntrack undoes the DNAT.

use super::NetError;
use super::cmd::exec_in_with_input;
use crate::model::{POD_RANGE, Service};

const MASQ_MARK: &str = "0x4000/0x4000";

/// The `nat` table for `iptables-restore`: replaces the whole table atomically.
pub fn nat_rules(services: &[Service]) -> String {
    let mut out = String::from("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    out.push_str(":POSTROUTING ACCEPT [0:0]\n:KW-SERVICES - [0:0]\n");
    out.push_str("-A PREROUTING -j KW-SERVICES\n-A OUTPUT -j KW-SERVICES\n");
    out.push_str(&format!(
        "-A POSTROUTING -m mark --mark {MASQ_MARK} -j MASQUERADE\n"
    ));
    for svc in services {
        let Some(ip) = svc.cluster_ip else { continue };
        if svc.endpoints.is_empty() {
            continue;
        }
        for port in &svc.ports {
            let proto = port.protocol.to_lowercase();
            let matcher = format!("-d {ip}/32 -p {proto} -m {proto} --dport {}", port.port);
            out.push_str(&format!(
                "-A KW-SERVICES ! -s {POD_RANGE} {matcher} -j MARK --set-xmark {MASQ_MARK}\n"
            ));
            // Hairpin: a pod reaching itself through the service is masqueraded, as kube-proxy does.
            for (_, ep) in &svc.endpoints {
                out.push_str(&format!(
                    "-A KW-SERVICES -s {ep}/32 {matcher} -j MARK --set-xmark {MASQ_MARK}\n"
                ));
            }
            let n = svc.endpoints.len();
            for (k, (_, ep)) in svc.endpoints.iter().enumerate() {
                let target = format!("-j DNAT --to-destination {ep}:{}", port.target_port);
                let remaining = n - k;
                if remaining > 1 {
                    let p = 1.0 / remaining as f64;
                    out.push_str(&format!(
                        "-A KW-SERVICES {matcher} -m statistic --mode random --probability {p:.5} {target}\n"
                    ));
                } else {
                    out.push_str(&format!("-A KW-SERVICES {matcher} {target}\n"));
                }
            }
        }
    }
    out.push_str("COMMIT\n");
    out
}

/// Installs the service rules in namespace `netns`.
pub fn apply(netns: &str, services: &[Service]) -> Result<(), NetError> {
    exec_in_with_input(netns, "iptables-restore", &[], Some(&nat_rules(services)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServicePort;

    #[test]
    fn balances_over_every_endpoint_and_skips_headless() {
        let web = Service {
            name: "web".into(),
            namespace: "default".into(),
            cluster_ip: Some("10.43.0.80".parse().unwrap()),
            ports: vec![ServicePort::tcp("http", 80)],
            endpoints: vec![
                ("a".into(), "10.42.0.10".parse().unwrap()),
                ("b".into(), "10.42.2.10".parse().unwrap()),
            ],
        };
        let headless = Service {
            name: "echo".into(),
            cluster_ip: None,
            ..web.clone()
        };
        let rules = nat_rules(&[web, headless]);
        assert!(rules.contains("--probability 0.50000 -j DNAT --to-destination 10.42.0.10:80"));
        assert!(rules.contains("--dport 80 -j DNAT --to-destination 10.42.2.10:80"));
        assert_eq!(rules.matches("DNAT").count(), 2);
        assert!(rules.contains("-s 10.42.0.10/32 -d 10.43.0.80/32 -p tcp -m tcp --dport 80 -j MARK"));
        assert!(rules.contains("! -s 10.42.0.0/16 -d 10.43.0.80/32"));
    }
}
