//! The daemon's own check of every Plan it receives (it trusts no client): the core's
//! [`policy::check_received`] against this machine's networks.

use ipnet::IpNet;
use kubewire_core::{Plan, policy};

use crate::error::DaemonError;

/// The Plan after the daemon's own check (the core's [`policy::check_received`]: shape, laptop
/// address, interface name, allow-list, ranges, DNS fields, report sizes), or why it is refused as a
/// whole. Any range the check refuses beyond what the Plan already reports (a default route, a public
/// range outside the allow-list, the laptop's own network…) refuses the whole Plan: nothing is applied.
pub fn check_policy(plan: Plan, local_networks: &[IpNet]) -> Result<Plan, DaemonError> {
    policy::check_received(plan, local_networks).map_err(|e| {
        tracing::warn!(error = %e, "Plan refused");
        DaemonError::PlanRefused(e.to_string())
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use kubewire_core::PublicKey;
    use kubewire_core::testing::PlanBuilder;

    use kubewire_ipc::ErrorCode;

    use super::*;

    pub(crate) fn plan(peers: &[(&str, &str, &[&str])]) -> Plan {
        peers
            .iter()
            .enumerate()
            .fold(PlanBuilder::new("kwdtest0"), |b, (i, (name, endpoint, ips))| {
                b.peer(name, PublicKey::from_bytes([i as u8 + 1; 32]), endpoint, ips, 25)
            })
            .build()
    }

    #[test]
    fn a_clean_plan_passes_unchanged() {
        let p = plan(&[("aws", "192.0.2.10:51820", &["10.4.0.1/32", "10.42.0.0/24"])]);
        let local: Vec<IpNet> = vec!["192.0.2.0/24".parse().unwrap()];
        assert_eq!(check_policy(p.clone(), &local).unwrap(), p);
    }

    #[test]
    fn a_default_route_refuses_the_whole_plan_with_the_reason() {
        let p = plan(&[("aws", "192.0.2.10:51820", &["10.42.0.0/24", "0.0.0.0/0"])]);
        let err = check_policy(p, &[]).unwrap_err();
        assert_eq!(err.code(), ErrorCode::PlanRefused);
        let message = err.to_string();
        assert!(message.contains("0.0.0.0/0"), "{message}");
        assert!(message.contains("default route"), "{message}");
    }

    #[test]
    fn the_laptops_own_network_and_too_broad_ranges_are_refused() {
        let local: Vec<IpNet> = vec!["192.168.1.0/24".parse().unwrap()];
        let p = plan(&[("aws", "192.0.2.10:51820", &["192.168.0.0/16"])]);
        let err = check_policy(p, &local).unwrap_err();
        assert_eq!(err.code(), ErrorCode::PlanRefused);
        assert!(
            err.to_string()
                .contains("overlaps the local network 192.168.1.0/24"),
            "{}",
            err.to_string()
        );
        let p = plan(&[("aws", "192.0.2.10:51820", &["10.0.0.0/7"])]);
        assert_eq!(check_policy(p, &[]).unwrap_err().code(), ErrorCode::PlanRefused);
    }

    #[test]
    fn a_malformed_plan_is_refused() {
        let mut p = plan(&[("aws", "192.0.2.10:51820", &["10.42.0.0/24"])]);
        p.interface.address = "10.4.0.0/24".parse().unwrap();
        let err = check_policy(p, &[]).unwrap_err();
        assert_eq!(err.code(), ErrorCode::PlanRefused);
        assert!(
            err.to_string().contains("not a single address"),
            "{}",
            err.to_string()
        );
    }
}
