//! `kubewire enroll --print`: the laptop's Kilo Peer as YAML on stdout, for a cluster admin to apply
//! when this user may not create Peers. Changes nothing in the cluster (the laptop's key is created
//! and stored, so that `connect` later uses the same one).

use super::common::{self, ClusterArgs, SettingsArgs};
use crate::output::BadInput;

pub const LONG_ABOUT: &str = "\
Print the laptop's Kilo Peer as YAML for a cluster admin to apply, for a user who may not create \
cluster-scoped Peers (connect then fails with 403 Forbidden). The Peer holds this laptop's public key \
(the key is created now if there is none, in the OS keyring or a 0600 file), a free address in the Kilo \
subnet (stable for the key), the persistent keepalive, kubewire's labels (user, host) and the \
annotation kubewire.io/enrolled. Nothing in the cluster changes.

Once an admin has applied it, `kubewire connect` finds the Peer by its public key and uses it as it \
is: it never writes it, and never deletes it at disconnect.

With --psk the Peer carries a preshared key (made now and kept beside the laptop's private key): \
the YAML then holds a secret; hand it to the admin as you would a password.

Examples:
  kubewire enroll --print > peer.yaml           # send peer.yaml to an admin, who runs:
  kubectl apply -f peer.yaml
  kubewire enroll --print --context prod | kubectl --context prod-admin apply -f -";

/// Arguments of `kubewire enroll`.
#[derive(Debug, clap::Args)]
pub struct EnrollArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Print the Peer YAML on stdout (the only mode for now).
    #[arg(long)]
    pub print: bool,
    /// Put a WireGuard preshared key on the Peer (`spec.presharedKey`): made if the laptop has none for
    /// this cluster and kept beside its private key. A key the laptop already has is always included.
    #[arg(long)]
    pub psk: bool,
}

/// Runs `kubewire enroll`.
pub fn run(args: &EnrollArgs) -> anyhow::Result<()> {
    if !args.print {
        return Err(BadInput(vec![
            "enroll needs --print: `kubewire enroll --print > peer.yaml`, then a cluster admin runs \
             `kubectl apply -f peer.yaml`"
                .into(),
        ])
        .into());
    }
    let mut options = common::options(&args.cluster, &args.settings)?;
    options.psk = args.psk;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let enrollment = common::runtime()?.block_on(kubewire_cluster::enroll::enroll(&options, tx))?;
    while let Ok(event) = rx.try_recv() {
        if let kubewire_cluster::ControllerEvent::Warning { message } = event {
            eprintln!("warning: {message}");
        }
    }
    print!("{}", enrollment.yaml);
    if let Some(name) = &enrollment.existing {
        eprintln!("note: Kilo Peer {name} already holds this laptop's key; `kubewire connect` uses it");
    }
    eprintln!(
        "note: Peer {} at {}: a cluster admin applies it (`kubectl apply -f FILE`); then `kubewire connect` \
         uses it without writing it",
        enrollment.name, enrollment.address
    );
    Ok(())
}
