//! The Kubernetes label-selector language (algorithms §9.3), one grammar for `labelSelector`, the `label` filter and the
//! `annotation` filter on every endpoint.
//!
//! The parser mirrors `k8s.io/apimachinery/pkg/labels` (lexer, parser and `NewRequirement` validation), so a text is
//! accepted here exactly when kube-apiserver accepts it. It never panics on any input: it works on byte offsets that
//! only ever fall on ASCII characters and uses no indexing.
//!
//! Matching supports virtual multi-valued labels ([`LabelValue::Set`], algorithms §3): a pod's computed pool label is
//! the set of pools its IPs come from, and a requirement on it is evaluated against the whole set.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The value an object has for one label key, as seen by a selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelValue<'a> {
    /// The object has no such label.
    Absent,
    /// A stored (or single-valued virtual) label.
    One(&'a str),
    /// A virtual multi-valued label (algorithms §3): requirements are evaluated against the set. An empty set
    /// behaves as [`LabelValue::Absent`]. `>` and `<` use the first element. Shared texts: a pod's pools are the
    /// occupancy index's names.
    Set(&'a [Arc<str>]),
}

/// Anything a selector can be matched against: stored labels, effective labels, annotations.
pub trait LabelLookup {
    /// How `key` appears to a selector: absent, one value, or a set.
    fn value(&self, key: &str) -> LabelValue<'_>;
}

impl LabelLookup for BTreeMap<String, String> {
    fn value(&self, key: &str) -> LabelValue<'_> {
        self.get(key)
            .map_or(LabelValue::Absent, |v| LabelValue::One(v))
    }
}

/// Stored labels plus one virtual multi-valued label that applies only when the stored labels lack its key
/// (algorithms §3: "a stored label wins"; an empty `values` means no virtual label).
#[derive(Clone, Copy, Debug)]
pub struct WithVirtualSet<'a> {
    /// The object's stored labels.
    pub stored: &'a BTreeMap<String, String>,
    /// Key of the virtual label (`ippool.network.kubesphere.io/name` for pods).
    pub key: &'a str,
    /// Its values, first = the value shown in `metadata.labels`.
    pub values: &'a [Arc<str>],
}

impl LabelLookup for WithVirtualSet<'_> {
    fn value(&self, key: &str) -> LabelValue<'_> {
        match self.stored.get(key) {
            Some(v) => LabelValue::One(v),
            None if key == self.key && !self.values.is_empty() => LabelValue::Set(self.values),
            None => LabelValue::Absent,
        }
    }
}

/// An empty label map with a `'static` lifetime, for objects whose `labels`/`annotations` are absent.
pub fn empty_labels() -> &'static BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    &EMPTY
}

/// Why a selector text was rejected; the text is the `<detail>` of the 400 message (algorithms §9.2).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SelectorError {
    message: String,
}

impl SelectorError {
    fn new(message: impl Into<String>) -> Self {
        SelectorError {
            message: message.into(),
        }
    }

    /// The human-readable detail.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The operator of one requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `k`
    Exists,
    /// `!k`
    DoesNotExist,
    /// `k=v`
    Equals,
    /// `k==v`
    DoubleEquals,
    /// `k!=v` (also matches objects without `k`)
    NotEquals,
    /// `k in (v1,…)`
    In,
    /// `k notin (v1,…)` (also matches objects without `k`)
    NotIn,
    /// `k>n`
    GreaterThan,
    /// `k<n`
    LessThan,
}

/// One comma-separated part of a selector.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    operator: Operator,
    /// Sorted, without duplicates (as Kubernetes keeps them).
    values: Vec<String>,
    /// The integer of `>` / `<`.
    bound: Option<i64>,
}

impl Requirement {
    /// A qualified name (`[prefix/]name`), validated as Kubernetes does.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// `=`, `==` and `in` test alike; they stay apart so the text round-trips.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, sorted and without duplicates; empty for `k` and `!k`.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether an object whose value for [`Requirement::key`] is `value` satisfies the requirement.
    pub fn matches(&self, value: LabelValue<'_>) -> bool {
        let value = match value {
            LabelValue::Set([]) => LabelValue::Absent,
            other => other,
        };
        let listed = |v: &str| self.values.binary_search_by(|x| x.as_str().cmp(v)).is_ok();
        match self.operator {
            Operator::Exists => value != LabelValue::Absent,
            Operator::DoesNotExist => value == LabelValue::Absent,
            Operator::Equals | Operator::DoubleEquals | Operator::In => match value {
                LabelValue::Absent => false,
                LabelValue::One(v) => listed(v),
                LabelValue::Set(set) => set.iter().any(|v| listed(v)),
            },
            Operator::NotEquals | Operator::NotIn => match value {
                LabelValue::Absent => true,
                LabelValue::One(v) => !listed(v),
                LabelValue::Set(set) => !set.iter().any(|v| listed(v)),
            },
            Operator::GreaterThan | Operator::LessThan => {
                let text = match value {
                    LabelValue::Absent => return false,
                    LabelValue::One(v) => v,
                    LabelValue::Set(set) => match set.first() {
                        Some(v) => v,
                        None => return false,
                    },
                };
                let (Some(bound), Ok(actual)) = (self.bound, text.parse::<i64>()) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    actual > bound
                } else {
                    actual < bound
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        let first = self.values.first().map_or("", String::as_str);
        match self.operator {
            Operator::Exists => write!(f, "{key}"),
            Operator::DoesNotExist => write!(f, "!{key}"),
            Operator::Equals => write!(f, "{key}={first}"),
            Operator::DoubleEquals => write!(f, "{key}=={first}"),
            Operator::NotEquals => write!(f, "{key}!={first}"),
            Operator::GreaterThan => write!(f, "{key}>{first}"),
            Operator::LessThan => write!(f, "{key}<{first}"),
            Operator::In | Operator::NotIn => {
                let word = if self.operator == Operator::In {
                    "in"
                } else {
                    "notin"
                };
                write!(f, "{key} {word} ({})", self.values.join(","))
            }
        }
    }
}

/// A parsed label selector: all requirements must hold. The empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// Parses the Kubernetes selector text (algorithms §9.3). Empty or blank text is the empty selector.
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        Parser {
            tokens: lex(text),
            pos: 0,
        }
        .parse()
    }

    /// Whether every requirement holds for `labels`.
    pub fn matches(&self, labels: &dyn LabelLookup) -> bool {
        self.requirements
            .iter()
            .all(|r| r.matches(labels.value(&r.key)))
    }

    /// Whether the selector has no requirement (matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The requirements, in text order.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }
}

/// Formats back to selector text that parses to an equal [`Selector`].
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::write_comma_separated(f, &self.requirements)
    }
}

impl std::str::FromStr for Selector {
    type Err = SelectorError;

    fn from_str(text: &str) -> Result<Selector, SelectorError> {
        Selector::parse(text)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Lexer (k8s.io/apimachinery/pkg/labels/selector.go `Lexer`).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    End,
    Identifier,
    In,
    NotIn,
    Bang,
    NotEquals,
    Equals,
    DoubleEquals,
    GreaterThan,
    LessThan,
    Open,
    Close,
    Comma,
}

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    kind: Kind,
    literal: &'a str,
}

/// Where the parser stands: in a key/operator position `in` and `notin` are keywords, elsewhere identifiers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn lex(text: &str) -> Vec<Token<'_>> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut pos = 0;
    while let Some(&b) = bytes.get(pos) {
        if is_whitespace(b) {
            pos += 1;
            continue;
        }
        let start = pos;
        let kind = if is_special(b) {
            let next = bytes.get(pos + 1).copied();
            let (kind, len) = match (b, next) {
                (b'!', Some(b'=')) => (Kind::NotEquals, 2),
                (b'=', Some(b'=')) => (Kind::DoubleEquals, 2),
                (b'!', _) => (Kind::Bang, 1),
                (b'=', _) => (Kind::Equals, 1),
                (b'>', _) => (Kind::GreaterThan, 1),
                (b'<', _) => (Kind::LessThan, 1),
                (b'(', _) => (Kind::Open, 1),
                (b')', _) => (Kind::Close, 1),
                _ => (Kind::Comma, 1),
            };
            pos += len;
            kind
        } else {
            while bytes
                .get(pos)
                .is_some_and(|&c| !is_special(c) && !is_whitespace(c))
            {
                pos += 1;
            }
            Kind::Identifier
        };
        // `start` and `pos` sit next to ASCII bytes or at the ends, so they are char boundaries.
        let literal = text.get(start..pos).unwrap_or("");
        let kind = match (kind, literal) {
            (Kind::Identifier, "in") => Kind::In,
            (Kind::Identifier, "notin") => Kind::NotIn,
            (kind, _) => kind,
        };
        tokens.push(Token { kind, literal });
    }
    tokens
}

// ---------------------------------------------------------------------------------------------------------------
// Parser (k8s.io/apimachinery/pkg/labels/selector.go `Parser` and `NewRequirement`).

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    pos: usize,
}

const END: Token<'static> = Token {
    kind: Kind::End,
    literal: "",
};

impl<'a> Parser<'a> {
    fn peek(&self, context: Context) -> Token<'a> {
        let token = self.tokens.get(self.pos).copied().unwrap_or(END);
        match (context, token.kind) {
            (Context::Values, Kind::In | Kind::NotIn) => Token {
                kind: Kind::Identifier,
                literal: token.literal,
            },
            _ => token,
        }
    }

    fn next(&mut self, context: Context) -> Token<'a> {
        let token = self.peek(context);
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        token
    }

    fn parse(mut self) -> Result<Selector, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            let token = self.peek(Context::Values);
            match token.kind {
                Kind::Identifier | Kind::Bang => {
                    let requirement = self.parse_requirement().map_err(|e| {
                        SelectorError::new(format!("unable to parse requirement: {e}"))
                    })?;
                    requirements.push(requirement);
                    let after = self.next(Context::Values);
                    match after.kind {
                        Kind::End => return Ok(Selector { requirements }),
                        Kind::Comma => {
                            let following = self.peek(Context::Values);
                            if !matches!(following.kind, Kind::Identifier | Kind::Bang) {
                                return Err(SelectorError::new(format!(
                                    "found '{}', expected: identifier after ','",
                                    following.literal
                                )));
                            }
                        }
                        _ => {
                            return Err(SelectorError::new(format!(
                                "found '{}', expected: ',' or 'end of string'",
                                after.literal
                            )));
                        }
                    }
                }
                Kind::End => return Ok(Selector { requirements }),
                _ => {
                    return Err(SelectorError::new(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        token.literal
                    )));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let (key, operator) = self.parse_key_and_infer_operator()?;
        let operator = match operator {
            Some(op) => return new_requirement(key, op, Vec::new()),
            None => self.parse_operator()?,
        };
        let values = match operator {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => vec![self.parse_exact_value()?],
        };
        new_requirement(key, operator, values)
    }

    /// Reads `[!]key`; returns `Some(Exists|DoesNotExist)` when the requirement ends there.
    fn parse_key_and_infer_operator(&mut self) -> Result<(&'a str, Option<Operator>), String> {
        let mut token = self.next(Context::Values);
        let negated = token.kind == Kind::Bang;
        if negated {
            token = self.next(Context::Values);
        }
        if token.kind != Kind::Identifier {
            return Err(format!("found '{}', expected: identifier", token.literal));
        }
        validate_key(token.literal)?;
        let ends = matches!(self.peek(Context::Values).kind, Kind::End | Kind::Comma);
        match (ends, negated) {
            (true, true) => Ok((token.literal, Some(Operator::DoesNotExist))),
            (true, false) => Ok((token.literal, Some(Operator::Exists))),
            (false, true) => Err(format!(
                "found '{}', expected: ',' or 'end of string'",
                token.literal
            )),
            (false, false) => Ok((token.literal, None)),
        }
    }

    fn parse_operator(&mut self) -> Result<Operator, String> {
        let token = self.next(Context::KeyAndOperator);
        Ok(match token.kind {
            Kind::In => Operator::In,
            Kind::NotIn => Operator::NotIn,
            Kind::Equals => Operator::Equals,
            Kind::DoubleEquals => Operator::DoubleEquals,
            Kind::NotEquals => Operator::NotEquals,
            Kind::GreaterThan => Operator::GreaterThan,
            Kind::LessThan => Operator::LessThan,
            _ if token.literal.is_empty() => {
                return Err("found '', expected: in, notin, =, ==, !=, gt, lt".to_owned());
            }
            _ => {
                return Err(format!(
                    "invalid operator '{}', expected: in, notin, =, ==, !=, gt, lt",
                    token.literal
                ));
            }
        })
    }

    /// `( v1, v2, … )`. As in Kubernetes, empty entries (`()`, `(,a)`, `(a,)`) stand for the empty value.
    fn parse_values(&mut self) -> Result<Vec<String>, String> {
        let open = self.next(Context::Values);
        if open.kind != Kind::Open {
            return Err(format!("found '{}' expected: '('", open.literal));
        }
        let first = self.peek(Context::Values);
        match first.kind {
            Kind::Identifier | Kind::Comma => {
                let values = self.parse_identifiers_list()?;
                if self.next(Context::Values).kind != Kind::Close {
                    return Err(format!("found '{}', expected: ')'", first.literal));
                }
                Ok(values)
            }
            Kind::Close => {
                self.next(Context::Values);
                Ok(vec![String::new()])
            }
            _ => Err(format!(
                "found '{}', expected: ',', ')' or identifier",
                first.literal
            )),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, String> {
        let mut values: Vec<String> = Vec::new();
        loop {
            let token = self.next(Context::Values);
            match token.kind {
                Kind::Identifier => {
                    values.push(token.literal.to_owned());
                    let following = self.peek(Context::Values);
                    match following.kind {
                        Kind::Comma => continue,
                        Kind::Close => return Ok(values),
                        _ => {
                            return Err(format!(
                                "found '{}', expected: ',' or ')'",
                                following.literal
                            ));
                        }
                    }
                }
                Kind::Comma => {
                    if values.is_empty() {
                        values.push(String::new());
                    }
                    match self.peek(Context::Values).kind {
                        Kind::Close => {
                            values.push(String::new());
                            return Ok(values);
                        }
                        Kind::Comma => {
                            self.next(Context::Values);
                            values.push(String::new());
                        }
                        _ => {}
                    }
                }
                _ => {
                    return Err(format!(
                        "found '{}', expected: ',', or identifier",
                        token.literal
                    ));
                }
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<String, String> {
        if matches!(self.peek(Context::Values).kind, Kind::End | Kind::Comma) {
            return Ok(String::new());
        }
        let token = self.next(Context::Values);
        if token.kind == Kind::Identifier {
            Ok(token.literal.to_owned())
        } else {
            Err(format!("found '{}', expected: identifier", token.literal))
        }
    }
}

fn new_requirement(
    key: &str,
    operator: Operator,
    mut values: Vec<String>,
) -> Result<Requirement, String> {
    values.sort_unstable();
    values.dedup();
    let mut bound = None;
    match operator {
        Operator::In | Operator::NotIn if values.is_empty() => {
            return Err("for 'in', 'notin' operators, values set can't be empty".to_owned());
        }
        Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if values.len() != 1 => {
            return Err("exact-match compatibility requires one single value".to_owned());
        }
        Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
            return Err("values set must be empty for exists and does not exist".to_owned());
        }
        Operator::GreaterThan | Operator::LessThan => {
            let [value] = values.as_slice() else {
                return Err("for 'Gt', 'Lt' operators, exactly one value is required".to_owned());
            };
            match value.parse::<i64>() {
                Ok(n) => bound = Some(n),
                Err(_) => {
                    return Err(format!(
                        "invalid value {value:?}: for 'Gt', 'Lt' operators, the value must be an integer"
                    ));
                }
            }
        }
        _ => {}
    }
    for value in &values {
        validate_value(value)?;
    }
    Ok(Requirement {
        key: key.to_owned(),
        operator,
        values,
        bound,
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Key and value validation (k8s.io/apimachinery/pkg/util/validation `IsQualifiedName`, `IsValidLabelValue`).

const NAME_MAX: usize = 63;
const PREFIX_MAX: usize = 253;
const NAME_RULE: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an \
                         alphanumeric character";

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`
fn is_name_part(text: &str) -> bool {
    let bytes = text.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

fn validate_key(key: &str) -> Result<(), String> {
    let mut problems = Vec::new();
    let name = match key.split_once('/') {
        None => key,
        Some((_, name)) if name.contains('/') => {
            return Err(format!(
                "invalid label key {key:?}: a qualified name {NAME_RULE}, with an optional DNS subdomain prefix \
                 and '/' (e.g. 'example.com/MyName')"
            ));
        }
        Some((prefix, name)) => {
            if prefix.is_empty() {
                problems.push("prefix part must be non-empty".to_owned());
            } else if prefix.len() > PREFIX_MAX {
                problems.push(format!(
                    "prefix part must be no more than {PREFIX_MAX} characters"
                ));
            } else if !crate::domain::names::is_dns1123_subdomain(prefix) {
                problems.push(
                    "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric \
                     characters, '-' or '.', and must start and end with an alphanumeric character"
                        .to_owned(),
                );
            }
            name
        }
    };
    if name.is_empty() {
        problems.push("name part must be non-empty".to_owned());
    } else {
        if name.len() > NAME_MAX {
            problems.push(format!(
                "name part must be no more than {NAME_MAX} characters"
            ));
        }
        if !is_name_part(name) {
            problems.push(format!("name part {NAME_RULE}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "invalid label key {key:?}: {}",
            problems.join("; ")
        ))
    }
}

fn validate_value(value: &str) -> Result<(), String> {
    let mut problems = Vec::new();
    if value.len() > NAME_MAX {
        problems.push(format!("must be no more than {NAME_MAX} characters"));
    }
    if !value.is_empty() && !is_name_part(value) {
        problems.push(format!(
            "a valid label must be an empty string or {NAME_RULE}"
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "invalid label value {value:?}: {}",
            problems.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn sel(text: &str) -> Selector {
        match Selector::parse(text) {
            Ok(s) => s,
            Err(e) => panic!("{text:?} should parse: {e}"),
        }
    }

    fn err(text: &str) -> String {
        match Selector::parse(text) {
            Ok(s) => panic!("{text:?} should be rejected, parsed as {s:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn m(text: &str, pairs: &[(&str, &str)]) -> bool {
        sel(text).matches(&labels(pairs))
    }

    #[test]
    fn empty_and_blank_select_everything() {
        for text in ["", " ", "\t\r\n "] {
            let s = sel(text);
            assert!(s.is_empty());
            assert!(s.matches(&labels(&[])));
            assert!(s.matches(&labels(&[("a", "b")])));
        }
    }

    #[test]
    fn every_operator_on_stored_labels() {
        let l = [("app", "web"), ("tier", "front"), ("n", "10")];
        assert!(m("app", &l));
        assert!(!m("x", &l));
        assert!(m("!x", &l));
        assert!(!m("!app", &l));
        assert!(m("app=web", &l));
        assert!(m("app==web", &l));
        assert!(!m("app=db", &l));
        assert!(m("app!=db", &l));
        assert!(!m("app!=web", &l));
        assert!(m("x!=db", &l), "!= matches a missing key");
        assert!(m("app in (db,web)", &l));
        assert!(!m("app in (db)", &l));
        assert!(!m("x in (db)", &l));
        assert!(m("app notin (db)", &l));
        assert!(!m("app notin (db,web)", &l));
        assert!(m("x notin (db)", &l), "notin matches a missing key");
        assert!(m("n>9", &l));
        assert!(!m("n>10", &l));
        assert!(m("n<11", &l));
        assert!(!m("n<10", &l));
        assert!(!m("app>1", &l), "non-integer value never matches >");
        assert!(!m("app<1", &l));
        assert!(!m("x>1", &l) && !m("x<1", &l));
        assert!(m("app=web,tier=front", &l));
        assert!(!m("app=web,tier=back", &l));
    }

    #[test]
    fn gt_lt_compare_numerically() {
        assert!(m("n>9", &[("n", "10")]));
        assert!(m("n<100", &[("n", "9")]));
        assert!(
            m("n>1", &[("n", "+5")]),
            "object values parse like Go's ParseInt"
        );
        assert!(m("n<1", &[("n", "-5")]));
        assert!(!m("n>1", &[("n", "99999999999999999999")]));
        assert!(!m("n>1", &[("n", " 5")]));
    }

    #[test]
    fn whitespace_around_tokens() {
        let l = [("app", "web"), ("n", "3")];
        assert!(m("  app = web , n > 2 ", &l));
        assert!(m("app in(web)", &l));
        assert!(m("app   notin   ( a , b )", &l));
        assert!(m("! x", &l));
        assert!(m("app\t==\nweb", &l));
    }

    #[test]
    fn empty_values() {
        let l = [("empty", ""), ("full", "x")];
        assert!(m("empty=", &l));
        assert!(m("empty=,full=x", &l));
        assert!(!m("full=", &l));
        assert!(m("empty in (,x)", &l));
        assert!(
            m("empty in ()", &l),
            "Kubernetes reads () as the empty value"
        );
        assert!(!m("full in ()", &l));
        assert!(m("empty in (x,)", &l));
        assert!(m("empty in (x,,y)", &l));
        assert_eq!(sel("a in (,)").requirements()[0].values(), [String::new()]);
    }

    #[test]
    fn keywords_are_identifiers_in_value_positions() {
        let l = [("in", "notin")];
        assert!(m("in", &l));
        assert!(m("in=notin", &l));
        assert!(m("in in (notin,in)", &l));
        assert!(!m("in notin (notin)", &l));
    }

    #[test]
    fn valid_keys() {
        for key in [
            "a",
            "A",
            "0",
            "a.b_c-d",
            "example.com/MyName",
            "kubesphere.io/workspace",
            "ippool.network.kubesphere.io/name",
            "a/b",
            &"x".repeat(63),
            &format!("{}/n", "a".repeat(253)),
        ] {
            assert!(Selector::parse(key).is_ok(), "{key}");
        }
    }

    #[test]
    fn invalid_keys() {
        for key in [
            "-a",
            "a-",
            "a_",
            ".a",
            "/a",
            "a/",
            "a/b/c",
            "Example.com/a",
            "ex_ample.com/a",
            "-ex.com/a",
            "ex..com/a",
            "é",
            "a b c",
            &"x".repeat(64),
            &format!("{}/n", "a".repeat(254)),
            "a*",
            "*",
        ] {
            assert!(Selector::parse(key).is_err(), "{key}");
        }
        assert!(err("a/b/c").contains("qualified name"));
        assert!(err(&"x".repeat(64)).contains("no more than 63"));
    }

    #[test]
    fn invalid_values() {
        for text in [
            "a=-x",
            "a=x-",
            "a=x/y",
            "a in (x,-y)",
            &format!("a={}", "v".repeat(64)),
            "a=é",
            "a>",
            "a>x",
            "a>1.5",
            "a<-1",
            "a>99999999999999999999",
        ] {
            assert!(Selector::parse(text).is_err(), "{text}");
        }
        assert!(Selector::parse(&format!("a={}", "v".repeat(63))).is_ok());
    }

    #[test]
    fn syntax_errors() {
        for text in [
            ",",
            "a,",
            ",a",
            "a,,b",
            "=a",
            "a=b=c",
            "a==b==c",
            "a===b",
            "a in",
            "a in (",
            "app in (a,b",
            "a in (b c)",
            "a in b",
            "a notin ((b))",
            "a in (b))",
            "!a=b",
            "!a in (b)",
            "!",
            "!!a",
            "a b",
            "a !b",
            "(a)",
            "a=(b)",
            "a=b c",
            "a in (b),",
            "a!",
            "a=!",
            "a<>1",
            // Kubernetes quirk kept: two empty entries right before `)`.
            "a in (,,)",
            "a in (x,,)",
        ] {
            assert!(Selector::parse(text).is_err(), "{text:?} must be rejected");
        }
    }

    #[test]
    fn error_messages_follow_kubernetes() {
        assert_eq!(err("a,"), "found '', expected: identifier after ','");
        assert_eq!(
            err("app in (a,b"),
            "unable to parse requirement: found '', expected: ',' or ')'"
        );
        assert_eq!(
            err("a b"),
            "unable to parse requirement: invalid operator 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            err(")"),
            "found ')', expected: !, identifier, or 'end of string'"
        );
    }

    /// Case 89: the console's comma-less append.
    #[test]
    fn case_89_comma_less_append_is_rejected() {
        let detail = err("tier=webapp.kubernetes.io/name=x");
        assert!(detail.contains("webapp.kubernetes.io/name"), "{detail}");
    }

    #[test]
    fn case_91_double_double_equals_is_rejected() {
        assert!(Selector::parse("a==b==c").is_err());
    }

    #[test]
    fn case_88_unclosed_set_is_rejected() {
        assert!(Selector::parse("app in (a,b").is_err());
    }

    fn pool_set() -> Vec<Arc<str>> {
        vec!["ds4".into(), "ds6".into()]
    }

    const POOL: &str = "ippool.network.kubesphere.io/name";

    /// The algorithms §3 table, and case 41 (a dual-stack pod matches both pools).
    #[test]
    fn case_41_set_value_matches_any_member() {
        let stored = labels(&[("app", "x")]);
        let pools = pool_set();
        let pod = WithVirtualSet {
            stored: &stored,
            key: POOL,
            values: &pools,
        };
        let yes = |t: &str| sel(t).matches(&pod);
        assert!(yes(&format!("{POOL}=ds4")));
        assert!(yes(&format!("{POOL}==ds6")));
        assert!(yes(&format!("{POOL} in (ds6)")));
        assert!(yes(&format!("{POOL} in (zz,ds4)")));
        assert!(!yes(&format!("{POOL}!=ds6")));
        assert!(!yes(&format!("{POOL}!=ds4")));
        assert!(yes(&format!("{POOL}!=zz")));
        assert!(!yes(&format!("{POOL} notin (ds6)")));
        assert!(yes(&format!("{POOL} notin (a,b)")));
        assert!(yes(POOL));
        assert!(!yes(&format!("!{POOL}")));
        assert!(!yes(&format!("{POOL}=other")));
        assert!(!yes(&format!("{POOL}>1")), "pool names are not integers");
        assert!(!yes(&format!("{POOL}<1")));
        assert!(yes("app=x"));
    }

    #[test]
    fn set_gt_lt_use_the_first_element() {
        let numbers: Vec<Arc<str>> = vec!["5".into(), "50".into()];
        let value = LabelValue::Set(&numbers);
        let r = |t: &str| sel(t).requirements()[0].clone();
        assert!(r("k>4").matches(value));
        assert!(!r("k>10").matches(value), "50 is not consulted");
        assert!(r("k<6").matches(value));
    }

    /// Case 42: a pod without a pool has no such label.
    #[test]
    fn case_42_no_pool_means_absent() {
        let stored = labels(&[]);
        let none: Vec<Arc<str>> = Vec::new();
        let pod = WithVirtualSet {
            stored: &stored,
            key: POOL,
            values: &none,
        };
        assert!(sel(&format!("!{POOL}")).matches(&pod));
        assert!(!sel(POOL).matches(&pod));
        assert!(sel(&format!("{POOL}!=x")).matches(&pod));
        // An empty set value behaves as absent too.
        let r = sel(POOL);
        assert!(!r.requirements()[0].matches(LabelValue::Set(&none)));
        assert!(sel(&format!("!{POOL}")).requirements()[0].matches(LabelValue::Set(&none)));
    }

    /// Case 39: a stored label wins over the virtual one.
    #[test]
    fn case_39_stored_label_wins() {
        let stored = labels(&[(POOL, "legacy-pool")]);
        let pools: Vec<Arc<str>> = vec!["default-ipv4-ippool".into()];
        let pod = WithVirtualSet {
            stored: &stored,
            key: POOL,
            values: &pools,
        };
        assert!(sel(&format!("{POOL}=legacy-pool")).matches(&pod));
        assert!(!sel(&format!("{POOL}=default-ipv4-ippool")).matches(&pod));
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "a",
            "!a",
            "a=b",
            "a==b",
            "a!=b",
            "a=",
            "a in (b,c)",
            "a notin (,c)",
            "a>5",
            "a<0",
            "x.io/a=b,!c,d in (e)",
        ] {
            let s = sel(text);
            assert_eq!(s.to_string(), text);
            assert_eq!(sel(&s.to_string()), s);
        }
        assert_eq!(sel(" a  in ( c , b , c ) ").to_string(), "a in (b,c)");
    }

    #[test]
    fn empty_labels_is_empty() {
        assert!(empty_labels().is_empty());
        assert_eq!(empty_labels().value("a"), LabelValue::Absent);
    }

    // -----------------------------------------------------------------------------------------------------------
    // Property-style tests with a seeded PRNG.

    use crate::domain::random::SplitMix64 as Rng;

    const PIECES: &[&str] = &[
        "a",
        "b",
        "in",
        "notin",
        "=",
        "==",
        "!=",
        "!",
        "(",
        ")",
        ",",
        " ",
        ">",
        "<",
        "1",
        "-",
        ".",
        "/",
        "_",
        "x.io",
        "é",
        "\t",
        "\0",
        "99999999999999999999",
        "A",
    ];

    #[test]
    fn parse_never_panics_on_random_bytes() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let maps = [
            labels(&[]),
            labels(&[("a", "b"), ("b", "1"), ("x.io/a", "")]),
        ];
        for _ in 0..20_000 {
            let len = rng.below(24);
            let bytes: Vec<u8> = (0..len).map(|_| (rng.next_u64() & 0xFF) as u8).collect();
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(s) = Selector::parse(&text) {
                for map in &maps {
                    let _ = s.matches(map);
                }
            }
            // Token soup exercises the parser far more than raw bytes.
            let soup: String = (0..rng.below(12)).map(|_| *rng.pick(PIECES)).collect();
            if let Ok(s) = Selector::parse(&soup) {
                assert_eq!(sel(&s.to_string()), s, "{soup:?}");
                for map in &maps {
                    let _ = s.matches(map);
                }
            }
        }
    }

    fn random_name(rng: &mut Rng) -> String {
        const FIRST: &[&str] = &["a", "Z", "0", "k", "in", "notin"];
        const MIDDLE: &[&str] = &["", "-", "_", ".", "b", "9"];
        let mut s = (*rng.pick(FIRST)).to_owned();
        if rng.below(2) == 0 {
            s.push_str(rng.pick::<&str>(MIDDLE));
            s.push_str(rng.pick::<&str>(&["c", "1", "Q"]));
        }
        s
    }

    fn random_requirement(rng: &mut Rng) -> String {
        let mut key = random_name(rng);
        if rng.below(3) == 0 {
            key = format!("{}.io/{key}", *rng.pick(&["ex", "a-b", "x1"]));
        }
        let value = |rng: &mut Rng| {
            if rng.below(5) == 0 {
                String::new()
            } else {
                random_name(rng)
            }
        };
        let sp = |rng: &mut Rng| (*rng.pick(&["", " ", "  "])).to_owned();
        match rng.below(9) {
            0 => key,
            1 => format!("!{}{key}", sp(rng)),
            2 => format!("{key}{}={}{}", sp(rng), sp(rng), value(rng)),
            3 => format!("{key}=={}", value(rng)),
            4 => format!("{key}{}!={}", sp(rng), value(rng)),
            5 | 6 => {
                // Kubernetes rejects two empty entries before `)` (`(a,,)`), so at most one empty value, first.
                let n = rng.below(3);
                let mut values: Vec<String> = (0..n).map(|_| random_name(rng)).collect();
                if n == 0 || rng.below(4) == 0 {
                    values.insert(0, String::new());
                }
                let word = if rng.below(2) == 0 { "in" } else { "notin" };
                format!("{key} {word}{}({})", sp(rng), values.join(","))
            }
            7 => format!("{key}>{}", rng.below(1000)),
            _ => format!("{key}<{}", rng.below(1000)),
        }
    }

    #[test]
    fn random_valid_selectors_parse_and_round_trip() {
        let mut rng = Rng(42);
        for _ in 0..5_000 {
            let n = 1 + rng.below(4);
            let parts: Vec<String> = (0..n).map(|_| random_requirement(&mut rng)).collect();
            let text = parts.join(*rng.pick(&[",", " , ", ", "]));
            let s = sel(&text);
            assert_eq!(s.requirements().len(), n, "{text}");
            let shown = s.to_string();
            assert_eq!(sel(&shown), s, "{text} → {shown}");
            assert_eq!(sel(&shown).to_string(), shown);
        }
    }
}
