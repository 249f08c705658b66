//! Child processes that cannot outlive the test binary, the control-plane script, and free ports.

use std::io;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::thread;

/// A request to the spawner thread: the command to start and where to send the result.
struct SpawnRequest {
    command: Command,
    reply: mpsc::Sender<io::Result<Child>>,
}

/// The spawner thread's inbox; the thread is started on first use.
static SPAWNER: OnceLock<mpsc::Sender<SpawnRequest>> = OnceLock::new();

/// Starts `command` with `PR_SET_PDEATHSIG = SIGKILL`, from a dedicated thread that never exits.
///
/// The kernel sends the parent-death signal when the *thread* that forked the child ends, so the
/// children must not be forked from a test thread (those end with their test). The spawner thread
/// lives as long as the process: the children are killed when the test binary exits, panics or is
/// killed, even with SIGKILL.
pub fn spawn_tied_to_process(mut command: Command) -> Child {
    let parent = std::process::id();
    // SAFETY: only async-signal-safe calls (prctl, getppid) run between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl: then nobody would kill us.
            if libc::getppid() as u32 != parent {
                return Err(io::Error::other("the test process exited during spawn"));
            }
            Ok(())
        });
    }
    let inbox = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        thread::Builder::new()
            .name("control-plane-spawner".into())
            .spawn(move || {
                for mut request in rx {
                    let _ = request.reply.send(request.command.spawn());
                }
                // Unreachable while SPAWNER holds the sender; never return regardless.
                loop {
                    thread::park();
                }
            })
            .expect("start the control-plane spawner thread");
        tx
    });
    let program = format!("{command:?}");
    let (reply, result) = mpsc::channel();
    inbox
        .send(SpawnRequest { command, reply })
        .expect("the spawner thread is gone");
    result
        .recv()
        .expect("the spawner thread dropped the request")
        .unwrap_or_else(|e| panic!("failed to start {program}: {e}"))
}

/// Kills `child` (SIGKILL) and reaps it; no-op when it already exited.
pub fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// `scripts/control-plane.sh` of this crate.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/control-plane.sh")
}

/// Runs `control-plane.sh ARGS...` to completion; panics with its output when it fails.
pub fn run_script<S: AsRef<str>>(args: &[S]) -> String {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let output = Command::new(script())
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script().display()));
    if !output.status.success() {
        panic!(
            "control-plane.sh {} failed ({}):\n{}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Makes sure etcd and kube-apiserver exist (`control-plane.sh ensure`, honours
/// `KUBEBUILDER_ASSETS`), once per process; returns the assets folder.
pub fn ensure_assets() -> &'static Path {
    static ASSETS: OnceLock<PathBuf> = OnceLock::new();
    ASSETS.get_or_init(|| {
        run_script(&["ensure"]);
        PathBuf::from(run_script(&["assets"]).trim())
    })
}

/// `n` distinct ports that were free a moment ago (bound on 127.0.0.1:0 together, then released).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().expect("local address").port())
}

/// Whether process `pid` exists.
pub fn process_exists(pid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    let status = unsafe { libc::kill(pid as libc::pid_t, 0) };
    status == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The server binary started by a test, killed when dropped (also when the test panics).
pub struct ServerProcess {
    pub child: Child,
    /// Where its stderr goes.
    pub log: PathBuf,
}

impl ServerProcess {
    /// What it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        kill_and_reap(&mut self.child);
    }
}
