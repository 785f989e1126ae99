//! A stand-in for `kubewired` on a Unix socket, speaking the real IPC messages: it records what it
//! is asked and answers like the daemon would (Apply → Applied, Status, Subscribe → PeerStats every
//! 200 ms, ShowConf, Disconnect). It changes nothing on the machine.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kubewire_core::Plan;
use kubewire_ipc::framing;
use kubewire_ipc::{Changes, Event, PeerStatus, Request, Response, SessionInfo, Status, TunnelState};
use tokio::io::BufReader;
use tokio::net::UnixListener;

#[derive(Debug, Default)]
pub struct Seen {
    pub plans: Vec<Plan>,
    pub key_lengths: Vec<usize>,
    /// The preshared key each Apply carried.
    pub preshared_keys: Vec<Option<String>>,
    pub session: Option<SessionInfo>,
    pub disconnects: usize,
    pub attached: bool,
    /// What ShowConf answers instead of the default (a test's hostile or key-bearing text).
    pub showconf: Option<String>,
    /// Ranges a local network took (the daemon's status reports them).
    pub withdrawn: Vec<kubewire_core::lan_yield::Withdrawn>,
}

pub struct FakeDaemon {
    pub socket: PathBuf,
    pub seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn status(seen: &Seen) -> Status {
    let Some(plan) = seen.plans.last().filter(|_| seen.session.is_some()) else {
        return Status::disconnected();
    };
    let mut s = Status::disconnected();
    s.state = TunnelState::Connected;
    s.backend = Some("fake".into());
    s.interface = Some(plan.interface.name.clone());
    s.address = Some(plan.interface.address);
    s.session.clone_from(&seen.session);
    s.controller_attached = seen.attached;
    s.routes.clone_from(&plan.routes);
    s.service_gateway = plan.service_gateway.as_ref().map(|g| g.peer.clone());
    // No resolver here: this daemon sets up no split DNS (it says so, as the real one does when
    // its DNS part is off), so `doctor` does not expect cluster names through the OS resolver.
    s.dns_server = None;
    s.peers = peers(plan);
    s.withdrawn.clone_from(&seen.withdrawn);
    s
}

fn peers(plan: &Plan) -> Vec<PeerStatus> {
    plan.peers
        .iter()
        .map(|p| PeerStatus {
            name: p.name.clone(),
            public_key: p.public_key,
            endpoint: p.endpoint.as_ref().map(ToString::to_string),
            allowed_ips: p.allowed_ips.clone(),
            last_handshake_secs: Some(5),
            rx_bytes: 2048,
            tx_bytes: 1024,
            health: None,
        })
        .collect()
}

impl FakeDaemon {
    pub fn start(dir: &Path) -> FakeDaemon {
        let socket = dir.join("kubewired.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let seen = shared.clone();
                tokio::spawn(async move {
                    let (r, mut w) = stream.into_split();
                    let mut r = BufReader::new(r);
                    let mut controller = false;
                    while let Ok(Some(env)) = framing::read::<_, Request>(&mut r).await {
                        let answer = {
                            let mut s = seen.lock().unwrap();
                            match env {
                                Request::Apply {
                                    plan,
                                    private_key,
                                    preshared_key,
                                    session,
                                } => {
                                    controller = true;
                                    s.attached = true;
                                    s.key_lengths.push(private_key.0.len());
                                    s.preshared_keys.push(preshared_key.map(|k| k.0));
                                    s.plans.push(*plan);
                                    s.session = Some(session);
                                    Response::Applied {
                                        changes: Changes::default(),
                                        status: Box::new(status(&s)),
                                    }
                                }
                                Request::Status => Response::Status {
                                    status: Box::new(status(&s)),
                                },
                                Request::Disconnect { .. } => {
                                    s.disconnects += 1;
                                    s.session = None;
                                    Response::Disconnected
                                }
                                Request::ShowConf { .. } => Response::ShowConf {
                                    text: s
                                        .showconf
                                        .clone()
                                        .unwrap_or_else(|| "[Interface]\nPrivateKey = (redacted)\n".into()),
                                },
                                Request::Subscribe => Response::Subscribed,
                                Request::Expose { .. } | Request::Unexpose { .. } => {
                                    Response::Exposed { ports: Vec::new() }
                                }
                            }
                        };
                        let subscribed = matches!(answer, Response::Subscribed);
                        if framing::write(&mut w, &answer).await.is_err() {
                            break;
                        }
                        if subscribed {
                            loop {
                                tokio::time::sleep(Duration::from_millis(200)).await;
                                let event = {
                                    let s = seen.lock().unwrap();
                                    Event::PeerStats {
                                        peers: s.plans.last().map(peers).unwrap_or_default(),
                                    }
                                };
                                if framing::write(&mut w, &Response::Event { event }).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                    if controller {
                        seen.lock().unwrap().attached = false;
                    }
                });
            }
        });
        FakeDaemon { socket, seen, task }
    }
}
