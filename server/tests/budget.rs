//! One budget per input, on every channel (issue 12, item 1): a 14 MB mail with 557 report
//! parts, each inflating to ~19 MB, is rejected as a whole (quarantined with the reason, no
//! report stored), and the process that handles it stays below 256 MB peak RSS. Each channel
//! runs the real `tlswatch` binary; the CLI's and the poller's peak comes from `wait4`, the
//! server's from `/proc/PID/status` (VmHWM).

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use support::dovecot::Dovecot;
use support::{gz, report_json};

const PEAK_LIMIT_KB: i64 = 256 * 1024;

/// The attack mail: `parts` copies of one report padded with JSON whitespace to ~19 MB.
fn many_part_mail(parts: usize) -> Vec<u8> {
    let mut json =
        report_json("big.example", "b1", "budget.example", "2026-02-01", 1, &[]).into_bytes();
    json.extend(std::iter::repeat_n(b' ', 19_000_000));
    let b64 = base64::engine::general_purpose::STANDARD.encode(gz(&json));
    let mut mail = String::from(
        "From: attacker@evil.example\r\nTo: tlsrpt@budget.example\r\nSubject: many\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n",
    );
    for i in 0..parts {
        mail.push_str(&format!(
            "--b\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n\
             Content-Disposition: attachment; filename=\"r{i}.json.gz\"\r\n\r\n"
        ));
        for line in b64.as_bytes().chunks(76) {
            mail.push_str(std::str::from_utf8(line).unwrap());
            mail.push_str("\r\n");
        }
    }
    mail.push_str("--b--\r\n");
    mail.into_bytes()
}

fn tlswatch(data: &Path) -> Command {
    support::tlswatch_cmd(data)
}

/// Runs a child to its end; its exit status, standard output and peak RSS in KiB.
fn run_measured(mut cmd: Command, stdin: &[u8]) -> (i32, String, i64) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    let (status, peak) = wait4(&mut child);
    (status, out, peak)
}

fn wait4(child: &mut Child) -> (i32, i64) {
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills in; the pid is our own child, waited once.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 failed");
    (libc::WEXITSTATUS(status), usage.ru_maxrss)
}

fn vm_hwm_kb(pid: u32) -> i64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

fn assert_rejected_for_budget(json_line: &str) {
    let v: serde_json::Value =
        serde_json::from_str(json_line.trim()).unwrap_or_else(|e| panic!("{e}: {json_line}"));
    assert_eq!(v["status"], "rejected", "{v}");
    assert_eq!(v["reports"], 0, "{v}");
    assert!(
        v["reason"]
            .as_str()
            .unwrap_or("")
            .contains("TLSWATCH_MAX_DECOMPRESSED_BYTES"),
        "{v}"
    );
}

#[test]
fn cli_import_of_the_many_part_mail_stays_within_budget() {
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("many.eml");
    let bytes = many_part_mail(557);
    assert!(
        bytes.len() > 13_000_000 && bytes.len() < 15_000_000,
        "{}",
        bytes.len()
    );
    std::fs::write(&mail, &bytes).unwrap();
    let mut cmd = tlswatch(&dir.path().join("data"));
    cmd.args(["import", "--format", "json"]).arg(&mail);
    let (status, out, peak) = run_measured(cmd, b"");
    assert_eq!(status, 1, "rejected inputs exit 1: {out}");
    assert_rejected_for_budget(&out);
    assert!(peak < PEAK_LIMIT_KB, "peak RSS {peak} KiB");
    eprintln!("cli import: peak RSS {} MiB", peak / 1024);
    // Quarantined with the reason, nothing stored.
    let mut list = tlswatch(&dir.path().join("data"));
    list.args(["quarantine", "list"]);
    let (_, listed, _) = run_measured(list, b"");
    assert!(
        listed.contains("TLSWATCH_MAX_DECOMPRESSED_BYTES"),
        "{listed}"
    );
}

struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// The child is waited for in `Drop`, or killed and waited for before the panic below.
#[allow(clippy::zombie_processes)]
fn serve(data: &Path) -> Served {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tlswatch(data)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Served { child, base };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
    panic!("tlswatch serve did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_and_receiver_stay_within_budget() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut add = tlswatch(&data);
    add.args(["domain", "add", "budget.example"]);
    assert_eq!(run_measured(add, b"").0, 0);
    let mut user = tlswatch(&data);
    user.args([
        "user",
        "add",
        "--email",
        "up@budget.example",
        "--role",
        "editor",
    ]);
    assert_eq!(run_measured(user, b"correct horse battery staple\n").0, 0);
    let s = serve(&data);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = support::login(&s.base, "up@budget.example", "correct horse battery staple")
        .await
        .2
        .expect("session cookie");

    // Upload page channel: the many-part mail.
    let r = client
        .post(format!("{}/api/upload", s.base))
        .header(reqwest::header::COOKIE, &cookie)
        .header("sec-fetch-site", "same-origin")
        .header("x-filename", "many.eml")
        .body(many_part_mail(557))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_rejected_for_budget(&r.text().await.unwrap());

    // Open receiver: a gzip body inflating far past the budget.
    let bomb = gz(&vec![b' '; 200_000_000]);
    let r = client
        .post(format!("{}/tlsrpt", s.base))
        .header("content-type", "application/tlsrpt+gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("TLSWATCH_MAX_DECOMPRESSED_BYTES"));

    let peak = vm_hwm_kb(s.child.id());
    eprintln!("serve (upload + receiver): peak RSS {} MiB", peak / 1024);
    assert!(peak < PEAK_LIMIT_KB, "peak RSS {peak} KiB");
}

#[test]
fn imap_poll_of_the_many_part_mail_stays_within_budget() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(d) = rt.block_on(Dovecot::start()) else {
        return;
    };
    d.deliver("many", &many_part_mail(557));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut add = tlswatch(&data);
    add.args([
        "mailbox",
        "add",
        "--name",
        "reports",
        "--host",
        "localhost",
        "--port",
        &d.port.to_string(),
        "--tls",
        "starttls",
        "--user",
        &d.user,
        "--rejected-folder",
        "NotReports",
    ]);
    assert_eq!(
        run_measured(add, format!("{}\n", d.password).as_bytes()).0,
        0
    );
    let mut poll = tlswatch(&data);
    poll.env("TLSWATCH_EXTRA_CA_FILE", &d.ca_file)
        .args(["mailbox", "poll"]);
    let (status, _, peak) = run_measured(poll, b"");
    eprintln!("mailbox poll: peak RSS {} MiB", peak / 1024);
    assert!(peak < PEAK_LIMIT_KB, "peak RSS {peak} KiB");
    assert_eq!(status, 0, "the poll itself succeeds");
    assert_eq!(d.count("NotReports").0, 1, "the mail is moved aside");
    let mut list = tlswatch(&data);
    list.args(["quarantine", "list"]);
    let (_, listed, _) = run_measured(list, b"");
    assert!(
        listed.contains("TLSWATCH_MAX_DECOMPRESSED_BYTES"),
        "{listed}"
    );
}
