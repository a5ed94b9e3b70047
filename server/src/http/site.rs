//! The site (WASM, its JS glue, the lazy routes' chunks, CSS, ECharts, icon) embedded in the
//! binary by `build.rs` and served from memory: brotli or gzip as the client accepts, ETags,
//! and content-hashed routes cached for a year (`Cache-Control: max-age=31536000, immutable`);
//! the pages reference the hashed routes. The JS glue is the exception: the chunk loader
//! (`pkg/__wasm_split.*.js`) imports it by its plain name, and a module imported under two
//! URLs runs twice, so the page imports it by the plain name too. Plain names are revalidated
//! on every use (`no-cache`, answered 304 by ETag), so the glue, the loader and the chunks
//! never outlive the WASM they belong to. `TLSWATCH_SITE_ROOT` (or `cargo leptos watch
//! --split`) serves a directory instead, under the plain names.

use axum::Router;
use memory_serve::CacheControl;

/// The embedded site's router and the paths the pages reference.
pub fn embedded<S: Clone + Send + Sync + 'static>() -> (Router<S>, app::Assets) {
    let serve = memory_serve::load!()
        .index_file(None)
        .enable_hashed_routes(true)
        // Plain names: the glue, the chunk loader and the chunks (fetched by plain name), old
        // pages. Kept, but revalidated on every use: they change with every build.
        .cache_control(CacheControl::Custom("no-cache"));
    let manifest = serve.manifest();
    let plain = app::Assets::default();
    let hashed = |p: &str| {
        manifest
            .get(p)
            .map(str::to_owned)
            .unwrap_or_else(|| p.to_owned())
    };
    let assets = app::Assets {
        // By its plain name: the chunk loader imports it so (see above).
        js: plain.js.clone(),
        split_loader: plain.split_loader.clone(),
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
