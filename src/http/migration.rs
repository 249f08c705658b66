//! `POST …/ippoolmigrations` and `POST …/ippools/{name}/unbind` (api §1.4, api §1.6): request parsing here, the
//! work in [`crate::service::migration`]. Both have `server.longRequestTimeoutSeconds` instead of
//! `server.requestTimeoutSeconds`, and their work runs in its own task: a request cut off by the timeout (or
//! dropped by its client) is answered 504 while the writes and their audit events still finish, and the summary
//! nobody waits for is logged.

use std::collections::HashMap;
use std::error::Error;
use std::future::Future;

use axum::body::Bytes;
use axum::extract::{Extension, FromRequest, Multipart, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::IntoResponse;
use axum::{Json, Router, routing::post};
use http_body_util::LengthLimitError;
use serde_json::Value;

use super::extract::{CheckedPath, QueryPairs, RequestId};
use super::{ApiError, AppState, Limits};
use crate::auth::Caller;
use crate::service;
use crate::service::migration::{self, MigrationRequest, Summary};

const BASE: &str = "/kapis/network.kubesphere.io/v1alpha2";

/// The routes of api §1.4 and api §1.6.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{BASE}/ippoolmigrations"), post(migrate))
        .route(&format!("{BASE}/ippools/{{name}}/unbind"), post(unbind))
}

/// Whether a request is a migration (on `/kapis` or `/apis`) or an unbind, which get
/// `server.longRequestTimeoutSeconds`.
pub fn is_long_request(method: &Method, path: &str) -> bool {
    if method != Method::POST {
        return false;
    }
    if super::aggregated::is_migration(path) {
        return true;
    }
    let Some(rest) = path.strip_prefix(BASE) else {
        return false;
    };
    rest == "/ippoolmigrations"
        || rest
            .strip_prefix("/ippools/")
            .and_then(|rest| rest.strip_suffix("/unbind"))
            .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// Runs a migration or unbind to completion in its own task, so that a request cut off by its timeout or
/// dropped by its client does not stop the work halfway; a result nobody waits for any more is logged.
pub(super) async fn run_to_completion<F>(
    operation: &'static str,
    request_id: String,
    work: F,
) -> Result<Summary, ApiError>
where
    F: Future<Output = Result<Summary, service::Error>> + Send + 'static,
{
    let (done, outcome) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let Err(unclaimed) = done.send(work.await) else {
            return;
        };
        match unclaimed {
            Ok(summary) => tracing::warn!(
                request_id,
                operation,
                complete = summary.complete,
                summary = %summary.body,
                "finished after its request was answered or dropped"
            ),
            Err(error) => tracing::warn!(
                request_id,
                operation,
                %error,
                "failed after its request was answered or dropped"
            ),
        }
    });
    // The sender is only dropped unsent when the work panicked.
    outcome
        .await
        .map_err(|_| ApiError::Internal("internal error".into()))?
        .map_err(ApiError::from)
}

/// api §1.4: move namespaces and workloads from `oldippool` to `newippool`.
pub async fn migrate(
    State(state): State<AppState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    QueryPairs(query): QueryPairs,
    Extension(limits): Extension<Limits>,
    request: Request,
) -> Result<impl IntoResponse, ApiError> {
    let query: HashMap<String, String> = query.into_iter().collect();
    let body = body_fields(request, limits.max_body_bytes).await?;
    let field = |name: &str| first_non_empty(body.get(name), query.get(name));
    let input = MigrationRequest {
        old: field("oldippool"),
        new: field("newippool"),
        dry_run: is_dry_run(&field("dryRun")),
    };
    let services = state.services.clone();
    let id = request_id.clone();
    let summary = run_to_completion("ippoolmigration", request_id, async move {
        migration::migrate(&services, &caller, &id, input).await
    })
    .await?;
    Ok(respond(summary))
}

/// api §1.6: unbind every namespace from the pool.
pub async fn unbind(
    State(state): State<AppState>,
    caller: Caller,
    CheckedPath(name): CheckedPath<String>,
    QueryPairs(query): QueryPairs,
    RequestId(request_id): RequestId,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let query: HashMap<String, String> = query.into_iter().collect();
    let body_dry_run = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("invalid request body: {e}")))?;
        value.get("dryRun").map(json_field)
    };
    let dry_run = is_dry_run(&first_non_empty(body_dry_run.as_ref(), query.get("dryRun")));
    let services = state.services.clone();
    let id = request_id.clone();
    let summary = run_to_completion("unbind", request_id, async move {
        migration::unbind(&services, &caller, &id, &name, dry_run).await
    })
    .await?;
    Ok(respond(summary))
}

/// 200 with the summary, or 500 with it when a write failed (api §1.4).
fn respond(summary: Summary) -> (StatusCode, Json<Value>) {
    let code = if summary.complete {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    (code, Json(summary.body))
}

/// `dryRun` is on for `true` and `All` (api §1.4).
pub fn is_dry_run(value: &str) -> bool {
    value == "true" || value == "All"
}

fn first_non_empty(body: Option<&String>, query: Option<&String>) -> String {
    [body, query]
        .into_iter()
        .flatten()
        .find(|v| !v.is_empty())
        .cloned()
        .unwrap_or_default()
}

/// A JSON field as the string a form would carry (`true` stays `true`).
fn json_field(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The fields of a form, multipart or JSON body; an empty body has none. A body over `max_body_bytes`
/// (api §0.7) is a 413, whether its length was announced or it arrived in chunks (the limit's error can come
/// wrapped deeper than axum's multipart rejection looks).
async fn body_fields(
    request: Request,
    max_body_bytes: usize,
) -> Result<HashMap<String, String>, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let rejected = |error: &(dyn Error + 'static), status: StatusCode, detail: String| {
        if over_limit(error) || status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(max_body_bytes)
        } else {
            ApiError::BadRequest(format!("invalid request body: {detail}"))
        }
    };
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(request, &())
            .await
            .map_err(|e| rejected(&e, e.status(), e.body_text()))?;
        let mut fields = HashMap::new();
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| rejected(&e, e.status(), e.body_text()))?
        {
            let name = field.name().unwrap_or_default().to_owned();
            let value = field
                .text()
                .await
                .map_err(|e| rejected(&e, e.status(), e.body_text()))?;
            fields.insert(name, value);
        }
        return Ok(fields);
    }
    let body = Bytes::from_request(request, &())
        .await
        .map_err(|e| rejected(&e, e.status(), e.body_text()))?;
    parse_body(&content_type, &body)
}

/// Whether a body error comes from the length limit, however deeply wrapped.
fn over_limit(error: &(dyn Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if error.is::<LengthLimitError>() {
            return true;
        }
        next = error.source();
    }
    false
}

/// Parses a non-multipart body by content type (api §1.4 inputs).
pub fn parse_body(content_type: &str, body: &[u8]) -> Result<HashMap<String, String>, ApiError> {
    let invalid = |detail: String| ApiError::BadRequest(format!("invalid request body: {detail}"));
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(HashMap::new());
    }
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    match media_type {
        "application/x-www-form-urlencoded" => {
            serde_urlencoded::from_bytes(body).map_err(|e| invalid(e.to_string()))
        }
        "application/json" => {
            let value: Value = serde_json::from_slice(body).map_err(|e| invalid(e.to_string()))?;
            let object = value
                .as_object()
                .ok_or_else(|| invalid("expected a JSON object".into()))?;
            Ok(object
                .iter()
                .map(|(k, v)| (k.clone(), json_field(v)))
                .collect())
        }
        other => Err(ApiError::UnsupportedMediaType(format!(
            "unsupported media type {other:?}: send application/x-www-form-urlencoded, multipart/form-data or application/json"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_and_json_bodies_give_the_same_fields() {
        let form = parse_body(
            "application/x-www-form-urlencoded",
            b"oldippool=pool-a&newippool=pool-b&dryRun=true",
        )
        .unwrap();
        let json = parse_body(
            "application/json; charset=utf-8",
            br#"{"oldippool":"pool-a","newippool":"pool-b","dryRun":true}"#,
        )
        .unwrap();
        assert_eq!(form, json);
        assert!(is_dry_run(&form["dryRun"]));
    }

    #[test]
    fn empty_bodies_have_no_fields_whatever_their_type() {
        assert!(parse_body("text/plain", b"").unwrap().is_empty());
        assert!(parse_body("", b"  \n").unwrap().is_empty());
    }

    #[test]
    fn bad_bodies_are_400_or_415() {
        let err = parse_body("application/json", br#"{"oldippool":"#).unwrap_err();
        assert_eq!(err.code(), StatusCode::BAD_REQUEST);
        assert!(
            err.to_string().starts_with("invalid request body: "),
            "{err}"
        );
        assert_eq!(
            parse_body("text/plain", b"x").unwrap_err().code(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            parse_body("application/json", b"[1]").unwrap_err().code(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn body_fields_win_over_the_query_unless_empty() {
        let body = "a".to_owned();
        let empty = String::new();
        let query = "b".to_owned();
        assert_eq!(first_non_empty(Some(&body), Some(&query)), "a");
        assert_eq!(first_non_empty(Some(&empty), Some(&query)), "b");
        assert_eq!(first_non_empty(None, None), "");
    }

    #[tokio::test]
    async fn the_work_finishes_after_its_request_is_dropped() {
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let (finished, mut done) = tokio::sync::mpsc::unbounded_channel();
        let request = run_to_completion("test", "id".into(), async move {
            let _ = released.await;
            let _ = finished.send(());
            Ok(Summary {
                complete: true,
                body: Value::Null,
                failed_writes: Vec::new(),
            })
        });
        let cut = tokio::time::timeout(std::time::Duration::from_millis(10), request).await;
        assert!(
            cut.is_err(),
            "the request should time out while the work waits"
        );
        release.send(()).unwrap();
        assert_eq!(done.recv().await, Some(()));
    }

    #[test]
    fn only_posted_migrations_and_unbinds_are_long_on_both_surfaces() {
        let post = |path: &str| is_long_request(&Method::POST, path);
        assert!(post(
            "/kapis/network.kubesphere.io/v1alpha2/ippoolmigrations"
        ));
        assert!(post(
            "/kapis/network.kubesphere.io/v1alpha2/ippools/pool-a/unbind"
        ));
        assert!(!post(
            "/kapis/network.kubesphere.io/v1alpha2/ippools//unbind"
        ));
        assert!(!post(
            "/kapis/network.kubesphere.io/v1alpha2/ippools/a/b/unbind"
        ));
        assert!(!post(
            "/kapis/network.kubesphere.io/v1alpha2/ippools/pool-a"
        ));
        assert!(!post(
            "/kapis/network.kubesphere.io/v1alpha2/ippoolmigrations/x"
        ));
        assert!(!post(
            "/kapis/network.kubesphere.io/v1alpha1/ippoolmigrations"
        ));
        assert!(post(
            "/apis/network.kubesphere.io/v1alpha2/ippoolmigrations"
        ));
        assert!(!is_long_request(
            &Method::GET,
            "/kapis/network.kubesphere.io/v1alpha2/ippoolmigrations"
        ));
    }

    #[test]
    fn dry_run_values() {
        assert!(is_dry_run("true") && is_dry_run("All"));
        assert!(!is_dry_run("false") && !is_dry_run("1") && !is_dry_run("") && !is_dry_run("TRUE"));
    }
}
