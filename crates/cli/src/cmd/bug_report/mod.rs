//! `kubewire bug-report`: one archive with what a maintainer needs to understand a problem
//! (versions, the daemon's status and live configuration, `doctor`, the Plan, the controller's and
//! the daemon's recent logs, the OS's DNS and route state), every file passed through
//! [`redact::Redactor`] so that no private key, preshared key or token leaves the machine.

mod archive;
mod redact;
mod secrets;

#[cfg_attr(target_os = "linux", path = "system_linux.rs")]
#[cfg_attr(target_os = "macos", path = "system_macos.rs")]
#[cfg_attr(windows, path = "system_windows.rs")]
mod platform;

use std::path::PathBuf;
use std::time::Duration;

use kubewire_cluster::connect::preview;
use kubewire_cluster::doctor::{self, DoctorInput};
use kubewire_cluster::keys::KeyStore;
use kubewire_cluster::kubeconfig;
use kubewire_ipc::{Client, ClientError, Request, Response};

use super::Global;
use super::common::{self, ClusterArgs, SettingsArgs};
use redact::Redactor;

/// How long one part of the report may take (a command, the daemon, the cluster).
const PART_TIMEOUT: Duration = Duration::from_secs(20);
/// How many lines of each log go in.
const LOG_LINES: usize = 5000;

/// Arguments of `kubewire bug-report`.
#[derive(Debug, clap::Args)]
pub struct BugReportArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Where to write the archive (default: `kubewire-bug-report-<UTC time>.tar.gz` here).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The daemon's log file, when kubewired does not run as the system service (default: the
    /// service's log: journald, the unified log, the Windows event log).
    #[arg(long, value_name = "FILE")]
    pub daemon_log: Option<PathBuf>,
    /// The controller's log file (default: the background controller's, `connect --detach`; the
    /// tray passes its own).
    #[arg(long, value_name = "FILE")]
    pub controller_log: Option<PathBuf>,
}

/// The files of the report, before redaction.
#[derive(Default)]
struct Parts {
    files: Vec<(String, Vec<u8>)>,
}

impl Parts {
    fn add(&mut self, name: &str, data: impl Into<Vec<u8>>) {
        self.files.push((name.to_owned(), data.into()));
    }
}

/// Runs `kubewire bug-report`.
pub fn run(args: &BugReportArgs, global: &Global) -> anyhow::Result<()> {
    let output = args.output.clone().unwrap_or_else(default_name);
    let mut parts = Parts::default();
    let mut redactor = Redactor::default();
    common::runtime()?.block_on(collect(args, global, &mut parts, &mut redactor));
    let mut removed = 0;
    let mut files: Vec<(String, Vec<u8>)> = parts
        .files
        .into_iter()
        .map(|(name, data)| {
            let (text, n) = redactor.redact(&String::from_utf8_lossy(&data));
            removed += n;
            (name, text.into_bytes())
        })
        .collect();
    files.insert(
        0,
        (
            "README.txt".to_owned(),
            format!(
                "kubewire bug report, made {}.\n\
                 Secrets were removed before writing ({removed} places): private and preshared keys, \
                 bearer tokens, passwords, client keys. Public keys, addresses and names stay.\n\
                 Files: {}\n",
                httpdate::fmt_http_date(std::time::SystemTime::now()),
                files
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
            .into_bytes(),
        ),
    );
    archive::write(&output, &files)?;
    let size: usize = files.iter().map(|(_, d)| d.len()).sum();
    eprintln!(
        "wrote {} ({} files, {} KB before compression; {removed} secrets removed)\n\
         attach it to your issue; to read it first: tar -xzf {}",
        output.display(),
        files.len(),
        size.div_ceil(1024),
        output.display()
    );
    Ok(())
}

fn default_name() -> PathBuf {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    PathBuf::from(format!("kubewire-bug-report-{now}.tar.gz"))
}

fn step(what: &str) {
    eprintln!("collecting {what}…");
}

async fn collect(args: &BugReportArgs, global: &Global, parts: &mut Parts, redactor: &mut Redactor) {
    parts.add(
        "versions.txt",
        format!(
            "kubewire {}\nos: {} {}\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH
        ),
    );
    secrets_of(args, redactor).await;

    step("the daemon's status and configuration");
    parts.add("status.json", daemon_json(&global.socket, Request::Status).await);
    let showconf = daemon_json(&global.socket, Request::ShowConf { name: None }).await;
    for line in String::from_utf8_lossy(&showconf).lines() {
        if let Some(key) = line.trim().strip_prefix("PublicKey = ") {
            redactor.public_key(key);
        }
    }
    parts.add("showconf.txt", showconf);

    step("doctor");
    let options = common::options(&args.cluster, &args.settings);
    let input = DoctorInput {
        socket: global.socket.clone(),
        kubeconfig: args.cluster.kubeconfig.clone(),
        context: args.cluster.context.clone(),
        options: options.as_ref().map(Clone::clone).map_err(|e| format!("{e:#}")),
    };
    let doctor = match tokio::time::timeout(PART_TIMEOUT * 3, doctor::run(&input)).await {
        Ok(checks) => serde_json::to_string_pretty(&doctor::json(&checks)).unwrap_or_default(),
        Err(_) => format!("doctor did not finish within {} s", PART_TIMEOUT.as_secs() * 3),
    };
    parts.add("doctor.json", doctor);

    step("the plan");
    let plan = match options {
        Ok(options) => {
            let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
            match tokio::time::timeout(PART_TIMEOUT, preview(&options, tx)).await {
                Ok(Ok((_, Ok(plan)))) => {
                    redactor.public_key(&plan.interface.public_key.to_string());
                    for peer in &plan.peers {
                        redactor.public_key(&peer.public_key.to_string());
                    }
                    kubewire_core::render::json::render(&plan).unwrap_or_default()
                }
                Ok(Ok((_, Err(e))) | Err(e)) => format!("no plan: {e}"),
                Err(_) => format!("no plan within {} s", PART_TIMEOUT.as_secs()),
            }
        }
        Err(e) => format!("no plan: {e:#}"),
    };
    parts.add("plan.json", plan);

    step("logs");
    // Every connection's controller files (`controller.log`, `controller-<name>.log`, their
    // status `.json`), or the one log given.
    match (&args.controller_log, common::state_dir()) {
        (Some(path), _) => parts.add("controller.log", tail_file(path)),
        (None, Ok(dir)) => {
            let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map(|entries| {
                    entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| {
                            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                            name.starts_with("controller")
                                && (name.ends_with(".log") || name.ends_with(".json"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            found.sort();
            if found.is_empty() {
                parts.add(
                    "controller.log",
                    format!("no controller log in {}\n", dir.display()),
                );
            }
            for path in found {
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("controller.log");
                parts.add(name, tail_file(&path));
            }
        }
        (None, Err(e)) => parts.add("controller.log", format!("{e:#}")),
    }
    let daemon_log = match &args.daemon_log {
        Some(path) => tail_file(path),
        None => {
            let (program, args) = platform::DAEMON_LOG;
            tail(&run_program(program, args).await)
        }
    };
    parts.add("daemon.log", daemon_log);

    step("the system's DNS and routes");
    for (name, program, args) in platform::COMMANDS {
        parts.add(name, run_program(program, args).await);
    }
    for (name, path) in platform::FILES {
        parts.add(
            name,
            std::fs::read(path).unwrap_or_else(|e| format!("{path}: {e}").into_bytes()),
        );
    }
}

/// What the redactor must know: the kubeconfig's secrets and the laptop's private key.
async fn secrets_of(args: &BugReportArgs, redactor: &mut Redactor) {
    let Ok(loaded) = kubeconfig::load(args.cluster.kubeconfig.as_deref()) else {
        return;
    };
    for secret in secrets::kubeconfig_secrets(&loaded.files) {
        redactor.secret(&secret);
    }
    let Ok(context) = loaded.context(args.cluster.context.as_deref()) else {
        return;
    };
    if let Ok(store) = KeyStore::default_store()
        && let Ok(Some((pair, _))) = store.load(&context.server).await
    {
        redactor.secret(&pair.private.to_base64());
        redactor.public_key(&pair.public.to_string());
    }
}

/// The daemon's answer to `request` as text (JSON for the status), or why there is none.
async fn daemon_json(socket: &std::path::Path, request: Request) -> Vec<u8> {
    let asked = tokio::time::timeout(PART_TIMEOUT, async {
        let mut client = Client::connect(socket).await?;
        client.request(&request).await
    })
    .await;
    let text = match asked {
        Ok(Ok(Response::Status { status })) => serde_json::to_string_pretty(&status).unwrap_or_default(),
        Ok(Ok(Response::ShowConf { text })) => text,
        Ok(Ok(other)) => format!("{} ({other:?})", ClientError::Unexpected.problem().what),
        Ok(Err(e)) => format!("the daemon did not answer: {e}"),
        Err(_) => format!("the daemon did not answer within {} s", PART_TIMEOUT.as_secs()),
    };
    text.into_bytes()
}

/// A program's output (stdout, then stderr), or why it did not run.
async fn run_program(program: &str, args: &[&str]) -> Vec<u8> {
    let run = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(PART_TIMEOUT, run).await {
        Ok(Ok(out)) => {
            let mut data = format!("$ {program} {} ({})\n", args.join(" "), out.status).into_bytes();
            data.extend_from_slice(&out.stdout);
            data.extend_from_slice(&out.stderr);
            data
        }
        Ok(Err(e)) => format!("$ {program} {}: {e}\n", args.join(" ")).into_bytes(),
        Err(_) => format!(
            "$ {program} {}: no answer within {} s\n",
            args.join(" "),
            PART_TIMEOUT.as_secs()
        )
        .into_bytes(),
    }
}

/// The last [`LOG_LINES`] lines of a file, or why it cannot be read.
fn tail_file(path: &std::path::Path) -> Vec<u8> {
    match std::fs::read(path) {
        Ok(data) => tail(&data),
        Err(e) => format!("{}: {e}\n", path.display()).into_bytes(),
    }
}

fn tail(data: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(LOG_LINES);
    let mut out = lines[start..].join("\n");
    out.push('\n');
    out.into_bytes()
}
