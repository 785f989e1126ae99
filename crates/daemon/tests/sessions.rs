//! Sessions are keyed by their connection name, each with its own interface and ranges (issue 14):
//! a second connection whose ranges overlap a connected one's is refused naming it, and changes
//! nothing; one with other ranges comes up beside it; a disconnect by name ends that one only; and
//! a start after a kill -9 removes every session's interface and routes. Root only, like
//! `daemon_e2e.rs`.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Lab, can_run, in_ns};
use kubewire_ipc::{ClientError, ErrorCode, Request, Response, SecretKey, SessionInfo};

fn apply_as(lab: &Lab, name: &str, plan: kubewire_core::Plan) -> Request {
    Request::Apply {
        plan: Box::new(plan),
        private_key: SecretKey(lab.laptop_private.clone()),
        preshared_key: None,
        session: SessionInfo {
            context: format!("ctx-{name}"),
            cluster: format!("https://{name}.example:6443"),
            peer_name: "laptop".into(),
            name: name.into(),
        },
    }
}

/// The routes through `interface` in the laptop namespace.
fn routes_of(lab: &Lab, interface: &str) -> String {
    String::from_utf8_lossy(&in_ns(&lab.laptop, &["ip", "route", "show", "dev", interface]).stdout)
        .into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_each_get_their_interface_overlaps_are_refused_and_a_restart_removes_all() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::new(2);
    let second = format!("{}b", lab.wg);
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

    // Another connection whose ranges overlap prod's (node 0's): refused, naming prod; nothing
    // changes.
    let mut overlapping = lab.plan(&[(0, None), (1, None)]);
    overlapping.interface.name.clone_from(&second);
    match client.request(&apply_as(&lab, "staging", overlapping)).await {
        Err(ClientError::Daemon { code, message }) => {
            assert_eq!(code, ErrorCode::Overlap, "{message}");
            assert!(
                message.starts_with("the ranges 10.4.0.1/32, 10.42.1.0/24 overlap"),
                "{message}"
            );
            assert!(message.contains("overlap the connection prod"), "{message}");
            assert!(message.contains("kubewire disconnect --name prod"), "{message}");
        }
        other => panic!("an overlapping connection was not refused: {other:?}"),
    }
    assert_eq!(lab.routes(), routes, "the refused Plan changed the routes");
    assert!(
        !lab.link_exists(&second),
        "the refused Plan created its interface"
    );
    assert_eq!(
        std::fs::read(lab.state_file()).unwrap(),
        state_file,
        "the refused Plan wrote the state file"
    );

    // Node 1 only: other ranges, its own interface, beside prod.
    let mut beside = lab.plan(&[(1, None)]);
    beside.interface.name.clone_from(&second);
    match client.request(&apply_as(&lab, "staging", beside)).await {
        Ok(Response::Applied { changes, .. }) => assert!(changes.interface_created),
        other => panic!(
            "a second connection with its own ranges: {other:?}\n{}",
            lab.log()
        ),
    }
    assert!(lab.link_exists(&lab.wg) && lab.link_exists(&second));
    assert_eq!(lab.routes(), routes, "prod's routes stay");
    assert!(
        routes_of(&lab, &second).contains("10.42.2.0/24"),
        "{}",
        routes_of(&lab, &second)
    );
    let status = lab.status().await;
    let listed: Vec<(String, String)> = status
        .connections
        .iter()
        .map(|c| (c.connection().unwrap(), c.interface.clone().unwrap()))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("prod".to_owned(), lab.wg.clone()),
            ("staging".to_owned(), second.clone())
        ]
    );
    assert_eq!(
        status.interface.as_deref(),
        Some(lab.wg.as_str()),
        "the first one's at the top"
    );
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(lab.state_file()).unwrap()).unwrap();
    assert_eq!(file["sessions"]["prod"]["interface"], lab.wg.as_str(), "{file}");
    assert_eq!(
        file["sessions"]["staging"]["interface"],
        second.as_str(),
        "{file}"
    );

    // Without a name, showconf asks which; a disconnect by name ends that one only.
    match client.request(&Request::ShowConf { name: None }).await {
        Err(ClientError::Daemon { message, .. }) => {
            assert!(
                message.contains("several connections are up (prod, staging)"),
                "{message}"
            );
        }
        other => panic!("showconf without a name: {other:?}"),
    }
    match client
        .request(&Request::Disconnect {
            name: Some("staging".into()),
        })
        .await
    {
        Ok(Response::Disconnected) => {}
        other => panic!("disconnect staging: {other:?}"),
    }
    assert!(!lab.link_exists(&second) && lab.link_exists(&lab.wg));
    assert_eq!(lab.routes(), routes);
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(lab.state_file()).unwrap()).unwrap();
    assert!(file["sessions"].get("staging").is_none(), "{file}");
    assert_eq!(lab.status().await.connections.len(), 1);

    // Both up again, then kill -9: the next start removes both interfaces and their routes.
    let mut beside = lab.plan(&[(1, None)]);
    beside.interface.name.clone_from(&second);
    assert!(matches!(
        client.request(&apply_as(&lab, "staging", beside)).await,
        Ok(Response::Applied { .. })
    ));
    drop(client);
    lab.signal_daemon(nix::sys::signal::Signal::SIGKILL);
    // (A userspace interface dies with its process; a kernel one stays.) The file names both.
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(lab.state_file()).unwrap()).unwrap();
    assert_eq!(file["sessions"]["prod"]["interface"], lab.wg.as_str(), "{file}");
    assert_eq!(
        file["sessions"]["staging"]["interface"],
        second.as_str(),
        "{file}"
    );
    lab.start_daemon();
    let _ = lab.client().await;
    assert!(
        !lab.link_exists(&lab.wg) && !lab.link_exists(&second),
        "a start after the crash left an interface:\n{}",
        lab.log()
    );
    assert!(lab.routes().is_empty() && routes_of(&lab, &second).is_empty());
    assert!(!lab.state_file().exists(), "{}", lab.log());
    let _ = std::fs::remove_file(std::path::Path::new("/var/run/wireguard").join(format!("{second}.sock")));
}
