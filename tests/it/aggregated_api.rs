//! The aggregated APIService surface against a real kube-apiserver (cases.md P 180–186), called directly with
//! bearer tokens (the aggregator's front-proxy certificate is not involved). Reads on F-A and the virtual
//! migration on F-M run on the exclusive plane (fixed names, every pool of the cluster); the 403s run on the
//! shared plane as `bob`, whom no shared-plane test grants anything.

use serde_json::{Value, json};

use crate::ippool_migration::{case53, fixture as f_m};
use crate::support::api::{APIS, KUBECTL_TABLE, SYNC};
use crate::support::exclusive::Exclusive;
use crate::support::fixtures::{
    Checks, expect_error, f_a, json_of, resource_version, same, settle,
};
use crate::support::{ControlPlane, CrdSet, Env, TestServer, User};

/// Case 1's status of `default-ipv4-ippool`.
fn case1() -> Value {
    json!({"capacity": 16384, "allocations": 5, "unallocated": 16373, "reserved": 5, "tunnel": 1,
           "namespaces": {"demo": 3, "kube-system": 1, "win": 1}, "pods": 4, "leaked": 1})
}

/// GET `path` as `token` with an `Accept` header: code, `Content-Type` and JSON body.
async fn get_accepting(
    server: &TestServer<'_>,
    path: &str,
    token: &str,
    accept: &str,
) -> (u16, String, Value) {
    let response = server
        .http
        .get(server.url(path))
        .bearer_auth(token)
        .header("Accept", accept)
        .send()
        .await
        .expect("request reaches the server");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (code, body) = json_of(response).await;
    (code, content_type, body)
}

fn names_of(items: &Value) -> Vec<Value> {
    items
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i["metadata"]["name"].clone())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn aggregated_reads_on_fixture_f_a() {
    let mut cluster = Exclusive::acquire(CrdSet::All).await;
    let plane = cluster.plane();
    let token = plane.token(User::Admin);
    let server = TestServer::start(plane).await;
    cluster.create_all(f_a()).await;
    server.wait_ready().await;
    let mut checks = Checks::default();

    // Case 182, also the signal that the caches reflect F-A.
    let outcome = settle(SYNC, || async {
        let (code, body) = server.get_json(&format!("{APIS}/ippools"), &token).await;
        let item = &body["items"][0];
        same(
            &json!([
                code,
                &body["kind"],
                &body["apiVersion"],
                &body["metadata"],
                names_of(&body["items"]),
                &item["kind"],
                &item["apiVersion"],
                &item["status"]
            ]),
            &json!([200, "IPPoolList", "network.kubesphere.io/v1alpha2", {"resourceVersion": ""},
                    ["default-ipv4-ippool"], "IPPool", "network.kubesphere.io/v1alpha2", case1()]),
        )
    })
    .await;
    checks.check("case 182 Kubernetes-style list", outcome);

    // Cases 180 and 181.
    let (code, _, body) = get_accepting(&server, APIS, &token, "application/json").await;
    checks.eq(
        "case 180 resource discovery",
        &(code, body),
        &(200, json!({"kind":"APIResourceList","apiVersion":"v1","groupVersion":"network.kubesphere.io/v1alpha2",
            "resources":[
              {"name":"ippoolmigrations","singularName":"ippoolmigration","namespaced":false,"kind":"IPPoolMigration","verbs":["create"]},
              {"name":"ippools","singularName":"ippool","namespaced":false,"kind":"IPPool","verbs":["get","list"]}]})),
    );
    let (code, content_type, body) = get_accepting(
        &server,
        "/apis",
        &token,
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
    )
    .await;
    let group = json!({"name":"network.kubesphere.io",
        "versions":[{"groupVersion":"network.kubesphere.io/v1alpha2","version":"v1alpha2"}],
        "preferredVersion":{"groupVersion":"network.kubesphere.io/v1alpha2","version":"v1alpha2"}});
    checks.eq(
        "case 181 group discovery, always application/json",
        &(code, content_type.starts_with("application/json"), body),
        &(
            200,
            true,
            json!({"kind":"APIGroupList","apiVersion":"v1","groups":[group.clone()]}),
        ),
    );
    let mut api_group = group;
    api_group["kind"] = json!("APIGroup");
    api_group["apiVersion"] = json!("v1");
    let (code, body) = server.get_json("/apis/network.kubesphere.io", &token).await;
    checks.eq("case 181 APIGroup", &(code, body), &(200, api_group));

    // Case 183.
    let (code, body) = server
        .get_json(&format!("{APIS}/ippools/nope"), &token)
        .await;
    checks.eq(
        "case 183 missing pool",
        &(code, body),
        &(404, json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                      "message":"ippools.network.kubesphere.io \"nope\" not found","reason":"NotFound",
                      "details":{"name":"nope","group":"network.kubesphere.io","kind":"ippools"},"code":404})),
    );
    let response = server
        .get_json(
            &format!("{APIS}/ippools?fieldSelector=spec.cidr%3Dx"),
            &token,
        )
        .await;
    expect_error(
        &mut checks,
        "case 183 unsupported field",
        &response,
        400,
        "BadRequest",
        "field label not supported: spec.cidr",
    );
    for (selector, expected) in [
        (
            "metadata.name%3Ddefault-ipv4-ippool",
            json!(["default-ipv4-ippool"]),
        ),
        ("metadata.name!%3Ddefault-ipv4-ippool", json!([])),
    ] {
        let (code, body) = server
            .get_json(&format!("{APIS}/ippools?fieldSelector={selector}"), &token)
            .await;
        checks.eq(
            &format!("case 183 fieldSelector {selector}"),
            &(code, json!(names_of(&body["items"]))),
            &(200, expected),
        );
    }
    let (code, body) = server
        .get_json(&format!("{APIS}/ippools?labelSelector=tier%3Dnone"), &token)
        .await;
    checks.eq(
        "labelSelector matching nothing",
        &(code, body["items"].clone()),
        &(200, json!([])),
    );
    let (code, body) = server
        .get_json(&format!("{APIS}/ippools/default-ipv4-ippool"), &token)
        .await;
    checks.eq(
        "get one IPPool",
        &json!([code, &body["kind"], &body["apiVersion"], &body["status"]]),
        &json!([200, "IPPool", "network.kubesphere.io/v1alpha2", case1()]),
    );
    let response = server
        .get_json(&format!("{APIS}/ippools?watch=true"), &token)
        .await;
    expect_error(
        &mut checks,
        "case 183 watch",
        &response,
        405,
        "MethodNotAllowed",
        "watch is not supported",
    );

    // Case 185: no credentials needed to learn there is no OpenAPI document.
    for path in ["/openapi/v2", "/openapi/v3"] {
        let (code, body) = json_of(server.get(path, None).await).await;
        checks.eq(
            &format!("case 185 {path}"),
            &(code, &body["reason"]),
            &(404, &json!("NotFound")),
        );
    }

    // Case 186, and a one-row Table for a single GET.
    let (code, _, table) =
        get_accepting(&server, &format!("{APIS}/ippools"), &token, KUBECTL_TABLE).await;
    let columns: Vec<Value> = table["columnDefinitions"]
        .as_array()
        .map(|c| c.iter().map(|c| c["name"].clone()).collect())
        .unwrap_or_default();
    let cells = table["rows"][0]["cells"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    checks.eq(
        "case 186 Table",
        &json!([
            code,
            &table["kind"],
            &table["apiVersion"],
            columns,
            cells.get(..8),
            &table["rows"][0]["object"]["kind"],
            &table["rows"][0]["object"]["metadata"]["name"]
        ]),
        &json!([
            200,
            "Table",
            "meta.k8s.io/v1",
            [
                "Name",
                "CIDR",
                "Disabled",
                "Capacity",
                "Allocations",
                "Tunnel",
                "Reserved",
                "Unallocated",
                "Age"
            ],
            [
                "default-ipv4-ippool",
                "10.233.64.0/18",
                false,
                16384,
                5,
                1,
                5,
                16373
            ],
            "PartialObjectMetadata",
            "default-ipv4-ippool"
        ]),
    );
    checks.that(
        "case 186 Age is a short duration",
        cells
            .get(8)
            .and_then(Value::as_str)
            .is_some_and(|age| age.ends_with('s') || age.ends_with('m')),
        || format!("{:?}", cells.get(8)),
    );
    let (code, _, table) = get_accepting(
        &server,
        &format!("{APIS}/ippools/default-ipv4-ippool"),
        &token,
        KUBECTL_TABLE,
    )
    .await;
    checks.eq(
        "single GET as a one-row Table",
        &(code, &table["kind"], table["rows"].as_array().map(Vec::len)),
        &(200, &json!("Table"), Some(1)),
    );

    checks.finish();
    server.stop().await;
}

#[tokio::test]
async fn aggregated_migration_on_fixture_f_m() {
    let mut cluster = Exclusive::acquire(CrdSet::All).await;
    let plane = cluster.plane();
    let admin = cluster.admin().clone();
    let token = plane.token(User::Admin);
    let server = TestServer::start(plane).await;
    cluster.create_all(f_m()).await;
    server.wait_ready().await;
    let mut checks = Checks::default();
    let path = format!("{APIS}/ippoolmigrations");
    let body = json!({"apiVersion":"network.kubesphere.io/v1alpha2","kind":"IPPoolMigration",
                      "metadata":{"name":"a-to-b"},"spec":{"oldIPPool":"pool-a","newIPPool":"pool-b"}});
    let demo_version = resource_version(&admin, "v1", "Namespace", "", "demo").await;

    // Case 184: the created object is the request plus the dry-run summary (case 56 without `message`).
    let mut status = case53(true);
    status.as_object_mut().map(|s| s.remove("message"));
    let mut expected = body.clone();
    expected["status"] = status;
    let outcome = settle(SYNC, || async {
        let response = server
            .post(
                &format!("{path}?dryRun=All"),
                &token,
                Some("application/json"),
                body.to_string(),
            )
            .await;
        same(&response, &(201, expected.clone()))
    })
    .await;
    checks.check("case 184 dry-run migration", outcome);
    let (code, response) = json_of(server.get(&path, Some(&token)).await).await;
    checks.eq(
        "case 184 GET → 405",
        &(code, &response["reason"]),
        &(405, &json!("MethodNotAllowed")),
    );
    checks.eq(
        "case 184 nothing written",
        &resource_version(&admin, "v1", "Namespace", "", "demo").await,
        &demo_version,
    );

    // Validation as api §1.4, as Status objects.
    let mut same_pool = body.clone();
    same_pool["spec"]["oldIPPool"] = json!("pool-b");
    let response = server
        .post(
            &path,
            &token,
            Some("application/json"),
            same_pool.to_string(),
        )
        .await;
    expect_error(
        &mut checks,
        "same pool",
        &response,
        400,
        "BadRequest",
        "oldippool and newippool must be different",
    );
    let mut disabled = body.clone();
    disabled["spec"]["newIPPool"] = json!("pool-c");
    let response = server
        .post(
            &path,
            &token,
            Some("application/json"),
            disabled.to_string(),
        )
        .await;
    expect_error(
        &mut checks,
        "disabled target",
        &response,
        400,
        "BadRequest",
        "ippool \"pool-c\" is disabled",
    );
    let mut wrong_kind = body.clone();
    wrong_kind["kind"] = json!("IPPool");
    let (code, response) = server
        .post(
            &path,
            &token,
            Some("application/json"),
            wrong_kind.to_string(),
        )
        .await;
    checks.eq(
        "wrong kind",
        &(code, &response["reason"]),
        &(400, &json!("BadRequest")),
    );

    checks.finish();
    server.stop().await;
}

#[tokio::test]
async fn aggregated_surface_needs_rbac_but_discovery_does_not() {
    let env = Env::start().await;
    let bob = ControlPlane::shared().token(User::Bob);
    let mut checks = Checks::default();
    let (code, _) = env.server.get_json(APIS, &bob).await;
    checks.eq("discovery needs only authentication", &code, &200);
    let response = env.server.get_json(&format!("{APIS}/ippools"), &bob).await;
    expect_error(
        &mut checks,
        "list",
        &response,
        403,
        "Forbidden",
        "ippools.crd.projectcalico.org is forbidden: User \"bob\" cannot list resource \"ippools\" \
         in API group \"crd.projectcalico.org\" at the cluster scope",
    );
    let response = env
        .server
        .get_json(&format!("{APIS}/ippools/pool-a"), &bob)
        .await;
    expect_error(
        &mut checks,
        "get",
        &response,
        403,
        "Forbidden",
        "ippools.crd.projectcalico.org \"pool-a\" is forbidden: User \"bob\" cannot get resource \"ippools\" \
         in API group \"crd.projectcalico.org\" at the cluster scope",
    );
    let body = json!({"apiVersion":"network.kubesphere.io/v1alpha2","kind":"IPPoolMigration",
                      "metadata":{"name":"a-to-b"},"spec":{"oldIPPool":"pool-a","newIPPool":"pool-b"}});
    let (code, response) = env
        .server
        .post(
            &format!("{APIS}/ippoolmigrations"),
            &bob,
            Some("application/json"),
            body.to_string(),
        )
        .await;
    checks.eq(
        "migration",
        &(code, &response["reason"]),
        &(403, &json!("Forbidden")),
    );
    let (code, _) = json_of(env.server.get(APIS, None).await).await;
    checks.eq("discovery without credentials", &code, &401);
    checks.finish();
    env.stop().await;
}
