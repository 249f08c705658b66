//! Validation of NSNP creates and updates through `/kapis` (algorithms §10.6, api §2.3 rule 5).

use std::fmt;

use serde_json::{Map, Value};

use super::{DIRECTIONS, POLICY_TRAFFIC_LABEL, POLICY_TYPE_LABEL, TRAFFICS, array, is_set};
use crate::cidr::Cidr;

/// API group of the NamespaceNetworkPolicy (the `details.group` of a 422 Status).
pub const GROUP: &str = "network.kubesphere.io";
/// Kind of the NamespaceNetworkPolicy (the `details.kind` of a 422 Status).
pub const KIND: &str = "NamespaceNetworkPolicy";
/// `Cause.reason` for a value that is malformed or inconsistent.
pub const FIELD_VALUE_INVALID: &str = "FieldValueInvalid";
/// `Cause.reason` for a value outside a closed set.
pub const FIELD_VALUE_NOT_SUPPORTED: &str = "FieldValueNotSupported";

const POLICY_TYPES: [&str; 2] = ["Ingress", "Egress"];
const PROTOCOLS: [&str; 3] = ["TCP", "UDP", "SCTP"];
/// Peer kinds, in the order their sub-objects are validated.
const PEER_KINDS: [&str; 3] = ["ipBlock", "namespace", "service"];

/// One failed check: the `details.causes[]` entry of the 422 Status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    /// [`FIELD_VALUE_INVALID`] or [`FIELD_VALUE_NOT_SUPPORTED`].
    pub reason: &'static str,
    /// Path of the offending field, e.g. `spec.egress[0].to[1]` or `metadata.labels[kubesphere.io/policy-type]`.
    pub field: String,
    /// Detail in Kubernetes wording, e.g. `Unsupported value: "both": supported values: "ingress", "egress"`.
    pub message: String,
}

/// A NamespaceNetworkPolicy that failed algorithms §10.6 validation (api §2.3 rule 5 → 422 `Invalid`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// The object's name (`details.name`).
    pub name: String,
    /// Every failed check, in checking order; never empty.
    pub causes: Vec<Cause>,
}

impl Invalid {
    /// The Status message: `NamespaceNetworkPolicy.network.kubesphere.io "<name>" is invalid: <path>: <detail>`
    /// for one cause, `… is invalid: [<path>: <detail>, <path>: <detail>]` for several.
    pub fn message(&self) -> String {
        let mut causes = self
            .causes
            .iter()
            .map(|cause| format!("{}: {}", cause.field, cause.message));
        let body = if self.causes.len() == 1 {
            causes.next().unwrap_or_default()
        } else {
            format!("[{}]", causes.collect::<Vec<_>>().join(", "))
        };
        format!("{KIND}.{GROUP} \"{}\" is invalid: {body}", self.name)
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Invalid {}

/// Validates an NSNP object (the whole JSON body, after api §2.3 rules 1–4) per algorithms §10.6. Checks, in order: the
/// console labels, `spec.policyTypes`, every peer (ingress rules before egress rules), every port (likewise).
///
/// # Errors
///
/// [`Invalid`] carrying every failed check.
pub fn validate(name: &str, object: &Value) -> Result<(), Invalid> {
    let mut causes = Vec::new();
    check_labels(object, &mut causes);
    let spec = object.get("spec");
    check_policy_types(spec, &mut causes);
    let rules = rules(spec);
    for Rule {
        path,
        fields,
        peers_key,
    } in &rules
    {
        for (i, peer) in array(fields.get(*peers_key)).iter().enumerate() {
            check_peer(&format!("{path}.{peers_key}[{i}]"), peer, &mut causes);
        }
    }
    for Rule { path, fields, .. } in &rules {
        for (i, port) in array(fields.get("ports")).iter().enumerate() {
            check_port(&format!("{path}.ports[{i}]"), port, &mut causes);
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(Invalid {
            name: name.to_owned(),
            causes,
        })
    }
}

/// One ingress or egress rule of the spec (an object; other shapes are skipped).
struct Rule<'a> {
    /// `spec.ingress[i]` or `spec.egress[i]`.
    path: String,
    fields: &'a Map<String, Value>,
    /// Where the rule's peers are: `from` for ingress rules, `to` for egress rules.
    peers_key: &'static str,
}

/// Every rule: the ingress rules, then the egress rules, each in order.
fn rules(spec: Option<&Value>) -> Vec<Rule<'_>> {
    let mut rules = Vec::new();
    for (direction, peers_key) in [("ingress", "from"), ("egress", "to")] {
        let list = array(spec.and_then(|s| s.get(direction)));
        for (i, rule) in list.iter().enumerate() {
            if let Some(rule) = rule.as_object() {
                rules.push(Rule {
                    path: format!("spec.{direction}[{i}]"),
                    fields: rule,
                    peers_key,
                });
            }
        }
    }
    rules
}

fn check_labels(object: &Value, causes: &mut Vec<Cause>) {
    let Some(labels) = object
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
    else {
        return;
    };
    for (key, supported) in [
        (POLICY_TYPE_LABEL, &DIRECTIONS[..]),
        (POLICY_TRAFFIC_LABEL, &TRAFFICS[..]),
    ] {
        if let Some(value) = labels.get(key) {
            check_one_of(format!("metadata.labels[{key}]"), value, supported, causes);
        }
    }
}

fn check_policy_types(spec: Option<&Value>, causes: &mut Vec<Cause>) {
    let types = array(spec.and_then(|s| s.get("policyTypes")));
    for (i, value) in types.iter().enumerate() {
        check_one_of(
            format!("spec.policyTypes[{i}]"),
            value,
            &POLICY_TYPES,
            causes,
        );
    }
}

fn check_peer(path: &str, peer: &Value, causes: &mut Vec<Cause>) {
    let set: Vec<&str> = PEER_KINDS
        .iter()
        .copied()
        .filter(|kind| is_set(peer.get(*kind)))
        .collect();
    if set.len() != 1 {
        causes.push(invalid(
            path.to_owned(),
            peer,
            "peer must set exactly one of ipBlock, namespace, service",
        ));
    }
    for kind in set {
        let Some(sub) = peer.get(kind) else { continue };
        let sub_path = format!("{path}.{kind}");
        match kind {
            "ipBlock" => check_ip_block(&sub_path, sub, causes),
            _ => check_non_empty_name(&sub_path, sub, causes),
        }
    }
}

fn check_ip_block(path: &str, block: &Value, causes: &mut Vec<Cause>) {
    let cidr_value = block.get("cidr").unwrap_or(&Value::Null);
    let cidr = cidr_value.as_str().and_then(Cidr::parse);
    if cidr.is_none() {
        causes.push(invalid(
            format!("{path}.cidr"),
            string_or_empty(cidr_value),
            "must be a valid CIDR",
        ));
    }
    for (i, except_value) in array(block.get("except")).iter().enumerate() {
        let field = format!("{path}.except[{i}]");
        match except_value.as_str().and_then(Cidr::parse) {
            None => causes.push(invalid(field, except_value, "must be a valid CIDR")),
            Some(except) => {
                if let Some(cidr) = cidr.filter(|c| !c.contains(&except)) {
                    let detail = format!("must be contained in cidr {cidr}");
                    causes.push(invalid(field, except_value, &detail));
                }
            }
        }
    }
}

fn check_non_empty_name(path: &str, object: &Value, causes: &mut Vec<Cause>) {
    let name = object.get("name").unwrap_or(&Value::Null);
    if name.as_str().is_none_or(str::is_empty) {
        causes.push(invalid(
            format!("{path}.name"),
            string_or_empty(name),
            "must be a non-empty string",
        ));
    }
}

fn check_port(path: &str, port: &Value, causes: &mut Vec<Cause>) {
    if let Some(protocol) = port.get("protocol").filter(|p| !p.is_null()) {
        check_one_of(format!("{path}.protocol"), protocol, &PROTOCOLS, causes);
    }
    let Some(end_port) = port.get("endPort").filter(|p| !p.is_null()) else {
        return;
    };
    let field = format!("{path}.endPort");
    let Some(end) = end_port.as_i64() else {
        causes.push(invalid(field, end_port, "must be an integer"));
        return;
    };
    match port.get("port").filter(|p| !p.is_null()) {
        None => causes.push(invalid(
            field,
            end_port,
            "may not be specified when `port` is not specified",
        )),
        Some(start) => match start.as_i64() {
            None => causes.push(invalid(
                field,
                end_port,
                "may not be specified when `port` is not an integer",
            )),
            Some(start) if end < start => causes.push(invalid(
                field,
                end_port,
                "must be greater than or equal to `port`",
            )),
            Some(_) => {}
        },
    }
}

/// A `FieldValueNotSupported` cause unless `value` is one of `supported`.
fn check_one_of(field: String, value: &Value, supported: &[&str], causes: &mut Vec<Cause>) {
    if value.as_str().is_some_and(|v| supported.contains(&v)) {
        return;
    }
    let supported = supported
        .iter()
        .map(|s| quote(s))
        .collect::<Vec<_>>()
        .join(", ");
    causes.push(Cause {
        reason: FIELD_VALUE_NOT_SUPPORTED,
        field,
        message: format!(
            "Unsupported value: {}: supported values: {supported}",
            render(value)
        ),
    });
}

/// A `FieldValueInvalid` cause: `Invalid value: <value>: <detail>`.
fn invalid(field: String, value: &Value, detail: &str) -> Cause {
    Cause {
        reason: FIELD_VALUE_INVALID,
        field,
        message: format!("Invalid value: {}: {detail}", render(value)),
    }
}

/// An absent or `null` string field is reported as `""` (its Go zero value).
fn string_or_empty(value: &Value) -> &Value {
    static EMPTY: Value = Value::String(String::new());
    if value.is_null() { &EMPTY } else { value }
}

/// A bad value as Kubernetes prints it: strings quoted, numbers and booleans bare, `"null"`, and compound values
/// by type (`"object"`, `"array"`), as for custom resources.
fn render(value: &Value) -> String {
    match value {
        Value::String(s) => quote(s),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => quote("null"),
        Value::Object(_) => quote("object"),
        Value::Array(_) => quote("array"),
    }
}

/// A double-quoted, escaped string (Go's `%q` for the printable cases).
fn quote(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::{causes, fields, nsnp};
    use super::*;

    #[test]
    fn case_121_unsupported_policy_type_label() {
        let object = json!({
            "metadata": {"name": "bad", "labels": {"kubesphere.io/policy-type": "both"}},
            "spec": {"egress": [{"to": [{"namespace": {"name": "b"}}]}]}
        });
        let Err(invalid) = validate("bad", &object) else {
            panic!("expected invalid");
        };
        assert_eq!(
            invalid.message(),
            "NamespaceNetworkPolicy.network.kubesphere.io \"bad\" is invalid: \
             metadata.labels[kubesphere.io/policy-type]: Unsupported value: \"both\": \
             supported values: \"ingress\", \"egress\""
        );
        assert_eq!(invalid.to_string(), invalid.message());
        assert_eq!(
            invalid.causes,
            vec![Cause {
                reason: "FieldValueNotSupported",
                field: "metadata.labels[kubesphere.io/policy-type]".to_owned(),
                message: "Unsupported value: \"both\": supported values: \"ingress\", \"egress\""
                    .to_owned(),
            }]
        );
    }

    #[test]
    fn case_122_peer_with_two_kinds() {
        let object = nsnp(
            json!({"egress": [{"to": [{"namespace": {"name": "b"}, "ipBlock": {"cidr": "10.0.0.0/8"}}]}]}),
        );
        let Err(invalid) = validate("two", &object) else {
            panic!("expected invalid");
        };
        assert_eq!(invalid.causes.len(), 1);
        assert_eq!(invalid.causes[0].field, "spec.egress[0].to[0]");
        assert_eq!(invalid.causes[0].reason, "FieldValueInvalid");
        assert_eq!(
            invalid.message(),
            "NamespaceNetworkPolicy.network.kubesphere.io \"two\" is invalid: spec.egress[0].to[0]: \
             Invalid value: \"object\": peer must set exactly one of ipBlock, namespace, service"
        );
    }

    #[test]
    fn valid_objects_pass() {
        // The api §2.3 create example (case 109) and case 114.
        let create = json!({"apiVersion":"network.kubesphere.io/v1alpha1","kind":"NamespaceNetworkPolicy",
            "metadata":{"name":"policy-to-abc12","namespace":"project-2",
                "labels":{"kubesphere.io/policy-type":"egress","kubesphere.io/policy-traffic":"outside"}},
            "spec":{"egress":[{"ports":[{"port":80,"protocol":"TCP"}],"to":[{"ipBlock":{"cidr":"10.10.10.10/24"}}]}]}});
        assert_eq!(validate("policy-to-abc12", &create), Ok(()));
        let minimal = json!({"metadata":{"name":"m"},"spec":{"ingress":[{"from":[{"namespace":{"name":"b"}}]}]}});
        assert_eq!(validate("m", &minimal), Ok(()));
        let full = nsnp(json!({
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"service": {"name": "s", "namespace": "other"}}],
                         "ports": [{"protocol": "UDP", "port": 53}, {"port": "http"}, {"protocol": null}]}],
            "egress": [{"to": [{"ipBlock": {"cidr": "fd00::/64", "except": ["fd00::/80", "fd00::/64"]}}],
                        "ports": [{"protocol": "SCTP", "port": 1000, "endPort": 2000}, {"port": 80, "endPort": 80}]},
                       {}]
        }));
        assert_eq!(causes(&full), Vec::new());
        // Unknown labels and an empty object are not this validation's business.
        assert_eq!(
            causes(&json!({"metadata": {"labels": {"team": "x"}}})),
            Vec::new()
        );
        assert_eq!(causes(&json!({})), Vec::new());
    }

    #[test]
    fn every_failure_in_order() {
        let object = json!({
            "metadata": {"labels": {"kubesphere.io/policy-type": "Egress", "kubesphere.io/policy-traffic": "both"}},
            "spec": {
                "policyTypes": ["Ingress", "ingress", 3],
                "egress": [{
                    "to": [{"namespace": {"name": "ok"}}, {}],
                    "ports": [{"protocol": "tcp", "port": 90, "endPort": 80}]
                }],
                "ingress": [{
                    "from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", "11.0.0.0/24", "x"]}}],
                    "ports": [{"port": "http", "endPort": 90}, {"endPort": 90}, {"port": 1, "endPort": "9"}]
                }]
            }
        });
        let got = causes(&object);
        let fields: Vec<&str> = got.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(
            fields,
            [
                "metadata.labels[kubesphere.io/policy-type]",
                "metadata.labels[kubesphere.io/policy-traffic]",
                "spec.policyTypes[1]",
                "spec.policyTypes[2]",
                "spec.ingress[0].from[0].ipBlock.except[1]",
                "spec.ingress[0].from[0].ipBlock.except[2]",
                "spec.egress[0].to[1]",
                "spec.ingress[0].ports[0].endPort",
                "spec.ingress[0].ports[1].endPort",
                "spec.ingress[0].ports[2].endPort",
                "spec.egress[0].ports[0].protocol",
                "spec.egress[0].ports[0].endPort",
            ]
        );
        let messages: Vec<&str> = got.iter().map(|c| c.2.as_str()).collect();
        assert_eq!(
            messages,
            [
                "Unsupported value: \"Egress\": supported values: \"ingress\", \"egress\"",
                "Unsupported value: \"both\": supported values: \"inside\", \"outside\"",
                "Unsupported value: \"ingress\": supported values: \"Ingress\", \"Egress\"",
                "Unsupported value: 3: supported values: \"Ingress\", \"Egress\"",
                "Invalid value: \"11.0.0.0/24\": must be contained in cidr 10.0.0.0/8",
                "Invalid value: \"x\": must be a valid CIDR",
                "Invalid value: \"object\": peer must set exactly one of ipBlock, namespace, service",
                "Invalid value: 90: may not be specified when `port` is not an integer",
                "Invalid value: 90: may not be specified when `port` is not specified",
                "Invalid value: \"9\": must be an integer",
                "Unsupported value: \"tcp\": supported values: \"TCP\", \"UDP\", \"SCTP\"",
                "Invalid value: 80: must be greater than or equal to `port`",
            ]
        );
        let reasons: Vec<&str> = got.iter().map(|c| c.1).collect();
        assert_eq!(reasons[..4], [FIELD_VALUE_NOT_SUPPORTED; 4]);
        assert_eq!(reasons[4..10], [FIELD_VALUE_INVALID; 6]);
        assert_eq!(reasons[10], FIELD_VALUE_NOT_SUPPORTED);
        assert_eq!(reasons[11], FIELD_VALUE_INVALID);
    }

    #[test]
    fn several_causes_are_bracketed() {
        let object = nsnp(json!({"policyTypes": ["x"], "egress": [{"to": [{}]}]}));
        let Err(invalid) = validate("p", &object) else {
            panic!("expected invalid");
        };
        assert_eq!(
            invalid.message(),
            "NamespaceNetworkPolicy.network.kubesphere.io \"p\" is invalid: [\
             spec.policyTypes[0]: Unsupported value: \"x\": supported values: \"Ingress\", \"Egress\", \
             spec.egress[0].to[0]: Invalid value: \"object\": peer must set exactly one of ipBlock, namespace, service]"
        );
    }

    #[test]
    fn peer_sub_objects() {
        let object = nsnp(json!({"egress": [{"to": [
            {"namespace": {"name": ""}},
            {"service": {}},
            {"service": {"name": 5}},
            {"ipBlock": {}},
            {"ipBlock": {"cidr": "10.0.0.1"}},
            {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["fd00::/64", "10.0.0.0/4"]}},
            {"namespace": null, "service": {"name": "s"}},
            {"namespace": {"name": ""}, "service": {"name": ""}},
            "x",
            null
        ]}]}));
        let got = causes(&object);
        let pairs: Vec<(&str, &str)> = got.iter().map(|c| (c.0.as_str(), c.2.as_str())).collect();
        assert_eq!(
            pairs,
            [
                (
                    "spec.egress[0].to[0].namespace.name",
                    "Invalid value: \"\": must be a non-empty string"
                ),
                (
                    "spec.egress[0].to[1].service.name",
                    "Invalid value: \"\": must be a non-empty string"
                ),
                (
                    "spec.egress[0].to[2].service.name",
                    "Invalid value: 5: must be a non-empty string"
                ),
                (
                    "spec.egress[0].to[3].ipBlock.cidr",
                    "Invalid value: \"\": must be a valid CIDR"
                ),
                (
                    "spec.egress[0].to[4].ipBlock.cidr",
                    "Invalid value: \"10.0.0.1\": must be a valid CIDR"
                ),
                (
                    "spec.egress[0].to[5].ipBlock.except[0]",
                    "Invalid value: \"fd00::/64\": must be contained in cidr 10.0.0.0/8"
                ),
                (
                    "spec.egress[0].to[5].ipBlock.except[1]",
                    "Invalid value: \"10.0.0.0/4\": must be contained in cidr 10.0.0.0/8"
                ),
                (
                    "spec.egress[0].to[7]",
                    "Invalid value: \"object\": peer must set exactly one of ipBlock, namespace, service"
                ),
                (
                    "spec.egress[0].to[7].namespace.name",
                    "Invalid value: \"\": must be a non-empty string"
                ),
                (
                    "spec.egress[0].to[7].service.name",
                    "Invalid value: \"\": must be a non-empty string"
                ),
                (
                    "spec.egress[0].to[8]",
                    "Invalid value: \"x\": peer must set exactly one of ipBlock, namespace, service"
                ),
                (
                    "spec.egress[0].to[9]",
                    "Invalid value: \"null\": peer must set exactly one of ipBlock, namespace, service"
                ),
            ]
        );
    }

    #[test]
    fn invalid_cidr_still_checks_except_syntax() {
        let object = nsnp(
            json!({"ingress": [{"from": [{"ipBlock": {"cidr": "bad", "except": ["10.0.0.0/8", "nope"]}}]}]}),
        );
        assert_eq!(
            fields(&object),
            [
                "spec.ingress[0].from[0].ipBlock.cidr",
                "spec.ingress[0].from[0].ipBlock.except[1]"
            ]
        );
    }

    #[test]
    fn odd_shapes_never_panic() {
        for object in [
            json!(null),
            json!("x"),
            json!([]),
            json!({"metadata": null, "spec": null}),
            json!({"metadata": {"labels": null}}),
            json!({"metadata": {"labels": []}}),
            json!({"metadata": {"labels": {"kubesphere.io/policy-type": null}}}),
            json!({"spec": {"policyTypes": "Ingress", "ingress": {}, "egress": "x"}}),
            json!({"spec": {"ingress": [null, 1, {"from": {}, "ports": {}}]}}),
            json!({"spec": {"egress": [{"ports": [null, 1, "x", {"port": null, "endPort": null}]}]}}),
        ] {
            let _ = validate("p", &object);
        }
        // A null console label is still reported (it is present but not a supported value).
        assert_eq!(
            causes(&json!({"metadata": {"labels": {"kubesphere.io/policy-type": null}}})),
            [(
                "metadata.labels[kubesphere.io/policy-type]".to_owned(),
                FIELD_VALUE_NOT_SUPPORTED,
                "Unsupported value: \"null\": supported values: \"ingress\", \"egress\"".to_owned()
            )]
        );
        assert_eq!(
            causes(&json!({"spec": {"egress": [{"ports": [null, 1, "x"]}]}})),
            Vec::new()
        );
    }
}
