//! Front-proxy authentication (api §0.2 step 1): kube-apiserver's aggregator authenticates the user, then
//! calls this server with its front-proxy client certificate and the user in `X-Remote-*` headers. Which
//! CA, names and headers count comes from ConfigMap `kube-system/extension-apiserver-authentication`, kept
//! current by a watch, so a rotated CA is honoured without a restart.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use http::{HeaderMap, HeaderName};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{AUTHENTICATED_GROUP, Identity};

/// Namespace of the ConfigMap kube-apiserver publishes its request-header settings in.
pub const CONFIG_MAP_NAMESPACE: &str = "kube-system";
/// Name of that ConfigMap.
pub const CONFIG_MAP_NAME: &str = "extension-apiserver-authentication";

/// A ConfigMap whose request-header settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FrontProxyError {
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
}

/// What a request's client certificate and headers establish.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// The front proxy vouches for this identity.
    Authenticated(Identity),
    /// Not the front proxy (no certificate, or one the front-proxy CA did not issue): try a bearer token.
    NotFromProxy,
    /// Issued by the front-proxy CA to a name outside `requestheader-allowed-names`: 401.
    NameNotAllowed,
    /// The front proxy without a user header: try a bearer token.
    NoUser,
}

/// kube-apiserver's `--requestheader-*` settings, as published in the ConfigMap.
pub struct RequestHeaderAuth {
    verifier: Arc<dyn ClientCertVerifier>,
    allowed_names: Vec<String>,
    username_headers: Vec<HeaderName>,
    uid_headers: Vec<HeaderName>,
    group_headers: Vec<HeaderName>,
    /// Lower-case.
    extra_prefixes: Vec<String>,
}

impl std::fmt::Debug for RequestHeaderAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestHeaderAuth")
            .field("allowed_names", &self.allowed_names)
            .field("username_headers", &self.username_headers)
            .finish_non_exhaustive()
    }
}

impl RequestHeaderAuth {
    /// The settings in the ConfigMap's `data`; `None` when it names no request-header CA (kube-apiserver
    /// runs without a front proxy).
    pub fn from_config_map(
        data: &BTreeMap<String, String>,
        provider: &Arc<CryptoProvider>,
    ) -> Result<Option<Self>, FrontProxyError> {
        let Some(bundle) = data.get("requestheader-client-ca-file") else {
            return Ok(None);
        };
        let invalid = |key, message: String| FrontProxyError::Invalid { key, message };
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(bundle.as_bytes()) {
            let cert = cert.map_err(|e| invalid("requestheader-client-ca-file", e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| invalid("requestheader-client-ca-file", e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(invalid(
                "requestheader-client-ca-file",
                "no PEM certificate".into(),
            ));
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .build()
            .map_err(|e| invalid("requestheader-client-ca-file", e.to_string()))?;
        let list = |key: &'static str| -> Result<Vec<String>, FrontProxyError> {
            match data.get(key) {
                None => Ok(Vec::new()),
                Some(text) if text.trim().is_empty() => Ok(Vec::new()),
                Some(text) => serde_json::from_str(text).map_err(|e| invalid(key, e.to_string())),
            }
        };
        let headers = |key: &'static str| -> Result<Vec<HeaderName>, FrontProxyError> {
            list(key)?
                .into_iter()
                .map(|name| {
                    HeaderName::try_from(name.as_str()).map_err(|e| invalid(key, e.to_string()))
                })
                .collect()
        };
        Ok(Some(Self {
            verifier,
            allowed_names: list("requestheader-allowed-names")?,
            username_headers: headers("requestheader-username-headers")?,
            uid_headers: headers("requestheader-uid-headers")?,
            group_headers: headers("requestheader-group-headers")?,
            extra_prefixes: list("requestheader-extra-headers-prefix")?
                .into_iter()
                .map(|p| p.to_ascii_lowercase())
                .collect(),
        }))
    }

    /// What `client_certificates` (leaf first) and `headers` establish.
    pub fn authenticate(
        &self,
        client_certificates: &[CertificateDer<'_>],
        headers: &HeaderMap,
    ) -> Verdict {
        let Some((leaf, intermediates)) = client_certificates.split_first() else {
            return Verdict::NotFromProxy;
        };
        if self
            .verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .is_err()
        {
            return Verdict::NotFromProxy;
        }
        if !self.allowed_names.is_empty() {
            let allowed = common_name(leaf).is_some_and(|cn| self.allowed_names.contains(&cn));
            if !allowed {
                return Verdict::NameNotAllowed;
            }
        }
        let Some(user) = self
            .username_headers
            .iter()
            .filter_map(|name| first_value(headers, name))
            .find(|v| !v.is_empty())
        else {
            return Verdict::NoUser;
        };
        let uid = self
            .uid_headers
            .iter()
            .filter_map(|name| first_value(headers, name))
            .find(|v| !v.is_empty());
        let mut groups: Vec<String> = self
            .group_headers
            .iter()
            .flat_map(|name| headers.get_all(name))
            .filter_map(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect();
        if !groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
            groups.push(AUTHENTICATED_GROUP.to_owned());
        }
        let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in headers {
            let name = name.as_str();
            let Some(prefix) = self.extra_prefixes.iter().find(|p| name.starts_with(*p)) else {
                continue;
            };
            let (Some(key), Ok(value)) = (percent_decode(&name[prefix.len()..]), value.to_str())
            else {
                continue;
            };
            extra.entry(key).or_default().push(value.to_owned());
        }
        Verdict::Authenticated(Identity {
            user: user.to_owned(),
            uid: uid.map(str::to_owned),
            groups,
            extra,
        })
    }
}

fn first_value<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The subject CN of a DER certificate.
fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let cn = parsed.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

/// `%XX` escapes decoded (header names are already lower-case), as Kubernetes unescapes extra keys;
/// `None` for a malformed escape or a result that is not UTF-8.
fn percent_decode(key: &str) -> Option<String> {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = key.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The current request-header settings, kept up to date by [`FrontProxy::watch`].
pub struct FrontProxy {
    current: watch::Receiver<Option<Arc<RequestHeaderAuth>>>,
}

impl FrontProxy {
    /// Watches the ConfigMap through `client` until `stop`; until it has been read, and while it names
    /// no CA, nobody is authenticated as coming from the front proxy.
    pub fn watch(
        client: Client,
        provider: Arc<CryptoProvider>,
        stop: CancellationToken,
    ) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let (sender, current) = watch::channel(None);
        let task = async move {
            let api: Api<ConfigMap> = Api::namespaced(client, CONFIG_MAP_NAMESPACE);
            let config =
                watcher::Config::default().fields(&format!("metadata.name={CONFIG_MAP_NAME}"));
            let mut events = watcher::watcher(api, config).default_backoff().boxed();
            loop {
                let event = tokio::select! {
                    _ = stop.cancelled() => return,
                    event = events.next() => event,
                };
                match event {
                    Some(Ok(Event::Apply(map) | Event::InitApply(map))) => {
                        let settings = settings_of(&map, &provider);
                        sender.send_replace(settings);
                    }
                    Some(Ok(Event::Delete(_))) => {
                        warn!(
                            "{CONFIG_MAP_NAMESPACE}/{CONFIG_MAP_NAME} deleted: front-proxy requests are no longer accepted"
                        );
                        sender.send_replace(None);
                    }
                    Some(Ok(Event::Init | Event::InitDone)) => {}
                    Some(Err(error)) => {
                        warn!(%error, "watch of {CONFIG_MAP_NAMESPACE}/{CONFIG_MAP_NAME} failed; retrying")
                    }
                    None => return,
                }
            }
        };
        (Self { current }, task)
    }

    /// What `client_certificates` and `headers` establish under the current settings.
    pub fn authenticate(
        &self,
        client_certificates: &[CertificateDer<'_>],
        headers: &HeaderMap,
    ) -> Verdict {
        if client_certificates.is_empty() {
            return Verdict::NotFromProxy;
        }
        match self.current.borrow().as_deref() {
            Some(settings) => settings.authenticate(client_certificates, headers),
            None => Verdict::NotFromProxy,
        }
    }
}

/// The settings of `map`, or `None` (logged) when it has none or they do not parse.
fn settings_of(map: &ConfigMap, provider: &Arc<CryptoProvider>) -> Option<Arc<RequestHeaderAuth>> {
    let data = map.data.clone().unwrap_or_default();
    match RequestHeaderAuth::from_config_map(&data, provider) {
        Ok(Some(settings)) => {
            info!(allowed_names = ?settings.allowed_names, "front-proxy settings loaded");
            Some(Arc::new(settings))
        }
        Ok(None) => {
            info!(
                "{CONFIG_MAP_NAMESPACE}/{CONFIG_MAP_NAME} names no request-header CA: front-proxy requests are not accepted"
            );
            None
        }
        Err(error) => {
            warn!(%error, "{CONFIG_MAP_NAMESPACE}/{CONFIG_MAP_NAME} unusable: front-proxy requests are not accepted");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn pem(name: &str) -> &'static str {
        match name {
            "front-proxy-ca" => include_str!("testdata/front-proxy-ca.pem"),
            "other-ca" => include_str!("testdata/other-ca.pem"),
            "proxy-client" => include_str!("testdata/proxy-client.pem"),
            "proxy-intruder" => include_str!("testdata/proxy-intruder.pem"),
            "foreign-client" => include_str!("testdata/foreign-client.pem"),
            "proxy-server-only" => include_str!("testdata/proxy-server-only.pem"),
            _ => unreachable!("{name}"),
        }
    }

    fn chain(name: &str) -> Vec<CertificateDer<'static>> {
        vec![CertificateDer::from_pem_slice(pem(name).as_bytes()).unwrap()]
    }

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// The ConfigMap the test control plane's kube-apiserver publishes.
    fn data(allowed: &str) -> BTreeMap<String, String> {
        [
            ("requestheader-client-ca-file", pem("front-proxy-ca")),
            ("requestheader-allowed-names", allowed),
            ("requestheader-username-headers", r#"["X-Remote-User"]"#),
            ("requestheader-group-headers", r#"["X-Remote-Group"]"#),
            (
                "requestheader-extra-headers-prefix",
                r#"["X-Remote-Extra-"]"#,
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn settings(allowed: &str) -> RequestHeaderAuth {
        RequestHeaderAuth::from_config_map(&data(allowed), &provider())
            .unwrap()
            .unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::try_from(*k).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn the_proxy_vouches_for_user_groups_and_extra() {
        let headers = headers(&[
            ("X-Remote-User", "alice"),
            ("X-Remote-Group", "dev"),
            ("X-Remote-Group", "ops"),
            ("X-Remote-Extra-Scopes", "a"),
            ("X-Remote-Extra-Scopes", "b"),
            ("X-Remote-Extra-Example.com%2fteam", "net"),
        ]);
        let verdict =
            settings(r#"["front-proxy-client"]"#).authenticate(&chain("proxy-client"), &headers);
        let expected = Identity {
            user: "alice".into(),
            uid: None,
            groups: vec!["dev".into(), "ops".into(), AUTHENTICATED_GROUP.into()],
            extra: [
                ("example.com/team".to_owned(), vec!["net".to_owned()]),
                ("scopes".to_owned(), vec!["a".to_owned(), "b".to_owned()]),
            ]
            .into(),
        };
        assert_eq!(verdict, Verdict::Authenticated(expected));
    }

    #[test]
    fn certificates_of_another_ca_or_purpose_are_not_the_proxy() {
        let settings = settings(r#"["front-proxy-client"]"#);
        let user = headers(&[("X-Remote-User", "admin")]);
        assert_eq!(
            settings.authenticate(&chain("foreign-client"), &user),
            Verdict::NotFromProxy
        );
        assert_eq!(
            settings.authenticate(&chain("proxy-server-only"), &user),
            Verdict::NotFromProxy
        );
        assert_eq!(settings.authenticate(&[], &user), Verdict::NotFromProxy);
        // A CA certificate presented as the leaf is no client certificate either.
        assert_eq!(
            settings.authenticate(&chain("front-proxy-ca"), &user),
            Verdict::NotFromProxy
        );
    }

    #[test]
    fn names_outside_the_allowed_list_are_refused_and_an_empty_list_allows_any() {
        let user = headers(&[("X-Remote-User", "admin")]);
        assert_eq!(
            settings(r#"["front-proxy-client"]"#).authenticate(&chain("proxy-intruder"), &user),
            Verdict::NameNotAllowed
        );
        assert!(matches!(
            settings("").authenticate(&chain("proxy-intruder"), &user),
            Verdict::Authenticated(_)
        ));
    }

    #[test]
    fn without_a_user_header_the_request_falls_through() {
        let verdict = settings("[]").authenticate(
            &chain("proxy-client"),
            &headers(&[("X-Remote-User", ""), ("X-Remote-Group", "g")]),
        );
        assert_eq!(verdict, Verdict::NoUser);
    }

    #[test]
    fn the_uid_header_is_read_when_listed() {
        let mut data = data("[]");
        data.insert(
            "requestheader-uid-headers".into(),
            r#"["X-Remote-Uid"]"#.into(),
        );
        let settings = RequestHeaderAuth::from_config_map(&data, &provider())
            .unwrap()
            .unwrap();
        let verdict = settings.authenticate(
            &chain("proxy-client"),
            &headers(&[("X-Remote-User", "u"), ("X-Remote-Uid", "42")]),
        );
        let Verdict::Authenticated(identity) = verdict else {
            panic!("{verdict:?}")
        };
        assert_eq!(identity.uid.as_deref(), Some("42"));
    }

    #[test]
    fn config_maps_without_a_ca_or_with_garbage_are_unusable() {
        let provider = provider();
        assert!(
            RequestHeaderAuth::from_config_map(&BTreeMap::new(), &provider)
                .unwrap()
                .is_none()
        );
        let mut garbage = data("[]");
        garbage.insert("requestheader-client-ca-file".into(), "not a pem".into());
        assert!(RequestHeaderAuth::from_config_map(&garbage, &provider).is_err());
        let mut bad_list = data("[]");
        bad_list.insert("requestheader-allowed-names".into(), "front-proxy".into());
        let error = RequestHeaderAuth::from_config_map(&bad_list, &provider).unwrap_err();
        assert!(
            error.to_string().starts_with("requestheader-allowed-names"),
            "{error}"
        );
    }

    #[test]
    fn extra_keys_are_percent_decoded() {
        assert_eq!(percent_decode("a%2fb").as_deref(), Some("a/b"));
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
