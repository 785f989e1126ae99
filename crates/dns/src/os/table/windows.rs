//! Windows: NRPT rules.

use crate::os::BackendKind;
use crate::os::backend::macos_files::MacosFiles;
use crate::os::backend::nrpt::Nrpt;
use crate::os::backend::resolv_conf_file::ResolvConfFile;
use crate::os::backend::{DnsBackend, Nothing};

/// Tried in this order; the first whose `detect` says yes is used.
pub const AUTO: &[&dyn DnsBackend] = &[&Nrpt];

/// The backend of a kind (the override, a persisted state).
pub fn backend(kind: BackendKind) -> &'static dyn DnsBackend {
    match kind {
        BackendKind::Nrpt => &Nrpt,
        // Plain files, as before: written where they are pointed.
        BackendKind::ResolvConf => &ResolvConfFile,
        BackendKind::Macos => &MacosFiles,
        BackendKind::None => &Nothing,
        other => super::unsupported(other),
    }
}
