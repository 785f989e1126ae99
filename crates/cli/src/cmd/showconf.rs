//! `kubewire showconf`: the live WireGuard configuration from the daemon, private key redacted.

use kubewire_ipc::{Client, ClientError, Request, Response};

use super::Global;
use super::common;

/// Runs `kubewire showconf`.
pub fn run(global: &Global) -> anyhow::Result<()> {
    common::runtime()?.block_on(async {
        let mut client = Client::connect(&global.socket).await?;
        match client.request(&Request::ShowConf).await? {
            Response::ShowConf { text } => {
                print!("{text}");
                Ok(())
            }
            _ => Err(ClientError::Unexpected.into()),
        }
    })
}
