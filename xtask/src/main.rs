//! `cargo xtask`: builds tlswatch without cargo-leptos or a globally installed wasm-bindgen CLI.
//!
//! - `cargo xtask site [--debug]`: the WASM front end (`app` with `hydrate`), its JS glue made
//!   by the wasm-bindgen library at the version pinned in Cargo.lock, wasm-opt (npm `binaryen`)
//!   in release builds, the stylesheet and `public/`, all into `target/site`.
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
    // built with the same flag). A target directory of its own for the wasm32 target.
    run(cargo()
        .current_dir(root)
        .env("RUSTFLAGS", rustflags())
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
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&wasm)
        .web(true)?
        .typescript(false)
        .out_name(OUTPUT_NAME)
        .generate(&pkg)
        .context("wasm-bindgen")?;
    // The same names as cargo-leptos: `tlswatch.wasm` beside `tlswatch.js`.
    let out_wasm = pkg.join(format!("{OUTPUT_NAME}.wasm"));
    std::fs::rename(pkg.join(format!("{OUTPUT_NAME}_bg.wasm")), &out_wasm)?;
    if !debug {
        let wasm_opt = root.join("node_modules/.bin/wasm-opt");
        if !wasm_opt.exists() {
            bail!(
                "{} is missing: run `npm ci` (it installs binaryen 132; Debian's wasm-opt breaks hydration)",
                wasm_opt.display()
            );
        }
        run(Command::new(&wasm_opt)
            .args([
                "-Oz",
                "--enable-bulk-memory",
                "--enable-nontrapping-float-to-int",
            ])
            .arg(&out_wasm)
            .arg("-o")
            .arg(&out_wasm))?;
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
    eprintln!(
        "xtask: site in {} ({} KiB of WASM) after {:.0} s",
        site.display(),
        size / 1024,
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
