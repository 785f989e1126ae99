//! The API test server driven by the real `kube` 5 client.

mod api_support;

use std::time::Duration;

use api_support::{TestServer, peer};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Service};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
    PostParams, WatchEvent, WatchParams,
};
use kube::discovery::{Discovery, Scope};
use kube::runtime::watcher::{self, Event};
use kube::{Error, ResourceExt};
use kubewire_lab::api::ExpiredMode;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(15);

fn peers_api(client: kube::Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kilo.squat.ai", "v1alpha1", "Peer"),
        "peers",
    );
    Api::all_with(client, &ar)
}

async fn next<S: futures::Stream + Unpin>(s: &mut S) -> S::Item {
    tokio::time::timeout(WAIT, s.next())
        .await
        .expect("timed out waiting for a stream item")
        .expect("stream ended")
}

/// Skips watcher events until one matches, failing after `WAIT`.
async fn until<S, T, F>(s: &mut S, mut f: F) -> T
where
    S: futures::Stream<Item = Result<Event<Node>, watcher::Error>> + Unpin,
    F: FnMut(&Event<Node>) -> Option<T>,
{
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(Ok(ev)) = s.next().await
                && let Some(t) = f(&ev)
            {
                return t;
            }
        }
    })
    .await
    .expect("timed out waiting for a watcher event")
}

#[tokio::test]
async fn discovery_finds_builtins_and_the_peer_crd() {
    let ts = TestServer::start().await;
    let client = ts.client().await;
    let info = client.apiserver_version().await.unwrap();
    assert_eq!(info.git_version, "v1.33.0+kubewire-lab");

    for discovery in [
        Discovery::new(client.clone()).run().await.unwrap(),
        Discovery::new(client.clone()).run_aggregated().await.unwrap(),
    ] {
        let (ar, caps) = discovery
            .resolve_gvk(&GroupVersionKind::gvk("kilo.squat.ai", "v1alpha1", "Peer"))
            .expect("peers discovered");
        assert_eq!(ar.plural, "peers");
        assert_eq!(caps.scope, Scope::Cluster);
        let (ar, caps) = discovery
            .resolve_gvk(&GroupVersionKind::gvk("", "v1", "Service"))
            .expect("services discovered");
        assert_eq!(ar.plural, "services");
        assert_eq!(caps.scope, Scope::Namespaced);
        assert!(discovery.has_group("apiextensions.k8s.io"));
    }

    // Without the CRD the group is not served.
    let bare = TestServer::start_with(kubewire_lab::api::Store::new()).await;
    let discovery = Discovery::new(bare.client().await).run().await.unwrap();
    assert!(!discovery.has_group("kilo.squat.ai"));
    assert!(
        discovery
            .resolve_gvk(&GroupVersionKind::gvk("", "v1", "Node"))
            .is_some()
    );
}

#[tokio::test]
async fn list_pages_are_consistent_and_carry_a_resource_version() {
    let ts = TestServer::start().await;
    for (i, name) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        ts.add_node(name, &format!("192.0.2.{}", i + 10));
    }
    let nodes: Api<Node> = Api::all(ts.client().await);
    let first = nodes.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(
        first.items.iter().map(|n| n.name_any()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let rv = first.metadata.resource_version.clone().unwrap();
    assert!(!rv.is_empty());
    let token = first.metadata.continue_.clone().unwrap();

    // Changes after the first page do not show in the following pages.
    ts.add_node("bb", "192.0.2.99");
    ts.store.delete("v1", "Node", None, "e").unwrap();

    let second = nodes
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(
        second.items.iter().map(|n| n.name_any()).collect::<Vec<_>>(),
        ["c", "d"]
    );
    assert_eq!(second.metadata.resource_version.as_deref(), Some(rv.as_str()));
    let third = nodes
        .list(
            &ListParams::default()
                .limit(2)
                .continue_token(second.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(
        third.items.iter().map(|n| n.name_any()).collect::<Vec<_>>(),
        ["e"]
    );
    assert!(third.metadata.continue_.unwrap_or_default().is_empty());

    // A fresh list sees the changes; selectors filter.
    let all = nodes.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        all.items.iter().map(|n| n.name_any()).collect::<Vec<_>>(),
        ["a", "b", "bb", "c", "d"]
    );
    let one = nodes
        .list(&ListParams::default().labels("topology.kubernetes.io/region=c"))
        .await
        .unwrap();
    assert_eq!(one.items.iter().map(|n| n.name_any()).collect::<Vec<_>>(), ["c"]);
    let named = nodes
        .list(&ListParams::default().fields("metadata.name=d"))
        .await
        .unwrap();
    assert_eq!(named.items.len(), 1);

    // A continue token from before a compaction is 410 Expired.
    ts.store.compact();
    let err = nodes
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Api(s) if s.code == 410 && s.reason == "Expired"));
}

#[tokio::test]
async fn create_get_conflict_and_delete() {
    let ts = TestServer::start().await;
    let services: Api<Service> = Api::namespaced(ts.client().await, "default");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"clusterIP": "10.43.0.20", "ports": [{"port": 80, "protocol": "TCP"}], "selector": {"app": "web"}},
    }))
    .unwrap();
    let created = services.create(&PostParams::default(), &svc).await.unwrap();
    assert_eq!(created.namespace().as_deref(), Some("default"));
    assert!(created.uid().is_some());
    assert!(created.creation_timestamp().is_some());

    let err = services.create(&PostParams::default(), &svc).await.unwrap_err();
    assert!(
        matches!(&err, Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{err:?}"
    );

    let got = services.get("web").await.unwrap();
    assert_eq!(got.spec.unwrap().cluster_ip.as_deref(), Some("10.43.0.20"));
    let all: Api<Service> = Api::all(ts.client().await);
    assert_eq!(all.list(&ListParams::default()).await.unwrap().items.len(), 1);

    // Update with a stale resourceVersion conflicts.
    let mut stale = created.clone();
    services
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"v": "2"}}})),
        )
        .await
        .unwrap();
    stale.labels_mut().insert("v".into(), "3".into());
    let err = services
        .replace("web", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Api(s) if s.code == 409 && s.reason == "Conflict"),
        "{err:?}"
    );

    services.delete("web", &DeleteParams::default()).await.unwrap();
    assert!(services.get_opt("web").await.unwrap().is_none());
    let err = services.get("web").await.unwrap_err();
    assert!(
        matches!(&err, Error::Api(s) if s.code == 404 && s.reason == "NotFound"),
        "{err:?}"
    );
}

#[tokio::test]
async fn merge_patch_sets_a_node_annotation() {
    let ts = TestServer::start().await;
    ts.add_node("aws", "192.0.2.10");
    let nodes: Api<Node> = Api::all(ts.client().await);
    let patch = json!({"metadata": {"annotations": {"kilo.squat.ai/location": "frankfurt", "kilo.squat.ai/endpoint": null}}});
    let patched = nodes
        .patch("aws", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(
        patched
            .annotations()
            .get("kilo.squat.ai/location")
            .map(String::as_str),
        Some("frankfurt")
    );
    let stored = ts.store.get("v1", "Node", None, "aws").unwrap();
    assert_eq!(
        stored["metadata"]["annotations"]["kilo.squat.ai/location"],
        "frankfurt"
    );
    assert!(
        stored["metadata"]["annotations"]
            .get("kilo.squat.ai/endpoint")
            .is_none()
    );

    // Strategic merge works on built-ins; JSON patch too.
    nodes
        .patch(
            "aws",
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"labels": {"x": "1"}}})),
        )
        .await
        .unwrap();
    let req = http::Request::patch("/api/v1/nodes/aws")
        .header("content-type", "application/json-patch+json")
        .body(
            br#"[{"op": "add", "path": "/metadata/labels/y", "value": "2"}]"#
                .to_vec()
                .into(),
        )
        .unwrap();
    assert_eq!(ts.client().await.send(req).await.unwrap().status(), 200);
    let n = nodes.get("aws").await.unwrap();
    assert_eq!(n.labels().get("x").map(String::as_str), Some("1"));
    assert_eq!(n.labels().get("y").map(String::as_str), Some("2"));
}

#[tokio::test]
async fn server_side_apply_creates_then_updates_a_peer() {
    let ts = TestServer::start().await;
    let client = ts.client().await;
    let peers = peers_api(client.clone());
    let pp = PatchParams::apply("kubewire");

    // The first apply creates (201).
    let req =
        http::Request::patch("/apis/kilo.squat.ai/v1alpha1/peers/laptop?&fieldManager=kubewire&force=true")
            .header("content-type", "application/apply-patch+yaml")
            .body(
                serde_yaml::to_string(&peer("laptop", &["10.5.0.1/32"]))
                    .unwrap()
                    .into_bytes()
                    .into(),
            )
            .unwrap();
    let resp = client.send(req).await.unwrap();
    assert_eq!(resp.status(), 201);

    let mut p = peer("laptop", &["10.5.0.1/32", "10.5.0.2/32"]);
    p["spec"].as_object_mut().unwrap().remove("persistentKeepalive");
    let updated = peers.patch("laptop", &pp, &Patch::Apply(&p)).await.unwrap();
    assert_eq!(
        updated.data["spec"]["allowedIPs"],
        json!(["10.5.0.1/32", "10.5.0.2/32"])
    );
    assert!(
        updated.data["spec"].get("persistentKeepalive").is_none(),
        "fields no longer applied are removed"
    );
    let mf = updated.metadata.managed_fields.clone().unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0].manager.as_deref(), Some("kubewire"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));

    // Another manager conflicts unless forced.
    let other = peer("laptop", &["10.9.0.1/32"]);
    let err = peers
        .patch("laptop", &PatchParams::apply("other"), &Patch::Apply(&other))
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::Api(s) if s.code == 409), "{err:?}");
    peers
        .patch(
            "laptop",
            &PatchParams::apply("other").force(),
            &Patch::Apply(&other),
        )
        .await
        .unwrap();

    // fieldManager is required; strategic merge on a custom resource is 415.
    let req = http::Request::patch("/apis/kilo.squat.ai/v1alpha1/peers/laptop")
        .header("content-type", "application/apply-patch+yaml")
        .body(b"{}".to_vec().into())
        .unwrap();
    assert_eq!(client.send(req).await.unwrap().status(), 400);
    let err = peers
        .patch(
            "laptop",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {}})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Api(s) if s.code == 415 && s.reason == "UnsupportedMediaType"),
        "{err:?}"
    );

    peers.delete("laptop", &DeleteParams::default()).await.unwrap();
    assert!(peers.get_opt("laptop").await.unwrap().is_none());
}

#[tokio::test]
async fn a_wrong_token_is_a_401_status() {
    let ts = TestServer::start().await;
    let nodes: Api<Node> = Api::all(ts.client_with_token("wrong").await);
    let err = nodes.list(&ListParams::default()).await.unwrap_err();
    match err {
        Error::Api(s) => {
            assert_eq!(s.code, 401);
            assert_eq!(s.reason, "Unauthorized");
        }
        other => panic!("expected a 401 Status, got {other:?}"),
    }
}

#[tokio::test]
async fn responses_carry_a_date_header_and_http2_is_offered() {
    let ts = TestServer::start().await;
    let client = ts.client().await;
    let resp = client
        .send(http::Request::get("/version").body(Vec::new().into()).unwrap())
        .await
        .unwrap();
    let date = resp
        .headers()
        .get("date")
        .expect("Date header")
        .to_str()
        .unwrap()
        .to_string();
    let t = httpdate::parse_http_date(&date).unwrap();
    let skew = std::time::SystemTime::now().duration_since(t).unwrap_or_default();
    assert!(skew < Duration::from_secs(5));

    // ALPN: a client offering h2 gets h2.
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut ts.tls.ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(ts.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
}

#[tokio::test]
async fn watcher_sees_added_modified_deleted() {
    let ts = TestServer::start().await;
    ts.add_node("aws", "192.0.2.10");
    let nodes: Api<Node> = Api::all(ts.client().await);
    let mut w = watcher::watcher(nodes, watcher::Config::default()).boxed();
    until(&mut w, |e| matches!(e, Event::InitDone).then_some(())).await;

    ts.add_node("gcp", "192.0.2.11");
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
    let ts = TestServer::start().await;
    ts.add_node("aws", "192.0.2.10");
    let before = ts.add_node("azure", "192.0.2.11");
    let rv = before["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    ts.add_node("gcp", "192.0.2.12");
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
    let ts = TestServer::start().await;
    ts.store.set_bookmark_interval(Duration::from_millis(200));
    ts.add_node("aws", "192.0.2.10");
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
    let ts = TestServer::start().await;
    ts.add_node("aws", "192.0.2.10");
    ts.add_node("gcp", "192.0.2.11");
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
    ts.add_node("azure", "192.0.2.12");
    until(&mut w, |e| {
        matches!(e, Event::Apply(n) if n.name_any() == "azure").then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_watcher_relists_after_an_in_stream_410() {
    let mut ts = TestServer::start().await;
    ts.store.set_expired_mode(ExpiredMode::InStreamError);
    ts.add_node("aws", "192.0.2.10");
    ts.add_node("gcp", "192.0.2.11");
    let nodes: Api<Node> = Api::all(ts.client().await);
    let mut w = watcher::watcher(nodes, watcher::Config::default()).boxed();
    until(&mut w, |e| matches!(e, Event::InitDone).then_some(())).await;

    // The API server goes away; the cluster changes; history is compacted; it comes back.
    ts.stop().await;
    ts.store.delete("v1", "Node", None, "gcp").unwrap();
    ts.add_node("azure", "192.0.2.12");
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
    let mut ts = TestServer::start().await;
    ts.store.set_expired_mode(ExpiredMode::HttpStatus);
    let old = ts.add_node("aws", "192.0.2.10")["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    ts.add_node("gcp", "192.0.2.11");
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
    ts.add_node("azure", "192.0.2.12");
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
    let mut ts = TestServer::start().await;
    ts.add_node("aws", "192.0.2.10");
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

#[tokio::test]
async fn delete_preconditions_dry_run_and_delete_collection() {
    let ts = TestServer::start().await;
    let uid = ts.add_node("aws", "192.0.2.10")["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    ts.add_node("gcp", "192.0.2.11");
    ts.add_node("azure", "192.0.2.12");
    let nodes: Api<Node> = Api::all(ts.client().await);

    // Preconditions: a wrong uid is a 409 Conflict; the right one deletes.
    let wrong = DeleteParams::default().preconditions(kube::api::Preconditions {
        uid: Some("nope".into()),
        resource_version: None,
    });
    let err = nodes.delete("aws", &wrong).await.unwrap_err();
    assert!(matches!(&err, Error::Api(s) if s.code == 409), "{err:?}");
    // Dry run changes nothing.
    nodes
        .delete("aws", &DeleteParams::default().dry_run())
        .await
        .unwrap();
    let created = nodes
        .create(
            &PostParams {
                dry_run: true,
                field_manager: None,
            },
            &serde_json::from_value(api_support::node("dry", "192.0.2.99")).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(created.name_any(), "dry");
    assert!(ts.store.get("v1", "Node", None, "aws").is_some());
    assert!(ts.store.get("v1", "Node", None, "dry").is_none());
    let right = DeleteParams::default().preconditions(kube::api::Preconditions {
        uid: Some(uid),
        resource_version: None,
    });
    nodes.delete("aws", &right).await.unwrap();
    assert!(ts.store.get("v1", "Node", None, "aws").is_none());

    // A list at an exact older resourceVersion shows the state then.
    let rv_before = ts.store.resource_version();
    nodes
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("topology.kubernetes.io/region=gcp"),
        )
        .await
        .unwrap();
    assert!(ts.store.get("v1", "Node", None, "gcp").is_none());
    assert!(ts.store.get("v1", "Node", None, "azure").is_some());
    let then = nodes
        .list(
            &ListParams::default()
                .at(&rv_before.to_string())
                .matching(kube::api::VersionMatch::Exact),
        )
        .await
        .unwrap();
    assert_eq!(
        then.items.iter().map(|n| n.name_any()).collect::<Vec<_>>(),
        ["azure", "gcp"]
    );
}
