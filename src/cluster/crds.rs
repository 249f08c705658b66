//! The CustomResourceDefinitions generated from the Rust types (`crds` mode, `config/crds/`).

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use super::calico::{BlockAffinity, IPAMBlock, IPAMHandle, IPPool, IPReservation};
use super::kubesphere::{NamespaceNetworkPolicy, Workspace, WorkspaceTemplate};

/// The CRDs the product owns: `namespacenetworkpolicies.network.kubesphere.io`.
pub fn owned() -> Vec<CustomResourceDefinition> {
    let mut nsnp = NamespaceNetworkPolicy::crd();
    nsnp.metadata.labels = Some(BTreeMap::from([(
        "kubesphere.io/resource-served".to_owned(),
        "true".to_owned(),
    )]));
    vec![nsnp]
}

/// CRDs of Calico and KubeSphere's tenant API that the product reads, for test and demo clusters.
pub fn upstream() -> Vec<CustomResourceDefinition> {
    vec![
        IPPool::crd(),
        IPAMBlock::crd(),
        BlockAffinity::crd(),
        IPAMHandle::crd(),
        IPReservation::crd(),
        Workspace::crd(),
        WorkspaceTemplate::crd(),
    ]
}

/// The committed file name of a CRD: `<group>_<plural>.yaml`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// One CRD as a YAML document.
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_saphyr::ser::Error> {
    serde_saphyr::to_string(crd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn check_dir(dir: &Path, crds: &[CustomResourceDefinition]) {
        let mut stale = Vec::new();
        for crd in crds {
            let path = dir.join(file_name(crd));
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            if committed != to_yaml(crd).unwrap() {
                stale.push(path.display().to_string());
            }
        }
        assert!(
            stale.is_empty(),
            "committed CRDs differ from the generated ones: {stale:?}; run `cargo run -- crds --out-dir config/crds`"
        );
    }

    #[test]
    fn committed_crds_match_the_types() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/crds");
        check_dir(&root, &owned());
        check_dir(&root.join("upstream"), &upstream());
    }

    #[test]
    fn nsnp_crd_has_the_console_metadata() {
        let crd = &owned()[0];
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some("namespacenetworkpolicies.network.kubesphere.io")
        );
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.names.short_names, Some(vec!["nsnp".to_owned()]));
        assert_eq!(
            crd.spec.names.categories,
            Some(vec!["networking".to_owned()])
        );
        let labels = crd.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["kubesphere.io/resource-served"], "true");
    }

    #[test]
    fn ipam_block_allocations_are_nullable_integers() {
        let crd = IPAMBlock::crd();
        let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
        let items =
            &schema["openAPIV3Schema"]["properties"]["spec"]["properties"]["allocations"]["items"];
        assert_eq!(items["type"], "integer");
        assert_eq!(items["nullable"], true);
    }
}
