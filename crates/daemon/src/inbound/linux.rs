//! The inbound filter on Linux: a chain per interface in the `filter` table of iptables and
//! ip6tables, jumped to from INPUT for packets that come in on the interface. `iptables-restore
//! --noflush` replaces the chain's rules in one transaction; `-w` waits for the xtables lock. A few
//! short processes: called where the daemon already blocks on the network (create, remove).

use std::collections::BTreeSet;
use std::io::Write as _;
use std::process::{Command, Stdio};

use kubewire_ipc::ExposedPort;

use super::{InboundError, chain, rules};

const FAMILIES: [(&str, &str); 2] = [
    ("iptables", "iptables-restore"),
    ("ip6tables", "ip6tables-restore"),
];

/// The families this kernel has: without IPv6 (`ipv6.disable=1`) ip6tables cannot work, and no
/// IPv6 packet can arrive either.
fn families() -> impl Iterator<Item = (&'static str, &'static str)> {
    let v6 = std::path::Path::new("/proc/net/if_inet6").exists();
    FAMILIES
        .into_iter()
        .filter(move |(tool, _)| v6 || *tool == "iptables")
}

fn run(tool: &'static str, args: &[&str], input: Option<&str>) -> Result<(), InboundError> {
    let failed = |message: String| InboundError::Tool { tool, message };
    let mut child = Command::new(tool)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("could not start it ({e}); install iptables")))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| failed(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| failed(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(failed(String::from_utf8_lossy(&out.stderr).trim().to_owned()))
    }
}

/// Makes `interface`'s chain exactly the rules for `exposed` and hooks it into INPUT (once).
pub fn install(interface: &str, exposed: &BTreeSet<ExposedPort>) -> Result<(), InboundError> {
    let chain = chain(interface);
    let text = rules(interface, exposed);
    for (tool, restore) in families() {
        run(restore, &["-w", "--noflush"], Some(&text))?;
        let jump = ["-w", "-C", "INPUT", "-i", interface, "-j", &chain];
        if run(tool, &jump, None).is_err() {
            run(
                tool,
                &["-w", "-I", "INPUT", "1", "-i", interface, "-j", &chain],
                None,
            )?;
        }
    }
    tracing::info!(interface, exposed = exposed.len(), "inbound filter in place");
    Ok(())
}

/// Unhooks and deletes `interface`'s chain; what is already gone is fine.
pub fn remove(interface: &str) -> Result<(), InboundError> {
    let chain = chain(interface);
    let mut first_error = None;
    for (tool, _) in families() {
        // Every jump (a crash between an insert and its check could have left two).
        while run(tool, &["-w", "-D", "INPUT", "-i", interface, "-j", &chain], None).is_ok() {}
        if run(tool, &["-w", "-L", &chain, "-n"], None).is_err() {
            continue;
        }
        for args in [["-w", "-F", chain.as_str()], ["-w", "-X", chain.as_str()]] {
            if let Err(e) = run(tool, &args, None) {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}
