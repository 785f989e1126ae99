//! The Kubernetes-API test server.
