//! HTTPS against the real kube-apiserver of the shared plane: front-proxy client certificates verified
//! against the CA that kube-apiserver publishes in `kube-system/extension-apiserver-authentication`,
//! forged `X-Remote-*` headers, writes that impersonate a front-proxy caller, and a certificate rotation.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::api::{NSNP, SYNC, nsnps};
use crate::support::fixtures::{create, get as get_object, json_of, namespace};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::support::pki::{Ca, Issued, Usage};
use crate::support::{ControlPlane, TestServer, User, test_config, unique_name, wait_for};

/// A server on the shared plane serving HTTPS with a certificate of the plane's CA, and its folder.
async fn https_server(plane: &'static ControlPlane) -> (TestServer<'static>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let serving = Ca::cluster(plane).issue(
        dir.path(),
        "serving",
        "ks-network-apiserver",
        &["127.0.0.1"],
        Usage::Server,
    );
    let mut config = test_config();
    config.server.tls.cert_file = Some(serving.cert);
    config.server.tls.key_file = Some(serving.key);
    let server = TestServer::start_with(plane, config).await;
    server.wait_ready().await;
    (server, dir)
}

/// The plane's own front-proxy client certificate (what kube-apiserver's aggregator presents).
fn proxy_identity(plane: &ControlPlane) -> Issued {
    Issued {
        cert: plane.dir().join("front-proxy-client.crt"),
        key: plane.dir().join("front-proxy-client.key"),
    }
}

/// GET `path` through `client` with `headers`; the status code and `Status` message (or body).
async fn get(
    server: &TestServer<'_>,
    client: &reqwest::Client,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = client.get(server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    json_of(request.send().await.expect("request reaches the server")).await
}

fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn front_proxy_callers_are_whom_the_headers_name_and_no_one_else_is() {
    let plane = ControlPlane::shared();
    let (server, dir) = https_server(plane).await;
    let alices_list = format!("{NSNP}/namespaces/default/namespacenetworkpolicies");
    let admin = plane.token(User::Admin);
    let bearer = format!("Bearer {admin}");

    // Plain bearer tokens work over HTTPS.
    let (code, _) = get(
        &server,
        &server.http,
        &alices_list,
        &[("Authorization", &bearer)],
    )
    .await;
    assert_eq!(code, 200);

    // The front proxy's certificate makes the headers count, once the ConfigMap has been read.
    let proxy = server.client_with_certificate(&proxy_identity(plane));
    let as_alice = [("X-Remote-User", "alice"), ("X-Remote-Group", "dev")];
    let (code, body) = wait_for(SYNC, "the front-proxy CA to be loaded", || async {
        let answer = get(&server, &proxy, &alices_list, &as_alice).await;
        (answer.0 != 401).then_some(answer)
    })
    .await;
    assert_eq!(code, 403, "{body}");
    assert!(message(&body).contains(r#"User "alice""#), "{body}");
    let as_master = [
        ("X-Remote-User", "root"),
        ("X-Remote-Group", "system:masters"),
    ];
    assert_eq!(get(&server, &proxy, &alices_list, &as_master).await.0, 200);

    // A verified proxy certificate without a user header falls through to the bearer token.
    let bob = format!("Bearer {}", plane.token(User::Bob));
    let (code, body) = get(&server, &proxy, &alices_list, &[("Authorization", &bob)]).await;
    assert_eq!(code, 403);
    assert!(message(&body).contains(r#"User "bob""#), "{body}");

    // Forged headers next to a bearer token, without the proxy's certificate: the token decides.
    let forged = [
        ("Authorization", bob.as_str()),
        ("X-Remote-User", "root"),
        ("X-Remote-Group", "system:masters"),
    ];
    let (code, body) = get(&server, &server.http, &alices_list, &forged).await;
    assert_eq!(code, 403);
    assert!(message(&body).contains(r#"User "bob""#), "{body}");
    // Forged headers alone: 401.
    assert_eq!(
        get(&server, &server.http, &alices_list, &forged[1..])
            .await
            .0,
        401
    );

    // The proxy's name from another CA, and another name from the proxy's CA: 401.
    let other_ca = Ca::new(dir.path(), "other-ca");
    let foreign = other_ca.issue(
        dir.path(),
        "foreign",
        "front-proxy-client",
        &[],
        Usage::Client,
    );
    let foreign = server.client_with_certificate(&foreign);
    assert_eq!(
        get(&server, &foreign, &alices_list, &as_master).await.0,
        401
    );
    let intruder =
        Ca::front_proxy(plane).issue(dir.path(), "intruder", "intruder", &[], Usage::Client);
    let intruder = server.client_with_certificate(&intruder);
    let (code, body) = get(&server, &intruder, &alices_list, &as_master).await;
    assert_eq!(
        (code, body),
        (
            401,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn front_proxy_callers_write_as_themselves_through_impersonation() {
    let plane = ControlPlane::shared();
    let (server, _dir) = https_server(plane).await;
    let admin = plane.client(User::Admin).await;
    let project = unique_name("impersonated");
    create(&admin, namespace(&project, json!({}), json!({}))).await;
    let proxy = server.client_with_certificate(&proxy_identity(plane));
    let user = unique_name("writer");
    let body = json!({"apiVersion": "network.kubesphere.io/v1alpha1", "kind": "NamespaceNetworkPolicy",
                      "metadata": {"name": "allow-a"}, "spec": {"ingress": []}});
    let post = || async {
        let response = proxy
            .post(server.url(&nsnps(&project)))
            .header("X-Remote-User", &user)
            .header("X-Remote-Group", "writers")
            .json(&body)
            .send()
            .await
            .expect("request reaches the server");
        json_of(response).await
    };
    // kube-apiserver refuses the write: it is made as the caller, not as the server's own admin account.
    let (code, refused) = wait_for(SYNC, "the front-proxy CA to be loaded", || async {
        let answer = post().await;
        (answer.0 != 401).then_some(answer)
    })
    .await;
    assert_eq!(code, 403, "{refused}");
    assert!(
        message(&refused).contains(&format!(r#"User "{user}""#)),
        "{refused}"
    );

    // Granted to a group the proxy names, the same write goes through.
    for object in [
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": "nsnp-writer", "namespace": project},
               "rules": [{"apiGroups": ["network.kubesphere.io"], "resources": ["namespacenetworkpolicies"],
                          "verbs": ["create"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "writers", "namespace": project},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "nsnp-writer"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "writers"}]}),
    ] {
        create(&admin, object).await;
    }
    let (code, created) = wait_for(SYNC, "the grant to take effect", || async {
        let answer = post().await;
        (answer.0 != 403).then_some(answer)
    })
    .await;
    assert_eq!(code, 201, "{created}");
    let stored = get_object(
        &admin,
        "network.kubesphere.io/v1alpha1",
        "NamespaceNetworkPolicy",
        &project,
        "allow-a",
    )
    .await;
    let managers: Vec<&Value> = stored["metadata"]["managedFields"]
        .as_array()
        .map(|fields| fields.iter().map(|f| &f["manager"]).collect())
        .unwrap_or_default();
    assert_eq!(managers, [&json!("ks-network-apiserver")], "{stored}");
    server.stop().await;
}

/// The certificate the server presents on a new connection (DER), or `None` when the handshake fails.
async fn served_certificate(server: &TestServer<'_>, fresh: &reqwest::Client) -> Option<Vec<u8>> {
    let response = fresh.get(server.url("/healthz")).send().await.ok()?;
    let info = response.extensions().get::<reqwest::tls::TlsInfo>()?;
    info.peer_certificate().map(<[u8]>::to_vec)
}

fn der(pem_file: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(pem_file)
        .expect("PEM certificate")
        .to_vec()
}

fn replace(file: &Path, contents: &[u8]) {
    // Like a Secret volume update: the new file appears at once, complete.
    let staging = file.with_extension("new");
    std::fs::write(&staging, contents).expect("write");
    std::fs::rename(&staging, file).expect("rename");
}

#[tokio::test]
async fn a_rotated_certificate_is_served_without_a_restart_and_garbage_is_ignored() {
    let plane = ControlPlane::shared();
    let (server, dir) = https_server(plane).await;
    // A client that makes a full handshake (no pooled connection, no session resumption) for every request.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&Ca::cluster(plane).cert).unwrap())
        .unwrap();
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.resumption = rustls::client::Resumption::disabled();
    let fresh = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .pool_max_idle_per_host(0)
        .tls_info(true)
        .build()
        .unwrap();
    let serving = Issued {
        cert: dir.path().join("serving.crt"),
        key: dir.path().join("serving.key"),
    };
    assert_eq!(
        served_certificate(&server, &fresh).await,
        Some(der(&serving.cert))
    );

    let second = Ca::cluster(plane).issue(
        dir.path(),
        "second",
        "ks-network-apiserver",
        &["127.0.0.1"],
        Usage::Server,
    );
    replace(&serving.key, &std::fs::read(&second.key).unwrap());
    replace(&serving.cert, &std::fs::read(&second.cert).unwrap());
    let expected = der(&second.cert);
    wait_for(SYNC, "the rotated certificate to be served", || async {
        (served_certificate(&server, &fresh).await.as_ref() == Some(&expected)).then_some(())
    })
    .await;

    // A certificate replaced by garbage: the previous one stays, and requests keep working. The files are
    // looked at every 2 s; 5 s of handshakes span two looks.
    replace(&serving.cert, b"not a certificate");
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < until {
        assert_eq!(
            served_certificate(&server, &fresh).await.as_ref(),
            Some(&expected)
        );
    }
    server.stop().await;
}
