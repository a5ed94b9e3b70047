//! Mail extraction (MIME via mail-parser, attachments, nested messages) never panics and stays
//! within the limits.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tlswatch::ingest::extract::{extract, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_decompressed: 1_000_000, ..Limits::default() };
    if let Ok(found) = extract(data, Some("message/rfc822"), None, &limits) {
        for f in found {
            assert!(f.json.len() <= limits.max_decompressed);
        }
    }
});
