//! Other Unix systems (the BSDs): the plain resolv.conf file.

use crate::os::BackendKind;
use crate::os::backend::macos_files::MacosFiles;
use crate::os::backend::resolv_conf_file::ResolvConfFile;
use crate::os::backend::{DnsBackend, Nothing};

/// Tried in this order; the first whose `detect` says yes is used.
pub const AUTO: &[&dyn DnsBackend] = &[&ResolvConfFile];

/// The backend of a kind (the override, a persisted state).
pub fn backend(kind: BackendKind) -> &'static dyn DnsBackend {
    match kind {
        BackendKind::ResolvConf => &ResolvConfFile,
        BackendKind::Macos => &MacosFiles,
        BackendKind::None => &Nothing,
        other => super::unsupported(other),
    }
}
