//! A real OAuth 2.0 / OpenID Connect server for the tests: `oidc-provider` from npm, started
//! with `support/oidc-provider.mjs` (node and `npm ci` at the repository root are needed; with
//! `TLSWATCH_REQUIRE_OIDC=1`, set by `scripts/test.sh`, a missing one fails the test).
#![allow(dead_code)]

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running oidc-provider; stopped on drop.
pub struct Oidc {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub issuer: String,
    /// The service account key file it trusts (JSON, as Google offers it).
    pub service_account: String,
}

impl Drop for Oidc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Oidc {
    /// Starts it for IMAP user `mailbox`, the `webapp` client redirecting to `redirect`; `None`
    /// (said loudly) when node or the npm package is missing.
    // The child is waited for in `Drop`.
    #[allow(clippy::zombie_processes)]
    pub fn start(mailbox: &str, redirect: &str) -> Option<Self> {
        Self::start_with(mailbox, redirect, "http://127.0.0.1:9/auth/oidc/callback")
    }

    /// [`Self::start`], with the single sign-on clients (`tlswatch-sso`, secret `sso-secret`,
    /// `client_secret_basic`; `tlswatch-sso-post`, `sso-post-secret`, `client_secret_post`)
    /// redirecting to `sso_redirect`.
    // The child is waited for in `Drop`.
    #[allow(clippy::zombie_processes)]
    pub fn start_with(mailbox: &str, redirect: &str, sso_redirect: &str) -> Option<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let installed = root
            .join("node_modules/oidc-provider/package.json")
            .exists();
        if !installed {
            if std::env::var("TLSWATCH_REQUIRE_OIDC").is_ok_and(|v| v == "1") {
                panic!("oidc-provider required (TLSWATCH_REQUIRE_OIDC=1) but node_modules/oidc-provider is missing: npm ci");
            }
            eprintln!("\n*** SKIPPED: OAuth test: node_modules/oidc-provider missing (npm ci)\n");
            return None;
        }
        let mut child = Command::new("node")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/oidc-provider.mjs"))
            .env("MAILBOX_USER", mailbox)
            .env("REDIRECT_URI", redirect)
            .env("SSO_REDIRECT_URI", sso_redirect)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting node");
        let mut line = String::new();
        let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        out.read_line(&mut line)
            .expect("reading oidc-provider's first line");
        // Whatever it prints later is read and dropped (a closed pipe would stop it).
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("oidc-provider printed {line:?}: {e}"));
        Some(Self {
            child,
            issuer: v["issuer"].as_str().unwrap().to_owned(),
            service_account: v["service_account"].to_string(),
        })
    }

    /// Follows a browser's sign-in from `start` with `http` (a client with a cookie store that
    /// does not follow redirects): redirects, the provider's login page (as `login`, any
    /// password) and consent page, until a URL starting with `stop` (the redirect URI); that
    /// URL.
    pub async fn walk(
        &self,
        http: &reqwest::Client,
        start: &str,
        login: &str,
        stop: &str,
    ) -> String {
        let abs = |l: &str| {
            if l.starts_with("http") {
                l.to_owned()
            } else {
                format!("{}{l}", self.issuer)
            }
        };
        let mut url = start.to_owned();
        for _ in 0..12 {
            if url.starts_with(stop) {
                return url;
            }
            let r = http.get(&url).send().await.unwrap();
            if let Some(l) = r.headers().get("location") {
                let l = l.to_str().unwrap();
                // A relative redirect of the starting site stays on it.
                url = if l.starts_with('/') && !url.starts_with(&self.issuer) {
                    let u = url::Url::parse(&url).unwrap();
                    format!("{}://{}{l}", u.scheme(), u.authority())
                } else {
                    abs(l)
                };
                continue;
            }
            let page = r.text().await.unwrap();
            let action = page
                .split("action=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or_else(|| panic!("no form on {url}: {page}"))
                .to_owned();
            let form: Vec<(&str, &str)> = if page.contains("name=\"login\"") {
                vec![("prompt", "login"), ("login", login), ("password", "any")]
            } else {
                vec![("prompt", "consent")]
            };
            let r = http.post(abs(&action)).form(&form).send().await.unwrap();
            url = abs(r
                .headers()
                .get("location")
                .unwrap_or_else(|| panic!("no redirect after {action}"))
                .to_str()
                .unwrap());
        }
        panic!("the sign-in did not come back to {stop}");
    }

    /// Revokes a token (RFC 7009) as client `client_id`.
    pub async fn revoke(&self, client_id: &str, secret: &str, token: &str) {
        let r = reqwest::Client::new()
            .post(format!("{}/token/revocation", self.issuer))
            .form(&[
                ("token", token),
                ("client_id", client_id),
                ("client_secret", secret),
            ])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "revocation: {}", r.status());
    }

    /// RFC 7662 introspection of `token` (as Dovecot does it).
    pub async fn introspect(&self, token: &str) -> serde_json::Value {
        reqwest::Client::new()
            .post(format!("{}/token/introspection", self.issuer))
            .basic_auth("dovecot", Some("dovecot-secret"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}
