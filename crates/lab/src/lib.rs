//! kubewire-lab: the network-namespace cluster.
//!
//! It builds a Kilo-meshed multi-cloud cluster out of network namespaces on one machine, whose
//! Kubernetes API is served by the test server of the `kubewire-apiserver` crate: `model` (the
//! cluster as data), `mesh` (what Kilo configures), `net` (namespaces, WireGuard, routes, kube-proxy rules), `dns` (the cluster DNS), `objects` (the
//! API objects), `standin` (the Kilo stand-in), `api_services` (Services created through the API, served), `controller` (the process that runs it all),
//! `live_cluster` (one running cluster, of which `lab up --clusters 2` has two), `clusters` (what keeps
//! the clusters' names apart), `control` (its socket), `desc` (`lab.json`), `fault` (a fault point).

pub mod api_services;
pub mod clusters;
pub mod control;
pub mod controller;
pub mod desc;
pub mod dns;
pub mod extra_services;
pub mod fault;
pub mod keys;
pub mod live_cluster;
pub mod mesh;
pub mod model;
pub mod net;
pub mod objects;
pub mod pod_http;
pub mod standin;
pub mod testing;
