//! `fieldSelector` of the dynamic endpoints (algorithms §9.8), matched against an object's JSON.
//!
//! Grammar: comma-separated requirements `path=value`, `path==value`, `path!=value`, all ANDed. `path` is a dotted
//! path into the JSON (`metadata.name`, `spec.podSelector.matchLabels.app`; an array step is a decimal index). A
//! backslash makes the next character literal: `\.` is a dot inside a key (`metadata.annotations.example\.com/key`),
//! `\,` a comma and `\=` an equals sign inside a path or value, `\\` a backslash. Surrounding whitespace of paths and
//! values is ignored. A missing path (or JSON `null`) yields `""`; strings compare as-is; numbers and booleans compare
//! by their JSON text; objects and arrays by their compact JSON text. A value starting with an unescaped `~` compares
//! case-insensitively with the rest. A requirement without an operator, with an empty path or an empty path step is
//! invalid. Parsing never panics.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

/// Why a `fieldSelector` text was rejected; the text is the `<detail>` of the 400 message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldSelectorError {
    message: String,
}

/// The comparison of one field requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldOperator {
    /// `path=value`
    Equals,
    /// `path==value`
    DoubleEquals,
    /// `path!=value`
    NotEquals,
}

/// One requirement of a field selector.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldRequirement {
    path: Vec<String>,
    operator: FieldOperator,
    value: String,
    case_insensitive: bool,
}

impl FieldRequirement {
    /// The path steps, unescaped.
    pub fn path(&self) -> &[String] {
        &self.path
    }

    /// `=` and `==` test the same; they stay apart so the text round-trips.
    pub fn operator(&self) -> FieldOperator {
        self.operator
    }

    /// The value to compare with, unescaped, without the `~` marker.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether the value was written with a leading `~`.
    pub fn case_insensitive(&self) -> bool {
        self.case_insensitive
    }

    /// Whether `object` satisfies the requirement.
    pub fn matches(&self, object: &Value) -> bool {
        let actual = field_text(resolve(object, &self.path));
        let equal = if self.case_insensitive {
            actual
                .chars()
                .flat_map(char::to_lowercase)
                .eq(self.value.chars().flat_map(char::to_lowercase))
        } else {
            actual == self.value
        };
        match self.operator {
            FieldOperator::Equals | FieldOperator::DoubleEquals => equal,
            FieldOperator::NotEquals => !equal,
        }
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.path.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(&escape(step, true))?;
        }
        f.write_str(match self.operator {
            FieldOperator::Equals => "=",
            FieldOperator::DoubleEquals => "==",
            FieldOperator::NotEquals => "!=",
        })?;
        if self.case_insensitive {
            f.write_str("~")?;
        } else if self.value.starts_with('~') {
            f.write_str("\\")?;
        }
        f.write_str(&escape(&self.value, false))
    }
}

/// A parsed `fieldSelector`; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses the selector text. Empty or blank text is the empty selector.
    pub fn parse(text: &str) -> Result<FieldSelector, FieldSelectorError> {
        if text.trim().is_empty() {
            return Ok(FieldSelector::default());
        }
        let requirements = split_unescaped(text, ',')
            .into_iter()
            .map(parse_requirement)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FieldSelector { requirements })
    }

    /// Whether every requirement holds for `object`.
    pub fn matches(&self, object: &Value) -> bool {
        self.requirements.iter().all(|r| r.matches(object))
    }

    /// Whether the selector has no requirement (matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The requirements, in text order.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }
}

/// Formats back to text that parses to an equal [`FieldSelector`].
impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::write_comma_separated(f, &self.requirements)
    }
}

impl std::str::FromStr for FieldSelector {
    type Err = FieldSelectorError;

    fn from_str(text: &str) -> Result<FieldSelector, FieldSelectorError> {
        FieldSelector::parse(text)
    }
}

/// The JSON value at `path`, `None` when a step is missing.
fn resolve<'v>(root: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(root, |current, step| match current {
        Value::Object(map) => map.get(step),
        Value::Array(items) => step.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// The text a field compares by.
fn field_text(value: Option<&Value>) -> Cow<'_, str> {
    match value {
        None | Some(Value::Null) => Cow::Borrowed(""),
        Some(Value::String(s)) => Cow::Borrowed(s),
        Some(Value::Bool(b)) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Some(Value::Number(n)) => Cow::Owned(n.to_string()),
        Some(other) => Cow::Owned(serde_json::to_string(other).unwrap_or_default()),
    }
}

fn invalid(message: String) -> FieldSelectorError {
    FieldSelectorError { message }
}

/// Splits on `separator` where it is not escaped by a backslash; the pieces keep their escapes.
fn split_unescaped(text: &str, separator: char) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == separator {
            pieces.push(text.get(start..i).unwrap_or(""));
            start = i + c.len_utf8();
        }
    }
    pieces.push(text.get(start..).unwrap_or(""));
    pieces
}

/// Removes escapes: `\x` → `x`; a trailing lone backslash stays.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(chars.next().unwrap_or('\\'));
        } else {
            out.push(c);
        }
    }
    out
}

fn escape(text: &str, in_path: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | ',' | '=' | '!') || c.is_whitespace() || (in_path && c == '.') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Trims whitespace on both sides, keeping a trailing whitespace character that is escaped (`\ `).
fn trim_unescaped(text: &str) -> &str {
    let mut text = text.trim_start();
    while let Some(last) = text.chars().next_back().filter(|c| c.is_whitespace()) {
        let rest = text.get(..text.len() - last.len_utf8()).unwrap_or("");
        let backslashes = rest.bytes().rev().take_while(|&b| b == b'\\').count();
        if backslashes % 2 == 1 {
            break;
        }
        text = rest;
    }
    text
}

fn parse_requirement(term: &str) -> Result<FieldRequirement, FieldSelectorError> {
    let trimmed = trim_unescaped(term);
    let mut found = None;
    let mut escaped = false;
    let mut chars = trimmed.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if escaped {
            escaped = false;
            continue;
        }
        let next_is_equals = chars.peek().is_some_and(|&(_, n)| n == '=');
        match c {
            '\\' => escaped = true,
            '!' if next_is_equals => {
                found = Some((i, i + 2, FieldOperator::NotEquals));
                break;
            }
            '=' if next_is_equals => {
                found = Some((i, i + 2, FieldOperator::DoubleEquals));
                break;
            }
            '=' => {
                found = Some((i, i + 1, FieldOperator::Equals));
                break;
            }
            _ => {}
        }
    }
    let Some((op_start, op_end, operator)) = found else {
        return Err(invalid(format!(
            "requirement {trimmed:?} has no operator (expected path=value, path==value or path!=value)"
        )));
    };
    let raw_path = trim_unescaped(trimmed.get(..op_start).unwrap_or(""));
    let raw_value = trim_unescaped(trimmed.get(op_end..).unwrap_or(""));
    if raw_path.is_empty() {
        return Err(invalid(format!(
            "requirement {trimmed:?} has an empty path"
        )));
    }
    let path: Vec<String> = split_unescaped(raw_path, '.')
        .into_iter()
        .map(unescape)
        .collect();
    if path.iter().any(String::is_empty) {
        return Err(invalid(format!(
            "requirement {trimmed:?} has an empty path step"
        )));
    }
    let (case_insensitive, raw_value) = match raw_value.strip_prefix('~') {
        Some(rest) => (true, rest),
        None => (false, raw_value),
    };
    Ok(FieldRequirement {
        path,
        operator,
        value: unescape(raw_value),
        case_insensitive,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fs(text: &str) -> FieldSelector {
        match FieldSelector::parse(text) {
            Ok(s) => s,
            Err(e) => panic!("{text:?} should parse: {e}"),
        }
    }

    fn object() -> Value {
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {
                "name": "np-01",
                "namespace": "paging",
                "generation": 3,
                "annotations": {"example.com/key": "Hello", "a\\b": "backslash"},
                "labels": {"app": "web"}
            },
            "spec": {
                "podSelector": {"matchLabels": {"app": "web"}},
                "policyTypes": ["Ingress"],
                "enabled": true,
                "ratio": 1.5,
                "nothing": null
            }
        })
    }

    fn m(text: &str) -> bool {
        fs(text).matches(&object())
    }

    #[test]
    fn equality_and_inequality() {
        assert!(m("metadata.name=np-01"));
        assert!(m("metadata.name==np-01"));
        assert!(!m("metadata.name=np-02"));
        assert!(m("metadata.name!=np-02"));
        assert!(!m("metadata.name!=np-01"));
        assert!(m("metadata.name=np-01,metadata.namespace=paging"));
        assert!(!m("metadata.name=np-01,metadata.namespace=other"));
        assert!(m("spec.podSelector.matchLabels.app=web"));
    }

    #[test]
    fn missing_paths_and_null_are_empty() {
        assert!(m("metadata.missing="));
        assert!(m("metadata.missing.deeper=="));
        assert!(!m("metadata.missing=x"));
        assert!(m("metadata.missing!=x"));
        assert!(m("spec.nothing="));
        assert!(
            m("metadata.name.deeper="),
            "a step into a string is missing"
        );
    }

    #[test]
    fn numbers_booleans_and_arrays_by_json_text() {
        assert!(m("metadata.generation=3"));
        assert!(m("spec.enabled=true"));
        assert!(m("spec.ratio=1.5"));
        assert!(m("spec.policyTypes.0=Ingress"));
        assert!(m("spec.policyTypes.1="));
        assert!(m(r#"spec.policyTypes=["Ingress"]"#));
        assert!(!m("spec.enabled=True"));
        assert!(m("spec.enabled=~True"));
    }

    #[test]
    fn escaped_dots_in_keys() {
        assert!(m(r"metadata.annotations.example\.com/key=Hello"));
        assert!(!m("metadata.annotations.example.com/key=Hello"));
        assert!(m(r"metadata.annotations.a\\b=backslash"));
        assert_eq!(
            fs(r"metadata.annotations.example\.com/key=x").requirements()[0].path(),
            ["metadata", "annotations", "example.com/key"]
        );
    }

    #[test]
    fn tilde_is_case_insensitive() {
        assert!(m("metadata.annotations.example\\.com/key=~hELLO"));
        assert!(!m("metadata.annotations.example\\.com/key=hELLO"));
        assert!(m("metadata.name!=~NP-02"));
        assert!(!m("metadata.name!=~NP-01"));
        assert!(m("metadata.missing=~"));
        let literal = fs(r"a=\~x");
        assert!(!literal.requirements()[0].case_insensitive());
        assert_eq!(literal.requirements()[0].value(), "~x");
    }

    #[test]
    fn whitespace_and_escaped_separators() {
        assert!(m(" metadata.name = np-01 , metadata.namespace == paging "));
        let s = fs(r"a=x\,y,b=p\=q");
        assert_eq!(s.requirements().len(), 2);
        assert_eq!(s.requirements()[0].value(), "x,y");
        assert_eq!(s.requirements()[1].value(), "p=q");
        assert_eq!(fs(r"a=\ x\ ").requirements()[0].value(), " x ");
        let s = fs("a=b=c");
        assert_eq!(s.requirements()[0].value(), "b=c");
        assert_eq!(s.requirements()[0].operator(), FieldOperator::Equals);
    }

    #[test]
    fn empty_text_is_everything() {
        assert!(fs("").is_empty());
        assert!(fs("  ").matches(&object()));
    }

    #[test]
    fn invalid_requirements() {
        for text in [
            "metadata.name",
            "=x",
            " = x",
            "!=x",
            "a=b,",
            ",a=b",
            "a=b,,c=d",
            "a..b=c",
            ".a=b",
            "a.=b",
            r"a\=b",
            "a!b",
        ] {
            assert!(FieldSelector::parse(text).is_err(), "{text:?}");
        }
        let Err(e) = FieldSelector::parse("metadata.name") else {
            panic!("must fail");
        };
        assert!(e.to_string().contains("no operator"));
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "a=b",
            "a==b",
            "a!=b",
            r"metadata.annotations.example\.com/key=~x",
            r"a=\~x",
            r"a=x\,y\=z\!",
            r"a\\b=c\\",
            r"a\ =\ x\ ",
        ] {
            let s = fs(text);
            assert_eq!(fs(&s.to_string()), s, "{text}");
        }
    }

    #[test]
    fn never_panics_on_random_text() {
        let pieces = [
            "a", ".", "\\", "=", "==", "!=", "!", ",", "~", " ", "é", "0", "metadata", "name",
        ];
        let mut x: u64 = 7;
        for _ in 0..20_000 {
            let mut text = String::new();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 10) as usize;
            for i in 0..len {
                text.push_str(pieces[((x >> (i * 4)) % pieces.len() as u64) as usize]);
            }
            if let Ok(s) = FieldSelector::parse(&text) {
                let _ = s.matches(&object());
                assert_eq!(fs(&s.to_string()), s, "{text:?}");
            }
        }
    }
}
