//! kubewire-lab: the Kubernetes-API test server and the network-namespace cluster.
