//! `tlswatch import` as a user runs it: the real binary on files, directories, mbox files and
//! Maildir folders, with `--format json` and the exit status.

mod support;

use std::path::Path;
use std::process::Command;

use support::{gz, report_json};

fn run(data: &Path, args: &[&str]) -> (i32, Vec<serde_json::Value>) {
    let out = Command::new(env!("CARGO_BIN_EXE_tlswatch"))
        .args(["import", "--format", "json"])
        .args(args)
        .env("TLSWATCH_DATA_DIR", data)
        .env_remove("TLSWATCH_DATABASE_URL")
        .output()
        .unwrap();
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out.status.code().unwrap_or(-1), lines)
}

fn mail(domain: &str, id: &str) -> String {
    use base64::Engine;
    let body = gz(report_json("sender.example", id, domain, "2026-02-02", 4, &[]).as_bytes());
    format!(
        "From: reports@sender.example\r\nTo: tlsrpt@{domain}\r\nSubject: Report Domain: {domain}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=tlsrpt; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nreport\r\n--b\r\n\
         Content-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        base64::engine::general_purpose::STANDARD.encode(body)
    )
}

#[test]
fn import_reports_every_input_as_json_and_exits_0_when_nothing_was_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("in/nested");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(
        inbox.join("a.json"),
        report_json("s.example", "1", "cli.example", "2026-01-01", 3, &[]),
    )
    .unwrap();
    std::fs::write(
        inbox.join("b.json.gz"),
        gz(report_json("s.example", "2", "cli.example", "2026-01-02", 5, &[]).as_bytes()),
    )
    .unwrap();
    std::fs::write(inbox.join("c.eml"), mail("cli.example", "3")).unwrap();
    let (code, lines) = run(
        &dir.path().join("data"),
        &[dir.path().join("in").to_str().unwrap()],
    );
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(lines.len(), 3);
    for l in &lines {
        assert_eq!(l["status"], "imported", "{l}");
        assert_eq!(l["reports"], 1);
        assert!(l["path"].as_str().unwrap().contains("nested"));
    }
    // Importing again changes nothing.
    let (code, lines) = run(
        &dir.path().join("data"),
        &[dir.path().join("in").to_str().unwrap()],
    );
    assert_eq!(code, 0);
    assert!(
        lines.iter().all(|l| l["status"] == "duplicate"),
        "{lines:?}"
    );
}

#[test]
fn import_exits_1_and_names_the_reason_when_an_input_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &good,
        report_json("s.example", "g", "cli2.example", "2026-01-01", 3, &[]),
    )
    .unwrap();
    std::fs::write(&bad, "{\"organization-name\": \"x\"").unwrap();
    let (code, lines) = run(
        &dir.path().join("data"),
        &[good.to_str().unwrap(), bad.to_str().unwrap()],
    );
    assert_eq!(code, 1);
    assert_eq!(lines[0]["status"], "imported");
    assert_eq!(lines[1]["status"], "rejected");
    assert!(
        lines[1]["reason"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{}",
        lines[1]
    );
}

#[test]
fn import_splits_mbox_files_into_messages() {
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("reports.mbox");
    let content = format!(
        "From reports@sender.example Mon Feb  2 00:00:00 2026\n{}\nFrom reports@sender.example Mon Feb  2 00:00:01 2026\n{}\n",
        mail("mbox.example", "m1").replace("\r\n", "\n"),
        mail("mbox.example", "m2").replace("\r\n", "\n")
    );
    std::fs::write(&mbox, content).unwrap();
    let (code, lines) = run(&dir.path().join("data"), &[mbox.to_str().unwrap()]);
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["status"] == "imported"));
}

#[test]
fn import_reads_maildir_folders_but_not_their_tmp() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(sub)).unwrap();
    }
    std::fs::write(
        md.join("cur/1700000000.1.host:2,S"),
        mail("maildir.example", "md1"),
    )
    .unwrap();
    std::fs::write(
        md.join("new/1700000001.2.host"),
        mail("maildir.example", "md2"),
    )
    .unwrap();
    std::fs::write(md.join("tmp/1700000002.3.host"), "half-written").unwrap();
    let (code, lines) = run(&dir.path().join("data"), &[md.to_str().unwrap()]);
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(lines.len(), 2);
}

/// The shared corpus of real public samples: every file is imported (or is a duplicate of one
/// that was) or rejected with a reason matching its listed quirk.
#[test]
fn corpus_of_real_reports_imports_or_rejects_with_the_listed_reason() {
    let corpus = std::env::var("TLSWATCH_CORPUS_DIR")
        .unwrap_or_else(|_| "/work/shared/corpus/tlsrpt".into());
    if !Path::new(&corpus).is_dir() {
        eprintln!("\n*** SKIPPED: corpus check: {corpus} not found (set TLSWATCH_CORPUS_DIR)\n");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, lines) = run(&dir.path().join("data"), &[&corpus]);
    let mut reports = 0;
    for l in &lines {
        let path = l["path"].as_str().unwrap();
        match path.rsplit('/').next().unwrap() {
            "SOURCES.md" => assert_eq!(l["status"], "rejected"),
            "rpt03.json" => {
                assert_eq!(l["status"], "rejected");
                assert!(
                    l["reason"]
                        .as_str()
                        .unwrap()
                        .contains("policy-domain is missing"),
                    "{l}"
                );
            }
            _ => {
                assert!(
                    l["status"] == "imported" || l["status"] == "duplicate",
                    "{l}"
                );
                reports += l["reports"].as_u64().unwrap();
            }
        }
    }
    assert!(
        reports >= 12,
        "only {reports} reports imported from the corpus"
    );
}

fn tlswatch(data: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tlswatch"))
        .args(args)
        .env("TLSWATCH_DATA_DIR", data)
        .env_remove("TLSWATCH_DATABASE_URL")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn quarantined_input_is_listed_shown_and_reprocessed_after_registering_its_domain() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("r.json");
    let json = report_json("s.example", "q1", "later.example", "2026-01-09", 8, &[]);
    std::fs::write(&file, &json).unwrap();
    let off = [("TLSWATCH_AUTO_REGISTER_DOMAINS", "false")];
    let (code, out) = tlswatch(
        &data,
        &["import", "--format", "json", file.to_str().unwrap()],
        &off,
    );
    assert_eq!(code, 1);
    assert!(out.contains("not registered"), "{out}");

    let (_, list) = tlswatch(&data, &["quarantine", "list"], &off);
    let id = list.split('\t').next().unwrap().trim().to_owned();
    assert!(list.contains("not registered"), "{list}");
    let (code, raw) = tlswatch(&data, &["quarantine", "show", &id], &off);
    assert_eq!((code, raw.as_str()), (0, json.as_str()));

    let (code, out) = tlswatch(&data, &["quarantine", "reprocess", &id], &off);
    assert_eq!(code, 1, "still unregistered: {out}");
    assert_eq!(
        tlswatch(&data, &["domain", "add", "Later.Example."], &off).0,
        0
    );
    let (code, out) = tlswatch(&data, &["quarantine", "reprocess"], &off);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("imported"), "{out}");
    assert_eq!(tlswatch(&data, &["quarantine", "list"], &off).1, "");
}

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tlswatch"))
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn help_is_for_users_and_each_command_lists_its_own_options() {
    let top = help(&[]);
    assert!(
        top.starts_with("tlswatch: a self-hosted dashboard"),
        "{top}"
    );
    assert!(!top.contains("domain model"), "{top}");
    let import = help(&["import"]);
    assert!(import.contains("--max-decompressed-bytes"), "{import}");
    assert!(import.contains("--no-auto-register-domains"), "{import}");
    assert!(import.contains("[default: true]"), "{import}");
    for foreign in ["--dns-servers", "--check-allow-private", "--listen"] {
        assert!(
            !import.contains(foreign),
            "import lists {foreign}: {import}"
        );
    }
    let check = help(&["check"]);
    assert!(
        check.contains("--dns-servers") && !check.contains("--max-input-bytes"),
        "{check}"
    );
    let serve = help(&["serve"]);
    assert!(
        serve.contains("--trusted-proxies") && serve.contains("--alert-allow-private"),
        "{serve}"
    );
}

#[test]
fn a_boolean_value_after_a_space_is_explained_not_read_as_a_file() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tlswatch"))
        .args(["import", "--auto-register-domains", "false", "x.json"])
        .env("TLSWATCH_DATA_DIR", data.path())
        .env_remove("TLSWATCH_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--auto-register-domains=false"), "{err}");
}

#[test]
fn boolean_flags_take_no_value_a_value_or_their_negation() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.json");
    std::fs::write(
        &file,
        report_json("s.example", "b1", "flags.example", "2026-01-01", 1, &[]),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    for (args, registered) in [
        (vec!["--auto-register-domains=false", f], false),
        (vec!["--no-auto-register-domains", f], false),
        (vec!["--auto-register-domains", f], true),
        (vec!["--auto-register-domains=true", f], true),
    ] {
        let data = tempfile::tempdir().unwrap();
        let (code, lines) = run(data.path(), &args);
        assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
        let status = lines[0]["status"].as_str().unwrap().to_owned();
        if registered {
            assert_eq!(
                (code, status.as_str()),
                (0, "imported"),
                "{args:?}: {lines:?}"
            );
        } else {
            assert_eq!(
                (code, status.as_str()),
                (1, "rejected"),
                "{args:?}: {lines:?}"
            );
            assert!(lines[0]["reason"]
                .as_str()
                .unwrap()
                .contains("not registered"));
        }
    }
}
