//! kubewire-ipc: versioned messages between the unprivileged user side and `kubewired`, their
//! framing, and the local transports (Unix socket, Windows named pipe) with peer credential checks.
//! Lands with the connect issue; empty until then.
