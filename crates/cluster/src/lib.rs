//! kubewire-cluster: the user side's view of a cluster.
//!
//! Reads kubeconfig contexts ([`kubeconfig`]), discovers Kilo, the cluster DNS, ranges and the API
//! server's clock ([`discovery`]), keeps the laptop's key pair ([`keys`]), registers the laptop as a
//! Kilo `Peer` ([`registration`]), watches Nodes and Peers into the core's snapshot ([`watch`]) and
//! drives the core planner, handing every changed Plan to a [`sink::PlanSink`] (the daemon in
//! production) ([`controller`]). [`connect::connect`] runs the whole sequence and returns a
//! [`controller::ControllerHandle`]; progress and status come out as [`events::ControllerEvent`]s.

pub mod clock;
pub mod connect;
pub mod controller;
pub mod daemon_events;
pub mod discovery;
pub mod error;
pub mod events;
pub mod failover;
pub mod keys;
pub mod kubeconfig;
pub mod local_networks;
pub mod registration;
pub mod sink;
pub mod watch;

pub use connect::{ConnectOptions, connect};
pub use controller::{ControllerHandle, ControllerStatus};
pub use error::ClusterError;
pub use events::{ControllerEvent, Step};
pub use sink::{ChannelSink, DaemonSink, PlanSink, PlanUpdate, SinkError};
