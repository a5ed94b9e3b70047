//! A real Dovecot IMAP server (Debian package `dovecot-imapd`) configured and started by the
//! test on loopback ports, with STARTTLS and implicit TLS on a test CA's certificate.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::pki::TestCa;

/// A running Dovecot; stopped on drop.
pub struct Dovecot {
    child: Child,
    pub dir: tempfile::TempDir,
    /// STARTTLS port.
    pub port: u16,
    /// Implicit TLS port.
    pub tls_port: u16,
    /// File with the CA certificate that signed the server certificate.
    pub ca_file: PathBuf,
    pub user: String,
    pub password: String,
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const BINARY: &str = "/usr/sbin/dovecot";
const MAIL_UID: u32 = 8; // Debian's `mail` user: Dovecot refuses to serve mail as root.

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Dovecot {
    /// Starts Dovecot, or returns `None` (said loudly) when it is not installed. With
    /// `TLSWATCH_REQUIRE_DOVECOT=1` (set by `scripts/test.sh`) a missing Dovecot fails the test.
    // The child is waited for in `Drop`, or killed and waited for before the panic below.
    #[allow(clippy::zombie_processes)]
    pub async fn start() -> Option<Self> {
        Self::start_with(None).await
    }

    /// The same, also accepting OAuth 2.0 bearer tokens (SASL XOAUTH2 and OAUTHBEARER) checked
    /// by RFC 7662 introspection at `introspection_url` (Dovecot's `oauth2` passdb).
    #[allow(clippy::zombie_processes)]
    pub async fn start_with(introspection_url: Option<&str>) -> Option<Self> {
        if !Path::new(BINARY).exists() {
            if std::env::var("TLSWATCH_REQUIRE_DOVECOT").is_ok_and(|v| v == "1") {
                panic!("Dovecot required (TLSWATCH_REQUIRE_DOVECOT=1) but {BINARY} is missing: apt-get install dovecot-imapd");
            }
            eprintln!("\n*** SKIPPED: IMAP test: {BINARY} not installed (apt-get install dovecot-imapd)\n");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ca = TestCa::new("tlswatch IMAP test CA");
        let leaf = ca.leaf(&["localhost"], -1, 30);
        std::fs::write(d.join("cert.pem"), &leaf.cert_pem).unwrap();
        std::fs::write(d.join("key.pem"), &leaf.key_pem).unwrap();
        std::fs::write(d.join("ca.pem"), &ca.cert_pem).unwrap();
        let (user, password) = (
            "reports".to_owned(),
            format!("pw-{}", rand::random::<u32>()),
        );
        std::fs::write(d.join("users"), format!("{user}:{{PLAIN}}{password}\n")).unwrap();
        for sub in ["run", "state", "home"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let (port, tls_port) = (free_port(), free_port());
        let p = d.display();
        let (mechanisms, oauth_passdb) = match introspection_url {
            Some(url) => {
                std::fs::write(
                    d.join("dovecot-oauth2.conf.ext"),
                    format!(
                        "introspection_mode = post\nintrospection_url = {url}\nusername_attribute = username\n\
                         active_attribute = active\nactive_value = true\nforce_introspection = yes\n"
                    ),
                )
                .unwrap();
                (
                    "plain login xoauth2 oauthbearer",
                    format!("passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {p}/dovecot-oauth2.conf.ext\n}}\n"),
                )
            }
            None => ("plain login", String::new()),
        };
        let conf = format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {p}/run\nstate_dir = {p}/state\nlog_path = {p}/dovecot.log\n\
             ssl = yes\nssl_cert = <{p}/cert.pem\nssl_key = <{p}/key.pem\ndisable_plaintext_auth = yes\nauth_mechanisms = {mechanisms}\n{oauth_passdb}\
             passdb {{\n  driver = passwd-file\n  mechanisms = plain login\n  args = scheme=PLAIN username_format=%u {p}/users\n}}\n\
             userdb {{\n  driver = static\n  args = uid={MAIL_UID} gid={MAIL_UID} home={p}/home/%u\n}}\n\
             mail_location = maildir:~/Maildir\nfirst_valid_uid = 1\nfirst_valid_gid = 1\n\
             default_internal_user = dovecot\ndefault_login_user = dovenull\n\
             service imap-login {{\n  chroot =\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {tls_port}\n    ssl = yes\n  }}\n}}\n\
             service anvil {{\n  chroot =\n}}\nnamespace inbox {{\n  inbox = yes\n  separator = /\n}}\n"
        );
        std::fs::write(d.join("dovecot.conf"), conf).unwrap();
        let maildir = d.join(format!("home/{user}/Maildir"));
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        chown_r(&d.join("home"));
        let mut child = Command::new(BINARY)
            .args(["-F", "-c"])
            .arg(d.join("dovecot.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting dovecot");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", tls_port))
                .await
                .is_ok()
                && tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
            {
                return Some(Self {
                    child,
                    ca_file: d.join("ca.pem"),
                    dir,
                    port,
                    tls_port,
                    user,
                    password,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "dovecot did not start; log: {}",
            std::fs::read_to_string(d.join("dovecot.log")).unwrap_or_default()
        );
    }

    fn maildir(&self, folder: &str) -> PathBuf {
        let base = self.dir.path().join(format!("home/{}/Maildir", self.user));
        if folder == "INBOX" {
            base
        } else {
            base.join(format!(".{folder}"))
        }
    }

    /// Delivers a mail into INBOX (as a new, unseen message).
    pub fn deliver(&self, name: &str, mail: &[u8]) {
        let path = self
            .maildir("INBOX")
            .join("new")
            .join(format!("{name}.{}.test", rand::random::<u32>()));
        std::fs::write(&path, mail).unwrap();
        chown_r(&path);
    }

    /// Number of messages in a folder (new + cur), and how many are flagged seen.
    pub fn count(&self, folder: &str) -> (usize, usize) {
        let dir = self.maildir(folder);
        let mut total = 0;
        let mut seen = 0;
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
                for e in entries.flatten() {
                    total += 1;
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name
                        .rsplit_once(":2,")
                        .is_some_and(|(_, flags)| flags.contains('S'))
                    {
                        seen += 1;
                    }
                }
            }
        }
        (total, seen)
    }
}

fn chown_r(path: &Path) {
    let _ = Command::new("chown")
        .args(["-R", &format!("{MAIL_UID}:{MAIL_UID}")])
        .arg(path)
        .status();
}
