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
