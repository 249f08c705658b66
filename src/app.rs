//! Wiring: configuration → kube client → caches → router → listener, and an orderly shutdown.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::auth::{AuthMetrics, Authenticator, Authorizer, FrontProxy};
use crate::cli::RunArgs;
use crate::cluster::{Caches, ExtraObservers};
use crate::config::{Config, ConfigError};
use crate::controller::{self, ControllerTriggers, metrics::ControllerMetrics};
use crate::http::{self, AppState, Limits, Surface};
use crate::service;
use crate::serving::{self, PlainListener};
use crate::telemetry;
use crate::tls::{self, CertificateFiles, ReloadingCertificate, TlsListener};

/// Failures that stop the process.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Invalid configuration (exit code 2).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The kubeconfig could not be loaded.
    #[error("cannot load the Kubernetes client configuration: {0}")]
    Kubeconfig(String),
    /// The listener could not be opened.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
    /// The serving certificate could not be loaded.
    #[error("server.tls: {0}")]
    Tls(String),
    /// Serving failed, or output could not be written.
    #[error(transparent)]
    Io(std::io::Error),
}

impl AppError {
    /// The process exit code: 2 for configuration errors, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Config(_) => 2,
            _ => 1,
        }
    }
}

/// The long-running modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The API and the operational endpoints.
    Serve,
    /// Reconcilers and the operational endpoints.
    Controller,
    /// API and reconcilers in one process.
    All,
}

/// Runs a long-running mode until SIGTERM/SIGINT.
pub fn main(mode: Mode, args: &RunArgs) -> Result<(), AppError> {
    let config = Config::load(
        args.config.as_deref(),
        |k| std::env::var(k).ok(),
        &args.overrides(),
    )?;
    telemetry::init(config.log.format, &config.log.level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(AppError::Io)?;
    runtime.block_on(async {
        let kube_config = kube_config(&config).await?;
        let server = Server::start(&config, kube_config, mode).await?;
        shutdown_signal().await;
        info!(
            "shutdown requested; /readyz fails, requests are still served during the drain delay"
        );
        server.shutdown().await
    })
}

/// The cluster connection from `kubeconfig`, else `KUBECONFIG`, `~/.kube/config`, or the in-cluster
/// service account.
pub async fn kube_config(config: &Config) -> Result<kube::Config, AppError> {
    let kube_config = match &config.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .map_err(|e| AppError::Kubeconfig(format!("{}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| AppError::Kubeconfig(format!("{}: {e}", path.display())))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| AppError::Kubeconfig(e.to_string()))?,
    };
    Ok(kube_config)
}

/// The caches' observers that feed the reconcilers' queues.
fn controller_observers(triggers: &ControllerTriggers) -> ExtraObservers {
    let policy = &triggers.network_policy;
    ExtraObservers {
        namespaces: vec![
            triggers.binding.clone(),
            policy.clone(),
            triggers.namespaces.clone(),
        ],
        ippools: vec![triggers.binding.clone()],
        namespace_network_policies: vec![policy.clone()],
        workspaces: vec![policy.clone()],
        services: vec![policy.clone()],
        network_policies: vec![policy.clone()],
        nodes: Some(vec![policy.clone()]),
    }
}

/// How long opening a connection to kube-apiserver may take: an unreachable kube-apiserver makes requests
/// that need it fail with 503 within this, not hang.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The client configuration for watches: `kube_config` with [`CONNECT_TIMEOUT`] and no read timeout (kube's
/// default): watches ask for `timeoutSeconds=290` and kube-runtime gives up on one idle for 295 s, so a read
/// timeout would only cut healthy idle watches.
fn watch_config(mut kube_config: kube::Config) -> kube::Config {
    kube_config.connect_timeout = Some(CONNECT_TIMEOUT);
    kube_config.read_timeout = None;
    kube_config
}

/// The client configuration for requests made on behalf of a caller (TokenReviews, SubjectAccessReviews,
/// writes): the watch configuration with reads bounded by the request timeout.
fn request_config(kube_config: kube::Config, request_timeout: Duration) -> kube::Config {
    let mut kube_config = watch_config(kube_config);
    kube_config.read_timeout = Some(request_timeout);
    kube_config
}

/// A running server: listener, caches and background tasks.
pub struct Server {
    address: SocketAddr,
    state: AppState,
    stop: CancellationToken,
    serving: tokio::task::JoinHandle<()>,
    tasks: JoinSet<()>,
    /// Closes the listener (axum's graceful shutdown).
    closing: CancellationToken,
    delay: Duration,
    grace: Duration,
}

impl Server {
    /// Opens the listener and starts the caches; returns once the server accepts connections.
    pub async fn start(
        config: &Config,
        kube_config: kube::Config,
        mode: Mode,
    ) -> Result<Self, AppError> {
        let watch_client = Client::try_from(watch_config(kube_config.clone()))
            .map_err(|e| AppError::Kubeconfig(e.to_string()))?;
        let kube_config = request_config(kube_config, config.request_timeout());
        let client = Client::try_from(kube_config.clone())
            .map_err(|e| AppError::Kubeconfig(e.to_string()))?;
        let address = config.bind_address()?;
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| AppError::Listen { address, source })?;
        let address = listener.local_addr().map_err(AppError::Io)?;
        let stop = CancellationToken::new();
        let discovery = Duration::from_secs(config.cache.discovery_interval_seconds);
        let reconciles = mode != Mode::Serve;
        let triggers = Arc::new(ControllerTriggers::default());
        let extra = if reconciles {
            controller_observers(&triggers)
        } else {
            ExtraObservers::default()
        };
        let (caches, mut tasks) = Caches::start(
            &watch_client,
            discovery,
            config.max_watch_failure(),
            &stop,
            extra,
            config.auth.local_rbac && mode != Mode::Controller,
        );
        let caches = Arc::new(caches);
        let controller_metrics = reconciles.then(|| Arc::new(ControllerMetrics::default()));
        if let Some(metrics) = &controller_metrics {
            let (client, caches, metrics, config, stop) = (
                watch_client.clone(),
                caches.clone(),
                metrics.clone(),
                config.clone(),
                stop.clone(),
            );
            tasks.spawn(async move {
                controller::run(client, caches, triggers, metrics, &config, stop).await
            });
        }
        let ttl = config.auth_cache_ttl();
        let max_entries =
            NonZeroUsize::new(config.auth.cache_max_entries).unwrap_or(NonZeroUsize::MIN);
        let auth_metrics = AuthMetrics::default();
        let mut authenticator = Authenticator::new(
            client.clone(),
            config.auth.token_review.audiences.clone(),
            ttl,
            max_entries,
        )
        .with_metrics(&auth_metrics);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = match (&config.server.tls.cert_file, &config.server.tls.key_file) {
            (Some(cert), Some(key)) => {
                let files = CertificateFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                };
                let certificate = ReloadingCertificate::load(files, provider.clone())
                    .map_err(|e| AppError::Tls(e.to_string()))?;
                let certificate = Arc::new(certificate);
                tasks.spawn(certificate.clone().follow_files(stop.clone()));
                if config.auth.front_proxy.enabled {
                    let (front_proxy, watch) =
                        FrontProxy::watch(watch_client.clone(), provider.clone(), stop.clone());
                    tasks.spawn(watch);
                    authenticator = authenticator.with_front_proxy(front_proxy);
                }
                let tls = tls::server_config(certificate, provider)
                    .map_err(|e| AppError::Tls(e.to_string()))?;
                Some(Arc::new(tls))
            }
            _ => None,
        };
        let mut authorizer = Authorizer::new(client, ttl, max_entries).with_metrics(&auth_metrics);
        if let Some(rbac) = &caches.rbac {
            authorizer = authorizer.with_local_grants(rbac.clone());
        }
        let services = Arc::new(service::Context::new(
            caches,
            Arc::new(authorizer),
            kube_config,
            config.auth.write_identity,
        ));
        let request_metrics = Arc::new(http::request_metrics::RequestMetrics::default());
        let metrics = http::metrics::registry(
            &services,
            &request_metrics,
            &auth_metrics,
            controller_metrics.as_deref(),
        );
        let state = AppState {
            services,
            authenticator: Arc::new(authenticator),
            metrics: Arc::new(metrics),
            metrics_require_auth: config.server.metrics_require_auth,
            webhook_enabled: config.webhook.enabled,
            shutdown: CancellationToken::new(),
            request_metrics,
        };
        let limits = Limits {
            request_timeout: config.request_timeout(),
            long_request_timeout: config.long_request_timeout(),
            max_body_bytes: config.server.max_request_body_bytes,
            max_requests_in_flight: config.server.max_requests_in_flight,
            max_mutating_requests_in_flight: config.server.max_mutating_requests_in_flight,
        };
        let surface = if mode == Mode::Controller {
            Surface::Operational
        } else {
            Surface::Api
        };
        let router = http::router(state.clone(), limits, surface);
        let closing = CancellationToken::new();
        let header_read_timeout = Duration::from_secs(config.server.header_read_timeout_seconds);
        let https = tls.is_some();
        let serving = match tls {
            Some(tls) => {
                let listener = TlsListener::new(listener, tls).map_err(AppError::Io)?;
                tokio::spawn(serving::serve(
                    listener,
                    router,
                    header_read_timeout,
                    closing.clone(),
                ))
            }
            None => tokio::spawn(serving::serve(
                PlainListener(listener),
                router,
                header_read_timeout,
                closing.clone(),
            )),
        };
        info!(%address, ?mode, https, "listening");
        Ok(Self {
            address,
            state,
            stop,
            serving,
            tasks,
            closing,
            delay: Duration::from_secs(config.server.shutdown_delay_seconds),
            grace: Duration::from_secs(config.server.shutdown_grace_seconds),
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// The watch caches.
    pub fn caches(&self) -> &Caches {
        &self.state.services.caches
    }

    /// The authorizer (SubjectAccessReviews with a cache).
    pub fn authorizer(&self) -> &Authorizer {
        &self.state.services.authorizer
    }

    /// Drains: `/readyz` answers 503 at once while every request, new ones included, is still served for
    /// `server.shutdownDelaySeconds`; then stops accepting connections, lets in-flight requests finish (up
    /// to `server.shutdownGraceSeconds`), then stops the watches.
    pub async fn shutdown(mut self) -> Result<(), AppError> {
        self.state.shutdown.cancel();
        tokio::time::sleep(self.delay).await;
        info!("drain delay over; closing the listener");
        self.closing.cancel();
        let result = match tokio::time::timeout(self.grace, &mut self.serving).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(join)) => Err(AppError::Io(std::io::Error::other(join))),
            Err(_) => {
                warn!(grace = ?self.grace, "in-flight requests did not finish in time; aborting them");
                self.serving.abort();
                Ok(())
            }
        };
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
        info!("stopped");
        result
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    warn!(%error, "cannot listen for SIGTERM; only SIGINT stops the server");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_get_no_read_timeout_and_requests_do() {
        let base = kube::Config::new("https://127.0.0.1:6443".parse().unwrap());
        let watches = watch_config(base.clone());
        assert_eq!(watches.read_timeout, None);
        assert_eq!(watches.connect_timeout, Some(CONNECT_TIMEOUT));
        let requests = request_config(base, Duration::from_secs(60));
        assert_eq!(requests.read_timeout, Some(Duration::from_secs(60)));
        // Derived from a request configuration, watches still get none.
        assert_eq!(watch_config(requests).read_timeout, None);
    }
}
