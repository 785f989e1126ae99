//! Linux: the order a distribution expects. systemd-resolved when it owns its bus name, else
//! openresolv when its `resolvconf` wrote `/etc/resolv.conf`, else the plain file.

use crate::os::BackendKind;
use crate::os::backend::macos_files::MacosFiles;
use crate::os::backend::openresolv::Openresolv;
use crate::os::backend::resolv_conf_file::ResolvConfFile;
use crate::os::backend::resolved::Resolved;
use crate::os::backend::{DnsBackend, Nothing};

/// Tried in this order; the first whose `detect` says yes is used (the last always does).
pub const AUTO: &[&dyn DnsBackend] = &[&Resolved, &Openresolv, &ResolvConfFile];

/// The backend of a kind (the override, a persisted state).
pub fn backend(kind: BackendKind) -> &'static dyn DnsBackend {
    match kind {
        BackendKind::Resolved => &Resolved,
        BackendKind::NetworkManager => super::unsupported(kind),
        BackendKind::Openresolv => &Openresolv,
        BackendKind::ResolvConf => &ResolvConfFile,
        // Plain files: they can be written anywhere (tests point them at a temp directory).
        BackendKind::Macos => &MacosFiles,
        BackendKind::Nrpt => super::unsupported(kind),
        BackendKind::None => &Nothing,
    }
}
