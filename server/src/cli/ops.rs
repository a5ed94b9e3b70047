//! `tlswatch backup FILE`, `tlswatch restore FILE`, `tlswatch doctor`, and the retention task
//! of `serve`.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::GlobalArgs;
use crate::store::{redact, Store};

/// `tlswatch backup FILE`: a consistent copy of the live SQLite database.
pub async fn backup(store: &Store, file: &Path) -> anyhow::Result<u8> {
    store.backup_to(file).await?;
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "backup written to {} ({} KiB); restore it with: tlswatch restore {}",
        file.display(),
        size / 1024,
        file.display()
    );
    Ok(0)
}

/// The SQLite file a `sqlite://PATH[?…]` URL names.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://")?;
    Some(PathBuf::from(rest.split('?').next().unwrap_or(rest)))
}

/// `tlswatch restore FILE`: checks that FILE is a tlswatch database (upgrading its schema in a
/// copy), then puts it in place of the configured SQLite database. The database being
/// replaced is kept beside it as `*.before-restore`. tlswatch must be stopped.
pub async fn restore(global: &GlobalArgs, file: &Path, force: bool) -> anyhow::Result<u8> {
    let url = global.database_url();
    let target = sqlite_file(&url).with_context(|| {
        format!(
            "{} is not SQLite; restore PostgreSQL with pg_restore",
            redact(&url)
        )
    })?;
    anyhow::ensure!(file.is_file(), "{} is not a file", file.display());
    if target.exists() && !force {
        anyhow::bail!(
            "{} exists. Stop tlswatch, then run again with --force (the current database is kept as {}.before-restore)",
            target.display(),
            target.display()
        );
    }
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let staged = target.with_extension("db.restoring");
    let _ = std::fs::remove_file(&staged);
    std::fs::copy(file, &staged)
        .with_context(|| format!("copying {} to {}", file.display(), staged.display()))?;
    // Opening it applies this version's migrations to the copy and proves it is ours.
    let check = Store::connect_within(
        &format!("sqlite://{}", staged.display()),
        1,
        std::time::Duration::from_secs(5),
    )
    .await
    .with_context(|| format!("{} is not a tlswatch database", file.display()))?;
    let (reports, domains) = check.totals_for_restore().await?;
    check.checkpoint().await?;
    check.close().await;
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", staged.display()));
    }
    if target.exists() {
        let kept = PathBuf::from(format!("{}.before-restore", target.display()));
        std::fs::rename(&target, &kept)?;
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", target.display()));
        }
        eprintln!("the previous database is kept as {}", kept.display());
    }
    std::fs::rename(&staged, &target)?;
    eprintln!(
        "restored {} into {}: {reports} reports, {domains} domains",
        file.display(),
        target.display()
    );
    Ok(0)
}

/// One line of the doctor's report.
enum Verdict {
    Ok(String),
    Warn(String, String),
    Fail(String, String),
}

/// `tlswatch doctor`: configuration, database, schema, site, DNS and clock; says what to fix.
/// Exit status 1 when something must be fixed.
pub async fn doctor(global: &GlobalArgs) -> anyhow::Result<u8> {
    let mut report: Vec<(&str, Verdict)> = Vec::new();
    // Data directory.
    let dir = &global.data_dir;
    report.push((
        "data directory",
        match std::fs::create_dir_all(dir).and_then(|()| {
            let probe = dir.join(".doctor");
            std::fs::write(&probe, b"")?;
            std::fs::remove_file(probe)
        }) {
            Ok(()) => Verdict::Ok(format!("{} is writable", dir.display())),
            Err(e) => Verdict::Fail(
                format!("{}: {e}", dir.display()),
                "set TLSWATCH_DATA_DIR to a directory the tlswatch user may write".into(),
            ),
        },
    ));
    // Secret key.
    report.push((
        "secret key",
        match global.sealer() {
            Ok(s) => Verdict::Ok(format!("key {} loaded", s.key_id())),
            Err(e) => Verdict::Fail(
                format!("{e:#}"),
                "set TLSWATCH_SECRET_KEY (32 bytes, base64) or restore secret.key in the data directory".into(),
            ),
        },
    ));
    // Database and schema.
    let url = global.database_url();
    match Store::connect_within(&url, 2, std::time::Duration::from_secs(5)).await {
        Ok(store) => {
            report.push(("database", Verdict::Ok(format!("{} answers", redact(&url)))));
            report.push((
                "schema",
                match store.schema_versions().await {
                    Ok((Some(a), k)) if a == k => Verdict::Ok(format!("version {a}, current")),
                    Ok((a, k)) => Verdict::Warn(
                        format!("applied {a:?}, this build knows {k}"),
                        "start tlswatch serve once to apply the migrations".into(),
                    ),
                    Err(e) => Verdict::Fail(format!("{e:#}"), "see the error".into()),
                },
            ));
            // Clock: nothing stored may be from the future.
            report.push((
                "clock",
                match store.newest_received_at().await {
                    Ok(Some(t)) if t > crate::ingest::now_unix() + 300 => Verdict::Fail(
                        format!(
                            "a report was received at {}, after now",
                            crate::service::views::utc(t)
                        ),
                        "set the system clock (NTP); days and alerts depend on it".into(),
                    ),
                    Ok(_) => Verdict::Ok(format!(
                        "now is {}",
                        crate::service::views::utc(crate::ingest::now_unix())
                    )),
                    Err(e) => Verdict::Warn(format!("{e:#}"), "see the error".into()),
                },
            ));
            store.close().await;
        }
        Err(e) => report.push((
            "database",
            Verdict::Fail(
                format!("{}: {e:#}", redact(&url)),
                "check TLSWATCH_DATABASE_URL; a newer tlswatch may have written this database"
                    .into(),
            ),
        )),
    }
    // Site assets.
    let files = crate::http::site_files();
    report.push((
        "site",
        if files.iter().any(|f| f.ends_with(".wasm")) && files.iter().any(|f| f.ends_with(".js")) {
            Verdict::Ok(format!("{} files embedded in the binary", files.len()))
        } else {
            Verdict::Fail(
                "this binary carries no WASM front end: pages render but do not come alive".into(),
                "build with `cargo xtask build` (or set TLSWATCH_SITE_ROOT to a built site)".into(),
            )
        },
    ));
    // DNS, which the checks need.
    report.push((
        "dns",
        match crate::check::dns::Dns::new(&[], std::time::Duration::from_secs(3)) {
            Ok(dns) => match dns.ips("example.com").await {
                Ok(_) => Verdict::Ok("example.com resolves".into()),
                Err(e) => Verdict::Warn(
                    format!("example.com does not resolve ({e})"),
                    "the configuration checks need DNS; set TLSWATCH_DNS_SERVERS or fix /etc/resolv.conf".into(),
                ),
            },
            Err(e) => Verdict::Warn(format!("{e:#}"), "fix /etc/resolv.conf".into()),
        },
    ));
    let mut failed = false;
    for (what, v) in &report {
        match v {
            Verdict::Ok(m) => println!("ok    {what}: {m}"),
            Verdict::Warn(m, fix) => println!("warn  {what}: {m}\n      fix: {fix}"),
            Verdict::Fail(m, fix) => {
                failed = true;
                println!("FAIL  {what}: {m}\n      fix: {fix}");
            }
        }
    }
    Ok(u8::from(failed))
}

/// Deletes reports older than `days` once a day (the first run a minute after start).
pub async fn retention_loop(store: Store, days: u32, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut wait = std::time::Duration::from_secs(60);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        wait = std::time::Duration::from_secs(86_400);
        let before = crate::ingest::now_unix() - i64::from(days) * 86_400;
        match store.prune_reports(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(reports = n, days, "retention: old reports deleted"),
            Err(e) => tracing::error!(error = %format!("{e:#}"), "retention failed"),
        }
    }
}
