//! Watching resolv.conf while connected (resolv.conf mode): inotify on the file and on its
//! directory, no timer at rest. When someone else rewrites the file, their file becomes the new
//! original (the backup is replaced durably by their bytes, so a disconnect or a start after a crash
//! restores what they wrote), their nameservers become the resolver's upstreams, and ours goes back
//! within a second, at most once a second ([`super::resolv_conf_rivals`] decides).
//!
//! Crash safety: the backup (their file) is durable before ours is written over theirs; a crash in
//! between leaves their file with an identical backup, a crash during our write leaves a prefix of
//! ours, which counts as ours and is restored from the backup.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::PoisonError;
use std::time::Duration;

use futures::{FutureExt as _, StreamExt as _};
use inotify::{EventStream, Inotify, WatchMask, Watches};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::resolv_conf_rivals::{Rivalry, Seen, classify, their_upstreams, writer_hint};
use crate::DnsError;
use crate::durable;
use crate::error::file_err;
use crate::os::resolv_conf::{ResolvConfPaths, parse, render};
use crate::resolver::UpstreamsHandle;

pub use crate::os::Warnings;

/// How long the file must be quiet after an event before it is read (a writer's truncate and write).
const SETTLE: Duration = Duration::from_millis(50);

/// Starts watching. The task runs until aborted (disconnect: abort it, then await it, before the
/// revert). It checks the file once at start (a rewrite between apply and now is not missed).
pub fn spawn(
    paths: ResolvConfPaths,
    resolver: IpAddr,
    upstreams: UpstreamsHandle,
    warnings: Warnings,
) -> Result<tokio::task::JoinHandle<()>, DnsError> {
    let inotify = Inotify::init().map_err(file_err(&paths.target))?;
    let stream = inotify
        .into_event_stream(vec![0u8; 4096])
        .map_err(file_err(&paths.target))?;
    let watcher = Watcher {
        names: file_names(&paths.target),
        paths,
        resolver,
        upstreams,
        warnings,
        rivalry: Rivalry::default(),
        due: None,
        failure: None,
    };
    watcher.add_watches(&stream.watches())?;
    info!("watching resolv.conf for other writers");
    Ok(tokio::spawn(watcher.run(stream)))
}

struct Watcher {
    paths: ResolvConfPaths,
    /// The file's name, and its symlink target's, as directory events name them.
    names: Vec<OsString>,
    resolver: IpAddr,
    upstreams: UpstreamsHandle,
    warnings: Warnings,
    rivalry: Rivalry,
    /// When ours is to be put back.
    due: Option<Instant>,
    /// Why the last check failed (a warning until one succeeds).
    failure: Option<String>,
}

fn file_names(target: &Path) -> Vec<OsString> {
    let mut names: Vec<OsString> = target.file_name().map(ToOwned::to_owned).into_iter().collect();
    if let Some(real) = std::fs::canonicalize(target)
        .ok()
        .and_then(|p| p.file_name().map(ToOwned::to_owned))
    {
        names.push(real);
    }
    names
}

impl Watcher {
    /// The directory (renames over the file, a new file) and the file itself (a write in place,
    /// which is all a bind-mounted file ever sees), and a symlink's target and its directory.
    /// Re-added after every event: a file renamed over ours is a new inode.
    fn add_watches(&self, watches: &Watches) -> Result<(), DnsError> {
        let dir_mask = WatchMask::CLOSE_WRITE | WatchMask::MOVED_TO | WatchMask::CREATE | WatchMask::DELETE;
        let file_mask = WatchMask::CLOSE_WRITE | WatchMask::DELETE_SELF | WatchMask::MOVE_SELF;
        let target = &self.paths.target;
        let mut dirs: Vec<PathBuf> = target.parent().map(Path::to_path_buf).into_iter().collect();
        if let Some(dir) = std::fs::canonicalize(target)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
        {
            dirs.push(dir);
        }
        for dir in dirs {
            let dir = if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir
            };
            watches.clone().add(&dir, dir_mask).map_err(file_err(&dir))?;
        }
        // The file may be missing for a moment (deleted, then written): the directory sees it come.
        if let Err(e) = watches.clone().add(target, file_mask) {
            debug!(error = %e, "resolv.conf not watchable right now");
        }
        Ok(())
    }

    async fn run(mut self, mut stream: EventStream<Vec<u8>>) {
        self.check(Instant::now());
        loop {
            let wake = [
                self.due,
                self.rivalry
                    .next_change(std::time::Instant::now())
                    .map(Instant::from_std),
            ]
            .into_iter()
            .flatten()
            .min();
            tokio::select! {
                event = stream.next() => match event {
                    Some(Ok(event)) => {
                        // Events of the file itself have no name; the directory's name theirs.
                        let mut relevant = event.name.as_ref().is_none_or(|n| self.names.contains(n));
                        // Let the writer finish, and take every event it caused at once.
                        tokio::time::sleep(SETTLE).await;
                        while let Some(Some(Ok(more))) = stream.next().now_or_never() {
                            relevant |= more.name.as_ref().is_none_or(|n| self.names.contains(n));
                        }
                        if let Err(e) = self.add_watches(&stream.watches()) {
                            warn!(error = %e, "re-watching resolv.conf");
                        }
                        if relevant {
                            self.check(Instant::now());
                        }
                    }
                    Some(Err(e)) => {
                        warn!(error = %e, "reading inotify events; resolv.conf is no longer watched");
                        self.failure = Some(format!(
                            "{} is no longer watched ({e}): if another program rewrites it, cluster \
                             names stop resolving; disconnect and connect again",
                            self.paths.target.display()
                        ));
                        self.publish();
                        return;
                    }
                    None => return,
                },
                () = sleep_until(wake) => self.check(Instant::now()),
            }
            self.publish();
        }
    }

    /// Reads the file and acts on what it holds; puts ours back when due.
    fn check(&mut self, now: Instant) {
        self.failure = None;
        if let Err(e) = self.check_inner(now) {
            warn!(error = %e, "following a change to resolv.conf");
            self.failure = Some(format!(
                "cannot follow a change to {} (cluster names may not resolve): {e}; check the \
                 file and the disk, or disconnect and connect again",
                self.paths.target.display()
            ));
            // Try again, no faster than the re-asserts.
            self.due = Some(
                Instant::from_std(self.rivalry.reassert_at(now.into_std()))
                    .max(now + super::resolv_conf_rivals::MIN_GAP),
            );
        }
    }

    fn check_inner(&mut self, now: Instant) -> Result<(), DnsError> {
        let current = read_or_empty(&self.paths.target)?;
        let backup = read_or_empty(&self.paths.backup)?;
        let ours = self.render(&backup);
        match classify(&current, &ours, &backup) {
            Seen::Ours => {
                self.due = None;
                return Ok(());
            }
            Seen::Stale => {}
            Seen::Theirs => self.take_theirs(now, &current)?,
        }
        let at = Instant::from_std(self.rivalry.reassert_at(now.into_std()));
        if at > now {
            debug!(
                in_ms = (at - now).as_millis() as u64,
                "resolv.conf: putting ours back later"
            );
            self.due = Some(at);
            return Ok(());
        }
        self.due = None;
        let backup = read_or_empty(&self.paths.backup)?;
        let ours = self.render(&backup);
        durable::replace(&self.paths.target, &ours, "resolv-conf.reassert")
            .map_err(file_err(&self.paths.target))?;
        self.rivalry.reasserted(now.into_std());
        info!("resolv.conf: ours is back");
        Ok(())
    }

    /// Their file is the new original: durably backed up first, then their nameservers upstream.
    fn take_theirs(&mut self, now: Instant, theirs: &[u8]) -> Result<(), DnsError> {
        durable::write_atomic(&self.paths.backup, theirs, 0o644, "resolv-conf.backup-theirs")
            .map_err(file_err(&self.paths.backup))?;
        let upstreams = their_upstreams(theirs, self.resolver);
        if upstreams.is_empty() {
            warn!("the new resolv.conf names no nameserver; internet names keep the previous upstreams");
        } else {
            self.upstreams.set(upstreams)?;
        }
        self.rivalry.rewritten(now.into_std(), writer_hint(theirs));
        info!(
            writer = writer_hint(theirs).unwrap_or_default(),
            "resolv.conf rewritten by someone else: taken as the new original"
        );
        Ok(())
    }

    fn render(&self, original: &[u8]) -> Vec<u8> {
        render(&parse(&String::from_utf8_lossy(original)), self.resolver, &[]).into_bytes()
    }

    fn publish(&self) {
        let path = self.paths.target.display().to_string();
        let now: Vec<String> = self
            .rivalry
            .warning(std::time::Instant::now(), &path)
            .into_iter()
            .chain(self.failure.clone())
            .collect();
        let mut shared = self.warnings.lock().unwrap_or_else(PoisonError::into_inner);
        if *shared != now {
            *shared = now;
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn read_or_empty(path: &Path) -> Result<Vec<u8>, DnsError> {
    match std::fs::read(path) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(file_err(path)(e)),
    }
}
