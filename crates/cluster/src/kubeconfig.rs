//! kubeconfig as kubectl reads it: `--kubeconfig FILE` alone when given; else every file of
//! `KUBECONFIG` (missing ones skipped, the first to set a value wins); else `~/.kube/config`. Then a
//! context (`--context`, else `current-context`) gives the cluster and user. Exec credential plugins
//! and tokens work as in kube 5 (they run as the user).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use serde::Serialize;

use crate::error::ClusterError;

/// The merged kubeconfig and the files it came from.
#[derive(Debug, Clone)]
pub struct LoadedKubeconfig {
    /// The merged configuration.
    pub config: Kubeconfig,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
}

/// One context, as `kubewire contexts` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContextInfo {
    /// The context's name.
    pub name: String,
    /// Its cluster's name.
    pub cluster: String,
    /// The cluster's API server URL (empty when the cluster is missing).
    pub server: String,
    /// The user's name.
    pub user: String,
    /// The default namespace, if set.
    pub namespace: Option<String>,
    /// Whether this is the current context.
    pub current: bool,
}

/// A client for one context, and what the rest of the user side needs to know about it.
#[derive(Clone)]
pub struct ClusterClient {
    /// The kube client.
    pub client: kube::Client,
    /// The context's name.
    pub context: String,
    /// The API server URL (also the cluster's identity for keys).
    pub server: String,
    /// The context's namespace, if set.
    pub namespace: Option<String>,
}

/// How long an interactive exec credential plugin may take: it may be waiting for the user to
/// sign in (a browser, a device code, a hardware key).
pub const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a non-interactive exec credential plugin may take (`aws eks get-token`,
/// `gke-gcloud-auth-plugin`: seconds; a hung one is an error that names it).
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

/// The user's exec credential plugin, as far as waiting for it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecPlugin {
    /// Its command.
    pub command: String,
    /// It may ask the user to sign in (`interactiveMode` not `Never`; kube, like client-go, then
    /// gives it the terminal): kubelogin's browser flow, `aws sso login`, ...
    pub interactive: bool,
}

impl ExecPlugin {
    /// How long it may take.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        if self.interactive {
            SIGN_IN_TIMEOUT
        } else {
            EXEC_TIMEOUT
        }
    }
}

/// `user`'s exec credential plugin in `config`, if it has one.
#[must_use]
pub fn exec_plugin(config: &Kubeconfig, user: &str) -> Option<ExecPlugin> {
    let exec = config
        .auth_infos
        .iter()
        .find(|a| a.name == user)?
        .auth_info
        .as_ref()?
        .exec
        .as_ref()?;
    Some(ExecPlugin {
        command: exec.command.clone().unwrap_or_default(),
        interactive: exec.interactive_mode != Some(kube::config::ExecInteractiveMode::Never),
    })
}

impl std::fmt::Debug for ClusterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterClient")
            .field("context", &self.context)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// The files kubectl would read: `explicit`, else `KUBECONFIG`'s (existing ones), else the default.
fn candidate_files(explicit: Option<&Path>, env: Option<&OsStr>) -> Result<Vec<PathBuf>, ClusterError> {
    if let Some(path) = explicit {
        return Ok(vec![path.to_path_buf()]);
    }
    if let Some(value) = env {
        let listed: Vec<PathBuf> = std::env::split_paths(&value)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if !listed.is_empty() {
            let existing: Vec<PathBuf> = listed.iter().filter(|p| p.exists()).cloned().collect();
            if existing.is_empty() {
                return Err(ClusterError::NoKubeconfig {
                    looked_at: format!("KUBECONFIG={}", value.to_string_lossy()),
                });
            }
            return Ok(existing);
        }
    }
    let default = dirs::home_dir()
        .map(|h| h.join(".kube").join("config"))
        .ok_or_else(|| ClusterError::NoKubeconfig {
            looked_at: "~/.kube/config (no home directory)".into(),
        })?;
    if !default.exists() {
        return Err(ClusterError::NoKubeconfig {
            looked_at: default.display().to_string(),
        });
    }
    Ok(vec![default])
}

/// Reads and merges the kubeconfig files kubectl would read. A malformed file is an error naming it.
pub fn load(explicit: Option<&Path>) -> Result<LoadedKubeconfig, ClusterError> {
    load_with_env(explicit, std::env::var_os("KUBECONFIG").as_deref())
}

/// [`load`] with the value of `KUBECONFIG` given.
pub fn load_with_env(explicit: Option<&Path>, env: Option<&OsStr>) -> Result<LoadedKubeconfig, ClusterError> {
    let files = candidate_files(explicit, env)?;
    let mut merged = Kubeconfig::default();
    for path in &files {
        let one = Kubeconfig::read_from(path).map_err(|e| ClusterError::Kubeconfig {
            path: path.clone(),
            message: match e {
                kube::config::KubeconfigError::ReadConfig(io, _) => io.to_string(),
                other => other.to_string(),
            },
        })?;
        merged = merged.merge(one).map_err(|e| ClusterError::Kubeconfig {
            path: path.clone(),
            message: e.to_string(),
        })?;
    }
    tracing::debug!(files = files.len(), "kubeconfig loaded");
    Ok(LoadedKubeconfig {
        config: merged,
        files,
    })
}

impl LoadedKubeconfig {
    /// Every context, in file order.
    #[must_use]
    pub fn contexts(&self) -> Vec<ContextInfo> {
        let current = self.config.current_context.as_deref();
        self.config
            .contexts
            .iter()
            .map(|named| {
                let ctx = named.context.clone().unwrap_or_default();
                let server = self
                    .config
                    .clusters
                    .iter()
                    .find(|c| c.name == ctx.cluster)
                    .and_then(|c| c.cluster.as_ref())
                    .and_then(|c| c.server.clone())
                    .unwrap_or_default();
                ContextInfo {
                    current: current == Some(named.name.as_str()),
                    name: named.name.clone(),
                    cluster: ctx.cluster,
                    server,
                    user: ctx.user.unwrap_or_default(),
                    namespace: ctx.namespace,
                }
            })
            .collect()
    }

    /// The context `wanted`, else the current one.
    pub fn context(&self, wanted: Option<&str>) -> Result<ContextInfo, ClusterError> {
        let contexts = self.contexts();
        let name = match wanted.or(self.config.current_context.as_deref()) {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => return Err(ClusterError::NoCurrentContext),
        };
        contexts
            .iter()
            .find(|c| c.name == name)
            .cloned()
            .ok_or_else(|| ClusterError::UnknownContext {
                context: name,
                known: contexts
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The exec credential plugin of the context `wanted` (else the current one), if any: it
    /// runs while [`Self::client`] builds the client.
    #[must_use]
    pub fn exec_plugin(&self, wanted: Option<&str>) -> Option<ExecPlugin> {
        let info = self.context(wanted).ok()?;
        exec_plugin(&self.config, &info.user)
    }

    /// A kube client for the context `wanted` (else the current one). An exec credential plugin
    /// runs here (kube runs it while building the client), on a blocking thread and bounded by
    /// [`ExecPlugin::timeout`].
    pub async fn client(&self, wanted: Option<&str>) -> Result<ClusterClient, ClusterError> {
        let info = self.context(wanted)?;
        let plugin = exec_plugin(&self.config, &info.user);
        let options = KubeConfigOptions {
            context: Some(info.name.clone()),
            cluster: None,
            user: None,
        };
        let config = kube::Config::from_custom_kubeconfig(self.config.clone(), &options)
            .await
            .map_err(|e| ClusterError::ClientConfig {
                context: info.name.clone(),
                message: e.to_string(),
            })?;
        let server = config.cluster_url.to_string().trim_end_matches('/').to_owned();
        let build = tokio::task::spawn_blocking(move || kube::Client::try_from(config));
        let built = match &plugin {
            None => build.await,
            Some(plugin) => tokio::time::timeout(plugin.timeout(), build).await.map_err(|_| {
                ClusterError::Credentials {
                    context: info.name.clone(),
                    message: format!(
                        "the credential plugin `{}` did not finish within {} s",
                        plugin.command,
                        plugin.timeout().as_secs()
                    ),
                }
            })?,
        };
        let client = built
            .map_err(|e| ClusterError::ClientConfig {
                context: info.name.clone(),
                message: format!("building the client: {e}"),
            })?
            .map_err(|e| match e {
                kube::Error::Auth(auth) => ClusterError::Credentials {
                    context: info.name.clone(),
                    message: auth.to_string(),
                },
                other => ClusterError::ClientConfig {
                    context: info.name.clone(),
                    message: other.to_string(),
                },
            })?;
        Ok(ClusterClient {
            client,
            context: info.name,
            server,
            namespace: info.namespace,
        })
    }
}
