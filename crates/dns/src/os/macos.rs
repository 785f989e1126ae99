//! macOS: one `/etc/resolver/<domain>` file per cluster domain (the zone and the reverse zones),
//! each starting with a header so that cleanup removes exactly ours; removed on teardown and at
//! every start. macOS sends only names under those domains to the resolver (which it reaches on
//! `127.0.0.1` and the file's `port`), so short names (`web.default`) are not available there.
//!
//! Each file is written atomically ([`crate::durable`]): a crash leaves either no file, a whole one,
//! or one of our temporary files, which [`remove_ours`] also removes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tracing::{debug, info};

use crate::DnsError;
use crate::durable;
use crate::error::file_err;

/// The first line of every resolver file we write.
pub const HEADER: &str = "# Added by kubewire (split DNS for the cluster); removed on disconnect.";

/// The default directory.
pub const RESOLVER_DIR: &str = "/etc/resolver";

/// `(file name, content)` for each domain.
pub fn resolver_files(resolver: SocketAddr, domains: &[String]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for d in domains {
        let d = d.trim_end_matches('.').to_ascii_lowercase();
        if d.is_empty() || d.contains('/') || out.iter().any(|(n, _)| *n == d) {
            continue;
        }
        let mut text = format!("{HEADER}\nnameserver {}\n", resolver.ip());
        if resolver.port() != 53 {
            text.push_str(&format!("port {}\n", resolver.port()));
        }
        text.push_str("search_order 1\ntimeout 2\n");
        out.push((d, text));
    }
    out
}

/// Write the files into `dir` (created if missing); returns their paths.
pub fn apply(dir: &Path, files: &[(String, String)]) -> Result<Vec<PathBuf>, DnsError> {
    std::fs::create_dir_all(dir).map_err(file_err(dir))?;
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        if let Ok(existing) = std::fs::read_to_string(&path)
            && !existing.starts_with(HEADER)
        {
            // Someone else's file for this domain (a corporate VPN?): leave it alone.
            debug!(path = %path.display(), "resolver file not ours; skipped");
            continue;
        }
        durable::write_atomic(&path, text.as_bytes(), 0o644, "macos-resolver").map_err(file_err(&path))?;
        written.push(path);
    }
    info!(files = written.len(), "resolver files written");
    Ok(written)
}

/// Remove every file in `dir` that starts with our header, and our temporary files.
pub fn remove_ours(dir: &Path) -> Result<usize, DnsError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(file_err(dir)(e)),
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if durable::is_temp_name(&entry.file_name().to_string_lossy()) {
            durable::remove(&path, "macos-resolver-temp").map_err(file_err(&path))?;
        } else if std::fs::read(&path).is_ok_and(|t| t.starts_with(HEADER.as_bytes())) {
            durable::remove(&path, "macos-resolver-removed").map_err(file_err(&path))?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_carry_the_header_nameserver_and_port() {
        let files = resolver_files(
            "127.0.0.1:53530".parse().unwrap(),
            &[
                "cluster.local.".into(),
                "42.10.in-addr.arpa".into(),
                "Cluster.Local".into(),
            ],
        );
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].0, "cluster.local");
        assert_eq!(
            files[0].1,
            format!("{HEADER}\nnameserver 127.0.0.1\nport 53530\nsearch_order 1\ntimeout 2\n")
        );
        let on53 = resolver_files("127.0.0.1:53".parse().unwrap(), &["c.l".into()]);
        assert!(!on53[0].1.contains("port"));
    }

    #[test]
    fn apply_and_remove_touch_only_our_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("corp.example"), "nameserver 10.0.0.1\n").unwrap();
        std::fs::write(dir.path().join("cluster.local"), "nameserver 10.0.0.2\n").unwrap();
        let files = resolver_files(
            "127.0.0.1:53530".parse().unwrap(),
            &["cluster.local".into(), "43.10.in-addr.arpa".into()],
        );
        let written = apply(dir.path(), &files).unwrap();
        assert_eq!(written, [dir.path().join("43.10.in-addr.arpa")]);
        assert_eq!(remove_ours(dir.path()).unwrap(), 1);
        assert!(dir.path().join("corp.example").exists());
        assert!(dir.path().join("cluster.local").exists());
    }
}
