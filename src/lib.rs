//! ks-network-apiserver: KubeSphere's network API (IP pool occupancy and migration, network policies,
//! resource lists) served from watch caches of a Kubernetes cluster running Calico.
//!
//! Layers point one way: [`http`] (routes, thin handlers, errors as `Status`) → [`service`] (what an operation
//! does) → [`auth`], [`query`], [`cluster`], [`domain`]. [`controller`] runs the reconcilers on the same caches.
//! [`app`] wires everything; [`config`] and [`cli`] set it up. See docs/architecture.md.

pub mod app;
pub mod auth;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod controller;
/// The pure rules live in their own crate (`crates/domain`), which has no kube, axum or tokio dependency.
pub use ks_network_domain as domain;
pub mod http;
pub mod metrics;
pub mod query;
pub mod service;
pub mod serving;
pub mod telemetry;
pub mod tls;
