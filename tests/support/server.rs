//! The server under test, run in-process against a control plane.

use std::time::Duration;

use ks_network_apiserver::app::{Mode, Server};
use ks_network_apiserver::auth::Authorizer;
use ks_network_apiserver::cluster::Caches;
use ks_network_apiserver::config::Config;

use super::{ControlPlane, User, wait_for};

/// A running ks-network-apiserver on a free loopback port, talking to `plane` as the admin.
pub struct TestServer<'a> {
    /// The control plane it talks to.
    pub plane: &'a ControlPlane,
    /// A plain HTTP client for requests to the server.
    pub http: reqwest::Client,
    server: Server,
}

impl<'a> TestServer<'a> {
    /// Starts a server with the default configuration (bound to 127.0.0.1:0, fast discovery).
    pub async fn start(plane: &'a ControlPlane) -> TestServer<'a> {
        Self::start_with(plane, test_config()).await
    }

    /// Starts a server (`serve` mode: no reconcilers) with `config`.
    pub async fn start_with(plane: &'a ControlPlane, config: Config) -> TestServer<'a> {
        Self::start_mode(plane, config, Mode::Serve).await
    }

    /// Starts a server in `mode` (`Mode::All` also runs the controller) with `config`.
    pub async fn start_mode(plane: &'a ControlPlane, config: Config, mode: Mode) -> TestServer<'a> {
        let server = Server::start(&config, plane.config(User::Admin).await, mode)
            .await
            .expect("server starts");
        TestServer {
            plane,
            http: reqwest::Client::new(),
            server,
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.server.local_addr(), path)
    }

    /// GET `path`, with `token` as bearer token when given.
    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request reaches the server")
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        wait_for(Duration::from_secs(60), "/readyz 200", || async {
            let response = self.http.get(self.url("/readyz")).send().await.ok()?;
            (response.status() == 200).then_some(())
        })
        .await
    }

    /// The server's watch caches.
    pub fn caches(&self) -> &Caches {
        self.server.caches()
    }

    /// The server's authorizer.
    pub fn authorizer(&self) -> &Authorizer {
        self.server.authorizer()
    }

    /// Shuts the server down gracefully.
    pub async fn stop(self) {
        self.server.shutdown().await.expect("clean shutdown");
    }
}

/// Defaults, bound to an ephemeral loopback port, with a 1 s optional-API discovery interval.
pub fn test_config() -> Config {
    let mut config = Config::default();
    config.server.bind_address = "127.0.0.1:0".into();
    config.cache.discovery_interval_seconds = 1;
    config
}
