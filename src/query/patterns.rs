//! The list parameters' grammars as ECMA-262 regular expressions, for the OpenAPI document: a value matches its
//! pattern exactly when the parser accepts it, so a client (or schemathesis) can tell a 400 in advance. Only
//! syntax every engine on the way shares is used (JSON Schema validators, Python's `re`, `fancy-regex`):
//! classes, groups, bounded repeats and negative lookahead. `http/fuzz.rs` checks each pattern against its parser.

/// `[ \t\r\n]*`: the whitespace the label-selector lexer skips.
const SELECTOR_SPACE: &str = "[ \\t\\r\\n]*";

/// A label name or a non-empty label value (`IsQualifiedName`'s name part, `IsValidLabelValue`): 1–63 characters.
const LABEL_NAME: &str = "[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?";

/// A DNS-1123 subdomain (at most 253 characters: the negative lookahead bounds the run of its characters).
const SUBDOMAIN: &str =
    "(?![-a-z0-9.]{254})[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*";

/// `Selector::parse`'s language (algorithms §9.3): `labelSelector`, `label` and `annotation`.
pub fn label_selector() -> String {
    let w = SELECTOR_SPACE;
    let key = format!("(?:{SUBDOMAIN}/)?{LABEL_NAME}");
    // The token sequences `( … )` the parser accepts after `in`/`notin`: values (I) and commas (C) with no two
    // values adjacent, where a doubled comma must be followed by a value or another comma (Kubernetes' parser).
    let (i, c, r) = (
        format!("{w}{LABEL_NAME}"),
        format!("{w},"),
        format!("{w}\\)"),
    );
    let after_comma = format!("(?:{i}{c}|{c}{i}{c}|{c}{c})*(?:{r}|{i}{r}|{c}{i}{r})");
    let set = format!("\\((?:{r}|{i}{r}|{i}{c}{after_comma}|{c}{after_comma})");
    let requirement = [
        format!("!{w}{key}"),
        format!("{key}{w}(?:==|!=|=){w}(?:{LABEL_NAME})?"),
        format!("{key}{w}[<>]{w}{}", integer()),
        format!("{key}[ \\t\\r\\n]+(?:in|notin){w}{set}"),
        key,
    ]
    .join("|");
    format!("^{w}(?:(?:{requirement}){w}(?:,{w}(?:{requirement}){w})*)?$")
}

/// The operand of `>` and `<`: digits (a label value, so at most 63 and no sign) whose value fits an `i64`.
fn integer() -> String {
    const MAX: &str = "9223372036854775807";
    // A 19-digit number is at most MAX when it has MAX's first digits up to one that is smaller.
    let mut nineteen: Vec<String> = (0..MAX.len())
        .filter_map(|at| {
            let (same, rest) = MAX.split_at(at);
            let smaller = rest.chars().next()?.to_digit(10)?.checked_sub(1)?;
            Some(format!("{same}[0-{smaller}][0-9]{{{}}}", rest.len() - 1))
        })
        .collect();
    nineteen.push(MAX.to_owned());
    format!("(?![0-9]{{64}})0*(?:[0-9]{{1,18}}|{})", nineteen.join("|"))
}

/// What Rust's `char::is_whitespace` accepts (the `White_Space` property), as class content.
const FIELD_SPACE: &str =
    "\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";

/// `FieldSelector::parse`'s language (algorithms §9.8): the dynamic lists' `fieldSelector`.
pub fn field_selector() -> String {
    let space = format!("[{FIELD_SPACE}]");
    // A solid path unit: an escape pair, a `!` not starting `!=`, or a plain character other than the separators
    // and whitespace. Paths are trimmed, so the first step and the last must hold a solid unit; every step is
    // non-empty. Written without nested ambiguity (`(?:space*solid)+`), so matching never backtracks badly.
    let solid = format!("(?:\\\\[\\s\\S]|!(?!=)|[^\\\\,=.!{FIELD_SPACE}])");
    let with_solid = format!("{space}*{solid}(?:{space}*{solid})*{space}*");
    let path = format!("{with_solid}(?:(?:\\.(?:{solid}|{space})+)*\\.{with_solid})?");
    field_terms(&path)
}

/// [`field_selector`] with every path `metadata.name`: the aggregated IPPool list's `fieldSelector` (api §4.2).
pub fn name_field_selector() -> String {
    let space = format!("[{FIELD_SPACE}]");
    let letters = |word: &str| {
        word.chars()
            .map(|c| format!("\\\\?{c}"))
            .collect::<String>()
    };
    let path = format!(
        "{space}*{}\\.{}{space}*",
        letters("metadata"),
        letters("name")
    );
    field_terms(&path)
}

/// Comma-separated `path op value` terms (a lone backslash may end the text), or blank text.
fn field_terms(path: &str) -> String {
    let value = "(?:\\\\[\\s\\S]|[^\\\\,])*";
    let term = format!("{path}(?:!=|==|=){value}");
    format!("^(?:[{FIELD_SPACE}]*|{term}(?:,{term})*\\\\?)$")
}

/// `page`: anything but an integer below 1 (algorithms §9.1–§9.2; a non-integer is ignored).
pub const PAGE: &str = "^(?!(?:-[0-9]+|\\+?0+)$)";

/// `limit`: anything but an integer below −1.
pub const LIMIT: &str = "^(?!-0*(?:[2-9]|[1-9][0-9]+)$)";

/// `watch`: anything but `true` and `1`, which are refused.
pub const WATCH: &str = "^(?!(?:true|1)$)";
