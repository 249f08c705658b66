//! `auth.localRbac`: grants decided from watched roles and bindings agree with kube-apiserver's own RBAC
//! authorizer — random Roles, ClusterRoles and bindings, every question asked both ways — and a deleted binding
//! revokes without waiting for a cache TTL.

use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use ks_network_apiserver::auth::{Access, Identity, LocalGrants, Verb};
use ks_network_apiserver::domain::random::SplitMix64;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

use crate::support::api::SYNC;
use crate::support::fixtures::{create, delete, eventually};
use crate::support::{ControlPlane, TestServer, User, unique_name};

const RBAC: &str = "rbac.authorization.k8s.io/v1";
const VERBS: [&str; 4] = ["get", "list", "patch", "*"];
const GROUPS: [&str; 3] = ["", "apps", "*"];
const RESOURCES: [&str; 6] = ["pods", "services", "deployments", "pods/log", "*/log", "*"];

/// Up to `most` distinct picks of `items` (at least one).
fn some(random: &mut SplitMix64, items: &[&str], most: usize) -> Vec<String> {
    let mut picked: Vec<String> = (0..=random.below(most))
        .map(|_| (*random.pick(items)).to_owned())
        .collect();
    picked.sort();
    picked.dedup();
    picked
}

fn resource_rule(random: &mut SplitMix64) -> Value {
    let mut rule = json!({
        "verbs": some(random, &VERBS, 2),
        "apiGroups": some(random, &GROUPS, 1),
        "resources": some(random, &RESOURCES, 2),
    });
    if random.chance(20) {
        rule["resourceNames"] = json!(["web"]);
    }
    rule
}

fn rules(random: &mut SplitMix64, cluster: bool) -> Value {
    let mut rules: Vec<Value> = (0..=random.below(1))
        .map(|_| resource_rule(random))
        .collect();
    if cluster && random.chance(30) {
        rules.push(json!({"verbs": ["get"], "nonResourceURLs": [random.pick(&["/metrics", "/healthz/*", "*"])]}));
    }
    json!(rules)
}

/// Who the generated bindings may name, and who asks.
struct People {
    users: Vec<String>,
    groups: Vec<String>,
    namespaces: Vec<String>,
}

impl People {
    fn subject(&self, random: &mut SplitMix64, cluster_binding: bool) -> Value {
        match random.below(3) {
            0 => {
                json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": random.pick(&self.users)})
            }
            1 => {
                json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": random.pick(&self.groups)})
            }
            _ if cluster_binding || random.chance(50) => {
                json!({"kind": "ServiceAccount", "name": "robot", "namespace": random.pick(&self.namespaces)})
            }
            // A RoleBinding's account without a namespace is in the binding's namespace.
            _ => json!({"kind": "ServiceAccount", "name": "robot"}),
        }
    }

    /// Every identity the test asks about: each user alone and in each group, each namespace's robot, a stranger.
    fn identities(&self) -> Vec<Identity> {
        let identity = |user: &str, groups: &[&str]| Identity {
            user: user.to_owned(),
            uid: None,
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            extra: Default::default(),
        };
        let mut all = vec![identity("rbac-stranger", &["system:authenticated"])];
        for user in &self.users {
            all.push(identity(user, &["system:authenticated"]));
            for group in &self.groups {
                all.push(identity(user, &[group, "system:authenticated"]));
            }
        }
        for ns in &self.namespaces {
            let user = format!("system:serviceaccount:{ns}:robot");
            let own = format!("system:serviceaccounts:{ns}");
            all.push(identity(
                &user,
                &["system:serviceaccounts", &own, "system:authenticated"],
            ));
        }
        all
    }

    /// Every question: each verb on each resource in each namespace and cluster-wide, by name and not, and
    /// a few paths.
    fn accesses(&self) -> Vec<Access> {
        let mut all: Vec<Access> = ["/metrics", "/healthz/ping", "/version"]
            .into_iter()
            .map(|path| Access::NonResource {
                verb: Verb::Get,
                path: path.to_owned(),
            })
            .collect();
        let namespaces = self
            .namespaces
            .iter()
            .map(|n| Some(n.clone()))
            .chain([None]);
        for namespace in namespaces {
            for verb in [Verb::Get, Verb::List, Verb::Patch] {
                for (group, resource) in [
                    ("", "pods"),
                    ("", "services"),
                    ("apps", "deployments"),
                    ("", "pods/log"),
                ] {
                    for name in [None, Some("web".to_owned())] {
                        all.push(Access::Resource {
                            verb,
                            group: group.to_owned(),
                            resource: resource.to_owned(),
                            namespace: namespace.clone(),
                            name,
                        });
                    }
                }
            }
        }
        all
    }
}

/// kube-apiserver's answer, asked directly (a subresource goes in its own field, as a real request's would).
fn review(identity: &Identity, access: &Access) -> SubjectAccessReview {
    let mut spec = json!({"user": identity.user, "groups": identity.groups});
    match access {
        Access::Resource {
            verb,
            group,
            resource,
            namespace,
            name,
        } => {
            let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
            spec["resourceAttributes"] = json!({"verb": verb.as_str(), "group": group,
                "resource": resource, "subresource": subresource, "namespace": namespace, "name": name});
        }
        Access::NonResource { verb, path } => {
            spec["nonResourceAttributes"] = json!({"verb": verb.as_str(), "path": path});
        }
    }
    serde_json::from_value(json!({ "spec": spec })).unwrap()
}

#[tokio::test]
async fn local_grants_agree_with_kube_apiserver_and_revoke_at_once() {
    let plane = ControlPlane::shared();
    let server = TestServer::start(plane).await;
    let admin = plane.client(User::Admin).await;
    let prefix = unique_name("rbac");
    let people = People {
        users: (0..3).map(|i| format!("{prefix}-u{i}")).collect(),
        groups: (0..2).map(|i| format!("{prefix}-g{i}")).collect(),
        namespaces: (0..2).map(|i| format!("{prefix}-ns{i}")).collect(),
    };
    let mut random = SplitMix64(0x5eed_0bac);

    let mut objects = Vec::new();
    for ns in &people.namespaces {
        objects.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
    }
    // ClusterRoles with one feature of rule matching each, and random namespaced Roles; every role is bound
    // in every namespace (plus a missing one), to random subjects.
    let features = [
        json!([{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]),
        json!([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*/log"]}]),
        json!([{"verbs": ["get", "patch"], "apiGroups": [""], "resources": ["pods", "services"],
                "resourceNames": ["web"]}]),
        json!([{"verbs": ["*"], "apiGroups": ["apps"], "resources": ["*"]},
               {"verbs": ["get"], "nonResourceURLs": ["/healthz/*"]}]),
        json!([{"verbs": ["get"], "nonResourceURLs": ["*"]},
               {"verbs": ["list"], "apiGroups": ["*"], "resources": ["pods/log"]}]),
        rules(&mut random, true),
    ];
    let cluster_roles: Vec<String> = (0..features.len())
        .map(|i| format!("{prefix}-c{i}"))
        .collect();
    for (name, rules) in cluster_roles.iter().zip(features) {
        objects.push(
            json!({"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": name},
            "rules": rules}),
        );
    }
    let mut targets: Vec<(&str, String)> = ["r0", "r1", "missing"]
        .into_iter()
        .map(|r| ("Role", r.to_owned()))
        .collect();
    targets.extend(cluster_roles.iter().map(|c| ("ClusterRole", c.clone())));
    for ns in &people.namespaces {
        for role in ["r0", "r1"] {
            objects.push(json!({"apiVersion": RBAC, "kind": "Role", "metadata": {"name": role, "namespace": ns},
                "rules": rules(&mut random, false)}));
        }
        for (b, (kind, name)) in targets.iter().enumerate() {
            let mut subjects: Vec<Value> = (0..=random.below(2))
                .map(|_| people.subject(&mut random, false))
                .collect();
            // A user with only this role, in the first namespace: each feature is seen alone.
            if *ns == people.namespaces[0] {
                subjects.push(
                    json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io",
                    "name": format!("{prefix}-only-{b}")}),
                );
            }
            objects.push(json!({"apiVersion": RBAC, "kind": "RoleBinding",
                "metadata": {"name": format!("b{b}"), "namespace": ns},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
                "subjects": subjects}));
        }
    }
    for b in 0..3 {
        let subjects: Vec<Value> = (0..=random.below(1))
            .map(|_| people.subject(&mut random, true))
            .collect();
        objects.push(json!({"apiVersion": RBAC, "kind": "ClusterRoleBinding",
            "metadata": {"name": format!("{prefix}-b{b}")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": random.pick(&cluster_roles)},
            "subjects": subjects}));
    }
    for object in objects {
        create(&admin, object).await;
    }

    let accesses = people.accesses();
    let mut identities = people.identities();
    identities.extend((0..targets.len()).map(|b| Identity {
        user: format!("{prefix}-only-{b}"),
        uid: None,
        groups: vec!["system:authenticated".into()],
        extra: Default::default(),
    }));
    let questions: Vec<(Identity, Access)> = identities
        .into_iter()
        .flat_map(|identity| accesses.iter().map(move |a| (identity.clone(), a.clone())))
        .collect();
    let rbac = server
        .caches()
        .rbac
        .clone()
        .expect("auth.localRbac is on by default");
    let reviews = Api::<SubjectAccessReview>::all(admin.clone());
    // Both sides learn of the objects from their own watches: wait until they agree on every question.
    let granted = eventually(SYNC, "local RBAC to agree with kube-apiserver", || async {
        let mut disagreements = Vec::new();
        let mut granted = 0;
        for (identity, access) in &questions {
            let answer = reviews
                .create(&PostParams::default(), &review(identity, access))
                .await
                .map_err(|e| e.to_string())?;
            let allowed = answer.status.is_some_and(|s| s.allowed);
            let local = rbac.grants(identity, access);
            granted += usize::from(local);
            if allowed != local {
                disagreements.push(format!(
                    "{} {access:?}: kube-apiserver {allowed}, local {local}",
                    identity.user
                ));
            }
        }
        if disagreements.is_empty() {
            Ok(granted)
        } else {
            Err(format!(
                "{} disagreements: {disagreements:#?}",
                disagreements.len()
            ))
        }
    })
    .await;
    assert!(
        granted * 10 >= questions.len() && granted * 10 <= questions.len() * 9,
        "the generated RBAC should grant some questions and not others: {granted} of {}",
        questions.len()
    );

    // Revocation: a binding deleted is a grant gone as soon as the watch delivers it.
    let user = Identity {
        user: format!("{prefix}-late"),
        uid: None,
        groups: vec!["system:authenticated".into()],
        extra: Default::default(),
    };
    let ns = &people.namespaces[0];
    let list_pods = Access::Resource {
        verb: Verb::List,
        group: String::new(),
        resource: "pods".into(),
        namespace: Some(ns.clone()),
        name: None,
    };
    let late_role = format!("{prefix}-late");
    create(&admin, json!({"apiVersion": RBAC, "kind": "RoleBinding",
        "metadata": {"name": "late", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": late_role},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user.user}]}))
    .await;
    create(
        &admin,
        json!({"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": late_role},
        "rules": [{"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]}]}),
    )
    .await;
    eventually(SYNC, "the late binding granted", || async {
        rbac.grants(&user, &list_pods)
            .then_some(())
            .ok_or_else(|| "not granted".to_owned())
    })
    .await;
    delete(&admin, RBAC, "RoleBinding", ns, "late").await;
    eventually(SYNC, "the late binding revoked", || async {
        (!rbac.grants(&user, &list_pods))
            .then_some(())
            .ok_or_else(|| "still granted".to_owned())
    })
    .await;

    for name in cluster_roles.iter().chain([&late_role]) {
        delete(&admin, RBAC, "ClusterRole", "", name).await;
    }
    for b in 0..3 {
        delete(
            &admin,
            RBAC,
            "ClusterRoleBinding",
            "",
            &format!("{prefix}-b{b}"),
        )
        .await;
    }
    server.stop().await;
}
