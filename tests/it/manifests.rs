//! The installation manifests (`config/deploy`): kube-apiserver accepts every object (server-side dry run), and
//! the RBAC they grant is enough for the real binary in mode `all` (HTTPS, front-proxy settings read), run as
//! their ServiceAccount.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::Api;
use serde_json::{Value, json};

use crate::support::api::{SYNC, V2};
use crate::support::exclusive::Exclusive;
use crate::support::fixtures::{self, eventually};
use crate::support::pki::{Ca, Usage};
use crate::support::{ControlPlane, CrdSet, ServerProcess, User, free_ports, unique_name};

/// The namespace the manifests install into; tests rename it to a unique one.
const NAMESPACE: &str = "ks-network-system";
/// The ServiceAccount of the manifests.
const SERVICE_ACCOUNT: &str = "ks-network-apiserver";
/// RBAC kinds: created for real by the RBAC test.
const RBAC_KINDS: &[&str] = &[
    "Namespace",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
];

fn deploy_dir(overlay: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config/deploy")
        .join(overlay)
}

/// `kubectl kustomize config/deploy/<overlay>`, with the namespace renamed to `namespace`.
fn render(overlay: &str, namespace: &str) -> String {
    let dir = deploy_dir(overlay);
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(&dir)
        .output()
        .expect("run kubectl kustomize");
    assert!(
        output.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("UTF-8 manifests")
        .replace(NAMESPACE, namespace)
}

/// The rendered documents as JSON.
fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml).expect("parse the rendered manifests")
}

/// The test plane is Kubernetes 1.20, which has PodDisruptionBudget only as `policy/v1beta1`; the shipped
/// `policy/v1` (1.21+) has the same spec.
fn for_kubernetes_1_20(yaml: &str) -> String {
    let shipped = "apiVersion: policy/v1\nkind: PodDisruptionBudget";
    assert!(yaml.contains(shipped), "a policy/v1 PodDisruptionBudget");
    yaml.replace(
        shipped,
        "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget",
    )
}

#[tokio::test]
async fn every_manifest_passes_a_server_side_dry_run() {
    let plane = ControlPlane::shared();
    let namespace = unique_name("ksnet-deploy");
    // Namespaced objects need their namespace to exist, even in a dry run.
    let admin = plane.client(User::Admin).await;
    fixtures::create(
        &admin,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
    )
    .await;
    for overlay in ["", "webhook"] {
        let yaml = for_kubernetes_1_20(&render(overlay, &namespace));
        let count = documents(&yaml).len();
        let mut apply = plane
            .kubectl(User::Admin)
            .args(["apply", "--dry-run=server", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl apply");
        use std::io::Write;
        apply
            .stdin
            .take()
            .unwrap()
            .write_all(yaml.as_bytes())
            .unwrap();
        let output = apply.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "config/deploy/{overlay}: {stderr}\n{stdout}"
        );
        assert_eq!(
            stdout.matches("(server dry run)").count(),
            count,
            "config/deploy/{overlay}: one line per object: {stdout}"
        );
    }
}

/// Creates the manifests' RBAC for real, then runs `all` with the manifests' configuration, as the
/// ServiceAccount (kubeconfig `as:`, impersonated by admin): it becomes ready, answers a user, takes the
/// Lease and writes what the controller writes. The exclusive plane: the controller acts on every namespace.
#[tokio::test]
async fn the_service_account_may_do_everything_mode_all_does() {
    let mut cluster = Exclusive::acquire(CrdSet::All).await;
    let plane = cluster.plane();
    let namespace = unique_name("ksnet-deploy");
    let docs = documents(&render("", &namespace));
    for doc in docs
        .iter()
        .filter(|d| RBAC_KINDS.contains(&d["kind"].as_str().unwrap_or_default()))
    {
        let mut doc = doc.clone();
        if doc["kind"] == "Namespace" {
            // NSNPs are enforced only in isolated namespaces (algorithms §11).
            doc["metadata"]["annotations"] = json!({"kubesphere.io/network-isolate": "enabled"});
        }
        cluster.create(doc).await;
    }

    let dir = tempfile::tempdir().unwrap();
    let config = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .and_then(|d| d["data"]["config.yaml"].as_str())
        .expect("a ConfigMap with config.yaml");
    let config_path = dir.path().join("config.yaml");
    std::fs::write(&config_path, config).unwrap();
    let mut kubeconfig: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(plane.kubeconfig_path(User::Admin)).unwrap(),
    )
    .unwrap();
    kubeconfig["users"][0]["user"]["as"] = json!(format!(
        "system:serviceaccount:{namespace}:{SERVICE_ACCOUNT}"
    ));
    let kubeconfig_path = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig_path, kubeconfig.to_string()).unwrap();

    // What the controller will find when it starts (the full first reconcile acts on it): an NSNP to render
    // (NetworkPolicy create), one whose policy exists without owner (adopted: update), one that enforces
    // nothing (an Event), and a policy owned by an NSNP that is gone (delete; no garbage collector runs here).
    let nsnp = |name: &str, spec: Value| {
        json!({"apiVersion": "network.kubesphere.io/v1alpha1", "kind": "NamespaceNetworkPolicy",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec})
    };
    let policy = |name: &str, owners: Value| {
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace, "ownerReferences": owners},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})
    };
    cluster
        .create_all(vec![
            nsnp("fresh", json!({"ingress": [{}]})),
            nsnp("allow", json!({"ingress": [{}]})),
            policy("nsnp-allow", json!([])),
            nsnp("empty", json!({"ingress": []})),
            policy(
                "nsnp-gone",
                json!([{"apiVersion": "network.kubesphere.io/v1alpha1", "kind": "NamespaceNetworkPolicy",
                    "name": "gone", "uid": uuid::Uuid::new_v4().to_string(), "controller": true}]),
            ),
        ])
        .await;

    let [port] = free_ports::<1>();
    let serving = Ca::cluster(plane).issue(
        dir.path(),
        "serving",
        "ks-network-apiserver",
        &["127.0.0.1"],
        Usage::Server,
    );
    let log = dir.path().join("server.log");
    let child = Command::new(env!("CARGO_BIN_EXE_ks-network-apiserver"))
        .arg("all")
        .arg("--config")
        .arg(&config_path)
        .arg("--kubeconfig")
        .arg(&kubeconfig_path)
        .args(["--bind-address", &format!("127.0.0.1:{port}")])
        // The manifests' certificate paths are a Secret mount; here, a certificate of the plane's CA.
        .args([
            "--set",
            &format!("server.tls.certFile={}", serving.cert.display()),
        ])
        .args([
            "--set",
            &format!("server.tls.keyFile={}", serving.key.display()),
        ])
        .env_remove("KUBECONFIG")
        .env("POD_NAMESPACE", &namespace)
        .env("POD_NAME", "manifests-test")
        .stdout(Stdio::null())
        .stderr(File::create(&log).unwrap())
        .spawn()
        .expect("start ks-network-apiserver");
    let server = ServerProcess { child, log };
    let base = format!("https://127.0.0.1:{port}");
    let ca = std::fs::read(&Ca::cluster(plane).cert).unwrap();
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();

    eventually(SYNC, "/readyz 200 as the ServiceAccount", || async {
        let response = http
            .get(format!("{base}/readyz?verbose"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        (status == 200)
            .then_some(())
            .ok_or_else(|| format!("{status} {body}\nlog:\n{}", server.log()))
    })
    .await;

    // The front-proxy settings are readable (RoleBinding in kube-system).
    eventually(SYNC, "the front-proxy settings loaded", || async {
        let log = server.log();
        log.contains("front-proxy settings loaded")
            .then_some(())
            .ok_or(log)
    })
    .await;

    // TokenReview and SubjectAccessReview work: a user without rights is refused, one with them is served.
    let get_pools = |user: User| {
        let request = http
            .get(format!("{base}{V2}/ippools"))
            .bearer_auth(plane.token(user));
        async move {
            let response = request.send().await.map_err(|e| e.to_string())?;
            Ok::<_, String>(response.status().as_u16())
        }
    };
    assert_eq!(get_pools(User::Bob).await, Ok(403));
    let reader = unique_name("ksnet-deploy-pools");
    cluster
        .create(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": reader},
            "rules": [{"apiGroups": ["crd.projectcalico.org"], "resources": ["ippools"], "verbs": ["list"]}]}))
        .await;
    cluster
        .create(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": reader},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": reader},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]}))
        .await;
    eventually(SYNC, "alice may list pools", || async {
        match get_pools(User::Alice).await? {
            200 => Ok(()),
            other => Err(other.to_string()),
        }
    })
    .await;

    // The controller: the Lease in POD_NAMESPACE, and each kind of write it makes.
    let admin = cluster.admin().clone();
    let leases: Api<Lease> = Api::namespaced(admin.clone(), &namespace);
    eventually(SYNC, "the controller's Lease", || async {
        let lease = leases
            .get_opt("ks-network-controller")
            .await
            .map_err(|e| e.to_string())?;
        let holder = lease
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
            .unwrap_or_default();
        holder
            .starts_with("manifests-test")
            .then_some(())
            .ok_or_else(|| format!("holder {holder:?}\nlog:\n{}", server.log()))
    })
    .await;
    // Namespace patch: kube-apiserver 1.20 does not set kubernetes.io/metadata.name; the controller does.
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    eventually(SYNC, "the namespace name label", || async {
        let labels = namespaces
            .get(&namespace)
            .await
            .map_err(|e| e.to_string())?
            .metadata
            .labels
            .unwrap_or_default();
        (labels.get("kubernetes.io/metadata.name") == Some(&namespace))
            .then_some(())
            .ok_or_else(|| format!("{labels:?}\nlog:\n{}", server.log()))
    })
    .await;
    // The controller's NetworkPolicy writes (create, update, delete) and an Event.
    let policies: Api<NetworkPolicy> = Api::namespaced(admin.clone(), &namespace);
    eventually(
        SYNC,
        "nsnp-fresh created, nsnp-allow adopted, nsnp-gone deleted",
        || async {
            let names = |p: &NetworkPolicy| p.metadata.name.clone().unwrap_or_default();
            let list = policies
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?;
            let found: Vec<String> = list.items.iter().map(names).collect();
            let adopted = list.items.iter().any(|p| {
                names(p) == "nsnp-allow"
                    && p.metadata
                        .owner_references
                        .as_ref()
                        .is_some_and(|o| !o.is_empty())
            });
            (found.contains(&"nsnp-fresh".to_string())
                && adopted
                && !found.contains(&"nsnp-gone".to_string()))
            .then_some(())
            .ok_or_else(|| format!("{found:?}, adopted {adopted}\nlog:\n{}", server.log()))
        },
    )
    .await;
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(admin.clone(), &namespace);
    eventually(SYNC, "a NothingToEnforce Event", || async {
        let list = events
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?;
        list.items
            .iter()
            .any(|e| e.reason.as_deref() == Some("NothingToEnforce"))
            .then_some(())
            .ok_or_else(|| format!("{} events\nlog:\n{}", list.items.len(), server.log()))
    })
    .await;

    // Nothing the server did was refused (a warning or error naming a 403; not any "403" in a request id).
    let log = server.log();
    let refused = log.lines().find(|l| {
        let l = l.to_ascii_lowercase();
        (l.contains("\"level\":\"warn\"") || l.contains("\"level\":\"error\""))
            && (l.contains("forbidden")
                || l.contains("status code: 403")
                || l.contains("code: 403")
                || l.contains("\"code\":403"))
    });
    assert!(
        refused.is_none(),
        "the ServiceAccount was refused: {refused:?}\nlog:\n{log}"
    );

    // The next turn deletes what this one created, and the namespace without its contents (no namespace
    // controller here): remove what the controller created in it.
    drop(server);
    let all = kube::api::ListParams::default();
    let delete = kube::api::DeleteParams::default();
    policies.delete_collection(&delete, &all).await.unwrap();
    leases.delete_collection(&delete, &all).await.unwrap();
    events.delete_collection(&delete, &all).await.unwrap();
}
