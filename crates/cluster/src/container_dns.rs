//! What `doctor` tells about containers on the laptop: where the daemon answers them (each Docker or
//! Podman bridge's gateway address, for that bridge's subnet only), and how to point them at it.

use std::net::SocketAddr;

/// One note per listener (none when no container bridge is there).
#[must_use]
pub fn advice(listeners: &[SocketAddr]) -> Vec<String> {
    listeners
        .iter()
        .map(|addr| {
            let ip = addr.ip();
            format!(
                "containers on the bridge at {ip} can resolve the cluster's names at {addr} (answered for that \
                 bridge's subnet only): `docker run --dns {ip} ...` (Podman: `podman run --dns {ip} ...`), or for \
                 every container `\"dns\": [\"{ip}\"]` in /etc/docker/daemon.json, then `systemctl restart docker`"
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advice_names_the_flag_and_the_daemon_json_setting() {
        assert!(advice(&[]).is_empty());
        let notes = advice(&["172.17.0.1:53".parse().unwrap()]);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("docker run --dns 172.17.0.1 "), "{}", notes[0]);
        assert!(
            notes[0].contains("\"dns\": [\"172.17.0.1\"]") && notes[0].contains("/etc/docker/daemon.json")
        );
    }
}
