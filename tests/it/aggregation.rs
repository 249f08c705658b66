//! The server installed as a cluster runs it: registered as APIService `v1alpha2.network.kubesphere.io`
//! behind kube-apiserver (`--enable-aggregator-routing`, front-proxy client certificate) and as the Calico
//! IPPool admission webhook, driven with `kubectl` as the admin and as users without rights.
//!
//! kube-apiserver refuses loopback APIService endpoints, so the server runs in a network namespace of this
//! test's own, joined to the host by a veth pair from the documentation range 198.51.100.0/24: the server
//! listens on 198.51.100.2 and reaches kube-apiserver through a TCP forwarder on 198.51.100.1 (the plane's
//! serving certificate names that address). Without the privileges to make a network namespace, the test
//! says so and skips.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

use crate::ippool_migration::fixture as f_m;
use crate::support::api::{IPV4POOLS, SYNC};
use crate::support::exclusive::Exclusive;
use crate::support::fixtures::{eventually, get, pool};
use crate::support::pki::{Ca, Usage};
use crate::support::{ControlPlane, CrdSet, ServerProcess, User};

const NETNS: &str = "ksnet-e2e";
const HOST_LINK: &str = "ksnet-e2e-h";
const NS_LINK: &str = "ksnet-e2e-n";
const HOST_IP: &str = "198.51.100.1";
const SERVER_IP: &str = "198.51.100.2";
const SERVER_PORT: u16 = 9443;
const SERVICE_NAMESPACE: &str = "ksnet-e2e";
const SERVICE: &str = "ks-network-apiserver";
const GROUP_VERSION: &str = "/apis/network.kubesphere.io/v1alpha2";
const DENIED: &str = "admission webhook \"validating-crd.projectcalico.org\" denied the request: ";

/// A network namespace with a veth pair to the host; removed on drop.
struct NetworkNamespace;

impl NetworkNamespace {
    /// Makes the namespace (removing what a killed earlier run left), or says why it cannot.
    fn create() -> Result<NetworkNamespace, String> {
        let _ = ip(&["netns", "del", NETNS]);
        let _ = ip(&["link", "del", HOST_LINK]);
        let host_cidr = format!("{HOST_IP}/24");
        let ns_cidr = format!("{SERVER_IP}/24");
        let steps: [&[&str]; 7] = [
            &["netns", "add", NETNS],
            &[
                "link", "add", HOST_LINK, "type", "veth", "peer", "name", NS_LINK,
            ],
            &["link", "set", NS_LINK, "netns", NETNS],
            &["addr", "add", &host_cidr, "dev", HOST_LINK],
            &["link", "set", HOST_LINK, "up"],
            &["-n", NETNS, "addr", "add", &ns_cidr, "dev", NS_LINK],
            &["-n", NETNS, "link", "set", NS_LINK, "up"],
        ];
        let namespace = NetworkNamespace;
        for step in steps {
            ip(step)?;
        }
        // Should anything still call 198.51.100.x once the namespace is gone, it goes nowhere: the range
        // never leaves this machine (kept after the test, like the range itself, unused here).
        ip(&[
            "route",
            "replace",
            "blackhole",
            "198.51.100.0/24",
            "metric",
            "4000",
        ])?;
        ip(&["-n", NETNS, "link", "set", "lo", "up"])?;
        Ok(namespace)
    }
}

impl Drop for NetworkNamespace {
    fn drop(&mut self) {
        // Deleting the namespace deletes its end of the pair, and with it the host's end.
        let _ = ip(&["netns", "del", NETNS]);
        let _ = ip(&["link", "del", HOST_LINK]);
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Forwards connections to `HOST_IP:<port>` to kube-apiserver on loopback, on a thread of its own (the
/// test blocks on kubectl) for as long as the test binary runs.
fn forward_to(apiserver: &str) -> u16 {
    let listener = std::net::TcpListener::bind((HOST_IP, 0)).expect("bind the forwarder");
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let apiserver = apiserver.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("forwarder runtime");
        runtime.block_on(async move {
            let listener = TcpListener::from_std(listener).expect("forwarder listener");
            while let Ok((mut inbound, _)) = listener.accept().await {
                let apiserver = apiserver.clone();
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&apiserver).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
    });
    port
}

/// The APIService, the webhook configuration and the pool made with kubectl, deleted on drop while the
/// server still runs (drop it first), so that kube-apiserver never calls an address that is gone.
struct Registered<'a> {
    plane: &'a ControlPlane,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        for (kind, name) in [
            ("validatingwebhookconfiguration", "ks-network-e2e"),
            ("apiservice", "v1alpha2.network.kubesphere.io"),
            ("ippools.crd.projectcalico.org", "e2e-free"),
            ("ippools.crd.projectcalico.org", "e2e-small"),
        ] {
            let _ = self
                .plane
                .kubectl(User::Admin)
                .args(["delete", kind, name, "--ignore-not-found"])
                .output();
        }
    }
}

/// Starts `serve` in the namespace with TLS, front-proxy authentication and the webhook.
fn start_server(plane: &ControlPlane, dir: &Path, forwarder: u16) -> ServerProcess {
    let service_host = format!("{SERVICE}.{SERVICE_NAMESPACE}.svc");
    let serving = Ca::cluster(plane).issue(
        dir,
        "serving",
        SERVICE,
        &[SERVER_IP, &service_host],
        Usage::Server,
    );
    let kubeconfig = std::fs::read_to_string(plane.kubeconfig_path(User::Admin))
        .unwrap()
        .replace(
            &plane.apiserver_url(),
            &format!("https://{HOST_IP}:{forwarder}"),
        );
    let kubeconfig_path = dir.join("kubeconfig");
    std::fs::write(&kubeconfig_path, kubeconfig).unwrap();
    let config = format!(
        "kubeconfig: {}\nserver:\n  bindAddress: {SERVER_IP}:{SERVER_PORT}\n  shutdownDelaySeconds: 0\n  tls:\n    certFile: {}\n    keyFile: {}\ncache:\n  discoveryIntervalSeconds: 1\nwebhook:\n  enabled: true\n",
        kubeconfig_path.display(),
        serving.cert.display(),
        serving.key.display()
    );
    let config_path = dir.join("config.yaml");
    std::fs::write(&config_path, config).unwrap();
    let log = dir.join("server.log");
    let child = Command::new("ip")
        .args(["netns", "exec", NETNS])
        .arg(env!("CARGO_BIN_EXE_ks-network-apiserver"))
        .arg("serve")
        .arg("--config")
        .arg(&config_path)
        .env_remove("KUBECONFIG")
        .stdout(Stdio::null())
        .stderr(File::create(&log).unwrap())
        .spawn()
        .expect("start ks-network-apiserver in the network namespace");
    ServerProcess { child, log }
}

/// The Service (manual Endpoints) and APIService that send `/apis/network.kubesphere.io/v1alpha2` to the
/// server, and the webhook configuration that sends IPPool writes to it.
fn registration(ca_bundle: &str) -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SERVICE_NAMESPACE}}),
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": SERVICE, "namespace": SERVICE_NAMESPACE},
               "spec": {"ports": [{"name": "https", "port": 443, "targetPort": SERVER_PORT}]}}),
        json!({"apiVersion": "v1", "kind": "Endpoints",
               "metadata": {"name": SERVICE, "namespace": SERVICE_NAMESPACE},
               "subsets": [{"addresses": [{"ip": SERVER_IP}],
                            "ports": [{"name": "https", "port": SERVER_PORT}]}]}),
        json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
               "metadata": {"name": "v1alpha2.network.kubesphere.io"},
               "spec": {"group": "network.kubesphere.io", "version": "v1alpha2",
                        "service": {"namespace": SERVICE_NAMESPACE, "name": SERVICE, "port": 443},
                        "caBundle": ca_bundle, "groupPriorityMinimum": 1000, "versionPriority": 100}}),
        json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
               "metadata": {"name": "ks-network-e2e"},
               "webhooks": [{"name": "validating-crd.projectcalico.org",
                             "clientConfig": {"url": format!("https://{SERVER_IP}:{SERVER_PORT}/validate-crd-projectcalico-org-v1"),
                                              "caBundle": ca_bundle},
                             "rules": [{"apiGroups": ["crd.projectcalico.org"], "apiVersions": ["v1"],
                                        "operations": ["CREATE", "UPDATE", "DELETE"], "resources": ["ippools"]}],
                             "failurePolicy": "Fail", "sideEffects": "None",
                             "admissionReviewVersions": ["v1"], "timeoutSeconds": 5}]}),
    ]
}

/// Runs `kubectl` as `user` with `args` (and `stdin`).
fn kubectl(plane: &ControlPlane, user: User, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut command = plane.kubectl(user);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("run kubectl");
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(input);
    child.wait_with_output().expect("kubectl")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `kubectl get --raw path` as `user`: the JSON on success, the error text otherwise.
fn get_raw(plane: &ControlPlane, user: User, path: &str) -> Result<Value, String> {
    let out = kubectl(plane, user, &["get", "--raw", path], None);
    if out.status.success() {
        serde_json::from_slice(&out.stdout).map_err(|e| format!("{e}: {}", text(&out.stdout)))
    } else {
        Err(text(&out.stderr))
    }
}

/// `kubectl create -f -` of `pool` as the admin: Ok(warnings on stderr) or Err(error text).
fn create_pool(plane: &ControlPlane, name: &str, spec: Value) -> Result<String, String> {
    let object = pool(name, spec).to_string();
    let out = kubectl(plane, User::Admin, &["create", "-f", "-"], Some(&object));
    if out.status.success() {
        Ok(text(&out.stderr))
    } else {
        Err(text(&out.stderr))
    }
}

fn denial(result: Result<String, String>) -> String {
    let error = result.expect_err("denied");
    let at = error.find(DENIED).unwrap_or_else(|| panic!("{error}"));
    error[at + DENIED.len()..].trim().to_owned()
}

fn grant(name: &str, user: &str, rules: Value) -> Vec<Value> {
    vec![
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": name}, "rules": rules}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": name},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}),
    ]
}

#[tokio::test]
async fn installed_behind_kube_apiserver_as_apiservice_and_webhook() {
    let namespace = match NetworkNamespace::create() {
        Ok(namespace) => namespace,
        Err(why) => {
            eprintln!("SKIPPED: cannot create a network namespace ({why}); this test needs root");
            return;
        }
    };
    let mut cluster = Exclusive::acquire(CrdSet::All).await;
    let plane = cluster.plane();
    cluster.create_all(f_m()).await;
    let dir = tempfile::tempdir().unwrap();
    let apiserver = plane
        .apiserver_url()
        .trim_start_matches("https://")
        .to_owned();
    let forwarder = forward_to(&apiserver);
    let server = start_server(plane, dir.path(), forwarder);
    cluster
        .create_all(registration(&base64_of_file(&Ca::cluster(plane).cert)))
        .await;
    let registered = Registered { plane };

    // The aggregator finds the server available (it asks for the resource list through the front proxy).
    let admin = cluster.admin().clone();
    eventually(SYNC, "APIService Available", || async {
        let service = get(
            &admin,
            "apiregistration.k8s.io/v1",
            "APIService",
            "",
            "v1alpha2.network.kubesphere.io",
        )
        .await;
        let available = service["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Available" && c["status"] == "True");
        available
            .then_some(())
            .ok_or_else(|| format!("{}\nserver log:\n{}", service["status"], server.log()))
    })
    .await;

    // Discovery, list and get through kube-apiserver, with the §4 shapes.
    // The proxy route may follow the Available condition by a moment.
    let resources = eventually(SYNC, "discovery through the aggregator", || async {
        get_raw(plane, User::Admin, GROUP_VERSION)
            .map_err(|e| format!("{e}\nserver log:\n{}", server.log()))
    })
    .await;
    assert_eq!(resources["kind"], "APIResourceList");
    let names: Vec<&str> = resources["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ippoolmigrations", "ippools"]);
    let list = eventually(SYNC, "the pools in the server's cache", || async {
        let list = get_raw(plane, User::Admin, &format!("{GROUP_VERSION}/ippools"))?;
        (list["items"].as_array().map(Vec::len) == Some(5))
            .then_some(list.clone())
            .ok_or(list.to_string())
    })
    .await;
    assert_eq!(
        (&list["kind"], &list["apiVersion"]),
        (
            &json!("IPPoolList"),
            &json!("network.kubesphere.io/v1alpha2")
        )
    );
    let pool_b = get_raw(
        plane,
        User::Admin,
        &format!("{GROUP_VERSION}/ippools/pool-b"),
    )
    .unwrap();
    assert_eq!(
        (&pool_b["kind"], &pool_b["spec"]["cidr"]),
        (&json!("IPPool"), &json!("10.20.0.0/16"))
    );
    assert!(pool_b["status"]["capacity"].is_number(), "{pool_b}");

    // kubectl prints the server's Table.
    let table = kubectl(
        plane,
        User::Admin,
        &["get", "ippools.v1alpha2.network.kubesphere.io"],
        None,
    );
    let table = text(&table.stdout);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "CIDR",
            "DISABLED",
            "CAPACITY",
            "ALLOCATIONS",
            "TUNNEL",
            "RESERVED",
            "UNALLOCATED",
            "AGE"
        ],
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("pool-b ") && l.contains("10.20.0.0/16")),
        "{table}"
    );

    // A user without rights: kube-apiserver refuses; with the aggregated right only, the server refuses
    // (its check names alice: the front proxy passed her on, not itself).
    let refused = get_raw(plane, User::Alice, &format!("{GROUP_VERSION}/ippools")).unwrap_err();
    assert!(
        refused.contains("Forbidden") || refused.contains("forbidden"),
        "{refused}"
    );
    cluster.create_all(grant("e2e-alice-aggregated", "alice", json!([
        {"apiGroups": ["network.kubesphere.io"], "resources": ["ippools"], "verbs": ["get", "list"]},
        {"apiGroups": ["network.kubesphere.io"], "resources": ["ippoolmigrations"], "verbs": ["create"]}]))).await;
    let refused = eventually(SYNC, "alice to reach the server", || async {
        let error = get_raw(plane, User::Alice, &format!("{GROUP_VERSION}/ippools")).unwrap_err();
        error
            .contains("crd.projectcalico.org")
            .then_some(error.clone())
            .ok_or(error)
    })
    .await;
    assert!(
        refused.contains(
            r#"User "alice" cannot list resource "ippools" in API group "crd.projectcalico.org""#
        ),
        "{refused}"
    );

    // A migration as alice is refused although the server's own account could make it...
    let migration = json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "IPPoolMigration",
                           "metadata": {"name": "a-to-b"}, "spec": {"oldIPPool": "pool-a", "newIPPool": "pool-b"}}).to_string();
    let migrate = || {
        kubectl(
            plane,
            User::Alice,
            &[
                "create",
                "--raw",
                &format!("{GROUP_VERSION}/ippoolmigrations"),
                "-f",
                "-",
            ],
            Some(&migration),
        )
    };
    let out = migrate();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(r#"User "alice" cannot get resource "ippools""#),
        "{}",
        text(&out.stderr)
    );
    // ...and made as alice once she may.
    cluster.create_all(grant("e2e-alice-migrate", "alice", json!([
        {"apiGroups": ["crd.projectcalico.org"], "resources": ["ippools"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["patch"]},
        {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": ["patch"]},
        {"apiGroups": ["batch"], "resources": ["cronjobs"], "verbs": ["patch"]}]))).await;
    let created = eventually(SYNC, "the migration to be allowed", || async {
        let out = migrate();
        out.status
            .success()
            .then(|| text(&out.stdout))
            .ok_or_else(|| text(&out.stderr))
    })
    .await;
    let created: Value = serde_json::from_str(&created).unwrap();
    assert_eq!(
        created["status"]["namespaces"],
        json!(["demo", "legacy"]),
        "{created}"
    );
    let demo = get(&admin, "v1", "Namespace", "", "demo").await;
    assert_eq!(
        demo["metadata"]["annotations"][IPV4POOLS], "[\"pool-b\"]",
        "{demo}"
    );

    // Forged front-proxy headers, straight to the server from the host without its certificate: 401.
    let direct = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(Ca::cluster(plane).cert).unwrap())
                .unwrap(),
        )
        .build()
        .unwrap();
    let response = direct
        .get(format!(
            "https://{SERVER_IP}:{SERVER_PORT}{GROUP_VERSION}/ippools"
        ))
        .header("X-Remote-User", "admin")
        .header("X-Remote-Group", "system:masters")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // The webhook, as kubectl sees it (cases 154, 155, 158, 161, 162, 163, 167).
    assert_eq!(
        denial(create_pool(plane, "e2e-bad", json!({"cidr": "testxxx"}))),
        "invalid cidr"
    );
    assert_eq!(
        denial(create_pool(
            plane,
            "e2e-host",
            json!({"cidr": "10.0.0.0/32"})
        )),
        "the cidr mask must be less than 32"
    );
    assert_eq!(
        denial(create_pool(
            plane,
            "e2e-small",
            json!({"cidr": "10.0.0.0/28"})
        )),
        "the blocksize should be larger than the cidr mask"
    );
    assert_eq!(
        denial(create_pool(
            plane,
            "e2e-v6",
            json!({"cidr": "fd00:70::/64", "ipipMode": "Always"})
        )),
        "ipipMode must be Never for IPv6 pools"
    );
    assert_eq!(
        denial(create_pool(
            plane,
            "e2e-over",
            json!({"cidr": "10.10.0.0/17"})
        )),
        "ippool cidr is overlapped with pool-a"
    );
    let warnings =
        create_pool(plane, "e2e-free", json!({"cidr": "10.50.0.0/16"})).expect("allowed");
    assert!(
        warnings.contains("blockSize is not set; Calico will use 26"),
        "{warnings}"
    );
    let out = kubectl(
        plane,
        User::Admin,
        &[
            "patch",
            "ippools.crd.projectcalico.org",
            "e2e-free",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"cidr":"10.51.0.0/16"}}"#,
        ],
        None,
    );
    assert_eq!(denial(Err(text(&out.stderr))), "cidr cannot be modified");
    let out = kubectl(
        plane,
        User::Admin,
        &["delete", "ippools.crd.projectcalico.org", "pool-c"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    drop(registered);
    drop(server);
    drop(namespace);
}

/// The file's bytes in base64 (a `caBundle`).
fn base64_of_file(path: &Path) -> String {
    let out = Command::new("base64")
        .arg("-w0")
        .arg(path)
        .output()
        .expect("run base64");
    String::from_utf8(out.stdout).expect("base64 is ASCII")
}
