//! Route-level tests without kube-apiserver: the router over in-memory state ([`App`]), for answers that
//! depend on no cluster object — authentication failures, unknown routes and methods, body limits and
//! body rules, parameter parsing, health, request ids. Tests that need kube-apiserver's own answers
//! (TokenReview, SubjectAccessReview, stored objects) stay on a control plane.

use axum::body::Body;
use http::{Method, Request};
use serde_json::{Value, json};

use crate::support::api::{NP, NSNP, V2, V3, nsnps};
use crate::support::fixtures::{Checks, expect_error, expect_error_prefix, query};
use crate::support::routes::{ADMIN_TOKEN, ALICE_TOKEN, App, body_of};

// ---------------------------------------------------------------------------------------------
// Authentication, health, middleware
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn requests_without_credentials_get_401_status() {
    let app = App::start().await;
    let response = app.get_as(&format!("{V2}/ippools"), None).await;
    assert_eq!(
        response,
        (
            401,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                   "message":"Unauthorized","reason":"Unauthorized","code":401})
        )
    );
}

#[tokio::test]
async fn callers_without_grants_get_403_in_kubernetes_form() {
    // The authorizer of `App` grants nothing: alice is denied, with kube-apiserver's wording.
    let app = App::start().await;
    let (code, body) = app
        .get_as(&format!("{V2}/ippools"), Some(ALICE_TOKEN))
        .await;
    let mut checks = Checks::default();
    expect_error(
        &mut checks,
        "403 list",
        &(code, body),
        403,
        "Forbidden",
        "ippools.crd.projectcalico.org is forbidden: User \"alice\" cannot list resource \"ippools\" \
         in API group \"crd.projectcalico.org\" at the cluster scope",
    );
    checks.finish();
}

#[tokio::test]
async fn unknown_paths_get_404_status_once_authenticated() {
    let app = App::start().await;
    let (code, body) = app
        .get("/kapis/clusters/host/network.kubesphere.io/v1alpha2/ippools")
        .await;
    assert_eq!(code, 404);
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["reason"], "NotFound");
    assert_eq!(
        body["message"],
        "the server could not find the requested resource"
    );
}

#[tokio::test]
async fn health_needs_no_credentials_and_readiness_reports_the_caches() {
    // Readiness of a server whose caches are not synced yet: `apiserver_lifecycle`.
    let app = App::start().await;
    for path in ["/healthz", "/livez"] {
        assert_eq!(app.get_as(path, None).await, (200, json!("ok")), "{path}");
    }
    let (code, body) = app.get_as("/readyz?verbose", None).await;
    assert_eq!(code, 200);
    let text = body.as_str().unwrap_or_default();
    assert!(text.contains("[+]informer-sync ok"), "{text}");
    assert!(text.contains("[+]shutdown ok"), "{text}");
    assert!(text.ends_with("readyz check passed\n"), "{text}");
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = App::start().await;
    let request = Request::get("/healthz")
        .header("X-Request-Id", "abc-123")
        .body(Body::empty())
        .unwrap();
    let response = app.request(request).await;
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    let response = app
        .request(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(generated.len(), 36, "{generated}");
}

#[tokio::test]
async fn oversized_bodies_get_413_status() {
    let app = App::start().await;
    let request = Request::post(nsnps("demo"))
        .header(http::header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(vec![b' '; 4 * 1024 * 1024]))
        .unwrap();
    let (code, body) = body_of(app.request(request).await).await;
    assert_eq!(code, 413);
    assert_eq!(body["reason"], "RequestEntityTooLarge");
    assert_eq!(
        body["message"],
        "request body too large (limit 3145728 bytes)"
    );
    assert_eq!(app.kube_connections(), 0, "nothing reached kube-apiserver");
}

// ---------------------------------------------------------------------------------------------
// v1alpha3 lists: selectors (cases.md H 88, 89, 91) and unknown routes (O 179)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn invalid_selectors_and_label_filters_get_400() {
    let app = App::start().await;
    let mut checks = Checks::default();
    // 88.
    let (code, body) = app
        .get(&query(
            &format!("{V3}/namespaces"),
            &[("labelSelector", "app in (a,b")],
        ))
        .await;
    let message = body["message"].as_str().unwrap_or_default().to_owned();
    checks.that(
        "88 invalid labelSelector",
        code == 400
            && body["reason"] == "BadRequest"
            && message.starts_with("invalid labelSelector \"app in (a,b\""),
        || format!("{code} {body}"),
    );
    // 89.
    let (code, body) = app
        .get(&query(
            &format!("{V3}/pods"),
            &[("labelSelector", "tier=webapp.kubernetes.io/name=x")],
        ))
        .await;
    let message = body["message"].as_str().unwrap_or_default().to_owned();
    checks.that(
        "89 comma-less append",
        code == 400
            && body["reason"] == "BadRequest"
            && message.starts_with("invalid labelSelector \"tier=webapp.kubernetes.io/name=x\""),
        || format!("{code} {body}"),
    );
    // 91.
    let (code, body) = app
        .get(&query(&format!("{V3}/namespaces"), &[("label", "a==b==c")]))
        .await;
    let message = body["message"].as_str().unwrap_or_default().to_owned();
    checks.that(
        "91 invalid label filter",
        code == 400
            && body["reason"] == "BadRequest"
            && message.starts_with("invalid label filter \"a==b==c\""),
        || format!("{code} {body}"),
    );
    checks.finish();
}

#[tokio::test]
async fn unknown_routes_get_404() {
    // 179.
    let app = App::start().await;
    let mut checks = Checks::default();
    let response = app.get(&format!("{V3}/deployments")).await;
    expect_error(
        &mut checks,
        "179 unknown resource",
        &response,
        404,
        "NotFound",
        "resource is not supported",
    );
    let (code, body) = app
        .get("/kapis/clusters/host/network.kubesphere.io/v1alpha2/ippools")
        .await;
    checks.eq(
        "179 multi-cluster prefix",
        &(code, body["kind"].clone(), body["reason"].clone()),
        &(404, json!("Status"), json!("NotFound")),
    );
    let (code, body) = app.get(&format!("{V3}/namespaces/x/namespaces")).await;
    checks.eq(
        "179 namespaced namespaces",
        &(code, body["kind"].clone(), body["reason"].clone()),
        &(404, json!("Status"), json!("NotFound")),
    );
    // api §3: a cluster-form get of a namespaced resource is 404; a missing object has the
    // Kubernetes message.
    let (code, _) = app.get(&format!("{V3}/pods/x")).await;
    checks.eq("pods/x cluster-form get", &code, &404);
    let response = app.get(&format!("{V3}/namespaces/nf/pods/x")).await;
    expect_error(
        &mut checks,
        "missing pod",
        &response,
        404,
        "NotFound",
        "pods \"x\" not found",
    );
    checks.finish();
}

// ---------------------------------------------------------------------------------------------
// Dynamic endpoints: body rules answered before any write (cases.md K 111–113, 115, 119–122)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn write_body_rules_and_collection_errors() {
    let app = App::start().await;
    let (a, b) = ("a", "b");
    let mut checks = Checks::default();
    let spec = json!({"ingress": [{"from": [{"namespace": {"name": "b"}}]}]});

    // 111. URL/body namespace mismatch; nothing is created anywhere.
    let response = app
        .post(
            &nsnps(a),
            &json!({"metadata": {"name": "mismatch", "namespace": b}, "spec": spec}),
        )
        .await;
    expect_error(
        &mut checks,
        "111 namespace mismatch",
        &response,
        400,
        "BadRequest",
        "the namespace of the provided object does not match the namespace sent on the request",
    );
    checks.eq(
        "111 nothing created in a or b (nothing reached kube-apiserver)",
        &app.kube_connections(),
        &0,
    );

    // 112. URL/body name mismatch.
    let response = app
        .send(
            Method::PUT,
            &format!("{}/x", nsnps(a)),
            Some("application/json"),
            json!({"metadata": {"name": "y"}, "spec": spec}).to_string(),
        )
        .await;
    expect_error(
        &mut checks,
        "112 name mismatch",
        &response,
        400,
        "BadRequest",
        "the name of the object (y) does not match the name on the URL (x)",
    );

    // 113. Wrong kind.
    let response = app
        .post(
            &nsnps(a),
            &json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                    "metadata": {"name": "np"}, "spec": {"podSelector": {}}}),
        )
        .await;
    expect_error(
        &mut checks,
        "113 wrong kind",
        &response,
        400,
        "BadRequest",
        "wrong resource GroupVersionKind: expected network.kubesphere.io/v1alpha1, Kind=NamespaceNetworkPolicy",
    );

    // 115. Malformed JSON.
    let response = app
        .send(
            Method::POST,
            &nsnps(a),
            Some("application/json"),
            "{\"metadata\":",
        )
        .await;
    expect_error_prefix(
        &mut checks,
        "115 malformed JSON",
        &response,
        400,
        "BadRequest",
        "invalid JSON body: ",
    );
    checks.eq(
        "111-115 nothing stored (nothing reached kube-apiserver)",
        &app.kube_connections(),
        &0,
    );

    // 119. Delete collection, namespaced and cluster-wide.
    for path in [
        nsnps(a),
        format!("{NSNP}/namespacenetworkpolicies"),
        format!("{NP}/namespaces/{a}/networkpolicies"),
    ] {
        let response = app.send(Method::DELETE, &path, None, "").await;
        expect_error(
            &mut checks,
            &format!("119 DELETE {path}"),
            &response,
            405,
            "MethodNotAllowed",
            "deletecollection is not supported",
        );
    }

    // 120. Missing object.
    let response = app.get(&format!("{}/nope", nsnps(a))).await;
    expect_error(
        &mut checks,
        "120 missing NSNP",
        &response,
        404,
        "NotFound",
        "namespacenetworkpolicies.network.kubesphere.io \"nope\" not found",
    );
    let response = app
        .get(&format!("{NP}/namespaces/{a}/networkpolicies/x"))
        .await;
    expect_error(
        &mut checks,
        "api §2.2 missing NetworkPolicy",
        &response,
        404,
        "NotFound",
        "networkpolicies.networking.k8s.io \"x\" not found",
    );
    checks.finish();
}

#[tokio::test]
async fn nsnp_validation_answers_422() {
    let app = App::start().await;
    let ns = "invalid";
    let mut checks = Checks::default();

    // 121.
    let response = app
        .post(
            &nsnps(ns),
            &json!({"metadata": {"name": "both-ways", "labels": {"kubesphere.io/policy-type": "both"}},
                    "spec": {"egress": [{"to": [{"namespace": {"name": "b"}}]}]}}),
        )
        .await;
    expect_error_prefix(
        &mut checks,
        "121 label value",
        &response,
        422,
        "Invalid",
        "NamespaceNetworkPolicy.network.kubesphere.io \"both-ways\" is invalid: metadata.labels[kubesphere.io/policy-type]: ",
    );
    let causes = response.1["details"]["causes"].clone();
    checks.that(
        "121 details.causes",
        causes.as_array().is_some_and(|causes| {
            causes.len() == 1
                && causes[0]["field"] == "metadata.labels[kubesphere.io/policy-type]"
                && ["FieldValueInvalid", "FieldValueNotSupported"]
                    .contains(&causes[0]["reason"].as_str().unwrap_or_default())
        }),
        || response.1.to_string(),
    );

    // 122.
    let response = app
        .post(
            &nsnps(ns),
            &json!({"metadata": {"name": "two-kinds"},
                    "spec": {"egress": [{"to": [{"namespace": {"name": "b"}, "ipBlock": {"cidr": "10.0.0.0/8"}}]}]}}),
        )
        .await;
    let (code, body) = &response;
    let fields: Vec<Value> = body["details"]["causes"]
        .as_array()
        .map(|causes| causes.iter().map(|c| c["field"].clone()).collect())
        .unwrap_or_default();
    checks.that(
        "122 peer with two kinds",
        *code == 422
            && body["reason"] == "Invalid"
            && fields.contains(&json!("spec.egress[0].to[0]")),
        || format!("{code} {body}"),
    );
    checks.that(
        "122 message names the field",
        body["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("NamespaceNetworkPolicy.network.kubesphere.io \"two-kinds\" is invalid: spec.egress[0].to[0]"),
        || body.to_string(),
    );
    checks.eq(
        "121/122 nothing stored (nothing reached kube-apiserver)",
        &app.kube_connections(),
        &0,
    );
    checks.finish();
}
