//! The pod cache lists pods in protobuf (`cluster::protobuf`, `cluster::list_watch`): listed from a real
//! kube-apiserver both ways, pods of every shape the table has to get right come out equal, field for field and
//! byte for byte of their stored response text.

use std::collections::BTreeMap;

use ks_network_apiserver::cluster::list_watch::list_all;
use ks_network_apiserver::cluster::pod::CachedPod;
use kube::api::{Api, DeleteParams, ListParams};
use serde_json::{Value, json};

use crate::support::api::SYNC;
use crate::support::fixtures::{create, eventually, patch_status};
use crate::support::{ControlPlane, User, unique_name};

/// Pods that exercise each kind of value: pointers set to their zero value and non-pointers left at it, quantities
/// written in non-canonical form, ports by number and by name, times, maps, inline structs (volume sources, probe
/// handlers), lists of numbers, and text that JSON escapes.
fn pods(namespace: &str) -> Vec<Value> {
    let full = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "full", "namespace": namespace,
            "labels": {"app": "web", "tier": "front", "empty": ""},
            "annotations": {"quote": "say \"hi\"\n\ttab", "empty": "", "u2028": "a\u{2028}b", "html": "<front&back>", "unicode": "é 中"},
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "6f1b3c2a-0d4e-4f5a-8b9c-1d2e3f4a5b6c",
                 "controller": true, "blockOwnerDeletion": false},
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "uid": "7a2c4d3b-1e5f-4a6b-9c0d-2e3f4a5b6c7d"}
            ],
            "finalizers": ["example.com/keep"]
        },
        "spec": {
            "nodeName": "node-a",
            "serviceAccountName": "default",
            "hostNetwork": false,
            "enableServiceLinks": false,
            "automountServiceAccountToken": false,
            "terminationGracePeriodSeconds": 0,
            "activeDeadlineSeconds": 600,
            "priority": 0,
            "priorityClassName": "",
            "restartPolicy": "Always",
            "dnsPolicy": "None",
            "dnsConfig": {"nameservers": ["10.0.0.10"], "searches": ["svc.local"],
                          "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]},
            "hostAliases": [{"ip": "10.1.2.3", "hostnames": ["a.local", "b.local"]}],
            "nodeSelector": {"disk": "ssd", "zone": ""},
            "securityContext": {"runAsUser": 0, "runAsNonRoot": false, "fsGroup": 2000,
                                "supplementalGroups": [1, 2, 2_147_483_647], "sysctls": [{"name": "net.ipv4.ip_forward", "value": "1"}],
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "affinity": {
                "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}]},
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 1, "preference": {"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["x"]}]}}]},
                "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": {
                    "labelSelector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]},
                    "topologyKey": "kubernetes.io/hostname", "namespaces": ["a", "b"]}}]}
            },
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"operator": "Exists"},
                {"key": "k", "operator": "Equal", "value": "", "effect": "NoSchedule"}
            ],
            "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway",
                                           "labelSelector": {"matchLabels": {"app": "web"}}}],
            "readinessGates": [{"conditionType": "example.com/ready"}],
            "imagePullSecrets": [{"name": "registry"}, {}],
            "initContainers": [{"name": "init", "image": "busybox", "command": ["sh", "-c", "true"],
                                "resources": {}, "terminationMessagePolicy": "FallbackToLogsOnError"}],
            "containers": [app_container()],
            "volumes": volumes()
        }
    });
    let plain = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "plain", "namespace": namespace},
        "spec": {"containers": [{"name": "c", "image": "pause"}]}
    });
    let named = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": "gen-", "namespace": namespace, "labels": {"app": "gen"}},
        "spec": {"containers": [{"name": "c", "image": "pause", "resources": {"limits": {"cpu": "2"}}}],
                 "hostNetwork": true, "nodeName": "node-b", "subdomain": "sub", "hostname": "h",
                 "schedulerName": "other", "serviceAccountName": "default", "shareProcessNamespace": true,
                 "runtimeClassName": null}
    });
    vec![full, plain, named]
}

/// The main container of the `full` pod: probes, ports, environment, resources, mounts.
fn app_container() -> Value {
    json!({
        "name": "app", "image": "nginx:1.19", "imagePullPolicy": "IfNotPresent",
        "args": ["--port=8080", ""], "workingDir": "/srv",
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                  {"containerPort": 53, "hostPort": 5353, "protocol": "UDP", "hostIP": "0.0.0.0"}],
        "env": [
            {"name": "PLAIN", "value": "v"},
            {"name": "EMPTY", "value": ""},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"containerName": "app", "resource": "limits.cpu", "divisor": "1m"}}},
            {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": false}}},
            {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}
        ],
        "envFrom": [{"prefix": "X_", "configMapRef": {"name": "c", "optional": true}}, {"secretRef": {"name": "s"}}],
        "resources": {"limits": {"cpu": "0.5", "memory": "1Gi", "example.com/gpu": "1"},
                      "requests": {"cpu": "100m", "memory": "1048576", "ephemeral-storage": "1.5Gi"}},
        "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": true, "subPath": "sub",
                          "mountPropagation": "HostToContainer"},
                         {"name": "cfg", "mountPath": "/cfg", "subPathExpr": "$(POD)"}],
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP",
                                      "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
                          "initialDelaySeconds": 0, "periodSeconds": 10, "timeoutSeconds": 1,
                          "successThreshold": 1, "failureThreshold": 3},
        "readinessProbe": {"tcpSocket": {"port": "http"}},
        "startupProbe": {"exec": {"command": ["cat", "/tmp/ok"]}, "failureThreshold": 30},
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}},
                      "postStart": {"httpGet": {"port": "http", "host": "localhost"}}},
        "securityContext": {"privileged": false, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                            "runAsGroup": 0, "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                            "seLinuxOptions": {"level": "s0:c123,c456"}},
        "stdin": true, "tty": false,
        "terminationMessagePath": "/dev/termination-log"
    })
}

/// The volumes of the `full` pod, one of most sources.
fn volumes() -> Value {
    json!([
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-0", "readOnly": false}},
        {"name": "cfg", "configMap": {"name": "c", "defaultMode": 420, "optional": false,
                                      "items": [{"key": "a", "path": "a.txt", "mode": 256}]}},
        {"name": "sec", "secret": {"secretName": "s", "defaultMode": 0}},
        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        {"name": "scratch", "emptyDir": {}},
        {"name": "host", "hostPath": {"path": "/var/log", "type": ""}},
        {"name": "dapi", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"}},
                                                   {"path": "cpu", "resourceFieldRef": {"containerName": "app", "resource": "requests.cpu"}}]}},
        {"name": "proj", "projected": {"sources": [
            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607, "audience": ""}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}],
            "defaultMode": 420}},
        {"name": "nfs", "nfs": {"server": "10.0.0.5", "path": "/exports", "readOnly": true}}
    ])
}

/// Statuses as a kubelet writes them: conditions with a null probe time, container states with times, pod IPs.
fn statuses() -> BTreeMap<&'static str, Value> {
    BTreeMap::from([
        (
            "full",
            json!({
                "phase": "Running", "hostIP": "192.168.0.4", "podIP": "10.233.64.9",
                "podIPs": [{"ip": "10.233.64.9"}, {"ip": "fd00::9"}],
                "startTime": "2026-03-02T10:00:00Z", "qosClass": "Burstable", "message": "", "reason": "",
                "nominatedNodeName": "node-a",
                "conditions": [
                    {"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-03-02T10:00:05Z"},
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-03-02T09:59:59Z",
                     "reason": "", "message": "placed"}
                ],
                "initContainerStatuses": [{"name": "init", "ready": true, "restartCount": 0, "image": "busybox",
                    "imageID": "docker-pullable://busybox@sha256:0123", "containerID": "docker://abc",
                    "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": "2026-03-02T10:00:01Z",
                                             "finishedAt": "2026-03-02T10:00:02Z", "containerID": "docker://abc"}}}],
                "containerStatuses": [{"name": "app", "ready": false, "started": false, "restartCount": 3, "image": "nginx:1.19",
                    "imageID": "", "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
                    "lastState": {"terminated": {"exitCode": -1, "signal": 9, "startedAt": null, "finishedAt": "2026-03-02T10:10:00Z"}}}]
            }),
        ),
        (
            "plain",
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable", "lastProbeTime": null, "lastTransitionTime": null}]}),
        ),
    ])
}

#[tokio::test]
async fn pods_listed_in_protobuf_equal_pods_listed_in_json() {
    let plane = ControlPlane::shared();
    let admin = plane.client(User::Admin).await;
    let namespace = unique_name("protobuf");
    create(
        &admin,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
    )
    .await;
    for pod in pods(&namespace) {
        create(&admin, pod).await;
    }
    let statuses = statuses();
    for (name, status) in &statuses {
        patch_status(&admin, "v1", "Pod", &namespace, name, status.clone()).await;
    }
    // Deleting a pod bound to a node with a finalizer leaves it in place with a deletion time and grace period.
    let pods_api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(admin.clone(), &namespace);
    pods_api
        .delete("full", &DeleteParams::default().grace_period(30))
        .await
        .unwrap();

    // Both lists come from kube-apiserver's watch cache, as the pod cache reads them; no pod changes after the
    // deletion, so once the cache shows it, both hold the same versions of the pods.
    let in_namespace =
        |pod: &&CachedPod| pod.metadata.namespace.as_deref() == Some(namespace.as_str());
    let json: Vec<CachedPod> = eventually(SYNC, "the deletion in the watch cache", || async {
        let pods = Api::<CachedPod>::all(admin.clone())
            .list(&ListParams::default().match_any())
            .await
            .map_err(|e| e.to_string())?
            .items;
        let deleted = pods
            .iter()
            .filter(in_namespace)
            .any(|p| p.metadata.deletion_timestamp.is_some());
        if deleted {
            Ok(pods)
        } else {
            Err("no deletion time yet".to_owned())
        }
    })
    .await;
    let protobuf = list_all(&admin, CachedPod::from_protobuf).await.unwrap();
    let json: BTreeMap<_, _> = json
        .iter()
        .filter(in_namespace)
        .map(|p| (p.metadata.name.clone(), p))
        .collect();
    let protobuf: BTreeMap<_, _> = protobuf
        .iter()
        .filter(in_namespace)
        .map(|p| (p.metadata.name.clone(), p))
        .collect();
    assert_eq!(json.len(), 3, "every pod is listed");
    assert_eq!(
        protobuf.keys().collect::<Vec<_>>(),
        json.keys().collect::<Vec<_>>()
    );
    for (name, from_json) in &json {
        let from_protobuf = protobuf[name];
        let text = |pod: &CachedPod| {
            let mut out = Vec::new();
            pod.json.write_with_labels(pod.labels.iter(), &mut out);
            String::from_utf8(out).unwrap()
        };
        let (written, expected) = (text(from_protobuf), text(from_json));
        if let Some(at) = written
            .bytes()
            .zip(expected.bytes())
            .position(|(a, b)| a != b)
        {
            let from = written.floor_char_boundary(at.saturating_sub(200));
            panic!(
                "{name:?}: the stored response text differs at byte {at}:\n  protobuf: {}\n      json: {}",
                &written[from..written.floor_char_boundary(at + 200)],
                &expected[from..expected.floor_char_boundary(at + 200)]
            );
        }
        assert_eq!(written, expected, "{name:?}: the stored response text");
        assert_eq!(from_protobuf, *from_json, "{name:?}: the cached pod");
    }
    let full = json[&Some("full".to_owned())];
    assert!(
        full.metadata.deletion_timestamp.is_some(),
        "the deleted pod is still there"
    );
    assert_eq!(full.ips, ["10.233.64.9", "fd00::9"]);

    // The finalizer holds the pod; remove it so that the namespace can go.
    let _ = pods_api
        .patch(
            "full",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await;
}

/// A workload's template: one container, annotations including one with a pool list.
fn template(app: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": app},
                     "annotations": {"cni.projectcalico.org/ipv4pools": "[\"pool-a\"]", "quote": "say \"hi\"", "empty": ""}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}
    })
}

/// `K`'s workloads in `namespace` listed in protobuf equal them listed in JSON: identity, owner references and
/// template annotations (the JSON list is read from kube-apiserver's watch cache too, once it shows `expected`).
/// Returns the workloads listed in protobuf.
async fn assert_workloads_equal<K>(
    admin: &kube::Client,
    namespace: &str,
    expected: usize,
) -> Vec<ks_network_apiserver::cluster::workload::Workload<K>>
where
    K: ks_network_apiserver::cluster::workload::PodTemplateOwner,
{
    use ks_network_apiserver::cluster::workload::Workload;
    let in_namespace = |w: &&Workload<K>| w.metadata.namespace.as_deref() == Some(namespace);
    let json: Vec<Workload<K>> = eventually(SYNC, "the workloads in the watch cache", || async {
        let listed = Api::<Workload<K>>::all(admin.clone())
            .list(&ListParams::default().match_any())
            .await
            .map_err(|e| e.to_string())?
            .items;
        if listed.iter().filter(in_namespace).count() == expected {
            Ok(listed)
        } else {
            Err("not every workload yet".to_owned())
        }
    })
    .await;
    let protobuf = list_all(admin, Workload::<K>::from_protobuf).await.unwrap();
    let by_name = |all: &[Workload<K>]| -> BTreeMap<String, (String, String)> {
        all.iter()
            .filter(in_namespace)
            .map(|w| {
                (
                    w.metadata.name.clone().unwrap_or_default(),
                    (
                        format!("{:?}", w.metadata),
                        format!("{:?}", w.template_annotations),
                    ),
                )
            })
            .collect()
    };
    let from_json = by_name(&json);
    assert_eq!(from_json.len(), expected);
    assert_eq!(by_name(&protobuf), from_json);
    protobuf.into_iter().filter(|w| in_namespace(&w)).collect()
}

#[tokio::test]
async fn workloads_listed_in_protobuf_equal_workloads_listed_in_json() {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
    let plane = ControlPlane::shared();
    let admin = plane.client(User::Admin).await;
    let namespace = unique_name("protobuf-workloads");
    create(
        &admin,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
    )
    .await;
    let selector = |app: &str| json!({"matchLabels": {"app": app}});
    create(
        &admin,
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace, "labels": {"tier": "front"},
                     "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {"replicas": 0, "selector": selector("web"), "template": template("web")}}),
    )
    .await;
    // Owned by the Deployment (controller) and by a second owner without the pointer fields.
    create(&admin, json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-1", "namespace": namespace,
                     "ownerReferences": [
                         {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "controller": true, "blockOwnerDeletion": false},
                         {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}]},
        "spec": {"replicas": 0, "selector": selector("web"), "template": template("web")}})).await;
    // No template annotations at all.
    create(&admin, json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "bare", "namespace": namespace},
        "spec": {"replicas": 0, "selector": selector("bare"),
                 "template": {"metadata": {"labels": {"app": "bare"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})).await;
    create(&admin, json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": namespace},
        "spec": {"replicas": 0, "serviceName": "db", "selector": selector("db"), "template": template("db")}})).await;
    create(
        &admin,
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": namespace},
        "spec": {"selector": selector("agent"), "template": template("agent")}}),
    )
    .await;

    assert_workloads_equal::<Deployment>(&admin, &namespace, 1).await;
    let replica_sets = assert_workloads_equal::<ReplicaSet>(&admin, &namespace, 2).await;
    let web = replica_sets
        .iter()
        .find(|w| w.metadata.name.as_deref() == Some("web-1"))
        .unwrap();
    let owners = web.metadata.owner_references.as_deref().unwrap();
    assert_eq!(
        owners
            .iter()
            .map(|o| (o.kind.as_str(), o.controller, o.block_owner_deletion))
            .collect::<Vec<_>>(),
        [
            ("Deployment", Some(true), Some(false)),
            ("Deployment", None, None)
        ]
    );
    assert!(owners.iter().all(|o| o.uid.len() == 36));
    assert_eq!(
        web.template_annotations["cni.projectcalico.org/ipv4pools"],
        "[\"pool-a\"]"
    );
    assert!(web.metadata.labels.is_none() && web.metadata.resource_version.is_some());
    assert_workloads_equal::<StatefulSet>(&admin, &namespace, 1).await;
    assert_workloads_equal::<DaemonSet>(&admin, &namespace, 1).await;
}
