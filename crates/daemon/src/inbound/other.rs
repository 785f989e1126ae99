//! The inbound filter where it is not implemented yet (macOS: pf anchors; Windows: WFP): nothing
//! is installed, `status` says so, and `expose` is refused.

use std::collections::BTreeSet;

use kubewire_ipc::ExposedPort;

use super::InboundError;

pub fn install(_interface: &str, _exposed: &BTreeSet<ExposedPort>) -> Result<(), InboundError> {
    Err(InboundError::Unsupported)
}

pub fn remove(_interface: &str) -> Result<(), InboundError> {
    Ok(())
}
