//! `cargo xtask`: builds tlswatch without cargo-leptos or a globally installed wasm-bindgen CLI.
//!
//! - `cargo xtask site [--debug]`: the WASM front end (`app` with `hydrate`), split into a main
//!   module and one chunk per lazy route (`wasm_split_cli_support`, as `cargo leptos --split`
//!   does), its JS glue made by the wasm-bindgen library at the version pinned in Cargo.lock,
//!   wasm-opt (npm `binaryen`) and esbuild (the JS) in release builds, the stylesheet and
//!   `public/`, all into `target/site`.
//! - `cargo xtask build [--debug]`: the site, then the `tlswatch` server, which embeds the site
//!   (`server/build.rs`), so the binary runs from any directory.
//!
//! `cargo leptos watch` keeps working for development (the workspace keeps its metadata).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};

/// The name of the generated files (`tlswatch.js`, `tlswatch.wasm`, `tlswatch.css`).
const OUTPUT_NAME: &str = "tlswatch";

/// The module the main WASM imports the chunk loaders from (the name Leptos expects).
const SPLIT_LINK: &str = "./__wasm_split.______________________.js";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let debug = args.iter().any(|a| a == "--debug");
    let root = workspace_root()?;
    match args.first().map(String::as_str) {
        Some("site") => site(&root, debug),
        Some("build") => {
            site(&root, debug)?;
            server(&root, debug)
        }
        _ => {
            eprintln!("usage: cargo xtask site|build [--debug]");
            std::process::exit(2);
        }
    }
}

fn workspace_root() -> anyhow::Result<PathBuf> {
    // `cargo run` sets CARGO_MANIFEST_DIR for the process: the checkout being built. The
    // compile-time value is only a fallback; cargo reuses an xtask binary across checkouts
    // that share a target directory (CI's cache), and it would name the checkout that built it.
    let here = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    Ok(here
        .parent()
        .context("xtask lives in the workspace")?
        .to_path_buf())
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("xtask: {cmd:?}");
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Builds the WASM front end and writes the site into `target/site`.
fn site(root: &Path, debug: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let front = root.join("target/front");
    let profile = if debug { "dev" } else { "wasm-release" };
    // Type-erased component views: much less monomorphized code in the WASM (the server is
    // built with the same flag). A target directory of its own for wasm32.
    run(cargo()
        .current_dir(root)
        .env("RUSTFLAGS", wasm_rustflags())
        .args([
            "build",
            "--package=app",
            "--lib",
            "--target=wasm32-unknown-unknown",
            "--no-default-features",
            "--features=hydrate",
            &format!("--profile={profile}"),
        ])
        .arg("--target-dir")
        .arg(&front))?;
    let dir = if debug { "debug" } else { profile };
    let wasm = front
        .join("wasm32-unknown-unknown")
        .join(dir)
        .join("app.wasm");

    let site = root.join("target/site");
    if site.exists() {
        std::fs::remove_dir_all(&site).with_context(|| format!("clearing {}", site.display()))?;
    }
    let pkg = site.join("pkg");
    std::fs::create_dir_all(&pkg)?;
    // Code reached only from a lazy route goes into chunks (`pkg/*.wasm`) fetched by
    // `pkg/__wasm_split.*.js` when the route is first shown; the main module keeps the rest.
    let split_main = wasm.with_file_name("app_split.wasm");
    let raw = std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
    // Relative to the split loader, which sits beside the glue in `pkg/`: the same URL the
    // page imports the glue from, so both share one module instance.
    let main_module = format!("./{OUTPUT_NAME}.js");
    let split = wasm_split_cli_support::transform({
        let mut opts = wasm_split_cli_support::Options::new(&raw);
        opts.output_dir = &pkg;
        opts.main_out_path = &split_main;
        opts.main_module = &main_module;
        opts.link_name = SPLIT_LINK;
        opts
    })
    .map_err(|e| anyhow::anyhow!("splitting the WASM: {e:#}"))?;
    // Which chunks each lazy route needs (what `cargo leptos --split` writes).
    let manifest: std::collections::BTreeMap<_, _> = split.prefetch_map.iter().collect();
    std::fs::write(
        pkg.join("__wasm_split_manifest.json"),
        serde_json::to_string_pretty(&manifest)?,
    )?;
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&split_main)
        .web(true)?
        .typescript(false)
        // The chunks link against the main module's own (lld) exports, by their names.
        .keep_lld_exports(true)
        .demangle(false)
        .out_name(OUTPUT_NAME)
        .generate(&pkg)
        .context("wasm-bindgen")?;
    // The same names as cargo-leptos: `tlswatch.wasm` beside `tlswatch.js`.
    let out_wasm = pkg.join(format!("{OUTPUT_NAME}.wasm"));
    std::fs::rename(pkg.join(format!("{OUTPUT_NAME}_bg.wasm")), &out_wasm)?;
    let mut all_wasm = vec![out_wasm.clone()];
    all_wasm.extend(split.split_modules);
    if !debug {
        let wasm_opt = root.join("node_modules/.bin/wasm-opt");
        if !wasm_opt.exists() {
            bail!(
                "{} is missing: run `npm ci` (it installs binaryen 132; Debian's wasm-opt breaks hydration)",
                wasm_opt.display()
            );
        }
        // The main module and ~140 chunks, one wasm-opt each: on every core.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..cores)
                .map(|_| {
                    scope.spawn(|| -> anyhow::Result<()> {
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(file) = all_wasm.get(i) else {
                                return Ok(());
                            };
                            let mut cmd = Command::new(&wasm_opt);
                            cmd.args([
                                "-Oz",
                                "--enable-bulk-memory",
                                "--enable-nontrapping-float-to-int",
                            ])
                            .arg(file)
                            .arg("-o")
                            .arg(file);
                            let status =
                                cmd.status().with_context(|| format!("running {cmd:?}"))?;
                            if !status.success() {
                                bail!("{cmd:?} failed: {status}");
                            }
                        }
                    })
                })
                .collect();
            workers.into_iter().try_for_each(|w| {
                w.join()
                    .map_err(|_| anyhow::anyhow!("a wasm-opt worker panicked"))?
            })
        })?;
    }
    if !debug {
        // The glue and the chunk loader, minified (esbuild from npm, as for ECharts).
        let esbuild = root.join("node_modules/.bin/esbuild");
        if !esbuild.exists() {
            bail!("{} is missing: run `npm ci`", esbuild.display());
        }
        for js in [
            pkg.join(format!("{OUTPUT_NAME}.js")),
            pkg.join(SPLIT_LINK.trim_start_matches("./")),
        ] {
            run(Command::new(&esbuild)
                .arg(&js)
                .args([
                    "--minify",
                    "--format=esm",
                    "--log-level=error",
                    "--allow-overwrite",
                ])
                .arg(format!("--outfile={}", js.display())))?;
        }
    }
    std::fs::copy(
        root.join("style/main.css"),
        pkg.join(format!("{OUTPUT_NAME}.css")),
    )
    .context("copying style/main.css")?;
    let public = root.join("public");
    let echarts = public.join("echarts.min.js");
    if !echarts.exists() {
        bail!("{} is missing: run `npm ci`", echarts.display());
    }
    for entry in std::fs::read_dir(&public)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), site.join(entry.file_name()))?;
        }
    }
    let size = std::fs::metadata(&out_wasm)?.len();
    let chunks: u64 = all_wasm[1..]
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    eprintln!(
        "xtask: site in {} ({} KiB of main WASM, {} KiB in {} lazy chunks) after {:.0} s",
        site.display(),
        size / 1024,
        chunks / 1024,
        all_wasm.len() - 1,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The flags both halves are built with: the server must render the views with the same
/// (type-erased) structure the WASM hydrates, or hydration fails.
fn rustflags() -> String {
    let mut flags = std::env::var("RUSTFLAGS").unwrap_or_default();
    flags.push_str(" --cfg erase_components");
    flags.trim().to_owned()
}

/// The WASM's flags: [`rustflags`], relocations kept in the output (the splitter needs them to
/// tell which code each lazy route reaches), and dependencies' source paths (in panic
/// locations, shipped to every browser) without the local registry prefix.
fn wasm_rustflags() -> String {
    let mut flags = rustflags();
    flags.push_str(" -Clink-args=--emit-relocs");
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(registry) = cargo_home.map(|h| h.join("registry/src")) {
        if let Some(registry) = registry.to_str().filter(|r| !r.contains(' ')) {
            flags.push_str(&format!(" --remap-path-prefix={registry}/="));
        }
    }
    flags
}

/// Builds the server, which embeds `target/site`.
fn server(root: &Path, debug: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut cmd = cargo();
    cmd.current_dir(root).env("RUSTFLAGS", rustflags()).args([
        "build",
        "--package=server",
        "--bin=tlswatch",
    ]);
    if !debug {
        cmd.arg("--release");
    }
    run(&mut cmd)?;
    eprintln!(
        "xtask: target/{}/tlswatch after {:.0} s",
        if debug { "debug" } else { "release" },
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
