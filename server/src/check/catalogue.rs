//! Titles, RFC clauses and fixes of the checks (catalogue groups A–J of the spec, §2.4).
//! The IDs are stable: alerts, the API and the UI refer to them.

/// (id, title, rfc, fix shown when the finding is not a pass)
pub const CATALOGUE: &[(&str, &str, &str, &str)] = &[
    // A. _mta-sts TXT
    ("STS-TXT-01", "MTA-STS record lookup", "RFC 8461 §3.1", "Publish a TXT record at _mta-sts.<domain> (see the setup guide); if the lookup failed, check the zone's name servers."),
    ("STS-TXT-02", "CNAME chain of _mta-sts", "RFC 8461 §3.1, §8.2", "Point the CNAME at a name that exists and has the TXT record; remove loops."),
    ("STS-TXT-03", "Exactly one MTA-STS record", "RFC 8461 §3.1", "Keep exactly one TXT record starting with v=STSv1; at _mta-sts.<domain>. With two or more, senders assume there is no policy."),
    ("STS-TXT-04", "Unrelated TXT records at _mta-sts", "RFC 8461 §3.1", "Remove other TXT records from _mta-sts.<domain> (a wildcard or an SPF record there often means a DNS-provider default)."),
    ("STS-TXT-05", "MTA-STS record at the wrong name", "RFC 8461 §3.1", "Move the v=STSv1 record from the domain itself to _mta-sts.<domain>."),
    ("STS-TXT-06", "TXT strings", "RFC 8461 §3.1", "Split long records only between fields; senders join the strings without spaces."),
    ("STS-TXT-07", "MTA-STS record syntax", "RFC 8461 §3.1", "Write the record exactly as: v=STSv1; id=<1 to 32 letters or digits>"),
    ("STS-TXT-08", "Policy id", "RFC 8461 §3.1", "Use an id of 1 to 32 letters and digits only, e.g. a timestamp written 20261129T120000 without separators: id=20261129120000"),
    ("STS-TXT-09", "Duplicate fields in the record", "RFC 8461 §3.2", "Remove the repeated field; senders use the first one."),
    ("STS-TXT-10", "Record extensions", "RFC 8461 §3.1", "Fix or remove the malformed field; unknown well-formed fields are ignored."),
    ("STS-TXT-11", "DNSSEC on the MTA-STS record", "RFC 8461 §10.2", "Sign the zone with DNSSEC so the record cannot be forged."),
    ("STS-TXT-12", "TTL of the MTA-STS record", "RFC 8461 §8.1", "No action; a changed id reaches senders only after this TTL."),
    // B. policy host
    ("STS-HOST-01", "Policy host resolves", "RFC 8461 §3.2, §3.3", "Create A/AAAA (or a CNAME) records for mta-sts.<domain> pointing at the web server that serves the policy."),
    ("STS-HOST-02", "Policy host reachable on port 443", "RFC 8461 §3.3", "Open port 443 on every address of mta-sts.<domain>, or remove addresses that do not serve the policy."),
    ("STS-HOST-03", "TLS version of the policy host", "RFC 8461 §7.2", "Enable TLS 1.2 or 1.3 on the policy host."),
    ("STS-HOST-04", "Policy host certificate chain", "RFC 8461 §3.3", "Install a certificate from a public CA with its intermediate certificates (full chain). Senders report sts-webpki-invalid."),
    ("STS-HOST-05", "Policy host certificate name", "RFC 8461 §3.3, §8.2", "Get a certificate whose subject alternative names include mta-sts.<domain> (a hosting provider's own name is not enough)."),
    ("STS-HOST-06", "Policy host certificate validity", "RFC 8461 §3.3", "Renew the certificate of mta-sts.<domain> (and automate renewal)."),
    ("STS-HOST-07", "Revocation of the policy host certificate", "RFC 8461 §3.3, §10.5", "No action."),
    ("STS-HOST-08", "Policy host without SNI", "RFC 8461 §7.1", "No action needed; senders always send SNI."),
    // C. HTTP
    ("STS-HTTP-01", "Policy served with status 200", "RFC 8461 §3.3", "Serve /.well-known/mta-sts.txt directly with status 200 over HTTPS on mta-sts.<domain>. Redirects are never followed by senders (turn off HTTP→HTTPS or www redirects for this path)."),
    ("STS-HTTP-02", "Where the redirect goes", "RFC 8461 §3.3", "Serve the file at the original URL instead of redirecting."),
    ("STS-HTTP-03", "Media type of the policy", "RFC 8461 §3.2", "Serve the file as Content-Type: text/plain (charset utf-8 or us-ascii, or none)."),
    ("STS-HTTP-04", "Size of the policy", "RFC 8461 §3.3", "Keep the policy file under 64 KiB; it only needs a few lines."),
    ("STS-HTTP-05", "Time to fetch the policy", "RFC 8461 §3.3", "Make the policy host answer quickly; senders give up after about a minute."),
    ("STS-HTTP-06", "Policy served to non-browser clients", "RFC 8461 §3.3", "Exempt /.well-known/mta-sts.txt from bot protection (browser checks, CAPTCHA, user-agent filters)."),
    ("STS-HTTP-07", "Caching headers", "RFC 8461 §3.3, §8.2", "No action; senders ignore HTTP caching."),
    // D. policy content
    ("STS-POL-01", "Policy encoding", "RFC 8461 §3.2", "Save the file as plain UTF-8 without a byte-order mark."),
    ("STS-POL-02", "Policy line endings", "RFC 8461 §3.2", "End lines with LF or CRLF."),
    ("STS-POL-03", "Policy line format", "RFC 8461 §3.2", "One \"key: value\" per line, no blank lines, no leading spaces, no comments."),
    ("STS-POL-04", "Policy version", "RFC 8461 §3.2", "Start the file with the line: version: STSv1"),
    ("STS-POL-05", "Policy mode", "RFC 8461 §3.2", "Use mode: testing while rolling out, then mode: enforce (lower case)."),
    ("STS-POL-06", "Policy max_age", "RFC 8461 §3.2", "Set max_age to a number of seconds between 86400 (a day) and 31557600 (a year); 604800 (a week) or more once enforced."),
    ("STS-POL-07", "Policy mx lines", "RFC 8461 §3.2", "Add an mx: line for each MX host (or a *.domain wildcard that covers them)."),
    ("STS-POL-08", "Policy mx patterns", "RFC 8461 §3.2, §4.1", "Write each mx as a host name (mail.example.com) or a one-label wildcard (*.example.com), no trailing dot, no IP address, A-labels for international names."),
    ("STS-POL-09", "Repeated policy fields", "RFC 8461 §3.2", "Remove the repeated lines; senders use the first value."),
    ("STS-POL-10", "Unknown policy keys", "RFC 8461 §3.2", "Remove or correct unknown keys; keys are case-sensitive."),
    ("STS-POL-11", "Policy is not an HTML page", "RFC 8461 §3.2", "Make the URL return the policy text itself, not an error or login page."),
    ("STS-POL-12", "Policy as served", "RFC 8460 §4.5", "No action."),
    // E. MX cross-checks
    ("STS-MX-01", "MX records", "RFC 5321 §5.1, RFC 7505", "Publish MX records for the domain."),
    ("STS-MX-02", "MX hosts resolve", "RFC 8461 §4.1", "Give every MX host A/AAAA records; MX targets must not be CNAMEs."),
    ("STS-MX-03", "Every MX covered by the policy", "RFC 8461 §4.1, §5", "Add an mx: line for the MX host (or fix the MX record). In enforce mode senders refuse uncovered MX hosts; in testing they report validation-failure."),
    ("STS-MX-04", "At least one MX covered", "RFC 8461 §5", "Fix the mx: lines at once: in enforce mode no MTA-STS sender can deliver."),
    ("STS-MX-05", "Stale policy mx lines", "RFC 8461 §3.2", "Remove mx: lines for hosts that are no longer MX."),
    ("STS-MX-06", "Wildcard near misses", "RFC 8461 §4.1", "A wildcard replaces exactly one label: *.example.com does not match example.com or a.b.example.com; list those hosts explicitly."),
    ("STS-MX-07", "Broad wildcard", "RFC 8461 §10.4", "Prefer listing the MX hosts (or a dedicated mail subdomain wildcard)."),
    ("STS-MX-08", "Several MX hosts", "RFC 8461 §8.4", "Keep every backup MX configured like the primary; its problems surface only when the primary fails."),
    // F. SMTP
    ("STS-SMTP-01", "MX reachable on port 25", "RFC 5321", "Check that port 25 of the MX host is open to the internet (this checker's own network may block port 25)."),
    ("STS-SMTP-02", "STARTTLS offered", "RFC 8461 §4, §5", "Enable STARTTLS on the MX host. Senders report starttls-not-supported."),
    ("STS-SMTP-03", "STARTTLS handshake and TLS version", "RFC 8461 §7.1, §7.2", "Make STARTTLS succeed with TLS 1.2 or 1.3 and a valid certificate. Senders report validation-failure."),
    ("STS-SMTP-04", "MX certificate chain", "RFC 8461 §4.2", "Install a certificate from a public CA with the full chain on the MX host. Senders report certificate-not-trusted."),
    ("STS-SMTP-05", "MX certificate name", "RFC 8461 §4.2", "Get a certificate whose subject alternative names include the MX host name (not only the domain or the reverse DNS name). Senders report certificate-host-mismatch."),
    ("STS-SMTP-06", "MX certificate validity", "RFC 8461 §4.2", "Renew the MX certificate (and automate renewal). Senders report certificate-expired."),
    ("STS-SMTP-07", "Same certificate on every address", "RFC 8461 §4.2", "Install the same valid certificate on every address of the MX host."),
    ("STS-SMTP-08", "MX without SNI", "RFC 8461 §7.1", "Serve a default certificate when the client sends no SNI; SMTP servers must not require SNI."),
    ("STS-SMTP-09", "MX TLS details", "RFC 9325", "No action."),
    ("STS-SMTP-10", "DANE and the MX certificate", "RFC 7672, RFC 8460 §4.3.2.1", "Update the TLSA records to match the certificate before rolling a new key."),
    ("STS-SMTP-11", "SMTP greeting names", "RFC 5321 §4.1.1.1", "Make the 220 greeting and the EHLO name the MX host name, and give the address a matching reverse DNS name."),
    // G. TLS-RPT
    ("RPT-TXT-01", "TLS-RPT record", "RFC 8460 §3", "Publish a TXT record at _smtp._tls.<domain>, e.g. v=TLSRPTv1; rua=mailto:tlsrpt@<domain> (see the setup guide)."),
    ("RPT-TXT-02", "Exactly one TLS-RPT record", "RFC 8460 §3", "Keep exactly one TXT record starting with v=TLSRPTv1 at _smtp._tls.<domain>."),
    ("RPT-TXT-03", "TLS-RPT record at the right name", "RFC 8460 §3", "Move the v=TLSRPTv1 record to _smtp._tls.<domain> and remove unrelated TXT records there."),
    ("RPT-TXT-04", "TLS-RPT record syntax", "RFC 8460 §3", "Write the record as: v=TLSRPTv1; rua=mailto:address (or https://url)"),
    ("RPT-TXT-05", "Report destination scheme", "RFC 8460 §3", "Use mailto: or https: destinations."),
    ("RPT-TXT-06", "mailto destination", "RFC 8460 §3", "Write a plain address after mailto:, percent-encoding '!', ',' and ';'."),
    ("RPT-TXT-07", "https destination", "RFC 8460 §3", "Write a full https:// URL with a host name."),
    ("RPT-TXT-08", "Report destination reachable", "RFC 8460 §3", "Make the destination's domain accept mail (MX or address records) or its HTTPS host resolvable."),
    ("RPT-TXT-09", "Number of destinations", "RFC 8460 §3", "Remove duplicate destinations."),
    ("RPT-TXT-10", "TLS-RPT record extensions", "RFC 8460 §3", "Fix or remove the malformed field."),
    ("RPT-TXT-11", "TTL and DNSSEC of the TLS-RPT record", "RFC 8460 §7", "No action."),
    ("RPT-TXT-12", "Reports go to another domain", "RFC 8460 §7", "No action."),
    ("RPT-TXT-13", "TLS-RPT for DANE MX hosts", "RFC 8460 §1.1", "Publish _smtp._tls.<mx host> when the MX uses DANE, so DANE senders can report."),
    // H. DNSSEC / DANE
    ("DANE-01", "Zone signed with DNSSEC", "RFC 8461 §2, §10.2", "Sign the zone with DNSSEC if the DNS provider supports it."),
    ("DANE-02", "TLSA records of the MX hosts", "RFC 7672", "Publish TLSA records only in a DNSSEC-signed zone."),
    ("DANE-03", "TLSA parameters", "RFC 7672", "No action."),
    // I. consistency
    ("STS-X-01", "Published policy usable", "RFC 8461 §3.3, §6", "Fix the policy host findings above; until then senders act as if there were no policy and report the failure."),
    ("STS-X-02", "Policy discoverable", "RFC 8461 §3", "Publish a valid _mta-sts TXT record, or remove the policy file."),
    ("STS-X-03", "Testing mode without TLS-RPT", "RFC 8461 §5", "Publish a TLS-RPT record: testing mode only helps through the reports."),
    ("STS-X-04", "Enforce mode without TLS-RPT", "RFC 8461 §6", "Publish a TLS-RPT record so you learn when senders refuse your MX hosts."),
    ("STS-X-05", "Mode testing", "RFC 8461 §5", "When the reports and checks are clean, switch to mode: enforce (see readiness)."),
    ("STS-X-06", "Mode none", "RFC 8461 §5, §8.3", "Mode none gives no protection; use it only to retire MTA-STS, with a small max_age."),
    ("STS-X-07", "max_age for the mode", "RFC 8461 §3.2, §10.2", "Use at least 86400 while testing and at least 1209600 (two weeks) once enforced; 604800 to 31557600 is common."),
    ("STS-X-08", "Ready for enforce", "RFC 8461 §5", "Fix the findings that block enforce."),
    ("STS-X-09", "Subdomain scope", "RFC 8461 §3.4", "A subdomain needs its own _mta-sts record and policy host; senders never fall back to the parent."),
    ("STS-X-10", "DANE and MTA-STS together", "RFC 8461 §2", "No action."),
    ("STS-X-11", "Null MX with MTA-STS", "RFC 7505", "Remove the MTA-STS records of a domain that accepts no mail."),
    ("STS-X-12", "Reports to the checked domain", "RFC 8460 §3", "No action."),
    // J. stateful
    ("STS-H-01", "Policy changed without a new id", "RFC 8461 §3.1, §8.1", "Change the id in the _mta-sts TXT record whenever the policy file changes; senders keep the cached old policy until they see a new id."),
    ("STS-H-02", "New id, same policy", "RFC 8461 §8.1", "Update the policy file first, then the id."),
    ("STS-H-03", "Id reused", "RFC 8461 §3.1", "Use a new id for every policy version."),
    ("STS-H-04", "Policy removed without phase-out", "RFC 8461 §8.3, §10.2", "Restore the policy with mode: none and a small max_age and a new id, wait until the old max_age has passed, then remove it."),
    ("STS-H-05", "max_age lowered", "RFC 8461 §3.2", "No action; senders keep the old value until it expires."),
    ("CHECK-00", "Domain name", "RFC 1035", "Enter a domain name such as example.com."),
];

/// Title, RFC and fix of `id` (empty strings for an unknown id).
pub fn meta(id: &str) -> (&'static str, &'static str, &'static str) {
    CATALOGUE
        .iter()
        .find(|(i, ..)| *i == id)
        .map(|(_, t, r, f)| (*t, *r, *f))
        .unwrap_or(("", "", ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_every_entry_is_filled() {
        let mut ids: Vec<_> = CATALOGUE.iter().map(|e| e.0).collect();
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate check id");
        assert!(CATALOGUE
            .iter()
            .all(|(_, t, r, f)| !t.is_empty() && !r.is_empty() && !f.is_empty()));
    }
}
