//! Installing the project's CustomResourceDefinitions into a test control plane.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::PostParams;
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};

use super::CrdSet;

/// How long one CRD may take to become `Established`.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(30);

/// The CRD folder: `$KSNET_TEST_CRD_DIR` when set (to try other files), else `<crate>/config/crds`.
pub fn crd_dir() -> PathBuf {
    std::env::var_os("KSNET_TEST_CRD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("config/crds"))
}

/// The YAML files of `set`, sorted: all under the CRD folder recursively (`All`) or only those
/// directly in it (`OwnedOnly`). None when the folder does not exist.
pub fn crd_files(set: CrdSet) -> Vec<PathBuf> {
    let recursive = match set {
        CrdSet::OwnedOnly => false,
        CrdSet::All => true,
    };
    let mut files = Vec::new();
    collect_yaml(&crd_dir(), recursive, &mut files);
    files.sort();
    files
}

/// Appends the `.yaml`/`.yml` files of `dir` (and of its subfolders when `recursive`) to `out`.
fn collect_yaml(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("read a CRD folder entry").path();
        if path.is_dir() {
            if recursive {
                collect_yaml(&path, recursive, out);
            }
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
}

/// The names of the CRDs in the files of `set`.
pub fn crd_names(set: CrdSet) -> Vec<String> {
    crd_files(set)
        .iter()
        .map(|path| {
            read_crd(path)
                .metadata
                .name
                .expect("a CRD file names its CRD")
        })
        .collect()
}

/// Parses one CRD file (exactly one `apiextensions.k8s.io/v1` CustomResourceDefinition).
pub fn read_crd(path: &Path) -> CustomResourceDefinition {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_saphyr::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not a CustomResourceDefinition: {e}", path.display()))
}

/// Creates the CRDs of `set` with `admin` and waits until each is `Established`.
pub async fn install(admin: &Client, set: CrdSet) {
    install_files(admin, &crd_files(set)).await;
}

/// Creates the CRDs of `files` with `admin` and waits until each is `Established`.
pub async fn install_files(admin: &Client, files: &[PathBuf]) {
    let api: Api<CustomResourceDefinition> = Api::all(admin.clone());
    let mut names = Vec::new();
    for path in files {
        let crd = read_crd(path);
        let created = api
            .create(&PostParams::default(), &crd)
            .await
            .unwrap_or_else(|e| panic!("creating the CRD of {} failed: {e}", path.display()));
        names.push(created.metadata.name.expect("a created CRD has a name"));
    }
    for name in names {
        tokio::time::timeout(
            ESTABLISH_TIMEOUT,
            await_condition(api.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .unwrap_or_else(|_| panic!("CRD {name} not Established after {ESTABLISH_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("watching CRD {name} failed: {e}"));
    }
}
