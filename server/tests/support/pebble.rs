//! Pebble (Debian package `pebble`), Let's Encrypt's ACME test server, started by the test on
//! loopback with its own API certificate and the lab's DNS server, so it validates challenges
//! against the addresses the lab's zone gives.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::pki::TestCa;

const BINARY: &str = "/usr/bin/pebble";

/// A running Pebble; stopped on drop.
pub struct Pebble {
    child: Child,
    dir: tempfile::TempDir,
    /// The ACME directory URL.
    pub directory: String,
    /// The root that signs Pebble's API certificate (PEM file).
    pub api_ca_file: PathBuf,
    api_ca: TestCa,
    management: SocketAddr,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Pebble {
    /// Starts Pebble resolving names with `dns` and validating TLS-ALPN-01 on `tls_port` and
    /// HTTP-01 on `http_port`; `None` (said loudly) when it is not installed. With
    /// `TLSWATCH_REQUIRE_PEBBLE=1` (set by `scripts/test.sh`) a missing Pebble fails the test.
    // The child is waited for in `Drop`, or killed and waited for before the panic below.
    #[allow(clippy::zombie_processes)]
    pub async fn start(dns: SocketAddr, tls_port: u16, http_port: u16) -> Option<Self> {
        if !Path::new(BINARY).exists() {
            if std::env::var("TLSWATCH_REQUIRE_PEBBLE").is_ok_and(|v| v == "1") {
                panic!("Pebble required (TLSWATCH_REQUIRE_PEBBLE=1) but {BINARY} is missing: apt-get install pebble");
            }
            eprintln!(
                "\n*** SKIPPED: ACME test: {BINARY} not installed (apt-get install pebble)\n"
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let api_ca = TestCa::new("Pebble API test CA");
        let leaf = api_ca.leaf(&["localhost", "127.0.0.1"], -1, 30);
        std::fs::write(d.join("cert.pem"), &leaf.cert_pem).unwrap();
        std::fs::write(d.join("key.pem"), &leaf.key_pem).unwrap();
        std::fs::write(d.join("ca.pem"), &api_ca.cert_pem).unwrap();
        let (api, management) = (free_port(), free_port());
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{api}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": d.join("cert.pem"),
            "privateKey": d.join("key.pem"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        std::fs::write(d.join("pebble.json"), config.to_string()).unwrap();
        let mut child = Command::new(BINARY)
            .arg("-config")
            .arg(d.join("pebble.json"))
            .arg("-dnsserver")
            .arg(dns.to_string())
            .env("PEBBLE_VA_NOSLEEP", "1")
            // Pebble rejects 5 % of nonces by default to exercise clients' retries; the ACME
            // client retries, but keep the test's timing steady.
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting pebble");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", api))
                .await
                .is_ok()
                && tokio::net::TcpStream::connect(("127.0.0.1", management))
                    .await
                    .is_ok()
            {
                return Some(Self {
                    child,
                    directory: format!("https://127.0.0.1:{api}/dir"),
                    api_ca_file: d.join("ca.pem"),
                    api_ca,
                    management: SocketAddr::from(([127, 0, 0, 1], management)),
                    dir,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("pebble did not start listening");
    }

    /// The root that signs the certificates Pebble issues (random per start), DER.
    pub async fn issuer_root(&self) -> rustls::pki_types::CertificateDer<'static> {
        let (status, body) = super::tls_get(
            self.management,
            "127.0.0.1",
            "/roots/0",
            self.api_ca.roots(),
        )
        .await
        .expect("fetching Pebble's root");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let der = rustls_pemfile::certs(&mut body.as_slice())
            .next()
            .expect("a root")
            .expect("a PEM root");
        der
    }
}
