//! What Windows says about DNS and routes, and where the daemon's log is.

/// `(file in the archive, program, arguments)`: each command's output (or why it failed) goes in.
pub const COMMANDS: &[(&str, &str, &[&str])] = &[
    ("system/ipconfig.txt", "ipconfig", &["/all"]),
    ("system/route-print.txt", "route", &["print"]),
    (
        "system/dns-client.txt",
        "powershell",
        &[
            "-NoProfile",
            "-Command",
            "Get-DnsClientNrptRule; Get-DnsClientServerAddress",
        ],
    ),
    ("system/ver.txt", "cmd", &["/c", "ver"]),
];

/// Files copied as they are.
pub const FILES: &[(&str, &str)] = &[];

/// The daemon's recent log (the service's events in the Application log).
pub const DAEMON_LOG: (&str, &[&str]) = (
    "powershell",
    &[
        "-NoProfile",
        "-Command",
        "Get-WinEvent -LogName Application -MaxEvents 500 | Where-Object ProviderName -eq kubewired | Format-List",
    ],
);
