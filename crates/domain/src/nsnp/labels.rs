//! The console classification labels of an NSNP, derived from its spec when not stored (algorithms §9.7).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{DIRECTIONS, POLICY_TRAFFIC_LABEL, POLICY_TYPE_LABEL, is_set, non_empty};

/// The labels to add to an NSNP's effective labels (algorithms §9.7): `kubesphere.io/policy-type` and
/// `kubesphere.io/policy-traffic`, each only when `labels` (the stored labels) lacks it and it can be derived
/// from `spec`. The result never contains a key present in `labels`; derived labels are never written back.
pub fn derived_labels(labels: &BTreeMap<String, String>, spec: &Value) -> BTreeMap<String, String> {
    let mut derived = BTreeMap::new();
    let direction = match labels.get(POLICY_TYPE_LABEL) {
        Some(stored) => DIRECTIONS
            .iter()
            .copied()
            .find(|known| *known == stored.as_str()),
        None => {
            let direction = derive_direction(spec);
            if let Some(direction) = direction {
                derived.insert(POLICY_TYPE_LABEL.to_owned(), direction.to_owned());
            }
            direction
        }
    };
    if !labels.contains_key(POLICY_TRAFFIC_LABEL)
        && let Some(traffic) = direction.and_then(|d| derive_traffic(spec, d))
    {
        derived.insert(POLICY_TRAFFIC_LABEL.to_owned(), traffic.to_owned());
    }
    derived
}

/// `egress` when only `spec.egress` is non-empty, `ingress` when only `spec.ingress` is, else none.
fn derive_direction(spec: &Value) -> Option<&'static str> {
    let ingress = non_empty(spec.get("ingress"));
    let egress = non_empty(spec.get("egress"));
    match (ingress, egress) {
        (false, true) => Some("egress"),
        (true, false) => Some("ingress"),
        _ => None,
    }
}

/// From the first rule of `spec.<direction>`: `outside` when it has ports or its first peer is an `ipBlock`,
/// `inside` when it has a first peer, else none.
fn derive_traffic(spec: &Value, direction: &str) -> Option<&'static str> {
    let rule = spec.get(direction)?.as_array()?.first()?;
    let peers = if direction == "egress" { "to" } else { "from" };
    let first_peer = rule
        .get(peers)
        .and_then(Value::as_array)
        .and_then(|p| p.first());
    if non_empty(rule.get("ports")) || first_peer.is_some_and(|peer| is_set(peer.get("ipBlock"))) {
        Some("outside")
    } else if first_peer.is_some() {
        Some("inside")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::{causes, labels, nsnp};
    use super::*;

    #[test]
    fn case_124_egress_ip_block_with_ports_is_egress_outside() {
        let spec = json!({"egress":[{"ports":[{"port":443,"protocol":"TCP"}],"to":[{"ipBlock":{"cidr":"1.2.3.0/24"}}]}]});
        assert_eq!(
            derived_labels(&BTreeMap::new(), &spec),
            labels(&[
                (POLICY_TYPE_LABEL, "egress"),
                (POLICY_TRAFFIC_LABEL, "outside")
            ])
        );
    }

    #[test]
    fn case_114_ingress_from_namespace_is_ingress_inside() {
        let spec = json!({"ingress":[{"from":[{"namespace":{"name":"b"}}]}]});
        assert_eq!(
            derived_labels(&BTreeMap::new(), &spec),
            labels(&[
                (POLICY_TYPE_LABEL, "ingress"),
                (POLICY_TRAFFIC_LABEL, "inside")
            ])
        );
    }

    #[test]
    fn case_123_allowlists_classify_like_the_console() {
        let cases = [
            (
                json!({"egress":[{"to":[{"namespace":{"name":"default"}}]}]}),
                ("egress", "inside"),
            ),
            (
                json!({"ingress":[{"from":[{"namespace":{"name":"default"}}]}]}),
                ("ingress", "inside"),
            ),
            (
                json!({"egress":[{"ports":[{"port":80,"protocol":"TCP"}],"to":[{"ipBlock":{"cidr":"10.10.10.10/24"}}]}]}),
                ("egress", "outside"),
            ),
            (
                json!({"ingress":[{"ports":[{"port":80,"protocol":"TCP"}],"from":[{"ipBlock":{"cidr":"10.10.10.10/24"}}]}]}),
                ("ingress", "outside"),
            ),
        ];
        for (spec, (direction, traffic)) in cases {
            assert_eq!(
                derived_labels(&BTreeMap::new(), &spec),
                labels(&[
                    (POLICY_TYPE_LABEL, direction),
                    (POLICY_TRAFFIC_LABEL, traffic)
                ]),
                "{spec}"
            );
            // Valid as posted by the console.
            assert_eq!(causes(&nsnp(spec)), Vec::new());
        }
    }

    #[test]
    fn stored_labels_are_never_overridden() {
        let spec = json!({"egress":[{"to":[{"ipBlock":{"cidr":"1.2.3.0/24"}}]}]});
        let stored = labels(&[
            (POLICY_TYPE_LABEL, "egress"),
            (POLICY_TRAFFIC_LABEL, "inside"),
        ]);
        assert!(derived_labels(&stored, &spec).is_empty());
    }

    #[test]
    fn stored_direction_drives_traffic() {
        // Both directions present: no derived direction, but a stored one selects the rule list.
        let spec = json!({
            "ingress":[{"from":[{"namespace":{"name":"x"}}]}],
            "egress":[{"to":[{"ipBlock":{"cidr":"1.2.3.0/24"}}]}]
        });
        assert!(derived_labels(&BTreeMap::new(), &spec).is_empty());
        assert_eq!(
            derived_labels(&labels(&[(POLICY_TYPE_LABEL, "ingress")]), &spec),
            labels(&[(POLICY_TRAFFIC_LABEL, "inside")])
        );
        assert_eq!(
            derived_labels(&labels(&[(POLICY_TYPE_LABEL, "egress")]), &spec),
            labels(&[(POLICY_TRAFFIC_LABEL, "outside")])
        );
        // A stored direction that is not a direction derives no traffic.
        assert!(derived_labels(&labels(&[(POLICY_TYPE_LABEL, "both")]), &spec).is_empty());
    }

    #[test]
    fn stored_traffic_with_derived_direction() {
        let spec = json!({"egress":[{"to":[{"ipBlock":{"cidr":"1.2.3.0/24"}}]}]});
        assert_eq!(
            derived_labels(&labels(&[(POLICY_TRAFFIC_LABEL, "inside")]), &spec),
            labels(&[(POLICY_TYPE_LABEL, "egress")])
        );
    }

    #[test]
    fn traffic_rules() {
        let traffic = |rule: Value| {
            derived_labels(&BTreeMap::new(), &json!({ "egress": [rule] }))
                .get(POLICY_TRAFFIC_LABEL)
                .cloned()
        };
        assert_eq!(traffic(json!({})), None);
        assert_eq!(traffic(json!({"to": [], "ports": []})), None);
        assert_eq!(
            traffic(json!({"ports":[{"port":80}]})).as_deref(),
            Some("outside")
        );
        assert_eq!(
            traffic(json!({"to":[{"service":{"name":"s"}}],"ports":[{"port":80}]})).as_deref(),
            Some("outside")
        );
        assert_eq!(
            traffic(json!({"to":[{"service":{"name":"s"}}]})).as_deref(),
            Some("inside")
        );
        // Only the first peer counts.
        assert_eq!(
            traffic(json!({"to":[{"namespace":{"name":"n"}},{"ipBlock":{"cidr":"1.0.0.0/8"}}]}))
                .as_deref(),
            Some("inside")
        );
        assert_eq!(
            traffic(json!({"to":[{"ipBlock":null,"namespace":{"name":"n"}}]})).as_deref(),
            Some("inside")
        );
        // Ingress peers are read from `from`, not `to`.
        let spec = json!({"ingress":[{"to":[{"ipBlock":{"cidr":"1.0.0.0/8"}}]}]});
        assert_eq!(
            derived_labels(&BTreeMap::new(), &spec),
            labels(&[(POLICY_TYPE_LABEL, "ingress")])
        );
    }

    #[test]
    fn direction_rules() {
        let direction = |spec: Value| {
            derived_labels(&BTreeMap::new(), &spec)
                .get(POLICY_TYPE_LABEL)
                .cloned()
        };
        assert_eq!(direction(json!({})), None);
        assert_eq!(direction(json!({"ingress": [], "egress": []})), None);
        assert_eq!(direction(json!({"ingress": [{}], "egress": [{}]})), None);
        assert_eq!(
            direction(json!({"ingress": [], "egress": [{}]})).as_deref(),
            Some("egress")
        );
        assert_eq!(
            direction(json!({"ingress": null, "egress": [{}]})).as_deref(),
            Some("egress")
        );
        assert_eq!(
            direction(json!({"ingress": [{}]})).as_deref(),
            Some("ingress")
        );
        // policyTypes is not consulted.
        assert_eq!(direction(json!({"policyTypes": ["Ingress"]})), None);
    }

    #[test]
    fn derived_labels_survive_odd_shapes() {
        for spec in [
            json!(null),
            json!("x"),
            json!([1, 2]),
            json!({"egress": "x"}),
            json!({"egress": {"to": []}}),
            json!({"egress": [null]}),
            json!({"egress": ["x"]}),
            json!({"egress": [{"to": "x", "ports": 5}]}),
        ] {
            let derived = derived_labels(&BTreeMap::new(), &spec);
            assert!(!derived.contains_key(POLICY_TRAFFIC_LABEL), "{spec}");
        }
        assert_eq!(
            derived_labels(&BTreeMap::new(), &json!({"egress": [null]})),
            labels(&[(POLICY_TYPE_LABEL, "egress")])
        );
        // A first element of any shape counts as a first peer.
        assert_eq!(
            derived_labels(&BTreeMap::new(), &json!({"egress": [{"to": [null]}]})),
            labels(&[
                (POLICY_TYPE_LABEL, "egress"),
                (POLICY_TRAFFIC_LABEL, "inside")
            ])
        );
    }
}
