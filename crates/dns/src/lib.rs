//! kubewire-dns: the split resolver (cluster zone to the cluster DNS over the tunnel) and the per-OS
//! split-DNS backends. Lands with the split-DNS issue; empty until then.
