//! The report JSON parser never panics, and what it accepts has sane counts.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tlswatch::domain::{counting, parse_report, ParseContext};

fuzz_target!(|data: &[u8]| {
    let ctx = ParseContext { fallback_domain: Some("fuzz.example".into()) };
    if let Ok(report) = parse_report(data, &ctx) {
        for p in &report.policies {
            assert!(p.success <= tlswatch::domain::report::MAX_COUNT);
            assert!(p.failure <= tlswatch::domain::report::MAX_COUNT);
        }
        let _ = counting::contributions(&report);
    }
});
