//! The resources this server itself serves through kube-apiserver's aggregator (api §4): the APIService
//! `v1alpha2.network.kubesphere.io`. Nothing of them is stored in the cluster.

use kube::api::{ApiResource, GroupVersionKind};

/// The API group of the aggregated surface.
pub const GROUP: &str = "network.kubesphere.io";
/// Its only version.
pub const VERSION: &str = "v1alpha2";

/// `ippools`: Calico's pools with their occupancy status, read-only (api §4.2).
pub fn ippools() -> ApiResource {
    resource("IPPool", "ippools")
}

/// `ippoolmigrations`: a create-only virtual resource that runs a migration (api §4.3).
pub fn ippool_migrations() -> ApiResource {
    resource("IPPoolMigration", "ippoolmigrations")
}

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, kind), plural)
}
