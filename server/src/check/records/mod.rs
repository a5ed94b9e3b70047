//! Exact parsers for the `_mta-sts` TXT record, the MTA-STS policy file and the `_smtp._tls`
//! TXT record (RFC 8461 §3.1, §3.2; RFC 8460 §3), and the §4.1 MX pattern match.
//!
//! They never reject silently: every deviation is a [`Problem`] with a check ID, a severity and
//! (for the policy) a line number, so the checker can explain it.

use app::health::Severity;

/// One deviation found while parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Catalogue check ID.
    pub id: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// What is wrong, in words.
    pub message: String,
}

fn problem(id: &'static str, severity: Severity, message: impl Into<String>) -> Problem {
    Problem {
        id,
        severity,
        message: message.into(),
    }
}

mod policy;
mod sts;
mod tlsrpt;

pub use policy::*;
pub use sts::*;
pub use tlsrpt::*;

pub(super) fn is_wsp(c: char) -> bool {
    c == ' ' || c == '\t'
}

pub(super) fn ext_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

pub(super) fn sts_ext_value_ok(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'=' && b != b';')
}

/// Splits `a; b ;c;` into fields with the `*WSP ";" *WSP` delimiter; `None` marks an empty field
/// between two delimiters (`;;`).
pub(super) fn split_fields(rest: &str) -> Vec<&str> {
    rest.split(';')
        .map(|f| f.trim_matches(is_wsp))
        .collect::<Vec<_>>()
}

pub(super) fn first_chars(s: &str) -> String {
    s.chars().take(16).collect()
}

pub(super) fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sts_records_valid_per_the_spec_vectors() {
        for txt in [
            "v=STSv1; id=20160831085700Z;",
            "v=STSv1; \t id=20160831085700Z  \t;",
            "v=STSv1; id=a",
            "v=STSv1; id=a; more=a; ext=2",
        ] {
            let r = parse_sts_record(txt);
            assert!(r.valid(), "{txt}: {:?}", r.problems);
        }
    }

    #[test]
    fn sts_records_invalid_per_the_spec_vectors() {
        for txt in [
            "v=STSv0",
            "v=STSv10",
            "v=STSv2",
            "v=STSv1",
            "v=STSv1;",
            "v=STSv1; ext=1",
            "v=STSv1; id=",
            "v=STSv1; id=012345678901234567890123456789012",
            "v=STSv1; id=test-123",
            "v=STSv1; id=a; more=",
            "v=STSv1; id=a; a12345678901234567890123456789012=1",
            "v=STSv1; id=a; 1%=a",
            "v=STSv1; id=a; test==",
            "v=STSv1; id=a;;",
            "id=20180907T090909; v=STSv1;",
            "v=STSv12;id=20180907T090909;",
            "v=STSv1; id=2026-04-29",
        ] {
            let r = parse_sts_record(txt);
            assert!(!r.valid(), "{txt} should be invalid");
        }
    }

    #[test]
    fn duplicate_id_keeps_the_first_and_warns() {
        let r = parse_sts_record("v=STSv1; id=first; id=second");
        assert_eq!(r.id.as_deref(), Some("first"));
        assert!(r.problems.iter().any(|p| p.id == "STS-TXT-09"));
    }

    #[test]
    fn policies_valid_per_the_spec_vectors() {
        for body in [
            "version: STSv1\nmode: enforce\t\nmx: *.example.com \nmax_age: 0 \n",
            "version:STSv1\r\nmode:\tenforce\r\nmx:  \t\t *.example.com\nmax_age: 1\nmore:ext e  ns ion",
            "version:STSv1\nmode:none\nmax_age:1",
            "version: STSv1\nmode: testing\nmx: mail.example.com\nmax_age: 86400\nreport: https://x.example/a:b\n",
        ] {
            let p = parse_policy(body.as_bytes());
            assert!(p.valid(), "{body:?}: {:?}", p.problems);
        }
        let p = parse_policy(b"version: STSv1\nmode: enforce\nmx: *.example.com \nmax_age: 0 \n");
        assert_eq!(p.mode, Some(Mode::Enforce));
        assert_eq!(p.max_age, Some(0));
        assert_eq!(p.mx, vec!["*.example.com"]);
    }

    #[test]
    fn policies_invalid_per_the_spec_vectors() {
        let base = |extra: &str| {
            format!("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n{extra}")
        };
        let mut bodies: Vec<String> = [
            "",
            "version:STSv0\nmode:none\nmax_age:1",
            "version:STSv10\nmode:none\nmax_age:1",
            "version:STSv1\nmax_age:1\nmx:a.example",
            "version:STSv1\nmode:enforce\nmx:a.example",
            "version:STSv1\nmode:enforce\nmax_age:1",
            "version:STSv1\nmode:testing\nmax_age:1",
            "mode:none\nmax_age:1",
            "version:STSv1\nmode:none\nmax_age:01234567890",
            "version:STSv1\nmode:bad\nmax_age:1",
            "version:STSv1\nmode:none\nmax_age:a",
            "version: STSv1\nmode: none\nmax_age: 31557601",
            "version: STSv1\nmode: doubt\nmax_age: 1",
            "garbage",
            "<html><body>Not found</body></html>",
            "version: STSv1\rmode: none\rmax_age: 1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for mx in [
            "mx:",
            "mx:*.*.example",
            "mx:**.example",
            "mx:**.example-",
            "mx:test.example-",
            "mx: møx.example",
            "mx: 192.0.2.1",
            "mx: mail.example.com.",
        ] {
            bodies.push(base(mx));
        }
        for ext in ["ext:", &format!("{}:x", "a".repeat(33)), "_bad:test"] {
            bodies.push(base(ext));
        }
        for body in bodies {
            assert!(
                !parse_policy(body.as_bytes()).valid(),
                "{body:?} should be invalid"
            );
        }
    }

    #[test]
    fn policy_lint_warnings_do_not_invalidate() {
        let p = parse_policy(b"version: STSv1\n\nmode: testing\nmx: a.example\nmax_age: 86400\nmode: enforce\nmax-age: 5\n");
        assert!(p.valid(), "{:?}", p.problems);
        assert_eq!(p.mode, Some(Mode::Testing), "first mode wins");
        let ids: Vec<_> = p.problems.iter().map(|p| (p.id, p.severity)).collect();
        assert!(ids.contains(&("STS-POL-03", Severity::Warn)));
        assert!(ids.contains(&("STS-POL-09", Severity::Warn)));
        assert!(ids.contains(&("STS-POL-10", Severity::Warn)));
        assert!(p.problems.iter().any(|p| p.message.starts_with("line 2:")));
    }

    #[test]
    fn mx_patterns_match_exactly_one_label() {
        assert!(mx_matches("a.example", "a.example"));
        assert!(mx_matches("a.example", "A.Example."));
        assert!(mx_matches("*.b.example", "sub.b.example"));
        assert!(!mx_matches("*.b.example", "b.example"));
        assert!(!mx_matches("*.b.example", "sub.sub.b.example"));
        assert!(!mx_matches("a.example", "other"));
        assert!(mx_matches("*.example.com", "mail.example.com"));
        assert!(!mx_matches("*.example.com", "example.com"));
        assert!(!mx_matches("*.example.com", "foo.bar.example.com"));
    }

    #[test]
    fn tlsrpt_records_per_the_spec_vectors() {
        for txt in [
            "v=TLSRPTv1;rua=mailto:reports@example.com",
            "v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt",
            "v=TLSRPTv1; rua=mailto:tlsrpt@mydomain.com,https://tlsrpt.mydomain.com/v1",
            "v=TLSRPTv1;rua=mailto:reports@example.com,mailto:postmaster@example.com",
            "v=TLSRPTv1; rua=https://reporting.example.com:8443/v1; ext=extvalue",
        ] {
            let r = parse_tlsrpt_record(txt);
            assert!(r.valid(), "{txt}: {:?}", r.problems);
        }
        for txt in [
            "v=TLSRPTv1; rua=!!",
            "v=TLSRPTv1; rua=postmaster@isaspa.it",
            "v=TSLRPTv1; rua=mailto:x@y.example",
            "v=TLSRPTv1",
            "v=tlsrptv1; rua=mailto:x@y.example",
            "v=TLSRPTv1; rua=mailto:x@y.example!10m",
            "v=TLSRPTv1; rua=http://reports.example.com/",
        ] {
            assert!(!parse_tlsrpt_record(txt).valid(), "{txt} should be invalid");
        }
    }
}
