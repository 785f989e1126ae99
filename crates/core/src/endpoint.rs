//! WireGuard endpoints as Kilo reads them: `ip:port`, `[v6]:port` or `dns-name:port`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The host part of an endpoint. DNS names are kept as names: the laptop resolves them itself.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Host {
    /// A literal address.
    Ip(IpAddr),
    /// A DNS-1123 subdomain name.
    Dns(String),
}

/// A WireGuard endpoint. Serialized as `host:port` (`[v6]:port` for IPv6).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Endpoint {
    /// Address or name.
    pub host: Host,
    /// UDP port, 1..=65535.
    pub port: u16,
}

/// Why a string is not an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// No `:port` part, or a bare IPv6 address without brackets.
    #[error("expected host:port (IPv6 as [addr]:port)")]
    Shape,
    /// The port is not a number in 1..=65535.
    #[error("port {0:?} is not a number in 1..=65535")]
    Port(String),
    /// The host is neither an IP address nor a DNS-1123 name.
    #[error("host {0:?} is neither an IP address nor a DNS name")]
    Host(String),
}

impl Endpoint {
    /// The address, when the host is a literal one.
    #[must_use]
    pub fn ip(&self) -> Option<IpAddr> {
        match &self.host {
            Host::Ip(ip) => Some(*ip),
            Host::Dns(_) => None,
        }
    }
}

/// Go's `net.SplitHostPort`, enough of it for endpoints.
fn split_host_port(text: &str) -> Result<(&str, &str), EndpointError> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(EndpointError::Shape)?;
        let port = after.strip_prefix(':').ok_or(EndpointError::Shape)?;
        return Ok((host, port));
    }
    let (host, port) = text.rsplit_once(':').ok_or(EndpointError::Shape)?;
    if host.contains(':') || host.contains('[') || host.contains(']') {
        return Err(EndpointError::Shape);
    }
    Ok((host, port))
}

/// A DNS-1123 subdomain, as Kubernetes validates it (and Kilo with it).
#[must_use]
pub fn is_dns1123_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            let bytes = label.as_bytes();
            let ok_char = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
            match (bytes.first(), bytes.last()) {
                (Some(first), Some(last)) => {
                    first.is_ascii_alphanumeric()
                        && !first.is_ascii_uppercase()
                        && last.is_ascii_alphanumeric()
                        && !last.is_ascii_uppercase()
                        && bytes.iter().all(ok_char)
                }
                _ => false,
            }
        })
}

impl FromStr for Endpoint {
    type Err = EndpointError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (host, port_text) = split_host_port(text)?;
        let port = port_text
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| EndpointError::Port(port_text.to_owned()))?;
        let host = match host.parse::<IpAddr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) if is_dns1123_subdomain(host) => Host::Dns(host.to_owned()),
            Err(_) => return Err(EndpointError::Host(host.to_owned())),
        };
        Ok(Self { host, port })
    }
}

impl TryFrom<String> for Endpoint {
    type Error = EndpointError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Endpoint> for String {
    fn from(endpoint: Endpoint) -> Self {
        endpoint.to_string()
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}:{}", self.port),
            Host::Dns(name) => write!(f, "{name}:{}", self.port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ip_v6_and_dns_endpoints() {
        let e: Endpoint = "198.51.100.1:51820".parse().unwrap();
        assert_eq!(e.ip(), Some("198.51.100.1".parse().unwrap()));
        let e: Endpoint = "[2001:db8::1]:51820".parse().unwrap();
        assert_eq!(e.to_string(), "[2001:db8::1]:51820");
        let e: Endpoint = "aws.example.com:51820".parse().unwrap();
        assert_eq!(e.host, Host::Dns("aws.example.com".into()));
        assert_eq!(e.ip(), None);
    }

    #[test]
    fn rejects_bad_endpoints() {
        assert_eq!("2001:db8::1:51820".parse::<Endpoint>(), Err(EndpointError::Shape));
        assert_eq!("host".parse::<Endpoint>(), Err(EndpointError::Shape));
        assert!(matches!(
            "host:0".parse::<Endpoint>(),
            Err(EndpointError::Port(_))
        ));
        assert!(matches!(
            "host:70000".parse::<Endpoint>(),
            Err(EndpointError::Port(_))
        ));
        assert!(matches!(
            "Bad_Host:1".parse::<Endpoint>(),
            Err(EndpointError::Host(_))
        ));
        assert!(matches!(
            ":51820".parse::<Endpoint>(),
            Err(EndpointError::Host(_))
        ));
    }
}
