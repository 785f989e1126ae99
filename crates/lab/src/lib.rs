//! kubewire-lab: the Kubernetes-API test server and the network-namespace cluster.
//!
//! The API server (`api`) is a test double of kube-apiserver, faithful to the API conventions the
//! `kube` client and `kubectl` rely on. The rest builds a Kilo-meshed multi-cloud cluster out of
//! network namespaces on one machine.

pub mod api;
