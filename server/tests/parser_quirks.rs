//! One named test per real-world sender quirk (spec §1.7), each on a fixture written for the
//! project and named after the quirk.

mod support;

use tlswatch::domain::{parse_report, ParseContext, Report};
use tlswatch::ingest::{extract, Limits};

use support::{fixture_bytes, gz};

fn parse(name: &str) -> Report {
    parse_report(
        &fixture_bytes(&format!("reports/{name}")),
        &ParseContext::default(),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn reject(name: &str) -> String {
    parse_report(
        &fixture_bytes(&format!("reports/{name}")),
        &ParseContext::default(),
    )
    .expect_err(name)
    .to_string()
}

fn warned(r: &Report, needle: &str) -> bool {
    r.warnings.iter().any(|w| w.contains(needle))
}

#[test]
fn d01_mx_host_as_a_string_becomes_a_list() {
    let r = parse("d01-mx-host-string.json");
    assert_eq!(r.policies[0].mx_hosts, vec!["*.mail.company-y.example"]);
    assert!(warned(&r, "mx-host is a string"));
    // D-19: additional-information with spaces is kept as opaque text.
    assert!(r.policies[0].failures[1]
        .additional_information
        .as_deref()
        .unwrap()
        .contains(" ? id = "));
    // Non-canonical IPv6 is accepted.
    assert_eq!(
        r.policies[0].failures[0].sending_mta_ip.as_deref(),
        Some("2001:db8:abcd:0012::1")
    );
}

#[test]
fn d02_d06_microsoft_tlsa_policy_string_is_unwrapped_and_mx_host_may_be_absent() {
    let r = parse("d02-d06-microsoft-sts-and-tlsa.json");
    assert!(r.policies[0].mx_hosts.is_empty());
    assert_eq!(r.policies[1].policy_strings.len(), 2);
    assert!(r.policies[1].policy_strings[0].starts_with("3 1 1 6007"));
    assert!(warned(&r, "JSON array inside one string"));
    assert!(warned(&r, "both sts and tlsa"));
}

#[test]
fn d03_d14_d16_null_contact_mx_prefix_and_next_midnight_end() {
    let r = parse("d03-d14-d16-null-contact-mx-prefix.json");
    assert_eq!(r.contact_info, None);
    assert_eq!(r.policies[0].mx_hosts, vec!["mx.prefix.example"]);
    assert!(warned(&r, "contact-info is null"));
    assert!(warned(&r, "\"mx:\" prefix"));
    assert_eq!((r.end - r.start).num_seconds(), 86_400);
}

#[test]
fn d04_d11_no_policy_found_without_policy_string_or_details() {
    let r = parse("d04-d11-google-no-policy-found.json");
    assert_eq!(r.policies[0].policy_type, "no-policy-found");
    assert!(r.policies[0].policy_strings.is_empty() && r.policies[0].failures.is_empty());
    assert_eq!(r.policies[0].success, 48);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn d07_missing_policy_domain_is_rejected_without_a_header() {
    assert!(
        reject("d07-d08-d09-missing-domain-unknown-type.json").contains("policy-domain is missing")
    );
}

#[test]
fn d07_d08_d09_missing_domain_falls_back_to_the_header_and_unknown_types_are_kept() {
    let ctx = ParseContext {
        fallback_domain: Some("NoDomain.Example".into()),
    };
    let r = parse_report(
        &fixture_bytes("reports/d07-d08-d09-missing-domain-unknown-type.json"),
        &ctx,
    )
    .unwrap();
    assert!(r
        .policies
        .iter()
        .all(|p| p.policy_domain == "nodomain.example"));
    assert_eq!(r.policies[1].policy_type, "invalid-policy-type");
    assert_eq!(r.policies[0].failure, 0);
    assert!(warned(&r, "total-failure-session-count is missing"));
    assert!(warned(&r, "unknown policy-type"));
}

#[test]
fn d10_d12_inconsistent_totals_and_details_without_addresses() {
    let r = parse("d10-d12-mailru-fetch-error.json");
    let f = &r.policies[0].failures;
    assert_eq!(f.len(), 2);
    assert!(f
        .iter()
        .all(|d| d.sending_mta_ip.is_none() && d.receiving_mx_hostname.is_none()));
    assert_eq!(
        f[0].failure_reason_code.as_deref(),
        Some("bad https response code: 404")
    );
    assert!(warned(
        &r,
        "add up to 2 sessions, more than the summary's 1"
    ));
}

#[test]
fn d15_timestamps_without_a_zone_are_utc() {
    let r = parse("d15-no-timezone.json");
    assert_eq!(r.start.to_rfc3339(), "2026-03-26T00:00:00+00:00");
    assert!(warned(&r, "no time zone"));
}

#[test]
fn d17_d18_unknown_members_are_ignored_and_draft_key_names_accepted() {
    let r = parse("d17-d18-unknown-members-and-aliases.json");
    assert_eq!(r.policies[0].mx_hosts, vec!["*.aliases.example"]);
    let f = &r.policies[0].failures[0];
    assert_eq!(
        f.additional_information.as_deref(),
        Some("https://extra.example/info")
    );
    assert_eq!(f.result_type, "some-new-result-type");
    assert_eq!(
        f.receiving_mx_hostname.as_deref(),
        Some("mx1.aliases.example")
    );
}

#[test]
fn counts_that_are_negative_fractional_or_above_2_53_reject_the_report() {
    assert!(reject("reject-negative-count.json").contains("negative"));
    assert!(reject("reject-fractional-count.json").contains("not an integer"));
    assert!(reject("reject-count-above-2-53.json").contains("above 2^53"));
    assert!(reject("reject-no-date-range.json").contains("date-range is missing"));
}

#[test]
fn markup_in_report_fields_is_kept_verbatim_for_escaping_at_render_time() {
    let r = parse("xss-organization-name.json");
    assert_eq!(r.organization_name, "<script>alert('xss')</script>");
}

#[test]
fn d23_d24_d27_report_as_whole_mail_body_with_nonstandard_type() {
    let json = String::from_utf8(fixture_bytes("reports/d15-no-timezone.json")).unwrap();
    let mail = format!("From: a@b.example\r\nTo: c@notz.example\r\nSubject: report\r\nMIME-Version: 1.0\r\nContent-Type: application/tlsrpt\r\n\r\n{json}");
    let found =
        extract::extract(mail.as_bytes(), None, Some("whole.eml"), &Limits::default()).unwrap();
    assert_eq!(found.len(), 1);
    assert!(parse_report(&found[0].json, &ParseContext::default()).is_ok());
}

#[test]
fn d22_d26_d30_multipart_report_with_gzip_trailing_bytes_and_header_domain() {
    use base64::Engine;
    let json = fixture_bytes("reports/d07-d08-d09-missing-domain-unknown-type.json");
    let mut body = gz(&json);
    body.extend_from_slice(b"\r\n\r\n");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&body);
    let mail = format!(
        "From: noreply@google.example\r\nTLS-Report-Domain: header.example\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; boundary=\"xyz\"; report-type=tlsrpt\r\n\r\n--xyz\r\n\
         Content-Type: text/html\r\n\r\n<p>human part</p>\r\n--xyz\r\nContent-Type: application/octet-stream; name=\"wrong.bin\"\r\n\
         Content-Disposition: attachment; filename=\"google.com!header.example!1!2!001.json.gz\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--xyz--\r\n"
    );
    let found = extract::extract(mail.as_bytes(), None, None, &Limits::default()).unwrap();
    assert_eq!(found[0].fallback_domain.as_deref(), Some("header.example"));
    let r = parse_report(
        &found[0].json,
        &ParseContext {
            fallback_domain: found[0].fallback_domain.clone(),
        },
    )
    .unwrap();
    assert_eq!(r.policies[0].policy_domain, "header.example");
}

#[test]
fn d25_zip_archive_with_json_entry() {
    let json = fixture_bytes("reports/d15-no-timezone.json");
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        z.start_file("readme.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut z, b"not a report").unwrap();
        z.start_file("report.json", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut z, &json).unwrap();
        z.finish().unwrap();
    }
    let found =
        extract::extract(&buf.into_inner(), None, Some("r.zip"), &Limits::default()).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].json, json);
}

#[test]
fn mail_without_a_report_is_rejected_with_a_reason() {
    let mail = b"From: a@b.example\r\nSubject: hello\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nJust saying hi.\r\n";
    let err = extract::extract(mail, None, Some("x.eml"), &Limits::default()).unwrap_err();
    assert!(
        err.to_string().contains("carries no TLS-RPT report"),
        "{err}"
    );
}
