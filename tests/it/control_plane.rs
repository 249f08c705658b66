//! Smoke tests of the test harness in `support/`: the shared control plane, the static users and
//! RBAC. (Restarting kube-apiserver is checked on the exclusive plane, in `apiserver_lifecycle`.)

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::ListParams;

use crate::support::crds::crd_names;
use crate::support::{ControlPlane, CrdSet, User, unique_name};

/// The HTTP status of a failed kube request (0 when it is not an API error).
fn status_code(error: &kube::Error) -> u16 {
    match error {
        kube::Error::Api(status) => status.code,
        _ => 0,
    }
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
