//! A small lab of network namespaces for the resolver tests (root only; every name starts with
//! `kwn-`): a "laptop", a "cluster" whose DNS (unbound, query log) is reached through the laptop's
//! `wg0` (a veth standing in for the tunnel), and an "upstream" nameserver (unbound, query log)
//! reached through the laptop's `eth0`. The laptop has its own `/etc/netns/<ns>/resolv.conf`.
//! Namespaces and the processes in them are `kubewire-netns-testing`'s: everything is removed on
//! drop, also when a test fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use kubewire_netns_testing::Netns;

pub const CLUSTER_DNS: &str = "10.43.0.10";
pub const LAPTOP_TUNNEL_IP: &str = "198.18.1.1";
pub const UPSTREAM_DNS: &str = "198.18.2.2";
pub const ORIGINAL_RESOLV_CONF: &str =
    "# the laptop's own resolv.conf\nnameserver 198.18.2.2\nsearch lan\noptions edns0\n";

/// Whether the namespace tests can run here (root, ip, unbound, dig, getent); strict in CI.
pub fn can_run() -> bool {
    kubewire_netns_testing::can_run(&["ip", "unbound", "dig", "getent"])
}

pub struct Lab {
    pub laptop: String,
    pub cluster: String,
    pub upstream: String,
    pub dir: tempfile::TempDir,
    /// The laptop's, the cluster's and the upstream's namespaces, with the processes started in them.
    namespaces: Vec<Netns>,
    /// Every child started: (namespace index, index in that namespace).
    children: Vec<(usize, usize)>,
}

pub fn sh(cmd: &str) -> Output {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    if !out.status.success() {
        panic!(
            "{cmd}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

fn unbound_conf(dir: &Path, listen: &str, zones: &[&str], data: &[&str]) -> String {
    let mut out = String::from("server:\n");
    for line in [
        &format!("interface: {listen}"),
        "port: 53",
        "do-ip6: no",
        "access-control: 0.0.0.0/0 allow",
        "username: \"\"",
        "chroot: \"\"",
        "pidfile: \"\"",
        "use-syslog: no",
        "log-queries: yes",
        "verbosity: 0",
        "module-config: \"iterator\"",
        "do-not-query-localhost: yes",
        "local-zone: \".\" static",
        "num-threads: 1",
    ] {
        out.push_str(&format!("  {line}\n"));
    }
    out.push_str(&format!("  directory: \"{}\"\n", dir.display()));
    out.push_str(&format!("  logfile: \"{}\"\n", dir.join("queries.log").display()));
    for z in zones {
        out.push_str(&format!("  local-zone: \"{z}\" static\n"));
    }
    for d in data {
        if let Some(ptr) = d.strip_prefix("PTR:") {
            out.push_str(&format!("  local-data-ptr: \"{ptr}\"\n"));
        } else {
            out.push_str(&format!("  local-data: \"{d}\"\n"));
        }
    }
    out
}

impl Lab {
    pub fn new(tag: &str) -> Lab {
        let laptop = format!("kwn-{tag}-laptop");
        let cluster = format!("kwn-{tag}-cluster");
        let upstream = format!("kwn-{tag}-up");
        // A leftover of an earlier, killed run is removed first.
        let namespaces = [&laptop, &cluster, &upstream]
            .map(|ns| Netns::create(ns).unwrap_or_else(|e| panic!("{e}")))
            .into();
        let lab = Lab {
            laptop,
            cluster,
            upstream,
            dir: tempfile::tempdir().unwrap(),
            namespaces,
            children: Vec::new(),
        };
        let (l, c, u) = (&lab.laptop, &lab.cluster, &lab.upstream);
        sh(&format!(
            "ip -n {l} link add wg0 type veth peer name tun0 netns {c} && \
             ip -n {l} addr add {LAPTOP_TUNNEL_IP}/24 dev wg0 && ip -n {l} link set wg0 up && \
             ip -n {c} addr add 198.18.1.2/24 dev tun0 && ip -n {c} link set tun0 up && \
             ip -n {c} addr add {CLUSTER_DNS}/32 dev lo && \
             ip -n {l} route add 10.43.0.0/16 via 198.18.1.2 && \
             ip -n {l} route add 10.42.0.0/16 via 198.18.1.2 && \
             ip -n {l} link add eth0 type veth peer name eth0 netns {u} && \
             ip -n {l} addr add 198.18.2.1/24 dev eth0 && ip -n {l} link set eth0 up && \
             ip -n {u} addr add {UPSTREAM_DNS}/24 dev eth0 && ip -n {u} link set eth0 up"
        ));
        std::fs::create_dir_all(lab.netns_dir()).unwrap();
        std::fs::write(lab.resolv_conf(), ORIGINAL_RESOLV_CONF).unwrap();
        lab
    }

    pub fn netns_dir(&self) -> PathBuf {
        self.namespaces[0].etc_dir()
    }

    /// The laptop's resolv.conf (its `/etc/resolv.conf` under `ip netns exec`).
    pub fn resolv_conf(&self) -> PathBuf {
        self.netns_dir().join("resolv.conf")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Start a long-running process in a namespace; killed on drop.
    pub fn spawn(&mut self, ns: &str, args: &[&str]) -> &mut Child {
        let n = self
            .namespaces
            .iter()
            .position(|n| n.name() == ns)
            .unwrap_or_else(|| panic!("{ns} is not one of this lab's namespaces"));
        let i = self.namespaces[n]
            .spawn(args, &[], Stdio::piped(), Stdio::piped())
            .unwrap_or_else(|e| panic!("{e}"));
        self.children.push((n, i));
        self.child(self.children.len() - 1)
    }

    fn child(&mut self, index: usize) -> &mut Child {
        let (n, i) = self.children[index];
        self.namespaces[n].child(i).unwrap()
    }

    fn start_unbound(&mut self, ns: &str, sub: &str, listen: &str, zones: &[&str], data: &[&str]) {
        let dir = self.path(sub);
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("unbound.conf");
        std::fs::write(&conf, unbound_conf(&dir, listen, zones, data)).unwrap();
        let ns = ns.to_owned();
        self.spawn(&ns, &["unbound", "-d", "-c", conf.to_str().unwrap()]);
        self.wait_dns(&ns, listen, "probe.invalid");
    }

    /// The cluster DNS (unbound, TTL 5) on 10.43.0.10 in the cluster namespace.
    pub fn start_cluster_dns(&mut self) {
        let c = self.cluster.clone();
        self.start_unbound(
            &c,
            "cluster",
            CLUSTER_DNS,
            &["cluster.local.", "42.10.in-addr.arpa.", "43.10.in-addr.arpa."],
            &[
                // CoreDNS answers NXDOMAIN with this SOA (negative TTL 5).
                "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5",
                "web.default.svc.cluster.local. 5 IN A 10.43.0.80",
                "_http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local.",
                "echo.default.svc.cluster.local. 5 IN A 10.42.0.10",
                "echo.default.svc.cluster.local. 5 IN A 10.42.1.10",
                "echo.default.svc.cluster.local. 5 IN A 10.42.2.10",
                "echo-a.echo.default.svc.cluster.local. 5 IN A 10.42.0.10",
                "kube-dns.kube-system.svc.cluster.local. 5 IN A 10.43.0.10",
                "PTR:10.42.0.10 echo-a.echo.default.svc.cluster.local.",
                "PTR:10.43.0.80 web.default.svc.cluster.local.",
            ],
        );
    }

    /// The laptop's original nameserver: `www.example.com`, `example.com`, and `web.default` (a name
    /// that is also a cluster Service) with public-looking addresses.
    pub fn start_upstream_dns(&mut self) {
        let u = self.upstream.clone();
        self.start_unbound(
            &u,
            "upstream",
            UPSTREAM_DNS,
            &["example.com.", "web.default.", "lan."],
            &[
                "www.example.com. 300 IN A 198.51.100.7",
                "example.com. 300 IN A 198.51.100.8",
                "web.default. 300 IN A 198.51.100.66",
                "printer.lan. 300 IN A 198.18.2.9",
            ],
        );
    }

    /// The cluster DNS's query log.
    pub fn cluster_log(&self) -> String {
        std::fs::read_to_string(self.path("cluster/queries.log")).unwrap_or_default()
    }

    pub fn upstream_log(&self) -> String {
        std::fs::read_to_string(self.path("upstream/queries.log")).unwrap_or_default()
    }

    /// Run a command in a namespace; its output (any status).
    pub fn exec(&self, ns: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .output()
            .unwrap()
    }

    /// Run a command in the laptop namespace; stdout as text.
    pub fn laptop(&self, cmd: &str) -> String {
        let out = self.exec(&self.laptop, &["sh", "-c", cmd]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A query through the laptop's system resolver (dig without @): (status, answer lines, time).
    pub fn dig(&self, args: &str) -> (String, Vec<String>, Duration) {
        self.dig_in(&self.laptop.clone(), args)
    }

    pub fn dig_in(&self, ns: &str, args: &str) -> (String, Vec<String>, Duration) {
        let start = Instant::now();
        let out = self.exec(
            ns,
            &[
                "sh",
                "-c",
                &format!("dig +tries=1 +time=3 +noall +comments +answer {args}"),
            ],
        );
        let took = start.elapsed();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let status = text
            .split("status: ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .unwrap_or("NO ANSWER")
            .to_owned();
        let answers = text
            .lines()
            .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        (status, answers, took)
    }

    fn wait_dns(&self, ns: &str, server: &str, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let (status, _, _) = self.dig_in(ns, &format!("@{server} {name} +time=1"));
            if status != "NO ANSWER" {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no DNS server on {server} in {ns}");
    }

    /// The example runner (`examples/dnsd.rs`), built by `cargo test`.
    pub fn dnsd() -> PathBuf {
        // `cargo test --test netns` alone does not build examples: build it once.
        static BUILT: std::sync::Once = std::sync::Once::new();
        BUILT.call_once(|| {
            let status = Command::new(env!("CARGO"))
                .args(["build", "-q", "-p", "kubewire-dns", "--example", "dnsd"])
                .status()
                .unwrap();
            assert!(status.success(), "building examples/dnsd failed");
        });
        let exe = std::env::current_exe().unwrap();
        exe.parent().unwrap().parent().unwrap().join("examples/dnsd")
    }

    /// Start `dnsd run` in the laptop namespace with resolv.conf mode on the laptop's resolv.conf;
    /// waits for `ready`. Returns the index of the child.
    pub fn start_dnsd(&mut self, extra: &[&str]) -> usize {
        self.start_dnsd_env(&[], extra)
    }

    /// [`Lab::start_dnsd`] with `VAR=value` settings for dnsd's environment.
    pub fn start_dnsd_env(&mut self, env: &[&str], extra: &[&str]) -> usize {
        let l = self.laptop.clone();
        let resolv = self.resolv_conf();
        let backup = self.path("resolv.backup");
        let state = self.path("state.json");
        let dnsd = Self::dnsd();
        let mut args: Vec<String> = vec!["env".into()];
        args.extend(env.iter().map(|s| s.to_string()));
        args.extend([
            dnsd.display().to_string(),
            "run".into(),
            "--cluster-dns".into(),
            format!("{CLUSTER_DNS}:53"),
            "--route".into(),
            "10.42.0.0/16".into(),
            "--route".into(),
            "10.43.0.0/16".into(),
            "--resolv-conf".into(),
            resolv.display().to_string(),
            "--backup".into(),
            backup.display().to_string(),
            "--state".into(),
            state.display().to_string(),
        ]);
        args.extend(extra.iter().map(|s| s.to_string()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let child = self.spawn(&l, &argv);
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        if !line.starts_with("ready") {
            let mut err = String::new();
            let last = self.children.len() - 1;
            let _ = std::io::Read::read_to_string(self.child(last).stderr.as_mut().unwrap(), &mut err);
            panic!("dnsd did not start: {line:?} {err}");
        }
        self.children.len() - 1
    }

    pub fn child_pid(&mut self, index: usize) -> u32 {
        self.child(index).id()
    }

    /// Send a signal to a child and wait for it.
    pub fn signal(&mut self, index: usize, signal: &str) {
        let child = self.child(index);
        sh(&format!("kill -{signal} {}", child.id()));
        let _ = child.wait();
    }

    pub fn restore(&self) -> Output {
        self.restore_env(&[])
    }

    /// [`Lab::restore`] with `VAR=value` settings for dnsd's environment.
    pub fn restore_env(&self, env: &[&str]) -> Output {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.laptop, "env"])
            .args(env)
            .arg(Self::dnsd())
            .args(["restore", "--resolv-conf"])
            .arg(self.resolv_conf())
            .arg("--backup")
            .arg(self.path("resolv.backup"))
            .arg("--state")
            .arg(self.path("state.json"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out
    }
}

/// `cargo xtask test` sets `KUBEWIRE_TESTS_STRICT=1`: there, a test that would skip fails instead,
/// so CI never passes by skipping.
pub fn strict_skip(why: &str) {
    if std::env::var_os("KUBEWIRE_TESTS_STRICT").is_some() {
        panic!(
            "this test cannot run here ({why}), and KUBEWIRE_TESTS_STRICT is set: run `cargo xtask setup`"
        );
    }
}
