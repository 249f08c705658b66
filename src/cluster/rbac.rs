//! RBAC from watched Roles, ClusterRoles, RoleBindings and ClusterRoleBindings (`auth.localRbac`): what
//! kube-apiserver's RBAC authorizer would allow, answered without a SubjectAccessReview. The caches keep only
//! names, rules, role references and subjects; an index by subject (`domain::rbac::Rbac`) follows them.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, PoisonError, RwLock};

use k8s_openapi::api::rbac::v1 as rbac;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::cache::{Cache, CacheInfo, Observer, SyncState};
use super::identifying;
use crate::auth::{Access, Identity, LocalGrants};
use crate::domain::rbac::{Binding, PolicyRule, Rbac, Request, Requester, RoleRef, Scope, Subject};

/// The scope of a binding or role with `metadata`.
fn scope_of(metadata: &ObjectMeta) -> Scope {
    match &metadata.namespace {
        Some(ns) => Scope::Namespace(ns.clone()),
        None => Scope::Cluster,
    }
}

fn name_of(metadata: &ObjectMeta) -> &str {
    metadata.name.as_deref().unwrap_or_default()
}

/// A Role or ClusterRole.
pub trait RoleKind: Resource<DynamicType = ()> + DeserializeOwned + 'static {
    /// The object's metadata and rules, taken out of it.
    fn into_parts(self) -> (ObjectMeta, Vec<rbac::PolicyRule>);
}

impl RoleKind for rbac::Role {
    fn into_parts(self) -> (ObjectMeta, Vec<rbac::PolicyRule>) {
        (self.metadata, self.rules.unwrap_or_default())
    }
}

impl RoleKind for rbac::ClusterRole {
    fn into_parts(self) -> (ObjectMeta, Vec<rbac::PolicyRule>) {
        (self.metadata, self.rules.unwrap_or_default())
    }
}

/// A cached Role or ClusterRole: its name and rules.
pub struct Rules<K> {
    pub metadata: ObjectMeta,
    pub rules: Arc<[PolicyRule]>,
    kind: PhantomData<fn() -> K>,
}

impl<K: RoleKind> From<K> for Rules<K> {
    fn from(object: K) -> Self {
        let (metadata, rules) = object.into_parts();
        let rules = rules
            .into_iter()
            .map(|r| PolicyRule {
                verbs: r.verbs,
                api_groups: r.api_groups.unwrap_or_default(),
                resources: r.resources.unwrap_or_default(),
                resource_names: r.resource_names.unwrap_or_default(),
                non_resource_urls: r.non_resource_urls.unwrap_or_default(),
            })
            .collect();
        Rules {
            metadata: identifying(metadata),
            rules,
            kind: PhantomData,
        }
    }
}

/// A RoleBinding or ClusterRoleBinding.
pub trait BindingKind: Resource<DynamicType = ()> + DeserializeOwned + 'static {
    /// The object's metadata, role reference and subjects, taken out of it.
    fn into_parts(self) -> (ObjectMeta, rbac::RoleRef, Vec<rbac::Subject>);
}

impl BindingKind for rbac::RoleBinding {
    fn into_parts(self) -> (ObjectMeta, rbac::RoleRef, Vec<rbac::Subject>) {
        (
            self.metadata,
            self.role_ref,
            self.subjects.unwrap_or_default(),
        )
    }
}

impl BindingKind for rbac::ClusterRoleBinding {
    fn into_parts(self) -> (ObjectMeta, rbac::RoleRef, Vec<rbac::Subject>) {
        (
            self.metadata,
            self.role_ref,
            self.subjects.unwrap_or_default(),
        )
    }
}

/// A cached RoleBinding or ClusterRoleBinding: its name and what it grants to whom; `binding` is `None` when
/// it refers to something that is not a role.
pub struct Bound<K> {
    pub metadata: ObjectMeta,
    pub binding: Option<Binding>,
    kind: PhantomData<fn() -> K>,
}

impl<K: BindingKind> From<K> for Bound<K> {
    fn from(object: K) -> Self {
        let (metadata, role_ref, subjects) = object.into_parts();
        let scope = scope_of(&metadata);
        let role = match role_ref.kind.as_str() {
            "Role" => Some(RoleRef::Role(role_ref.name)),
            "ClusterRole" => Some(RoleRef::ClusterRole(role_ref.name)),
            _ => None,
        };
        let binding = role.map(|role| Binding {
            role,
            subjects: subjects
                .iter()
                .filter_map(|s| Subject::resolve(&s.kind, &s.name, s.namespace.as_deref(), &scope))
                .collect(),
        });
        Bound {
            metadata: identifying(metadata),
            binding,
            kind: PhantomData,
        }
    }
}

impl<K> Clone for Rules<K> {
    fn clone(&self) -> Self {
        Rules {
            metadata: self.metadata.clone(),
            rules: self.rules.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> Clone for Bound<K> {
    fn clone(&self) -> Self {
        Bound {
            metadata: self.metadata.clone(),
            binding: self.binding.clone(),
            kind: PhantomData,
        }
    }
}

impl<K: RoleKind> fmt::Debug for Rules<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(&K::kind(&()))
            .field("metadata", &self.metadata)
            .field("rules", &self.rules)
            .finish()
    }
}

impl<K: BindingKind> fmt::Debug for Bound<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(&K::kind(&()))
            .field("metadata", &self.metadata)
            .field("binding", &self.binding)
            .finish()
    }
}

impl<'de, K: RoleKind> Deserialize<'de> for Rules<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        K::deserialize(deserializer).map(Rules::from)
    }
}

impl<'de, K: BindingKind> Deserialize<'de> for Bound<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        K::deserialize(deserializer).map(Bound::from)
    }
}

resource_like!([K: RoleKind] Rules<K>, K);
resource_like!([K: BindingKind] Bound<K>, K);

/// Roles of one kind as the index sees them.
trait IndexedRole: RoleKind {
    /// Whether objects of this kind live in namespaces (Role) or not (ClusterRole).
    const NAMESPACED: bool;
}

impl IndexedRole for rbac::Role {
    const NAMESPACED: bool = true;
}

impl IndexedRole for rbac::ClusterRole {
    const NAMESPACED: bool = false;
}

/// Bindings of one kind as the index sees them.
trait IndexedBinding: BindingKind {
    /// Whether objects of this kind live in namespaces (RoleBinding) or not (ClusterRoleBinding).
    const NAMESPACED: bool;
}

impl IndexedBinding for rbac::RoleBinding {
    const NAMESPACED: bool = true;
}

impl IndexedBinding for rbac::ClusterRoleBinding {
    const NAMESPACED: bool = false;
}

/// The subject index, fed by the four caches.
#[derive(Default)]
pub struct RbacIndex(RwLock<Rbac>);

impl RbacIndex {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Rbac> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether RBAC allows `requester` to make `request`.
    pub fn allows(&self, requester: &Requester, request: &Request) -> bool {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .allows(requester, request)
    }
}

fn set_rules<K: IndexedRole>(rbac: &mut Rbac, role: &Rules<K>) {
    let name = name_of(&role.metadata);
    match &role.metadata.namespace {
        Some(ns) if K::NAMESPACED => rbac.set_role(ns, name, role.rules.clone()),
        None if !K::NAMESPACED => rbac.set_cluster_role(name, role.rules.clone()),
        _ => {}
    }
}

fn set_binding<K: IndexedBinding>(rbac: &mut Rbac, bound: &Bound<K>) {
    let scope = scope_of(&bound.metadata);
    let name = name_of(&bound.metadata);
    match &bound.binding {
        Some(binding) => rbac.set_binding(scope, name, binding.clone()),
        None => rbac.remove_binding(&scope, name),
    }
}

impl<K: IndexedRole> Observer<Rules<K>> for RbacIndex {
    fn applied(&self, role: &Arc<Rules<K>>) {
        set_rules(&mut self.write(), role);
    }

    fn deleted(&self, role: &Rules<K>) {
        let name = name_of(&role.metadata);
        let mut rbac = self.write();
        match &role.metadata.namespace {
            Some(ns) => rbac.remove_role(ns, name),
            None => rbac.remove_cluster_role(name),
        }
    }

    fn replaced(&self, roles: &[Arc<Rules<K>>]) {
        let mut rbac = self.write();
        rbac.clear_roles(K::NAMESPACED);
        roles.iter().for_each(|role| set_rules(&mut rbac, role));
    }
}

impl<K: IndexedBinding> Observer<Bound<K>> for RbacIndex {
    fn applied(&self, bound: &Arc<Bound<K>>) {
        set_binding(&mut self.write(), bound);
    }

    fn deleted(&self, bound: &Bound<K>) {
        let name = name_of(&bound.metadata);
        self.write()
            .remove_binding(&scope_of(&bound.metadata), name);
    }

    fn replaced(&self, bindings: &[Arc<Bound<K>>]) {
        let mut rbac = self.write();
        rbac.clear_bindings(K::NAMESPACED);
        bindings.iter().for_each(|b| set_binding(&mut rbac, b));
    }
}

/// The four RBAC caches and their index: [`LocalGrants`] while all four are synced and watched.
pub struct RbacCaches {
    pub roles: Cache<Rules<rbac::Role>>,
    pub cluster_roles: Cache<Rules<rbac::ClusterRole>>,
    pub role_bindings: Cache<Bound<rbac::RoleBinding>>,
    pub cluster_role_bindings: Cache<Bound<rbac::ClusterRoleBinding>>,
    pub index: Arc<RbacIndex>,
}

impl RbacCaches {
    /// The caches, type-erased.
    pub fn all(&self) -> [&dyn CacheInfo; 4] {
        [
            &self.roles,
            &self.cluster_roles,
            &self.role_bindings,
            &self.cluster_role_bindings,
        ]
    }

    /// Whether the index holds the cluster's RBAC: every cache synced and no watch failing (a revocation
    /// could be missed while one fails).
    fn current(&self) -> bool {
        self.all()
            .iter()
            .all(|c| c.state() == SyncState::Synced && !c.watch_health().is_failing())
    }
}

impl LocalGrants for RbacCaches {
    fn grants(&self, identity: &Identity, access: &Access) -> bool {
        if !self.current() {
            return false;
        }
        let requester = Requester {
            user: &identity.user,
            groups: &identity.groups,
        };
        self.index.allows(&requester, &access.as_request())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Verb;
    use crate::cluster::Caches;
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::ApiResource;
    use serde_json::json;

    fn identity(user: &str, groups: &[&str]) -> Identity {
        Identity {
            user: user.into(),
            uid: None,
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            extra: Default::default(),
        }
    }

    fn objects() -> Vec<serde_json::Value> {
        let rbac = "rbac.authorization.k8s.io/v1";
        vec![
            json!({"apiVersion": rbac, "kind": "ClusterRole",
                "metadata": {"name": "pods", "labels": {"a": "b"}, "annotations": {"kubesphere.io/description": "x"}},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]}),
            json!({"apiVersion": rbac, "kind": "Role", "metadata": {"name": "svc", "namespace": "a"},
                "rules": [{"apiGroups": [""], "resources": ["services"], "verbs": ["get"]}]}),
            // An account without a namespace in a RoleBinding is the binding's namespace's.
            json!({"apiVersion": rbac, "kind": "RoleBinding", "metadata": {"name": "robot", "namespace": "a"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pods"},
                "subjects": [{"kind": "ServiceAccount", "name": "robot"}]}),
            json!({"apiVersion": rbac, "kind": "RoleBinding", "metadata": {"name": "svc", "namespace": "a"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "svc"},
                "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "dev"}]}),
            json!({"apiVersion": rbac, "kind": "ClusterRoleBinding", "metadata": {"name": "ops"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pods"},
                "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "ops"}]}),
        ]
    }

    #[test]
    fn watched_roles_and_bindings_grant_as_rbac_does() {
        let caches = Caches::holding(&objects());
        let rbac = caches.rbac.as_ref().unwrap();
        let pods = Access::to(Verb::List, &ApiResource::erase::<Pod>(&()));
        let services = Access::to(
            Verb::Get,
            &ApiResource::erase::<k8s_openapi::api::core::v1::Service>(&()),
        );
        let robot = identity("system:serviceaccount:a:robot", &["system:authenticated"]);
        assert!(rbac.grants(&robot, &pods.clone().in_namespace("a")));
        assert!(!rbac.grants(&robot, &pods.clone().in_namespace("b")));
        assert!(!rbac.grants(&robot, &pods));
        let dev = identity("carol", &["dev", "system:authenticated"]);
        assert!(rbac.grants(&dev, &services.clone().in_namespace("a").named("web")));
        assert!(!rbac.grants(&dev, &pods.clone().in_namespace("a")));
        let ops = identity("ops", &["system:authenticated"]);
        assert!(rbac.grants(&ops, &pods));
        assert!(!rbac.grants(&identity("eve", &[]), &pods.in_namespace("a")));

        // Only what identifies an object is kept of its metadata.
        let role = &rbac.cluster_roles.store().state()[0];
        assert_eq!(role.metadata.name.as_deref(), Some("pods"));
        assert!(role.metadata.labels.is_none() && role.metadata.annotations.is_none());
    }

    #[test]
    fn nothing_is_granted_until_every_cache_has_synced() {
        let mut rbac = Arc::into_inner(Caches::holding(&objects()).rbac.unwrap()).unwrap();
        let pods = Access::to(Verb::List, &ApiResource::erase::<Pod>(&()));
        let ops = identity("ops", &["system:authenticated"]);
        assert!(rbac.grants(&ops, &pods));
        rbac.roles = Cache::syncing();
        assert!(!rbac.grants(&ops, &pods));
    }
}
