//! The server against a kube-apiserver that is down, restarts, or lacks optional CRDs.

mod support;

use std::time::Duration;

use ks_network_apiserver::cluster::cache::SyncState;
use support::{ControlPlane, CrdSet, Options, TestServer, User, unique_name, wait_for};

const TIMEOUT: Duration = Duration::from_secs(60);

fn namespace_cached(server: &TestServer<'_>, name: &str) -> bool {
    server
        .caches()
        .namespaces
        .store()
        .state()
        .iter()
        .any(|n| n.metadata.name.as_deref() == Some(name))
}

fn create_namespace(plane: &ControlPlane, name: &str) {
    let status = plane
        .kubectl(User::Admin)
        .args(["create", "namespace", name])
        .status()
        .unwrap();
    assert!(status.success(), "kubectl create namespace {name}");
}

#[tokio::test]
async fn readiness_waits_for_the_apiserver_and_the_caches_survive_its_restart() {
    let plane = ControlPlane::start(Options { crds: CrdSet::All });
    let before = unique_name("before");
    create_namespace(&plane, &before);

    // Unreachable apiserver: the server keeps running, is alive, and is not ready.
    plane.stop_apiserver();
    let server = TestServer::start(&plane).await;
    assert_eq!(server.get("/healthz", None).await.status(), 200);
    let response = server.get("/readyz", None).await;
    assert_eq!(response.status(), 503);
    let text = response.text().await.unwrap();
    assert!(text.contains("[-]informer-sync failed"), "{text}");
    assert!(text.ends_with("readyz check failed\n"), "{text}");

    // Apiserver up: caches sync, readiness flips to 200, existing objects are there.
    plane.start_apiserver();
    server.wait_ready().await;
    assert!(namespace_cached(&server, &before));

    // Restart: objects created after the watch broke reach the cache once it reconnects.
    plane.stop_apiserver();
    plane.start_apiserver();
    let after = unique_name("after");
    create_namespace(&plane, &after);
    wait_for(
        TIMEOUT,
        "namespace created after the restart in the cache",
        || async { namespace_cached(&server, &after).then_some(()) },
    )
    .await;
    assert_eq!(server.get("/readyz", None).await.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn missing_optional_crds_are_empty_collections_until_installed() {
    let plane = ControlPlane::start(Options {
        crds: CrdSet::OwnedOnly,
    });
    let server = TestServer::start(&plane).await;
    server.wait_ready().await;
    assert_eq!(server.caches().ippools.state(), SyncState::Absent);
    assert_eq!(server.caches().workspaces.state(), SyncState::Absent);
    assert_eq!(
        server.caches().namespace_network_policies.state(),
        SyncState::Synced
    );

    // Case 187 (and 23, no pools): the absent Calico API reads as an empty collection.
    let token = plane.token(User::Admin);
    let response = server
        .get(
            "/kapis/network.kubesphere.io/v1alpha2/ippools",
            Some(&token),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!([])
    );
    let response = server
        .get(
            "/kapis/network.kubesphere.io/v1alpha2/ippools/x",
            Some(&token),
        )
        .await;
    assert_eq!(response.status(), 404);
    let response = server
        .get(
            "/kapis/resources.kubesphere.io/v1alpha3/ippools",
            Some(&token),
        )
        .await;
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"items": [], "totalItems": 0})
    );
    // Case 189: no Workspace API → an empty list.
    let response = server
        .get(
            "/kapis/resources.kubesphere.io/v1alpha3/workspaces",
            Some(&token),
        )
        .await;
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"items": [], "totalItems": 0})
    );

    // Calico installed later: the cache starts watching it within the discovery interval.
    let status = plane
        .kubectl(User::Admin)
        .args(["apply", "-f"])
        .arg(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("config/crds/upstream/crd.projectcalico.org_ippools.yaml"),
        )
        .status()
        .unwrap();
    assert!(status.success());
    wait_for(
        TIMEOUT,
        "ippools cache synced after the CRD appeared",
        || async { (server.caches().ippools.state() == SyncState::Synced).then_some(()) },
    )
    .await;
    server.stop().await;
}
