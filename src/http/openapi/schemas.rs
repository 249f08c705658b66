//! The document's shared schemas (`#/components/schemas`). Response schemas require what the server always sends;
//! request schemas allow what kube-apiserver accepts: `null` wherever Kubernetes reads it as absent, and unknown
//! fields (it drops them).

use serde_json::{Map, Value, json};

use super::schema_ref;
use crate::cluster::served;
use crate::service::dynamic::PolicyResource;

/// Every shared schema, by name.
pub fn all() -> Map<String, Value> {
    let mut schemas = Map::new();
    let mut add = |name: &str, schema: Value| {
        schemas.insert(name.to_owned(), schema);
    };
    add("Status", status());
    add("ObjectMeta", object_meta());
    add("KubernetesObject", kubernetes_object());
    add(
        "ResourceList",
        json!({
            "type": "object",
            "description": "A v1alpha3 page (algorithms §9.11)",
            "required": ["items", "totalItems"],
            "properties": {
                "items": {"type": "array", "items": schema_ref("KubernetesObject")},
                "totalItems": {"type": "integer", "minimum": 0, "description": "Matches before paging"},
            },
        }),
    );
    add("IPPoolSpec", ippool_spec());
    add("OccupancyStatus", occupancy_status());
    add("IPPool", ippool("crd.projectcalico.org/v1"));
    add("AggregatedIPPool", ippool(&served::ippools().api_version));
    add(
        "IPPoolList",
        json!({
            "type": "object",
            "required": ["apiVersion", "kind", "metadata", "items"],
            "properties": {
                "apiVersion": {"enum": ["crd.projectcalico.org/v1"]},
                "kind": {"enum": ["IPPoolList"]},
                "metadata": {"type": "object"},
                "items": {"type": "array", "items": schema_ref("IPPool")},
            },
        }),
    );
    add(
        "AggregatedIPPoolList",
        json!({
            "type": "object",
            "required": ["apiVersion", "kind", "metadata", "items"],
            "properties": {
                "apiVersion": {"enum": [served::ippools().api_version]},
                "kind": {"enum": ["IPPoolList"]},
                "metadata": {"type": "object", "properties": {"resourceVersion": {"type": "string"}}},
                "items": {"type": "array", "items": schema_ref("AggregatedIPPool")},
            },
        }),
    );
    add("Table", table());
    add("MigrationSummary", migration_summary());
    add(
        "UnbindSummary",
        json!({
            "type": "object",
            "description": "api §1.6",
            "required": ["message", "dryRun", "ippool", "namespaces"],
            "properties": {
                "message": {"enum": ["success", "partial failure"]},
                "dryRun": {"type": "boolean"},
                "ippool": {"type": "string"},
                "namespaces": {"type": "array", "items": {"type": "string"}, "description": "Namespaces unbound, sorted"},
                "errors": {"type": "array", "items": schema_ref("WriteError")},
            },
        }),
    );
    add(
        "WriteError",
        json!({
            "type": "object",
            "description": "A write that failed after retries",
            "required": ["kind", "namespace", "name", "error"],
            "properties": {
                "kind": {"type": "string"},
                "namespace": {"type": "string"},
                "name": {"type": "string"},
                "error": {"type": "string"},
            },
        }),
    );
    add("IPPoolMigration", ippool_migration(false));
    add("IPPoolMigrationResult", ippool_migration(true));
    add("LabelSelector", label_selector());
    add(
        "MergePatch",
        json!({
            "type": "object",
            "description": "A JSON merge patch (or strategic merge patch): fields left out are unchanged, `null` removes",
        }),
    );
    add(
        "JsonPatch",
        json!({
            "type": "array",
            "description": "A JSON patch (RFC 6902)",
            "items": {
                "type": "object",
                "required": ["op", "path"],
                "properties": {
                    "op": {"enum": ["add", "remove", "replace", "move", "copy", "test"]},
                    "path": {"type": "string"},
                    "from": {"type": "string"},
                    "value": {},
                },
            },
        }),
    );
    add(
        "DeleteOptions",
        json!({
            "type": "object",
            "description": "Kubernetes DeleteOptions",
            "properties": {
                "gracePeriodSeconds": {"type": ["integer", "null"]},
                "propagationPolicy": {"enum": ["Orphan", "Background", "Foreground", null]},
                "dryRun": {"type": ["array", "null"], "items": {"enum": ["All"]}},
                "preconditions": {
                    "type": ["object", "null"],
                    "properties": {"uid": {"type": ["string", "null"]}, "resourceVersion": {"type": ["string", "null"]}},
                },
            },
        }),
    );
    for (name, schema) in discovery() {
        add(name, schema);
    }
    for resource in PolicyResource::ALL {
        for (name, schema) in policy(resource) {
            add(&name, schema);
        }
    }
    schemas
}

/// `Status` (api §0.5): ours, and kube-apiserver's passed through (whose `details` may lack a name).
fn status() -> Value {
    json!({
        "type": "object",
        "description": "A Kubernetes Status: every error answer (api §0.5), and kube-apiserver's answers passed through",
        "required": ["kind", "apiVersion", "status", "code"],
        "properties": {
            "kind": {"enum": ["Status"]},
            "apiVersion": {"enum": ["v1"]},
            "metadata": {"type": "object"},
            "status": {"enum": ["Failure", "Success"]},
            "message": {"type": "string"},
            "reason": {
                "type": "string",
                "description": "`BadRequest`, `Unauthorized`, `Forbidden`, `NotFound`, `MethodNotAllowed`, `Conflict`, \
                                `AlreadyExists`, `RequestEntityTooLarge`, `UnsupportedMediaType`, `Invalid`, \
                                `TooManyRequests`, `InternalError`, `ServiceUnavailable`, `Timeout`",
            },
            "details": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "group": {"type": "string"},
                    "kind": {"type": "string"},
                    "uid": {"type": "string"},
                    "causes": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "reason": {"type": "string"},
                                "field": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        },
                    },
                    "retryAfterSeconds": {"type": "integer"},
                },
            },
            "code": {"type": "integer"},
        },
    })
}

fn string_map() -> Value {
    json!({"type": "object", "additionalProperties": {"type": "string"}})
}

fn object_meta() -> Value {
    json!({
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "namespace": {"type": "string"},
            "uid": {"type": "string"},
            "resourceVersion": {"type": "string"},
            "creationTimestamp": {"type": "string"},
            "labels": string_map(),
            "annotations": string_map(),
        },
    })
}

fn kubernetes_object() -> Value {
    json!({
        "type": "object",
        "description": "A Kubernetes object as cached (no managedFields), with its effective labels",
        "required": ["apiVersion", "kind", "metadata"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": schema_ref("ObjectMeta"),
        },
    })
}

fn ippool_spec() -> Value {
    json!({
        "type": "object",
        "description": "Calico's IPPool spec, with Calico's read defaults filled in (algorithms §1.2)",
        "required": ["cidr"],
        "properties": {
            "cidr": {"type": "string"},
            "blockSize": {"type": "integer"},
            "ipipMode": {"type": "string"},
            "vxlanMode": {"type": "string"},
            "natOutgoing": {"type": "boolean"},
            "disabled": {"type": "boolean"},
            "nodeSelector": {"type": "string"},
            "allowedUses": {"type": "array", "items": {"type": "string"}},
        },
    })
}

fn occupancy_status() -> Value {
    let count =
        |description: &str| json!({"type": "integer", "minimum": 0, "description": description});
    json!({
        "type": "object",
        "description": "Occupancy (algorithms §2); integers capped at 2^53 − 1. Other stored status keys are kept",
        "required": ["capacity", "allocations", "unallocated", "reserved", "tunnel", "namespaces", "pods", "leaked"],
        "properties": {
            "capacity": count("Addresses in the pool CIDR"),
            "allocations": count("Allocated to workloads"),
            "unallocated": count("capacity − allocations − tunnel − reserved"),
            "reserved": count("Allocated without a handle, or to the Windows reserved handle"),
            "tunnel": count("IPIP, VXLAN and WireGuard tunnel addresses"),
            "namespaces": {
                "type": "object",
                "additionalProperties": {"type": "integer", "minimum": 0},
                "description": "allocations per namespace",
            },
            "pods": count("Live pods with an IP in the pool"),
            "leaked": count("Allocations whose pod no longer exists"),
        },
    })
}

fn ippool(api_version: &str) -> Value {
    json!({
        "type": "object",
        "description": "A Calico IPPool with its occupancy status (api §1.0)",
        "required": ["apiVersion", "kind", "metadata", "spec", "status"],
        "properties": {
            "apiVersion": {"enum": [api_version]},
            "kind": {"enum": ["IPPool"]},
            "metadata": schema_ref("ObjectMeta"),
            "spec": schema_ref("IPPoolSpec"),
            "status": schema_ref("OccupancyStatus"),
        },
        "examples": [{
            "apiVersion": api_version, "kind": "IPPool",
            "metadata": {"name": "default-ipv4-ippool", "resourceVersion": "12345"},
            "spec": {"allowedUses": ["Workload", "Tunnel"], "blockSize": 26, "cidr": "10.233.64.0/18",
                     "ipipMode": "Always", "natOutgoing": true, "nodeSelector": "all()", "vxlanMode": "Never"},
            "status": {"capacity": 16384, "allocations": 17, "unallocated": 16364, "reserved": 0, "tunnel": 3,
                       "namespaces": {"demo": 8, "kube-system": 9}, "pods": 16, "leaked": 1},
        }],
    })
}

fn table() -> Value {
    json!({
        "type": "object",
        "description": "A meta.k8s.io/v1 Table: Name, CIDR, Disabled, Capacity, Allocations, Tunnel, Reserved, Unallocated, Age",
        "required": ["kind", "apiVersion", "metadata", "columnDefinitions", "rows"],
        "properties": {
            "kind": {"enum": ["Table"]},
            "apiVersion": {"enum": ["meta.k8s.io/v1"]},
            "metadata": {"type": "object"},
            "columnDefinitions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "type"],
                    "properties": {"name": {"type": "string"}, "type": {"type": "string"}},
                },
            },
            "rows": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["cells", "object"],
                    "properties": {"cells": {"type": "array"}, "object": {"type": "object"}},
                },
            },
        },
    })
}

fn migration_summary() -> Value {
    let names = json!({"type": "array", "items": {"type": "string"}});
    json!({
        "type": "object",
        "description": "What a migration changed, or would change with dryRun (api §1.4)",
        "required": ["message", "dryRun", "oldippool", "newippool", "namespaces", "workloads", "skippedPods", "warnings"],
        "properties": {
            "message": {"enum": ["success", "partial failure"]},
            "dryRun": {"type": "boolean"},
            "oldippool": {"type": "string"},
            "newippool": {"type": "string"},
            "namespaces": names,
            "workloads": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["kind", "namespace", "name", "action"],
                    "properties": {
                        "kind": {"type": "string"},
                        "namespace": {"type": "string"},
                        "name": {"type": "string"},
                        "action": {"enum": ["updated", "restarted"]},
                    },
                },
            },
            "skippedPods": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["namespace", "name", "reason"],
                    "properties": {
                        "namespace": {"type": "string"},
                        "name": {"type": "string"},
                        "reason": {"type": "string"},
                    },
                },
            },
            "warnings": names,
            "errors": {"type": "array", "items": schema_ref("WriteError")},
        },
    })
}

/// The IPPoolMigration a client sends (whatever `status` it has is replaced), or the one it gets back.
fn ippool_migration(result: bool) -> Value {
    let served = served::ippool_migrations();
    let pool = |what: &str| json!({"type": "string", "minLength": 1, "description": what});
    let (description, required, status) = if result {
        (
            "The IPPoolMigration as sent, with `status`: the summary without `message` (api §4.3)",
            json!(["apiVersion", "kind", "spec", "status"]),
            json!({"type": "object", "required": ["dryRun", "oldippool", "newippool", "namespaces", "workloads", "skippedPods", "warnings"]}),
        )
    } else {
        (
            "A create-only virtual resource (api §4.3): nothing is stored; a `status` sent is replaced",
            json!(["apiVersion", "kind", "spec"]),
            json!({}),
        )
    };
    json!({
        "type": "object",
        "description": description,
        "required": required,
        "properties": {
            "apiVersion": {"enum": [served.api_version]},
            "kind": {"enum": [served.kind]},
            "metadata": {},
            "spec": {
                "type": "object",
                "required": ["oldIPPool", "newIPPool"],
                "properties": {
                    "oldIPPool": pool("The pool to move away from"),
                    "newIPPool": pool("The pool to move to (a different one)"),
                },
            },
            "status": status,
        },
        "example": {
            "apiVersion": served.api_version, "kind": served.kind, "metadata": {"name": "a-to-b"},
            "spec": {"oldIPPool": "pool-disabled", "newIPPool": "pool-b"},
        },
    })
}

fn label_selector() -> Value {
    json!({
        "type": ["object", "null"],
        "properties": {
            "matchLabels": {"type": ["object", "null"], "additionalProperties": {"type": ["string", "null"]}},
            "matchExpressions": {
                "type": ["array", "null"],
                "items": {
                    "type": "object",
                    "properties": {
                        "key": {"type": ["string", "null"]},
                        "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                        "values": {"type": ["array", "null"], "items": {"type": "string"}},
                    },
                },
            },
        },
    })
}

fn discovery() -> [(&'static str, Value); 3] {
    let version = json!({
        "type": "object",
        "required": ["groupVersion", "version"],
        "properties": {"groupVersion": {"type": "string"}, "version": {"type": "string"}},
    });
    let group = json!({
        "type": "object",
        "required": ["name", "versions", "preferredVersion"],
        "properties": {
            "kind": {"enum": ["APIGroup"]},
            "apiVersion": {"enum": ["v1"]},
            "name": {"enum": [served::GROUP]},
            "versions": {"type": "array", "items": version},
            "preferredVersion": version,
        },
    });
    [
        ("APIGroup", group),
        (
            "APIGroupList",
            json!({
                "type": "object",
                "required": ["kind", "apiVersion", "groups"],
                "properties": {
                    "kind": {"enum": ["APIGroupList"]},
                    "apiVersion": {"enum": ["v1"]},
                    "groups": {"type": "array", "items": schema_ref("APIGroup")},
                },
            }),
        ),
        (
            "APIResourceList",
            json!({
                "type": "object",
                "required": ["kind", "apiVersion", "groupVersion", "resources"],
                "properties": {
                    "kind": {"enum": ["APIResourceList"]},
                    "apiVersion": {"enum": ["v1"]},
                    "groupVersion": {"type": "string"},
                    "resources": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "singularName", "namespaced", "kind", "verbs"],
                            "properties": {
                                "name": {"type": "string"},
                                "singularName": {"type": "string"},
                                "namespaced": {"type": "boolean"},
                                "kind": {"type": "string"},
                                "verbs": {"type": "array", "items": {"type": "string"}},
                            },
                        },
                    },
                },
            }),
        ),
    ]
}

/// A nullable array of `items`.
fn list_of(items: Value) -> Value {
    json!({"type": ["array", "null"], "items": items})
}

/// The spec of a NetworkPolicy or of an NSNP. kube-apiserver validates every NetworkPolicy; an NSNP only against
/// its CRD's types, and against algorithms §10.6 when `checked` (creates and replaces through `/kapis`).
fn policy_spec(resource: PolicyResource, checked: bool) -> Value {
    let checked = checked || resource == PolicyResource::NetworkPolicies;
    let (protocol, policy_types) = if checked {
        (
            json!({"enum": ["TCP", "UDP", "SCTP", null]}),
            list_of(json!({"enum": ["Ingress", "Egress"]})),
        )
    } else {
        (
            json!({"type": ["string", "null"]}),
            list_of(json!({"type": "string"})),
        )
    };
    let cidr = json!({"type": ["string", "null"]});
    let ip_block = json!({
        "type": ["object", "null"],
        "properties": {"cidr": cidr, "except": list_of(json!({"type": "string"}))},
    });
    match resource {
        PolicyResource::NetworkPolicies => {
            let port = json!({
                "type": "object",
                "properties": {
                    "protocol": protocol,
                    "port": {"type": ["integer", "string", "null"], "minimum": 1, "maximum": 65535},
                },
            });
            let peer = json!({
                "type": "object",
                "properties": {
                    "podSelector": schema_ref("LabelSelector"),
                    "namespaceSelector": schema_ref("LabelSelector"),
                    "ipBlock": ip_block,
                },
            });
            let rule = |peers: &str| json!({"type": "object", "properties": {peers: list_of(peer.clone()), "ports": list_of(port.clone())}});
            json!({
                "type": ["object", "null"],
                "properties": {
                    "podSelector": schema_ref("LabelSelector"),
                    "policyTypes": policy_types,
                    "ingress": list_of(rule("from")),
                    "egress": list_of(rule("to")),
                },
            })
        }
        PolicyResource::NamespaceNetworkPolicies => {
            let port = json!({
                "type": "object",
                "properties": {
                    "protocol": protocol,
                    "port": {"type": ["integer", "string", "null"]},
                    "endPort": {"type": ["integer", "null"], "description": "Only with an integer port, and ≥ it"},
                },
            });
            let name = if checked {
                json!({"type": "string", "minLength": 1})
            } else {
                json!({"type": "string"})
            };
            let peer = json!({
                "type": "object",
                "description": "Exactly one of ipBlock, namespace, service",
                "properties": {
                    "ipBlock": ip_block,
                    "namespace": {"type": "object", "properties": {"name": name}},
                    "service": {"type": "object", "properties": {"name": name, "namespace": {"type": "string"}}},
                },
            });
            let rule = |peers: &str| json!({"type": "object", "properties": {peers: list_of(peer.clone()), "ports": list_of(port.clone())}});
            json!({
                "type": ["object", "null"],
                "properties": {
                    "policyTypes": policy_types,
                    "ingress": list_of(rule("from")),
                    "egress": list_of(rule("to")),
                },
            })
        }
    }
}

/// `<Kind>` (as served), `<Kind>List`, `<Kind>Write` (a create or replace body, api §2.3) and `<Kind>Apply` (a
/// server-side apply patch) of a policy resource.
fn policy(resource: PolicyResource) -> [(String, Value); 4] {
    let api = resource.api_resource();
    let kind = api.kind.as_str();
    let nullable_text = json!({"type": ["string", "null"]});
    let labels =
        json!({"type": ["object", "null"], "additionalProperties": {"type": ["string", "null"]}});
    let mut checked_labels = labels.clone();
    if resource == PolicyResource::NamespaceNetworkPolicies {
        checked_labels["properties"] = json!({
            "kubesphere.io/policy-type": {"enum": ["ingress", "egress", null]},
            "kubesphere.io/policy-traffic": {"enum": ["inside", "outside", null]},
        });
    }
    let metadata = |labels: &Value| {
        json!({
            "type": ["object", "null"],
            "properties": {
                "name": nullable_text,
                "generateName": nullable_text,
                "namespace": nullable_text,
                "resourceVersion": nullable_text,
                "labels": labels,
                "annotations": {"type": ["object", "null"], "additionalProperties": {"type": ["string", "null"]}},
            },
        })
    };
    let object = json!({
        "type": "object",
        "required": ["apiVersion", "kind", "metadata"],
        "properties": {
            "apiVersion": {"enum": [api.api_version]},
            "kind": {"enum": [kind]},
            "metadata": schema_ref("ObjectMeta"),
            "spec": policy_spec(resource, false),
        },
    });
    let list = json!({
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "items"],
        "properties": {
            "apiVersion": {"enum": [api.api_version]},
            "kind": {"enum": [format!("{kind}List")]},
            "metadata": {
                "type": "object",
                "required": ["continue", "remainingItemCount"],
                "properties": {
                    "continue": {"type": "string", "description": "The filtered total, in decimal (not a paging token)"},
                    "remainingItemCount": {"type": "integer", "minimum": 0},
                },
            },
            "items": {"type": "array", "items": schema_ref(kind)},
        },
    });
    let write = json!({
        "type": "object",
        "description": "apiVersion, kind, metadata.namespace (and for a replace metadata.name) may be left out; when \
                        given they must match the URL (api §2.3)",
        "properties": {
            "apiVersion": {"enum": [api.api_version, "", null]},
            "kind": {"enum": [kind, "", null]},
            "metadata": metadata(&checked_labels),
            "spec": policy_spec(resource, true),
        },
    });
    let apply = json!({
        "type": "object",
        "description": "A server-side apply patch (YAML or JSON): it names the object's apiVersion and kind",
        "required": ["apiVersion", "kind"],
        "properties": {
            "apiVersion": {"enum": [api.api_version]},
            "kind": {"enum": [kind]},
            "metadata": metadata(&labels),
            "spec": policy_spec(resource, false),
        },
    });
    [
        (kind.to_owned(), object),
        (format!("{kind}List"), list),
        (format!("{kind}Write"), write),
        (format!("{kind}Apply"), apply),
    ]
}
