//! The API test server driven by the real `kube` 5 client: discovery, lists, CRUD, patches,
//! server-side apply, authentication. Watches are in `api_kube_watch.rs`.

mod api_support;

use std::time::Duration;

use api_support::{LabServer, TestServer, peer, peers_api, start_server};
use k8s_openapi::api::core::v1::{Node, Service};
use kube::api::{Api, DeleteParams, GroupVersionKind, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::{Discovery, Scope};
use kube::{Error, ResourceExt};
use serde_json::json;

#[tokio::test]
async fn discovery_finds_builtins_and_the_peer_crd() {
    let ts = start_server().await;
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
    let bare = TestServer::start_with(kubewire_apiserver::Store::new(), "kubewire-lab").await;
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
    let ts = start_server().await;
    for (i, name) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        ts.add_ip_node(name, &format!("192.0.2.{}", i + 10));
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
    ts.add_ip_node("bb", "192.0.2.99");
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
    let ts = start_server().await;
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
    let ts = start_server().await;
    ts.add_ip_node("aws", "192.0.2.10");
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
    let ts = start_server().await;
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

    // Re-applying the same configuration is a no-op: same resourceVersion.
    let again = peers.patch("laptop", &pp, &Patch::Apply(&p)).await.unwrap();
    assert_eq!(again.metadata.resource_version, updated.metadata.resource_version);

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
    let ts = start_server().await;
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
    let ts = start_server().await;
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
async fn delete_preconditions_dry_run_and_delete_collection() {
    let ts = start_server().await;
    let uid = ts.add_ip_node("aws", "192.0.2.10")["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    ts.add_ip_node("gcp", "192.0.2.11");
    ts.add_ip_node("azure", "192.0.2.12");
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

#[tokio::test]
async fn the_peer_crd_is_readable_and_deleting_it_stops_serving_peers() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let ts = start_server().await;
    let client = ts.client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = crds.get("peers.kilo.squat.ai").await.unwrap();
    assert_eq!(crd.spec.scope, "Cluster");
    assert_eq!(crd.spec.names.kind, "Peer");
    let established = crd.status.unwrap().conditions.unwrap_or_default();
    assert!(
        established
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );

    let peers = peers_api(client.clone());
    let mut p = peer("", &["10.5.0.1/32"]);
    p["metadata"] = json!({"generateName": "laptop-"});
    let created = peers
        .create(&PostParams::default(), &serde_json::from_value(p).unwrap())
        .await
        .unwrap();
    assert!(created.name_any().starts_with("laptop-") && created.name_any().len() == "laptop-".len() + 5);

    crds.delete("peers.kilo.squat.ai", &DeleteParams::default())
        .await
        .unwrap();
    let err = peers.list(&ListParams::default()).await.unwrap_err();
    assert!(matches!(&err, Error::Api(s) if s.code == 404), "{err:?}");
    let discovery = Discovery::new(client).run().await.unwrap();
    assert!(!discovery.has_group("kilo.squat.ai"));
    assert!(ts.store.list("kilo.squat.ai/v1alpha1", "Peer", None).is_empty());
}

#[tokio::test]
async fn services_get_cluster_ips_from_the_service_cidr() {
    use k8s_openapi::api::networking::v1::ServiceCIDR;
    let ts = start_server().await;
    let client = ts.client().await;
    let cidrs: Api<ServiceCIDR> = Api::all(client.clone());
    let kubernetes = cidrs.get("kubernetes").await.unwrap();
    assert_eq!(
        kubernetes.spec.unwrap().cidrs,
        Some(vec!["10.43.0.0/16".to_string()])
    );

    let services: Api<Service> = Api::namespaced(client, "kube-system");
    let svc = |name: &str, ip: Option<&str>| -> Service {
        let mut v = json!({"metadata": {"name": name}, "spec": {"ports": [{"port": 53, "protocol": "UDP"}]}});
        if let Some(ip) = ip {
            v["spec"]["clusterIP"] = json!(ip);
        }
        serde_json::from_value(v).unwrap()
    };
    let dns = services
        .create(&PostParams::default(), &svc("kube-dns", Some("10.43.0.10")))
        .await
        .unwrap();
    assert_eq!(dns.spec.unwrap().cluster_ip.as_deref(), Some("10.43.0.10"));
    let auto = services
        .create(&PostParams::default(), &svc("auto", None))
        .await
        .unwrap();
    assert_eq!(
        auto.spec.unwrap().cluster_ips,
        Some(vec!["10.43.1.0".to_string()])
    );

    // The errors a client can learn the service CIDR from.
    let err = services
        .create(&PostParams::default(), &svc("taken", Some("10.43.0.10")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Api(s) if s.code == 422 && s.message.contains("already allocated")),
        "{err:?}"
    );
    let err = services
        .create(&PostParams::default(), &svc("outside", Some("1.2.3.4")))
        .await
        .unwrap_err();
    match err {
        Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
            assert!(
                s.message.ends_with("The range of valid IPs is 10.43.0.0/16"),
                "{}",
                s.message
            );
        }
        other => panic!("expected 422, got {other:?}"),
    }
    ts.store.set_service_cidr("10.96.0.0/12".parse().unwrap());
    assert_eq!(
        cidrs.get("kubernetes").await.unwrap().spec.unwrap().cidrs,
        Some(vec!["10.96.0.0/12".to_string()])
    );
}

#[tokio::test]
async fn node_status_changes_only_through_the_status_subresource() {
    let ts = start_server().await;
    ts.add_ip_node("aws", "192.0.2.10");
    let nodes: Api<Node> = Api::all(ts.client().await);
    let not_ready = json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady"}]}});

    // The main resource ignores status changes, like kube-apiserver.
    let n = nodes
        .patch("aws", &PatchParams::default(), &Patch::Merge(&not_ready))
        .await
        .unwrap();
    assert_eq!(n.status.unwrap().conditions.unwrap()[0].status, "True");

    let n = nodes
        .patch_status("aws", &PatchParams::default(), &Patch::Merge(&not_ready))
        .await
        .unwrap();
    assert_eq!(n.status.clone().unwrap().conditions.unwrap()[0].status, "False");
    let stored = ts.store.get("v1", "Node", None, "aws").unwrap();
    assert_eq!(stored["status"]["conditions"][0]["status"], "False");
    assert_eq!(
        stored["status"]["addresses"][0]["address"], "192.0.2.10",
        "merge keeps the rest"
    );
    let got = nodes.get_status("aws").await.unwrap();
    assert_eq!(got.metadata.resource_version, n.metadata.resource_version);
    let client = ts.client().await;

    let req = http::Request::get("/api/v1/namespaces/default/status")
        .body(Vec::new().into())
        .unwrap();
    let resp = client.send(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()["status"]["phase"],
        "Active"
    );
    // Endpoints have no status subresource.
    let req = http::Request::get("/api/v1/namespaces/default/endpoints/x/status")
        .body(Vec::new().into())
        .unwrap();
    assert_eq!(client.send(req).await.unwrap().status(), 404);
}

#[tokio::test]
async fn forbidden_verbs_are_403_and_access_reviews_agree() {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    let ts = start_server().await;
    let client = ts.client().await;
    let peers = peers_api(client.clone());
    let can = |verb: &str| {
        let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.into()),
                    group: Some("kilo.squat.ai".into()),
                    resource: Some("peers".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        async move {
            reviews
                .create(&PostParams::default(), &review)
                .await
                .unwrap()
                .status
                .unwrap()
                .allowed
        }
    };
    assert!(can("create").await);
    assert!(peers.list(&ListParams::default()).await.is_ok());

    ts.store.forbid("create", "kilo.squat.ai", "peers");
    assert!(!can("create").await);
    assert!(can("list").await);
    let err = peers
        .create(
            &PostParams::default(),
            &serde_json::from_value(peer("laptop", &["10.5.0.1/32"])).unwrap(),
        )
        .await
        .unwrap_err();
    match err {
        Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
            assert_eq!(
                s.message,
                "peers.kilo.squat.ai is forbidden: User \"kubewire-lab\" cannot create resource \"peers\" in API group \"kilo.squat.ai\" at the cluster scope"
            );
        }
        other => panic!("expected 403, got {other:?}"),
    }
    ts.store.allow_all();
    assert!(can("create").await);
}
