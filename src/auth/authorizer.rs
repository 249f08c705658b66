//! Authorization on the underlying Kubernetes resources (api §8): permissions are asked of an
//! [`AccessReviewer`] (in production [`SubjectAccessReviews`], `authorization.k8s.io/v1`
//! SubjectAccessReviews against kube-apiserver), and the answers are cached.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::Client;
use kube::api::{Api, ApiResource, PostParams};

use super::review_cache::{AuthMetrics, Review, ReviewCache};
use super::{AuthError, Identity};
use crate::domain::rbac::Request;

/// The Kubernetes verbs this server asks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    /// Read one object.
    Get,
    /// Read a collection.
    List,
    /// Change an object with a patch.
    Patch,
}

impl Verb {
    /// The verb as RBAC spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Patch => "patch",
        }
    }
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a caller wants to do: a verb on a resource (optionally in a namespace, optionally one object).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// A resource request.
    Resource {
        /// What the caller wants to do.
        verb: Verb,
        /// API group, `""` for core.
        group: String,
        /// Plural resource name.
        resource: String,
        /// Namespace; `None` for cluster scope.
        namespace: Option<String>,
        /// Object name; `None` for collections.
        name: Option<String>,
    },
    /// A non-resource request (e.g. `get /metrics`).
    NonResource {
        /// What the caller wants to do.
        verb: Verb,
        /// The path.
        path: String,
    },
}

impl Access {
    /// `verb` on `resource`, cluster-wide.
    pub fn to(verb: Verb, resource: &ApiResource) -> Self {
        Access::Resource {
            verb,
            group: resource.group.clone(),
            resource: resource.plural.clone(),
            namespace: None,
            name: None,
        }
    }

    /// The same access restricted to a namespace.
    pub fn in_namespace(mut self, ns: &str) -> Self {
        if let Access::Resource { namespace, .. } = &mut self {
            *namespace = Some(ns.to_owned());
        }
        self
    }

    /// The same access on one named object.
    pub fn named(mut self, object: &str) -> Self {
        if let Access::Resource { name, .. } = &mut self {
            *name = Some(object.to_owned());
        }
        self
    }

    /// The same question for RBAC evaluation.
    pub fn as_request(&self) -> Request<'_> {
        match self {
            Access::Resource {
                verb,
                group,
                resource,
                namespace,
                name,
            } => Request::Resource {
                verb: verb.as_str(),
                group,
                resource,
                namespace: namespace.as_deref(),
                name: name.as_deref(),
            },
            Access::NonResource { verb, path } => Request::NonResource {
                verb: verb.as_str(),
                path,
            },
        }
    }

    /// kube-apiserver's wording of a denial, e.g. `pods is forbidden: User "alice" cannot list resource
    /// "pods" in API group "" in the namespace "demo"`.
    pub fn forbidden_message(&self, user: &str) -> String {
        match self {
            Access::Resource {
                verb,
                group,
                resource,
                namespace,
                name,
            } => {
                let qualified = if group.is_empty() {
                    resource.clone()
                } else {
                    format!("{resource}.{group}")
                };
                let subject = match name {
                    Some(name) => format!("{qualified} \"{name}\""),
                    None => qualified,
                };
                let scope = match namespace {
                    Some(ns) => format!("in the namespace \"{ns}\""),
                    None => "at the cluster scope".to_owned(),
                };
                format!(
                    "{subject} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{group}\" {scope}"
                )
            }
            Access::NonResource { verb, path } => {
                format!("forbidden: User \"{user}\" cannot {verb} path \"{path}\"")
            }
        }
    }
}

/// Answers "may this identity do this?" for identities outside `system:masters`.
pub trait AccessReviewer: Send + Sync {
    /// Whether `identity` may perform `access`, or an error when the question could not be answered.
    fn review<'a>(
        &'a self,
        identity: &'a Identity,
        access: &'a Access,
    ) -> BoxFuture<'a, Result<bool, AuthError>>;
}

/// Grants known without asking kube-apiserver: RBAC evaluated from watched roles and bindings (RBAC only ever
/// allows, so a grant found there is kube-apiserver's answer too, unless an authorizer placed before RBAC denies).
pub trait LocalGrants: Send + Sync {
    /// Whether `identity` is certainly allowed `access`; `false` means "ask kube-apiserver".
    fn grants(&self, identity: &Identity, access: &Access) -> bool;
}

/// Answers "may this identity do this?": from [`LocalGrants`] when they allow it, else with cached answers of
/// an [`AccessReviewer`].
pub struct Authorizer {
    reviewer: Arc<dyn AccessReviewer>,
    answers: ReviewCache<(Identity, Access), bool>,
    local: Option<Arc<dyn LocalGrants>>,
}

impl Authorizer {
    /// An authorizer asking kube-apiserver through `client` (SubjectAccessReviews).
    pub fn new(client: Client, ttl: Duration, max_entries: NonZeroUsize) -> Self {
        Self::with_reviewer(Arc::new(SubjectAccessReviews { client }), ttl, max_entries)
    }

    /// An authorizer asking `reviewer`, caching at most `max_entries` answers for `ttl` each (0
    /// disables caching).
    pub fn with_reviewer(
        reviewer: Arc<dyn AccessReviewer>,
        ttl: Duration,
        max_entries: NonZeroUsize,
    ) -> Self {
        Self {
            reviewer,
            answers: ReviewCache::new(ttl, max_entries),
            local: None,
        }
    }

    /// The same authorizer, trusting the grants of `local` without a review.
    pub fn with_local_grants(mut self, local: Arc<dyn LocalGrants>) -> Self {
        self.local = Some(local);
        self
    }

    /// Counts access lookups and SubjectAccessReviews in `metrics`.
    pub fn with_metrics(mut self, metrics: &AuthMetrics) -> Self {
        self.answers.count_in(metrics, Review::Access);
        self
    }

    /// An authorizer that lets `system:masters` do anything and denies everyone else without asking anybody:
    /// for serving fixed content without kube-apiserver (route tests, benchmarks).
    pub fn masters_only() -> Self {
        Self::with_reviewer(Arc::new(DenyAll), Duration::ZERO, NonZeroUsize::MIN)
    }

    /// Whether `identity` may perform `access`. Members of `system:masters` always may.
    pub async fn allowed(&self, identity: &Identity, access: &Access) -> Result<bool, AuthError> {
        if identity.is_master()
            || self
                .local
                .as_ref()
                .is_some_and(|l| l.grants(identity, access))
        {
            return Ok(true);
        }
        let review = || {
            let reviewer = Arc::clone(&self.reviewer);
            let (identity, access) = (identity.clone(), access.clone());
            async move { reviewer.review(&identity, &access).await }.boxed()
        };
        let key = (identity.clone(), access.clone());
        self.answers.get_or_review(key, review).await
    }
}

/// Denies everything.
struct DenyAll;

impl AccessReviewer for DenyAll {
    fn review<'a>(
        &'a self,
        _: &'a Identity,
        _: &'a Access,
    ) -> BoxFuture<'a, Result<bool, AuthError>> {
        Box::pin(std::future::ready(Ok(false)))
    }
}

/// `authorization.k8s.io/v1` SubjectAccessReviews against kube-apiserver.
struct SubjectAccessReviews {
    client: Client,
}

impl AccessReviewer for SubjectAccessReviews {
    fn review<'a>(
        &'a self,
        identity: &'a Identity,
        access: &'a Access,
    ) -> BoxFuture<'a, Result<bool, AuthError>> {
        Box::pin(async move {
            let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
            let answer = api
                .create(&PostParams::default(), &review(identity, access))
                .await?;
            Ok(answer.status.is_some_and(|s| s.allowed))
        })
    }
}

fn review(identity: &Identity, access: &Access) -> SubjectAccessReview {
    let (resource_attributes, non_resource_attributes) = match access {
        Access::Resource {
            verb,
            group,
            resource,
            namespace,
            name,
        } => (
            Some(ResourceAttributes {
                verb: Some(verb.to_string()),
                group: Some(group.clone()),
                resource: Some(resource.clone()),
                namespace: namespace.clone(),
                name: name.clone(),
                ..Default::default()
            }),
            None,
        ),
        Access::NonResource { verb, path } => (
            None,
            Some(NonResourceAttributes {
                verb: Some(verb.to_string()),
                path: Some(path.clone()),
            }),
        ),
    };
    SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(identity.user.clone()),
            uid: identity.uid.clone(),
            groups: Some(identity.groups.clone()),
            extra: (!identity.extra.is_empty()).then(|| identity.extra.clone()),
            resource_attributes,
            non_resource_attributes,
        },
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_messages_match_kubernetes() {
        let nsnps = ApiResource::erase::<crate::cluster::kubesphere::NamespaceNetworkPolicy>(&());
        let access = Access::to(Verb::List, &nsnps).in_namespace("demo");
        assert_eq!(
            access.forbidden_message("alice"),
            "namespacenetworkpolicies.network.kubesphere.io is forbidden: User \"alice\" cannot list resource \"namespacenetworkpolicies\" in API group \"network.kubesphere.io\" in the namespace \"demo\""
        );
        let namespaces = ApiResource::erase::<k8s_openapi::api::core::v1::Namespace>(&());
        let access = Access::to(Verb::Get, &namespaces).named("x");
        assert_eq!(
            access.forbidden_message("bob"),
            "namespaces \"x\" is forbidden: User \"bob\" cannot get resource \"namespaces\" in API group \"\" at the cluster scope"
        );
    }

    /// Allows everything; counts reviews, which wait for `release`.
    struct Gate {
        calls: std::sync::atomic::AtomicUsize,
        release: tokio::sync::Notify,
    }

    impl AccessReviewer for Gate {
        fn review<'a>(
            &'a self,
            _: &'a Identity,
            _: &'a Access,
        ) -> BoxFuture<'a, Result<bool, AuthError>> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async move {
                self.release.notified().await;
                Ok(true)
            })
        }
    }

    #[tokio::test]
    async fn concurrent_identical_checks_share_one_review() {
        let gate = Arc::new(Gate {
            calls: Default::default(),
            release: Default::default(),
        });
        let max_entries = NonZeroUsize::new(16).unwrap();
        let authorizer = Arc::new(Authorizer::with_reviewer(
            gate.clone(),
            Duration::from_secs(60),
            max_entries,
        ));
        let identity = Identity {
            user: "alice".into(),
            uid: None,
            groups: vec!["system:authenticated".into()],
            extra: Default::default(),
        };
        let pods = ApiResource::erase::<k8s_openapi::api::core::v1::Pod>(&());
        let access = Access::to(Verb::List, &pods);
        let checks: Vec<_> = (0..20)
            .map(|_| {
                let (authorizer, identity, access) =
                    (authorizer.clone(), identity.clone(), access.clone());
                tokio::spawn(async move { authorizer.allowed(&identity, &access).await })
            })
            .collect();
        let key = (identity, access);
        while authorizer.answers.waiting(&key) < checks.len() {
            tokio::task::yield_now().await;
        }
        gate.release.notify_one();
        for check in checks {
            assert!(check.await.unwrap().unwrap());
        }
        assert_eq!(gate.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn reviews_carry_the_whole_identity() {
        let identity = Identity {
            user: "alice".into(),
            uid: Some("u1".into()),
            groups: vec!["dev".into(), "system:authenticated".into()],
            extra: [("scopes".to_owned(), vec!["a".to_owned()])].into(),
        };
        let pods = ApiResource::erase::<k8s_openapi::api::core::v1::Pod>(&());
        let access = Access::to(Verb::List, &pods).in_namespace("demo");
        let spec = review(&identity, &access).spec;
        assert_eq!(spec.user.as_deref(), Some("alice"));
        assert_eq!(spec.uid.as_deref(), Some("u1"));
        assert_eq!(spec.groups.unwrap().len(), 2);
        assert_eq!(spec.extra.unwrap()["scopes"], vec!["a".to_owned()]);
        let attrs = spec.resource_attributes.unwrap();
        assert_eq!(attrs.namespace.as_deref(), Some("demo"));
        assert_eq!(attrs.verb.as_deref(), Some("list"));
    }
}
