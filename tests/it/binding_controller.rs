//! The controller's namespace ↔ pool annotation sync (cases 44–52) against the real apiserver. On the
//! exclusive plane: the controller acts on every namespace of the cluster, and the fixture's names are
//! fixed.

use k8s_openapi::api::core::v1::Namespace;
use ks_network_apiserver::app::Mode;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use crate::support::api::{IPV4POOLS as V4, IPV6POOLS as V6, MARKER, SYNC};
use crate::support::exclusive::Exclusive;
use crate::support::fixtures::{delete, namespace, pool};
use crate::support::{CrdSet, TestServer, User, test_config, wait_for};

fn annotation(ns: &Namespace, key: &str) -> Option<String> {
    ns.metadata.annotations.as_ref()?.get(key).cloned()
}

async fn patch(api: &Api<Namespace>, name: &str, body: Value) {
    api.patch(name, &PatchParams::default(), &Patch::Merge(&body))
        .await
        .expect("namespace patch");
}

/// Waits until the namespace satisfies `check`, and returns it.
async fn until(
    api: &Api<Namespace>,
    name: &str,
    what: &str,
    check: impl Fn(&Namespace) -> bool,
) -> Namespace {
    wait_for(SYNC, what, || async {
        let ns = api.get(name).await.ok()?;
        check(&ns).then_some(ns)
    })
    .await
}

#[tokio::test]
async fn binding_labels_drive_the_calico_annotations() {
    let mut cluster = Exclusive::acquire(CrdSet::All).await;
    let plane = cluster.plane();
    let admin = cluster.admin().clone();
    cluster
        .create_all(vec![
            pool("pa", json!({"cidr": "10.11.0.0/16"})),
            pool("pb", json!({"cidr": "10.12.0.0/16"})),
            pool("p6", json!({"cidr": "fd00:50::/64"})),
            namespace("n1", json!({}), json!({})),
            namespace("n2", json!({}), json!({V4: "[\"pb\"]"})),
            namespace(
                "n3",
                json!({"ippool.network.kubesphere.io/pa": "false"}),
                json!({}),
            ),
            namespace(
                "n4",
                json!({"ippool.network.kubesphere.io/pz": ""}),
                json!({}),
            ),
            namespace("n5", json!({}), json!({V4: "[\"10.11.0.0/16\"]"})),
        ])
        .await;
    let server = TestServer::start_mode(plane, test_config(), Mode::All).await;
    server.wait_ready().await;
    let api: Api<Namespace> = Api::all(admin.clone());

    // 44: bind by label.
    patch(
        &api,
        "n1",
        json!({"metadata": {"labels": {"ippool.network.kubesphere.io/pa": ""}}}),
    )
    .await;
    let n1 = until(&api, "n1", "n1 annotated", |ns| {
        annotation(ns, V4).as_deref() == Some("[\"pa\"]")
    })
    .await;
    assert_eq!(annotation(&n1, MARKER).as_deref(), Some("true"));
    assert_eq!(annotation(&n1, V6), None);

    // 45: several pools, both families.
    patch(&api, "n1", json!({"metadata": {"labels": {"ippool.network.kubesphere.io/pb": "true", "ippool.network.kubesphere.io/p6": ""}}})).await;
    let n1 = until(&api, "n1", "n1 has both families", |ns| {
        annotation(ns, V6).as_deref() == Some("[\"p6\"]")
    })
    .await;
    assert_eq!(annotation(&n1, V4).as_deref(), Some("[\"pa\",\"pb\"]"));

    // 51: labels are the truth on managed namespaces.
    patch(
        &api,
        "n1",
        json!({"metadata": {"annotations": {V4: "[\"pb\"]"}}}),
    )
    .await;
    until(&api, "n1", "n1 hand edit reverted", |ns| {
        annotation(ns, V4).as_deref() == Some("[\"pa\",\"pb\"]")
    })
    .await;

    // 46: last label removed → annotations and marker removed.
    let labels = json!({"ippool.network.kubesphere.io/pa": null, "ippool.network.kubesphere.io/pb": null, "ippool.network.kubesphere.io/p6": null});
    patch(&api, "n1", json!({"metadata": {"labels": labels}})).await;
    until(&api, "n1", "n1 unbound", |ns| {
        annotation(ns, V4).is_none()
            && annotation(ns, V6).is_none()
            && annotation(ns, MARKER).is_none()
    })
    .await;

    // 47: hand-set annotations are left alone but reported as bound.
    let token = plane.token(User::Admin);
    let (_, body) = server
        .get_json(
        "/kapis/resources.kubesphere.io/v1alpha3/namespaces?names=n2&labelSelector=ippool.network.kubesphere.io/pb",
        &token,
    )
    .await;
    assert_eq!(body["totalItems"], 1, "{body}");
    assert_eq!(
        body["items"][0]["metadata"]["labels"]["ippool.network.kubesphere.io/pb"],
        ""
    );
    let n2 = api.get("n2").await.unwrap();
    assert_eq!(annotation(&n2, MARKER), None, "n2 untouched");

    // 48: adoption once a binding label appears.
    patch(
        &api,
        "n2",
        json!({"metadata": {"labels": {"ippool.network.kubesphere.io/pa": ""}}}),
    )
    .await;
    let n2 = until(&api, "n2", "n2 adopted", |ns| {
        annotation(ns, V4).as_deref() == Some("[\"pa\",\"pb\"]")
    })
    .await;
    let labels = n2.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get("ippool.network.kubesphere.io/pb")
            .map(String::as_str),
        Some("")
    );
    assert_eq!(annotation(&n2, MARKER).as_deref(), Some("true"));

    // 49: other label values do not bind; the namespace may use every usable pool.
    let (_, body) = server
        .get_json(
            "/kapis/network.kubesphere.io/v1alpha2/namespaces/n3/ippools",
            &token,
        )
        .await;
    // api §1.5: a bare array (the console's workload form maps over it).
    assert_eq!(body.as_array().map(Vec::len), Some(3), "{body}");
    let n3 = api.get("n3").await.unwrap();
    assert_eq!(annotation(&n3, V4), None);

    // 50: a label for a pool that does not exist yet; the pool appears, then goes.
    let n4 = until(&api, "n4", "n4 marked", |ns| {
        annotation(ns, MARKER).as_deref() == Some("true")
    })
    .await;
    assert_eq!(annotation(&n4, V4), None);
    cluster
        .create(pool("pz", json!({"cidr": "10.13.0.0/16"})))
        .await;
    until(&api, "n4", "n4 gets pz", |ns| {
        annotation(ns, V4).as_deref() == Some("[\"pz\"]")
    })
    .await;
    delete(&admin, "crd.projectcalico.org/v1", "IPPool", "", "pz").await;
    let n4 = until(&api, "n4", "n4 loses pz", |ns| annotation(ns, V4).is_none()).await;
    assert_eq!(annotation(&n4, MARKER).as_deref(), Some("true"));

    // 52: unmanaged CIDR entries count as bindings.
    let (_, body) = server
        .get_json(
        "/kapis/resources.kubesphere.io/v1alpha3/namespaces?names=n5&labelSelector=ippool.network.kubesphere.io/pa",
        &token,
    )
    .await;
    assert_eq!(body["totalItems"], 1, "{body}");
    server.stop().await;
}
