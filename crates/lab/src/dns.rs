//! The cluster DNS (k3s's CoreDNS at 10.43.0.10) as the lab serves it: unbound with the cluster zone
//! generated from the Services and their endpoints: A, headless A (one per endpoint, plus per-pod
//! hostnames), SRV per named port, pod A records, and PTR for service and endpoint addresses.
//! Other names are refused (the lab has no internet); every query is logged for tests.

use std::fmt::Write as _;
use std::path::Path;

use crate::model::{CLUSTER_DOMAIN, Service};

/// Record TTL, as CoreDNS's kubernetes plugin.
pub const TTL: u32 = 5;

/// The cluster zone's records, as unbound `local-data` lines.
pub fn records(services: &[Service]) -> Vec<String> {
    let zone = CLUSTER_DOMAIN;
    let mut out = Vec::new();
    for svc in services {
        let fqdn = format!("{}.{}.svc.{zone}.", svc.name, svc.namespace);
        let targets: Vec<String> = match svc.cluster_ip {
            Some(ip) => {
                out.push(format!("{fqdn} {TTL} IN A {ip}"));
                out.push(format!("PTR:{ip} {fqdn}"));
                vec![fqdn.clone()]
            }
            None => svc
                .endpoints
                .iter()
                .map(|(pod, ip)| {
                    let host = format!("{pod}.{fqdn}");
                    out.push(format!("{fqdn} {TTL} IN A {ip}"));
                    out.push(format!("{host} {TTL} IN A {ip}"));
                    out.push(format!("PTR:{ip} {host}"));
                    host
                })
                .collect(),
        };
        for port in &svc.ports {
            let proto = port.protocol.to_lowercase();
            for target in &targets {
                out.push(format!(
                    "_{}._{proto}.{fqdn} {TTL} IN SRV 0 100 {} {target}",
                    port.name, port.port
                ));
            }
        }
        for (_, ip) in &svc.endpoints {
            let dashed = ip.to_string().replace('.', "-");
            let pod = format!("{dashed}.{}.pod.{zone}. {TTL} IN A {ip}", svc.namespace);
            if !out.contains(&pod) {
                out.push(pod);
            }
        }
    }
    out
}

/// The cluster zone's SOA (CoreDNS answers NXDOMAIN/NODATA with one; its minimum is the negative
/// TTL).
pub fn soa(zone: &str) -> String {
    format!(
        "{zone}. {TTL} IN SOA ns.dns.{CLUSTER_DOMAIN}. hostmaster.{CLUSTER_DOMAIN}. 1 7200 1800 86400 {TTL}"
    )
}

/// The "internet" names the lab's ISP resolver serves.
pub const ISP_RECORDS: &[&str] = &[
    "example.test. 300 IN A 198.51.100.10",
    "www.example.test. 300 IN A 198.51.100.11",
];

/// The `server:` clause both lab resolvers share: every address on port 53 of their namespace, no
/// recursion (`root` is what the root zone does: `static` answers NXDOMAIN, `refuse` REFUSED), every
/// query and reply logged to `<dir>/queries.log`.
fn unbound_server(dir: &Path, root: &str) -> String {
    let mut out = String::from("server:\n");
    for line in [
        "interface: 0.0.0.0",
        "port: 53",
        "do-ip6: no",
        "access-control: 0.0.0.0/0 allow",
        "username: \"\"",
        "chroot: \"\"",
        "pidfile: \"\"",
        "use-syslog: no",
        "log-queries: yes",
        "log-replies: yes",
        "verbosity: 0",
        "module-config: \"iterator\"",
        "do-not-query-localhost: yes",
    ] {
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(out, "  local-zone: \".\" {root}");
    let _ = writeln!(out, "  directory: \"{}\"", dir.display());
    let _ = writeln!(out, "  logfile: \"{}\"", dir.join("queries.log").display());
    out
}

/// unbound's configuration for the lab's ISP resolver (the laptop's original nameserver): a few
/// "internet" names, NXDOMAIN for the rest, every query logged to `<dir>/queries.log`.
pub fn isp_unbound_conf(dir: &Path) -> String {
    let mut out = unbound_server(dir, "static");
    let _ = writeln!(
        out,
        "  local-data: \". 300 IN SOA ns.example.test. hostmaster.example.test. 1 7200 1800 86400 30\""
    );
    for record in ISP_RECORDS {
        let _ = writeln!(out, "  local-data: \"{record}\"");
    }
    out
}

/// unbound's configuration for the DNS pod. `dir` holds the query log.
pub fn unbound_conf(dir: &Path, services: &[Service]) -> String {
    let mut out = unbound_server(dir, "refuse");
    for zone in [CLUSTER_DOMAIN, "42.10.in-addr.arpa", "43.10.in-addr.arpa"] {
        let _ = writeln!(out, "  local-zone: \"{zone}.\" static");
        let _ = writeln!(out, "  local-data: \"{}\"", soa(zone));
    }
    for record in records(services) {
        match record.strip_prefix("PTR:") {
            Some(ptr) => {
                let _ = writeln!(out, "  local-data-ptr: \"{ptr}\"");
            }
            None => {
                let _ = writeln!(out, "  local-data: \"{record}\"");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Cluster, LabSpec};

    #[test]
    fn records_cover_services_headless_srv_and_ptr() {
        let mut i = 0;
        let c = Cluster::new(&LabSpec::default(), || {
            i += 1;
            (format!("k{i}"), format!("p{i}"))
        })
        .unwrap();
        let r = records(&c.services());
        assert!(r.contains(&"web.default.svc.cluster.local. 5 IN A 10.43.0.80".to_string()));
        assert!(
            r.contains(
                &"_http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local."
                    .to_string()
            )
        );
        assert_eq!(
            r.iter()
                .filter(|l| l.starts_with("echo.default.svc.cluster.local. 5 IN A"))
                .count(),
            4
        );
        assert!(r.contains(&"PTR:10.42.0.10 echo-aws.echo.default.svc.cluster.local.".to_string()));
        assert!(r.contains(&"kube-dns.kube-system.svc.cluster.local. 5 IN A 10.43.0.10".to_string()));
        assert!(r.contains(&"10-42-0-10.default.pod.cluster.local. 5 IN A 10.42.0.10".to_string()));
        let conf = unbound_conf(Path::new("/tmp/x"), &c.services());
        assert!(
            conf.contains("cluster.local. 5 IN SOA ns.dns.cluster.local."),
            "{conf}"
        );
        let isp = isp_unbound_conf(Path::new("/tmp/isp"));
        assert!(isp.contains("www.example.test. 300 IN A"), "{isp}");
        assert!(isp.contains("/tmp/isp/queries.log"), "{isp}");
    }

    /// Both resolvers' configurations are ones unbound accepts (where unbound is installed: the lab
    /// needs it, and `cargo xtask setup` installs it).
    #[test]
    fn unbound_accepts_both_configurations() {
        if std::process::Command::new("unbound-checkconf")
            .arg("-h")
            .output()
            .is_err()
        {
            assert!(
                std::env::var_os("KUBEWIRE_TESTS_STRICT").is_none(),
                "unbound-checkconf is missing: run `cargo xtask setup`"
            );
            return;
        }
        let c = Cluster::new(&LabSpec::default(), || ("k".into(), "p".into())).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (name, conf) in [
            ("cluster.conf", unbound_conf(dir.path(), &c.services())),
            ("isp.conf", isp_unbound_conf(dir.path())),
        ] {
            let file = dir.path().join(name);
            std::fs::write(&file, &conf).unwrap();
            let out = std::process::Command::new("unbound-checkconf")
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{name}: {}{}\n{conf}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
