//! Configuration: defaults, then the YAML file (`--config`), then `KSNET_*` environment variables, then flags.
//!
//! Every key is addressed by its YAML path (`server.bindAddress`); its environment variable is the path in
//! upper snake case with a `KSNET_` prefix (`KSNET_SERVER_BIND_ADDRESS`), and `--set KEY=VALUE` sets any key
//! from the command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// A configuration problem, always naming the key (or file) at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid YAML for this schema (unknown keys included).
    #[error("config file {path}: {message}")]
    Parse {
        path: PathBuf,
        /// The parser's message, naming the key.
        message: String,
    },
    /// A value fails its check, e.g. a zero timeout or an address that is not `HOST:PORT`.
    #[error("invalid config: {key}: {message}")]
    Invalid {
        /// The key, as its YAML path.
        key: String,
        message: String,
    },
    /// `--set` named a key that does not exist or was not `KEY=VALUE`.
    #[error("invalid config: {0}")]
    UnknownKey(String),
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The whole configuration, as in `config/ks-network-apiserver.yaml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// Path of a kubeconfig file; unset: `KUBECONFIG`, then `~/.kube/config`, then in-cluster.
    pub kubeconfig: Option<PathBuf>,
    /// HTTP listener and request limits.
    pub server: ServerConfig,
    /// Authentication and authorization of callers.
    pub auth: AuthConfig,
    pub log: LogConfig,
    pub cache: CacheConfig,
    /// The reconcilers of the `controller` and `all` modes (algorithms §12.6).
    pub controller: ControllerConfig,
    /// The isolation policy `nsnp-network-isolate` (algorithms §11).
    pub isolation: IsolationConfig,
    /// The Calico IPPool admission webhook (api §6).
    pub webhook: WebhookConfig,
}

/// `webhook.*`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct WebhookConfig {
    /// Whether `POST /validate-crd-projectcalico-org-v1` is served (kube-apiserver calls it over TLS only).
    pub enabled: bool,
}

/// `controller.*`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ControllerConfig {
    /// The Lease that elects the one replica that writes.
    pub leader_election: LeaderElectionConfig,
    /// Every namespace is reconciled this often even without events, seconds.
    pub resync_seconds: u64,
    /// Namespace binding labels → Calico pool annotations (algorithms §4.3).
    pub ippool_binding_sync: bool,
    /// NamespaceNetworkPolicy rendering and isolation policies.
    pub network_policy: NetworkPolicyConfig,
    /// Set `kubernetes.io/metadata.name` on namespaces that lack it (Kubernetes < 1.21, algorithms §12.5).
    pub ensure_namespace_name_label: bool,
}

/// `controller.leaderElection.*`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct LeaderElectionConfig {
    /// `coordination.k8s.io/v1` Lease name.
    pub lease_name: String,
    /// Namespace of the Lease; empty: `POD_NAMESPACE`, else `kubesphere-system`.
    pub namespace: String,
}

/// `controller.networkPolicy.*`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkPolicyConfig {
    /// Whether NSNPs and isolation are turned into NetworkPolicies.
    pub enabled: bool,
}

/// `isolation.*`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct IsolationConfig {
    /// Namespaces whose pods may always reach isolated namespaces (e.g. monitoring).
    pub allowed_ingress_namespaces: Vec<String>,
    /// DNS egress for namespaces whose NSNPs enforce Egress.
    pub dns: DnsConfig,
}

/// `isolation.dns.*`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct DnsConfig {
    /// Whether isolated namespaces with egress rules may reach DNS.
    pub enabled: bool,
    /// NodeLocal DNSCache addresses, allowed on port 53 over TCP and UDP.
    #[serde(rename = "nodeLocalDNSIPs")]
    pub node_local_dns_ips: Vec<String>,
    /// `<namespace>/<name>` of DNS Services; the first that exists with a selector is allowed.
    pub services: Vec<String>,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            leader_election: LeaderElectionConfig::default(),
            resync_seconds: 300,
            ippool_binding_sync: true,
            network_policy: NetworkPolicyConfig::default(),
            ensure_namespace_name_label: true,
        }
    }
}

impl Default for LeaderElectionConfig {
    fn default() -> Self {
        Self {
            lease_name: "ks-network-controller".into(),
            namespace: String::new(),
        }
    }
}

impl Default for NetworkPolicyConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            node_local_dns_ips: vec!["169.254.25.10".into()],
            services: vec!["kube-system/kube-dns".into(), "kube-system/coredns".into()],
        }
    }
}

/// `server.*`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ServerConfig {
    /// Listen address, `HOST:PORT`.
    pub bind_address: String,
    /// Timeout of every request but migrations and unbinds, seconds.
    pub request_timeout_seconds: u64,
    /// Timeout of `POST …/ippoolmigrations` and `POST …/ippools/{name}/unbind`, seconds; their work goes on
    /// after it.
    pub long_request_timeout_seconds: u64,
    /// Largest accepted request body, bytes.
    pub max_request_body_bytes: usize,
    /// Non-mutating requests served at once; more get a 429 (api §0.7).
    pub max_requests_in_flight: usize,
    /// POST, PUT, PATCH and DELETE requests served at once; more get a 429 (api §0.7).
    pub max_mutating_requests_in_flight: usize,
    /// After SIGTERM, how long `/readyz` answers 503 while every request is still served, seconds.
    pub shutdown_delay_seconds: u64,
    /// How long in-flight requests may take to finish after the delay, seconds.
    pub shutdown_grace_seconds: u64,
    /// Whether `/metrics` needs authentication and a `get /metrics` permission.
    pub metrics_require_auth: bool,
    /// How long a client may take to send a request's headers before the connection is closed, seconds.
    pub header_read_timeout_seconds: u64,
    /// The serving certificate; unset: plain HTTP.
    pub tls: TlsConfig,
}

/// `server.tls.*`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first; reloaded when the file changes.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the leaf; reloaded with the certificate.
    pub key_file: Option<PathBuf>,
}

/// `auth.*`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthConfig {
    pub token_review: TokenReviewConfig,
    /// TTL of the TokenReview and SubjectAccessReview caches, seconds.
    #[serde(rename = "cacheTTLSeconds")]
    pub cache_ttl_seconds: u64,
    /// Most answers each of those caches holds; the least recently used go first.
    pub cache_max_entries: usize,
    /// Whether grants are read from watched Roles and bindings before asking a SubjectAccessReview.
    pub local_rbac: bool,
    /// Front-proxy client certificates (kube-apiserver's aggregator, api §0.2 step 1).
    pub front_proxy: FrontProxyConfig,
    /// How writes on a caller's behalf present the caller (api §0.4).
    pub write_identity: WriteIdentity,
}

/// `auth.frontProxy.*`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct FrontProxyConfig {
    /// Whether requests with a verified front-proxy client certificate are authenticated by their
    /// `X-Remote-*` headers.
    pub enabled: bool,
}

impl Default for FrontProxyConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// `auth.writeIdentity`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteIdentity {
    /// The caller's bearer token when they used one, else impersonation.
    #[default]
    Auto,
    /// Always impersonate the caller with the server's own account.
    Impersonate,
}

/// `auth.tokenReview.*`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenReviewConfig {
    /// Audiences sent in TokenReviews (empty: the apiserver's own).
    pub audiences: Vec<String>,
}

/// `log.*`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `info,ks_network_apiserver=debug`.
    pub level: String,
}

/// `cache.*`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct CacheConfig {
    /// How often optional APIs (Calico, NSNP, Workspace) are rediscovered, seconds.
    pub discovery_interval_seconds: u64,
    /// How long a synced cache's watch may keep failing before `/readyz` fails, seconds (api §5).
    pub max_watch_failure_seconds: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind_address: "0.0.0.0:9090".into(),
            request_timeout_seconds: 60,
            long_request_timeout_seconds: 300,
            max_request_body_bytes: 3 * 1024 * 1024,
            max_requests_in_flight: 400,
            max_mutating_requests_in_flight: 200,
            shutdown_delay_seconds: 5,
            shutdown_grace_seconds: 30,
            metrics_require_auth: true,
            header_read_timeout_seconds: 10,
            tls: TlsConfig::default(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_review: TokenReviewConfig::default(),
            cache_ttl_seconds: 10,
            cache_max_entries: 10_000,
            local_rbac: true,
            front_proxy: FrontProxyConfig::default(),
            write_identity: WriteIdentity::Auto,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            discovery_interval_seconds: 60,
            max_watch_failure_seconds: 30,
        }
    }
}

/// Every settable key: its YAML path. The environment variable is derived by [`env_var`].
pub const KEYS: &[&str] = &[
    "kubeconfig",
    "server.bindAddress",
    "server.requestTimeoutSeconds",
    "server.longRequestTimeoutSeconds",
    "server.maxRequestBodyBytes",
    "server.maxRequestsInFlight",
    "server.maxMutatingRequestsInFlight",
    "server.shutdownDelaySeconds",
    "server.shutdownGraceSeconds",
    "server.metricsRequireAuth",
    "server.headerReadTimeoutSeconds",
    "server.tls.certFile",
    "server.tls.keyFile",
    "auth.tokenReview.audiences",
    "auth.cacheTTLSeconds",
    "auth.cacheMaxEntries",
    "auth.localRbac",
    "auth.frontProxy.enabled",
    "auth.writeIdentity",
    "log.format",
    "log.level",
    "cache.discoveryIntervalSeconds",
    "cache.maxWatchFailureSeconds",
    "controller.leaderElection.leaseName",
    "controller.leaderElection.namespace",
    "controller.resyncSeconds",
    "controller.ippoolBindingSync",
    "controller.networkPolicy.enabled",
    "controller.ensureNamespaceNameLabel",
    "isolation.allowedIngressNamespaces",
    "isolation.dns.enabled",
    "isolation.dns.nodeLocalDNSIPs",
    "isolation.dns.services",
    "webhook.enabled",
];

/// The environment variable for a key: `server.bindAddress` → `KSNET_SERVER_BIND_ADDRESS`,
/// `auth.cacheTTLSeconds` → `KSNET_AUTH_CACHE_TTL_SECONDS`.
pub fn env_var(key: &str) -> String {
    let mut out = String::from("KSNET_");
    let chars: Vec<char> = key.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == '.' {
            out.push('_');
        } else if c.is_ascii_uppercase() {
            let prev_lower = i > 0 && (chars[i - 1].is_ascii_lowercase());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if prev_lower || (prev_upper && next_lower) {
                out.push('_');
            }
            out.push(c);
        } else {
            out.push(c.to_ascii_uppercase());
        }
    }
    out
}

impl Config {
    /// Loads the configuration: defaults, `file` (if given), the environment `env`, then `overrides`
    /// (`KEY=VALUE` pairs from flags), and validates the result.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        overrides: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        for key in KEYS {
            if let Some(value) = env(&env_var(key)) {
                config.set(key, &value)?;
            }
        }
        for (key, value) in overrides {
            config.set(key, value)?;
        }
        config.validate()?;
        Ok(config)
    }

    fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_saphyr::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().lines().next().unwrap_or_default().to_owned(),
        })
    }

    /// Sets one key from its string form (environment variable or `--set`).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "kubeconfig" => self.kubeconfig = (!value.is_empty()).then(|| PathBuf::from(value)),
            "server.bindAddress" => self.server.bind_address = value.to_owned(),
            "server.requestTimeoutSeconds" => {
                self.server.request_timeout_seconds = parse_number(key, value)?
            }
            "server.longRequestTimeoutSeconds" => {
                self.server.long_request_timeout_seconds = parse_number(key, value)?
            }
            "server.maxRequestBodyBytes" => {
                self.server.max_request_body_bytes = parse_number(key, value)?
            }
            "server.maxRequestsInFlight" => {
                self.server.max_requests_in_flight = parse_number(key, value)?
            }
            "server.maxMutatingRequestsInFlight" => {
                self.server.max_mutating_requests_in_flight = parse_number(key, value)?
            }
            "server.shutdownDelaySeconds" => {
                self.server.shutdown_delay_seconds = parse_number(key, value)?
            }
            "server.shutdownGraceSeconds" => {
                self.server.shutdown_grace_seconds = parse_number(key, value)?
            }
            "server.metricsRequireAuth" => {
                self.server.metrics_require_auth = parse_bool(key, value)?
            }
            "server.headerReadTimeoutSeconds" => {
                self.server.header_read_timeout_seconds = parse_number(key, value)?
            }
            "server.tls.certFile" => self.server.tls.cert_file = parse_path(value),
            "server.tls.keyFile" => self.server.tls.key_file = parse_path(value),
            "auth.tokenReview.audiences" => self.auth.token_review.audiences = parse_list(value),
            "auth.cacheTTLSeconds" => self.auth.cache_ttl_seconds = parse_number(key, value)?,
            "auth.cacheMaxEntries" => self.auth.cache_max_entries = parse_number(key, value)?,
            "auth.localRbac" => self.auth.local_rbac = parse_bool(key, value)?,
            "auth.frontProxy.enabled" => self.auth.front_proxy.enabled = parse_bool(key, value)?,
            "auth.writeIdentity" => {
                self.auth.write_identity = match value {
                    "auto" => WriteIdentity::Auto,
                    "impersonate" => WriteIdentity::Impersonate,
                    _ => {
                        return Err(invalid(
                            key,
                            format!("{value:?} is not one of auto, impersonate"),
                        ));
                    }
                }
            }
            "log.format" => {
                self.log.format = match value {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    _ => return Err(invalid(key, format!("{value:?} is not one of text, json"))),
                }
            }
            "log.level" => self.log.level = value.to_owned(),
            "cache.discoveryIntervalSeconds" => {
                self.cache.discovery_interval_seconds = parse_number(key, value)?
            }
            "cache.maxWatchFailureSeconds" => {
                self.cache.max_watch_failure_seconds = parse_number(key, value)?
            }
            "controller.leaderElection.leaseName" => {
                self.controller.leader_election.lease_name = value.to_owned()
            }
            "controller.leaderElection.namespace" => {
                self.controller.leader_election.namespace = value.to_owned()
            }
            "controller.resyncSeconds" => {
                self.controller.resync_seconds = parse_number(key, value)?
            }
            "controller.ippoolBindingSync" => {
                self.controller.ippool_binding_sync = parse_bool(key, value)?
            }
            "controller.networkPolicy.enabled" => {
                self.controller.network_policy.enabled = parse_bool(key, value)?
            }
            "controller.ensureNamespaceNameLabel" => {
                self.controller.ensure_namespace_name_label = parse_bool(key, value)?
            }
            "isolation.allowedIngressNamespaces" => {
                self.isolation.allowed_ingress_namespaces = parse_list(value)
            }
            "isolation.dns.enabled" => self.isolation.dns.enabled = parse_bool(key, value)?,
            "isolation.dns.nodeLocalDNSIPs" => {
                self.isolation.dns.node_local_dns_ips = parse_list(value)
            }
            "isolation.dns.services" => self.isolation.dns.services = parse_list(value),
            "webhook.enabled" => self.webhook.enabled = parse_bool(key, value)?,
            _ => return Err(ConfigError::UnknownKey(format!("unknown key {key:?}"))),
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.bind_address()?;
        if self.server.request_timeout_seconds == 0 {
            return Err(invalid(
                "server.requestTimeoutSeconds",
                "must be at least 1",
            ));
        }
        if self.server.long_request_timeout_seconds == 0 {
            return Err(invalid(
                "server.longRequestTimeoutSeconds",
                "must be at least 1",
            ));
        }
        if self.server.header_read_timeout_seconds == 0 {
            return Err(invalid(
                "server.headerReadTimeoutSeconds",
                "must be at least 1",
            ));
        }
        if self.server.max_request_body_bytes == 0 {
            return Err(invalid("server.maxRequestBodyBytes", "must be at least 1"));
        }
        if self.auth.cache_max_entries == 0 {
            return Err(invalid("auth.cacheMaxEntries", "must be at least 1"));
        }
        if self.server.max_requests_in_flight == 0 {
            return Err(invalid("server.maxRequestsInFlight", "must be at least 1"));
        }
        if self.server.max_mutating_requests_in_flight == 0 {
            return Err(invalid(
                "server.maxMutatingRequestsInFlight",
                "must be at least 1",
            ));
        }
        if self.cache.discovery_interval_seconds == 0 {
            return Err(invalid(
                "cache.discoveryIntervalSeconds",
                "must be at least 1",
            ));
        }
        if self.cache.max_watch_failure_seconds == 0 {
            return Err(invalid(
                "cache.maxWatchFailureSeconds",
                "must be at least 1",
            ));
        }
        if self.controller.resync_seconds == 0 {
            return Err(invalid("controller.resyncSeconds", "must be at least 1"));
        }
        match (&self.server.tls.cert_file, &self.server.tls.key_file) {
            (Some(_), None) => {
                return Err(invalid("server.tls.keyFile", "must be set with certFile"));
            }
            (None, Some(_)) => {
                return Err(invalid("server.tls.certFile", "must be set with keyFile"));
            }
            _ => {}
        }
        if self.controller.leader_election.lease_name.is_empty() {
            return Err(invalid(
                "controller.leaderElection.leaseName",
                "must not be empty",
            ));
        }
        for ip in &self.isolation.dns.node_local_dns_ips {
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err(invalid(
                    "isolation.dns.nodeLocalDNSIPs",
                    format!("{ip:?} is not an IP address"),
                ));
            }
        }
        for service in &self.isolation.dns.services {
            if service
                .split_once('/')
                .is_none_or(|(ns, name)| ns.is_empty() || name.is_empty())
            {
                return Err(invalid(
                    "isolation.dns.services",
                    format!("{service:?} is not <namespace>/<name>"),
                ));
            }
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(invalid(
                "log.level",
                format!("{:?} is not a valid log filter", self.log.level),
            ));
        }
        Ok(())
    }

    /// The listen address, parsed.
    pub fn bind_address(&self) -> Result<SocketAddr, ConfigError> {
        self.server.bind_address.parse().map_err(|_| {
            invalid(
                "server.bindAddress",
                format!(
                    "{:?} is not HOST:PORT (e.g. 0.0.0.0:9090)",
                    self.server.bind_address
                ),
            )
        })
    }

    /// `server.requestTimeoutSeconds` as a [`Duration`].
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.server.request_timeout_seconds)
    }

    /// `server.longRequestTimeoutSeconds` as a [`Duration`].
    pub fn long_request_timeout(&self) -> Duration {
        Duration::from_secs(self.server.long_request_timeout_seconds)
    }

    /// `cache.maxWatchFailureSeconds` as a [`Duration`].
    pub fn max_watch_failure(&self) -> Duration {
        Duration::from_secs(self.cache.max_watch_failure_seconds)
    }

    /// `auth.cacheTTLSeconds` as a [`Duration`].
    pub fn auth_cache_ttl(&self) -> Duration {
        Duration::from_secs(self.auth.cache_ttl_seconds)
    }

    /// The namespace of the leader Lease: configured, else `POD_NAMESPACE`, else `kubesphere-system`.
    pub fn lease_namespace(&self, pod_namespace: Option<String>) -> String {
        let configured = &self.controller.leader_election.namespace;
        if !configured.is_empty() {
            return configured.clone();
        }
        pod_namespace
            .filter(|ns| !ns.is_empty())
            .unwrap_or_else(|| "kubesphere-system".to_owned())
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, format!("{value:?} is not true or false"))),
    }
}

/// A comma-separated list; blanks dropped.
fn parse_path(value: &str) -> Option<PathBuf> {
    (!value.is_empty()).then(|| PathBuf::from(value))
}

fn parse_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

fn parse_number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(key, format!("{value:?} is not a non-negative integer")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn env_names_follow_the_key_path() {
        assert_eq!(env_var("server.bindAddress"), "KSNET_SERVER_BIND_ADDRESS");
        assert_eq!(
            env_var("auth.cacheTTLSeconds"),
            "KSNET_AUTH_CACHE_TTL_SECONDS"
        );
        assert_eq!(
            env_var("auth.tokenReview.audiences"),
            "KSNET_AUTH_TOKEN_REVIEW_AUDIENCES"
        );
        assert_eq!(env_var("kubeconfig"), "KSNET_KUBECONFIG");
    }

    #[test]
    fn every_key_is_settable() {
        let mut config = Config::default();
        for key in KEYS {
            let value = match *key {
                "server.bindAddress" => "127.0.0.1:1",
                "server.metricsRequireAuth"
                | "controller.ippoolBindingSync"
                | "controller.networkPolicy.enabled"
                | "controller.ensureNamespaceNameLabel"
                | "isolation.dns.enabled"
                | "auth.frontProxy.enabled"
                | "auth.localRbac"
                | "webhook.enabled" => "false",
                "auth.writeIdentity" => "impersonate",
                "isolation.dns.nodeLocalDNSIPs" => "10.0.0.10",
                "isolation.dns.services" => "kube-system/dns",
                "log.format" => "json",
                "log.level" => "debug",
                "kubeconfig"
                | "auth.tokenReview.audiences"
                | "controller.leaderElection.leaseName"
                | "controller.leaderElection.namespace"
                | "isolation.allowedIngressNamespaces"
                | "server.tls.certFile"
                | "server.tls.keyFile" => "x",
                _ => "7",
            };
            config
                .set(key, value)
                .unwrap_or_else(|e| panic!("{key}: {e}"));
        }
    }

    #[test]
    fn defaults_are_valid() {
        let config = Config::load(None, no_env, &[]).unwrap();
        assert_eq!(config.bind_address().unwrap().port(), 9090);
        assert_eq!(config.server.max_request_body_bytes, 3_145_728);
        assert_eq!(config.server.max_requests_in_flight, 400);
        assert_eq!(config.server.max_mutating_requests_in_flight, 200);
        assert_eq!(config.auth.cache_ttl_seconds, 10);
        assert_eq!(config.cache.max_watch_failure_seconds, 30);
        assert_eq!(config.server.shutdown_delay_seconds, 5);
    }

    #[test]
    fn a_zero_watch_failure_window_is_refused() {
        let zero = [("cache.maxWatchFailureSeconds".to_owned(), "0".to_owned())];
        let err = Config::load(None, no_env, &zero).unwrap_err().to_string();
        assert!(err.contains("cache.maxWatchFailureSeconds"), "{err}");
    }

    #[test]
    fn file_then_env_then_flags() {
        let dir = std::env::temp_dir().join(format!("ksnet-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.yaml");
        std::fs::write(
            &file,
            "server:\n  bindAddress: 127.0.0.1:1000\n  requestTimeoutSeconds: 5\nlog:\n  format: json\n",
        )
        .unwrap();
        let env = |k: &str| (k == "KSNET_SERVER_BIND_ADDRESS").then(|| "127.0.0.1:2000".to_owned());
        let c = Config::load(Some(&file), env, &[]).unwrap();
        assert_eq!(c.server.bind_address, "127.0.0.1:2000");
        assert_eq!(c.server.request_timeout_seconds, 5);
        assert_eq!(c.log.format, LogFormat::Json);
        let flags = [("server.bindAddress".to_owned(), "127.0.0.1:3000".to_owned())];
        let c = Config::load(Some(&file), env, &flags).unwrap();
        assert_eq!(c.server.bind_address, "127.0.0.1:3000");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// One key of the documented file: path, default as written, and the comment lines above it.
    struct DocumentedKey {
        path: String,
        default: String,
        comment: String,
    }

    /// The keys of `config/ks-network-apiserver.yaml` in file order, with their comments (the file's own
    /// header comment is left out).
    fn documented_keys(text: &str) -> Vec<DocumentedKey> {
        let mut keys = Vec::new();
        let mut parents: Vec<(usize, String)> = Vec::new();
        let mut comment: Vec<String> = Vec::new();
        let mut header = true;
        for line in text.lines() {
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            if trimmed.is_empty() {
                if header {
                    header = false;
                    comment.clear();
                }
                continue;
            }
            if let Some(text) = trimmed.strip_prefix('#') {
                comment.push(text.trim().to_owned());
                continue;
            }
            header = false;
            let (key, value) = trimmed.split_once(':').expect("key: value");
            parents.retain(|(level, _)| *level < indent);
            let path: Vec<&str> = parents
                .iter()
                .map(|(_, k)| k.as_str())
                .chain([key])
                .collect();
            let value = value.trim();
            if value.is_empty() {
                parents.push((indent, key.to_owned()));
            } else {
                keys.push(DocumentedKey {
                    path: path.join("."),
                    default: value.to_owned(),
                    comment: comment.join(" "),
                });
            }
            comment.clear();
        }
        keys
    }

    /// docs/configuration.md, made from the documented file.
    fn configuration_doc(keys: &[DocumentedKey]) -> String {
        let mut doc = String::from(
            "# Configuration\n\n\
             Generated from `config/ks-network-apiserver.yaml` by `src/config.rs` (a unit test fails when it \
             drifts; `KSNET_WRITE_DOCS=1 cargo test --lib config::` rewrites it).\n\n\
             Precedence: defaults < the file given with `--config` < environment < flags. Every key can be set with \
             `--set KEY=VALUE`; lists are comma-separated in the environment and in `--set`. Dedicated flags: \
             `--kubeconfig`, `--bind-address`, `--log-format`, `--log-level`. An invalid value stops the process \
             with one line naming the key (exit code 2).\n\n\
             | key | default | environment | meaning |\n|---|---|---|---|\n",
        );
        for key in keys {
            doc.push_str(&format!(
                "| `{}` | `{}` | `{}` | {} |\n",
                key.path,
                key.default,
                env_var(&key.path),
                key.comment.replace('|', "\\|")
            ));
        }
        doc
    }

    #[test]
    fn every_key_is_documented_and_the_configuration_doc_is_current() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(root.join("config/ks-network-apiserver.yaml")).unwrap();
        let keys = documented_keys(&text);
        let documented: Vec<&str> = keys.iter().map(|k| k.path.as_str()).collect();
        assert_eq!(
            documented, KEYS,
            "config/ks-network-apiserver.yaml and KEYS differ"
        );
        for key in &keys {
            assert!(!key.comment.is_empty(), "{} has no comment", key.path);
        }
        let doc = configuration_doc(&keys);
        let path = root.join("docs/configuration.md");
        if std::env::var_os("KSNET_WRITE_DOCS").is_some() {
            std::fs::write(&path, &doc).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == doc,
            "docs/configuration.md is stale; run `KSNET_WRITE_DOCS=1 cargo test --lib config::`"
        );
    }

    #[test]
    fn the_documented_file_holds_the_defaults() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ks-network-apiserver.yaml");
        let from_file = Config::load(Some(&file), no_env, &[]).unwrap();
        assert_eq!(format!("{from_file:?}"), format!("{:?}", Config::default()));
    }

    #[test]
    fn errors_name_the_key() {
        let bad = [("server.bindAddress".to_owned(), "nope".to_owned())];
        let err = Config::load(None, no_env, &bad).unwrap_err().to_string();
        assert!(err.contains("server.bindAddress"), "{err}");

        let env = |k: &str| (k == "KSNET_AUTH_CACHE_TTL_SECONDS").then(|| "ten".to_owned());
        let err = Config::load(None, env, &[]).unwrap_err().to_string();
        assert!(err.contains("auth.cacheTTLSeconds"), "{err}");

        let dir = std::env::temp_dir().join(format!("ksnet-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.yaml");
        std::fs::write(&file, "server:\n  bindAdress: 127.0.0.1:1\n").unwrap();
        let err = Config::load(Some(&file), no_env, &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("bindAdress"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
