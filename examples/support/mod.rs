//! What the measuring examples share (each includes this file with `#[path]`): installing the CRDs of
//! config/crds/ and retrying requests that failed transiently.

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::discovery::ApiResource;

/// Any error of an example.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Whether a failed request is worth another try (the control plane is busy: 429, 5xx, transport errors).
pub fn transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::SerdeError(_) => false,
        _ => true,
    }
}

/// Runs `request` until it succeeds, fails for good, or failed transiently 8 times.
pub async fn retry<T>(request: impl AsyncFn() -> Result<T, kube::Error>) -> Result<T, kube::Error> {
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        match request().await {
            Err(error) if attempt < 8 && transient(&error) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Creates the CRDs of config/crds/ (the product's and the upstream ones; existing ones are kept) and waits until
/// each of `served` answers a list (at most 60 s).
pub async fn install_crds(client: &kube::Client, served: &[ApiResource]) -> Result<(), BoxError> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/crds");
    for dir in [root.clone(), root.join("upstream")] {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let crd: CustomResourceDefinition =
                    serde_saphyr::from_str(&std::fs::read_to_string(&path)?)?;
                match retry(async || crds.create(&PostParams::default(), &crd).await).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(status)) if status.code == 409 => {}
                    Err(error) => return Err(error.into()),
                }
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for resource in served {
        let api = Api::<DynamicObject>::all_with(client.clone(), resource);
        while let Err(error) = api.list(&ListParams::default().limit(1)).await {
            if Instant::now() > deadline {
                return Err(format!("{} not served after 60 s: {error}", resource.plural).into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}
