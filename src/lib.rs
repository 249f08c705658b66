//! ks-network-apiserver: KubeSphere's network API (IP pool occupancy and migration, network policies,
//! resource lists) served from watch caches of a Kubernetes cluster running Calico.
//!
//! Layers: [`http`] (axum routes, thin handlers) → [`auth`] (who is calling, may they) →
//! [`cluster`] (resource types, watch caches). [`app`] wires them; [`config`] and [`cli`] set them up.

pub mod app;
pub mod auth;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod controller;
/// The pure rules live in their own crate (`crates/domain`), which has no kube, axum or tokio dependency.
pub use ks_network_domain as domain;
pub mod http;
pub mod query;
pub mod service;
pub mod telemetry;
