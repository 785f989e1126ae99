//! kubewire-cluster: the user side's view of a cluster.
//!
//! Reads kubeconfig contexts, discovers Kilo, the cluster DNS and ranges, registers the laptop as a
//! Kilo `Peer`, watches Nodes and Peers into snapshots and drives the core planner. Lands with the
//! connect issue; empty until then.
