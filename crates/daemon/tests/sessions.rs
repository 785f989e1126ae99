//! Sessions are keyed by their connection name (the kubeconfig context): one at a time for now. A
//! second name is refused with the fix, and changes nothing. Root only, like `daemon_e2e.rs`.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Lab, can_run};
use kubewire_ipc::{ClientError, ErrorCode, Request, Response, SecretKey, SessionInfo};

fn apply_as(lab: &Lab, context: &str, plan: kubewire_core::Plan) -> Request {
    Request::Apply {
        plan: Box::new(plan),
        private_key: SecretKey(lab.laptop_private.clone()),
        preshared_key: None,
        session: SessionInfo {
            context: context.into(),
            cluster: format!("https://{context}.example:6443"),
            peer_name: "laptop".into(),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connection_name_is_refused_and_changes_nothing() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::new(2);
    lab.start_daemon();
    let mut client = lab.client().await;
    match client
        .request(&apply_as(&lab, "prod", lab.plan(&[(0, None)])))
        .await
    {
        Ok(Response::Applied { .. }) => {}
        other => panic!("apply: {other:?}\n{}", lab.log()),
    }
    let routes = lab.routes();
    let state_file = std::fs::read(lab.state_file()).unwrap();

    // Another connection name while "prod" is up: refused, naming the one up and the fix.
    let other = apply_as(&lab, "staging", lab.plan(&[(0, None), (1, None)]));
    match client.request(&other).await {
        Err(ClientError::Daemon { code, message }) => {
            assert_eq!(code, ErrorCode::Failed, "{message}");
            assert!(message.contains("already connected to prod"), "{message}");
            assert!(message.contains("kubewire disconnect"), "{message}");
        }
        other => panic!("a second connection name was not refused: {other:?}"),
    }
    assert_eq!(lab.routes(), routes, "the refused Plan changed the routes");
    assert_eq!(
        std::fs::read(lab.state_file()).unwrap(),
        state_file,
        "the refused Plan wrote the state file"
    );
    let status = lab.status().await;
    assert_eq!(status.session.map(|s| s.context).as_deref(), Some("prod"));

    // The same name updates in place, as before.
    match client
        .request(&apply_as(&lab, "prod", lab.plan(&[(0, None), (1, None)])))
        .await
    {
        Ok(Response::Applied { changes, .. }) => assert_eq!(changes.peers_added, vec!["node-2"]),
        other => panic!("apply: {other:?}\n{}", lab.log()),
    }
    // After a disconnect the other name may connect.
    match client.request(&Request::Disconnect).await {
        Ok(Response::Disconnected) => {}
        other => panic!("disconnect: {other:?}"),
    }
    match client.request(&other).await {
        Ok(Response::Applied { changes, .. }) => assert!(changes.interface_created),
        other => panic!("apply after disconnect: {other:?}\n{}", lab.log()),
    }
}
