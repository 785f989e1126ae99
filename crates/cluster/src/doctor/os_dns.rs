//! The cluster's names through this machine's own resolver (`getaddrinfo`, what browsers, curl and
//! every program use), not only through kubewire's: a resolver that answers while the system no
//! longer asks it (NetworkManager or another VPN rewrote the DNS settings) looks healthy in
//! `status` and fails every program.

use std::net::IpAddr;
use std::time::Duration;

use kubewire_core::Plan;
use kubewire_ipc::Status;

use super::report::Report;

pub(crate) const NAME: &str = "DNS through this machine's resolver";
/// How long the lookup may take (glibc's default: 5 s per try).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(6);

/// What the lookup gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup {
    Answered(Vec<IpAddr>),
    Failed(String),
}

/// The name asked for: the cluster DNS Service's own name, which every cluster has.
pub(crate) fn probe_name(zone: &str) -> String {
    format!("kube-dns.kube-system.svc.{zone}")
}

/// Adds the check: connected with split DNS and a Plan that says which zone and server.
pub(crate) async fn check(r: &mut Report, status: &Status, plan: Option<&Plan>) {
    let Some((expected, zone)) = plan.and_then(|p| Some((p.dns.server?, p.dns.zone.as_str()))) else {
        r.skip(NAME, "the cluster DNS address is not known");
        return;
    };
    if status.dns_server.is_none() {
        r.skip(NAME, "kubewire's split DNS is not set up");
        return;
    }
    let name = probe_name(zone);
    let lookup = tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((name.as_str(), 53))).await;
    let lookup = match lookup {
        Ok(Ok(addrs)) => Lookup::Answered(addrs.map(|a| a.ip()).collect()),
        Ok(Err(e)) => Lookup::Failed(e.to_string()),
        Err(_) => Lookup::Failed(format!("no answer within {} s", LOOKUP_TIMEOUT.as_secs())),
    };
    judge(r, &name, expected, &lookup);
}

/// The verdict for one lookup of `name`, which should give `expected` (the kube-dns ClusterIP).
pub(crate) fn judge(r: &mut Report, name: &str, expected: IpAddr, lookup: &Lookup) {
    const FIX: &str = "kubewire's resolver answers, but this machine does not ask it: something rewrote the DNS\n\
                       settings (NetworkManager, another VPN, a hand edit). `kubewire status` shows kubewire's DNS\n\
                       mode; `kubewire disconnect && kubewire connect` sets it up again";
    match lookup {
        Lookup::Answered(addrs) if addrs.contains(&expected) => {
            r.ok(NAME, &format!("{name} → {expected}"));
        }
        Lookup::Answered(addrs) => {
            let got: Vec<String> = addrs.iter().map(ToString::to_string).collect();
            r.fail(
                NAME,
                &format!(
                    "{name} gives {} through this machine's resolver, not the cluster's {expected}: \
                     another resolver answers cluster names",
                    if got.is_empty() {
                        "nothing".to_owned()
                    } else {
                        got.join(", ")
                    }
                ),
                FIX,
            );
        }
        Lookup::Failed(why) => r.fail(
            NAME,
            &format!("{name} does not resolve through this machine's resolver: {why}"),
            FIX,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::report::Outcome;

    fn judged(lookup: Lookup) -> crate::doctor::Check {
        let mut r = Report::default();
        judge(
            &mut r,
            "kube-dns.kube-system.svc.cluster.local",
            "10.43.0.10".parse().unwrap(),
            &lookup,
        );
        r.checks.remove(0)
    }

    #[test]
    fn the_cluster_dns_address_passes_and_anything_else_fails_with_the_fix() {
        let ok = judged(Lookup::Answered(vec!["10.43.0.10".parse().unwrap()]));
        assert_eq!(ok.outcome, Outcome::Pass);
        assert_eq!(ok.detail, "kube-dns.kube-system.svc.cluster.local → 10.43.0.10");

        let other = judged(Lookup::Answered(vec![IpAddr::from([198, 51, 100, 7])]));
        assert_eq!(other.outcome, Outcome::Fail);
        assert!(other.detail.contains("gives 198.51.100.7"), "{}", other.detail);
        assert!(
            other
                .fix
                .as_deref()
                .is_some_and(|f| f.contains("does not ask it"))
        );

        let failed = judged(Lookup::Failed("Name or service not known".into()));
        assert_eq!(failed.outcome, Outcome::Fail);
        assert!(failed.detail.contains("does not resolve"), "{}", failed.detail);
        assert!(failed.detail.contains("Name or service not known"));
    }

    #[test]
    fn the_name_is_the_cluster_dns_services_own() {
        assert_eq!(
            probe_name("corp.internal"),
            "kube-dns.kube-system.svc.corp.internal"
        );
    }
}
