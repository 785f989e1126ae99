//! The report's files into one `.tar.gz`, written beside its final name and renamed into place (a
//! crash leaves no half archive under that name), readable by the user only.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

/// Writes `entries` (`(path in the archive, contents)`) to `path`.
pub fn write(path: &Path, entries: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
    let partial = path.with_extension("partial");
    let file = create_private(&partial)?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mtime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(mtime);
        header.set_cksum();
        tar.append_data(
            &mut header,
            format!("kubewire-bug-report/{name}"),
            data.as_slice(),
        )
        .with_context(|| format!("adding {name}"))?;
    }
    let mut file = tar
        .into_inner()
        .context("finishing the archive")?
        .finish()
        .context("compressing the archive")?;
    file.flush()?;
    file.sync_all().context("writing the archive")?;
    std::fs::rename(&partial, path).with_context(|| format!("moving the archive to {}", path.display()))
}

#[cfg(unix)]
fn create_private(path: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))
}
