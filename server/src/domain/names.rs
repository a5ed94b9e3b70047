//! Domain names as TLS-RPT reports carry them: A-labels, case-insensitive, optional trailing dot.

/// Lowercases `s`, strips one trailing dot and checks it is a plausible DNS name (LDH labels,
/// underscores tolerated, 1–63 octets a label, at most 253 octets). Returns `None` otherwise.
pub fn normalize_domain(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() || s.len() > 253 {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    lower.split('.').all(valid_label).then_some(lower)
}

/// Like [`normalize_domain`], but also accepts a `*.` wildcard as the whole left-most label.
pub fn normalize_mx_pattern(s: &str) -> Option<String> {
    let s = s.trim();
    match s.strip_prefix("*.") {
        Some(rest) => normalize_domain(rest).map(|d| format!("*.{d}")),
        None => normalize_domain(s),
    }
}

/// A domain name checked and normalized by [`normalize_domain`] once, at the boundary; code
/// that takes a `DomainName` does not validate again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct DomainName(String);

/// Why a string is not a domain name; the message quotes it, shortened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a domain name")]
pub struct NotADomain(String);

impl NotADomain {
    fn of(s: &str) -> Self {
        Self(crate::domain::report::truncate(s.trim(), 64).to_owned())
    }
}

impl DomainName {
    /// `s` lowercased without its trailing dot, if it is a plausible DNS name.
    pub fn parse(s: &str) -> Result<Self, NotADomain> {
        normalize_domain(s)
            .map(Self)
            .ok_or_else(|| NotADomain::of(s))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for DomainName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DomainName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for DomainName {
    type Err = NotADomain;
    fn from_str(s: &str) -> Result<Self, NotADomain> {
        Self::parse(s)
    }
}

impl From<DomainName> for String {
    fn from(d: DomainName) -> String {
        d.0
    }
}

fn valid_label(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 63
        && l.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !l.starts_with('-')
        && !l.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_parsed_once_into_their_types() {
        let d = DomainName::parse(" Example.COM. ").unwrap();
        assert_eq!(d.as_str(), "example.com");
        let e = DomainName::parse("not a domain").unwrap_err();
        assert_eq!(e.to_string(), "\"not a domain\" is not a domain name");
    }

    #[test]
    fn domains_are_lowercased_and_lose_the_trailing_dot() {
        assert_eq!(normalize_domain("Example.COM."), Some("example.com".into()));
        assert_eq!(
            normalize_domain("_smtp._tls.example.com"),
            Some("_smtp._tls.example.com".into())
        );
    }

    #[test]
    fn garbage_is_not_a_domain() {
        for bad in [
            "",
            ".",
            "a..b",
            "<script>alert(1)</script>",
            "-a.com",
            "a b.com",
            "møx.example",
            &"a".repeat(64),
        ] {
            assert_eq!(normalize_domain(bad), None, "{bad}");
        }
    }

    #[test]
    fn wildcard_only_as_whole_left_label() {
        assert_eq!(
            normalize_mx_pattern("*.Example.com"),
            Some("*.example.com".into())
        );
        assert_eq!(normalize_mx_pattern("mail.*.com"), None);
        assert_eq!(normalize_mx_pattern("*example.com"), None);
    }
}
