//! The exclusive control plane: a second, private plane lent to one test at a time.
//!
//! For tests that cannot share [`ControlPlane::shared`] with concurrent tests: they stop and restart
//! kube-apiserver, need a CRD set other than all of `config/crds/`, or seed fixed names (`demo`,
//! `default-ipv4-ippool`, …) and check cluster-wide results (every pool, every bound namespace, global
//! metrics). A test takes the lease with [`Exclusive::acquire`] and holds it until it ends; other
//! exclusive tests wait for their turn (tests on the shared plane keep running).
//!
//! Every turn starts from the same cluster: kube-apiserver running, the requested CRD set installed (CRDs
//! are created or deleted to match; deleting one deletes its objects), and nothing left of what earlier
//! tests created through [`Exclusive::create`] / [`Exclusive::create_all`] (deleted in reverse order,
//! finalizers dropped, namespaces finalized: no namespace controller runs here). Objects created
//! another way (e.g. with kubectl) stay; give them unique names.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams};
use kube::{Client, Resource};
use serde_json::Value;
use tokio::sync::{Mutex, MutexGuard};

use super::crds::{self, crd_files, read_crd};
use super::fixtures::{self, remove};
use super::{ControlPlane, CrdSet, User, wait_for};

/// How long a CRD may take to go away (its objects are deleted first).
const CRD_REMOVAL: Duration = Duration::from_secs(60);

/// What earlier turns left behind.
struct Turns {
    /// Objects created through a lease, in creation order, not yet removed.
    created: Vec<Value>,
}

static TURNS: Mutex<Turns> = Mutex::const_new(Turns {
    created: Vec::new(),
});

/// A turn on the exclusive control plane; the next test waits until this one is dropped.
pub struct Exclusive {
    plane: &'static ControlPlane,
    admin: Client,
    turns: MutexGuard<'static, Turns>,
}

impl Exclusive {
    /// Waits for the turn, then prepares the plane: kube-apiserver running, exactly the CRDs of `crds`
    /// (`All` or `OwnedOnly`), and the objects of earlier turns removed.
    pub async fn acquire(crds: CrdSet) -> Exclusive {
        let mut turns = TURNS.lock().await;
        let plane = ControlPlane::exclusive();
        // An earlier test may have ended (panicked) with kube-apiserver stopped.
        plane.start_apiserver();
        let admin = plane.client(User::Admin).await;
        // Newest first: what is inside a namespace goes before the namespace.
        while let Some(object) = turns.created.pop() {
            remove(&admin, &object).await;
        }
        converge_crds(&admin, crds).await;
        Exclusive {
            plane,
            admin,
            turns,
        }
    }

    /// The exclusive control plane.
    pub fn plane(&self) -> &'static ControlPlane {
        self.plane
    }

    /// An admin kube client (of this test's runtime).
    pub fn admin(&self) -> &Client {
        &self.admin
    }

    /// [`fixtures::create`] as admin; the object is removed when the next turn starts.
    pub async fn create(&mut self, object: Value) -> Value {
        self.turns.created.push(object.clone());
        fixtures::create(&self.admin, object).await
    }

    /// [`Exclusive::create`] for each object, in order; returns the stored objects.
    pub async fn create_all(&mut self, objects: Vec<Value>) -> Vec<Value> {
        let mut created = Vec::with_capacity(objects.len());
        for object in objects {
            created.push(self.create(object).await);
        }
        created
    }
}

/// Installs the missing CRDs of `set` and deletes the installed ones of `config/crds/` that are not in it
/// (waiting until they and their objects are gone, and their API is no longer served).
async fn converge_crds(admin: &Client, set: CrdSet) {
    let api: Api<CustomResourceDefinition> = Api::all(admin.clone());
    let wanted = crds::crd_names(set);
    let mut missing = Vec::new();
    for path in crd_files(CrdSet::All) {
        let crd = read_crd(&path);
        let name = crd_name(&crd);
        let installed = api
            .get_opt(&name)
            .await
            .unwrap_or_else(|e| panic!("get CRD {name}: {e}"))
            .is_some();
        match (installed, wanted.contains(&name)) {
            (false, true) => missing.push(path),
            (true, false) => remove_crd(admin, &crd).await,
            _ => {}
        }
    }
    crds::install_files(admin, &missing).await;
}

/// Deletes `crd` and waits until it is gone and kube-apiserver no longer serves its resource.
async fn remove_crd(admin: &Client, crd: &CustomResourceDefinition) {
    let api: Api<CustomResourceDefinition> = Api::all(admin.clone());
    let name = crd_name(crd);
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(e) => panic!("delete CRD {name}: {e}"),
    }
    let group_version = crd
        .spec
        .versions
        .iter()
        .map(|v| format!("{}/{}", crd.spec.group, v.name))
        .collect::<Vec<_>>();
    let plural = crd.spec.names.plural.clone();
    wait_for(CRD_REMOVAL, &format!("CRD {name} removed"), || async {
        if api.get_opt(&name).await.ok()?.is_some() {
            return None;
        }
        for gv in &group_version {
            match admin.list_api_group_resources(gv).await {
                Ok(list) if list.resources.iter().any(|r| r.name == plural) => return None,
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(_) => return None,
            }
        }
        Some(())
    })
    .await;
}

fn crd_name(crd: &CustomResourceDefinition) -> String {
    crd.meta().name.clone().expect("a CRD file names its CRD")
}
