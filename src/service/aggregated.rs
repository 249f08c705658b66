//! The aggregated surface (api §4) in Kubernetes' shapes: `IPPool`/`IPPoolList` of
//! `network.kubesphere.io/v1alpha2`, the `meta.k8s.io/v1` `Table` kubectl asks for, and the create-only
//! `IPPoolMigration`. Authorization and work are those of [`super::pools`] (api §1.1, §1.2) and
//! [`super::migration`] (api §1.4).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use kube::core::{PartialObjectMeta, PartialObjectMetaExt, TypeMeta};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::migration::{MigrationRequest, Summary};
use super::pools::{self, PoolSet, PoolWithStatus};
use super::{Context, Error};
use crate::auth::{Access, Caller, Verb};
use crate::cluster::calico::IPPool;
use crate::cluster::served;
use crate::domain::age::human_duration;
use crate::domain::occupancy::json_integer;
use crate::domain::pool::Pool;
use crate::query::{KubeListQuery, empty_labels};

/// `apiVersion` of `Table` and `PartialObjectMetadata`.
const META_V1: &str = "meta.k8s.io/v1";

/// api §4.2 list: the pools matching `query`, sorted by name (authorized as api §1.1).
pub async fn list(
    context: &Context,
    caller: &Caller,
    query: &KubeListQuery,
) -> Result<Vec<PoolWithStatus>, Error> {
    context
        .authorize(caller, &Access::to(Verb::List, &pools::pools()))
        .await?;
    let set = PoolSet::load(context)?;
    let chosen: Vec<&Pool> = set
        .objects
        .iter()
        .zip(&set.facts)
        .filter(|(object, _)| matches(object, query))
        .map(|(_, facts)| facts)
        .collect();
    Ok(set.with_statuses(&context.caches.occupancy, &chosen))
}

/// Whether `pool` satisfies the label and field selectors (the field selector only sees `metadata.name`).
fn matches(pool: &IPPool, query: &KubeListQuery) -> bool {
    let labels = pool.metadata.labels.as_ref().unwrap_or(empty_labels());
    let name = json!({"metadata": {"name": pool.metadata.name}});
    query
        .label_selector
        .as_ref()
        .is_none_or(|s| s.matches(labels))
        && query
            .field_selector
            .as_ref()
            .is_none_or(|s| s.matches(&name))
}

/// api §4.2 get: one pool (authorized as api §1.2); 404 names `ippools.network.kubesphere.io`.
pub async fn get(context: &Context, caller: &Caller, name: &str) -> Result<PoolWithStatus, Error> {
    context
        .authorize(caller, &Access::to(Verb::Get, &pools::pools()).named(name))
        .await?;
    let set = PoolSet::load(context)?;
    let not_found = || Error::not_found(&served::ippools(), name);
    let (_, facts) = set.get(name).map_err(|_| not_found())?;
    set.with_statuses(&context.caches.occupancy, &[facts])
        .pop()
        .ok_or_else(not_found)
}

/// The api §1.0 object as a `network.kubesphere.io/v1alpha2` `IPPool`.
pub fn object(pool: &PoolWithStatus) -> Value {
    let served = served::ippools();
    let mut object = pools::pool_object(&pool.object, Some(pool.status.clone()));
    object["apiVersion"] = served.api_version.into();
    object["kind"] = served.kind.into();
    object
}

/// `{"kind":"IPPoolList","apiVersion":"network.kubesphere.io/v1alpha2","metadata":{"resourceVersion":""},…}`.
pub fn list_object(pools: &[PoolWithStatus]) -> Value {
    let served = served::ippools();
    json!({
        "kind": format!("{}List", served.kind),
        "apiVersion": served.api_version,
        "metadata": {"resourceVersion": ""},
        "items": pools.iter().map(object).collect::<Vec<_>>(),
    })
}

/// A `meta.k8s.io/v1` `Table`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    #[serde(flatten)]
    types: TypeMeta,
    metadata: ListMeta,
    column_definitions: Vec<Column>,
    rows: Vec<Row>,
}

/// A `TableColumnDefinition`.
#[derive(Debug, Serialize)]
struct Column {
    name: &'static str,
    /// OpenAPI type: `string`, `integer`, `boolean`, `date`.
    #[serde(rename = "type")]
    kind: &'static str,
    /// OpenAPI format: `name` for the object's name, else empty.
    format: &'static str,
    description: &'static str,
    /// 0: shown by default.
    priority: i32,
}

/// A `TableRow`: the cells of [`COLUMNS`] and the pool's metadata.
#[derive(Debug, Serialize)]
struct Row {
    cells: Vec<Value>,
    object: PartialObjectMeta<IPPool>,
}

/// `(name, type, format, description)` of each column, in cell order.
const COLUMNS: [(&str, &str, &str, &str); 9] = [
    ("Name", "string", "name", "Name of the pool"),
    ("CIDR", "string", "", "Addresses of the pool"),
    (
        "Disabled",
        "boolean",
        "",
        "Whether the pool hands out no new addresses",
    ),
    ("Capacity", "integer", "", "Addresses in the pool"),
    (
        "Allocations",
        "integer",
        "",
        "Addresses allocated to workloads",
    ),
    ("Tunnel", "integer", "", "Addresses of tunnel devices"),
    (
        "Reserved",
        "integer",
        "",
        "Addresses allocated without a usable handle",
    ),
    ("Unallocated", "integer", "", "Addresses still free"),
    ("Age", "date", "", "Time since the pool was created"),
];

/// api §4.2: the pools as a `Table`, one row each, ages counted up to `now`.
pub fn table(pools: &[PoolWithStatus], now: jiff::Timestamp) -> Table {
    let column_definitions = COLUMNS
        .iter()
        .map(|&(name, kind, format, description)| Column {
            name,
            kind,
            format,
            description,
            priority: 0,
        })
        .collect();
    Table {
        types: TypeMeta {
            api_version: META_V1.to_owned(),
            kind: "Table".to_owned(),
        },
        metadata: ListMeta {
            resource_version: Some(String::new()),
            ..ListMeta::default()
        },
        column_definitions,
        rows: pools.iter().map(|pool| row(pool, now)).collect(),
    }
}

/// Case 186: name, CIDR, disabled, capacity, allocations, tunnel, reserved, unallocated, age.
fn row(pool: &PoolWithStatus, now: jiff::Timestamp) -> Row {
    let (object, status) = (&pool.object, &pool.status);
    let age = object.metadata.creation_timestamp.as_ref().map_or_else(
        || "<unknown>".to_owned(),
        |created| human_duration(now.as_second() - created.0.as_second()),
    );
    let cells = vec![
        json!(object.metadata.name.clone().unwrap_or_default()),
        json!(object.spec.cidr),
        json!(object.spec.disabled.unwrap_or(false)),
        json!(json_integer(status.capacity)),
        json!(json_integer(status.allocations)),
        json!(json_integer(status.tunnel)),
        json!(json_integer(status.reserved)),
        json!(json_integer(status.unallocated)),
        json!(age),
    ];
    Row {
        cells,
        object: object.metadata.clone().into_response_partial(),
    }
}

/// An `IPPoolMigration` a client posted (api §4.3): the object as sent, and the migration it asks for.
#[derive(Debug)]
pub struct Migration {
    object: Map<String, Value>,
    /// `spec.oldIPPool`, `spec.newIPPool` and the `dryRun` parameter.
    pub request: MigrationRequest,
}

/// Reads a JSON `IPPoolMigration` body: 400 when it is not JSON, not an object, of another `apiVersion` or
/// `kind`, or its pool names are not strings. Empty names are left to the migration's own validation.
pub fn migration(body: &[u8], dry_run: bool) -> Result<Migration, Error> {
    let invalid = |detail: String| Error::BadRequest(format!("invalid request body: {detail}"));
    let object = match serde_json::from_slice(body).map_err(|e| invalid(e.to_string()))? {
        Value::Object(object) => object,
        _ => return Err(invalid("expected a JSON object".into())),
    };
    let served = served::ippool_migrations();
    let text = |key: &str| object.get(key).and_then(Value::as_str).unwrap_or_default();
    if text("apiVersion") != served.api_version || text("kind") != served.kind {
        return Err(invalid(format!(
            "expected apiVersion {:?} and kind {:?}, got {:?} and {:?}",
            served.api_version,
            served.kind,
            text("apiVersion"),
            text("kind")
        )));
    }
    let spec = object.get("spec").unwrap_or(&Value::Null);
    let pool = |key: &str| match spec.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(name)) => Ok(name.clone()),
        Some(_) => Err(invalid(format!("spec.{key} must be a string"))),
    };
    let request = MigrationRequest {
        old: pool("oldIPPool")?,
        new: pool("newIPPool")?,
        dry_run,
    };
    Ok(Migration { object, request })
}

/// The created object: `migration` as sent plus `status` = the summary without `message`; a partial failure
/// is a 500 listing the failed writes.
pub fn created(migration: Migration, summary: Summary) -> Result<Value, Error> {
    if !summary.complete {
        return Err(Error::Internal(format!(
            "partial failure: {} write(s) failed: {}",
            summary.failed_writes.len(),
            summary.failed_writes.join("; ")
        )));
    }
    let mut status = summary.body;
    if let Some(status) = status.as_object_mut() {
        status.remove("message");
    }
    let mut object = migration.object;
    object.insert("status".into(), status);
    Ok(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use kube::api::ObjectMeta;

    use super::*;
    use crate::cluster::calico::IPPoolSpec;
    use crate::domain::occupancy::PoolStatus;

    fn pool(name: &str, created: &str) -> PoolWithStatus {
        let mut object = IPPool::new(
            name,
            IPPoolSpec {
                cidr: "10.233.64.0/18".into(),
                ..IPPoolSpec::default()
            },
        );
        object.metadata = ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([("tier".into(), "a".into())])),
            creation_timestamp: Some(Time(created.parse().unwrap())),
            ..ObjectMeta::default()
        };
        PoolWithStatus {
            object: Arc::new(object),
            status: PoolStatus {
                capacity: 16384,
                allocations: 5,
                unallocated: 16373,
                reserved: 5,
                tunnel: 1,
                ..PoolStatus::default()
            },
        }
    }

    #[test]
    fn table_rows_follow_case_186() {
        let now = "2026-03-05T10:00:00Z".parse().unwrap();
        let table = serde_json::to_value(table(&[pool("p", "2026-03-02T05:00:00Z")], now)).unwrap();
        assert_eq!(table["kind"], "Table");
        assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(table["metadata"], json!({"resourceVersion": ""}));
        let names: Vec<&Value> = table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["name"])
            .collect();
        assert_eq!(
            names,
            [
                "Name",
                "CIDR",
                "Disabled",
                "Capacity",
                "Allocations",
                "Tunnel",
                "Reserved",
                "Unallocated",
                "Age"
            ]
        );
        assert_eq!(
            table["columnDefinitions"][0],
            json!({"name": "Name", "type": "string", "format": "name", "description": "Name of the pool", "priority": 0})
        );
        assert_eq!(
            table["rows"][0]["cells"],
            json!(["p", "10.233.64.0/18", false, 16384, 5, 1, 5, 16373, "3d5h"])
        );
        assert_eq!(
            table["rows"][0]["object"],
            json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                   "metadata": {"name": "p", "labels": {"tier": "a"}, "creationTimestamp": "2026-03-02T05:00:00Z"}})
        );
    }

    #[test]
    fn pools_and_lists_carry_the_served_version() {
        let list = list_object(&[pool("p", "2026-03-02T05:00:00Z")]);
        assert_eq!(
            (&list["apiVersion"], &list["kind"], &list["metadata"]),
            (
                &json!("network.kubesphere.io/v1alpha2"),
                &json!("IPPoolList"),
                &json!({"resourceVersion": ""})
            )
        );
        let item = &list["items"][0];
        assert_eq!(
            (&item["apiVersion"], &item["kind"]),
            (&json!("network.kubesphere.io/v1alpha2"), &json!("IPPool"))
        );
        assert_eq!(item["status"]["unallocated"], 16373);
    }

    #[test]
    fn migration_bodies_must_be_ippool_migrations() {
        let body = json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "IPPoolMigration",
                          "metadata": {"name": "a-to-b"}, "spec": {"oldIPPool": "pool-a", "newIPPool": "pool-b"}});
        let parsed = migration(body.to_string().as_bytes(), true).unwrap();
        assert_eq!(
            parsed.request,
            MigrationRequest {
                old: "pool-a".into(),
                new: "pool-b".into(),
                dry_run: true
            }
        );
        let summary = Summary {
            complete: true,
            body: json!({"message": "success", "dryRun": true, "namespaces": []}),
            failed_writes: Vec::new(),
        };
        let mut expected = body.clone();
        expected["status"] = json!({"dryRun": true, "namespaces": []});
        assert_eq!(created(parsed, summary).unwrap(), expected);

        let mut wrong = body.clone();
        wrong["kind"] = "IPPool".into();
        let error = migration(wrong.to_string().as_bytes(), false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "invalid request body: expected apiVersion \"network.kubesphere.io/v1alpha2\" and kind \"IPPoolMigration\", got \"network.kubesphere.io/v1alpha2\" and \"IPPool\""
        );
        assert!(
            migration(b"{", false)
                .unwrap_err()
                .to_string()
                .starts_with("invalid request body: ")
        );
        let mut numeric = body;
        numeric["spec"]["oldIPPool"] = 1.into();
        assert!(matches!(
            migration(numeric.to_string().as_bytes(), false),
            Err(Error::BadRequest(_))
        ));
    }

    #[test]
    fn partial_failures_list_the_failed_writes() {
        let body = br#"{"apiVersion":"network.kubesphere.io/v1alpha2","kind":"IPPoolMigration","spec":{}}"#;
        let summary = Summary {
            complete: false,
            body: json!({"message": "partial failure"}),
            failed_writes: vec![
                "Namespace ns3: conflict".into(),
                "Deployment demo/web: gone".into(),
            ],
        };
        let error = created(migration(body, false).unwrap(), summary).unwrap_err();
        assert_eq!(
            error.to_string(),
            "partial failure: 2 write(s) failed: Namespace ns3: conflict; Deployment demo/web: gone"
        );
    }
}
