//! `POST /validate-crd-projectcalico-org-v1` (api §6): the Calico IPPool admission webhook. Parses the
//! `admission.k8s.io/v1` AdmissionReview, asks [`crate::service::pool_admission`], answers with the review's
//! response. Anything that is not a review of a Calico pool is a 400 `Status`.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ApiError, AppState};
use crate::cluster::calico::IPPool;
use crate::domain::pool_admission::Decision;
use crate::service::pool_admission::{self, PoolChange};
use crate::service::pools::pools;

/// The webhook's path, served without authentication (kube-apiserver calls it).
pub const PATH: &str = "/validate-crd-projectcalico-org-v1";

const REVIEW_API_VERSION: &str = "admission.k8s.io/v1";
const REVIEW_KIND: &str = "AdmissionReview";

/// The webhook's route (only when `webhook.enabled`).
pub fn routes() -> Router<AppState> {
    Router::new().route(PATH, post(validate))
}

/// An incoming AdmissionReview; only what the webhook reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Review {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    request: Option<Request>,
}

/// `AdmissionReview.request`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    resource: Resource,
    #[serde(default)]
    operation: String,
    object: Option<Value>,
    old_object: Option<Value>,
}

/// `AdmissionReview.request.resource`.
#[derive(Default, Deserialize)]
struct Resource {
    #[serde(default)]
    group: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    resource: String,
}

/// The AdmissionReview answered.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    api_version: &'static str,
    kind: &'static str,
    response: Response,
}

/// `AdmissionReview.response`.
#[derive(Serialize)]
struct Response {
    uid: String,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<Denial>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

/// `AdmissionReview.response.status` of a denial; `reason` repeats the message, as KubeSphere's webhook did.
#[derive(Serialize)]
struct Denial {
    code: u16,
    reason: String,
    message: String,
}

/// api §6: allow or deny a CREATE, UPDATE or DELETE of a Calico IPPool.
async fn validate(State(state): State<AppState>, body: Bytes) -> Result<Json<Answer>, ApiError> {
    let (uid, change) = parse(&body)?;
    let decision = pool_admission::review(&state.services, &change);
    Ok(Json(answer(uid, decision)))
}

/// The review's uid and the pool change it asks about; 400 unless it is a review of Calico pools.
fn parse(body: &[u8]) -> Result<(String, PoolChange), ApiError> {
    let review: Review = serde_json::from_slice(body)
        .map_err(|e| bad(format!("the body is not an AdmissionReview: {e}")))?;
    if review.api_version != REVIEW_API_VERSION || review.kind != REVIEW_KIND {
        return Err(bad(format!(
            "expected apiVersion {REVIEW_API_VERSION:?} and kind {REVIEW_KIND:?}, got {:?} and {:?}",
            review.api_version, review.kind
        )));
    }
    let request = review
        .request
        .ok_or_else(|| bad("the AdmissionReview has no request".into()))?;
    if request.uid.is_empty() {
        return Err(bad("the AdmissionReview request has no uid".into()));
    }
    let expected = pools();
    let resource = &request.resource;
    if (&resource.group, &resource.version, &resource.resource)
        != (&expected.group, &expected.version, &expected.plural)
    {
        return Err(bad(format!(
            "this webhook reviews {}/{} {}, not {:?}/{:?} {:?}",
            expected.group,
            expected.version,
            expected.plural,
            resource.group,
            resource.version,
            resource.resource
        )));
    }
    let (object, old_object) = (request.object.as_ref(), request.old_object.as_ref());
    let change = match request.operation.as_str() {
        "CREATE" => PoolChange::Create(pool_of(object, "object")?),
        "UPDATE" => PoolChange::Update {
            new: pool_of(object, "object")?,
            old: Box::new(pool_of(old_object, "oldObject")?),
        },
        "DELETE" => PoolChange::Delete(pool_of(old_object, "oldObject")?),
        other => {
            return Err(bad(format!(
                "request.operation {other:?} is not reviewed; expected CREATE, UPDATE or DELETE"
            )));
        }
    };
    Ok((request.uid, change))
}

/// The pool in `request.<field>`, or 400 when it is absent or not a Calico IPPool.
fn pool_of(value: Option<&Value>, field: &str) -> Result<IPPool, ApiError> {
    let value = value.ok_or_else(|| bad(format!("the AdmissionReview request has no {field}")))?;
    let expected = pools();
    if value["apiVersion"] != expected.api_version.as_str()
        || value["kind"] != expected.kind.as_str()
    {
        return Err(bad(format!(
            "request.{field} is not a {} {}",
            expected.api_version, expected.kind
        )));
    }
    serde_json::from_value(value.clone()).map_err(|e| {
        bad(format!(
            "request.{field} is not a valid {}: {e}",
            expected.kind
        ))
    })
}

fn bad(message: String) -> ApiError {
    ApiError::BadRequest(message)
}

/// The AdmissionReview answering request `uid` with `decision`.
fn answer(uid: String, decision: Decision) -> Answer {
    let denial = |code: u16, message: String| Denial {
        code,
        reason: message.clone(),
        message,
    };
    let (allowed, status, warnings) = match decision {
        Decision::Allowed { warnings } => (true, None, warnings),
        Decision::Forbidden(message) => (false, Some(denial(403, message)), Vec::new()),
        Decision::Unavailable(message) => (false, Some(denial(503, message)), Vec::new()),
    };
    Answer {
        api_version: REVIEW_API_VERSION,
        kind: REVIEW_KIND,
        response: Response {
            uid,
            allowed,
            status,
            warnings,
        },
    }
}
