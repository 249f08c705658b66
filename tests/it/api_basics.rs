//! The basics that need a real kube-apiserver: TokenReviews, SubjectAccessReviews, watch caches fed
//! by kubectl, and the pool type against the installed CRD. (The HTTP basics that need no cluster —
//! 401 without credentials, 404, health, request ids, body limits — are in `routes`.)

use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::core::v1::Pod;
use ks_network_apiserver::auth::{Access, Identity, Verb};
use ks_network_apiserver::cluster::calico::IPPool;
use kube::api::{Api, ApiResource, PostParams};
use serde_json::json;

use crate::support::api::SYNC;
use crate::support::{ControlPlane, TestServer, User, unique_name, wait_for};

async fn server() -> TestServer<'static> {
    TestServer::start(ControlPlane::shared()).await
}

#[tokio::test]
async fn rejected_tokens_and_spoofed_front_proxy_headers_get_401() {
    let server = server().await;
    let response = server.get("/kapis/anything", Some("not-a-token")).await;
    assert_eq!(response.status(), 401);
    let response = server
        .http
        .get(server.url("/kapis/anything"))
        .header("X-Remote-User", "admin")
        .header("X-Remote-Group", "system:masters")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    server.stop().await;
}

#[tokio::test]
async fn objects_created_with_kubectl_show_up_in_the_caches() {
    let server = server().await;
    server.wait_ready().await;
    let ns = unique_name("cache");
    let status = server
        .plane
        .kubectl(User::Admin)
        .args(["create", "namespace", &ns])
        .status()
        .unwrap();
    assert!(status.success());
    let caches = server.caches();
    wait_for(SYNC, "namespace in the cache", || async {
        caches
            .namespaces
            .store()
            .state()
            .into_iter()
            .find(|n| n.metadata.name.as_deref() == Some(ns.as_str()))
    })
    .await;

    let pool = unique_name("pool");
    let manifest = json!({"apiVersion":"crd.projectcalico.org/v1","kind":"IPPool",
        "metadata":{"name": pool},"spec":{"cidr":"10.99.0.0/16","ipipMode":"Never"}});
    let mut apply = server.plane.kubectl(User::Admin);
    apply
        .args(["apply", "-f", "-"])
        .stdin(std::process::Stdio::piped());
    let mut child = apply.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(manifest.to_string().as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    let cached = wait_for(SYNC, "ippool in the cache", || async {
        caches
            .ippools
            .store()
            .state()
            .into_iter()
            .find(|p| p.metadata.name.as_deref() == Some(pool.as_str()))
    })
    .await;
    assert_eq!(cached.spec.cidr, "10.99.0.0/16");
    assert!(
        cached.metadata.managed_fields.is_none(),
        "managedFields are stripped"
    );

    let status = server
        .plane
        .kubectl(User::Admin)
        .args(["delete", "ippools.crd.projectcalico.org", &pool])
        .status()
        .unwrap();
    assert!(status.success());
    wait_for(SYNC, "ippool gone from the cache", || async {
        caches
            .ippools
            .store()
            .state()
            .iter()
            .all(|p| p.metadata.name.as_deref() != Some(pool.as_str()))
            .then_some(())
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn the_authorizer_asks_kube_apiserver_for_ordinary_users() {
    let server = server().await;
    let authorizer = server.authorizer();
    let alice = Identity {
        user: "alice".into(),
        uid: Some("alice".into()),
        groups: vec!["system:authenticated".into()],
        extra: Default::default(),
    };
    let list_pods = Access::to(Verb::List, &ApiResource::erase::<Pod>(&()));
    assert!(!authorizer.allowed(&alice, &list_pods).await.unwrap());

    // Grant alice `list pods` in one namespace; the cluster-wide question stays "no".
    let ns = unique_name("authz");
    let admin = server.plane.client(User::Admin).await;
    Api::<Namespace>::all(admin.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata":{"name": ns}})).unwrap(),
        )
        .await
        .unwrap();
    let role = json!({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"pod-reader","namespace": ns},
        "rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["list"]}]});
    let binding = json!({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"alice-reads","namespace": ns},
        "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"pod-reader"},
        "subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"alice"}]});
    Api::<k8s_openapi::api::rbac::v1::Role>::namespaced(admin.clone(), &ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(role).unwrap(),
        )
        .await
        .unwrap();
    Api::<k8s_openapi::api::rbac::v1::RoleBinding>::namespaced(admin.clone(), &ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(binding).unwrap(),
        )
        .await
        .unwrap();
    // kube-apiserver's RBAC authorizer learns of the binding from its own watch: ask it directly (uncached)
    // until it does, so the first, cached answer of our authorizer is the settled one.
    let reviews = Api::<SubjectAccessReview>::all(admin);
    let review: SubjectAccessReview = serde_json::from_value(json!({
        "spec": {"user": "alice", "groups": ["system:authenticated"],
                 "resourceAttributes": {"verb": "list", "resource": "pods", "namespace": ns}}
    }))
    .unwrap();
    wait_for(SYNC, "RBAC to see alice's RoleBinding", || async {
        let answer = reviews.create(&PostParams::default(), &review).await.ok()?;
        answer.status.filter(|s| s.allowed).map(|_| ())
    })
    .await;
    assert!(
        authorizer
            .allowed(&alice, &list_pods.clone().in_namespace(&ns))
            .await
            .unwrap()
    );
    assert!(!authorizer.allowed(&alice, &list_pods).await.unwrap());

    let admin_identity = Identity {
        user: "admin".into(),
        uid: None,
        groups: vec!["system:masters".into(), "system:authenticated".into()],
        extra: Default::default(),
    };
    assert!(
        authorizer
            .allowed(&admin_identity, &list_pods)
            .await
            .unwrap()
    );
    server.stop().await;
}

#[tokio::test]
async fn ippool_cache_type_matches_the_installed_crd() {
    // A pool written with every modelled field round-trips through the real CRD schema.
    let plane = ControlPlane::shared();
    let client = plane.client(User::Admin).await;
    let name = unique_name("full");
    let pool: IPPool = serde_json::from_value(json!({
        "apiVersion":"crd.projectcalico.org/v1","kind":"IPPool","metadata":{"name": name},
        "spec":{"cidr":"fd00:99::/64","blockSize":122,"ipipMode":"Never","vxlanMode":"Always","natOutgoing":true,
                "nodeSelector":"all()","allowedUses":["Workload"],"disabled":true,"disableBGPExport":true}}))
    .unwrap();
    let created = Api::<IPPool>::all(client)
        .create(&PostParams::default(), &pool)
        .await
        .unwrap();
    assert_eq!(created.spec, pool.spec);
}
