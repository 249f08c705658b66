//! The server, and the harness, against a kube-apiserver that is down, restarts, or lacks optional
//! CRDs. These stop kube-apiserver and start from a plane without the upstream CRDs, so they run on the
//! exclusive plane, as one test, in order: the harness's restart, then the server without the Calico
//! and Workspace APIs (which installs the IPPool CRD), then the server across restarts, then readiness
//! and answers while kube-apiserver is down, then writes while etcd is down (docs/reliability.md). The drain on shutdown runs on the
//! shared plane.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use ks_network_apiserver::cluster::cache::SyncState;
use kube::Api;
use serde_json::json;

use crate::support::api::{SYNC, V2, V3, nsnps};
use crate::support::crds::crd_names;
use crate::support::exclusive::Exclusive;
use crate::support::fixtures::{Sample, eventually, item_names, json_of, metric, parse_metrics};
use crate::support::{ControlPlane, CrdSet, TestServer, User, test_config, unique_name, wait_for};

#[tokio::test]
async fn restarts_and_missing_optional_crds() {
    let cluster = Exclusive::acquire(CrdSet::OwnedOnly).await;
    let plane = cluster.plane();
    the_plane_keeps_data_across_an_apiserver_restart(plane).await;
    missing_optional_crds_are_empty_collections_until_installed(plane).await;
    readiness_waits_for_the_apiserver_and_the_caches_survive_its_restart(plane).await;
    an_outage_fails_readiness_and_requests_answer_503_until_the_apiserver_is_back(plane).await;
    an_etcd_outage_fails_writes_within_the_timeout_and_recovers(plane).await;
}

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

/// The harness: a plane with only the owned CRDs, whose data survives a kube-apiserver restart.
async fn the_plane_keeps_data_across_an_apiserver_restart(plane: &ControlPlane) {
    // Only the CRDs directly in config/crds/, not those under config/crds/upstream/.
    let crds: Api<CustomResourceDefinition> = Api::all(plane.client(User::Admin).await);
    let owned = crd_names(CrdSet::OwnedOnly);
    for name in crd_names(CrdSet::All) {
        let installed = crds.get_opt(&name).await.expect("get CRD").is_some();
        assert_eq!(installed, owned.contains(&name), "CRD {name}");
    }

    let name = unique_name("keep");
    create_namespace(plane, &name);

    plane.stop_apiserver();
    let admin = plane.client(User::Admin).await;
    let namespaces: Api<Namespace> = Api::all(admin);
    let error = namespaces
        .get(&name)
        .await
        .expect_err("requests fail while kube-apiserver is stopped");
    assert!(
        !matches!(error, kube::Error::Api(_)),
        "not an API answer: {error}"
    );

    plane.start_apiserver();
    // A new client: the old one may hold a dead connection (it does not matter, but be explicit).
    let namespaces: Api<Namespace> = Api::all(plane.client(User::Admin).await);
    let kept = wait_for(SYNC, "the namespace after restart", || async {
        namespaces.get_opt(&name).await.ok().flatten()
    })
    .await;
    assert_eq!(kept.metadata.name.as_deref(), Some(name.as_str()));
}

async fn missing_optional_crds_are_empty_collections_until_installed(plane: &ControlPlane) {
    let server = TestServer::start(plane).await;
    server.wait_ready().await;
    assert_eq!(server.caches().ippools.state(), SyncState::Absent);
    assert_eq!(server.caches().workspaces.state(), SyncState::Absent);
    assert_eq!(
        server.caches().namespace_network_policies.state(),
        SyncState::Synced
    );

    // Case 187 (and 23, no pools): the absent Calico API reads as an empty collection.
    let token = plane.token(User::Admin);
    let (code, body) = json_of(server.get(&format!("{V2}/ippools"), Some(&token)).await).await;
    assert_eq!((code, body), (200, json!([])));
    let response = server.get(&format!("{V2}/ippools/x"), Some(&token)).await;
    assert_eq!(response.status(), 404);
    let (_, body) = json_of(server.get(&format!("{V3}/ippools"), Some(&token)).await).await;
    assert_eq!(body, json!({"items": [], "totalItems": 0}));
    // Case 189: no Workspace API → an empty list.
    let (_, body) = json_of(server.get(&format!("{V3}/workspaces"), Some(&token)).await).await;
    assert_eq!(body, json!({"items": [], "totalItems": 0}));

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
        SYNC,
        "ippools cache synced after the CRD appeared",
        || async { (server.caches().ippools.state() == SyncState::Synced).then_some(()) },
    )
    .await;
    server.stop().await;
}

async fn readiness_waits_for_the_apiserver_and_the_caches_survive_its_restart(
    plane: &ControlPlane,
) {
    let before = unique_name("before");
    create_namespace(plane, &before);

    // Unreachable apiserver: the server keeps running, is alive, and is not ready.
    plane.stop_apiserver();
    let server = TestServer::start(plane).await;
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
    create_namespace(plane, &after);
    wait_for(
        SYNC,
        "namespace created after the restart in the cache",
        || async { namespace_cached(&server, &after).then_some(()) },
    )
    .await;
    assert_eq!(server.get("/readyz", None).await.status(), 200);
    server.stop().await;
}

/// The samples of `server`'s `/metrics` (asked without a token).
async fn samples(server: &TestServer<'_>) -> Vec<Sample> {
    let response = server.get("/metrics", None).await;
    assert_eq!(response.status(), 200);
    parse_metrics(&response.text().await.unwrap())
}

/// api §5, check `watch`: with kube-apiserver down, `/readyz` fails naming the failing watches once
/// `cache.maxWatchFailureSeconds` has passed, `/metrics` shows how long they have been failing, requests that
/// need kube-apiserver answer 503 well within the request timeout, and everything recovers without a restart of
/// the server.
async fn an_outage_fails_readiness_and_requests_answer_503_until_the_apiserver_is_back(
    plane: &ControlPlane,
) {
    let mut config = test_config();
    config.cache.max_watch_failure_seconds = 2;
    // `/metrics` without a token: no TokenReview can be answered during the outage.
    config.server.metrics_require_auth = false;
    // Every request reviews its token: none is answered from the cache.
    config.auth.cache_ttl_seconds = 0;
    let server = TestServer::start_with(plane, config.clone()).await;
    server.wait_ready().await;
    let token = plane.token(User::Admin);
    assert_eq!(
        server.get_json(&format!("{V3}/namespaces"), &token).await.0,
        200
    );

    plane.stop_apiserver();
    let text = eventually(SYNC, "/readyz 503 naming the failing watches", || async {
        let response = server.get("/readyz", None).await;
        let code = response.status();
        let text = response.text().await.unwrap_or_default();
        if code == 503 && text.contains("    watch failing for namespaces (") {
            Ok(text)
        } else {
            Err(format!("{code} {text}"))
        }
    })
    .await;
    assert!(
        text.contains("[+]informer-sync ok\n[-]watch failed\n"),
        "{text}"
    );
    assert!(text.contains("    watch failing for pods ("), "{text}");
    assert!(
        text.ends_with("[+]shutdown ok\nreadyz check failed\n"),
        "{text}"
    );
    assert_eq!(server.get("/healthz", None).await.status(), 200);

    // A request that needs a TokenReview: 503 Status, well before the request timeout.
    let started = Instant::now();
    let (code, body) = server.get_json(&format!("{V3}/namespaces"), &token).await;
    let took = started.elapsed();
    eprintln!("outage answer: {code} after {took:?}");
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(body["reason"], "ServiceUnavailable", "{body}");
    assert!(took < config.request_timeout(), "{took:?}");
    assert!(
        took < Duration::from_secs(6),
        "within the connect timeout: {took:?}"
    );

    // The same on /metrics: the watch has failed for longer than the readiness window, and was restarted; the
    // TokenReview failed.
    let namespaces = [("resource", "namespaces")];
    let during = samples(&server).await;
    let failing = metric(&during, "ks_network_watch_failing_seconds", &namespaces);
    assert!(failing.is_some_and(|s| s > 2.0), "{failing:?}");
    let restarts = metric(&during, "ks_network_watch_restarts_total", &namespaces);
    assert!(restarts.is_some_and(|n| n >= 1.0), "{restarts:?}");
    let token_errors = [("review", "token"), ("result", "error")];
    let errors = metric(&during, "ks_network_auth_reviews_total", &token_errors);
    assert!(errors.is_some_and(|n| n >= 1.0), "{errors:?}");

    plane.start_apiserver();
    server.wait_ready().await;
    // Ready again: every watch has re-listed, so none is failing; the restarts stay counted.
    let after = samples(&server).await;
    let failing = metric(&after, "ks_network_watch_failing_seconds", &namespaces);
    assert_eq!(failing, Some(0.0));
    let restarts_after = metric(&after, "ks_network_watch_restarts_total", &namespaces);
    assert!(
        restarts_after >= restarts,
        "{restarts_after:?} {restarts:?}"
    );
    let age = metric(
        &after,
        "ks_network_watch_last_event_age_seconds",
        &namespaces,
    );
    assert!(age.is_some_and(|s| s < SYNC.as_secs_f64()), "{age:?}");
    let after = unique_name("outage");
    create_namespace(plane, &after);
    eventually(
        SYNC,
        "the namespace created after the outage in a list",
        || async {
            let (code, body) = server
                .get_json(&format!("{V3}/namespaces?name={after}"), &token)
                .await;
            if code == 200 && item_names(&body).contains(&after) {
                Ok(())
            } else {
                Err(format!("{code} {body}"))
            }
        },
    )
    .await;
    server.stop().await;
}

/// etcd down under kube-apiserver: kube-apiserver still serves its watch cache, so the server's watches stay
/// open and reads from its caches keep answering (nothing can change while nothing can be written); a write
/// fails with a 5xx `Status` within the request timeout, never hangs; once etcd is back, writes go through and
/// reach the caches without a restart of the server.
async fn an_etcd_outage_fails_writes_within_the_timeout_and_recovers(plane: &ControlPlane) {
    let mut config = test_config();
    config.server.request_timeout_seconds = 3;
    let server = TestServer::start_with(plane, config.clone()).await;
    server.wait_ready().await;
    let token = plane.token(User::Admin);
    let nsnp = |name: &str| {
        json!({"apiVersion": "network.kubesphere.io/v1alpha1", "kind": "NamespaceNetworkPolicy",
               "metadata": {"name": name}, "spec": {"ingress": []}})
    };
    let create = |name: String| {
        let body = nsnp(&name).to_string();
        let server = &server;
        let token = &token;
        async move {
            server
                .post(&nsnps("default"), token, Some("application/json"), body)
                .await
        }
    };

    plane.stop_etcd();
    let started = Instant::now();
    let (code, body) = create(unique_name("during-outage")).await;
    let took = started.elapsed();
    eprintln!("etcd outage: write answered {code} after {took:?}");
    assert!(code >= 500, "{code} {body}");
    assert_eq!(body["kind"], "Status", "{body}");
    assert!(
        took < config.request_timeout() + Duration::from_secs(2),
        "{took:?}"
    );
    // Reads are served from the caches.
    assert_eq!(
        server.get_json(&format!("{V3}/namespaces"), &token).await.0,
        200
    );
    assert_eq!(server.get("/readyz", None).await.status(), 200);

    plane.start_etcd();
    let after = unique_name("after-outage");
    eventually(SYNC, "a write after etcd is back", || async {
        let (code, body) = create(after.clone()).await;
        (code == 201 || code == 409)
            .then_some(())
            .ok_or(format!("{code} {body}"))
    })
    .await;
    eventually(
        SYNC,
        "the policy written after the outage in the cache",
        || async {
            let (code, body) = server.get_json(&nsnps("default"), &token).await;
            if code == 200 && item_names(&body).contains(&after) {
                Ok(())
            } else {
                Err(format!("{code} {body}"))
            }
        },
    )
    .await;
    server.stop().await;
}

/// After SIGTERM (`Server::shutdown`), `/readyz` fails at once while requests are still served for
/// `server.shutdownDelaySeconds`; then the server stops.
#[tokio::test]
async fn draining_fails_readiness_but_keeps_serving_during_the_delay() {
    let mut config = test_config();
    config.server.shutdown_delay_seconds = 2;
    let server = TestServer::start_with(ControlPlane::shared(), config).await;
    server.wait_ready().await;
    let (http, readyz, healthz) = (
        server.http.clone(),
        server.url("/readyz"),
        server.url("/healthz"),
    );
    let started = Instant::now();
    let stopping = tokio::spawn(server.stop());

    let text = eventually(
        Duration::from_secs(2),
        "/readyz 503 while draining",
        || async {
            let response = http.get(&readyz).send().await.map_err(|e| e.to_string())?;
            let code = response.status();
            let text = response.text().await.map_err(|e| e.to_string())?;
            if code == 503 {
                Ok(text)
            } else {
                Err(format!("{code} {text}"))
            }
        },
    )
    .await;
    assert!(text.contains("[-]shutdown failed\n"), "{text}");
    // A new connection during the delay is still served.
    let fresh = reqwest::Client::new();
    let response = fresh
        .get(&healthz)
        .send()
        .await
        .expect("served during the drain delay");
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "checked within the delay"
    );

    stopping.await.expect("shutdown completes");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the delay was kept"
    );
    assert!(
        fresh.get(&healthz).send().await.is_err(),
        "the listener is closed"
    );
}
