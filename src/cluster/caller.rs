//! Writes on behalf of a caller (api §0.4): a kube client that presents the caller's own credential, so
//! kube-apiserver applies RBAC and admission to the caller, never to this server.

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::config::AuthInfo;
use kube::{Client, Config};

use crate::auth::{AUTHENTICATED_GROUP, Caller, Credential};
use crate::config::WriteIdentity;

/// Field manager of every write the product makes.
pub const FIELD_MANAGER: &str = "ks-network-apiserver";

/// A kube client acting as one caller.
#[derive(Clone)]
pub struct CallerClient {
    client: Client,
}

impl CallerClient {
    /// A client for `caller` on the cluster of `base` (the server's own configuration): with the caller's
    /// bearer token when they sent one and `identity` is `Auto`, else the server's own credentials with
    /// impersonation headers naming the caller (user, uid, groups, extra).
    pub fn new(
        base: &Config,
        caller: &Caller,
        identity: WriteIdentity,
    ) -> Result<Self, kube::Error> {
        let mut config = base.clone();
        config.auth_info = presenting(&base.auth_info, caller, identity);
        Ok(Self {
            client: Client::try_from(config)?,
        })
    }

    /// Reads a namespace from kube-apiserver (after a conflict: the cache may be behind).
    pub async fn get_namespace(&self, name: &str) -> Result<Namespace, kube::Error> {
        Api::<Namespace>::all(self.client.clone()).get(name).await
    }

    /// JSON merge patch of a namespace.
    pub async fn patch_namespace(
        &self,
        name: &str,
        patch: &serde_json::Value,
    ) -> Result<Namespace, kube::Error> {
        Api::<Namespace>::all(self.client.clone())
            .patch(name, &patch_params(), &Patch::Merge(patch))
            .await
    }

    /// JSON merge patch of a namespaced object of any kind.
    pub async fn patch_namespaced(
        &self,
        resource: &ApiResource,
        namespace: &str,
        name: &str,
        patch: &serde_json::Value,
    ) -> Result<DynamicObject, kube::Error> {
        Api::<DynamicObject>::namespaced_with(self.client.clone(), namespace, resource)
            .patch(name, &patch_params(), &Patch::Merge(patch))
            .await
    }
}

/// A request forwarded verbatim to kube-apiserver.
pub struct Forward<'a> {
    pub method: Method,
    /// Path and query, e.g. `/apis/networking.k8s.io/v1/namespaces/a/networkpolicies?dryRun=All`.
    pub path_and_query: String,
    /// Content type of the body (when there is one).
    pub content_type: Option<&'a str>,
    pub body: Vec<u8>,
}

impl CallerClient {
    /// Sends a request as the caller and returns kube-apiserver's status and body unchanged (errors included).
    pub async fn forward(&self, forward: Forward<'_>) -> Result<(StatusCode, Bytes), kube::Error> {
        let mut request = Request::builder()
            .method(forward.method)
            .uri(forward.path_and_query)
            .header(header::ACCEPT, "application/json");
        if let Some(content_type) = forward.content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let request = request
            .body(kube::client::Body::from(forward.body))
            .map_err(kube::Error::HttpError)?;
        let response = self.client.send(request).await?;
        let status = response.status();
        let body = response.into_body().collect_bytes().await?;
        Ok((status, body))
    }
}

/// The credentials a write as `caller` carries, given the server's `own`.
fn presenting(own: &AuthInfo, caller: &Caller, identity: WriteIdentity) -> AuthInfo {
    match (&caller.credential, identity) {
        (Credential::BearerToken(token), WriteIdentity::Auto) => AuthInfo {
            token: Some(token.clone().into()),
            ..AuthInfo::default()
        },
        (Credential::BearerToken(_) | Credential::FrontProxy, _) => {
            impersonating(own.clone(), caller)
        }
    }
}

/// `own` (the server's credentials) asking kube-apiserver to act as `caller`. `system:authenticated` is left
/// out: kube-apiserver adds it to every impersonated user itself.
fn impersonating(mut own: AuthInfo, caller: &Caller) -> AuthInfo {
    let identity = &caller.identity;
    own.impersonate = Some(identity.user.clone());
    own.impersonate_uid = identity.uid.clone();
    let groups: Vec<String> = identity
        .groups
        .iter()
        .filter(|g| *g != AUTHENTICATED_GROUP)
        .cloned()
        .collect();
    own.impersonate_groups = (!groups.is_empty()).then_some(groups);
    own.impersonate_user_extra = (!identity.extra.is_empty()).then(|| {
        identity
            .extra
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    });
    own
}

fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::auth::Identity;

    fn caller(credential: Credential) -> Caller {
        Caller {
            identity: Identity {
                user: "alice".into(),
                uid: Some("42".into()),
                groups: vec!["dev".into(), AUTHENTICATED_GROUP.into()],
                extra: BTreeMap::from([("scopes".to_owned(), vec!["a".to_owned()])]),
            },
            credential,
        }
    }

    fn own() -> AuthInfo {
        AuthInfo {
            token: Some("server-token".to_owned().into()),
            ..AuthInfo::default()
        }
    }

    fn token_of(info: &AuthInfo) -> Option<String> {
        use secrecy::ExposeSecret;
        info.token.as_ref().map(|t| t.expose_secret().to_owned())
    }

    #[test]
    fn bearer_callers_write_with_their_own_token() {
        let info = presenting(
            &own(),
            &caller(Credential::BearerToken("alice-token".into())),
            WriteIdentity::Auto,
        );
        assert_eq!(token_of(&info).as_deref(), Some("alice-token"));
        assert_eq!(info.impersonate, None);
    }

    #[test]
    fn front_proxy_callers_and_impersonate_mode_use_impersonation() {
        for (credential, mode) in [
            (Credential::FrontProxy, WriteIdentity::Auto),
            (Credential::FrontProxy, WriteIdentity::Impersonate),
            (
                Credential::BearerToken("alice-token".into()),
                WriteIdentity::Impersonate,
            ),
        ] {
            let info = presenting(&own(), &caller(credential), mode);
            assert_eq!(token_of(&info).as_deref(), Some("server-token"));
            assert_eq!(info.impersonate.as_deref(), Some("alice"));
            assert_eq!(info.impersonate_uid.as_deref(), Some("42"));
            // kube-apiserver adds system:authenticated itself.
            assert_eq!(info.impersonate_groups, Some(vec!["dev".to_owned()]));
            let extra = info.impersonate_user_extra.unwrap();
            assert_eq!(extra.get("scopes"), Some(&vec!["a".to_owned()]));
        }
    }
}
