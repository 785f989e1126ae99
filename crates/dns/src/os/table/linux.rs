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
