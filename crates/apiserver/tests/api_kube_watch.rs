//! The API test server driven by the real `kube` 5 client: watches and `kube::runtime::watcher`
//! (events, resumption, bookmarks, streaming lists, both forms of 410 Gone, shutdown).

mod api_support;

use std::time::Duration;

use api_support::{LabServer, WAIT, next, start_server, until};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube::runtime::watcher::{self, Event};
use kube::{Error, ResourceExt};
use kubewire_apiserver::ExpiredMode;
use serde_json::json;

#[tokio::test]
async fn watcher_sees_added_modified_deleted() {
    let ts = start_server().await;
    ts.add_ip_node("aws", "192.0.2.10");
    let nodes: Api<Node> = Api::all(ts.client().await);
    let mut w = watcher::watcher(nodes, watcher::Config::default()).boxed();
    until(&mut w, |e| matches!(e, Event::InitDone).then_some(())).await;

    ts.add_ip_node("gcp", "192.0.2.11");
    until(&mut w, |e| {
        matches!(e, Event::Apply(n) if n.name_any() == "gcp").then_some(())
    })
    .await;
    ts.store
        .update("v1", "Node", None, "gcp", |n| {
            n["metadata"]["annotations"]["kilo.squat.ai/last-seen"] = json!("1")
        })
        .unwrap();
    let seen = until(&mut w, |e| match e {
        Event::Apply(n) if n.name_any() == "gcp" => n.annotations().get("kilo.squat.ai/last-seen").cloned(),
        _ => None,
    })
    .await;
    assert_eq!(seen, "1");
    ts.store.delete("v1", "Node", None, "gcp").unwrap();
    until(&mut w, |e| {
        matches!(e, Event::Delete(n) if n.name_any() == "gcp").then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_watch_resumes_after_a_resource_version() {
    let ts = start_server().await;
    ts.add_ip_node("aws", "192.0.2.10");
    let before = ts.add_ip_node("azure", "192.0.2.11");
    let rv = before["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    ts.add_ip_node("gcp", "192.0.2.12");
    ts.store
        .update("v1", "Node", None, "aws", |n| {
            n["metadata"]["labels"]["x"] = json!("y")
        })
        .unwrap();

    let nodes: Api<Node> = Api::all(ts.client().await);
    let mut s = nodes
        .watch(&WatchParams::default().disable_bookmarks(), &rv)
        .await
        .unwrap()
        .boxed();
    match next(&mut s).await.unwrap() {
        WatchEvent::Added(n) => assert_eq!(n.name_any(), "gcp"),
        other => panic!("expected ADDED gcp, got {other:?}"),
    }
    match next(&mut s).await.unwrap() {
        WatchEvent::Modified(n) => assert_eq!(n.name_any(), "aws"),
        other => panic!("expected MODIFIED aws, got {other:?}"),
    }
    // Then live events.
    ts.store.delete("v1", "Node", None, "azure").unwrap();
    match next(&mut s).await.unwrap() {
        WatchEvent::Deleted(n) => assert_eq!(n.name_any(), "azure"),
        other => panic!("expected DELETED azure, got {other:?}"),
    }

    // Label selectors apply to watches: a node that stops matching is DELETED for the watcher.
    let mut sel = nodes
        .watch(&WatchParams::default().disable_bookmarks().labels("x=y"), "0")
        .await
        .unwrap()
        .boxed();
    match next(&mut sel).await.unwrap() {
        WatchEvent::Added(n) => assert_eq!(n.name_any(), "aws"),
        other => panic!("expected ADDED aws, got {other:?}"),
    }
    ts.store
        .update("v1", "Node", None, "aws", |n| {
            n["metadata"]["labels"]["x"] = json!("z")
        })
        .unwrap();
    match next(&mut sel).await.unwrap() {
        WatchEvent::Deleted(n) => assert_eq!(n.name_any(), "aws"),
        other => panic!("expected DELETED aws, got {other:?}"),
    }
}

#[tokio::test]
async fn bookmarks_arrive_and_timeouts_end_the_stream() {
    let ts = start_server().await;
    ts.store.set_bookmark_interval(Duration::from_millis(200));
    ts.add_ip_node("aws", "192.0.2.10");
    let rv = ts.store.resource_version().to_string();
    let nodes: Api<Node> = Api::all(ts.client().await);
    let mut s = nodes
        .watch(&WatchParams::default().timeout(2), &rv)
        .await
        .unwrap()
        .boxed();
    match next(&mut s).await.unwrap() {
        WatchEvent::Bookmark(b) => {
            assert_eq!(b.metadata.resource_version, rv);
            assert_eq!(b.types.kind, "Node");
        }
        other => panic!("expected a BOOKMARK, got {other:?}"),
    }
    // timeoutSeconds=2 ends the stream.
    let rest = tokio::time::timeout(Duration::from_secs(5), s.try_collect::<Vec<_>>())
        .await
        .expect("the watch ended");
    assert!(rest.is_ok());
}

#[tokio::test]
async fn streaming_lists_end_with_init_done() {
    let ts = start_server().await;
    ts.add_ip_node("aws", "192.0.2.10");
    ts.add_ip_node("gcp", "192.0.2.11");
    let nodes: Api<Node> = Api::all(ts.client().await);
    let mut w = watcher::watcher(nodes, watcher::Config::default().streaming_lists()).boxed();
    let mut names = Vec::new();
    loop {
        match next(&mut w).await.unwrap() {
            Event::Init => {}
            Event::InitApply(n) => names.push(n.name_any()),
            Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(names, ["aws", "gcp"]);
    ts.add_ip_node("azure", "192.0.2.12");
    until(&mut w, |e| {
        matches!(e, Event::Apply(n) if n.name_any() == "azure").then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_watcher_relists_after_an_in_stream_410() {
    let mut ts = start_server().await;
    ts.store.set_expired_mode(ExpiredMode::InStreamError);
    ts.add_ip_node("aws", "192.0.2.10");
    ts.add_ip_node("gcp", "192.0.2.11");
    let nodes: Api<Node> = Api::all(ts.client().await);
    let mut w = watcher::watcher(nodes, watcher::Config::default()).boxed();
    until(&mut w, |e| matches!(e, Event::InitDone).then_some(())).await;

    // The API server goes away; the cluster changes; history is compacted; it comes back.
    ts.stop().await;
    ts.store.delete("v1", "Node", None, "gcp").unwrap();
    ts.add_ip_node("azure", "192.0.2.12");
    ts.store.compact();
    ts.restart().await;

    // The watcher's resumed watch gets ERROR 410, so it re-lists and sees the current state.
    let mut saw_410 = false;
    let mut relisted = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match w.next().await {
                Some(Err(watcher::Error::WatchError(s))) if s.code == 410 => saw_410 = true,
                Some(Ok(Event::Init)) => relisted.clear(),
                Some(Ok(Event::InitApply(n))) => relisted.push(n.name_any()),
                Some(Ok(Event::InitDone)) if saw_410 => break,
                _ => {}
            }
        }
    })
    .await
    .expect("the watcher re-listed");
    assert_eq!(relisted, ["aws", "azure"]);
}

#[tokio::test]
async fn an_http_410_watch_response_is_a_status_and_the_watcher_does_not_relist() {
    let mut ts = start_server().await;
    ts.store.set_expired_mode(ExpiredMode::HttpStatus);
    let old = ts.add_ip_node("aws", "192.0.2.10")["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    ts.add_ip_node("gcp", "192.0.2.11");
    ts.store.compact();
    let client = ts.client().await;

    // Raw protocol: HTTP 410 with an Expired Status body.
    let req = http::Request::get(format!("/api/v1/nodes?&watch=true&resourceVersion={old}"))
        .body(Vec::new().into())
        .unwrap();
    let resp = client.send(req).await.unwrap();
    assert_eq!(resp.status(), 410);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let status: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Expired");
    assert_eq!(status["code"], 410);

    // Through kube: the watch call itself fails with the 410 Status.
    let nodes: Api<Node> = Api::all(client);
    let err = nodes
        .watch(&WatchParams::default(), &old)
        .await
        .err()
        .expect("410");
    assert!(
        matches!(&err, Error::Api(s) if s.code == 410 && s.reason == "Expired"),
        "{err:?}"
    );

    // In-stream mode for comparison: HTTP 200 and one ERROR event.
    ts.store.set_expired_mode(ExpiredMode::InStreamError);
    let mut s = nodes.watch(&WatchParams::default(), &old).await.unwrap().boxed();
    match next(&mut s).await.unwrap() {
        WatchEvent::Error(e) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected ERROR 410, got {other:?}"),
    }

    // Documented kube 5 behaviour: a watcher whose resumed watch gets an HTTP 410 retries the same
    // resourceVersion (WatchStartFailed) and never re-lists. Client code must handle this itself.
    ts.store.set_expired_mode(ExpiredMode::HttpStatus);
    let mut w = watcher::watcher(nodes.clone(), watcher::Config::default()).boxed();
    until(&mut w, |e| matches!(e, Event::InitDone).then_some(())).await;
    ts.stop().await;
    ts.add_ip_node("azure", "192.0.2.12");
    ts.store.compact();
    ts.restart().await;
    let mut gone = 0;
    tokio::time::timeout(WAIT, async {
        while gone < 3 {
            match w.next().await {
                Some(Err(watcher::Error::WatchStartFailed(Error::Api(s)))) if s.code == 410 => gone += 1,
                Some(Ok(Event::Init | Event::InitApply(_) | Event::InitDone)) => {
                    panic!("the watcher re-listed")
                }
                _ => {}
            }
        }
    })
    .await
    .expect("the watcher kept failing with 410");
}

#[tokio::test]
async fn shutdown_closes_watches_and_the_store_survives() {
    let mut ts = start_server().await;
    ts.add_ip_node("aws", "192.0.2.10");
    let client = ts.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let mut s = nodes
        .watch(&WatchParams::default().disable_bookmarks(), "0")
        .await
        .unwrap()
        .boxed();
    assert!(matches!(next(&mut s).await.unwrap(), WatchEvent::Added(_)));

    ts.stop().await;
    // The open watch ends (EOF or error) promptly, like a stopped apiserver's.
    let end = tokio::time::timeout(Duration::from_secs(5), s.next()).await;
    match end {
        Ok(None | Some(Err(_))) => {}
        Ok(Some(Ok(ev))) => panic!("unexpected event after shutdown: {ev:?}"),
        Err(_) => panic!("the watch was not closed by shutdown"),
    }
    assert!(
        nodes.list(&ListParams::default()).await.is_err(),
        "nothing listens any more"
    );

    ts.store
        .update("v1", "Node", None, "aws", |n| {
            n["metadata"]["labels"]["while"] = json!("down")
        })
        .unwrap();
    ts.restart().await;
    let aws = ts.client().await;
    let aws = Api::<Node>::all(aws).get("aws").await.unwrap();
    assert_eq!(aws.labels().get("while").map(String::as_str), Some("down"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_watchers_see_every_change_in_order() {
    let ts = start_server().await;
    ts.add_ip_node("aws", "192.0.2.10");
    let rv = ts.store.resource_version().to_string();
    let nodes: Api<Node> = Api::all(ts.client().await);
    let mut watches = Vec::new();
    for _ in 0..20 {
        watches.push(
            nodes
                .watch(&WatchParams::default().disable_bookmarks(), &rv)
                .await
                .unwrap()
                .boxed(),
        );
    }
    const CHANGES: usize = 200;
    for i in 0..CHANGES {
        ts.store
            .update("v1", "Node", None, "aws", |n| {
                n["metadata"]["annotations"]["kilo.squat.ai/last-seen"] = json!(i.to_string())
            })
            .unwrap();
    }
    let readers = watches.into_iter().map(|mut s| {
        tokio::spawn(async move {
            let mut last = 0u64;
            for i in 0..CHANGES {
                match next(&mut s).await.unwrap() {
                    WatchEvent::Modified(n) => {
                        assert_eq!(n.annotations()["kilo.squat.ai/last-seen"], i.to_string());
                        let rv: u64 = n.resource_version().unwrap().parse().unwrap();
                        assert!(rv > last);
                        last = rv;
                    }
                    other => panic!("expected MODIFIED, got {other:?}"),
                }
            }
        })
    });
    for r in readers {
        r.await.unwrap();
    }
}
