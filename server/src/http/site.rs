//! The site (WASM, its JS glue, CSS, ECharts, icon) embedded in the binary by `build.rs` and
//! served from memory: brotli or gzip as the client accepts, ETags, and content-hashed
//! routes cached for a year (`Cache-Control: max-age=31536000, immutable`); the
//! pages reference the hashed routes. `TLSWATCH_SITE_ROOT` (or `cargo leptos watch`) serves a
//! directory instead, under the plain names.

use axum::Router;
use memory_serve::CacheControl;

/// The embedded site's router and the paths the pages reference.
pub fn embedded<S: Clone + Send + Sync + 'static>() -> (Router<S>, app::Assets) {
    let serve = memory_serve::load!()
        .index_file(None)
        .enable_hashed_routes(true)
        // The plain names stay reachable (old pages, bookmarks) but are revalidated daily.
        .cache_control(CacheControl::Medium);
    let manifest = serve.manifest();
    let plain = app::Assets::default();
    let hashed = |p: &str| {
        manifest
            .get(p)
            .map(str::to_owned)
            .unwrap_or_else(|| p.to_owned())
    };
    let assets = app::Assets {
        js: hashed(&plain.js),
        wasm: hashed(&plain.wasm),
        css: hashed(&plain.css),
        echarts: hashed(&plain.echarts),
        favicon: hashed(&plain.favicon),
    };
    (serve.into_router(), assets)
}

/// Whether the site comes from a directory (`TLSWATCH_SITE_ROOT`, or `LEPTOS_SITE_ROOT` set
/// by `cargo leptos watch`) rather than from the binary.
pub fn from_directory(site_root: Option<&str>) -> bool {
    site_root.is_some() || std::env::var_os("LEPTOS_SITE_ROOT").is_some()
}

/// The files embedded in the binary (their plain routes).
pub fn files() -> Vec<String> {
    let serve = memory_serve::load!().enable_hashed_routes(true);
    let mut files: Vec<String> = serve.manifest().iter().map(|(k, _)| k.to_owned()).collect();
    files.sort();
    files
}
