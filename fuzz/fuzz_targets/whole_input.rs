//! The whole-input path every channel takes (detect, extract within one budget, parse, hash,
//! compress) never panics, and never holds more than one input's budget of inflated reports.
//! Run with libFuzzer's `-rss_limit_mb=256` (scripts/fuzz.sh): one input must fit in it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tlswatch::ingest::{prepare, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_decompressed: 4_000_000, max_reports: 100, max_parts: 200, ..Limits::default() };
    for (ct, name) in [
        (Some("message/rfc822"), None),
        (None, Some("r.zip")),
        (Some("application/tlsrpt+gzip"), None),
        (None, None),
    ] {
        let p = prepare(data, ct, name, "fuzz".into(), "cli", &limits, 0);
        let inflated: usize = p.reports.iter().map(|r| r.raw_size).sum();
        assert!(inflated <= limits.max_decompressed, "{inflated} inflated bytes");
        assert!(p.reports.len() <= limits.max_reports);
        assert!(p.reports.is_empty() || p.errors.is_empty() || p.raw_if_rejected.is_some());
    }
});
