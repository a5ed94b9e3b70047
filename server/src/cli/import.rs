//! `tlswatch import PATH...`: files, directories (recursive), mbox files and Maildir folders.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mail_parser::mailbox::mbox::MessageIterator;

use crate::config::{ImportArgs, OutputFormat};
use crate::ingest::{self, now_unix, InputOutcome, Limits, Prepared, Status};
use crate::store::Store;

/// Inputs stored per transaction (each commit is an fsync)…
const BATCH: usize = 2_000;
/// …and at most this much input held in memory per batch.
const BATCH_BYTES: usize = 64 * 1024 * 1024;

/// Imports every input; exit status 0 when nothing was rejected, 1 otherwise.
pub async fn run(store: &Store, args: &ImportArgs) -> anyhow::Result<u8> {
    for p in &args.paths {
        let word = p.to_string_lossy().to_ascii_lowercase();
        if !p.exists()
            && matches!(
                word.as_str(),
                "true" | "false" | "yes" | "no" | "on" | "off"
            )
        {
            anyhow::bail!(
                "{word:?} is not a file; a boolean flag takes its value after '=' (--auto-register-domains={word}) or is negated (--no-auto-register-domains)"
            );
        }
    }
    let files = collect_files(&args.paths);
    let limits = args.limits.limits();
    let domains = args.auto_register.domain_policy();
    let bar = progress_bar(files.len() as u64, args.format);
    let (mut imported, mut duplicate, mut rejected, mut reports) = (0usize, 0usize, 0usize, 0usize);
    ingest::import_pipelined(
        store,
        files,
        ingest::Batching {
            items: BATCH,
            max_bytes: BATCH_BYTES,
            domains,
        },
        file_size,
        move |p: &PathBuf| prepare_path(p, &limits),
        |o| {
            match o.status {
                Status::Imported => imported += 1,
                Status::Duplicate => duplicate += 1,
                Status::Rejected => rejected += 1,
            }
            reports += o.reports;
            bar.inc(1);
            report_outcome(o, args.format, &bar)
        },
    )
    .await?;
    bar.finish_and_clear();
    if args.format == OutputFormat::Text {
        eprintln!("{} inputs: {imported} imported ({reports} reports), {duplicate} duplicate, {rejected} rejected", imported + duplicate + rejected);
    }
    Ok(u8::from(rejected > 0))
}

fn report_outcome(o: &InputOutcome, format: OutputFormat, bar: &ProgressBar) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string(o)?),
        OutputFormat::Text if o.status == Status::Rejected => {
            bar.suspend(|| eprintln!("rejected {}: {}", o.path, o.reason.as_deref().unwrap_or("")));
        }
        OutputFormat::Text => {}
    }
    Ok(())
}

fn progress_bar(len: u64, format: OutputFormat) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if format == OutputFormat::Json || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} inputs  {per_sec}  eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

fn file_size(p: &PathBuf) -> usize {
    std::fs::metadata(p).map(|m| m.len() as usize).unwrap_or(0)
}

/// Expands directories recursively (skipping Maildir `tmp/`), sorted for a stable order.
fn collect_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            for entry in walkdir::WalkDir::new(p)
                .sort_by_file_name()
                .into_iter()
                .filter_map(Result::ok)
            {
                // Maildir's tmp/ holds messages still being written.
                let rel = entry.path().strip_prefix(p).unwrap_or(entry.path());
                let in_tmp = rel.components().any(|c| c.as_os_str() == "tmp");
                if entry.file_type().is_file() && !in_tmp {
                    files.push(entry.into_path());
                }
            }
        } else {
            files.push(p.clone());
        }
    }
    files
}

/// One file becomes one input, except an mbox, which becomes one input per message.
fn prepare_path(path: &Path, limits: &Limits) -> Vec<Prepared> {
    let source = path.display().to_string();
    let name = path.file_name().and_then(|n| n.to_str());
    let now = now_unix();
    let bytes = match read_bounded(path, limits.max_input) {
        Ok(b) => b,
        Err(reason) => {
            return vec![Prepared {
                source,
                channel: "cli",
                reports: Vec::new(),
                errors: vec![reason],
                raw_if_rejected: Some(Vec::new()),
            }];
        }
    };
    if bytes.starts_with(b"From ") {
        let messages: Vec<_> = MessageIterator::new(&bytes[..]).collect();
        if messages.len() > 1 {
            return messages
                .into_iter()
                .enumerate()
                .map(|(i, m)| {
                    let source = format!("{source}#{}", i + 1);
                    match m {
                        Ok(m) => ingest::prepare(
                            m.contents(),
                            Some("message/rfc822"),
                            None,
                            source,
                            "cli",
                            limits,
                            now,
                        ),
                        Err(_) => Prepared {
                            source,
                            channel: "cli",
                            reports: Vec::new(),
                            errors: vec!["unreadable mbox message".into()],
                            raw_if_rejected: Some(Vec::new()),
                        },
                    }
                })
                .collect();
        }
    }
    vec![ingest::prepare(
        &bytes, None, name, source, "cli", limits, now,
    )]
}

fn read_bounded(path: &Path, max: usize) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut bytes = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() > max {
        return Err(format!("file is larger than the {max}-byte input limit"));
    }
    Ok(bytes)
}
