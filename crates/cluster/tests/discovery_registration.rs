//! Discovery, keys and Peer registration against the lab's API test server, with the real kube client.
#![allow(clippy::unwrap_used)]

mod support;

use kubewire_apiserver::Store;
use kubewire_cluster::ClusterError;
use kubewire_cluster::discovery::{self, ServiceCidrSource};
use kubewire_cluster::keys::{KeyPair, KeySource, KeyStore};
use kubewire_cluster::registration::{self, Identity};
use serde_json::json;
use support::kube_dns;

#[tokio::test]
async fn kilo_missing_says_how_to_install_it() {
    let ts = support::start_with(Store::new()).await;
    let client = support::client(&ts).await;
    let err = discovery::check_kilo(&client).await.unwrap_err();
    assert!(matches!(err, ClusterError::KiloMissing));
    let text = err.to_string();
    for needle in [
        "crds.yaml",
        "kilo-k3s.yaml",
        "kilo-k3s-flannel.yaml",
        "kubectl apply -f",
    ] {
        assert!(text.contains(needle), "{needle} missing in: {text}");
    }
    ts.store.install_kilo_crd().unwrap();
    discovery::check_kilo(&client).await.unwrap();
}

#[tokio::test]
async fn kube_dns_and_a_guessed_service_cidr_with_a_warning() {
    let ts = support::start().await;
    let client = support::client(&ts).await;
    let clock = discovery::probe(&client, &ts.url).await.unwrap();
    let facts = discovery::discover(&client, clock, &[], Some("cluster.local"))
        .await
        .unwrap();
    assert_eq!(
        facts.kube_dns.as_ref().and_then(|s| s.cluster_ip.as_deref()),
        Some("10.43.0.10")
    );
    assert_eq!(facts.service_cidrs, vec!["10.43.0.0/16".parse().unwrap()]);
    assert_eq!(facts.service_cidr_source, ServiceCidrSource::KubeDnsGuess);
    assert!(
        facts.warnings.iter().any(|w| w.contains("guess")),
        "{:?}",
        facts.warnings
    );
    assert_eq!(facts.cluster_domain, "cluster.local");

    // A setting is used (without a warning) when the API has no ServiceCIDR objects.
    let setting = vec!["10.96.0.0/12".parse().unwrap()];
    let facts = discovery::discover(&client, clock, &setting, Some("corp.internal"))
        .await
        .unwrap();
    assert_eq!(facts.service_cidrs, setting);
    assert_eq!(facts.service_cidr_source, ServiceCidrSource::Setting);
    assert!(facts.warnings.is_empty(), "{:?}", facts.warnings);
    assert_eq!(facts.cluster_domain, "corp.internal");
}

#[tokio::test]
async fn service_cidr_objects_win_when_the_api_has_them() {
    let ts = support::start().await;
    // The test server serves ServiceCIDR through a CRD of the same group/version/kind.
    ts.store
        .create(json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "servicecidrs.networking.k8s.io"},
            "spec": {
                "group": "networking.k8s.io",
                "scope": "Cluster",
                "names": {"plural": "servicecidrs", "singular": "servicecidr", "kind": "ServiceCIDR", "listKind": "ServiceCIDRList"},
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}],
            },
        }))
        .unwrap();
    ts.store
        .create(json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "ServiceCIDR",
            "metadata": {"name": "kubernetes"},
            "spec": {"cidrs": ["10.43.0.0/16", "fd00:43::/112"]},
        }))
        .unwrap();
    let client = support::client(&ts).await;
    let clock = discovery::probe(&client, &ts.url).await.unwrap();
    let facts = discovery::discover(&client, clock, &[], Some("cluster.local"))
        .await
        .unwrap();
    assert_eq!(facts.service_cidr_source, ServiceCidrSource::ServiceCidrObjects);
    assert_eq!(
        facts.service_cidrs,
        vec!["10.43.0.0/16".parse().unwrap(), "fd00:43::/112".parse().unwrap()]
    );
}

#[tokio::test]
async fn no_kube_dns_and_no_setting_means_no_service_cidr() {
    let store = Store::new();
    store.install_kilo_crd().unwrap();
    let ts = support::start_with(store).await;
    let client = support::client(&ts).await;
    let facts = discovery::discover(&client, Default::default(), &[], Some("cluster.local"))
        .await
        .unwrap();
    assert!(facts.kube_dns.is_none());
    assert!(facts.service_cidrs.is_empty());
    assert_eq!(facts.service_cidr_source, ServiceCidrSource::None);
    assert_eq!(facts.warnings.len(), 2, "{:?}", facts.warnings);
    // The label fallback finds a differently named DNS Service.
    let mut coredns = kube_dns("10.43.0.53");
    coredns["metadata"]["name"] = json!("coredns");
    ts.store.create(coredns).unwrap();
    let dns = discovery::kube_dns(&client).await.unwrap().unwrap();
    assert_eq!(dns.name, "coredns");
}

#[tokio::test]
async fn the_api_servers_clock_comes_from_the_date_header() {
    let ts = support::start().await;
    let client = support::client(&ts).await;
    let clock = discovery::probe(&client, &ts.url).await.unwrap();
    // Same machine: the offset is within the Date header's one-second resolution.
    assert!(clock.offset_secs.abs() <= 1, "{clock:?}");
    assert!((clock.now_unix() - i64::try_from(support::unix_now()).unwrap()).abs() <= 2);
}

#[tokio::test]
async fn an_unreachable_api_server_says_so() {
    let mut ts = support::start().await;
    let client = support::client(&ts).await;
    ts.stop().await;
    let err = discovery::probe(&client, &ts.url).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ClusterError::Unreachable { .. }));
    assert!(
        text.contains(&format!("cannot reach the API server at {}", ts.url)),
        "{text}"
    );
    assert!(text.contains("check VPN/network"), "{text}");
    // The innermost cause ("Connection refused (os error 111)"; "reset" or "connection closed" when a
    // kept-alive connection was cut), not the HTTP stack's wrappers ("ServiceError: client error (Connect)").
    assert!(!text.contains("client error"), "{text}");
    assert!(!text.contains("ServiceError"), "{text}");
}

#[tokio::test]
async fn the_key_is_created_once_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore {
        use_keyring: false,
        dir: dir.path().join("kubewire/keys"),
    };
    let (first, source) = store.load_or_create("https://a.example:6443").await.unwrap();
    let path = store.file_for("https://a.example:6443");
    assert_eq!(source, KeySource::File(path.clone()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let (again, _) = store.load_or_create("https://a.example:6443/").await.unwrap();
    assert_eq!(first.public, again.public);
    let (other, _) = store.load_or_create("https://b.example:6443").await.unwrap();
    assert_ne!(first.public, other.public);
    // The file holds the private key of the same pair.
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(KeyPair::from_private_base64(&text).unwrap().public, first.public);
}

#[tokio::test]
async fn without_a_keyring_service_the_file_fallback_is_used() {
    // No Secret Service runs on the test machines: the keyring answers "unavailable".
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore {
        use_keyring: true,
        dir: dir.path().join("keys"),
    };
    let server = "https://kubewire-test.invalid:6443";
    assert!(store.load(server).await.unwrap().is_none());
    let (first, source) = store.load_or_create(server).await.unwrap();
    let (again, _) = store.load_or_create(server).await.unwrap();
    assert_eq!(first.public, again.public);
    assert_eq!(store.load(server).await.unwrap().unwrap().0.public, first.public);
    store.forget(server).await.unwrap();
    assert!(store.load(server).await.unwrap().is_none());
    if source == KeySource::Keyring {
        eprintln!("a keyring service runs here; the file fallback was not exercised");
    } else {
        assert_eq!(source, KeySource::File(store.file_for(server)));
    }
}

#[tokio::test]
async fn registration_applies_the_peer_and_a_changed_key_updates_it() {
    let ts = support::start().await;
    let client = support::client(&ts).await;
    let id = Identity {
        user: "Jane".into(),
        host: "dev-box.local".into(),
    };
    let name = id.peer_name();
    assert_eq!(name, "kubewire-jane-dev-box-local");
    let key1 = KeyPair::generate().unwrap().public;
    let address = "10.4.200.7/32".parse().unwrap();
    let spec = registration::PeerSpec::connected(address, 25, 1_800_000_000, None);
    registration::register(&client, &name, &id, &key1, &spec)
        .await
        .unwrap();
    let peer = ts.peer(&name).unwrap();
    let labels = &peer["metadata"]["labels"];
    assert_eq!(labels["app.kubernetes.io/managed-by"], "kubewire");
    assert_eq!(labels["kubewire.io/user"], "jane");
    assert_eq!(labels["kubewire.io/host"], "dev-box-local");
    assert_eq!(peer["spec"]["allowedIPs"], json!(["10.4.200.7/32"]));
    assert_eq!(peer["spec"]["publicKey"], key1.to_string());
    assert_eq!(peer["spec"]["persistentKeepalive"], 25);
    assert_eq!(
        peer["metadata"]["annotations"]["kubewire.io/last-connect"],
        "1800000000"
    );
    assert!(peer["spec"].get("presharedKey").is_none(), "{peer}");
    let managers = peer["metadata"]["managedFields"].to_string();
    assert!(managers.contains("kubewire"), "{managers}");

    // A new key (and address, and a preshared key) updates the same Peer.
    let key2 = KeyPair::generate().unwrap().public;
    let psk = kubewire_core::PresharedKey::from_bytes([7; 32]);
    let spec = registration::PeerSpec::connected(
        "10.4.200.8/32".parse().unwrap(),
        25,
        1_800_000_060,
        Some(psk.clone()),
    );
    registration::register(&client, &name, &id, &key2, &spec)
        .await
        .unwrap();
    let peer = ts.peer(&name).unwrap();
    assert_eq!(peer["spec"]["publicKey"], key2.to_string());
    assert_eq!(peer["spec"]["allowedIPs"], json!(["10.4.200.8/32"]));
    assert_eq!(peer["spec"]["presharedKey"], psk.to_base64());
    assert_eq!(
        peer["metadata"]["annotations"]["kubewire.io/last-connect"],
        "1800000060"
    );

    registration::unregister(&client, &name).await.unwrap();
    assert!(ts.peer(&name).is_none());
    // Deleting again is fine.
    registration::unregister(&client, &name).await.unwrap();
}

#[tokio::test]
async fn a_failing_exec_credential_plugin_is_not_called_unreachable() {
    let ts = support::start().await;
    let ca = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &ts.tls.ca_pem);
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: sso\nclusters:\n- name: lab\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\nusers:\n- name: sso\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: /bin/false\n      interactiveMode: Never\ncontexts:\n- name: sso\n  context: {{cluster: lab, user: sso}}\n",
        ts.url
    );
    let path = ts.dir.path().join("exec-kubeconfig");
    std::fs::write(&path, kubeconfig).unwrap();
    let loaded = kubewire_cluster::kubeconfig::load(Some(&path)).unwrap();
    // kube runs the plugin when building the client (and again when a token expires, at a request).
    let err = match loaded.client(None).await {
        Err(e) => e,
        Ok(cluster) => discovery::probe(&cluster.client, &cluster.server)
            .await
            .unwrap_err(),
    };
    let text = err.to_string();
    assert!(matches!(err, ClusterError::Credentials { .. }), "{text}");
    assert!(text.contains("getting credentials for sso"), "{text}");
    assert!(text.contains("log in again"), "{text}");
    assert!(!text.contains("check VPN"), "{text}");
}

fn corefile(zones: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "coredns", "namespace": "kube-system"},
        "data": {"Corefile": format!(
            ".:53 {{\n    errors\n    kubernetes {zones} {{\n      pods insecure\n    }}\n    forward . /etc/resolv.conf\n}}\n"
        )},
    })
}

#[tokio::test]
async fn the_cluster_domain_is_the_zone_coredns_serves_unless_given_or_hostile() {
    let ts = support::start().await;
    let client = support::client(&ts).await;
    let clock = discovery::probe(&client, &ts.url).await.unwrap();
    // No Corefile: cluster.local, said.
    let facts = discovery::discover(&client, clock, &[], None).await.unwrap();
    assert_eq!(facts.cluster_domain, "cluster.local");
    assert_eq!(facts.cluster_domain_source, discovery::DomainSource::Default);
    assert!(
        facts
            .cluster_domain_warning
            .as_deref()
            .is_some_and(|w| w.contains("--cluster-domain")),
        "{:?}",
        facts.cluster_domain_warning
    );
    // k3s --cluster-domain corp.internal: found in the Corefile.
    ts.store
        .create(corefile("corp.internal in-addr.arpa ip6.arpa"))
        .unwrap();
    let facts = discovery::discover(&client, clock, &[], None).await.unwrap();
    assert_eq!(facts.cluster_domain, "corp.internal");
    assert_eq!(facts.cluster_domain_source, discovery::DomainSource::Corefile);
    assert!(
        !facts.warnings.iter().any(|w| w.contains("cluster domain")),
        "{:?}",
        facts.warnings
    );
    // The flag wins.
    let facts = discovery::discover(&client, clock, &[], Some("k8s.lan"))
        .await
        .unwrap();
    assert_eq!(facts.cluster_domain, "k8s.lan");
    assert_eq!(facts.cluster_domain_source, discovery::DomainSource::Setting);
    // A hostile Corefile (a public suffix: every .com name to the cluster) is refused, said.
    ts.store
        .delete("v1", "ConfigMap", Some("kube-system"), "coredns")
        .unwrap();
    ts.store.create(corefile("com")).unwrap();
    let facts = discovery::discover(&client, clock, &[], None).await.unwrap();
    assert_eq!(facts.cluster_domain, "cluster.local");
    assert!(
        facts
            .cluster_domain_warning
            .as_deref()
            .is_some_and(|w| w.contains("\"com\"") && w.contains("does not route")),
        "{:?}",
        facts.cluster_domain_warning
    );
}
