//! Test harness: real databases (a SQLite file in a temporary directory, a fresh database on
//! the PostgreSQL server) and report builders.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;

use sqlx::{Connection, Executor};
use tlswatch::store::Store;

/// A store plus whatever must live as long as it (temporary directory, database to drop).
pub struct TestDb {
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg.take() {
            // Drop is synchronous; use a private runtime on a thread of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(mut c) = sqlx::PgConnection::connect(&admin_url).await {
                        let _ = c
                            .execute(
                                format!("drop database if exists {name} with (force)").as_str(),
                            )
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

impl TestDb {
    /// The SQLite file of this database (SQLite only).
    pub fn sqlite_path(&self) -> PathBuf {
        self._dir
            .as_ref()
            .expect("a SQLite test database")
            .path()
            .join("nested/dir/tlswatch.db")
    }

    /// The PostgreSQL URL of this database (PostgreSQL only).
    pub fn url(&self) -> String {
        let (admin, name) = self.pg.as_ref().expect("a PostgreSQL test database");
        format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
    }
}

/// The secret key every test store (and every `tlswatch` process a test starts, through
/// `TLSWATCH_SECRET_KEY`) uses.
pub const TEST_SECRET_KEY: &str = "dGxzd2F0Y2gtdGVzdC1zZWNyZXQta2V5LTMyLWJ5dGU=";

/// The sealer of [`TEST_SECRET_KEY`].
pub fn test_sealer() -> tlswatch::secrets::Sealer {
    tlswatch::secrets::Sealer::from_base64(TEST_SECRET_KEY).unwrap()
}

/// A fresh SQLite database file in a temporary directory.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}",
        dir.path().join("nested/dir/tlswatch.db").display()
    );
    let store = Store::connect(&url, 4)
        .await
        .unwrap()
        .with_sealer(test_sealer());
    TestDb {
        store,
        _dir: Some(dir),
        pg: None,
    }
}

/// The SQLite database `tlswatch` keeps in the data directory `dir` (the directory is the
/// caller's).
pub async fn sqlite_in(dir: &std::path::Path) -> TestDb {
    let url = format!("sqlite://{}", dir.join("tlswatch.db").display());
    let store = Store::connect(&url, 4)
        .await
        .unwrap()
        .with_sealer(test_sealer());
    TestDb {
        store,
        _dir: None,
        pg: None,
    }
}

/// The PostgreSQL server tests use.
pub fn pg_admin_url() -> String {
    std::env::var("TLSWATCH_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh PostgreSQL database, or `None` (said loudly) when no server answers. With
/// `TLSWATCH_REQUIRE_POSTGRES=1` (set by `.ci/run`) a missing server fails the test instead.
pub async fn postgres() -> Option<TestDb> {
    let admin_url = pg_admin_url();
    let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
        Ok(c) => c,
        Err(e) => {
            if std::env::var("TLSWATCH_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("PostgreSQL required (TLSWATCH_REQUIRE_POSTGRES=1) but {admin_url} is unreachable: {e}");
            }
            eprintln!("\n*** SKIPPED: PostgreSQL store test: cannot connect to {admin_url}: {e}");
            eprintln!(
                "*** Set TLSWATCH_TEST_POSTGRES_URL or start PostgreSQL; .ci/run requires it.\n"
            );
            return None;
        }
    };
    let name = format!("tlswatch_t_{}", rand::random::<u64>());
    admin
        .execute(format!("create database {name}").as_str())
        .await
        .unwrap();
    let url = match admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("bad PostgreSQL URL {admin_url}"),
    };
    let store = Store::connect(&url, 8)
        .await
        .unwrap()
        .with_sealer(test_sealer());
    Some(TestDb {
        store,
        _dir: None,
        pg: Some((admin_url, name)),
    })
}

/// Runs an async test body against SQLite and against PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident => $body:ident;)*) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::support::sqlite().await;
                super::$body(&db.store).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::support::postgres().await {
                    super::$body(&db.store).await;
                }
            }
        }
    )*};
}

/// Path of a fixture under `tests/fixtures`.
pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// Bytes of a fixture.
pub fn fixture_bytes(path: &str) -> Vec<u8> {
    std::fs::read(fixture(path)).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// gzip of `data`.
pub fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A report JSON with one sts policy.
pub fn report_json(
    org: &str,
    id: &str,
    domain: &str,
    day: &str,
    success: u64,
    failures: &[(&str, &str, u64)],
) -> String {
    let failed: u64 = failures.iter().map(|f| f.2).sum();
    let details: Vec<String> = failures
        .iter()
        .map(|(rt, mx, n)| format!(r#"{{"result-type":"{rt}","sending-mta-ip":"192.0.2.1","receiving-mx-hostname":"{mx}","failed-session-count":{n}}}"#))
        .collect();
    format!(
        r#"{{"organization-name":"{org}","date-range":{{"start-datetime":"{day}T00:00:00Z","end-datetime":"{day}T23:59:59Z"}},
"contact-info":"tlsrpt@{org}","report-id":"{id}","policies":[{{"policy":{{"policy-type":"sts","policy-string":["version: STSv1","mode: testing","mx: *.{domain}","max_age: 86400"],
"policy-domain":"{domain}","mx-host":["*.{domain}"]}},"summary":{{"total-successful-session-count":{success},"total-failure-session-count":{failed}}},
"failure-details":[{}]}}]}}"#,
        details.join(",")
    )
}

/// Prepares and commits one input through the CLI channel.
/// `bytes` named `name` prepared for storing, as `tlswatch import` does.
pub fn prepare(bytes: &[u8], name: &str) -> tlswatch::ingest::Prepared {
    tlswatch::ingest::prepare(
        bytes,
        None,
        Some(name),
        name.to_owned(),
        "cli",
        &tlswatch::ingest::Limits::default(),
        1_800_000_000,
    )
}

pub async fn import(store: &Store, bytes: &[u8], name: &str) -> tlswatch::ingest::InputOutcome {
    let p = prepare(bytes, name);
    let mut out =
        tlswatch::ingest::commit(store, vec![p], tlswatch::store::DomainPolicy::AutoRegister)
            .await
            .unwrap();
    out.remove(0)
}

/// A running tlswatch HTTP server on a free loopback port.
pub struct TestServer {
    pub base: String,
    pub store: Store,
    _db: TestDb,
    _task: tokio::task::JoinHandle<()>,
}

/// Starts the real application on `127.0.0.1:0` over a fresh SQLite database.
pub async fn server(
    limits: tlswatch::ingest::Limits,
    secret: Option<&str>,
    rate: u32,
) -> TestServer {
    let db = sqlite().await;
    server_on(db, limits, secret, rate).await
}

/// Starts the real application over `db`.
pub async fn server_on(
    db: TestDb,
    limits: tlswatch::ingest::Limits,
    secret: Option<&str>,
    rate: u32,
) -> TestServer {
    let settings = tlswatch::http::HttpSettings {
        limits,
        receiver_secret: secret.map(str::to_owned),
        receiver_rate_per_minute: rate,
        ..tlswatch::http::HttpSettings::local("127.0.0.1:0".parse().unwrap())
    };
    server_with(db, settings).await
}

/// Starts the real application over `db` with `settings` (its `listen` is ignored).
pub async fn server_with(db: TestDb, mut settings: tlswatch::http::HttpSettings) -> TestServer {
    settings.listen = "127.0.0.1:0".parse().unwrap();
    let app = tlswatch::http::Application::build(db.store.clone(), settings)
        .await
        .unwrap();
    let base = format!("http://{}", app.local_addr());
    let task = tokio::spawn(async move {
        let _ = app.run_until_stopped(std::future::pending()).await;
    });
    TestServer {
        base,
        store: db.store.clone(),
        _db: db,
        _task: task,
    }
}

pub mod dovecot;
pub mod graph;
pub mod oidc;
pub mod pki;

/// Posts a report JSON to the open receiver of `base`; status and body.
pub async fn post_report(base: &str, json: &str) -> (u16, String) {
    let r = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
        .post(format!("{base}/tlsrpt"))
        .header("content-type", "application/tlsrpt+json")
        .body(json.to_owned())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// Signs in through the login server function; status, body and the session cookie.
pub async fn login(base: &str, email: &str, password: &str) -> (u16, String, Option<String>) {
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
        .post(format!("{base}/api/auth/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "email={}&password={}",
            percent_encoding::utf8_percent_encode(email, percent_encoding::NON_ALPHANUMERIC),
            percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC)
        ))
        .send()
        .await
        .unwrap();
    let cookie = r
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .filter(|c| c.starts_with("tlswatch_session="))
        .map(str::to_owned);
    (
        r.status().as_u16(),
        r.text().await.unwrap_or_default(),
        cookie,
    )
}

/// The real `tlswatch` binary with its own data directory and the test secret key.
pub fn tlswatch_cmd(data: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_tlswatch"));
    c.env_remove("TLSWATCH_DATABASE_URL")
        .env("TLSWATCH_DATA_DIR", data)
        .env("TLSWATCH_SECRET_KEY", TEST_SECRET_KEY)
        .env("TLSWATCH_LOG", "warn")
        .env("TLSWATCH_CHECK_INTERVAL_MINUTES", "0");
    c
}

pub mod pebble;

/// An HTTP/1.1 answer read over TLS.
pub struct TlsAnswer {
    pub status: u16,
    pub headers: String,
    pub body: Vec<u8>,
    /// The server's certificate (leaf), DER.
    pub peer: Vec<u8>,
}

/// `GET path` over TLS to `addr` with SNI and `Host` `name`, trusting `roots`.
pub async fn tls_fetch(
    addr: std::net::SocketAddr,
    name: &str,
    path: &str,
    roots: rustls::RootCertStore,
) -> anyhow::Result<TlsAnswer> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let server_name = rustls::pki_types::ServerName::try_from(name.to_owned())?;
    let mut tls = connector.connect(server_name, tcp).await?;
    let peer = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut raw = Vec::new();
    let _ = tls.read_to_end(&mut raw).await;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            anyhow::anyhow!("no HTTP header end in {:?}", String::from_utf8_lossy(&raw))
        })?;
    let headers = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok(TlsAnswer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
        peer,
    })
}

/// [`tls_fetch`]'s status and body.
pub async fn tls_get(
    addr: std::net::SocketAddr,
    name: &str,
    path: &str,
    roots: rustls::RootCertStore,
) -> anyhow::Result<(u16, Vec<u8>)> {
    let a = tls_fetch(addr, name, path, roots).await?;
    Ok((a.status, a.body))
}
