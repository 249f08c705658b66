//! The aggregated APIService surface `/apis/network.kubesphere.io/v1alpha2` (api §4): discovery from memory,
//! pools as `IPPool`/`IPPoolList` or a `Table`, and the create-only `ippoolmigrations`. Thin handlers over
//! [`crate::service::aggregated`]; `Accept` negotiation is here.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIResource, APIResourceList, GroupVersionForDiscovery,
};
use kube::api::ApiResource;
use serde_json::{Value, json};

use super::extract::{QueryPairs, RequestId};
use super::migration::{is_dry_run, run_to_completion};
use super::{ApiError, AppState};
use crate::auth::Caller;
use crate::cluster::served;
use crate::query::{KubeListQuery, QueryError};
use crate::service::aggregated::{self, Table};
use crate::service::migration;
use crate::service::pools::PoolWithStatus;

/// The group's path; the aggregator proxies only what is below it.
const GROUP_PATH: &str = "/apis/network.kubesphere.io";
/// The served version's path.
const BASE: &str = "/apis/network.kubesphere.io/v1alpha2";

/// The routes of api §4.1–§4.3 (the OpenAPI probes of api §4.4 are simply not routed).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/apis", get(api_groups))
        .route(GROUP_PATH, get(api_group))
        .route(BASE, get(api_resources))
        .route(&format!("{BASE}/ippools"), get(list))
        .route(&format!("{BASE}/ippools/{{name}}"), get(get_one))
        .route(&format!("{BASE}/ippoolmigrations"), post(create_migration))
}

/// Whether a request creates an `IPPoolMigration` (it gets `server.longRequestTimeoutSeconds`).
pub fn is_migration(path: &str) -> bool {
    path.strip_prefix(BASE) == Some("/ippoolmigrations")
}

// ---------------------------------------------------------------------------------------------
// Discovery (api §4.1)
// ---------------------------------------------------------------------------------------------

fn group() -> APIGroup {
    let version = GroupVersionForDiscovery {
        group_version: format!("{}/{}", served::GROUP, served::VERSION),
        version: served::VERSION.to_owned(),
    };
    APIGroup {
        name: served::GROUP.to_owned(),
        preferred_version: Some(version.clone()),
        versions: vec![version],
        ..APIGroup::default()
    }
}

fn resource(served: ApiResource, singular: &str, verbs: &[&str]) -> APIResource {
    APIResource {
        name: served.plural,
        singular_name: singular.to_owned(),
        namespaced: false,
        kind: served.kind,
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        ..APIResource::default()
    }
}

/// api §4.1: the one group this server serves. Like kube-apiserver's, the group inside the list carries no
/// `kind` or `apiVersion` of its own.
pub async fn api_groups(_caller: Caller) -> Json<Value> {
    let mut group = serde_json::to_value(group()).unwrap_or_default();
    if let Some(group) = group.as_object_mut() {
        group.remove("kind");
        group.remove("apiVersion");
    }
    Json(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]}))
}

/// api §4.1: the `APIGroup` of network.kubesphere.io.
pub async fn api_group(_caller: Caller) -> Json<APIGroup> {
    Json(group())
}

/// api §4.1: the resources of v1alpha2 and their verbs (the aggregator's availability check).
pub async fn api_resources(_caller: Caller) -> Json<APIResourceList> {
    Json(APIResourceList {
        group_version: format!("{}/{}", served::GROUP, served::VERSION),
        resources: vec![
            resource(served::ippool_migrations(), "ippoolmigration", &["create"]),
            resource(served::ippools(), "ippool", &["get", "list"]),
        ],
    })
}

// ---------------------------------------------------------------------------------------------
// IP pools (api §4.2)
// ---------------------------------------------------------------------------------------------

/// How a read is answered, from the `Accept` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Representation {
    /// The objects themselves (also when nothing in `Accept` is known).
    Objects,
    /// A `meta.k8s.io/v1` `Table`.
    Table,
}

impl Representation {
    /// The first media range of `Accept` (highest `q` first, then in order) that this server can answer:
    /// `application/json;as=Table;v=v1;g=meta.k8s.io` is a Table; plain `application/json`, `application/*`
    /// and `*/*` are objects; anything else (a v1beta1 Table, protobuf, `PartialObjectMetadata`) is skipped.
    /// Without a match, objects.
    fn negotiate(accept: Option<&str>) -> Representation {
        let mut ranges: Vec<(f32, Option<Representation>)> = accept
            .unwrap_or_default()
            .split(',')
            .map(media_range)
            .collect();
        ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranges
            .into_iter()
            .filter(|(q, _)| *q > 0.0)
            .find_map(|(_, representation)| representation)
            .unwrap_or(Representation::Objects)
    }

    fn of(headers: &HeaderMap) -> Representation {
        let accept = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        Representation::negotiate(Some(&accept))
    }
}

/// One media range: its `q` (default 1) and what it asks for, if this server can answer it.
fn media_range(range: &str) -> (f32, Option<Representation>) {
    let mut parts = range.split(';').map(str::trim);
    let media_type = parts.next().unwrap_or_default().to_ascii_lowercase();
    let (mut q, mut as_, mut v, mut g) = (1.0, None, None, None);
    for parameter in parts {
        let Some((key, value)) = parameter.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        match key.trim().to_ascii_lowercase().as_str() {
            "q" => q = value.parse().unwrap_or(0.0),
            "as" => as_ = Some(value),
            "v" => v = Some(value),
            "g" => g = Some(value),
            _ => {}
        }
    }
    let json = matches!(
        media_type.as_str(),
        "application/json" | "application/*" | "*/*"
    );
    let representation = match (json, as_, v, g) {
        (false, ..) => None,
        (true, None, ..) => Some(Representation::Objects),
        (true, Some("Table"), Some("v1"), Some("meta.k8s.io")) => Some(Representation::Table),
        (true, Some(_), ..) => None,
    };
    (q, representation)
}

/// The list body for `representation`.
fn list_response(pools: &[PoolWithStatus], representation: Representation) -> Response {
    match representation {
        Representation::Objects => Json(aggregated::list_object(pools)).into_response(),
        Representation::Table => Json(table(pools)).into_response(),
    }
}

fn table(pools: &[PoolWithStatus]) -> Table {
    aggregated::table(pools, jiff::Timestamp::now())
}

/// A list parameter error: `watch` is a 405 here (api §4.2), the rest 400.
fn query_error(error: QueryError) -> ApiError {
    match error {
        QueryError::WatchNotSupported => ApiError::MethodNotAllowed(error.to_string()),
        other => ApiError::BadRequest(other.to_string()),
    }
}

/// api §4.2: every pool with status as an `IPPoolList`, or a `Table`.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    QueryPairs(query): QueryPairs,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = KubeListQuery::parse(&query).map_err(query_error)?;
    let pools = aggregated::list(&state.services, &caller, &query).await?;
    Ok(list_response(&pools, Representation::of(&headers)))
}

/// api §4.2: one pool with status as an `IPPool`, or a one-row `Table`.
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pool = aggregated::get(&state.services, &caller, &name).await?;
    Ok(match Representation::of(&headers) {
        Representation::Objects => Json(aggregated::object(&pool)).into_response(),
        Representation::Table => Json(table(std::slice::from_ref(&pool))).into_response(),
    })
}

// ---------------------------------------------------------------------------------------------
// Migrations (api §4.3)
// ---------------------------------------------------------------------------------------------

/// api §4.3: run the migration an `IPPoolMigration` describes; nothing is stored.
pub async fn create_migration(
    State(state): State<AppState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    QueryPairs(query): QueryPairs,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    // Like kube-apiserver, a body without a content type is read as JSON (`kubectl create --raw` sends none).
    if !media_type.is_empty() && !media_type.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::UnsupportedMediaType(format!(
            "unsupported media type {content_type:?}: send application/json"
        )));
    }
    let dry_run = query
        .iter()
        .find(|(key, _)| key == "dryRun")
        .is_some_and(|(_, value)| is_dry_run(value));
    let request = aggregated::migration(&body, dry_run)?;
    let input = request.request.clone();
    let services = state.services.clone();
    let id = request_id.clone();
    let summary = run_to_completion("ippoolmigration", request_id, async move {
        migration::migrate(&services, &caller, &id, input).await
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(aggregated::created(request, summary)?),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        let table = Representation::Table;
        let objects = Representation::Objects;
        let cases = [
            (None, objects),
            (Some(""), objects),
            (Some("application/json"), objects),
            (Some("application/json;as=Table;v=v1;g=meta.k8s.io"), table),
            (
                Some(
                    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
                ),
                table,
            ),
            (
                Some("Application/JSON ; as=Table ; g=meta.k8s.io ; v=v1"),
                table,
            ),
            // v1beta1 Tables, protobuf and metadata-only lists are not served: the next range decides.
            (
                Some("application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"),
                objects,
            ),
            (
                Some(
                    "application/vnd.kubernetes.protobuf,application/json;as=Table;v=v1;g=meta.k8s.io",
                ),
                table,
            ),
            (
                Some("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"),
                objects,
            ),
            (Some("text/html"), objects),
            // Highest q first; q=0 is "not acceptable".
            (
                Some("application/json;q=0.5,application/json;as=Table;v=v1;g=meta.k8s.io"),
                table,
            ),
            (
                Some("application/json;as=Table;v=v1;g=meta.k8s.io;q=0.5,application/json"),
                objects,
            ),
            (
                Some("application/json;as=Table;v=v1;g=meta.k8s.io;q=0"),
                objects,
            ),
            (Some("*/*"), objects),
        ];
        for (accept, expected) in cases {
            assert_eq!(Representation::negotiate(accept), expected, "{accept:?}");
        }
    }

    #[test]
    fn only_the_migration_path_is_a_migration() {
        assert!(is_migration(
            "/apis/network.kubesphere.io/v1alpha2/ippoolmigrations"
        ));
        assert!(!is_migration(
            "/apis/network.kubesphere.io/v1alpha2/ippoolmigrations/x"
        ));
        assert!(!is_migration(
            "/apis/network.kubesphere.io/v1alpha2/ippools"
        ));
    }
}
