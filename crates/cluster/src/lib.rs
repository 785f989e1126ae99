//! kubewire-cluster: the user side's view of a cluster.
//!
//! Reads kubeconfig contexts ([`kubeconfig`]), discovers Kilo, the cluster DNS, ranges and the API
//! server's clock ([`discovery`]), keeps the laptop's key pair ([`keys`]), registers the laptop as a
//! Kilo `Peer` ([`registration`]), watches Nodes and Peers into the core's snapshot ([`watch`]) and
//! drives the core planner, handing every changed Plan to a [`sink::PlanSink`] (the daemon in
//! production) ([`controller`]). [`connect::connect`] runs the whole sequence and returns a
//! [`controller::ControllerHandle`]; progress and status come out as [`events::ControllerEvent`]s.
//!
//! For a front end (the CLI now, the tray app later):
//!
//! ```text
//! let sink = DaemonSink::connect(socket.clone()).await?;          // fails fast: daemon not running
//! let daemon = daemon_events::follow_daemon(&socket).await.ok();    // handshake ages (failover),
//!                                                                   // the daemon's restarts
//! let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();   // ControllerEvent: steps with
//! let connection = connect(ConnectOptions::new()?, sink, tx, daemon).await?; // timings, plan sent,
//! let status = connection.controller.status();  // watch::Receiver<ControllerStatus>  unreachable…
//! // … later:
//! connection.controller.stop(StopMode::Disconnect { keep_peer: false }).await?;
//! ```
//!
//! `StopMode::Detach` stops following and leaves the tunnel with its last Plan; dropping the handle
//! does the same. [`connect::preview`] computes the Plan without registering anything.

pub mod clock;
pub mod connect;
pub mod container_dns;
pub mod controller;
pub mod corefile;
pub mod daemon_events;
pub mod discovery;
pub mod doctor;
mod domain_probe;
pub mod enroll;
pub mod error;
pub mod events;
pub mod expose;
pub mod exposing;
pub mod failover;
pub mod keys;
pub mod kubeconfig;
pub mod local_networks;
pub mod path_mtu;
pub mod paths;
pub mod peers;
pub mod preferences;
pub mod registration;
pub mod sink;
pub mod watch;

pub use connect::{ConnectOptions, connect};
pub use controller::{ControllerHandle, ControllerStatus};
pub use error::ClusterError;
pub use events::{ControllerEvent, Step};
pub use sink::{ChannelSink, DaemonSink, PlanSink, PlanUpdate, SinkError};
