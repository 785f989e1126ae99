//! kubeconfig loading as kubectl does it.
#![allow(clippy::unwrap_used)]

use std::ffi::OsString;

use kubewire_cluster::ClusterError;
use kubewire_cluster::kubeconfig::{load, load_with_env};

const A: &str = r#"
apiVersion: v1
kind: Config
current-context: alpha
clusters:
- name: alpha
  cluster: {server: "https://alpha.example:6443"}
- name: shared
  cluster: {server: "https://first.example:6443"}
users:
- name: alice
  user: {token: a}
contexts:
- name: alpha
  context: {cluster: alpha, user: alice, namespace: dev}
"#;

const B: &str = r#"
apiVersion: v1
kind: Config
current-context: beta
clusters:
- name: beta
  cluster: {server: "https://beta.example:6443"}
- name: shared
  cluster: {server: "https://second.example:6443"}
users:
- name: bob
  user: {token: b}
contexts:
- name: beta
  context: {cluster: shared, user: bob}
- name: alpha
  context: {cluster: beta, user: bob}
"#;

#[test]
fn two_kubeconfig_files_merge_first_wins() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.yaml");
    let b = dir.path().join("b.yaml");
    std::fs::write(&a, A).unwrap();
    std::fs::write(&b, B).unwrap();
    let missing = dir.path().join("missing.yaml");
    let env = std::env::join_paths([&a, &missing, &b]).unwrap();
    let loaded = load_with_env(None, Some(&env)).unwrap();
    assert_eq!(loaded.files, vec![a.clone(), b.clone()]);
    let contexts = loaded.contexts();
    let names: Vec<_> = contexts.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["alpha", "beta"]);
    // The first file's current-context, context and cluster win.
    assert!(contexts[0].current);
    assert_eq!(contexts[0].server, "https://alpha.example:6443");
    assert_eq!(contexts[0].namespace.as_deref(), Some("dev"));
    assert_eq!(contexts[1].server, "https://first.example:6443");
    assert_eq!(contexts[1].user, "bob");
    assert!(!contexts[1].current);
    assert_eq!(loaded.context(None).unwrap().name, "alpha");
    assert_eq!(loaded.context(Some("beta")).unwrap().name, "beta");
    match loaded.context(Some("gamma")) {
        Err(ClusterError::UnknownContext { known, .. }) => assert_eq!(known, "alpha, beta"),
        other => panic!("{other:?}"),
    }

    // --kubeconfig wins over KUBECONFIG.
    let only_b = load_with_env(Some(&b), Some(&env)).unwrap();
    assert_eq!(only_b.context(None).unwrap().name, "beta");
    assert_eq!(load(Some(&b)).unwrap().files, vec![b]);
}

#[test]
fn a_malformed_kubeconfig_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&good, A).unwrap();
    std::fs::write(&bad, "clusters: [this is: not: yaml").unwrap();
    let env = std::env::join_paths([&good, &bad]).unwrap();
    let err = load_with_env(None, Some(&env)).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("bad.yaml"), "{text}");
    assert!(matches!(err, ClusterError::Kubeconfig { .. }));

    let none = OsString::from(dir.path().join("nothing-here.yaml"));
    let err = load_with_env(None, Some(&none)).unwrap_err();
    assert!(err.to_string().contains("no kubeconfig found"), "{err}");
}
