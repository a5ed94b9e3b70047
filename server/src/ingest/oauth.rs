//! Access tokens for mailboxes on modern authentication (OAuth 2.0, with the `oauth2` crate):
//!
//! - `client_credentials`: Microsoft 365 app-only (RFC 6749 §4.4); the token URL comes from the
//!   tenant and the authority (national clouds) unless set.
//! - `service_account`: Google Workspace domain-wide delegation: an RS256 assertion signed with
//!   the service account's key, `sub` = the mailbox, exchanged at the token URL (RFC 7523).
//! - `authorization_code`: someone signs in once at the provider (PKCE, RFC 7636); tlswatch keeps
//!   the refresh token (sealed) and trades it for access tokens.
//!
//! Tokens are cached per mailbox until a minute before they expire and dropped when the mail
//! server refuses one. A grant the provider refuses (`invalid_grant`, `invalid_client`,
//! `unauthorized_client`, e.g. a revoked consent or an expired secret) is
//! [`TokenError::AuthorizationNeeded`]: the mailbox is then not polled until someone fixes it.
//!
//! Token and API endpoints are reached with tlswatch's TLS settings, redirects off, and
//! addresses outside the public internet refused unless `TLSWATCH_MAILBOX_ALLOW_PRIVATE` is set.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oauth2::basic::{BasicClient, BasicErrorResponse, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use sha2::Digest;

use crate::store::{Mailbox, Store};

/// Microsoft's global identity platform.
pub const MICROSOFT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// Google's token endpoint (when the key file names none).
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Exchange Online IMAP, app-only.
pub const OUTLOOK_IMAP_SCOPE: &str = "https://outlook.office365.com/.default";
/// Gmail IMAP (and Google's only scope for it).
pub const GMAIL_SCOPE: &str = "https://mail.google.com/";
/// The JWT bearer grant (RFC 7523).
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Bound on answers of token endpoints and APIs read whole.
pub const MAX_ANSWER: usize = 1 << 20;

/// Why no access token could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The provider refused the grant itself (revoked, expired, wrong secret): someone must fix
    /// the settings or sign in again; retrying will not help.
    AuthorizationNeeded(String),
    /// Anything else (network, a provider's passing error); the next poll tries again.
    Failed(String),
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AuthorizationNeeded(m) => write!(f, "authorization needed: {m}"),
            Self::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for TokenError {}

/// A cached token: the settings it was obtained with (hashed), the token, when it ends.
struct Cached {
    settings: [u8; 32],
    token: String,
    until: Instant,
}

/// Obtains and caches access tokens; cheap to clone.
#[derive(Clone)]
pub struct Tokens {
    /// The HTTP client for token endpoints and mail APIs.
    pub http: reqwest::Client,
    /// Whether endpoints on non-public addresses may be used.
    pub allow_private: bool,
    cache: Arc<Mutex<HashMap<i64, Cached>>>,
    obtained: Arc<AtomicU64>,
}

/// A started sign-in: where to send the browser, and what to keep until it comes back.
#[derive(Debug, Clone)]
pub struct Authorization {
    /// The provider's authorization URL with state and PKCE challenge.
    pub url: String,
    /// The random state (the key of the pending sign-in).
    pub state: String,
    /// The PKCE verifier (kept sealed until the code comes back).
    pub verifier: String,
}

/// Resolves names for the HTTP client, refusing non-public addresses unless allowed.
struct GuardedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let usable: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| allow_private || crate::check::guard::is_public(a.ip()))
                .collect();
            if usable.is_empty() {
                return Err(format!(
                    "{host} resolves to no public address; set TLSWATCH_MAILBOX_ALLOW_PRIVATE=true to allow it"
                )
                .into());
            }
            Ok(Box::new(usable.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Checks a URL an admin typed: https (http only on allowed private addresses, for tests and
/// internal providers), no literal non-public address unless allowed.
pub fn check_url(url: &str, allow_private: bool) -> Result<url::Url, String> {
    let u = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    match u.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(format!("{url:?} must start with https://")),
    }
    let ip = match u.host() {
        Some(url::Host::Ipv4(a)) => Some(std::net::IpAddr::V4(a)),
        Some(url::Host::Ipv6(a)) => Some(std::net::IpAddr::V6(a)),
        Some(url::Host::Domain(_)) => None,
        None => return Err(format!("{url:?} has no host")),
    };
    if let Some(ip) = ip {
        if !allow_private && !crate::check::guard::is_public(ip) {
            return Err(format!(
                "{url:?} is not a public address; set TLSWATCH_MAILBOX_ALLOW_PRIVATE=true to allow it"
            ));
        }
    }
    Ok(u)
}

/// The words of a provider's error answer: code, description (bounded, control characters
/// removed: it is shown on the page).
fn provider_error(e: &BasicErrorResponse) -> String {
    let mut s = e.error().to_string();
    if let Some(d) = e.error_description() {
        s.push_str(": ");
        s.push_str(d);
    }
    clean(&s)
}

/// Text from elsewhere, fit to be shown: control characters out, at most 300 characters.
pub fn clean(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().count() > 300 {
        let mut t: String = s.chars().take(300).collect();
        t.push('…');
        t
    } else {
        s
    }
}

fn grant_refused(kind: &BasicErrorResponseType) -> bool {
    matches!(
        kind,
        BasicErrorResponseType::InvalidGrant
            | BasicErrorResponseType::InvalidClient
            | BasicErrorResponseType::UnauthorizedClient
    )
}

fn request_error<RE: std::error::Error + 'static>(
    e: RequestTokenError<RE, BasicErrorResponse>,
) -> TokenError {
    match e {
        RequestTokenError::ServerResponse(r) if grant_refused(r.error()) => {
            TokenError::AuthorizationNeeded(format!("identity provider: {}", provider_error(&r)))
        }
        RequestTokenError::ServerResponse(r) => {
            TokenError::Failed(format!("identity provider: {}", provider_error(&r)))
        }
        RequestTokenError::Request(e) => {
            let mut msg = format!("token request: {e}");
            let mut src = e.source();
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            TokenError::Failed(clean(&msg))
        }
        RequestTokenError::Parse(e, _) => {
            TokenError::Failed(clean(&format!("token endpoint answer: {e}")))
        }
        RequestTokenError::Other(e) => TokenError::Failed(clean(&format!("token endpoint: {e}"))),
    }
}

/// A Google service account key file (the JSON Google offers to download).
#[derive(serde::Deserialize)]
struct ServiceAccountKey {
    client_email: String,
    private_key: String,
    #[serde(default)]
    token_uri: Option<String>,
}

/// Reads a service account key file; a clear error when it is not one.
pub fn service_account_key(json: &str) -> Result<(String, Option<String>), String> {
    let k: ServiceAccountKey = serde_json::from_str(json).map_err(|e| {
        format!("the service account key must be the JSON key file Google offers ({e})")
    })?;
    jsonwebtoken::EncodingKey::from_rsa_pem(k.private_key.as_bytes())
        .map_err(|e| format!("the service account key's private_key is not an RSA key: {e}"))?;
    Ok((k.client_email, k.token_uri))
}

/// The token URL of a mailbox.
pub fn token_url(m: &Mailbox) -> Result<String, String> {
    if !m.oauth.token_url.is_empty() {
        return Ok(m.oauth.token_url.clone());
    }
    match m.auth.as_str() {
        "client_credentials" | "authorization_code" if !m.oauth.tenant.is_empty() => {
            let authority = if m.oauth.authority.is_empty() {
                MICROSOFT_AUTHORITY
            } else {
                m.oauth.authority.trim_end_matches('/')
            };
            Ok(format!(
                "{authority}/{}/oauth2/v2.0/token",
                m.oauth.tenant.trim()
            ))
        }
        "service_account" => Ok(service_account_key(&m.password)
            .ok()
            .and_then(|(_, uri)| uri)
            .unwrap_or_else(|| GOOGLE_TOKEN_URL.to_owned())),
        _ => Err("a token URL (or, for Microsoft, the tenant) is required".into()),
    }
}

/// The scopes a mailbox asks for.
pub fn scopes(m: &Mailbox) -> Vec<String> {
    if !m.oauth.scope.trim().is_empty() {
        return m
            .oauth
            .scope
            .split_whitespace()
            .map(str::to_owned)
            .collect();
    }
    let default = match (m.kind.as_str(), m.auth.as_str()) {
        ("graph", _) => format!("{}/.default", m.host.trim_end_matches('/')),
        (_, "service_account") => GMAIL_SCOPE.to_owned(),
        _ => OUTLOOK_IMAP_SCOPE.to_owned(),
    };
    vec![default]
}

fn settings_hash(m: &Mailbox) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    for part in [
        m.kind.as_str(),
        m.auth.as_str(),
        m.host.as_str(),
        m.username.as_str(),
        m.password.as_str(),
        m.refresh_token.as_str(),
        &serde_json::to_string(&m.oauth).unwrap_or_default(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().into()
}

impl Tokens {
    /// An HTTP client with `tls` and the address guard.
    pub fn new(
        tls: Arc<rustls::ClientConfig>,
        allow_private: bool,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .timeout(timeout)
            .user_agent(concat!("tlswatch/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            allow_private,
            cache: Arc::default(),
            obtained: Arc::default(),
        })
    }

    /// How many tokens were obtained from providers (not from the cache) since start.
    pub fn obtained(&self) -> u64 {
        self.obtained.load(Ordering::Relaxed)
    }

    /// Forgets mailbox `id`'s cached token (the server refused it).
    pub fn forget(&self, id: i64) {
        self.cache.lock().expect("token cache").remove(&id);
    }

    /// An access token for `m`, from the cache or the provider. A rotated refresh token is
    /// stored in `store`.
    pub async fn access_token(&self, store: &Store, m: &Mailbox) -> Result<String, TokenError> {
        let settings = settings_hash(m);
        if let Some(c) = self.cache.lock().expect("token cache").get(&m.id) {
            if c.settings == settings && c.until > Instant::now() {
                return Ok(c.token.clone());
            }
        }
        let answer = match m.auth.as_str() {
            "client_credentials" => self.client_credentials(m).await?,
            "service_account" => self.service_account(m).await?,
            "authorization_code" => {
                let a = self.refresh(m).await?;
                if let Some(new) = a.refresh_token() {
                    if new.secret() != &m.refresh_token {
                        store
                            .set_mailbox_refresh_token(m.id, new.secret())
                            .await
                            .map_err(|e| TokenError::Failed(format!("{e:#}")))?;
                    }
                }
                a
            }
            other => {
                return Err(TokenError::Failed(format!(
                    "{other:?} is not an OAuth method"
                )))
            }
        };
        self.obtained.fetch_add(1, Ordering::Relaxed);
        let token = answer.access_token().secret().clone();
        let life = answer
            .expires_in()
            .unwrap_or(Duration::from_secs(300))
            .saturating_sub(Duration::from_secs(60))
            .max(Duration::from_secs(5));
        self.cache.lock().expect("token cache").insert(
            m.id,
            Cached {
                settings,
                token: token.clone(),
                until: Instant::now() + life,
            },
        );
        Ok(token)
    }

    fn token_url(&self, m: &Mailbox) -> Result<TokenUrl, TokenError> {
        let url = token_url(m).map_err(TokenError::AuthorizationNeeded)?;
        check_url(&url, self.allow_private).map_err(TokenError::AuthorizationNeeded)?;
        TokenUrl::new(url).map_err(|e| TokenError::AuthorizationNeeded(e.to_string()))
    }

    async fn client_credentials(&self, m: &Mailbox) -> Result<BasicTokenResponse, TokenError> {
        let client = BasicClient::new(ClientId::new(m.oauth.client_id.clone()))
            .set_client_secret(ClientSecret::new(m.password.clone()))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(self.token_url(m)?);
        client
            .exchange_client_credentials()
            .add_scopes(scopes(m).into_iter().map(Scope::new))
            .request_async(&self.http)
            .await
            .map_err(request_error)
    }

    async fn refresh(&self, m: &Mailbox) -> Result<BasicTokenResponse, TokenError> {
        if m.refresh_token.is_empty() {
            return Err(TokenError::AuthorizationNeeded(
                "nobody has signed in for this mailbox yet: use \"Sign in\" on the mailboxes page"
                    .into(),
            ));
        }
        let mut client = BasicClient::new(ClientId::new(m.oauth.client_id.clone()))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(self.token_url(m)?);
        if !m.password.is_empty() {
            client = client.set_client_secret(ClientSecret::new(m.password.clone()));
        }
        client
            .exchange_refresh_token(&RefreshToken::new(m.refresh_token.clone()))
            .request_async(&self.http)
            .await
            .map_err(request_error)
    }

    async fn service_account(&self, m: &Mailbox) -> Result<BasicTokenResponse, TokenError> {
        #[derive(serde::Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            sub: &'a str,
            scope: String,
            aud: &'a str,
            iat: u64,
            exp: u64,
        }
        let key: ServiceAccountKey = serde_json::from_str(&m.password).map_err(|e| {
            TokenError::AuthorizationNeeded(format!("the service account key is not valid: {e}"))
        })?;
        let url = self.token_url(m)?;
        let now = u64::try_from(super::now_unix()).unwrap_or(0);
        let claims = Claims {
            iss: &key.client_email,
            sub: &m.username,
            scope: scopes(m).join(" "),
            aud: url.as_str(),
            iat: now,
            exp: now + 3600,
        };
        let signing = jsonwebtoken::EncodingKey::from_rsa_pem(key.private_key.as_bytes())
            .map_err(|e| TokenError::AuthorizationNeeded(format!("service account key: {e}")))?;
        let assertion = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &signing,
        )
        .map_err(|e| TokenError::Failed(format!("signing the assertion: {e}")))?;
        let resp = self
            .http
            .post(url.as_str())
            .form(&[
                ("grant_type", JWT_BEARER),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| TokenError::Failed(clean(&format!("token request: {e:#}"))))?;
        let status = resp.status();
        let body = read_bounded(resp, MAX_ANSWER)
            .await
            .map_err(TokenError::Failed)?;
        if status.is_success() {
            serde_json::from_slice::<BasicTokenResponse>(&body)
                .map_err(|e| TokenError::Failed(format!("token endpoint answer: {e}")))
        } else {
            match serde_json::from_slice::<BasicErrorResponse>(&body) {
                Ok(r) => Err(request_error::<std::io::Error>(
                    RequestTokenError::ServerResponse(r),
                )),
                Err(_) => Err(TokenError::Failed(format!(
                    "token endpoint answered {status}"
                ))),
            }
        }
    }

    /// Starts a sign-in for an authorization-code mailbox: the URL to send the browser to.
    pub fn authorize(&self, m: &Mailbox, redirect: &str) -> Result<Authorization, String> {
        if m.oauth.authorize_url.is_empty() {
            return Err("this mailbox has no authorization URL".into());
        }
        check_url(&m.oauth.authorize_url, self.allow_private)?;
        let client = BasicClient::new(ClientId::new(m.oauth.client_id.clone()))
            .set_auth_uri(AuthUrl::new(m.oauth.authorize_url.clone()).map_err(|e| e.to_string())?)
            .set_redirect_uri(RedirectUrl::new(redirect.to_owned()).map_err(|e| e.to_string())?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(scopes(m).into_iter().map(Scope::new))
            .set_pkce_challenge(challenge)
            // Google returns a refresh token only with both; others ignore or honour them.
            .add_extra_param("access_type", "offline")
            .add_extra_param("prompt", "consent")
            .add_extra_param("login_hint", m.username.clone())
            .url();
        Ok(Authorization {
            url: url.to_string(),
            state: state.secret().clone(),
            verifier: verifier.secret().clone(),
        })
    }

    /// Finishes a sign-in: trades the code for tokens; the refresh token.
    pub async fn finish(
        &self,
        m: &Mailbox,
        code: &str,
        verifier: &str,
        redirect: &str,
    ) -> Result<String, TokenError> {
        let mut client = BasicClient::new(ClientId::new(m.oauth.client_id.clone()))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(self.token_url(m)?)
            .set_redirect_uri(
                RedirectUrl::new(redirect.to_owned())
                    .map_err(|e| TokenError::Failed(e.to_string()))?,
            );
        if !m.password.is_empty() {
            client = client.set_client_secret(ClientSecret::new(m.password.clone()));
        }
        let answer = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(request_error)?;
        let refresh = answer.refresh_token().ok_or_else(|| {
            TokenError::Failed(
                "the provider issued no refresh token (ask for offline access: the scope offline_access for Microsoft)".into(),
            )
        })?;
        self.forget(m.id);
        Ok(refresh.secret().clone())
    }
}

/// Reads at most `max` bytes of an answer; an error beyond.
pub async fn read_bounded(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| clean(&format!("reading the answer: {e}")))?
    {
        if out.len() + chunk.len() > max {
            return Err(format!("the answer is larger than {max} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox(kind: &str, auth: &str) -> Mailbox {
        Mailbox {
            kind: kind.into(),
            auth: auth.into(),
            host: "https://graph.microsoft.us/".into(),
            ..Mailbox::default()
        }
    }

    #[test]
    fn microsoft_token_urls_come_from_tenant_and_authority() {
        let mut m = mailbox("imap", "client_credentials");
        assert!(token_url(&m).is_err(), "neither tenant nor URL");
        m.oauth.tenant = "contoso.onmicrosoft.com".into();
        assert_eq!(
            token_url(&m).unwrap(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        m.oauth.authority = "https://login.microsoftonline.us/".into();
        assert_eq!(
            token_url(&m).unwrap(),
            "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        m.oauth.token_url = "https://idp.example/token".into();
        assert_eq!(token_url(&m).unwrap(), "https://idp.example/token");
    }

    #[test]
    fn default_scopes_follow_kind_and_method() {
        assert_eq!(
            scopes(&mailbox("imap", "client_credentials")),
            ["https://outlook.office365.com/.default"]
        );
        assert_eq!(
            scopes(&mailbox("graph", "client_credentials")),
            ["https://graph.microsoft.us/.default"]
        );
        assert_eq!(
            scopes(&mailbox("imap", "service_account")),
            ["https://mail.google.com/"]
        );
        let mut m = mailbox("imap", "authorization_code");
        m.oauth.scope = " offline_access  https://outlook.office.com/IMAP.AccessAsUser.All ".into();
        assert_eq!(
            scopes(&m),
            [
                "offline_access",
                "https://outlook.office.com/IMAP.AccessAsUser.All"
            ]
        );
    }

    #[test]
    fn urls_admins_type_are_checked() {
        assert!(check_url("https://login.microsoftonline.com/x", false).is_ok());
        assert!(
            check_url("http://login.example/x", false).is_err(),
            "http only when private endpoints are allowed"
        );
        assert!(check_url("https://127.0.0.1/token", false).is_err());
        assert!(check_url("https://[::1]/token", false).is_err());
        assert!(check_url("https://10.0.0.5/token", false).is_err());
        assert!(check_url("https://127.0.0.1/token", true).is_ok());
        assert!(check_url("ftp://x.example/", true).is_err());
        assert!(check_url("not a url", true).is_err());
    }

    #[test]
    fn provider_words_are_cleaned_and_bounded() {
        assert_eq!(clean("a\nb\u{1b}[31m"), "a b [31m");
        let long = "x".repeat(400);
        assert_eq!(clean(&long).chars().count(), 301);
    }

    #[test]
    fn a_refused_grant_needs_authorization_and_other_errors_do_not() {
        let refused: BasicErrorResponse = serde_json::from_str(
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#,
        )
        .unwrap();
        let e = request_error::<std::io::Error>(RequestTokenError::ServerResponse(refused));
        assert_eq!(
            e,
            TokenError::AuthorizationNeeded(
                "identity provider: invalid_client: AADSTS7000215: Invalid client secret provided."
                    .into()
            )
        );
        let busy: BasicErrorResponse =
            serde_json::from_str(r#"{"error":"temporarily_unavailable"}"#).unwrap();
        assert!(matches!(
            request_error::<std::io::Error>(RequestTokenError::ServerResponse(busy)),
            TokenError::Failed(_)
        ));
    }

    #[test]
    fn service_account_keys_are_read_or_explained() {
        assert!(service_account_key("{}")
            .unwrap_err()
            .contains("JSON key file"));
        let not_rsa = r#"{"client_email":"a@b","private_key":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}"#;
        assert!(service_account_key(not_rsa).unwrap_err().contains("RSA"));
    }
}
