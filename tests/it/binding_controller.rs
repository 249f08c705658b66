//! The controller's namespace ↔ pool annotation sync (cases 44–52) against the real apiserver, and the
//! KubeSphere console's bind and unbind writes (docs/console.md). On the exclusive plane: the controller acts on
//! every namespace of the cluster, and the fixture's names are fixed.

use k8s_openapi::api::core::v1::Namespace;
use ks_network_apiserver::app::Mode;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use crate::support::api::{BINDING, IPV4POOLS as V4, IPV6POOLS as V6, MARKER, SYNC, V3};
use crate::support::console::put_namespace_pools;
use crate::support::exclusive::Exclusive;
use crate::support::fixtures::{binding_labels, delete, namespace, pool};
use crate::support::{CrdSet, TestServer, User, test_config, wait_for};

fn annotation(ns: &Namespace, key: &str) -> Option<String> {
    ns.metadata.annotations.as_ref()?.get(key).cloned()
}

/// The item named `name` of a list answer.
fn item_named(body: &Value, name: &str) -> Option<Value> {
    body["items"]
        .as_array()?
        .iter()
        .find(|i| i["metadata"]["name"] == name)
        .cloned()
}

fn stored_labels(ns: &Namespace) -> std::collections::BTreeMap<String, String> {
    ns.metadata.labels.clone().unwrap_or_default()
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
            namespace("n6", json!({}), json!({})),
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

    // 51, as the console needs it: an edit of the annotations of a managed namespace moves its labels
    // (cases.md had it reverted; docs/console.md).
    patch(
        &api,
        "n1",
        json!({"metadata": {"annotations": {V4: "[\"pb\"]"}}}),
    )
    .await;
    let n1 = until(&api, "n1", "n1 label pa gone", |ns| {
        !stored_labels(ns).contains_key("ippool.network.kubesphere.io/pa")
    })
    .await;
    assert_eq!(annotation(&n1, V4).as_deref(), Some("[\"pb\"]"));

    // 46: last label removed → annotations and marker removed.
    let labels = json!({"ippool.network.kubesphere.io/pa": null, "ippool.network.kubesphere.io/pb": null, "ippool.network.kubesphere.io/p6": null});
    patch(&api, "n1", json!({"metadata": {"labels": labels}})).await;
    until(&api, "n1", "n1 unbound", |ns| {
        annotation(ns, V4).is_none()
            && annotation(ns, V6).is_none()
            && annotation(ns, MARKER).is_none()
    })
    .await;

    // 47: hand-set annotations are left alone but reported as bound; the virtual label is matched, not shown
    // (the console writes a namespace back as it read it).
    let token = plane.token(User::Admin);
    let (_, body) = server
        .get_json(
        "/kapis/resources.kubesphere.io/v1alpha3/namespaces?names=n2&labelSelector=ippool.network.kubesphere.io/pb",
        &token,
    )
    .await;
    assert_eq!(body["totalItems"], 1, "{body}");
    assert_eq!(binding_labels(&body["items"][0]), Default::default());
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
    assert_eq!(
        stored_labels(&n2)
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

    // The console binds and unbinds by PUTting the namespace it listed with a rewritten `ipv4pools`
    // (`4.49e1bbd1d064c2cb5c0d.js`, pool detail "projects" tab `handleAdd` / `handleDelete`), then lists
    // the pool's projects again (`fetchNamespacesList`).
    let tab = |pool: &str| {
        format!(
            "{V3}/namespaces?limit=-1&labelSelector=ippool.network.kubesphere.io%2F{pool}&sortBy=createTime&page=1"
        )
    };
    let listed = |pool: &'static str, name: &'static str, shown: bool| {
        let (server, token, path) = (&server, &token, tab(pool));
        async move {
            wait_for(
                SYNC,
                &format!("{name} listed {shown} under {pool}"),
                || async {
                    let (code, body) = server.get_json(&path, token).await;
                    let item = item_named(&body, name);
                    (code == 200 && body["items"].is_array() && item.is_some() == shown)
                        .then_some(item)
                },
            )
            .await
        }
    };
    // An unmanaged namespace: bound from the project picker (module `handleOk` → `handleAdd`), unbound from the tab.
    let picker = format!(
        "{V3}/namespaces?limit=-1&sortBy=createTime&page=1&labelSelector=%21kubesphere.io%2Fdevopsproject"
    );
    let picked = |name: &'static str| {
        let (server, token, picker) = (&server, &token, &picker);
        async move {
            let (_, body) = server.get_json(picker, token).await;
            item_named(&body, name).expect("in the project picker")
        }
    };
    put_namespace_pools(&admin, &picked("n6").await, "pb", true).await;
    let n6 = listed("pb", "n6", true).await.expect("n6 item");
    assert_eq!(binding_labels(&n6), Default::default());
    put_namespace_pools(&admin, &n6, "pb", false).await;
    listed("pb", "n6", false).await;
    let n6 = api.get("n6").await.unwrap();
    let stored_bindings = stored_labels(&n6)
        .into_keys()
        .filter(|k| k.starts_with(BINDING));
    assert_eq!(
        (
            stored_bindings.count(),
            annotation(&n6, V4),
            annotation(&n6, MARKER)
        ),
        (0, Some("[]".to_owned()), None),
        "n6 unbound and unmanaged"
    );
    // A managed namespace (n2, adopted in 48): the labels follow the console's edits.
    let item = listed("pa", "n2", true).await.expect("n2 item");
    put_namespace_pools(&admin, &item, "pa", false).await;
    listed("pa", "n2", false).await;
    let n2 = until(&api, "n2", "n2 without label pa", |ns| {
        !stored_labels(ns).contains_key("ippool.network.kubesphere.io/pa")
    })
    .await;
    assert_eq!(annotation(&n2, V4).as_deref(), Some("[\"pb\"]"));
    put_namespace_pools(&admin, &picked("n2").await, "pa", true).await;
    until(&api, "n2", "n2 bound to pa by label again", |ns| {
        stored_labels(ns).contains_key("ippool.network.kubesphere.io/pa")
            && annotation(ns, V4).as_deref() == Some("[\"pa\",\"pb\"]")
    })
    .await;
    listed("pa", "n2", true).await;
    server.stop().await;
}
