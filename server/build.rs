//! Embeds the built site (`target/site`, made by `cargo xtask site`) into the binary, so that
//! `tlswatch serve` runs from any directory: memory-serve stores the files (brotli-compressed
//! in release builds) and serves them with ETags, gzip/brotli and content-hashed routes.
//! Debug builds read the files from disk at request time.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    println!("cargo::rerun-if-env-changed=TLSWATCH_SITE_DIR");
    // `sqlx::migrate!` embeds the migrations; a new file must rebuild the crate.
    println!("cargo::rerun-if-changed=../migrations");
    let site = std::env::var_os("TLSWATCH_SITE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../target/site"));
    // Without a site yet (tests, clippy) an empty one is embedded; the pages then render
    // without their scripts. `cargo xtask build` always builds the site first.
    if !site.is_dir() {
        std::fs::create_dir_all(&site).expect("creating the site directory");
    }
    // One line per embedded file otherwise.
    std::env::set_var("MEMORY_SERVE_QUIET", "1");
    memory_serve::load_directory(site);
}
