//! EndpointSlices (`discovery.k8s.io/v1`) like kube-apiserver admits them, in the part that matters to
//! the double's users: `addressType` is required, one of `IPv4`, `IPv6`, `FQDN`, and immutable; each
//! endpoint has 1 to 100 addresses of that type; ports have a protocol (defaulted to TCP). Addresses
//! outside the pod range (a Kilo Peer's, a laptop's) are valid, as in Kubernetes.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{Value, json};

use super::object::meta_str;
use super::status::ApiError;

const GROUP: &str = "discovery.k8s.io";
const PLURAL: &str = "endpointslices";

fn invalid(name: &str, field: &str, value: &str, why: &str) -> ApiError {
    let reason = if value.starts_with("Required") {
        "FieldValueRequired"
    } else if value.starts_with("Unsupported") {
        "FieldValueNotSupported"
    } else {
        "FieldValueInvalid"
    };
    ApiError::invalid(
        GROUP,
        PLURAL,
        name,
        format!("EndpointSlice.discovery.k8s.io \"{name}\" is invalid: {field}: {value}{why}"),
    )
    .with_cause(reason, field, &format!("{value}{why}"))
}

fn address_ok(address_type: &str, address: &str) -> bool {
    match address_type {
        "IPv4" => address.parse::<Ipv4Addr>().is_ok(),
        "IPv6" => address.parse::<Ipv6Addr>().is_ok(),
        _ => !address.is_empty(),
    }
}

/// Defaults and validates an EndpointSlice on create (`old = None`) or update.
pub fn admit(obj: &mut Value, old: Option<&Value>) -> Result<(), ApiError> {
    let name = meta_str(obj, "name").to_string();
    let address_type = obj
        .get("addressType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if address_type.is_empty() {
        return Err(invalid(&name, "addressType", "Required value", ""));
    }
    if !matches!(address_type.as_str(), "IPv4" | "IPv6" | "FQDN") {
        return Err(invalid(
            &name,
            "addressType",
            &format!("Unsupported value: \"{address_type}\""),
            ": supported values: \"FQDN\", \"IPv4\", \"IPv6\"",
        ));
    }
    if let Some(old_type) = old.and_then(|o| o.get("addressType")).and_then(Value::as_str)
        && old_type != address_type
    {
        return Err(invalid(
            &name,
            "addressType",
            &format!("Invalid value: \"{address_type}\""),
            ": field is immutable",
        ));
    }
    let endpoints = obj.get("endpoints").and_then(Value::as_array);
    for (i, ep) in endpoints.into_iter().flatten().enumerate() {
        let addresses = ep.get("addresses").and_then(Value::as_array);
        let n = addresses.map_or(0, Vec::len);
        if n == 0 || n > 100 {
            return Err(invalid(
                &name,
                &format!("endpoints[{i}].addresses"),
                "Invalid value",
                ": must contain at least 1 address but no more than 100",
            ));
        }
        for (j, a) in addresses.into_iter().flatten().enumerate() {
            let a = a.as_str().unwrap_or_default();
            if !address_ok(&address_type, a) {
                return Err(invalid(
                    &name,
                    &format!("endpoints[{i}].addresses[{j}]"),
                    &format!("Invalid value: \"{a}\""),
                    &format!(": must be a valid {address_type} address"),
                ));
            }
        }
    }
    if let Some(Value::Array(ports)) = obj.get_mut("ports") {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            port.entry("protocol").or_insert_with(|| json!("TCP"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn laptop() -> Value {
        json!({
            "metadata": {"name": "web-kubewire"},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.4.0.100"], "conditions": {"ready": true}}],
            "ports": [{"name": "tcp-8080", "port": 8080}],
        })
    }

    #[test]
    fn admits_a_peer_address_outside_the_pod_range_and_defaults_the_protocol() {
        let mut s = laptop();
        admit(&mut s, None).unwrap();
        assert_eq!(s["ports"][0]["protocol"], "TCP");
    }

    #[test]
    fn rejects_missing_wrong_or_changed_address_types_and_bad_addresses() {
        let mut s = laptop();
        s.as_object_mut().unwrap().remove("addressType");
        assert_eq!(admit(&mut s, None).unwrap_err().code, 422);
        let mut s = laptop();
        s["addressType"] = json!("IPv5");
        assert!(admit(&mut s, None).is_err());
        let mut s = laptop();
        s["endpoints"][0]["addresses"] = json!(["fd00::1"]);
        let err = admit(&mut s, None).unwrap_err();
        assert!(
            err.message.contains("must be a valid IPv4 address"),
            "{}",
            err.message
        );
        let mut s = laptop();
        s["endpoints"][0]["addresses"] = json!([]);
        assert!(admit(&mut s, None).is_err());
        let old = laptop();
        let mut s = laptop();
        s["addressType"] = json!("FQDN");
        let err = admit(&mut s, Some(&old)).unwrap_err();
        assert!(err.message.contains("field is immutable"), "{}", err.message);
    }
}
