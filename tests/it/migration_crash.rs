//! A migration cut short by SIGKILL, then run again by a new server process (exclusive plane): the second run
//! writes exactly what the first left undone and reports it (algorithms §7.6), and every namespace ends bound
//! to the new pool, read back from kube-apiserver.

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

use crate::support::api::{IPV4POOLS, MARKER, MIGRATIONS, SYNC};
use crate::support::exclusive::Exclusive;
use crate::support::fixtures::{namespace, pool};
use crate::support::{ControlPlane, CrdSet, User, serve_binary, wait_for};

/// Namespaces bound to the old pool: enough that a migration takes seconds, so it can be cut short.
const NAMESPACES: usize = 600;
const OLD: &str = "crash-old";
const NEW: &str = "crash-new";
const GROUP_LABEL: &str = "ksnet-test/crash";

/// POST the migration OLD → NEW as the admin.
async fn migrate(plane: &ControlPlane, base: &str) -> reqwest::Result<(u16, Value)> {
    let response = reqwest::Client::new()
        .post(format!("{base}{MIGRATIONS}"))
        .bearer_auth(plane.token(User::Admin))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("oldippool={OLD}&newippool={NEW}"))
        .send()
        .await?;
    let code = response.status().as_u16();
    Ok((code, response.json().await.unwrap_or(Value::Null)))
}

/// The test namespaces already bound to NEW (by their Calico annotation, as kube-apiserver has it).
async fn migrated(namespaces: &Api<Namespace>) -> Vec<String> {
    let list = namespaces
        .list(&ListParams::default().labels(GROUP_LABEL))
        .await
        .expect("list namespaces");
    let bound_to_new = format!("[\"{NEW}\"]");
    list.items
        .into_iter()
        .filter(|ns| {
            ns.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(IPV4POOLS))
                == Some(&bound_to_new)
        })
        .filter_map(|ns| ns.metadata.name)
        .collect()
}

#[tokio::test]
async fn a_migration_killed_midway_is_completed_by_running_it_again() {
    let mut cluster = Exclusive::acquire(CrdSet::All).await;
    let plane = cluster.plane();
    let mut objects = vec![
        pool(OLD, json!({"cidr": "10.200.0.0/16", "disabled": true})),
        pool(NEW, json!({"cidr": "10.201.0.0/16"})),
    ];
    objects.extend((0..NAMESPACES).map(|i| {
        namespace(
            &format!("crash-{i:03}"),
            json!({GROUP_LABEL: "", format!("ippool.network.kubesphere.io/{OLD}"): ""}),
            json!({IPV4POOLS: format!("[\"{OLD}\"]"), MARKER: "true"}),
        )
    }));
    cluster.create_all(objects).await;
    let namespaces: Api<Namespace> = Api::all(cluster.admin().clone());
    let dir = tempfile::tempdir().unwrap();

    // The first server starts the migration and is killed once part of it is written.
    let (mut first, base) = serve_binary(plane, dir.path(), "first", &[]).await;
    let running = tokio::spawn({
        let base = base.clone();
        async move { migrate(plane, &base).await }
    });
    let done_before_kill = wait_for(SYNC, "the first namespaces migrated", || async {
        let done = migrated(&namespaces).await;
        (!done.is_empty()).then_some(done)
    })
    .await;
    first.child.kill().expect("SIGKILL");
    let _ = first.child.wait();
    let cut_short = running.await.unwrap();
    assert!(
        cut_short.is_err(),
        "the request died with the server: {cut_short:?}"
    );
    let done_at_kill = migrated(&namespaces).await;
    assert!(
        done_at_kill.len() < NAMESPACES,
        "the migration finished before the kill ({} namespaces); nothing was cut short",
        done_at_kill.len()
    );
    assert!(done_at_kill.len() >= done_before_kill.len());

    // A new server runs the same migration: it writes exactly the rest, and says so.
    let (_second, base) = serve_binary(plane, dir.path(), "second", &[]).await;
    let (code, summary) = migrate(plane, &base)
        .await
        .expect("the second server answers");
    assert_eq!(code, 200, "{summary}");
    let rewritten: Vec<String> = summary["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    let mut expected: Vec<String> = (0..NAMESPACES)
        .map(|i| format!("crash-{i:03}"))
        .filter(|n| !done_at_kill.contains(n))
        .collect();
    expected.sort();
    assert_eq!(rewritten, expected);
    assert_eq!(migrated(&namespaces).await.len(), NAMESPACES);
    eprintln!(
        "killed after {} of {NAMESPACES} namespaces; the second run rewrote {}",
        done_at_kill.len(),
        rewritten.len()
    );
}
