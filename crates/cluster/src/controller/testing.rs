//! A harness for the pure controller's tests: fake time (an `Instant` and a `SystemTime` that move
//! together), an API server that answers or not, and a tiny daemon that holds the last Plan it took
//! (none after a restart). No network, no tokio.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kubewire_core::{
    NodeSource, PeerSource, Plan, PlanRequest, PrivateKey, PublicKey, ServiceSource, Snapshot,
};
use kubewire_ipc::{PeerStatus, SessionInfo};

use super::{Apply, Command, Controller, ControllerConfig};
use crate::clock::ApiClock;
use crate::events::ControllerEvent;
use crate::watch::ClusterChange;

/// The local clock at the start, in Unix seconds.
pub const T0: u64 = 1_800_000_000;

/// A public key made of one number.
pub fn key(n: u32) -> String {
    let mut bytes = [0x5a_u8; 32];
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    PublicKey::from_bytes(bytes).to_string()
}

/// Node `i` in `location` (on that location's LAN, so that a location is one segment with a leader),
/// its endpoint on port `port`, last seen at `last_seen` (API clock).
pub fn node(i: u32, location: &str, port: u16, last_seen: i64) -> NodeSource {
    let mut annotations = BTreeMap::new();
    let mut put = |k: &str, v: String| annotations.insert(format!("kilo.squat.ai/{k}"), v);
    put("key", key(i + 1));
    put("endpoint", format!("198.51.100.{}:{port}", i + 10));
    put("location", location.to_owned());
    let lan = location.bytes().map(u32::from).sum::<u32>() % 200;
    put("internal-ip", format!("192.168.{lan}.{}/24", i + 1));
    put("last-seen", last_seen.to_string());
    NodeSource {
        name: format!("node-{i}"),
        labels: BTreeMap::new(),
        annotations,
        pod_cidrs: vec![format!("10.42.{i}.0/24")],
    }
}

/// A Kilo Peer with the given allowed IPs.
pub fn peer(i: u32, allowed: &[&str]) -> PeerSource {
    PeerSource {
        name: format!("peer-{i}"),
        allowed_ips: allowed.iter().map(|s| (*s).to_owned()).collect(),
        public_key: key(1000 + i),
        endpoint: None,
        persistent_keepalive: 0,
        has_preshared_key: false,
    }
}

fn kube_dns() -> ServiceSource {
    ServiceSource {
        namespace: "kube-system".into(),
        name: "kube-dns".into(),
        labels: BTreeMap::new(),
        cluster_ip: Some("10.43.0.10".into()),
    }
}

/// The laptop's request, as connect makes it.
pub fn request() -> PlanRequest {
    let mut r = PlanRequest::new(key(77_777).parse().unwrap());
    r.peer_name = Some("laptop".into());
    r.settings.service_cidrs = vec!["10.43.0.0/16".parse().unwrap()];
    r
}

/// The controller's configuration (a 100 ms quiet time, re-plan every 5 s, backoff to 10 s).
pub fn config() -> ControllerConfig {
    let mut config = ControllerConfig::new(
        request(),
        key(424_242).parse::<PrivateKey>().unwrap(),
        SessionInfo {
            context: "test".into(),
            cluster: "https://test".into(),
            peer_name: "laptop".into(),
            name: "test".into(),
        },
    );
    config.debounce = Duration::from_millis(100);
    config
}

/// A snapshot with these objects (and kube-dns).
pub fn snapshot(nodes: &[NodeSource], peers: &[PeerSource]) -> Snapshot {
    Snapshot::from_sources(nodes, peers, &[kube_dns()])
}

/// The pure controller, a fake API server, a fake daemon and fake time.
pub struct Harness {
    pub c: Controller,
    pub start: Instant,
    /// Time since the start.
    pub t: Duration,
    /// API server time minus local time.
    pub api_offset: i64,
    pub api_up: bool,
    /// The daemon answers (and takes Plans).
    pub daemon_up: bool,
    /// The Plan the daemon holds (none after a restart).
    pub daemon_plan: Option<Plan>,
    /// Every Apply the daemon took.
    pub applied: Vec<Apply>,
    /// Every event.
    pub events: Vec<ControllerEvent>,
    /// Probes asked for.
    pub probes: Vec<Duration>,
    /// Registrations asked for.
    pub registrations: usize,
    /// Fresh watches asked for.
    pub rewatches: Vec<Duration>,
}

impl Harness {
    /// Connected as connect leaves it: the first Plan of `snapshot` applied.
    pub fn connected(config: &ControllerConfig, snapshot: Snapshot, api_offset: i64) -> Self {
        let start = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_secs(T0);
        let clock = ApiClock {
            offset_secs: api_offset,
        };
        let plan = kubewire_core::plan(&snapshot, &config.request, clock.at(wall)).ok();
        let c = Controller::new(config, snapshot, clock, plan.clone(), start, start);
        Self {
            c,
            start,
            t: Duration::ZERO,
            api_offset,
            api_up: true,
            daemon_up: true,
            daemon_plan: plan,
            applied: Vec::new(),
            events: Vec::new(),
            probes: Vec::new(),
            registrations: 0,
            rewatches: Vec::new(),
        }
    }

    pub fn now(&self) -> Instant {
        self.start + self.t
    }

    pub fn wall(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(T0) + self.t
    }

    /// "Now" on the API server, in Unix seconds.
    pub fn api_now(&self) -> i64 {
        ApiClock {
            offset_secs: self.api_offset,
        }
        .at(self.wall())
    }

    /// Carries out the controller's commands, and collects its events.
    pub fn drive(&mut self) {
        let (now, wall) = (self.now(), self.wall());
        while let Some(command) = self.c.poll_command() {
            match command {
                Command::Apply(apply) => {
                    let result = if self.daemon_up {
                        self.daemon_plan = Some((*apply.plan).clone());
                        self.applied.push(apply.clone());
                        Ok(())
                    } else {
                        Err("the kubewire daemon is not running".to_owned())
                    };
                    self.c.handle_applied(apply, result, now, wall);
                }
                Command::Probe => {
                    self.probes.push(self.t);
                    let answer = if self.api_up {
                        Ok(ApiClock {
                            offset_secs: self.api_offset,
                        })
                    } else {
                        Err("connection refused".to_owned())
                    };
                    self.c.handle_probe(answer, now, wall);
                }
                Command::Register => {
                    self.registrations += 1;
                    self.c.handle_registered(Ok(()));
                }
                Command::Rewatch => self.rewatches.push(self.t),
            }
        }
        while let Some(event) = self.c.poll_event() {
            self.events.push(event);
        }
    }

    /// Lets `d` pass, waking the controller at each of its timeouts on the way.
    pub fn advance(&mut self, d: Duration) {
        let until = self.t + d;
        for _ in 0..100_000 {
            match self.c.poll_timeout() {
                Some(at) if at <= self.start + until => {
                    self.t = self.t.max(at - self.start);
                    self.c.handle_timeout(self.now(), self.wall());
                    self.drive();
                }
                _ => break,
            }
        }
        self.t = until;
    }

    /// A watch change; what falls due at once runs at once, as the shell's next turn would.
    pub fn change(&mut self, change: ClusterChange) {
        self.c.handle_change(change, self.now());
        self.drive();
        self.advance(Duration::ZERO);
    }

    pub fn stats(&mut self, ages: &[(&str, Option<u64>)]) {
        let peers: Vec<PeerStatus> = ages
            .iter()
            .map(|(name, age)| PeerStatus {
                name: (*name).to_owned(),
                public_key: key(1).parse().unwrap(),
                endpoint: None,
                allowed_ips: Vec::new(),
                last_handshake_secs: *age,
                rx_bytes: 0,
                tx_bytes: 0,
                health: None,
            })
            .collect();
        self.c.handle_stats(&peers, self.now(), self.wall());
        self.drive();
    }

    /// The daemon stops: it forgets its Plan, and the controller hears it.
    pub fn daemon_down(&mut self) {
        self.daemon_up = false;
        self.daemon_plan = None;
        self.c.handle_daemon_lost(
            "the kubewire daemon closed the connection".into(),
            self.now(),
            self.wall(),
        );
        self.drive();
    }

    /// The daemon answers again.
    pub fn daemon_back(&mut self) {
        self.daemon_up = true;
        self.c.handle_daemon_back(self.now());
        self.drive();
    }

    /// Plans sent (not restores) so far.
    pub fn sent(&self) -> Vec<&Plan> {
        self.applied
            .iter()
            .filter(|a| !a.restore)
            .map(|a| &*a.plan)
            .collect()
    }
}
