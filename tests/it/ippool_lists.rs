//! IP pools through the generic lists (cases 35–37) and the pool label shown on pods (case 11), against the
//! real apiserver. On the exclusive plane: the cases count every pool of the cluster, and the names are
//! the spec's.

use serde_json::json;

use crate::support::api::{SYNC, V3};
use crate::support::exclusive::Exclusive;
use crate::support::fixtures::{item_names, namespace, pod, pool};
use crate::support::{CrdSet, TestServer, User, wait_for};

#[tokio::test]
async fn pools_in_v1alpha3_lists_and_the_pool_label_of_pods() {
    let mut cluster = Exclusive::acquire(CrdSet::All).await;
    let plane = cluster.plane();
    let token = plane.token(User::Admin);
    cluster
        .create_all(vec![
            pool("default-ipv4-ippool", json!({"cidr": "10.233.64.0/18"})),
            json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
                   "metadata": {"name": "pool-b", "labels": {"tier": "gold"}}, "spec": {"cidr": "10.20.0.0/16"}}),
            pool("foo1", json!({"cidr": "10.31.0.0/16"})),
            pool("foo2", json!({"cidr": "10.32.0.0/16"})),
            pool("foo3", json!({"cidr": "10.33.0.0/16", "disabled": true})),
            pool("big", json!({"cidr": "10.80.0.0/16"})),
            pool("narrow", json!({"cidr": "10.80.1.0/24"})),
            namespace("other", json!({}), json!({})),
            namespace("a", json!({}), json!({})),
            pod("a", "p", &["10.80.1.5"], "Running", "2026-03-02T10:00:00Z"),
            pod("a", "q", &["10.80.2.5"], "Running", "2026-03-02T10:01:00Z"),
        ],
    )
    .await;
    let server = TestServer::start(plane).await;
    server.wait_ready().await;
    let base = V3;

    // Case 37: cluster list with a name filter.
    let body = wait_for(SYNC, "seven pools listed", || async {
        let (code, body) = server.get_json(&format!("{base}/ippools"), &token).await;
        (code == 200 && body["totalItems"] == 7).then_some(body)
    })
    .await;
    assert!(
        body["items"][0]["status"]["capacity"].is_u64(),
        "pools carry their status: {body}"
    );
    let (_, body) = server
        .get_json(&format!("{base}/ippools?name=foo2"), &token)
        .await;
    assert_eq!(item_names(&body), ["foo2"]);
    assert_eq!(body["totalItems"], 1);

    // Case 36: name filter with the console's paging parameters.
    let (_, body) = server
        .get_json(
            &format!("{base}/ippools?name=ss&sortBy=createTime&limit=10"),
            &token,
        )
        .await;
    assert_eq!(body["totalItems"], 0);
    let (_, body) = server
        .get_json(
            &format!("{base}/ippools?name=de&sortBy=createTime&limit=10"),
            &token,
        )
        .await;
    assert_eq!(body["totalItems"], 1);
    assert_eq!(item_names(&body), ["default-ipv4-ippool"]);

    // Case 35: the namespaced form lists the usable pools and honours labelSelector, without duplicates.
    let (code, body) = server
        .get_json(
            &format!("{base}/namespaces/other/ippools?labelSelector=tier=gold"),
            &token,
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(item_names(&body), ["pool-b"]);
    assert_eq!(body["totalItems"], 1);
    assert!(body["items"][0]["status"]["namespaces"].is_object());
    let (_, body) = server
        .get_json(
            &format!("{base}/namespaces/other/ippools?sortBy=name&ascending=true"),
            &token,
        )
        .await;
    assert_eq!(
        item_names(&body),
        [
            "big",
            "default-ipv4-ippool",
            "foo1",
            "foo2",
            "narrow",
            "pool-b"
        ]
    );
    let (code, body) = server
        .get_json(&format!("{base}/namespaces/other/ippools/foo3"), &token)
        .await;
    assert_eq!(code, 404, "a disabled pool is not usable: {body}");
    let (code, _) = server
        .get_json(&format!("{base}/namespaces/other/ippools/foo1"), &token)
        .await;
    assert_eq!(code, 200);

    // Case 11 (pool `wide` renamed `big`: "wide" contains "de" and would join case 36): the longest prefix wins,
    // and pods show the computed pool label.
    let (code, body) = server
        .get_json(&format!("{base}/namespaces/a/pods/p"), &token)
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["metadata"]["labels"]["ippool.network.kubesphere.io/name"],
        "narrow"
    );
    let (_, body) = server
        .get_json(&format!("{base}/namespaces/a/pods/q"), &token)
        .await;
    assert_eq!(
        body["metadata"]["labels"]["ippool.network.kubesphere.io/name"],
        "big"
    );
    let (_, body) = server
        .get_json(
            &format!("{base}/pods?labelSelector=ippool.network.kubesphere.io/name=narrow"),
            &token,
        )
        .await;
    assert_eq!(item_names(&body), ["p"]);
    let (_, body) = server.get_json(&format!("{base}/pods?labelSelector=ippool.network.kubesphere.io/name%20in%20(narrow,big)&sortBy=name"), &token).await;
    assert_eq!(item_names(&body), ["q", "p"]);
    server.stop().await;
}
