//! The controller's shell: the only part that does I/O. It moves watch changes, the daemon's
//! signals, timeouts and the answers to commands into the pure [`Controller`], and carries out its
//! commands (apply a Plan through the sink, probe the API server, register the Peer again), its
//! events and its status. It decides nothing.

use std::time::{Duration, SystemTime};

use kubewire_core::resume::ResumeClock;

use tokio::time::Instant;

use super::state::{Command, Controller};
use super::*;
use crate::discovery;
use crate::sink::PlanUpdate;
use crate::watch::{follow_namespaces, follow_nodes, follow_peers};

pub(super) struct Shell<S> {
    pub(super) client: kube::Client,
    pub(super) server: String,
    pub(super) sink: S,
    pub(super) events: mpsc::UnboundedSender<ControllerEvent>,
    pub(super) status: watch::Sender<ControllerStatus>,
    pub(super) state: Controller,
    pub(super) config: ControllerConfig,
    /// The state asked for fresh watches.
    pub(super) rewatch: bool,
}

/// How often the shell reads its clocks to notice a resume (a wake-up every 5 s: well under 1 Hz).
const RESUME_TICK: Duration = Duration::from_secs(5);

/// The running watches of Nodes, Peers and Namespaces.
struct Watches([tokio::task::JoinHandle<()>; 3]);

impl Watches {
    fn start(client: &kube::Client, tx: &mpsc::Sender<crate::watch::ClusterChange>) -> Self {
        Self([
            tokio::spawn(follow_nodes(client.clone(), tx.clone())),
            tokio::spawn(follow_peers(client.clone(), tx.clone())),
            tokio::spawn(follow_namespaces(client.clone(), tx.clone())),
        ])
    }

    fn stop(&self) {
        for w in &self.0 {
            w.abort();
        }
    }
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

impl<S: PlanSink> Shell<S> {
    pub(super) async fn run(
        mut self,
        mut stop: oneshot::Receiver<StopMode>,
        mut daemon: Option<mpsc::Receiver<DaemonSignal>>,
    ) -> Result<(), ClusterError> {
        let (tx, mut changes) = mpsc::channel(1024);
        let mut watches = Watches::start(&self.client, &tx);
        let started = Instant::now();
        let mut clock = ResumeClock::new(Duration::ZERO, SystemTime::now(), RESUME_TICK);
        let mut tick = tokio::time::interval(RESUME_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mode = loop {
            self.drive().await;
            if std::mem::take(&mut self.rewatch) {
                watches.stop();
                watches = Watches::start(&self.client, &tx);
            }
            let wake = self.state.poll_timeout().map(Instant::from_std);
            tokio::select! {
                mode = &mut stop => break mode.unwrap_or(StopMode::Detach),
                Some(change) = changes.recv() => self.state.handle_change(change, now()),
                () = sleep_until_opt(wake) => self.state.handle_timeout(now(), SystemTime::now()),
                _ = tick.tick() => {
                    if let Some(away) = clock.tick(started.elapsed(), SystemTime::now()) {
                        self.state.handle_resume(away, now());
                    }
                }
                signal = recv_opt(&mut daemon) => match signal {
                    Some(DaemonSignal::Stats(peers)) => {
                        self.state.handle_stats(&peers, now(), SystemTime::now());
                    }
                    Some(DaemonSignal::Lost { message }) => {
                        self.state.handle_daemon_lost(message, now(), SystemTime::now());
                    }
                    Some(DaemonSignal::Back { .. }) => self.state.handle_daemon_back(now()),
                    None => daemon = None,
                },
            }
        };
        watches.stop();
        self.finish(mode).await
    }

    /// Carries out the state's commands (their answers may bring more), then hands on its events
    /// and status.
    async fn drive(&mut self) {
        while let Some(command) = self.state.poll_command() {
            match command {
                Command::Apply(apply) => {
                    let update = PlanUpdate {
                        plan: (*apply.plan).clone(),
                        private_key: self.config.private_key.clone(),
                        preshared_key: self.config.preshared_key.clone(),
                        session: self.config.session.clone(),
                    };
                    let result = self.sink.apply(&update).await.map_err(|e| e.to_string());
                    self.state.handle_applied(apply, result, now(), SystemTime::now());
                }
                Command::Probe => {
                    let answer = tokio::time::timeout(
                        self.config.probe_timeout,
                        discovery::probe(&self.client, &self.server),
                    )
                    .await
                    .unwrap_or_else(|_| {
                        Err(ClusterError::Unreachable {
                            url: self.server.clone(),
                            message: "no answer in time".into(),
                        })
                    })
                    .map_err(|e| e.to_string());
                    self.state.handle_probe(answer, now(), SystemTime::now());
                }
                Command::Register => {
                    let result = register(&self.client, &self.config)
                        .await
                        .map_err(|e| e.to_string());
                    self.state.handle_registered(result);
                }
                Command::Rewatch => self.rewatch = true,
            }
        }
        while let Some(event) = self.state.poll_event() {
            let _ = self.events.send(event);
        }
        if let Some(status) = self.state.poll_status() {
            self.status.send_if_modified(|s| {
                let changed = *s != status;
                *s = status;
                changed
            });
        }
    }

    async fn finish(mut self, mode: StopMode) -> Result<(), ClusterError> {
        let result = match mode {
            StopMode::Detach => Ok(()),
            StopMode::Disconnect { keep_peer } => {
                let down = self
                    .sink
                    .disconnect()
                    .await
                    .map_err(|e| ClusterError::Plan(format!("taking the tunnel down: {e}")));
                let peer = match (
                    &self.config.request.peer_name,
                    keep_peer || !self.config.owns_peer,
                ) {
                    (Some(name), false) => registration::unregister(&self.client, name).await,
                    (Some(name), true) => {
                        // The Peer stays; what `expose` made for it does not (the laptop is closed).
                        if let Err(e) = crate::expose::delete_all_of(&self.client, name).await {
                            tracing::warn!(error = %e, "deleting the exposed Services");
                        }
                        Ok(())
                    }
                    _ => Ok(()),
                };
                down.and(peer)
            }
        };
        let _ = self.events.send(ControllerEvent::Stopped);
        result
    }
}

/// Registers the laptop's Peer again.
async fn register(client: &kube::Client, config: &ControllerConfig) -> Result<(), ClusterError> {
    let (Some(name), Some(reg)) = (&config.request.peer_name, &config.registration) else {
        return Ok(());
    };
    let spec = registration::PeerSpec::connected(
        reg.address,
        config.request.settings.persistent_keepalive,
        u64::try_from(reg.clock.now_unix()).unwrap_or_default(),
        config.preshared_key.clone(),
    );
    registration::register(client, name, &reg.identity, &config.request.public_key, &spec).await
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn recv_opt<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
