//! Measurements (not assertions of speed): apply time and kubewired's memory with a 4-peer Plan
//! (real wireguard-go nodes) and a synthetic 5,000-peer Plan. Root only; run with
//! `cargo test -p kubewire-daemon --test measure -- --ignored --nocapture`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Lab, can_run, plan_for};
use kubewire_core::plan::{PeerEntry, PeerKind};
use kubewire_ipc::Response;

fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run by hand"]
async fn measure_apply_and_memory() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::new(4);
    lab.start_daemon();
    let pid = lab.daemon_pid();
    tokio::time::sleep(Duration::from_millis(300)).await;
    println!("MEASURE rss idle, no session: {} KiB", rss_kib(pid));
    let mut client = lab.client().await;
    let plan = lab.plan(&[(0, None), (1, None), (2, None), (3, None)]);
    let t = Instant::now();
    let r = client.request(&lab.apply_request(plan)).await.unwrap();
    println!(
        "MEASURE apply 4 peers (create interface + 4 peers + 8 routes): {} ms",
        t.elapsed().as_millis()
    );
    assert!(matches!(r, Response::Applied { .. }));
    let t = Instant::now();
    assert!(lab.ping(lab.nodes[3].pod, Duration::from_secs(10)));
    println!(
        "MEASURE first ping answered after apply: {} ms",
        t.elapsed().as_millis()
    );
    let moved = lab.plan(&[(0, Some("198.18.1.3:51820")), (1, None), (2, None), (3, None)]);
    let t = Instant::now();
    client.request(&lab.apply_request(moved)).await.unwrap();
    println!(
        "MEASURE apply an endpoint change (remove + add one peer): {} ms",
        t.elapsed().as_millis()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!("MEASURE rss idle with 4 peers: {} KiB", rss_kib(pid));
    let _ = client
        .request(&kubewire_ipc::Request::Disconnect { name: None })
        .await
        .unwrap();

    // 5,000 synthetic peers (no one answers; endpoints on the veth's subnet).
    let mut plan = plan_for(&lab.wg, lab.laptop_public, &lab.nodes, &[]);
    for i in 0..5000u32 {
        let key = kubewire_core::PublicKey::from_bytes({
            let mut b = [7u8; 32];
            b[..4].copy_from_slice(&i.to_be_bytes());
            b
        });
        plan.peers.push(PeerEntry {
            name: format!("synthetic-{i}"),
            kind: PeerKind::KiloPeer,
            public_key: key,
            endpoint: Some(
                format!("198.18.1.{}:{}", 10 + i % 200, 51820 + i / 200)
                    .parse()
                    .unwrap(),
            ),
            allowed_ips: vec![
                format!("10.5.{}.{}/32", i / 250, i % 250 + 1).parse().unwrap(),
                format!("10.{}.{}.0/24", 64 + i / 256, i % 256).parse().unwrap(),
            ],
            persistent_keepalive: 25,
        });
    }
    plan.routes = kubewire_core::policy::routes(&plan.peers);
    let json = serde_json::to_vec(&plan).unwrap().len();
    let t = Instant::now();
    let r = client.request(&lab.apply_request(plan.clone())).await.unwrap();
    let ms = t.elapsed().as_millis();
    match r {
        Response::Applied { changes, .. } => println!(
            "MEASURE apply 5,000 peers ({} KiB of Plan JSON): {ms} ms, {} peers, {} routes",
            json / 1024,
            changes.peers_added.len(),
            changes.routes_added.len()
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(lab.routes().len(), 10_000);
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!("MEASURE rss idle with 5,000 peers: {} KiB", rss_kib(pid));
    // One peer changes in a 5,000-peer Plan.
    plan.peers[4321].endpoint = Some("198.18.1.250:51820".parse().unwrap());
    let t = Instant::now();
    client.request(&lab.apply_request(plan)).await.unwrap();
    println!(
        "MEASURE apply one endpoint change in a 5,000-peer Plan: {} ms",
        t.elapsed().as_millis()
    );
    let t = Instant::now();
    client.request(&kubewire_ipc::Request::Status).await.unwrap();
    println!("MEASURE status with 5,000 peers: {} ms", t.elapsed().as_millis());
    let t = Instant::now();
    client
        .request(&kubewire_ipc::Request::Disconnect { name: None })
        .await
        .unwrap();
    println!(
        "MEASURE disconnect with 5,000 peers: {} ms",
        t.elapsed().as_millis()
    );
    for line in lab.log().lines().filter(|l| l.contains("Plan applied")) {
        println!("MEASURE log: {line}");
    }
}
