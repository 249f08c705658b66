//! The integration tests, in one binary (`cargo test --test it`), by topic.
//!
//! Most tests run concurrently on one shared control plane and isolate by unique names. Tests that need
//! the cluster to themselves (they stop kube-apiserver, need another CRD set, or check cluster-wide
//! results with fixed names) take turns on a second, exclusive plane ([`support::exclusive`]). The demo
//! test runs `scripts/demo.sh`, which starts its own plane. Route-level tests run against the router in
//! memory, without any plane ([`support::routes`]).

mod support;

/// Exclusive plane: the aggregated surface on F-A and F-M; shared plane: 403 without RBAC.
mod aggregated_api;
/// Exclusive plane, own network namespace: the APIService and the webhook behind kube-apiserver, with kubectl.
mod aggregation;
/// Shared plane: TokenReview and SubjectAccessReview against kube-apiserver, watch caches, CRD schema.
mod api_basics;
/// Exclusive plane: kube-apiserver down or restarted, optional CRDs missing, the harness's restarts.
mod apiserver_lifecycle;
/// Exclusive plane: the controller's namespace ↔ pool annotation sync.
mod binding_controller;
/// The binary: modes, configuration errors, SIGTERM (shared plane for `serve`).
mod cli;
/// Shared plane: the KubeSphere console's own requests, as it sends them, answered in the shapes it reads.
mod console_contracts;
/// Shared plane: smoke tests of the harness.
mod control_plane;
/// The demo script's own plane.
mod demo;
/// Shared plane: the /docs page rendered by headless Chromium.
mod docs_page;
/// Shared plane: HTTPS, front-proxy certificates, forged headers, impersonated writes, certificate rotation.
mod front_proxy;
/// Shared plane: slow clients, huge headers, deeply nested JSON against the real listener.
mod hostile_clients;
/// Exclusive plane: pools in the generic lists.
mod ippool_lists;
/// Exclusive plane: migration targets, usable pools and migrations.
mod ippool_migration;
/// Exclusive plane: pool status arithmetic; shared plane: 403 until granted.
mod ippool_status;
/// Exclusive plane: unbinding a pool from every namespace.
mod ippool_unbind;
/// Shared plane: `auth.localRbac` against kube-apiserver's own RBAC answers, and revocation.
mod local_rbac;
/// Shared plane: `config/deploy` passes a server-side dry run; exclusive plane: its RBAC suffices for mode `all`.
mod manifests;
/// Exclusive plane: a migration killed midway (SIGKILL) and completed by running it again.
mod migration_crash;
/// No plane: promtool unit tests of config/monitoring's alerts; exclusive plane: every metric they read is exposed.
mod monitoring;
/// Exclusive plane: NSNPs and isolation rendered into NetworkPolicies, Events, leader hand-over.
mod network_policy_controller;
/// Shared plane: NetworkPolicy and NamespaceNetworkPolicy endpoints.
mod policy_endpoints;
/// Exclusive plane: the IPPool admission webhook against real caches.
mod pool_admission;
/// Shared plane: pods listed in protobuf equal the same pods listed in JSON.
mod protobuf_list;
/// Shared plane: the v1alpha3 generic lists.
mod resources_lists;
/// No plane: the router in memory (parsing, 4xx answers, health, middleware).
mod routes;
