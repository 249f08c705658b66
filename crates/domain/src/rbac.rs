//! Kubernetes RBAC, evaluated from roles and bindings as kube-apiserver's RBAC authorizer evaluates them
//! (`plugin/pkg/auth/authorizer/rbac`): a request is allowed when a ClusterRoleBinding, or a RoleBinding of the
//! request's namespace, names the requester and refers to a role with a rule that covers the request. RBAC only
//! ever allows; "not allowed" means "RBAC has no rule for it", which another authorizer may still allow.
//!
//! Roles are read as stored: the rules kube-controller-manager writes into aggregated ClusterRoles are what
//! kube-apiserver evaluates too, so aggregation is not recomputed here.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// One rule of a role.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyRule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    /// Plural resources, `resource/subresource`, `*` or `*/subresource`.
    pub resources: Vec<String>,
    /// When not empty, the rule covers only requests naming one of these objects.
    pub resource_names: Vec<String>,
    /// Paths, `*`, or prefixes ending in `*`.
    pub non_resource_urls: Vec<String>,
}

/// Whom a binding names. A ServiceAccount's namespace is resolved when the binding is read: a RoleBinding's
/// subject without one means the binding's namespace, a ClusterRoleBinding's names no account.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    User(String),
    Group(String),
    ServiceAccount { namespace: String, name: String },
}

impl Subject {
    /// The subject of a binding's `subjects` entry (`kind`, `name`, `namespace`) in a binding of `scope`; `None`
    /// for one that can name nobody (an unknown kind, an account without a namespace in a ClusterRoleBinding).
    pub fn resolve(kind: &str, name: &str, namespace: Option<&str>, scope: &Scope) -> Option<Self> {
        Some(match kind {
            "User" => Subject::User(name.to_owned()),
            "Group" => Subject::Group(name.to_owned()),
            "ServiceAccount" => {
                let namespace = namespace
                    .filter(|ns| !ns.is_empty())
                    .or(scope.namespace())?;
                Subject::ServiceAccount {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                }
            }
            _ => return None,
        })
    }
}

/// The role a binding grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleRef {
    /// A Role in the binding's own namespace.
    Role(String),
    ClusterRole(String),
}

/// Where a binding applies: everywhere (ClusterRoleBinding) or in one namespace (RoleBinding).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Cluster,
    Namespace(String),
}

impl Scope {
    fn namespace(&self) -> Option<&str> {
        match self {
            Scope::Cluster => None,
            Scope::Namespace(ns) => Some(ns),
        }
    }
}

/// A RoleBinding or ClusterRoleBinding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub role: RoleRef,
    pub subjects: Vec<Subject>,
}

/// Who asks: the user name and groups of an authenticated identity.
#[derive(Clone, Copy, Debug)]
pub struct Requester<'a> {
    pub user: &'a str,
    pub groups: &'a [String],
}

impl Requester<'_> {
    /// The subjects that name this requester.
    fn subjects(&self) -> Vec<Subject> {
        let mut subjects = vec![Subject::User(self.user.to_owned())];
        subjects.extend(self.groups.iter().map(|g| Subject::Group(g.clone())));
        // `system:serviceaccount:<namespace>:<name>`
        if let Some(account) = self.user.strip_prefix("system:serviceaccount:")
            && let Some((namespace, name)) = account.split_once(':')
            && !namespace.is_empty()
            && !name.is_empty()
            && !name.contains(':')
        {
            subjects.push(Subject::ServiceAccount {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            });
        }
        subjects
    }
}

/// What is asked.
#[derive(Clone, Copy, Debug)]
pub enum Request<'a> {
    Resource {
        verb: &'a str,
        group: &'a str,
        /// Plural resource, or `resource/subresource`.
        resource: &'a str,
        /// `None` for a cluster-scoped request.
        namespace: Option<&'a str>,
        /// `None` for a request on a collection.
        name: Option<&'a str>,
    },
    NonResource {
        verb: &'a str,
        path: &'a str,
    },
}

impl Request<'_> {
    fn namespace(&self) -> Option<&str> {
        match self {
            Request::Resource { namespace, .. } => *namespace,
            Request::NonResource { .. } => None,
        }
    }
}

fn covers(values: &[String], wanted: &str) -> bool {
    values.iter().any(|v| v == "*" || v == wanted)
}

impl PolicyRule {
    /// Whether this rule covers `request` (kube-apiserver's `RuleAllows`).
    pub fn allows(&self, request: &Request) -> bool {
        match *request {
            Request::Resource {
                verb,
                group,
                resource,
                name,
                ..
            } => {
                covers(&self.verbs, verb)
                    && covers(&self.api_groups, group)
                    && self.covers_resource(resource)
                    && (self.resource_names.is_empty()
                        || self.resource_names.iter().any(|n| Some(n.as_str()) == name))
            }
            Request::NonResource { verb, path } => {
                covers(&self.verbs, verb)
                    && self.non_resource_urls.iter().any(|url| {
                        url == "*"
                            || url == path
                            || (url.ends_with('*') && path.starts_with(url.trim_end_matches('*')))
                    })
            }
        }
    }

    fn covers_resource(&self, resource: &str) -> bool {
        let subresource = resource.split_once('/').map(|(_, sub)| sub);
        self.resources.iter().any(|r| {
            r == "*"
                || r == resource
                || subresource.is_some_and(|sub| r.strip_prefix("*/") == Some(sub))
        })
    }
}

/// The roles and bindings of a cluster, indexed by the subjects the bindings name.
#[derive(Debug, Default)]
pub struct Rbac {
    roles: HashMap<(String, String), Arc<[PolicyRule]>>,
    cluster_roles: HashMap<String, Arc<[PolicyRule]>>,
    bindings: HashMap<(Scope, String), Binding>,
    /// Subject → scope → names of the bindings of that scope that name it.
    by_subject: HashMap<Subject, BTreeMap<Scope, BTreeSet<String>>>,
}

impl Rbac {
    /// Sets the rules of Role `namespace/name`.
    pub fn set_role(&mut self, namespace: &str, name: &str, rules: impl Into<Arc<[PolicyRule]>>) {
        self.roles
            .insert((namespace.to_owned(), name.to_owned()), rules.into());
    }

    pub fn remove_role(&mut self, namespace: &str, name: &str) {
        self.roles.remove(&(namespace.to_owned(), name.to_owned()));
    }

    pub fn set_cluster_role(&mut self, name: &str, rules: impl Into<Arc<[PolicyRule]>>) {
        self.cluster_roles.insert(name.to_owned(), rules.into());
    }

    pub fn remove_cluster_role(&mut self, name: &str) {
        self.cluster_roles.remove(name);
    }

    /// Drops every Role (`namespaced`) or every ClusterRole.
    pub fn clear_roles(&mut self, namespaced: bool) {
        if namespaced {
            self.roles.clear();
        } else {
            self.cluster_roles.clear();
        }
    }

    /// Sets binding `name` of `scope` (a RoleBinding for a namespace, a ClusterRoleBinding for the cluster).
    pub fn set_binding(&mut self, scope: Scope, name: &str, binding: Binding) {
        self.remove_binding(&scope, name);
        for subject in &binding.subjects {
            self.by_subject
                .entry(subject.clone())
                .or_default()
                .entry(scope.clone())
                .or_default()
                .insert(name.to_owned());
        }
        self.bindings.insert((scope, name.to_owned()), binding);
    }

    pub fn remove_binding(&mut self, scope: &Scope, name: &str) {
        let Some(old) = self.bindings.remove(&(scope.clone(), name.to_owned())) else {
            return;
        };
        for subject in &old.subjects {
            let Some(scopes) = self.by_subject.get_mut(subject) else {
                continue;
            };
            if let Some(names) = scopes.get_mut(scope) {
                names.remove(name);
                if names.is_empty() {
                    scopes.remove(scope);
                }
            }
            if scopes.is_empty() {
                self.by_subject.remove(subject);
            }
        }
    }

    /// Drops every RoleBinding (`namespaced`) or every ClusterRoleBinding.
    pub fn clear_bindings(&mut self, namespaced: bool) {
        let doomed: Vec<(Scope, String)> = self
            .bindings
            .keys()
            .filter(|(scope, _)| matches!(scope, Scope::Namespace(_)) == namespaced)
            .cloned()
            .collect();
        for (scope, name) in doomed {
            self.remove_binding(&scope, &name);
        }
    }

    /// Whether RBAC allows `requester` to make `request`.
    pub fn allows(&self, requester: &Requester, request: &Request) -> bool {
        let namespace_scope = request
            .namespace()
            .map(|ns| Scope::Namespace(ns.to_owned()));
        requester.subjects().iter().any(|subject| {
            let Some(scopes) = self.by_subject.get(subject) else {
                return false;
            };
            [Some(Scope::Cluster), namespace_scope.clone()]
                .into_iter()
                .flatten()
                .any(|scope| {
                    scopes.get(&scope).is_some_and(|names| {
                        names
                            .iter()
                            .any(|name| self.binding_allows(&scope, name, request))
                    })
                })
        })
    }

    /// Whether binding `name` of `scope` grants a role with a rule that covers `request`.
    fn binding_allows(&self, scope: &Scope, name: &str, request: &Request) -> bool {
        let Some(binding) = self.bindings.get(&(scope.clone(), name.to_owned())) else {
            return false;
        };
        let rules = match (&binding.role, scope) {
            (RoleRef::ClusterRole(role), _) => self.cluster_roles.get(role),
            (RoleRef::Role(role), Scope::Namespace(ns)) => {
                self.roles.get(&(ns.clone(), role.clone()))
            }
            (RoleRef::Role(_), Scope::Cluster) => None,
        };
        rules.is_some_and(|rules| rules.iter().any(|rule| rule.allows(request)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
        PolicyRule {
            verbs: strings(verbs),
            api_groups: strings(groups),
            resources: strings(resources),
            ..Default::default()
        }
    }

    fn list<'a>(resource: &'a str, namespace: Option<&'a str>) -> Request<'a> {
        Request::Resource {
            verb: "list",
            group: "",
            resource,
            namespace,
            name: None,
        }
    }

    fn user(name: &str) -> Subject {
        Subject::User(name.to_owned())
    }

    const AUTHENTICATED: &[String] = &[];

    fn alice() -> Requester<'static> {
        Requester {
            user: "alice",
            groups: AUTHENTICATED,
        }
    }

    #[test]
    fn rules_match_verbs_groups_resources_and_names_as_kubernetes_does() {
        let pods = rule(&["get", "list"], &[""], &["pods"]);
        assert!(pods.allows(&list("pods", Some("a"))));
        assert!(!pods.allows(&list("services", Some("a"))));
        let watch = Request::Resource {
            verb: "watch",
            group: "",
            resource: "pods",
            namespace: None,
            name: None,
        };
        assert!(!pods.allows(&watch));
        assert!(rule(&["*"], &["*"], &["*"]).allows(&watch));
        let apps = Request::Resource {
            verb: "list",
            group: "apps",
            resource: "deployments",
            namespace: None,
            name: None,
        };
        assert!(!rule(&["list"], &[""], &["*"]).allows(&apps));

        // Subresources: exact, or `*/sub`; `pods` alone does not cover `pods/log`.
        let log = list("pods/log", Some("a"));
        assert!(!pods.allows(&log));
        assert!(rule(&["list"], &[""], &["pods/log"]).allows(&log));
        assert!(rule(&["list"], &[""], &["*/log"]).allows(&log));
        assert!(!rule(&["list"], &[""], &["*/status"]).allows(&log));
        assert!(!rule(&["list"], &[""], &["*/log"]).allows(&list("pods", None)));

        // resourceNames restrict to named requests: a list (no name) is not covered.
        let named = PolicyRule {
            resource_names: strings(&["web"]),
            ..rule(&["get", "list"], &[""], &["pods"])
        };
        assert!(!named.allows(&list("pods", Some("a"))));
        let get = |name| Request::Resource {
            verb: "get",
            group: "",
            resource: "pods",
            namespace: Some("a"),
            name: Some(name),
        };
        assert!(named.allows(&get("web")));
        assert!(!named.allows(&get("db")));
    }

    #[test]
    fn non_resource_urls_match_exactly_or_by_trailing_star() {
        let metrics = PolicyRule {
            verbs: strings(&["get"]),
            non_resource_urls: strings(&["/metrics", "/healthz/*"]),
            ..Default::default()
        };
        let get = |path| Request::NonResource { verb: "get", path };
        assert!(metrics.allows(&get("/metrics")));
        assert!(!metrics.allows(&get("/metrics/x")));
        assert!(metrics.allows(&get("/healthz/ping")));
        assert!(!metrics.allows(&get("/healthz")));
        assert!(!metrics.allows(&Request::NonResource {
            verb: "post",
            path: "/metrics"
        }));
        // A resource rule never covers a path, nor a path rule a resource.
        assert!(!rule(&["*"], &["*"], &["*"]).allows(&get("/metrics")));
        assert!(!metrics.allows(&list("pods", None)));
    }

    #[test]
    fn a_role_binding_grants_in_its_namespace_only() {
        let mut rbac = Rbac::default();
        rbac.set_role("a", "reader", vec![rule(&["list"], &[""], &["pods"])]);
        let binding = Binding {
            role: RoleRef::Role("reader".into()),
            subjects: vec![user("alice")],
        };
        rbac.set_binding(Scope::Namespace("a".into()), "alice", binding.clone());
        assert!(rbac.allows(&alice(), &list("pods", Some("a"))));
        assert!(!rbac.allows(&alice(), &list("pods", Some("b"))));
        assert!(!rbac.allows(&alice(), &list("pods", None)));
        let bob = Requester {
            user: "bob",
            groups: AUTHENTICATED,
        };
        assert!(!rbac.allows(&bob, &list("pods", Some("a"))));

        // A RoleBinding refers to the Role of its own namespace: the same binding in `b` finds no role.
        rbac.set_binding(Scope::Namespace("b".into()), "alice", binding);
        assert!(!rbac.allows(&alice(), &list("pods", Some("b"))));

        // Removing the role or the binding revokes.
        rbac.remove_role("a", "reader");
        assert!(!rbac.allows(&alice(), &list("pods", Some("a"))));
        rbac.set_role("a", "reader", vec![rule(&["list"], &[""], &["pods"])]);
        assert!(rbac.allows(&alice(), &list("pods", Some("a"))));
        rbac.remove_binding(&Scope::Namespace("a".into()), "alice");
        assert!(!rbac.allows(&alice(), &list("pods", Some("a"))));
    }

    #[test]
    fn cluster_roles_grant_through_either_kind_of_binding() {
        let mut rbac = Rbac::default();
        rbac.set_cluster_role("pods", vec![rule(&["list"], &[""], &["pods"])]);
        let to_group = Binding {
            role: RoleRef::ClusterRole("pods".into()),
            subjects: vec![Subject::Group("dev".into())],
        };
        rbac.set_binding(Scope::Namespace("a".into()), "dev", to_group.clone());
        let groups = strings(&["dev", "system:authenticated"]);
        let carol = Requester {
            user: "carol",
            groups: &groups,
        };
        assert!(rbac.allows(&carol, &list("pods", Some("a"))));
        assert!(!rbac.allows(&carol, &list("pods", None)));
        rbac.set_binding(Scope::Cluster, "dev", to_group);
        assert!(rbac.allows(&carol, &list("pods", None)));
        assert!(rbac.allows(&carol, &list("pods", Some("z"))));
        // A ClusterRoleBinding to a Role is meaningless.
        rbac.set_binding(
            Scope::Cluster,
            "dev",
            Binding {
                role: RoleRef::Role("pods".into()),
                subjects: vec![Subject::Group("dev".into())],
            },
        );
        assert!(!rbac.allows(&carol, &list("pods", Some("z"))));
        assert!(rbac.allows(&carol, &list("pods", Some("a"))));
        rbac.clear_bindings(true);
        assert!(!rbac.allows(&carol, &list("pods", Some("a"))));
        let scopes: Vec<&Scope> = rbac.by_subject[&Subject::Group("dev".into())]
            .keys()
            .collect();
        assert_eq!(scopes, [&Scope::Cluster]);
    }

    #[test]
    fn service_accounts_are_named_by_namespace_and_name() {
        let in_a = Scope::Namespace("a".into());
        assert_eq!(
            Subject::resolve("ServiceAccount", "robot", None, &in_a),
            Some(Subject::ServiceAccount {
                namespace: "a".into(),
                name: "robot".into()
            })
        );
        assert_eq!(
            Subject::resolve("ServiceAccount", "robot", Some(""), &Scope::Cluster),
            None
        );
        assert_eq!(Subject::resolve("Robot", "x", None, &in_a), None);

        let mut rbac = Rbac::default();
        rbac.set_cluster_role("pods", vec![rule(&["list"], &[""], &["pods"])]);
        let subject = Subject::resolve("ServiceAccount", "robot", Some("b"), &in_a).unwrap();
        rbac.set_binding(
            in_a,
            "robot",
            Binding {
                role: RoleRef::ClusterRole("pods".into()),
                subjects: vec![subject],
            },
        );
        let robot = |user| Requester {
            user,
            groups: AUTHENTICATED,
        };
        assert!(rbac.allows(
            &robot("system:serviceaccount:b:robot"),
            &list("pods", Some("a"))
        ));
        assert!(!rbac.allows(
            &robot("system:serviceaccount:a:robot"),
            &list("pods", Some("a"))
        ));
        assert!(!rbac.allows(
            &robot("system:serviceaccount:b:robot:x"),
            &list("pods", Some("a"))
        ));
    }

    #[test]
    fn replacing_a_binding_forgets_its_old_subjects() {
        let mut rbac = Rbac::default();
        rbac.set_cluster_role("pods", vec![rule(&["list"], &[""], &["pods"])]);
        let to = |who: &str| Binding {
            role: RoleRef::ClusterRole("pods".into()),
            subjects: vec![user(who)],
        };
        rbac.set_binding(Scope::Cluster, "b", to("alice"));
        rbac.set_binding(Scope::Cluster, "b", to("bob"));
        assert!(!rbac.allows(&alice(), &list("pods", None)));
        assert!(!rbac.by_subject.contains_key(&user("alice")));
        rbac.clear_bindings(false);
        assert!(rbac.by_subject.is_empty());
        assert!(rbac.bindings.is_empty());
    }
}
