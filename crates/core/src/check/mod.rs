//! Validation of everything a Plan asks of the laptop, as pure functions the planner runs while it
//! builds a Plan and the daemon runs on every Plan it receives, before touching anything: which
//! ranges the cluster may route ([`scope`]), the laptop's tunnel address ([`address`]), the DNS
//! fields ([`dns`]), the interface name ([`iface`]) and the size of what a Plan reports ([`caps`]).
//! The rules are described in `crates/core/docs/safety.md`.

pub mod address;
pub mod caps;
pub mod dns;
pub mod iface;
pub mod scope;

pub use address::{AddressError, check_address};
pub use caps::cap_reports;
pub use dns::{DnsError, check_dns, check_zone};
pub use iface::{InterfaceNameError, check_interface_name};
pub use scope::{AllowListError, check_allow_list, is_private_use, permitted};
