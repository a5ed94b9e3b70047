//! gzip and zip handling (sniffing, bounded decompression, entries) never panics and never
//! returns more than the decompressed limit.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tlswatch::ingest::extract::{extract, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_decompressed: 1_000_000, max_zip_entries: 50, ..Limits::default() };
    for name in ["r.json.gz", "r.zip", "r.json"] {
        if let Ok(found) = extract(data, None, Some(name), &limits) {
            let total: usize = found.iter().map(|f| f.json.len()).sum();
            assert!(total <= limits.max_decompressed * 2);
        }
    }
});
