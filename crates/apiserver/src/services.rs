//! Services like kube-apiserver admits them: defaulting (type, ports), ClusterIP allocation from the
//! service CIDR (dynamic addresses from the upper band, so static ones such as the DNS address stay
//! free), the "not in the valid range" and "already allocated" errors (tools such as Telepresence
//! learn the service CIDR from the former), and an immutable ClusterIP.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde_json::{Value, json};

use super::object::meta_str;
use super::status::ApiError;

/// The service CIDR of a default k3s cluster.
pub const DEFAULT_SERVICE_CIDR: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(10, 43, 0, 0), 16);

fn invalid(name: &str, ip: &str, why: &str) -> ApiError {
    ApiError::invalid(
        "",
        "services",
        name,
        format!("Service \"{name}\" is invalid: spec.clusterIPs: Invalid value: []string{{\"{ip}\"}}: {why}"),
    )
}

/// The first free address: the upper band first (offsets from min(max(16, size/16), 256)), then
/// the lower, static band; never the network address or `.1` (the `kubernetes` Service's).
fn allocate(cidr: Ipv4Net, used: &BTreeSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    let base = u32::from(cidr.network());
    let size = 1u64 << (32 - u32::from(cidr.prefix_len()));
    let band = (size / 16).clamp(16, 256).min(size);
    let offsets = (band..size.saturating_sub(1)).chain(2..band);
    offsets
        .filter_map(|o| u32::try_from(o).ok())
        .map(|o| Ipv4Addr::from(base + o))
        .find(|ip| !used.contains(ip))
}

/// Defaults and validates a Service on create (`old = None`) or update.
pub fn admit(
    obj: &mut Value,
    old: Option<&Value>,
    cidr: Ipv4Net,
    used: &BTreeSet<Ipv4Addr>,
) -> Result<(), ApiError> {
    let name = meta_str(obj, "name").to_string();
    let Some(map) = obj.as_object_mut() else {
        return Ok(());
    };
    let spec = map.entry("spec").or_insert_with(|| json!({}));
    let Some(spec) = spec.as_object_mut() else {
        return Err(ApiError::bad_request("spec must be an object"));
    };
    let type_ = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    spec.insert("type".into(), json!(type_));
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            port.entry("protocol").or_insert_with(|| json!("TCP"));
            if let Some(p) = port.get("port").cloned() {
                port.entry("targetPort").or_insert(p);
            }
        }
    }
    if type_ == "ExternalName" {
        return Ok(());
    }
    spec.entry("sessionAffinity").or_insert_with(|| json!("None"));
    let requested = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .or_else(|| {
            spec.get("clusterIPs")
                .and_then(|v| v.get(0))
                .and_then(Value::as_str)
        })
        .unwrap_or_default()
        .to_string();
    let ip = if let Some(old) = old {
        let old_ip = old
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if !requested.is_empty() && requested != old_ip {
            return Err(ApiError::invalid(
                "",
                "services",
                &name,
                format!(
                    "Service \"{name}\" is invalid: spec.clusterIPs[0]: Invalid value: []string{{\"{requested}\"}}: may not change once set"
                ),
            ));
        }
        old_ip
    } else if requested == "None" {
        requested
    } else if !requested.is_empty() {
        let addr: Ipv4Addr = requested.parse().map_err(|_| {
            invalid(
                &name,
                &requested,
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            )
        })?;
        if !cidr.contains(&addr) {
            return Err(invalid(
                &name,
                &requested,
                &format!(
                    "failed to allocate IP {requested}: the provided IP ({requested}) is not in the valid range. The range of valid IPs is {cidr}"
                ),
            ));
        }
        if used.contains(&addr) {
            return Err(invalid(
                &name,
                &requested,
                &format!("failed to allocate IP {requested}: provided IP is already allocated"),
            ));
        }
        requested
    } else {
        allocate(cidr, used).map(|a| a.to_string()).ok_or_else(|| {
            ApiError::internal(format!("failed to allocate a serviceIP: range is full ({cidr})"))
        })?
    };
    spec.insert("clusterIP".into(), json!(ip));
    spec.insert("clusterIPs".into(), json!([ip]));
    if ip != "None" {
        spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
        spec.entry("ipFamilyPolicy")
            .or_insert_with(|| json!("SingleStack"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(ip: Option<&str>) -> Value {
        let mut v = json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}});
        if let Some(ip) = ip {
            v["spec"]["clusterIP"] = json!(ip);
        }
        v
    }

    #[test]
    fn allocates_from_the_upper_band_and_defaults() {
        let mut s = svc(None);
        admit(&mut s, None, DEFAULT_SERVICE_CIDR, &BTreeSet::new()).unwrap();
        assert_eq!(s["spec"]["clusterIP"], "10.43.1.0");
        assert_eq!(
            s["spec"]["ports"][0],
            json!({"port": 80, "protocol": "TCP", "targetPort": 80})
        );
        let used = BTreeSet::from([Ipv4Addr::new(10, 43, 1, 0)]);
        let mut s = svc(None);
        admit(&mut s, None, DEFAULT_SERVICE_CIDR, &used).unwrap();
        assert_eq!(s["spec"]["clusterIP"], "10.43.1.1");
    }

    #[test]
    fn rejects_out_of_range_taken_and_changed_ips() {
        let err = admit(
            &mut svc(Some("1.1.1.1")),
            None,
            DEFAULT_SERVICE_CIDR,
            &BTreeSet::new(),
        )
        .unwrap_err();
        assert_eq!(err.code, 422);
        assert!(
            err.message.ends_with("The range of valid IPs is 10.43.0.0/16"),
            "{}",
            err.message
        );
        let used = BTreeSet::from([Ipv4Addr::new(10, 43, 0, 10)]);
        let err = admit(&mut svc(Some("10.43.0.10")), None, DEFAULT_SERVICE_CIDR, &used).unwrap_err();
        assert!(err.message.contains("provided IP is already allocated"));
        let old = json!({"spec": {"clusterIP": "10.43.0.20"}});
        assert!(
            admit(
                &mut svc(Some("10.43.0.21")),
                Some(&old),
                DEFAULT_SERVICE_CIDR,
                &used
            )
            .is_err()
        );
        let mut kept = svc(None);
        admit(&mut kept, Some(&old), DEFAULT_SERVICE_CIDR, &used).unwrap();
        assert_eq!(kept["spec"]["clusterIP"], "10.43.0.20");
        let mut headless = svc(Some("None"));
        admit(&mut headless, None, DEFAULT_SERVICE_CIDR, &used).unwrap();
        assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));
    }
}
