//! Linux: the order a distribution expects. systemd-resolved when it owns its bus name, else
//! NetworkManager when it hands DNS to dnsmasq or resolved (split), else openresolv when its
//! `resolvconf` wrote `/etc/resolv.conf`, else the plain file (which also follows NetworkManager
//! or a DHCP client rewriting it).

use crate::os::BackendKind;
use crate::os::backend::macos_files::MacosFiles;
use crate::os::backend::networkmanager::NetworkManager;
use crate::os::backend::openresolv::Openresolv;
use crate::os::backend::resolv_conf_file::ResolvConfFile;
use crate::os::backend::resolved::Resolved;
use crate::os::backend::{DnsBackend, Nothing};

/// Tried in this order; the first whose `detect` says yes is used (the last always does).
pub const AUTO: &[&dyn DnsBackend] = &[&Resolved, &NetworkManager, &Openresolv, &ResolvConfFile];

/// The backend of a kind (the override, a persisted state).
pub fn backend(kind: BackendKind) -> &'static dyn DnsBackend {
    match kind {
        BackendKind::Resolved => &Resolved,
        BackendKind::NetworkManager => &NetworkManager,
        BackendKind::Openresolv => &Openresolv,
        BackendKind::ResolvConf => &ResolvConfFile,
        // Plain files: they can be written anywhere (tests point them at a temp directory).
        BackendKind::Macos => &MacosFiles,
        BackendKind::Nrpt => super::unsupported(kind),
        BackendKind::None => &Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os::resolv_conf::{HEADER, ResolvConfPaths};
    use crate::os::{DnsState, OsPaths, restore_at_start};

    #[tokio::test]
    async fn a_failing_revert_does_not_keep_the_resolv_conf_backup_from_being_restored() {
        let dir = tempfile::tempdir().unwrap();
        let paths = OsPaths {
            resolv_conf: ResolvConfPaths {
                target: dir.path().join("resolv.conf"),
                backup: dir.path().join("resolv.backup"),
            },
            macos_resolver_dir: None,
        };
        std::fs::write(&paths.resolv_conf.backup, "nameserver 192.0.2.1\n").unwrap();
        std::fs::write(
            &paths.resolv_conf.target,
            format!("{HEADER}\nnameserver 127.0.2.53\n"),
        )
        .unwrap();
        // A state file a crash (or a hostile edit) left with an interface name that cannot be used.
        let state = DnsState {
            backend: BackendKind::Openresolv,
            paths: paths.clone(),
            ifindex: None,
            interface: Some("wg0;reboot".into()),
        };
        assert!(restore_at_start(Some(&state), &paths).await.is_err());
        assert_eq!(
            std::fs::read_to_string(&paths.resolv_conf.target).unwrap(),
            "nameserver 192.0.2.1\n",
            "the machine's own resolv.conf is back"
        );
    }

    #[test]
    fn resolved_then_networkmanager_then_openresolv_then_the_file() {
        let kinds: Vec<BackendKind> = AUTO.iter().map(|b| b.kind()).collect();
        assert_eq!(
            kinds,
            [
                BackendKind::Resolved,
                BackendKind::NetworkManager,
                BackendKind::Openresolv,
                BackendKind::ResolvConf
            ]
        );
        for kind in kinds {
            assert_eq!(backend(kind).kind(), kind);
        }
    }
}
