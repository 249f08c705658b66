//! The README's demo command: `scripts/demo.sh --seed-only` seeds a control plane that the server then
//! serves. The script starts (and `--stop` stops) its own control plane, in a private folder on free
//! ports: what is checked is the command users run, plane included.

use std::path::{Path, PathBuf};
use std::process::Command;

use ks_network_apiserver::app::{Mode, Server};

use crate::support::api::SYNC;
use crate::support::{free_ports, test_config, wait_for};

/// A demo control plane in a private folder on free ports; stopped on drop (also when the test panics).
struct Demo {
    dir: tempfile::TempDir,
    ports: [u16; 3],
}

impl Demo {
    fn script(&self, script: &str, args: &[&str]) -> std::process::Output {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        Command::new(root.join(script))
            .args(args)
            .env("KSNET_DEMO_DIR", self.dir.path())
            .env("KSNET_DEMO_APISERVER_PORT", self.ports[0].to_string())
            .env("KSNET_DEMO_ETCD_PORT", self.ports[1].to_string())
            .env("KSNET_DEMO_ETCD_PEER_PORT", self.ports[2].to_string())
            .output()
            .unwrap()
    }

    fn kubeconfig(&self) -> PathBuf {
        let out = self.script("scripts/control-plane.sh", &["kubeconfig", "admin"]);
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    }

    fn kubectl(&self, args: &[&str]) -> String {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.script("scripts/demo.sh", &["--stop"]);
    }
}

#[tokio::test]
async fn the_demo_seeds_a_cluster_the_server_serves() {
    let demo = Demo {
        dir: tempfile::tempdir().unwrap(),
        ports: free_ports::<3>(),
    };
    let out = demo.script("scripts/demo.sh", &["--seed-only"]);
    assert!(
        out.status.success(),
        "demo.sh --seed-only: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let pools = demo.kubectl(&["get", "ippools.crd.projectcalico.org", "-o", "name"]);
    for pool in [
        "default-ipv4-ippool",
        "pool-b",
        "pool-v6",
        "pool-disabled",
        "pool-tunnel",
    ] {
        assert!(pools.contains(pool), "{pool} seeded: {pools}");
    }
    let blocks = demo.kubectl(&["get", "ipamblocks.crd.projectcalico.org", "-o", "name"]);
    assert_eq!(blocks.lines().count(), 7, "{blocks}");
    let block = demo.kubectl(&[
        "get",
        "ipamblocks.crd.projectcalico.org",
        "10-233-64-0-26",
        "-o",
        "jsonpath={.spec.allocations}",
    ]);
    assert!(
        block.contains("null"),
        "the nulls of allocations survive seeding: {block}"
    );

    // Re-running is safe: nothing fails and nothing is duplicated.
    let out = demo.script("scripts/demo.sh", &["--seed-only"]);
    assert!(
        out.status.success(),
        "second run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        demo.kubectl(&["get", "ipamblocks.crd.projectcalico.org", "-o", "name"])
            .lines()
            .count(),
        7
    );

    // The server syncs its caches against the seeded cluster.
    let kubeconfig = kube::config::Kubeconfig::read_from(demo.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    let server = Server::start(&test_config(), config, Mode::All)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("http://{}/readyz", server.local_addr());
    wait_for(SYNC, "/readyz 200 on the demo cluster", || async {
        (http.get(&url).send().await.ok()?.status() == 200).then_some(())
    })
    .await;
    assert_eq!(server.caches().ippools.store().len(), 5);
    assert_eq!(server.caches().ipam_blocks.store().len(), 7);
    server.shutdown().await.unwrap();
}
