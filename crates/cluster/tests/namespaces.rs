//! The controller hands the cluster's Namespaces to the daemon in the Plan (issue 12, item 1): listed
//! at connect, then followed live by a watch, so `<svc>.<ns>` reaches the cluster only for a
//! namespace that exists.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use kubewire_apiserver::Store;
use kubewire_cluster::controller::StopMode;
use kubewire_cluster::keys::KeyStore;
use kubewire_cluster::registration::Identity;
use kubewire_cluster::{ChannelSink, ConnectOptions, connect};
use kubewire_core::Plan;
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

fn namespace(name: &str) -> serde_json::Value {
    json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name }, "spec": {}, "status": { "phase": "Active" } })
}

async fn plan_where(plans: &mut UnboundedReceiver<Option<Plan>>, f: impl Fn(&Plan) -> bool) -> Plan {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let plan = plans.recv().await.unwrap().expect("a plan");
            if f(&plan) {
                return plan;
            }
        }
    })
    .await
    .expect("no matching plan in time")
}

#[tokio::test]
async fn namespaces_reach_the_plan_at_connect_and_follow_the_cluster() {
    let store = Store::new();
    store.install_kilo_crd().unwrap();
    store.create(support::kube_dns("10.43.0.10")).unwrap();
    let ts = support::start_with(store).await;
    ts.add_node("aws", 1);
    let keys = tempfile::tempdir().unwrap();
    let mut o = ConnectOptions::new().unwrap();
    o.kubeconfig = Some(ts.kubeconfig_path.clone());
    o.key_store = KeyStore {
        use_keyring: false,
        dir: keys.path().to_path_buf(),
    };
    o.identity = Identity {
        user: "tester".into(),
        host: "laptop".into(),
    };
    let (sink, mut plans) = ChannelSink::new();
    let (tx, _events) = tokio::sync::mpsc::unbounded_channel();
    let connection = connect(o, sink, tx, None).await.unwrap();
    let first = plans.recv().await.unwrap().unwrap();
    let listed = first.dns.namespaces.expect("listed before the first Plan");
    assert!(
        listed.contains(&"default".into()) && listed.contains(&"kube-system".into()),
        "{listed:?}"
    );
    assert!(!listed.contains(&"team-a".into()), "{listed:?}");

    // A new namespace, and a hostile one named like a TLD: both in the list (the resolver never
    // uses `com` for short names), with a warning about `com`.
    ts.store.create(namespace("team-a")).unwrap();
    ts.store.create(namespace("com")).unwrap();
    let plan = plan_where(&mut plans, |p| {
        p.dns
            .namespaces
            .as_ref()
            .is_some_and(|n| n.contains(&"team-a".into()) && n.contains(&"com".into()))
    })
    .await;
    assert!(
        plan.diagnostics
            .iter()
            .any(|d| d.object.name == "com" && d.message.contains("public domain")),
        "{:?}",
        plan.diagnostics
    );

    ts.store.delete("v1", "Namespace", None, "team-a").unwrap();
    plan_where(&mut plans, |p| {
        p.dns
            .namespaces
            .as_ref()
            .is_some_and(|n| !n.contains(&"team-a".into()))
    })
    .await;
    connection
        .controller
        .stop(StopMode::Disconnect { keep_peer: false })
        .await
        .unwrap();
}
