//! Network-namespace harness for kubewired's integration tests (root only).
//!
//! Each [`Lab`] makes its own namespaces `kwd-l<id>` (the laptop) and `kwd-n<id>-<k>` (nodes), joined
//! by veth pairs created inside them (198.18.<k>.0/24; nothing touches the host's namespace). Each
//! node runs wireguard-go (`kwdn<id><k>`) with its Kilo address 10.4.0.<k>/32 and a "pod" address
//! 10.42.<k>.1 on `lo`. The real `kubewired` runs inside the laptop namespace; the test talks to it
//! through its Unix socket (paths work across network namespaces). Namespaces, processes and the
//! daemon launcher are `kubewire-netns-testing`'s; everything is removed on Drop, also when a test
//! fails.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ipnet::IpNet;
use kubewire_core::PublicKey;
use kubewire_core::plan::Plan;
use kubewire_core::testing::PlanBuilder;
use kubewire_ipc::{Client, Request, Response, SecretKey, SessionInfo, Status};
use kubewire_netns_testing::{Daemon, DaemonSpec, Netns};

pub fn sh(args: &[&str]) -> std::process::Output {
    kubewire_netns_testing::output(args).unwrap()
}

pub fn ok(args: &[&str]) -> String {
    kubewire_netns_testing::check(args).unwrap_or_else(|e| panic!("{e}"))
}

pub fn in_ns(ns: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["ip", "netns", "exec", ns];
    all.extend_from_slice(args);
    sh(&all)
}

pub fn ok_ns(ns: &str, args: &[&str]) -> String {
    let mut all = vec!["ip", "netns", "exec", ns];
    all.extend_from_slice(args);
    ok(&all)
}

pub fn genkey() -> (String, PublicKey) {
    let private = ok(&["wg", "genkey"]).trim().to_owned();
    let mut child = Command::new("wg")
        .arg("pubkey")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), private.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let public = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    (private, public)
}

pub struct Node {
    pub ns: String,
    pub wg: String,
    pub key: PublicKey,
    pub pod: IpAddr,
    pub endpoint: String,
    pub index: u8,
}

pub struct Lab {
    pub id: String,
    pub laptop: String,
    pub wg: String,
    pub nodes: Vec<Node>,
    pub laptop_private: String,
    pub laptop_public: PublicKey,
    pub dir: tempfile::TempDir,
    pub daemon: Option<Daemon>,
    /// The laptop's and the nodes' namespaces (with the nodes' wireguard-go), deleted on drop.
    namespaces: Vec<Netns>,
    extra_args: Vec<String>,
    /// Environment of the next daemons started (fault points).
    pub daemon_env: Vec<(String, String)>,
    last_log: Option<PathBuf>,
    /// Daemons started so far.
    starts: usize,
}

pub fn is_root() -> bool {
    nix::unistd::getuid().is_root()
}

/// The tools the harness runs.
const TOOLS: &[&str] = &["ip", "wg", "wireguard-go", "setpriv", "ping"];

/// `true` when the test can run; see [`kubewire_netns_testing::can_run`] (strict in CI).
pub fn can_run() -> bool {
    kubewire_netns_testing::can_run(TOOLS)
}

impl Lab {
    /// A laptop namespace and `nodes` node namespaces with wireguard-go, no daemon yet.
    pub fn new(nodes: u8) -> Self {
        let id = kubewire_netns_testing::unique_name("");
        let laptop = format!("kwd-l{id}");
        let (laptop_private, laptop_public) = genkey();
        let dir = tempfile::tempdir().unwrap();
        // nobody must reach the socket in the user tests.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let mut lab = Self {
            wg: format!("kwd{id}"),
            id,
            laptop: laptop.clone(),
            nodes: Vec::new(),
            laptop_private,
            laptop_public,
            dir,
            daemon: None,
            namespaces: Vec::new(),
            extra_args: Vec::new(),
            daemon_env: Vec::new(),
            last_log: None,
            starts: 0,
        };
        lab.namespaces.push(Netns::create(&laptop).unwrap());
        for k in 1..=nodes {
            lab.add_node(k);
        }
        lab
    }

    fn add_node(&mut self, k: u8) {
        let ns = format!("kwd-n{}-{k}", self.id);
        let mut node = Netns::create(&ns).unwrap();
        let (lv, nv) = (format!("v{k}"), format!("v{k}n"));
        let laptop_side = format!("198.18.{k}.1/24");
        let node_side = format!("198.18.{k}.2/24");
        self.namespaces[0]
            .veth(&lv, Some(&laptop_side), &ns, &nv, Some(&node_side))
            .unwrap();
        // A second address: "the node's endpoint moved".
        node.addr(&format!("198.18.{k}.3/24"), &nv).unwrap();
        let pod: IpAddr = format!("10.42.{k}.1").parse().unwrap();
        node.addr(&format!("{pod}/32"), "lo").unwrap();
        let wg = format!("kwdn{}{k}", self.id);
        node.spawn(
            &["wireguard-go", &wg],
            &[("WG_PROCESS_FOREGROUND", "1")],
            Stdio::null(),
            Stdio::null(),
        )
        .unwrap();
        self.namespaces.push(node);
        let sock = PathBuf::from(format!("/var/run/wireguard/{wg}.sock"));
        wait_for(Duration::from_secs(5), || sock.exists()).unwrap();
        let (private, public) = genkey();
        let keyfile = self.dir.path().join(format!("{wg}.key"));
        std::fs::write(&keyfile, &private).unwrap();
        ok_ns(
            &ns,
            &[
                "wg",
                "set",
                &wg,
                "private-key",
                keyfile.to_str().unwrap(),
                "listen-port",
                "51820",
                "peer",
                &self.laptop_public.to_string(),
                "allowed-ips",
                "10.4.0.100/32",
            ],
        );
        ok_ns(&ns, &["ip", "addr", "add", &format!("10.4.0.{k}/32"), "dev", &wg]);
        ok_ns(&ns, &["ip", "link", "set", &wg, "mtu", "1420", "up"]);
        ok_ns(&ns, &["ip", "route", "add", "10.4.0.100/32", "dev", &wg]);
        self.nodes.push(Node {
            ns,
            wg,
            key: public,
            pod,
            endpoint: format!("198.18.{k}.2:51820"),
            index: k,
        });
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("kubewired.sock")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn state_file(&self) -> PathBuf {
        self.state_dir().join("state.json")
    }

    pub fn with_args(mut self, args: &[&str]) -> Self {
        self.extra_args = args.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Starts kubewired in the laptop namespace and waits for its socket.
    pub fn start_daemon(&mut self) {
        // Each start its own log: `log()` is what the current daemon said.
        self.starts += 1;
        let n = self.starts;
        let log = self.dir.path().join(format!("kubewired-{n}.log"));
        let mut spec = DaemonSpec::in_netns(
            Path::new(env!("CARGO_BIN_EXE_kubewired")),
            &self.laptop,
            &self.socket(),
            &self.state_dir(),
            &log,
        );
        spec.args.clone_from(&self.extra_args);
        spec.env.clone_from(&self.daemon_env);
        self.last_log = Some(log);
        match Daemon::start(&spec) {
            Ok(daemon) => self.daemon = Some(daemon),
            Err(e) => panic!("{e}"),
        }
    }

    pub fn log(&self) -> String {
        self.last_log
            .as_ref()
            .map(|l| std::fs::read_to_string(l).unwrap_or_default())
            .unwrap_or_default()
    }

    pub fn daemon_pid(&self) -> i32 {
        self.daemon.as_ref().unwrap().pid() as i32
    }

    /// Sends a signal to our daemon and waits for it to exit; its exit status.
    pub fn signal_daemon(&mut self, sig: nix::sys::signal::Signal) -> std::process::ExitStatus {
        let d = self.daemon.take().unwrap();
        d.signal(sig).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits for our daemon to exit by itself (a crash); `None` if it still runs after `within`.
    pub fn wait_daemon_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let status = self.daemon.as_mut()?.wait_exit(within)?;
        self.daemon = None;
        Some(status)
    }

    /// The laptop namespace's own resolv.conf (`ip netns exec` bind-mounts it on /etc/resolv.conf,
    /// so the daemon never sees the host's); removed on Drop.
    pub fn resolv_conf(&self) -> PathBuf {
        PathBuf::from("/etc/netns").join(&self.laptop).join("resolv.conf")
    }

    pub fn plan(&self, nodes: &[(usize, Option<&str>)]) -> Plan {
        plan_for(&self.wg, self.laptop_public, &self.nodes, nodes)
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.socket()).await.unwrap()
    }

    pub fn apply_request(&self, plan: Plan) -> Request {
        Request::Apply {
            plan: Box::new(plan),
            private_key: SecretKey(self.laptop_private.clone()),
            preshared_key: None,
            session: SessionInfo {
                context: "test".into(),
                cluster: "https://198.18.0.1:6443".into(),
                peer_name: "laptop".into(),
                name: String::new(),
            },
        }
    }

    pub async fn status(&self) -> Status {
        match self.client().await.request(&Request::Status).await.unwrap() {
            Response::Status { status } => *status,
            other => panic!("{other:?}"),
        }
    }

    /// Routes through our interface in the laptop namespace.
    pub fn routes(&self) -> Vec<IpNet> {
        let out = in_ns(&self.laptop, &["ip", "-j", "route", "show", "dev", &self.wg]);
        if !out.status.success() {
            return Vec::new();
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let mut nets: Vec<IpNet> = v
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["dst"].as_str())
                    .map(|d| {
                        d.parse()
                            .unwrap_or_else(|_| IpNet::from(d.parse::<IpAddr>().unwrap()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        nets.sort();
        nets
    }

    pub fn link_exists(&self, name: &str) -> bool {
        in_ns(&self.laptop, &["ip", "link", "show", "dev", name])
            .status
            .success()
    }

    /// One ping from the laptop, retried until `within` (handshakes take a moment).
    pub fn ping(&self, target: IpAddr, within: Duration) -> bool {
        wait_for(within, || {
            in_ns(&self.laptop, &["ping", "-c", "1", "-W", "1", &target.to_string()])
                .status
                .success()
        })
        .is_ok()
    }
}

/// A Plan with one Kilo-Peer-like entry per chosen node: (node index in `nodes`, endpoint override).
pub fn plan_for(wg: &str, laptop: PublicKey, all: &[Node], chosen: &[(usize, Option<&str>)]) -> Plan {
    chosen
        .iter()
        .fold(PlanBuilder::new(wg).laptop_key(laptop), |b, (i, endpoint)| {
            let n = &all[*i];
            b.peer(
                &format!("node-{}", n.index),
                n.key,
                endpoint.unwrap_or(&n.endpoint),
                &[
                    &format!("10.4.0.{}/32", n.index),
                    &format!("10.42.{}.0/24", n.index),
                ],
                5,
            )
        })
        .build()
}

pub fn wait_for(within: Duration, f: impl FnMut() -> bool) -> Result<(), ()> {
    kubewire_netns_testing::wait_for(within, f)
        .then_some(())
        .ok_or(())
}

impl Drop for Lab {
    fn drop(&mut self) {
        // The daemon first (it may still restore the laptop), then the nodes, then the laptop.
        self.daemon = None;
        while self.namespaces.pop().is_some() {}
        // Control sockets of our own interfaces only (kwd names).
        let mut names = vec![self.wg.clone()];
        names.extend(self.nodes.iter().map(|n| n.wg.clone()));
        for name in names {
            let _ = std::fs::remove_file(Path::new("/var/run/wireguard").join(format!("{name}.sock")));
        }
    }
}
