//! What an `Expose` request may ask: a port the cluster may open connections to, named after a
//! Service `namespace/name` (DNS labels). Port 0 and malformed names are refused.

use kubewire_ipc::ExposedPort;

use crate::error::DaemonError;

/// At most this many ports per connection.
pub const MAX_EXPOSED: usize = 64;

fn label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Checks one port to expose.
pub fn check(port: &ExposedPort) -> Result<(), DaemonError> {
    if port.port == 0 {
        return Err(DaemonError::Expose("port 0 is not a port".into()));
    }
    match port.service.split_once('/') {
        Some((ns, name)) if label(ns) && label(name) => Ok(()),
        _ => Err(DaemonError::Expose(format!(
            "the Service {:?} is not namespace/name (lowercase DNS labels)",
            port.service.chars().take(80).collect::<String>()
        ))),
    }
}

/// Adds `port` to `exposed`, checked, within [`MAX_EXPOSED`].
pub fn add(
    exposed: &mut std::collections::BTreeSet<ExposedPort>,
    port: ExposedPort,
) -> Result<(), DaemonError> {
    check(&port)?;
    if exposed.len() >= MAX_EXPOSED && !exposed.contains(&port) {
        return Err(DaemonError::Expose(format!(
            "{MAX_EXPOSED} ports are exposed already; unexpose one first"
        )));
    }
    exposed.insert(port);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubewire_ipc::Protocol;

    fn port(port: u16, service: &str) -> ExposedPort {
        ExposedPort {
            protocol: Protocol::Tcp,
            port,
            service: service.into(),
        }
    }

    #[test]
    fn ports_and_names_are_checked() {
        assert!(check(&port(8080, "default/laptop-api")).is_ok());
        assert!(check(&port(0, "default/laptop-api")).is_err());
        for bad in [
            "laptop-api",
            "default/",
            "/x",
            "Default/x",
            "a/b/c",
            "a/b\n-A INPUT",
            "a/-x",
        ] {
            assert!(check(&port(80, bad)).is_err(), "{bad:?}");
        }
    }
}
