//! What the product reads from a Calico IPPool: its read-defaulted spec and whether workloads may use it
//! (algorithms §1.2).

use serde_json::{Map, Value};

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

/// Fills Calico's read defaults into a stored pool `spec` (a JSON object), keeping every stored field.
pub fn default_spec(spec: &mut Map<String, Value>) {
    let family = spec
        .get("cidr")
        .and_then(Value::as_str)
        .and_then(Cidr::parse)
        .map(|c| c.family());
    let block_size_missing = match spec.get("blockSize") {
        None | Some(Value::Null) => true,
        Some(v) => v.as_i64() == Some(0),
    };
    if block_size_missing {
        let size = if family == Some(Family::V6) { 122 } else { 26 };
        spec.insert("blockSize".into(), size.into());
    }
    if is_absent(spec.get("ipipMode")) {
        let legacy = spec
            .get("ipip")
            .filter(|i| i.get("enabled").and_then(Value::as_bool) == Some(true));
        let mode = match legacy
            .and_then(|i| i.get("mode"))
            .and_then(Value::as_str)
            .unwrap_or("")
        {
            "cross-subnet" => "CrossSubnet",
            _ if legacy.is_some() => "Always",
            _ => "Never",
        };
        spec.insert("ipipMode".into(), mode.into());
    }
    if is_absent(spec.get("vxlanMode")) {
        spec.insert("vxlanMode".into(), "Never".into());
    }
    if is_absent(spec.get("natOutgoing"))
        && spec.get("nat-outgoing").and_then(Value::as_bool) == Some(true)
    {
        spec.insert("natOutgoing".into(), true.into());
    }
    if is_absent(spec.get("nodeSelector")) {
        spec.insert("nodeSelector".into(), "all()".into());
    }
    let uses_missing = match spec.get("allowedUses") {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    };
    if uses_missing {
        spec.insert("allowedUses".into(), default_allowed_uses().into());
    }
}

fn is_absent(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defaulted(spec: Value) -> Value {
        let mut map = spec.as_object().unwrap().clone();
        default_spec(&mut map);
        Value::Object(map)
    }

    #[test]
    fn bare_pool_gets_calicos_read_defaults() {
        assert_eq!(
            defaulted(json!({"cidr":"10.120.0.0/16"})),
            json!({"cidr":"10.120.0.0/16","blockSize":26,"ipipMode":"Never","vxlanMode":"Never",
                   "nodeSelector":"all()","allowedUses":["Workload","Tunnel"]})
        );
    }

    #[test]
    fn ipv6_blocks_default_to_122_also_when_zero() {
        assert_eq!(
            defaulted(json!({"cidr":"fd00::/64","blockSize":0}))["blockSize"],
            122
        );
    }

    #[test]
    fn legacy_fields_map_to_the_new_ones_and_stay() {
        let spec = defaulted(
            json!({"cidr":"10.130.0.0/16","ipip":{"enabled":true,"mode":"cross-subnet"},"nat-outgoing":true}),
        );
        assert_eq!(spec["ipipMode"], "CrossSubnet");
        assert_eq!(spec["natOutgoing"], true);
        assert_eq!(spec["ipip"], json!({"enabled":true,"mode":"cross-subnet"}));
        assert_eq!(spec["nat-outgoing"], true);
        assert_eq!(
            defaulted(json!({"cidr":"10.0.0.0/8","ipip":{"enabled":true}}))["ipipMode"],
            "Always"
        );
        assert_eq!(
            defaulted(json!({"cidr":"10.0.0.0/8","ipip":{"enabled":false,"mode":"always"}}))["ipipMode"],
            "Never"
        );
    }

    #[test]
    fn stored_values_win() {
        let spec = defaulted(
            json!({"cidr":"10.0.0.0/8","ipipMode":"Always","allowedUses":["Tunnel"],"nodeSelector":"a == 'b'"}),
        );
        assert_eq!(spec["ipipMode"], "Always");
        assert_eq!(spec["allowedUses"], json!(["Tunnel"]));
        assert_eq!(spec["nodeSelector"], "a == 'b'");
        assert_eq!(
            defaulted(json!({"cidr":"10.0.0.0/8","allowedUses":[]}))["allowedUses"],
            json!(["Workload", "Tunnel"])
        );
    }

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
