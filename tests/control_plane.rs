//! Smoke tests of the test harness in `tests/support/`: the shared control plane, the static
//! users and RBAC, and restarting kube-apiserver on a private control plane.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, ObjectMeta, PostParams};
use kube::{Api, Client};
use support::crds::{crd_files, read_crd};
use support::{ControlPlane, CrdSet, Options, User, unique_name, wait_for};

/// The HTTP status of a failed kube request (0 when it is not an API error).
fn status_code(error: &kube::Error) -> u16 {
    match error {
        kube::Error::Api(status) => status.code,
        _ => 0,
    }
}

/// The names of the CRDs in the files of `set`.
fn crd_names(set: CrdSet) -> Vec<String> {
    crd_files(set)
        .iter()
        .map(|path| {
            read_crd(path)
                .metadata
                .name
                .expect("a CRD file names its CRD")
        })
        .collect()
}

/// Whether `crd` has the condition `Established=True`.
fn is_established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
}

/// Creates namespace `name` through the kube API.
async fn create_namespace(client: &Client, name: &str) {
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("create namespace");
}

#[tokio::test]
async fn shared_plane_lists_namespaces_and_sees_kubectl_changes() {
    let plane = ControlPlane::shared();
    let admin = plane.client(User::Admin).await;
    let namespaces: Api<Namespace> = Api::all(admin);
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .expect("admin lists namespaces")
        .items
        .into_iter()
        .filter_map(|ns| ns.metadata.name)
        .collect();
    assert!(
        names.iter().any(|n| n == "default"),
        "namespaces: {names:?}"
    );

    let name = unique_name("ns");
    let output = plane
        .kubectl(User::Admin)
        .args(["create", "namespace", &name])
        .output()
        .expect("run kubectl");
    assert!(
        output.status.success(),
        "kubectl create namespace failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created = namespaces.get(&name).await.expect("get the new namespace");
    assert_eq!(created.metadata.name.as_deref(), Some(name.as_str()));
}

#[tokio::test]
async fn static_users_are_subject_to_rbac() {
    let plane = ControlPlane::shared();
    assert_eq!(plane.token(User::Alice), "ksnet-alice-token");

    let alice: Api<Pod> = Api::all(plane.client(User::Alice).await);
    let denied = alice
        .list(&ListParams::default())
        .await
        .expect_err("alice must not list pods cluster-wide");
    assert_eq!(status_code(&denied), 403, "{denied}");

    let admin: Api<Pod> = Api::all(plane.client(User::Admin).await);
    admin
        .list(&ListParams::default())
        .await
        .expect("admin lists pods cluster-wide");

    let output = plane
        .kubectl(User::Bob)
        .args(["get", "pods", "--all-namespaces"])
        .output()
        .expect("run kubectl");
    assert!(!output.status.success(), "bob must not list pods either");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("forbidden"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn shared_plane_has_every_crd_established() {
    let plane = ControlPlane::shared();
    let crds: Api<CustomResourceDefinition> = Api::all(plane.client(User::Admin).await);
    for name in crd_names(CrdSet::All) {
        let crd = crds.get(&name).await.expect("the CRD is installed");
        assert!(is_established(&crd), "CRD {name} is not Established");
    }
}

#[tokio::test]
async fn private_plane_keeps_data_across_an_apiserver_restart() {
    let plane = ControlPlane::start(Options {
        crds: CrdSet::OwnedOnly,
    });
    // Only the CRDs directly in config/crds/, not those under config/crds/upstream/.
    let crds: Api<CustomResourceDefinition> = Api::all(plane.client(User::Admin).await);
    let owned = crd_names(CrdSet::OwnedOnly);
    for name in crd_names(CrdSet::All) {
        let installed = crds.get_opt(&name).await.expect("get CRD").is_some();
        assert_eq!(installed, owned.contains(&name), "CRD {name}");
    }

    let name = unique_name("keep");
    create_namespace(&plane.client(User::Admin).await, &name).await;

    plane.stop_apiserver();
    let admin = plane.client(User::Admin).await;
    let namespaces: Api<Namespace> = Api::all(admin);
    let error = namespaces
        .get(&name)
        .await
        .expect_err("requests fail while kube-apiserver is stopped");
    assert_eq!(status_code(&error), 0, "not an API answer: {error}");

    plane.start_apiserver();
    // A new client: the old one may hold a dead connection (it does not matter, but be explicit).
    let namespaces: Api<Namespace> = Api::all(plane.client(User::Admin).await);
    let kept = wait_for(
        Duration::from_secs(10),
        "the namespace after restart",
        || async { namespaces.get_opt(&name).await.ok().flatten() },
    )
    .await;
    assert_eq!(kept.metadata.name.as_deref(), Some(name.as_str()));
}
