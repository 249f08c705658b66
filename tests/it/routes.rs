//! Route-level tests without kube-apiserver: the router over in-memory state ([`App`]), for answers that
//! depend on no cluster object — authentication failures, unknown routes and methods, body limits and
//! body rules, parameter parsing, health, request ids, the IPPool webhook's own answers. Tests that need kube-apiserver's own answers
//! (TokenReview, SubjectAccessReview, stored objects) stay on a control plane.

use axum::body::Body;
use http::{Method, Request};
use ks_network_apiserver::config::Config;
use serde_json::{Value, json};

use crate::support::api::{APIS, KUBECTL_TABLE, MIGRATIONS, NP, NSNP, V2, V3, WEBHOOK, nsnps};
use crate::support::fixtures::{
    Checks, admission_allowed, admission_denied, admission_review, expect_error,
    expect_error_prefix, pool, query,
};
use crate::support::routes::{
    ADMIN_TOKEN, ALICE_TOKEN, App, REVIEW_FAILURE, UNREVIEWABLE_TOKEN, body_of,
};

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

/// The OpenAPI document against the router: every documented operation is routed, and every other method on a
/// documented path is a 405 whose `Allow` lists exactly the documented methods (and HEAD with GET).
#[tokio::test]
async fn the_openapi_document_matches_the_routes() {
    let app = App::start().await;
    let document = ks_network_apiserver::http::openapi::document_model();
    let methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    let mut checks = Checks::default();
    for (template, operations) in document["paths"].as_object().unwrap() {
        let path = template
            .replace("{namespace}", "demo")
            .replace("{resources}", "ippools")
            .replace("{name}", "demo")
            .replace("{file}", "LICENSE");
        let documented: Vec<String> = operations
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        let mut allowed = documented.clone();
        if allowed.iter().any(|m| m == "GET") {
            allowed.push("HEAD".into());
        }
        allowed.sort();
        for method in methods {
            let request = Request::builder()
                .method(method)
                .uri(&path)
                .header(http::header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
                .body(Body::empty())
                .unwrap();
            let response = app.request(request).await;
            let allow = response
                .headers()
                .get(http::header::ALLOW)
                .map(|v| v.to_str().unwrap().to_owned());
            let (code, body) = body_of(response).await;
            if documented.iter().any(|m| m == method) {
                let unrouted = code == 405
                    || body["message"] == "the server could not find the requested resource";
                checks.eq(&format!("{method} {template} is routed"), &unrouted, &false);
            } else {
                let mut advertised: Vec<String> = allow
                    .unwrap_or_default()
                    .split(',')
                    .map(str::to_owned)
                    .collect();
                advertised.sort();
                checks.eq(
                    &format!("{method} {template}: 405 and Allow"),
                    &(code, &body["reason"], &advertised),
                    &(405, &json!("MethodNotAllowed"), &allowed),
                );
            }
        }
    }
    checks.finish();
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

/// A POST of `len` bytes as the admin; `chunked` sends it as a stream of 64 KiB chunks without a length.
fn post_bytes(path: &str, content_type: &str, len: usize, chunked: bool) -> Request<Body> {
    let body = if chunked {
        let chunks = vec![b'x'; len]
            .chunks(64 * 1024)
            .map(|chunk| Ok::<_, std::io::Error>(axum::body::Bytes::copy_from_slice(chunk)))
            .collect::<Vec<_>>();
        Body::from_stream(futures::stream::iter(chunks))
    } else {
        Body::from(vec![b'x'; len])
    };
    Request::post(path)
        .header(http::header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .header(http::header::CONTENT_TYPE, content_type)
        .body(body)
        .unwrap()
}

#[tokio::test]
async fn the_configured_body_limit_is_the_only_one() {
    // api §0.7: `server.maxRequestBodyBytes` (3 MiB by default), not axum's 2 MiB default, on the dynamic
    // endpoints and on migrations, announced or chunked. Below the limit the body is read and judged (400).
    const MIB: usize = 1024 * 1024;
    let app = App::start().await;
    let too_large = "request body too large (limit 3145728 bytes)";
    let mut checks = Checks::default();
    for chunked in [false, true] {
        for (label, path, content_type) in [
            ("dynamic POST", nsnps("demo"), "application/json"),
            ("migration POST", MIGRATIONS.to_owned(), "application/json"),
            (
                "multipart migration POST",
                MIGRATIONS.to_owned(),
                "multipart/form-data; boundary=b",
            ),
        ] {
            let label = format!("{label} (chunked: {chunked})");
            let below = body_of(
                app.request(post_bytes(&path, content_type, 5 * MIB / 2, chunked))
                    .await,
            )
            .await;
            checks.eq(&format!("{label}: 2.5 MiB is read"), &below.0, &400);
            let above = body_of(
                app.request(post_bytes(&path, content_type, 3 * MIB + 1, chunked))
                    .await,
            )
            .await;
            expect_error(
                &mut checks,
                &format!("{label}: 3 MiB + 1"),
                &above,
                413,
                "RequestEntityTooLarge",
                too_large,
            );
        }
    }

    // A smaller configured limit applies too.
    let mut config = Config::default();
    config.server.max_request_body_bytes = MIB;
    let small = App::with_config(&config).await;
    let response = body_of(
        small
            .request(post_bytes(MIGRATIONS, "application/json", MIB + 1, true))
            .await,
    )
    .await;
    expect_error(
        &mut checks,
        "1 MiB limit, chunked migration",
        &response,
        413,
        "RequestEntityTooLarge",
        "request body too large (limit 1048576 bytes)",
    );
    checks.eq(
        "nothing reached kube-apiserver",
        &(app.kube_connections() + small.kube_connections()),
        &0,
    );
    checks.finish();
}

/// A POST as the admin whose body never arrives.
fn stalled_post(path: &str) -> Request<Body> {
    let body = futures::stream::pending::<Result<axum::body::Bytes, std::io::Error>>();
    Request::post(path)
        .header(http::header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(body))
        .unwrap()
}

#[tokio::test]
async fn slow_requests_get_504_after_their_timeout_and_migrations_get_the_long_one() {
    let mut config = Config::default();
    config.server.request_timeout_seconds = 1;
    config.server.long_request_timeout_seconds = 2;
    let app = App::with_config(&config).await;
    let timed = |request: Request<Body>| {
        let app = app.clone();
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let answer = body_of(app.request(request).await).await;
            (answer, started.elapsed())
        })
    };
    let write = timed(stalled_post(&nsnps("demo")));
    let migration = timed(stalled_post(MIGRATIONS));
    let unbind = timed(stalled_post(&format!("{V2}/ippools/pool-a/unbind")));

    let mut checks = Checks::default();
    let (answer, took) = write.await.unwrap();
    expect_error(
        &mut checks,
        "write",
        &answer,
        504,
        "Timeout",
        "request timed out",
    );
    checks.eq("the write is cut after 1 s", &(took.as_millis() / 1000), &1);
    for (name, task) in [("migration", migration), ("unbind", unbind)] {
        let (answer, took) = task.await.unwrap();
        expect_error(
            &mut checks,
            name,
            &answer,
            504,
            "Timeout",
            "request timed out",
        );
        checks.eq(name, &(took.as_millis() / 1000), &2);
    }
    checks.finish();
}

#[tokio::test]
async fn requests_over_the_in_flight_limit_get_429_and_health_is_never_shed() {
    // One mutating request at a time; the first is held open while its body is being read.
    let mut config = Config::default();
    config.server.max_requests_in_flight = 1;
    config.server.max_mutating_requests_in_flight = 1;
    let app = App::with_config(&config).await;
    let (reading_tx, reading) = tokio::sync::oneshot::channel();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let body = futures::stream::once(async move {
        let _ = reading_tx.send(());
        let _ = released.await;
        Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"not json"))
    });
    let held = Request::post(nsnps("demo"))
        .header(http::header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(body))
        .unwrap();
    let held = tokio::spawn({
        let app = app.clone();
        async move { body_of(app.request(held).await).await }
    });
    reading.await.unwrap();

    let request = Request::delete(format!("{}/x", nsnps("demo")))
        .header(http::header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let response = app.request(request).await;
    assert_eq!(response.headers()["retry-after"], "1");
    let mut checks = Checks::default();
    expect_error(
        &mut checks,
        "second write",
        &body_of(response).await,
        429,
        "TooManyRequests",
        "too many requests, please try again later",
    );
    checks.eq(
        "reads have their own pool",
        &app.get(&format!("{V2}/ippools")).await.0,
        &200,
    );
    for path in ["/healthz", "/livez", "/readyz"] {
        checks.eq(path, &app.get_as(path, None).await.0, &200);
    }

    release.send(()).unwrap();
    checks.eq("the held write ends", &held.await.unwrap().0, &400);
    let (code, _) = app.post(&nsnps("demo"), &json!("not an object")).await;
    checks.eq("a write after it is served", &code, &400);
    checks.eq(
        "nothing reached kube-apiserver",
        &app.kube_connections(),
        &0,
    );
    checks.finish();
}

#[tokio::test]
async fn invalid_path_names_get_400_before_anything_is_forwarded() {
    // Writes check {namespace} (DNS-1123 label) and {name} (DNS-1123 subdomain) before forwarding; reads
    // answer what kube-apiserver answers for names that cannot exist: 404.
    let app = App::start().await;
    let long = "a".repeat(300);
    let json = Some("application/json");
    let body = || json!({"metadata": {"name": "x"}}).to_string();
    let mut checks = Checks::default();
    let cases = [
        (
            "POST namespace %2F",
            Method::POST,
            nsnps("a%2Fb"),
            "invalid namespace \"a/b\" in the path: ",
        ),
        (
            "POST namespace uppercase",
            Method::POST,
            nsnps("Demo"),
            "invalid namespace \"Demo\" in the path: ",
        ),
        (
            "PUT name uppercase",
            Method::PUT,
            format!("{}/Bad", nsnps("demo")),
            "invalid name \"Bad\" in the path: ",
        ),
        (
            "PATCH name %2F",
            Method::PATCH,
            format!("{}/..%2F..%2Fx", nsnps("demo")),
            "invalid name \"../../x\" in the path: ",
        ),
        (
            "DELETE name 300 characters",
            Method::DELETE,
            format!("{}/{long}", nsnps("demo")),
            "invalid name \"",
        ),
        (
            "DELETE NetworkPolicy namespace %0A",
            Method::DELETE,
            format!("{NP}/namespaces/a%0Ab/networkpolicies/x"),
            "invalid namespace \"a\\nb\" in the path: ",
        ),
        (
            "unbind name %2F",
            Method::POST,
            format!("{V2}/ippools/a%2F..%2Fb/unbind"),
            "invalid name \"a/../b\" in the path: ",
        ),
    ];
    for (label, method, path, prefix) in cases {
        let response = app.send(method, &path, json, body()).await;
        expect_error_prefix(&mut checks, label, &response, 400, "BadRequest", prefix);
    }
    let response = app
        .send(
            Method::DELETE,
            &format!("{}/{long}", nsnps("demo")),
            json,
            body(),
        )
        .await;
    let message = response.1["message"].as_str().unwrap_or_default();
    checks.eq(
        "300 characters: the length is named",
        &message.contains("must be no more than 253 characters"),
        &true,
    );

    for path in [
        format!("{}/Bad", nsnps("demo")),
        format!("{NP}/namespaces/Demo/networkpolicies/x"),
        format!("{V2}/ippools/{long}"),
    ] {
        let (code, body) = app.get(&path).await;
        checks.eq(
            &format!("GET {path}: not found"),
            &(code, body["reason"].clone()),
            &(404, json!("NotFound")),
        );
    }
    checks.eq(
        "nothing reached kube-apiserver",
        &app.kube_connections(),
        &0,
    );
    checks.finish();
}

#[tokio::test]
async fn failed_credential_checks_answer_a_generic_503() {
    // kube-apiserver's error text is logged, never shown to a caller who is not authenticated.
    let app = App::start().await;
    let (code, body) = app
        .get_as(&format!("{V2}/ippools"), Some(UNREVIEWABLE_TOKEN))
        .await;
    let mut checks = Checks::default();
    expect_error(
        &mut checks,
        "503",
        &(code, body.clone()),
        503,
        "ServiceUnavailable",
        "cannot check credentials, please try again later",
    );
    checks.eq(
        "no internal detail",
        &body.to_string().contains(REVIEW_FAILURE),
        &false,
    );
    checks.finish();
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
    // The 3.x console's service topology (`release-3.4` `src/stores/network/topology.js`, Weave Scope):
    // not served (api §0.8, docs/console.md).
    for path in [
        "/kapis/network.kubesphere.io/v1alpha2/namespaces/demo/topology?workspace=ws&cluster=host&namespace=demo",
        "/kapis/network.kubesphere.io/v1alpha2/namespaces/demo/topology/web",
    ] {
        let (code, body) = app.get(path).await;
        checks.eq(
            &format!("3.x topology {path}"),
            &(code, body["kind"].clone(), body["reason"].clone()),
            &(404, json!("Status"), json!("NotFound")),
        );
    }
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

    // 119. Delete collection, namespaced and cluster-wide; `Allow` names only what the collection serves.
    for (path, allow) in [
        (nsnps(a), "GET,HEAD,POST"),
        (format!("{NSNP}/namespacenetworkpolicies"), "GET,HEAD"),
        (
            format!("{NP}/namespaces/{a}/networkpolicies"),
            "GET,HEAD,POST",
        ),
    ] {
        let request = Request::builder()
            .method(Method::DELETE)
            .uri(&path)
            .header(http::header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
            .body(Body::empty())
            .unwrap();
        let response = app.request(request).await;
        checks.eq(
            &format!("119 Allow of {path}"),
            &response
                .headers()
                .get(http::header::ALLOW)
                .map(|v| v.to_str().unwrap().to_owned()),
            &Some(allow.to_owned()),
        );
        let response = body_of(response).await;
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

// ---------------------------------------------------------------------------------------------
// IPPool admission webhook over empty caches (api §6; cases.md N 158, 160, 163)
// ---------------------------------------------------------------------------------------------

/// The router with `webhook.enabled: true`.
async fn webhook_app() -> App {
    let mut config = Config::default();
    config.webhook.enabled = true;
    App::with_config(&config).await
}

/// POST `body` to the webhook without credentials, as kube-apiserver does.
async fn send_review(app: &App, body: impl Into<Body>) -> (u16, Value) {
    let json = Some("application/json");
    app.send_as(Method::POST, WEBHOOK, None, json, body).await
}

#[tokio::test]
async fn the_webhook_is_served_only_when_enabled() {
    let review = admission_review(
        "u",
        "CREATE",
        pool("p", json!({"cidr": "10.0.0.0/16"})),
        Value::Null,
    );
    let disabled = App::start().await;
    let json = Some("application/json");
    let (code, body) = disabled
        .send_as(
            Method::POST,
            WEBHOOK,
            Some(ADMIN_TOKEN),
            json,
            review.to_string(),
        )
        .await;
    assert_eq!((code, &body["reason"]), (404, &json!("NotFound")), "{body}");
    let (code, _) = send_review(&webhook_app().await, review.to_string()).await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn the_webhook_allows_and_denies_without_credentials() {
    let app = webhook_app().await;
    let mut checks = Checks::default();
    let create = |uid: &str, spec: Value| {
        admission_review(uid, "CREATE", pool("p", spec), Value::Null).to_string()
    };
    checks.eq(
        "case 158 allowed with a warning",
        &send_review(&app, create("c158", json!({"cidr": "10.0.0.0/16"}))).await,
        &(
            200,
            admission_allowed("c158", &["blockSize is not set; Calico will use 26"]),
        ),
    );
    checks.eq(
        "allowed without warnings",
        &send_review(
            &app,
            create("ok", json!({"cidr": "10.0.0.0/16", "blockSize": 26})),
        )
        .await,
        &(200, admission_allowed("ok", &[])),
    );
    checks.eq(
        "case 160 host bits",
        &send_review(&app, create("c160", json!({"cidr": "192.168.0.1/24"}))).await,
        &(
            200,
            admission_denied(
                "c160",
                403,
                "cidr 192.168.0.1/24 has host bits set; use 192.168.0.0/24",
            ),
        ),
    );
    let stored = pool("p", json!({"cidr": "10.0.0.0/16"}));
    let update = |uid: &str, spec: Value| {
        admission_review(uid, "UPDATE", pool("p", spec), stored.clone()).to_string()
    };
    checks.eq(
        "case 163 blockSize 26 added",
        &send_review(
            &app,
            update("add", json!({"cidr": "10.0.0.0/16", "blockSize": 26})),
        )
        .await,
        &(200, admission_allowed("add", &[])),
    );
    checks.eq(
        "case 163 blockSize changed",
        &send_review(
            &app,
            update("chg", json!({"cidr": "10.0.0.0/16", "blockSize": 27})),
        )
        .await,
        &(
            200,
            admission_denied("chg", 403, "ippool blockSize cannot be modified"),
        ),
    );
    // The (empty) caches do not know the pool: its usage is not known.
    checks.eq(
        "delete of a pool the caches do not know",
        &send_review(
            &app,
            admission_review("del", "DELETE", Value::Null, stored.clone()).to_string(),
        )
        .await,
        &(
            200,
            admission_denied(
                "del",
                503,
                "ippool usage is not known yet; retry in a few seconds",
            ),
        ),
    );
    checks.finish();
}

#[tokio::test]
async fn malformed_reviews_get_400_status() {
    let app = webhook_app().await;
    let valid = admission_review(
        "u",
        "CREATE",
        pool("p", json!({"cidr": "10.0.0.0/16"})),
        Value::Null,
    );
    let with = |pointer: &str, value: Value| {
        let mut review = valid.clone();
        *review.pointer_mut(pointer).expect("the field exists") = value;
        review.to_string()
    };
    let mut no_request = valid.clone();
    no_request.as_object_mut().unwrap().remove("request");
    let cases = [
        (
            "not JSON",
            "{".to_owned(),
            "the body is not an AdmissionReview: EOF while parsing an object at line 1 column 1",
        ),
        (
            "another review version",
            with("/apiVersion", json!("admission.k8s.io/v1beta1")),
            "expected apiVersion \"admission.k8s.io/v1\" and kind \"AdmissionReview\", got \
             \"admission.k8s.io/v1beta1\" and \"AdmissionReview\"",
        ),
        (
            "no request",
            no_request.to_string(),
            "the AdmissionReview has no request",
        ),
        (
            "no uid",
            with("/request/uid", json!("")),
            "the AdmissionReview request has no uid",
        ),
        (
            "another resource",
            with(
                "/request/resource",
                json!({"group": "", "version": "v1", "resource": "pods"}),
            ),
            "this webhook reviews crd.projectcalico.org/v1 ippools, not \"\"/\"v1\" \"pods\"",
        ),
        (
            "CONNECT",
            with("/request/operation", json!("CONNECT")),
            "request.operation \"CONNECT\" is not reviewed; expected CREATE, UPDATE or DELETE",
        ),
        (
            "CREATE without object",
            with("/request/object", Value::Null),
            "the AdmissionReview request has no object",
        ),
        (
            "UPDATE without oldObject",
            with("/request/operation", json!("UPDATE")),
            "the AdmissionReview request has no oldObject",
        ),
        (
            "object of another kind",
            with(
                "/request/object",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "p"}}),
            ),
            "request.object is not a crd.projectcalico.org/v1 IPPool",
        ),
    ];
    let mut checks = Checks::default();
    for (label, body, message) in cases {
        let response = send_review(&app, body).await;
        expect_error(&mut checks, label, &response, 400, "BadRequest", message);
    }
    let response = send_review(&app, with("/request/object/spec", json!({"blockSize": 26}))).await;
    expect_error_prefix(
        &mut checks,
        "pool without spec.cidr",
        &response,
        400,
        "BadRequest",
        "request.object is not a valid IPPool: missing field `cidr`",
    );
    checks.finish();
}

// ---------------------------------------------------------------------------------------------
// Aggregated surface: discovery, parameters and errors (cases.md P 180, 181, 183–186)
// ---------------------------------------------------------------------------------------------

/// GET `path` as the admin with an `Accept` header.
async fn get_accepting(app: &App, path: &str, accept: &str) -> (u16, Value) {
    let request = Request::builder()
        .uri(path)
        .header(http::header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .header(http::header::ACCEPT, accept)
        .body(Body::empty())
        .unwrap();
    body_of(app.request(request).await).await
}

#[tokio::test]
async fn aggregated_discovery_needs_credentials_and_no_grants() {
    let app = App::start().await;
    let mut checks = Checks::default();
    let (code, body) = app.get_as(APIS, Some(ALICE_TOKEN)).await;
    checks.eq(
        "180 APIResourceList, exactly",
        &(code, body),
        &(200, json!({"kind":"APIResourceList","apiVersion":"v1","groupVersion":"network.kubesphere.io/v1alpha2",
            "resources":[
              {"name":"ippoolmigrations","singularName":"ippoolmigration","namespaced":false,"kind":"IPPoolMigration","verbs":["create"]},
              {"name":"ippools","singularName":"ippool","namespaced":false,"kind":"IPPool","verbs":["get","list"]}]})),
    );
    let (code, body) = app.get_as("/apis", Some(ALICE_TOKEN)).await;
    checks.eq(
        "181 APIGroupList, exactly",
        &(code, body),
        &(200, json!({"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"network.kubesphere.io",
            "versions":[{"groupVersion":"network.kubesphere.io/v1alpha2","version":"v1alpha2"}],
            "preferredVersion":{"groupVersion":"network.kubesphere.io/v1alpha2","version":"v1alpha2"}}]})),
    );
    let (code, body) = app
        .get_as("/apis/network.kubesphere.io", Some(ALICE_TOKEN))
        .await;
    checks.eq(
        "APIGroup",
        &(code, &body["kind"], &body["name"]),
        &(200, &json!("APIGroup"), &json!("network.kubesphere.io")),
    );
    for path in ["/apis", APIS] {
        let (code, _) = app.get_as(path, None).await;
        checks.eq(&format!("{path} without credentials"), &code, &401);
    }
    checks.finish();
}

#[tokio::test]
async fn aggregator_openapi_probes_get_404_without_credentials() {
    let app = App::start().await;
    for path in ["/openapi/v2", "/openapi/v3"] {
        let (code, body) = app.get_as(path, None).await;
        assert_eq!(
            (code, &body["kind"], &body["reason"]),
            (404, &json!("Status"), &json!("NotFound")),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn aggregated_pool_reads_parse_kubernetes_parameters() {
    let app = App::start().await;
    let pools = format!("{APIS}/ippools");
    let mut checks = Checks::default();
    let (code, body) = app.get(&format!("{pools}?limit=1&continue=x")).await;
    checks.eq(
        "empty IPPoolList, limit and continue ignored",
        &(code, body),
        &(
            200,
            json!({"kind":"IPPoolList","apiVersion":"network.kubesphere.io/v1alpha2",
                      "metadata":{"resourceVersion":""},"items":[]}),
        ),
    );
    let response = app
        .get(&query(&pools, &[("fieldSelector", "spec.cidr=x")]))
        .await;
    expect_error(
        &mut checks,
        "183 unsupported field",
        &response,
        400,
        "BadRequest",
        "field label not supported: spec.cidr",
    );
    let (code, _) = app
        .get(&query(&pools, &[("fieldSelector", "metadata.name!=x")]))
        .await;
    checks.eq("183 metadata.name is supported", &code, &200);
    let response = app
        .get(&query(&pools, &[("labelSelector", "app in (a")]))
        .await;
    expect_error_prefix(
        &mut checks,
        "invalid labelSelector",
        &response,
        400,
        "BadRequest",
        "invalid labelSelector \"app in (a\": ",
    );
    let response = app
        .get(&query(&pools, &[("fieldSelector", "metadata.name")]))
        .await;
    expect_error_prefix(
        &mut checks,
        "invalid fieldSelector",
        &response,
        400,
        "BadRequest",
        "invalid fieldSelector \"metadata.name\": ",
    );
    for watch in ["true", "1"] {
        let response = app.get(&query(&pools, &[("watch", watch)])).await;
        expect_error(
            &mut checks,
            &format!("183 watch={watch}"),
            &response,
            405,
            "MethodNotAllowed",
            "watch is not supported",
        );
    }
    let (code, body) = app.get(&format!("{pools}/nope")).await;
    checks.eq(
        "183 missing pool",
        &(code, body),
        &(404, json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                      "message":"ippools.network.kubesphere.io \"nope\" not found","reason":"NotFound",
                      "details":{"name":"nope","group":"network.kubesphere.io","kind":"ippools"},"code":404})),
    );
    let response = app.get_as(&pools, Some(ALICE_TOKEN)).await;
    expect_error(
        &mut checks,
        "list authorized as api §1.1",
        &response,
        403,
        "Forbidden",
        "ippools.crd.projectcalico.org is forbidden: User \"alice\" cannot list resource \"ippools\" \
         in API group \"crd.projectcalico.org\" at the cluster scope",
    );

    // 186: kubectl's Accept gets a v1 Table; a v1beta1-only Accept gets the list.
    let (code, table) = get_accepting(&app, &pools, KUBECTL_TABLE).await;
    let columns: Vec<Value> = table["columnDefinitions"]
        .as_array()
        .map(|c| c.iter().map(|c| json!([c["name"], c["type"]])).collect())
        .unwrap_or_default();
    checks.eq(
        "186 Table columns",
        &json!([
            code,
            &table["kind"],
            &table["apiVersion"],
            columns,
            &table["rows"]
        ]),
        &json!([
            200,
            "Table",
            "meta.k8s.io/v1",
            [
                ["Name", "string"],
                ["CIDR", "string"],
                ["Disabled", "boolean"],
                ["Capacity", "integer"],
                ["Allocations", "integer"],
                ["Tunnel", "integer"],
                ["Reserved", "integer"],
                ["Unallocated", "integer"],
                ["Age", "date"]
            ],
            []
        ]),
    );
    let (code, body) = get_accepting(
        &app,
        &pools,
        "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
    )
    .await;
    checks.eq(
        "v1beta1 Table → plain list",
        &(code, &body["kind"]),
        &(200, &json!("IPPoolList")),
    );
    checks.finish();
}

#[tokio::test]
async fn aggregated_migration_bodies_are_checked_before_any_write() {
    let app = App::start().await;
    let path = format!("{APIS}/ippoolmigrations");
    let body = json!({"apiVersion":"network.kubesphere.io/v1alpha2","kind":"IPPoolMigration",
                      "metadata":{"name":"a-to-b"},"spec":{"oldIPPool":"pool-a","newIPPool":"pool-b"}});
    let mut checks = Checks::default();
    let (code, response) = app.get(&path).await;
    checks.eq(
        "184 GET → 405",
        &(code, &response["reason"]),
        &(405, &json!("MethodNotAllowed")),
    );
    let response = app.send(Method::POST, &path, Some("text/plain"), "x").await;
    checks.eq(
        "415 for non-JSON",
        &(response.0, &response.1["reason"]),
        &(415, &json!("UnsupportedMediaType")),
    );
    let response = app
        .send(Method::POST, &path, Some("application/json"), "{")
        .await;
    expect_error_prefix(
        &mut checks,
        "malformed JSON",
        &response,
        400,
        "BadRequest",
        "invalid request body: ",
    );
    let mut wrong = body.clone();
    wrong["kind"] = json!("IPPool");
    let response = app.post(&path, &wrong).await;
    expect_error_prefix(
        &mut checks,
        "wrong kind",
        &response,
        400,
        "BadRequest",
        "invalid request body: expected apiVersion",
    );
    let mut empty = body.clone();
    empty["spec"] = json!({"oldIPPool": "pool-a"});
    let response = app.post(&path, &empty).await;
    expect_error(
        &mut checks,
        "api §1.4 check 1",
        &response,
        400,
        "BadRequest",
        "oldippool and newippool are required",
    );
    let response = app.post(&format!("{path}?dryRun=All"), &body).await;
    expect_error(
        &mut checks,
        "api §1.4 check 3",
        &response,
        404,
        "NotFound",
        "ippools.crd.projectcalico.org \"pool-a\" not found",
    );
    let response = app
        .send_as(
            Method::POST,
            &path,
            Some(ALICE_TOKEN),
            Some("application/json"),
            body.to_string(),
        )
        .await;
    expect_error(
        &mut checks,
        "authorized as api §1.4",
        &response,
        403,
        "Forbidden",
        "ippools.crd.projectcalico.org \"pool-a\" is forbidden: User \"alice\" cannot get resource \"ippools\" \
         in API group \"crd.projectcalico.org\" at the cluster scope",
    );
    checks.eq(
        "nothing reached kube-apiserver",
        &app.kube_connections(),
        &0,
    );
    checks.finish();
}

// ---------------------------------------------------------------------------------------------
// The docs page (api §5; cases.md O 178)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_docs_page_and_its_files_need_no_credentials() {
    let app = App::start().await;
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    let mut checks = Checks::default();

    let (code, document) = app.get_as("/openapi.json", None).await;
    checks.eq(
        "178 /openapi.json",
        &(
            code,
            document["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1")),
        ),
        &(200, true),
    );
    checks.that(
        "178 the document declares the bearer scheme",
        document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer",
        || document["components"].to_string(),
    );
    let redirect = app.request(get("/docs")).await;
    checks.eq(
        "178 /docs → 308 /docs/",
        &(
            redirect.status().as_u16(),
            redirect
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned()),
        ),
        &(308, Some("/docs/".to_owned())),
    );
    let page = app.request(get("/docs/")).await;
    let content_type = page.headers()[http::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    let (code, html) = body_of(page).await;
    let html = html.as_str().unwrap_or_default().to_owned();
    checks.eq(
        "178 /docs/ is the Swagger UI page over /openapi.json",
        &(
            code,
            content_type.starts_with("text/html"),
            html.contains("swagger-ui-bundle.js"),
            html.contains("\"/openapi.json\""),
        ),
        &(200, true, true, true),
    );
    for (file, content_type) in [
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("LICENSE", "text/plain"),
    ] {
        let response = app.request(get(&format!("/docs/{file}"))).await;
        let served = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        checks.that(
            &format!("/docs/{file} served as {content_type}"),
            response.status() == 200
                && served
                    .as_deref()
                    .is_some_and(|t| t.starts_with(content_type)),
            || format!("{} {served:?}", response.status()),
        );
    }
    let (code, missing) = app.get_as("/docs/nope.js", None).await;
    checks.eq(
        "an unknown file is a 404 Status",
        &(code, &missing["kind"]),
        &(404, &json!("Status")),
    );
    checks.finish();
}

#[tokio::test]
async fn request_metrics_count_by_route_template_never_by_raw_path() {
    let app = App::start().await;
    let (code, _) = app.get(&format!("{V2}/ippools/no-such-pool")).await;
    let (unmatched, _) = app.get("/no/such/route/abc123").await;
    let (_, _) = app.get_as("/healthz", None).await;
    let response = app
        .request(
            Request::get("/metrics")
                .header("Authorization", format!("Bearer {ADMIN_TOKEN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let text = String::from_utf8(
        axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    let mut checks = Checks::default();
    let pool_route = format!("{V2}/ippools/{{name}}");
    checks.that(
        "a pool GET counted under its template and code",
        text.contains(&format!(
            "ks_network_http_requests_total{{method=\"GET\",route=\"{pool_route}\",code=\"{code}\"}} 1"
        )),
        || text.clone(),
    );
    checks.that(
        "an unknown path counted as unmatched",
        text.contains(&format!(
            "ks_network_http_requests_total{{method=\"GET\",route=\"unmatched\",code=\"{unmatched}\"}} 1"
        )),
        || text.clone(),
    );
    checks.that(
        "no raw path becomes a label",
        !text.contains("no-such-pool") && !text.contains("abc123"),
        || text.clone(),
    );
    checks.that(
        "durations and the in-flight gauge are exposed",
        text.contains(
            "ks_network_http_request_duration_seconds_count{method=\"GET\",route=\"/healthz\"} 1",
        ) && text.contains("ks_network_http_requests_in_flight "),
        || text.clone(),
    );
    checks.finish();
}
