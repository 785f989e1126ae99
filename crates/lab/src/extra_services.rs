//! Services a test adds to the running lab (`kubewire-lab service add NS NAME IP`), for instance the
//! hostile `com/github` that makes the cluster DNS answer `github.com.svc.cluster.local`. Each is a
//! ClusterIP Service backed by the pods of `default/web`: it gets kube-proxy rules, DNS records and
//! API objects (and its Namespace) like the lab's own Services.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::model::{Cluster, ModelError, SERVICE_CIDR, Service, ServicePort};

/// A Service added to the running lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraService {
    pub namespace: String,
    pub name: String,
    pub cluster_ip: Ipv4Addr,
}

/// A DNS-1123 label (namespace and Service names).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

impl Cluster {
    /// Adds `namespace/name` at `cluster_ip` (in the service CIDR, not taken).
    pub fn add_service(
        &mut self,
        namespace: &str,
        name: &str,
        cluster_ip: Ipv4Addr,
    ) -> Result<(), ModelError> {
        for n in [namespace, name] {
            if !valid_name(n) {
                return Err(ModelError::BadServiceName(n.into()));
            }
        }
        let services = self.services();
        if services
            .iter()
            .any(|s| s.namespace == namespace && s.name == name)
        {
            return Err(ModelError::ServiceExists(format!("{namespace}/{name}")));
        }
        let taken = services.iter().any(|s| s.cluster_ip == Some(cluster_ip));
        if taken || !SERVICE_CIDR.contains(&cluster_ip) {
            return Err(ModelError::BadServiceIp(cluster_ip));
        }
        self.extra_services.push(ExtraService {
            namespace: namespace.into(),
            name: name.into(),
            cluster_ip,
        });
        Ok(())
    }

    /// Removes a Service added by [`Cluster::add_service`].
    pub fn remove_service(&mut self, namespace: &str, name: &str) -> Result<ExtraService, ModelError> {
        let at = self
            .extra_services
            .iter()
            .position(|s| s.namespace == namespace && s.name == name)
            .ok_or_else(|| ModelError::NoSuchService(format!("{namespace}/{name}")))?;
        Ok(self.extra_services.remove(at))
    }

    /// The added Services, as the lab serves them: backed by `web`'s pods.
    pub(crate) fn extra(&self, web: &Service) -> Vec<Service> {
        self.extra_services
            .iter()
            .map(|e| Service {
                name: e.name.clone(),
                namespace: e.namespace.clone(),
                cluster_ip: Some(e.cluster_ip),
                ports: vec![ServicePort::tcp("http", 80)],
                endpoints: web.endpoints.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LabSpec;

    #[test]
    fn an_added_service_is_served_like_the_labs_own_and_can_go_again() {
        let mut c = Cluster::new(&LabSpec::default(), || ("k".into(), "p".into())).unwrap();
        let ip = Ipv4Addr::new(10, 43, 0, 66);
        c.add_service("com", "github", ip).unwrap();
        let github = c
            .services()
            .into_iter()
            .find(|s| s.namespace == "com" && s.name == "github")
            .unwrap();
        assert_eq!(github.cluster_ip, Some(ip));
        assert!(!github.endpoints.is_empty());
        let records = crate::dns::records(&c.services());
        assert!(records.contains(&"github.com.svc.cluster.local. 5 IN A 10.43.0.66".to_string()));
        assert_eq!(
            c.add_service("com", "github", Ipv4Addr::new(10, 43, 0, 67)),
            Err(ModelError::ServiceExists("com/github".into()))
        );
        assert!(c.add_service("x", "y", ip).is_err(), "address taken");
        assert!(
            c.add_service("x", "y", Ipv4Addr::new(10, 44, 0, 1)).is_err(),
            "outside the CIDR"
        );
        assert!(c.add_service("Com", "y", Ipv4Addr::new(10, 43, 0, 68)).is_err());
        c.remove_service("com", "github").unwrap();
        assert!(c.services().iter().all(|s| s.namespace != "com"));
        assert!(c.remove_service("com", "github").is_err());
    }
}
