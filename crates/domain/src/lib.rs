//! The product's knowledge as pure functions and data: CIDR math, pool rules, occupancy, bindings,
//! migration planning, NSNP validation and translation, namespace isolation, ownership of generated
//! NetworkPolicies, kubectl-style ages, RBAC evaluation. No kube, axum or tokio here: plain data in, plain
//! data out.

pub mod age;
pub mod binding;
pub mod cidr;
#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod fuzz;
pub mod isolation;
pub mod migration;
pub mod names;
pub mod network_policy;
pub mod nsnp;
pub mod occupancy;
pub mod ownership;
pub mod pool;
pub mod pool_admission;
pub mod random;
pub mod rbac;
pub mod unbind;
pub mod write_body;
