//! Test harness: a real etcd + kube-apiserver (1.20) on loopback for the integration tests, the server
//! under test in-process, and the router without kube-apiserver.
//!
//! [`ControlPlane::shared`] is the control plane of every test that isolates by unique names (all CRDs
//! installed, tests run on it concurrently). [`exclusive::Exclusive`] hands out a second, private control
//! plane one test at a time, for tests that need the cluster to themselves: they stop kube-apiserver, need
//! another CRD set, or check cluster-wide totals with fixed names. Both are started on first use and
//! stopped when the test binary exits; no test starts a plane of its own. The processes are started through `scripts/control-plane.sh pki|etcd|apiserver` (the script
//! holds the certificates and the flag lists; `etcd`/`apiserver` exec the binary, so the harness's child
//! is the binary itself), from a thread that never exits and with `PR_SET_PDEATHSIG`, so they die with
//! the test binary however it ends. Each plane lives in `$CARGO_TARGET_TMPDIR/control-planes/cp-<pid>-*`;
//! folders of dead test processes are removed when the next control plane starts. CRDs come from
//! `config/crds/` (`$KSNET_TEST_CRD_DIR` overrides the folder, to try other files).
//!
//! [`routes::App`] serves the router with in-memory state and fake authentication and authorization,
//! for the route-level tests that need no cluster.

pub mod api;
pub mod console;
pub mod crds;
pub mod exclusive;
pub mod fixtures;
pub mod pki;
mod process;
pub mod routes;
mod server;

pub use process::{ServerProcess, free_ports};
pub use server::{Env, TestServer, serve_binary, test_config};

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, Once, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

/// How long kube-apiserver may take to answer `ok` on `/readyz`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A static-token user of the test control plane (see `control-plane.sh`'s tokens.csv).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum User {
    /// `admin`, in group `system:masters`: may do anything.
    Admin,
    /// `alice`, no groups: RBAC grants her nothing until a test binds a role.
    Alice,
    /// `bob`, no groups.
    Bob,
    /// `carol`, no groups.
    Carol,
    /// `dave`, no groups.
    Dave,
}

impl User {
    /// The Kubernetes user name (also the uid), e.g. `"alice"`.
    pub fn name(self) -> &'static str {
        match self {
            User::Admin => "admin",
            User::Alice => "alice",
            User::Bob => "bob",
            User::Carol => "carol",
            User::Dave => "dave",
        }
    }
}

/// Which CustomResourceDefinitions a control plane gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CrdSet {
    /// Every YAML file under `config/crds/`, recursively (the project's and the upstream ones).
    #[default]
    All,
    /// Only the files directly in `config/crds/` (not `config/crds/upstream/`).
    OwnedOnly,
}

/// How to start a control plane.
#[derive(Clone, Copy, Debug, Default)]
struct Options {
    /// The CRDs to install before [`ControlPlane::start`] returns.
    crds: CrdSet,
}

/// etcd + kube-apiserver on loopback, with their own folder and ports.
pub struct ControlPlane {
    /// Certificates, tokens, kubeconfigs, logs and etcd data; removed on drop.
    dir: tempfile::TempDir,
    apiserver_port: u16,
    etcd_port: u16,
    etcd_peer_port: u16,
    etcd: Mutex<Option<Child>>,
    apiserver: Mutex<Option<Child>>,
}

impl ControlPlane {
    /// The control plane shared by the tests that isolate by unique names, started on first use
    /// (thread-safe, blocking), with [`CrdSet::All`]. Its processes are stopped and its folder removed
    /// when the binary exits.
    pub fn shared() -> &'static ControlPlane {
        static SHARED: OnceLock<Result<ControlPlane, String>> = OnceLock::new();
        extern "C" fn shutdown_shared() {
            shutdown_at_exit(&SHARED);
        }
        started_once(&SHARED, Options::default(), shutdown_shared, "shared")
    }

    /// The plane behind [`exclusive::Exclusive`], started on first use with [`CrdSet::OwnedOnly`]
    /// (the lease converges the CRD set); stopped when the binary exits. Use it only through a lease.
    fn exclusive() -> &'static ControlPlane {
        static EXCLUSIVE: OnceLock<Result<ControlPlane, String>> = OnceLock::new();
        extern "C" fn shutdown_exclusive() {
            shutdown_at_exit(&EXCLUSIVE);
        }
        let options = Options {
            crds: CrdSet::OwnedOnly,
        };
        started_once(&EXCLUSIVE, options, shutdown_exclusive, "exclusive")
    }

    /// Starts a control plane and blocks until it is ready and the CRDs are `Established`. Killed on
    /// drop; the shared and the exclusive plane are never dropped, they are stopped at exit.
    fn start(options: Options) -> ControlPlane {
        let started = Instant::now();
        process::ensure_assets();
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("control-planes");
        std::fs::create_dir_all(&base).expect("create the control-planes folder");
        remove_stale_dirs(&base);
        let dir = tempfile::Builder::new()
            .prefix(&format!("cp-{}-", std::process::id()))
            .tempdir_in(&base)
            .expect("create a control-plane folder");
        let [apiserver_port, etcd_port, etcd_peer_port] = process::free_ports::<3>();
        let plane = ControlPlane {
            dir,
            apiserver_port,
            etcd_port,
            etcd_peer_port,
            etcd: Mutex::new(None),
            apiserver: Mutex::new(None),
        };
        process::run_script(&plane.script_args("pki"));
        *lock(&plane.etcd) = Some(plane.spawn("etcd", "etcd.log"));
        plane.start_apiserver();
        block_on(|| async {
            let admin = plane.client(User::Admin).await;
            crds::install(&admin, options.crds).await;
        });
        eprintln!(
            "control plane {} ready in {:.1?} ({:?} CRDs, {})",
            plane.apiserver_url(),
            started.elapsed(),
            options.crds,
            plane.dir().display()
        );
        plane
    }

    /// The folder with the certificates, `tokens.csv`, kubeconfigs, logs and etcd data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The bearer token of `user`, as written in `tokens.csv`.
    pub fn token(&self, user: User) -> String {
        let tokens =
            std::fs::read_to_string(self.dir().join("tokens.csv")).expect("read tokens.csv");
        tokens
            .lines()
            .find_map(|line| {
                let mut fields = line.split(',');
                let token = fields.next()?;
                (fields.next()? == user.name()).then(|| token.to_string())
            })
            .unwrap_or_else(|| panic!("no token for {} in tokens.csv", user.name()))
    }

    /// The kubeconfig file of `user` (server, embedded CA, bearer token).
    pub fn kubeconfig_path(&self, user: User) -> PathBuf {
        self.dir().join(format!("kubeconfig-{}", user.name()))
    }

    /// A fresh kube client for `user`. Build one per test: clients must not cross tokio runtimes.
    pub async fn client(&self, user: User) -> Client {
        Client::try_from(self.config(user).await)
            .unwrap_or_else(|e| panic!("kube client for {}: {e}", user.name()))
    }

    /// The kube configuration of `user` (e.g. to hand to the server under test).
    pub async fn config(&self, user: User) -> Config {
        let path = self.kubeconfig_path(user);
        let kubeconfig =
            Kubeconfig::read_from(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .unwrap_or_else(|e| panic!("kube config from {}: {e}", path.display()))
    }

    /// `kubectl --kubeconfig <user's kubeconfig>`, ready for more arguments.
    pub fn kubectl(&self, user: User) -> Command {
        let mut kubectl = Command::new("kubectl");
        kubectl.arg("--kubeconfig").arg(self.kubeconfig_path(user));
        kubectl
    }

    /// `https://127.0.0.1:<port>`.
    pub fn apiserver_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.apiserver_port)
    }

    /// Kills kube-apiserver and waits for it to exit; etcd keeps running (and the data).
    pub fn stop_apiserver(&self) {
        if let Some(mut apiserver) = lock(&self.apiserver).take() {
            process::kill_and_reap(&mut apiserver);
        }
    }

    /// Kills etcd and waits for it to exit; kube-apiserver keeps running (its writes fail until etcd is back).
    pub fn stop_etcd(&self) {
        if let Some(mut etcd) = lock(&self.etcd).take() {
            process::kill_and_reap(&mut etcd);
        }
    }

    /// Starts etcd again (unless it runs), on its data; kube-apiserver reconnects by itself.
    pub fn start_etcd(&self) {
        let mut etcd = lock(&self.etcd);
        if etcd.is_none() {
            *etcd = Some(self.spawn("etcd", "etcd.log"));
        }
    }

    /// Starts kube-apiserver (unless it runs) and waits until `/readyz` is ok and the `default`
    /// namespace exists; panics with the end of its log after 60 s.
    pub fn start_apiserver(&self) {
        {
            let mut apiserver = lock(&self.apiserver);
            if apiserver.is_none() {
                *apiserver = Some(self.spawn("apiserver", "kube-apiserver.log"));
            }
        }
        block_on(|| self.wait_ready());
    }

    /// The last `lines` lines of DIR/`file` (e.g. `kube-apiserver.log`).
    pub fn log_tail(&self, file: &str, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir().join(file)).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// `SUBCOMMAND DIR --apiserver-port N --etcd-port N --etcd-peer-port N` for `control-plane.sh`.
    fn script_args(&self, subcommand: &str) -> Vec<String> {
        vec![
            subcommand.to_string(),
            self.dir().display().to_string(),
            "--apiserver-port".to_string(),
            self.apiserver_port.to_string(),
            "--etcd-port".to_string(),
            self.etcd_port.to_string(),
            "--etcd-peer-port".to_string(),
            self.etcd_peer_port.to_string(),
        ]
    }

    /// Starts `control-plane.sh etcd|apiserver ...` (which execs the binary) as a child that dies
    /// with the test process; its early output (before the script redirects) goes to DIR/`log`.
    fn spawn(&self, subcommand: &str, log: &str) -> Child {
        let log = self.dir().join(log);
        let open = || -> File {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .unwrap_or_else(|e| panic!("open {}: {e}", log.display()))
        };
        let mut command = Command::new(process::script());
        command
            .args(self.script_args(subcommand))
            .stdin(Stdio::null())
            .stdout(open())
            .stderr(open());
        process::spawn_tied_to_process(command)
    }

    /// Polls `/readyz` as admin until it answers `ok` and the `default` namespace exists.
    async fn wait_ready(&self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let admin = self.client(User::Admin).await;
        let namespaces: Api<Namespace> = Api::all(admin.clone());
        loop {
            let readyz = http::Request::get("/readyz").body(Vec::new()).unwrap();
            let probe = async {
                let ready = admin.request_text(readyz).await.ok()? == "ok";
                (ready && namespaces.get_opt("default").await.ok()?.is_some()).then_some(())
            };
            if let Ok(Some(())) = tokio::time::timeout(Duration::from_secs(2), probe).await {
                return;
            }
            let exited = match lock(&self.apiserver).as_mut() {
                Some(apiserver) => apiserver.try_wait().ok().flatten().map(|s| s.to_string()),
                None => Some("it was stopped".to_string()),
            };
            if exited.is_some() || Instant::now() >= deadline {
                panic!(
                    "kube-apiserver at {} not ready ({}); last lines of kube-apiserver.log:\n{}\n\
                     last lines of etcd.log:\n{}",
                    self.apiserver_url(),
                    exited.map_or(format!("timeout {READY_TIMEOUT:?}"), |s| format!(
                        "exited: {s}"
                    )),
                    self.log_tail("kube-apiserver.log", 30),
                    self.log_tail("etcd.log", 10),
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills kube-apiserver, then etcd, and reaps them.
    fn shutdown(&self) {
        self.stop_apiserver();
        self.stop_etcd();
    }
}

impl Drop for ControlPlane {
    /// Kills the processes before the folder (`dir`) is removed.
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The plane in `cell`, started with `options` by the first caller; `at_exit` (which calls
/// [`shutdown_at_exit`] on `cell`) is registered to stop it when the process exits.
fn started_once(
    cell: &'static OnceLock<Result<ControlPlane, String>>,
    options: Options,
    at_exit: extern "C" fn(),
    what: &str,
) -> &'static ControlPlane {
    let plane = cell.get_or_init(|| {
        let started = std::panic::catch_unwind(|| ControlPlane::start(options));
        if started.is_ok() {
            // SAFETY: registering a plain `extern "C" fn` without arguments.
            unsafe { libc::atexit(at_exit) };
        }
        started.map_err(|panic| panic_message(&*panic))
    });
    match plane {
        Ok(plane) => plane,
        Err(e) => panic!("the {what} control plane failed to start: {e}"),
    }
}

/// Stops the plane in `cell` (if it started) and removes its folder.
fn shutdown_at_exit(cell: &OnceLock<Result<ControlPlane, String>>) {
    if let Some(Ok(plane)) = cell.get() {
        plane.shutdown();
        let _ = std::fs::remove_dir_all(plane.dir());
    }
}

/// A unique DNS-1123 label: `prefix`, a dash and 6 random hex digits, e.g. `ns-3f9a1c`.
pub fn unique_name(prefix: &str) -> String {
    static ISSUED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    assert!(
        prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && prefix.len() <= 56,
        "unique_name prefix {prefix:?} is not a short DNS-1123 label"
    );
    let mut issued = ISSUED.lock().unwrap();
    let issued = issued.get_or_insert_with(HashSet::new);
    loop {
        let name = format!(
            "{prefix}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..6]
        );
        if issued.insert(name.clone()) {
            return name;
        }
    }
}

/// Polls `f` every 75 ms until it returns `Some`; panics naming `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = f().await {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(75)).await;
    }
}

/// Locks `mutex`, also when a panicking test poisoned it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs the future made by `f` to completion on a fresh current-thread runtime in a helper thread,
/// so that blocking harness calls work from inside a `#[tokio::test]` as well as outside.
fn block_on<T: Send, F, Fut>(f: F) -> T
where
    F: FnOnce() -> Fut + Send,
    Fut: Future<Output = T>,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("build a tokio runtime")
                    .block_on(f())
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Removes the folders of control planes whose test process is gone (`cp-<pid>-*`), once per
/// process.
fn remove_stale_dirs(base: &Path) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = std::fs::read_dir(base) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let pid = name
                .to_str()
                .and_then(|n| n.strip_prefix("cp-"))
                .and_then(|n| n.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok());
            if let Some(pid) = pid
                && pid != std::process::id()
                && !process::process_exists(pid)
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
}

/// The text of a panic payload.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(non-string panic)".to_string())
}
