//! The server under test, run in-process against a control plane, and the requests tests send it.

use kube::Client;
use serde_json::{Value, json};

use ks_network_apiserver::app::{Mode, Server};
use ks_network_apiserver::auth::Authorizer;
use ks_network_apiserver::cluster::Caches;
use ks_network_apiserver::config::Config;

use super::api::SYNC;
use super::fixtures::{self, eventually, item_names, json_of};
use super::pki::Issued;
use super::{ControlPlane, User, unique_name, wait_for};

/// A running ks-network-apiserver on a free loopback port, talking to `plane` as the admin.
pub struct TestServer<'a> {
    /// The control plane it talks to.
    pub plane: &'a ControlPlane,
    /// A client for requests to the server (trusting the plane's CA when the server serves HTTPS).
    pub http: reqwest::Client,
    server: Server,
    scheme: &'static str,
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
        let https = config.server.tls.cert_file.is_some();
        TestServer {
            plane,
            http: client_trusting(plane, None),
            server,
            scheme: if https { "https" } else { "http" },
        }
    }

    /// `http[s]://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.server.local_addr(), path)
    }

    /// A client presenting `identity` as its TLS client certificate.
    pub fn client_with_certificate(&self, identity: &Issued) -> reqwest::Client {
        client_trusting(self.plane, Some(identity))
    }

    /// GET `path`, with `token` as bearer token when given.
    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request reaches the server")
    }

    /// GET `path` with `token`: the status code and the JSON body.
    pub async fn get_json(&self, path: &str, token: &str) -> (u16, Value) {
        json_of(self.get(path, Some(token)).await).await
    }

    /// `method path` with `token`, a `Content-Type` (when given) and a body: the status code and the
    /// JSON body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        let response = request
            .body(body)
            .send()
            .await
            .expect("request reaches the server");
        json_of(response).await
    }

    /// POST `path` with `token`, a `Content-Type` (when given) and a body.
    pub async fn post(
        &self,
        path: &str,
        token: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, token, content_type, body)
            .await
    }

    /// POST a form body.
    pub async fn post_form(&self, path: &str, token: &str, form: &str) -> (u16, Value) {
        let form_type = Some("application/x-www-form-urlencoded");
        self.post(path, token, form_type, form.to_owned()).await
    }

    /// Polls the v1alpha3 list `path` as `token` until it answers 200 with `totalItems == total`;
    /// returns that body.
    pub async fn wait_total(&self, token: &str, path: &str, total: u64) -> Value {
        eventually(SYNC, &format!("{path} with totalItems {total}"), || async {
            let (code, body) = self.get_json(path, token).await;
            if code == 200 && body["totalItems"] == json!(total) {
                Ok(body)
            } else {
                Err(format!("{code} {body}"))
            }
        })
        .await
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        wait_for(SYNC, "/readyz 200", || async {
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

/// A client trusting the plane's cluster CA (which signs the test servers' certificates), presenting
/// `identity` when given.
fn client_trusting(plane: &ControlPlane, identity: Option<&Issued>) -> reqwest::Client {
    let ca = std::fs::read(plane.dir().join("ca.crt")).expect("read the plane's CA");
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA certificate"));
    if let Some(identity) = identity {
        let identity = reqwest::Identity::from_pem(&identity.identity_pem()).expect("identity");
        builder = builder.identity(identity);
    }
    builder.build().expect("HTTP client")
}

/// Defaults, bound to an ephemeral loopback port, with a 1 s optional-API discovery interval and no drain
/// delay.
pub fn test_config() -> Config {
    let mut config = Config::default();
    config.server.bind_address = "127.0.0.1:0".into();
    config.cache.discovery_interval_seconds = 1;
    // Stop at once; the drain delay has a test of its own.
    config.server.shutdown_delay_seconds = 0;
    // A Lease of its own in a namespace every plane has: the test's controller leads at once.
    config.controller.leader_election.namespace = "default".into();
    config.controller.leader_election.lease_name = super::unique_name("lease");
    config
}

/// The usual start of a test on the shared plane: a ready server, an admin kube client and the admin's
/// token. Requests go as the admin.
pub struct Env {
    /// The server under test.
    pub server: TestServer<'static>,
    /// An admin kube client.
    pub admin: Client,
    /// The admin's bearer token.
    pub token: String,
}

impl Env {
    /// A ready server with [`test_config`].
    pub async fn start() -> Env {
        Self::start_with(test_config()).await
    }

    /// A ready server with `config`.
    pub async fn start_with(config: Config) -> Env {
        let plane = ControlPlane::shared();
        let server = TestServer::start_with(plane, config).await;
        server.wait_ready().await;
        Env {
            server,
            admin: plane.client(User::Admin).await,
            token: plane.token(User::Admin),
        }
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.server.get_json(path, &self.token).await
    }

    /// `method path` with a `Content-Type` (when given) and a raw body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        let body = body.to_owned();
        self.server
            .send(method, path, &self.token, content_type, body)
            .await
    }

    /// POST `body` as JSON.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let json = Some("application/json");
        self.send(reqwest::Method::POST, path, json, &body.to_string())
            .await
    }

    /// [`fixtures::create`] as admin.
    pub async fn create(&self, object: Value) -> Value {
        fixtures::create(&self.admin, object).await
    }

    /// [`fixtures::create_all`] as admin.
    pub async fn create_all(&self, objects: Vec<Value>) -> Vec<Value> {
        fixtures::create_all(&self.admin, objects).await
    }

    /// Creates a namespace named [`unique_name`]`(prefix)`; returns its name.
    pub async fn namespace(&self, prefix: &str) -> String {
        let name = unique_name(prefix);
        self.create(fixtures::namespace(&name, json!({}), json!({})))
            .await;
        name
    }

    /// Polls the v1alpha3 list `path` until `totalItems == total`; returns that body.
    pub async fn wait_total(&self, path: &str, total: u64) -> Value {
        self.server.wait_total(&self.token, path, total).await
    }

    /// Polls the Kubernetes-style list `path` until its `metadata.continue` (the filtered total) is
    /// `total`; returns that body.
    pub async fn wait_list(&self, path: &str, total: usize) -> Value {
        eventually(SYNC, &format!("{path} with {total} matches"), || async {
            let (code, body) = self.get(path).await;
            if code == 200 && body["metadata"]["continue"] == json!(total.to_string()) {
                Ok(body)
            } else {
                Err(format!("{code} {body}"))
            }
        })
        .await
    }

    /// Polls the get `path` until it answers 200; returns the body.
    pub async fn wait_get(&self, path: &str) -> Value {
        eventually(SYNC, &format!("{path} 200"), || async {
            match self.get(path).await {
                (200, body) => Ok(body),
                (code, body) => Err(format!("{code} {body}")),
            }
        })
        .await
    }

    /// GET the v1alpha3 list `path` (200 expected): item names in order, and `totalItems`.
    pub async fn names(&self, path: &str) -> Result<(Vec<String>, u64), String> {
        let (code, body) = self.get(path).await;
        if code != 200 {
            return Err(format!("{path}: {code} {body}"));
        }
        Ok((
            item_names(&body),
            body["totalItems"].as_u64().unwrap_or(u64::MAX),
        ))
    }

    /// Shuts the server down gracefully.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// The server binary in `serve` mode as the admin on a free loopback port, with `settings` (`KEY=VALUE`, as
/// `--set`), logging to `dir/<name>.log`; returns once `/readyz` is 200, with its base URL.
pub async fn serve_binary(
    plane: &ControlPlane,
    dir: &std::path::Path,
    name: &str,
    settings: &[&str],
) -> (super::ServerProcess, String) {
    let [port] = super::free_ports::<1>();
    let log = dir.join(format!("{name}.log"));
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ks-network-apiserver"));
    command
        .args(["serve", "--kubeconfig"])
        .arg(plane.kubeconfig_path(User::Admin))
        .args(["--bind-address", &format!("127.0.0.1:{port}")]);
    for setting in settings {
        command.args(["--set", setting]);
    }
    let child = command
        .env_remove("KUBECONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("create the log"))
        .spawn()
        .expect("start ks-network-apiserver");
    let server = super::ServerProcess { child, log };
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    eventually(SYNC, "the server ready", || async {
        match http.get(format!("{base}/readyz")).send().await {
            Ok(r) if r.status() == 200 => Ok(()),
            other => Err(format!("{other:?}\n{}", server.log())),
        }
    })
    .await;
    (server, base)
}
