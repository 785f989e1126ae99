//! kubewire-tunnel: the laptop's WireGuard interface and routes (kernel WireGuard or in-process
//! BoringTun), with per-OS files behind one API. Lands with the connect issue; empty until then.
