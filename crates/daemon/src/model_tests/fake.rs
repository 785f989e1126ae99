//! The fake machine and tunnel of the model test: every change to the machine is one step, and
//! the process can die before any of them (the state file is kept as the crash left it).

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex};

use ipnet::IpNet;
use kubewire_tunnel::{Applied, Backend, Config, Op, TunnelError, diff};

use crate::change::LiveTunnel;
use crate::persist::Journal;

/// The machine: what the daemon put there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Machine {
    pub(super) interface: Option<String>,
    pub(super) routes: BTreeSet<IpNet>,
}

/// The machine, and the crash to come: after `Some(n)` more changes the process dies.
#[derive(Debug, Default)]
pub(super) struct World {
    pub(super) machine: Machine,
    pub(super) crash_in: Option<usize>,
    /// The state file's bytes at the instant of the crash (`None`: no file).
    pub(super) crashed: Option<Option<Vec<u8>>>,
}

pub(super) type Shared = Arc<Mutex<World>>;

/// One step of the process; `false` when it died here (the file's bytes are kept as it left them).
pub(super) fn tick(world: &Shared, journal: &Journal) -> bool {
    let mut w = world.lock().unwrap();
    match w.crash_in {
        Some(0) => {
            w.crash_in = None;
            w.crashed = Some(std::fs::read(journal.path()).ok());
            false
        }
        Some(n) => {
            w.crash_in = Some(n - 1);
            true
        }
        None => w.crashed.is_none(),
    }
}

pub(super) fn crash() -> TunnelError {
    TunnelError::Gone
}

pub(super) struct FakeTunnel {
    name: String,
    world: Shared,
    journal: Journal,
    live: Config,
}

impl FakeTunnel {
    pub(super) async fn create(name: String, world: Shared, journal: Journal) -> Result<Self, TunnelError> {
        if !tick(&world, &journal) {
            return Err(crash());
        }
        world.lock().unwrap().machine.interface = Some(name.clone());
        if !tick(&world, &journal) {
            return Err(crash());
        }
        Ok(Self {
            name,
            world,
            journal,
            live: Config::default(),
        })
    }

    /// Routes first, then the interface, one change at a time.
    pub(super) fn remove(self) -> bool {
        for net in &self.live.routes {
            if !tick(&self.world, &self.journal) {
                return false;
            }
            self.world.lock().unwrap().machine.routes.remove(net);
        }
        if !tick(&self.world, &self.journal) {
            return false;
        }
        self.world.lock().unwrap().machine.interface = None;
        tick(&self.world, &self.journal)
    }
}

impl LiveTunnel for FakeTunnel {
    fn name(&self) -> &str {
        &self.name
    }

    fn backend(&self) -> Backend {
        Backend::Kernel
    }

    fn live_routes(&self) -> Vec<IpNet> {
        self.live.routes.iter().copied().collect()
    }

    fn apply(&mut self, config: &Config) -> impl Future<Output = Result<Applied, TunnelError>> + Send {
        let config = config.clone();
        async move {
            let mut applied = Applied::default();
            for op in diff(&self.live, &config) {
                match op {
                    Op::RemovePeer(key) => {
                        self.live.peers.remove(&key);
                        applied.peers_removed.push(key);
                    }
                    Op::AddPeer(peer) => {
                        applied.peers_added.push(peer.public_key);
                        self.live.peers.insert(peer.public_key, peer);
                    }
                    Op::RemoveRoutes(nets) => {
                        for net in nets {
                            if !tick(&self.world, &self.journal) {
                                return Err(crash());
                            }
                            self.world.lock().unwrap().machine.routes.remove(&net);
                            self.live.routes.remove(&net);
                            applied.routes_removed.push(net);
                        }
                    }
                    Op::AddRoutes(nets) => {
                        for net in nets {
                            if !tick(&self.world, &self.journal) {
                                return Err(crash());
                            }
                            // As the real tunnel: recorded first, then added.
                            self.live.routes.insert(net);
                            self.world.lock().unwrap().machine.routes.insert(net);
                            applied.routes_added.push(net);
                        }
                    }
                }
            }
            if !tick(&self.world, &self.journal) {
                return Err(crash());
            }
            Ok(applied)
        }
    }
}
