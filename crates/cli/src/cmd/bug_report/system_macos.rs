//! What macOS says about DNS and routes, and where the daemon's log is.

/// `(file in the archive, program, arguments)`: each command's output (or why it failed) goes in.
pub const COMMANDS: &[(&str, &str, &[&str])] = &[
    ("system/ifconfig.txt", "ifconfig", &[]),
    ("system/netstat-rn.txt", "netstat", &["-rn"]),
    ("system/scutil-dns.txt", "scutil", &["--dns"]),
    ("system/sw_vers.txt", "sw_vers", &[]),
    ("system/uname.txt", "uname", &["-a"]),
];

/// Files copied as they are.
pub const FILES: &[(&str, &str)] = &[("system/resolv.conf", "/etc/resolv.conf")];

/// The daemon's recent log (the unified log).
pub const DAEMON_LOG: (&str, &[&str]) = (
    "log",
    &["show", "--last", "1h", "--predicate", "process == \"kubewired\""],
);
