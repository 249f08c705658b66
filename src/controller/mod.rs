//! Reconcilers of the `controller` and `all` modes. Today: the namespace ↔ Calico pool annotation sync
//! (algorithms §4.3). They write with the server's own identity.

pub mod binding;
