//! Kubernetes names (apimachinery `IsDNS1123Label`, `IsDNS1123Subdomain`): namespaces are DNS-1123 labels,
//! object names DNS-1123 subdomains.

/// Longest DNS-1123 label (a namespace name).
pub const LABEL_MAX: usize = 63;
/// Longest DNS-1123 subdomain (an object name).
pub const SUBDOMAIN_MAX: usize = 253;

const LABEL_RULE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', \
                          and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc', \
                          regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_RULE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
                              '-' or '.', and must start and end with an alphanumeric character (e.g. \
                              'example.com', regex used for validation is \
                              '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, any length.
fn is_label_shape(text: &str) -> bool {
    let lower_alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = text.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            lower_alnum(first)
                && lower_alnum(last)
                && bytes.iter().all(|b| lower_alnum(b) || *b == b'-')
        }
        _ => false,
    }
}

/// Whether `text` is a DNS-1123 label.
pub fn is_dns1123_label(text: &str) -> bool {
    text.len() <= LABEL_MAX && is_label_shape(text)
}

/// Whether `text` is a DNS-1123 subdomain: dot-separated labels, at most 253 characters in all.
pub fn is_dns1123_subdomain(text: &str) -> bool {
    text.len() <= SUBDOMAIN_MAX && text.split('.').all(is_label_shape)
}

/// Why `text` is not a DNS-1123 label, in apimachinery's words; empty when it is one.
pub fn dns1123_label_errors(text: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if text.len() > LABEL_MAX {
        errors.push(format!("must be no more than {LABEL_MAX} characters"));
    }
    if !is_label_shape(text) {
        errors.push(LABEL_RULE.to_owned());
    }
    errors
}

/// Why `text` is not a DNS-1123 subdomain, in apimachinery's words; empty when it is one.
pub fn dns1123_subdomain_errors(text: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if text.len() > SUBDOMAIN_MAX {
        errors.push(format!("must be no more than {SUBDOMAIN_MAX} characters"));
    }
    if !text.split('.').all(is_label_shape) {
        errors.push(SUBDOMAIN_RULE.to_owned());
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        for good in ["a", "0", "kube-system", "a-1", &"a".repeat(63)] {
            assert!(is_dns1123_label(good), "{good}");
            assert!(dns1123_label_errors(good).is_empty(), "{good}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "A",
            "demo.x",
            "a/b",
            "a%2Fb",
            "a b",
            "ä",
            "a\n",
            &"a".repeat(64),
        ] {
            assert!(!is_dns1123_label(bad), "{bad:?}");
            assert!(!dns1123_label_errors(bad).is_empty(), "{bad:?}");
        }
    }

    #[test]
    fn subdomains() {
        for good in [
            "a",
            "pool-a",
            "default-ipv4-ippool",
            "a.b-c.d",
            "1.2",
            &"a".repeat(253),
        ] {
            assert!(is_dns1123_subdomain(good), "{good}");
            assert!(dns1123_subdomain_errors(good).is_empty(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a..b",
            ".a",
            "a.",
            "-a",
            "Pool",
            "a_b",
            "a/b",
            "../x",
            "a%b",
            &"a".repeat(254),
        ] {
            assert!(!is_dns1123_subdomain(bad), "{bad:?}");
            assert!(!dns1123_subdomain_errors(bad).is_empty(), "{bad:?}");
        }
    }

    #[test]
    fn errors_name_length_and_shape_separately() {
        assert_eq!(
            dns1123_label_errors(&"a".repeat(64)),
            vec!["must be no more than 63 characters".to_owned()]
        );
        let errors = dns1123_subdomain_errors(&"A".repeat(300));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0], "must be no more than 253 characters");
        assert!(
            errors[1].starts_with("a lowercase RFC 1123 subdomain"),
            "{errors:?}"
        );
    }
}
