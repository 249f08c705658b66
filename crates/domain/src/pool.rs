//! What the product reads from a Calico IPPool and whether workloads may use it (algorithms §1.2).

use super::cidr::{Cidr, Family};

/// The facts about a pool that the domain rules use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    pub name: String,
    /// Parsed `spec.cidr`; `None` when invalid.
    pub cidr: Option<Cidr>,
    /// `spec.disabled: true`.
    pub disabled: bool,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// Defaulted `spec.allowedUses`.
    pub allowed_uses: Vec<String>,
}

impl Pool {
    /// IPv4 or IPv6, when the CIDR is valid.
    pub fn family(&self) -> Option<Family> {
        self.cidr.map(|c| c.family())
    }

    /// Usable: valid CIDR, not disabled, not being deleted, and `Workload` among the allowed uses.
    pub fn usable(&self) -> bool {
        self.cidr.is_some() && !self.disabled && !self.deleting && self.allows_workloads()
    }

    /// Whether the defaulted `allowedUses` contains `Workload`.
    pub fn allows_workloads(&self) -> bool {
        self.allowed_uses.iter().any(|u| u == "Workload")
    }
}

/// `["Workload","Tunnel"]`, Calico's default `allowedUses`.
pub fn default_allowed_uses() -> Vec<String> {
    vec!["Workload".to_owned(), "Tunnel".to_owned()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usable_needs_every_condition() {
        let base = Pool {
            name: "p".into(),
            cidr: Cidr::parse("10.0.0.0/16"),
            disabled: false,
            deleting: false,
            allowed_uses: default_allowed_uses(),
        };
        assert!(base.usable());
        assert!(
            !Pool {
                cidr: None,
                ..base.clone()
            }
            .usable()
        );
        assert!(
            !Pool {
                disabled: true,
                ..base.clone()
            }
            .usable()
        );
        assert!(
            !Pool {
                deleting: true,
                ..base.clone()
            }
            .usable()
        );
        assert!(
            !Pool {
                allowed_uses: vec!["Tunnel".into()],
                ..base.clone()
            }
            .usable()
        );
    }
}
