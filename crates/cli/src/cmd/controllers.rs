//! The controllers that follow the clusters, one per connection, and their files in the state
//! directory: `<stem>.pid`, `.log`, `.json` (status), `.events` and `.name` (the connection's
//! name). The first connection's stem is `controller`, the names single-connection kubewire used; a
//! connection started while another's controller holds those gets `controller-<name>`.

use std::path::PathBuf;

use super::common::{self, ClusterArgs};

/// Set by `connect --detach` for the background process: the stem it must use (the parent watches
/// those files).
pub const STEM_ENV: &str = "KUBEWIRE_CONTROLLER_STEM";

/// The stem of the first connection's files.
const FIRST: &str = "controller";

/// One controller's files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Files {
    dir: PathBuf,
    stem: String,
}

impl Files {
    fn with(&self, ext: &str) -> PathBuf {
        self.dir.join(format!("{}.{ext}", self.stem))
    }

    #[must_use]
    pub fn stem(&self) -> &str {
        &self.stem
    }

    #[must_use]
    pub fn pid(&self) -> PathBuf {
        self.with("pid")
    }

    #[must_use]
    pub fn log(&self) -> PathBuf {
        self.with("log")
    }

    /// The running controller's status, for `status`.
    #[must_use]
    pub fn status(&self) -> PathBuf {
        self.with("json")
    }

    /// The steps and events `connect --detach` shows.
    #[must_use]
    pub fn events(&self) -> PathBuf {
        self.with("events")
    }

    #[must_use]
    pub fn name(&self) -> PathBuf {
        self.with("name")
    }
}

/// A controller that runs.
#[derive(Clone, Debug)]
pub struct Running {
    /// Its connection's name (empty when its files do not say).
    pub name: String,
    pub pid: i32,
    pub files: Files,
}

/// The controllers that run now, the first connection's first, then by name.
#[must_use]
pub fn running() -> Vec<Running> {
    let Ok(dir) = common::state_dir() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<Running> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".pid").map(str::to_owned))
        .filter(|stem| stem == FIRST || stem.starts_with("controller-"))
        .filter_map(|stem| {
            let files = Files {
                dir: dir.clone(),
                stem,
            };
            let pid: i32 = std::fs::read_to_string(files.pid()).ok()?.trim().parse().ok()?;
            (common::alive(pid) && common::is_kubewire(pid)).then(|| Running {
                name: std::fs::read_to_string(files.name())
                    .map(|t| t.trim().to_owned())
                    .unwrap_or_default(),
                pid,
                files,
            })
        })
        .collect();
    out.sort_by(|a, b| (a.files.stem != FIRST, &a.name).cmp(&(b.files.stem != FIRST, &b.name)));
    out
}

/// The running controller of connection `name`, if any (one whose files do not say its name
/// counts as any connection's: a kubewire from before several connections).
#[must_use]
pub fn of(name: &str) -> Option<Running> {
    running()
        .into_iter()
        .find(|r| r.name == name || r.name.is_empty())
}

/// The files for a new controller of connection `name`: [`STEM_ENV`]'s when set, else the first
/// connection's unless another connection's controller holds them.
pub fn for_connection(name: &str) -> anyhow::Result<Files> {
    let dir = common::state_dir()?;
    if let Ok(stem) = std::env::var(STEM_ENV)
        && (stem == FIRST || stem.starts_with("controller-"))
        && !stem.contains('/')
    {
        return Ok(Files { dir, stem });
    }
    let taken = running().iter().any(|r| r.files.stem == FIRST && r.name != name);
    let stem = if taken {
        format!("controller-{name}")
    } else {
        FIRST.to_owned()
    };
    Ok(Files { dir, stem })
}

/// The connection `kubewire connect` with these arguments makes: `--name` made DNS-safe, else the
/// context's (the current one when none is given).
pub fn connection_name(cluster: &ClusterArgs, name: Option<&str>) -> anyhow::Result<String> {
    if let Some(name) = name {
        return Ok(kubewire_core::connection::connection_name(name));
    }
    let context = match &cluster.context {
        Some(c) => c.clone(),
        None => {
            kubewire_cluster::kubeconfig::load(cluster.kubeconfig.as_deref())?
                .context(None)?
                .name
        }
    };
    Ok(kubewire_core::connection::connection_name(&context))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connections_files_share_its_stem() {
        let files = Files {
            dir: PathBuf::from("/state"),
            stem: "controller-prod".into(),
        };
        assert_eq!(files.pid(), PathBuf::from("/state/controller-prod.pid"));
        assert_eq!(files.log(), PathBuf::from("/state/controller-prod.log"));
        assert_eq!(files.status(), PathBuf::from("/state/controller-prod.json"));
        assert_eq!(files.events(), PathBuf::from("/state/controller-prod.events"));
        assert_eq!(files.name(), PathBuf::from("/state/controller-prod.name"));
    }
}
