//! What Linux says about DNS and routes, and where the daemon's log is.

/// `(file in the archive, program, arguments)`: each command's output (or why it failed) goes in.
pub const COMMANDS: &[(&str, &str, &[&str])] = &[
    ("system/ip-addr.txt", "ip", &["addr"]),
    ("system/ip-route.txt", "ip", &["route", "show", "table", "all"]),
    (
        "system/ip-6-route.txt",
        "ip",
        &["-6", "route", "show", "table", "all"],
    ),
    ("system/ip-rule.txt", "ip", &["rule"]),
    ("system/ip-link.txt", "ip", &["-d", "link"]),
    ("system/resolvectl.txt", "resolvectl", &["status"]),
    ("system/uname.txt", "uname", &["-a"]),
];

/// Files copied as they are.
pub const FILES: &[(&str, &str)] = &[
    ("system/resolv.conf", "/etc/resolv.conf"),
    ("system/os-release", "/etc/os-release"),
];

/// The daemon's recent log when it runs as the systemd unit.
pub const DAEMON_LOG: (&str, &[&str]) = (
    "journalctl",
    &["-u", "kubewired", "-n", "3000", "--no-pager", "-o", "short-iso"],
);
