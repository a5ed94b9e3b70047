//! Single sign-on with OpenID Connect: discovery, the authorization code flow with PKCE and a
//! nonce, the ID token checked by `openidconnect` (signature with the provider's keys,
//! issuer, audience, expiry, nonce), the user info, and the mapping of claims to an
//! organization and a role.

use std::sync::Arc;
use std::time::{Duration, Instant};

use app::auth::Role;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreProviderMetadata,
};
use openidconnect::{
    AdditionalClaims, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    UserInfoClaims,
};
use serde::{Deserialize, Serialize};

/// The single sign-on settings (`TLSWATCH_OIDC_*`).
#[derive(Debug, Clone)]
pub struct SsoSettings {
    /// The provider's issuer URL.
    pub issuer: String,
    /// The client id.
    pub client_id: String,
    /// The client secret (`None`: a public client, PKCE only).
    pub client_secret: Option<String>,
    /// Send the secret in the token request's body (`client_secret_post`) instead of HTTP
    /// basic authentication (`client_secret_basic`).
    pub post_secret: bool,
    /// Scopes besides `openid`.
    pub scopes: Vec<String>,
    /// Dotted path of the claim naming the organization.
    pub org_claim: Option<String>,
    /// Dotted path of the claim holding the role.
    pub role_claim: Option<String>,
    /// The role when the claim says none.
    pub default_role: Role,
    /// Dotted path of the groups claim.
    pub groups_claim: String,
    /// Members of one of these groups may sign in (empty: everyone).
    pub allowed_groups: Vec<String>,
    /// The sign-in button's words.
    pub button: String,
}

/// Every claim, kept as JSON (the organization, role and groups claims are configurable).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct OtherClaims {
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

impl AdditionalClaims for OtherClaims {}

/// A sign-in under way, kept in the browser's session until the provider sends it back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    /// The `state` parameter (CSRF guard of the flow).
    pub state: String,
    /// The PKCE verifier.
    pub verifier: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// Where to go after signing in (a path on this site).
    pub next: String,
    /// Unix seconds it started.
    pub started_at: i64,
}

/// Who the provider signed in, with every claim of the ID token and the user info.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The subject at the provider.
    pub subject: String,
    /// The e-mail address (lowercase).
    pub email: String,
    /// All claims.
    pub claims: serde_json::Value,
}

/// What the claims say: where the user belongs and as what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The organization's name (`None`: the default organization).
    pub org: Option<String>,
    /// The role in it.
    pub role: Role,
}

/// Why a sign-in did not happen, in words for the person at the browser.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsoError {
    /// The provider signed the person in, but tlswatch does not let them in.
    #[error("{0}")]
    Refused(String),
    /// The flow failed (provider unreachable, a token that does not verify, a stale state).
    #[error("{0}")]
    Failed(String),
}

/// The value at a dotted path (`a.b.c`) of a JSON object; a key with dots in it is tried
/// whole first (some providers name claims with URLs).
pub fn claim_at<'a>(claims: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    path.split('.').try_fold(claims, |v, key| v.get(key))
}

/// A claim's values as strings: a string, a number, or an array of those.
fn strings(v: Option<&serde_json::Value>) -> Vec<String> {
    match v {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|x| match x {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        Some(serde_json::Value::Number(n)) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

/// Where the claims place the user, or why they may not sign in.
pub fn place(settings: &SsoSettings, claims: &serde_json::Value) -> Result<Placement, SsoError> {
    if !settings.allowed_groups.is_empty() {
        let groups = strings(claim_at(claims, &settings.groups_claim));
        if !groups.iter().any(|g| settings.allowed_groups.contains(g)) {
            return Err(SsoError::Refused(format!(
                "your account is not in a group allowed to use tlswatch (allowed: {}); ask your administrator to add you",
                settings.allowed_groups.join(", ")
            )));
        }
    }
    let role = match &settings.role_claim {
        None => settings.default_role,
        Some(path) => match strings(claim_at(claims, path)).first() {
            None => settings.default_role,
            Some(r) => Role::parse(r).ok_or_else(|| {
                SsoError::Refused(format!(
                    "the identity provider gives you the role {:?}, which tlswatch does not know (viewer, editor, admin)",
                    crate::domain::report::truncate(r, 64)
                ))
            })?,
        },
    };
    let org = settings
        .org_claim
        .as_ref()
        .and_then(|path| strings(claim_at(claims, path)).into_iter().next())
        .map(|o| o.trim().to_owned())
        .filter(|o| !o.is_empty());
    Ok(Placement { org, role })
}

/// The provider, discovered once and again every few minutes (its keys rotate).
#[derive(Clone)]
pub struct Sso {
    settings: Arc<SsoSettings>,
    http: reqwest::Client,
    discovered: Arc<tokio::sync::Mutex<Option<(Instant, CoreProviderMetadata)>>>,
}

const REDISCOVER: Duration = Duration::from_secs(600);
/// A sign-in must come back within this many seconds.
pub const PENDING_SECS: i64 = 600;

impl Sso {
    /// Single sign-on with `settings`; `tls` verifies the provider (the system's roots plus
    /// `TLSWATCH_EXTRA_CA_FILE`). Redirects are not followed.
    pub fn new(settings: SsoSettings, tls: Arc<rustls::ClientConfig>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("tlswatch/", env!("CARGO_PKG_VERSION")))
            .build()?;
        IssuerUrl::new(settings.issuer.clone())
            .map_err(|e| anyhow::anyhow!("TLSWATCH_OIDC_ISSUER: {e}"))?;
        Ok(Self {
            settings: Arc::new(settings),
            http,
            discovered: Arc::default(),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &SsoSettings {
        &self.settings
    }

    async fn metadata(&self, fresh: bool) -> Result<CoreProviderMetadata, SsoError> {
        let mut cached = self.discovered.lock().await;
        if let Some((at, m)) = cached.as_ref() {
            if !fresh && at.elapsed() < REDISCOVER {
                return Ok(m.clone());
            }
        }
        let issuer = IssuerUrl::new(self.settings.issuer.clone())
            .map_err(|e| SsoError::Failed(format!("the issuer URL is wrong: {e}")))?;
        let m = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| {
                tracing::warn!(error = %error_chain(&e), "OpenID provider discovery failed");
                SsoError::Failed(
                    "the identity provider could not be reached; try again in a moment".into(),
                )
            })?;
        *cached = Some((Instant::now(), m.clone()));
        Ok(m)
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
        redirect: &str,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        SsoError,
    > {
        let redirect = RedirectUrl::new(redirect.to_owned())
            .map_err(|e| SsoError::Failed(format!("the redirect URL is wrong: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            self.settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect)
        .set_auth_type(if self.settings.post_secret {
            AuthType::RequestBody
        } else {
            AuthType::BasicAuth
        }))
    }

    /// Starts a sign-in: the provider's URL to send the browser to, and what to keep in the
    /// session for [`Self::finish`].
    pub async fn start(&self, redirect: &str, next: &str) -> Result<(String, Pending), SsoError> {
        let client = self.client(self.metadata(false).await?, redirect)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for s in &self.settings.scopes {
            request = request.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok((
            url.to_string(),
            Pending {
                state: state.secret().clone(),
                verifier: verifier.secret().clone(),
                nonce: nonce.secret().clone(),
                next: next.to_owned(),
                started_at: crate::ingest::now_unix(),
            },
        ))
    }

    /// Finishes a sign-in the provider sent back with `code` and `state`: the code traded
    /// (with the PKCE verifier), the ID token checked, the user info read.
    pub async fn finish(
        &self,
        pending: Pending,
        code: &str,
        state: &str,
        redirect: &str,
    ) -> Result<Identity, SsoError> {
        use subtle::ConstantTimeEq;
        let same_state: bool = pending.state.as_bytes().ct_eq(state.as_bytes()).into();
        if !same_state || crate::ingest::now_unix() - pending.started_at > PENDING_SECS {
            return Err(SsoError::Failed(
                "this sign-in is unknown or too old; start it again".into(),
            ));
        }
        let metadata = self.metadata(false).await?;
        let client = self.client(metadata, redirect)?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| {
                SsoError::Failed(format!("the identity provider has no token endpoint: {e}"))
            })?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| {
                tracing::warn!(error = %error_chain(&e), "OpenID code exchange failed");
                SsoError::Failed(
                    "the identity provider refused to complete the sign-in; start it again".into(),
                )
            })?;
        let id_token = token
            .extra_fields()
            .id_token()
            .ok_or_else(|| SsoError::Failed("the identity provider sent no ID token".into()))?;
        let nonce = Nonce::new(pending.nonce);
        let verified = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(c) => c.clone(),
            Err(e) => {
                // The provider may have rotated its keys since discovery: once more, fresh.
                tracing::info!(error = %e, "ID token did not verify; discovering the provider again");
                let fresh = self.client(self.metadata(true).await?, redirect)?;
                let verifier = fresh.id_token_verifier();
                let claims = id_token.claims(&verifier, &nonce).map_err(|e| {
                    tracing::warn!(error = %e, "ID token refused");
                    SsoError::Failed("the identity provider's ID token did not verify".into())
                })?;
                claims.clone()
            }
        };
        // Every claim of the (now verified) ID token, then the user info on top.
        let mut claims = id_token_payload(&id_token.to_string()).unwrap_or_default();
        if let Ok(request) = client.user_info(
            token.access_token().clone(),
            Some(verified.subject().clone()),
        ) {
            match request
                .request_async::<OtherClaims, _, CoreGenderClaim>(&self.http)
                .await
            {
                Ok(info) => merge(&mut claims, &info),
                Err(e) => {
                    tracing::warn!(error = %error_chain(&e), "OpenID user info unreadable; using the ID token's claims")
                }
            }
        }
        let email = claims
            .get("email")
            .and_then(|e| e.as_str())
            .map(str::to_ascii_lowercase)
            .or_else(|| verified.email().map(|e| e.as_str().to_ascii_lowercase()))
            .ok_or_else(|| {
                SsoError::Refused("the identity provider did not tell tlswatch your e-mail address (the `email` scope and claim are needed)".into())
            })?;
        if claims.get("email_verified").and_then(|v| v.as_bool()) == Some(false) {
            return Err(SsoError::Refused(
                "your e-mail address is not verified at the identity provider".into(),
            ));
        }
        Ok(Identity {
            subject: verified.subject().to_string(),
            email,
            claims,
        })
    }
}

/// The payload of a compact JWT as JSON (called only after the token verified).
fn id_token_payload(jwt: &str) -> Option<serde_json::Value> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn merge(claims: &mut serde_json::Value, info: &UserInfoClaims<OtherClaims, CoreGenderClaim>) {
    let Ok(serde_json::Value::Object(more)) = serde_json::to_value(info) else {
        return;
    };
    if !claims.is_object() {
        *claims = serde_json::Value::Object(serde_json::Map::new());
    }
    if let Some(map) = claims.as_object_mut() {
        for (k, v) in more {
            map.insert(k, v);
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> SsoSettings {
        SsoSettings {
            issuer: "https://id.example".into(),
            client_id: "tlswatch".into(),
            client_secret: None,
            post_secret: false,
            scopes: vec!["email".into()],
            org_claim: Some("tlswatch.org".into()),
            role_claim: Some("tlswatch.role".into()),
            default_role: Role::Viewer,
            groups_claim: "groups".into(),
            allowed_groups: vec!["mail-team".into()],
            button: "Sign in".into(),
        }
    }

    #[test]
    fn dotted_paths_and_whole_keys() {
        let c = json!({"tlswatch": {"org": "acme"}, "https://x.example/roles": ["admin"]});
        assert_eq!(claim_at(&c, "tlswatch.org"), Some(&json!("acme")));
        assert_eq!(
            claim_at(&c, "https://x.example/roles"),
            Some(&json!(["admin"]))
        );
        assert_eq!(claim_at(&c, "tlswatch.nothing"), None);
    }

    #[test]
    fn groups_roles_and_organizations() {
        let s = settings();
        let ok =
            json!({"groups": ["x", "mail-team"], "tlswatch": {"org": " acme ", "role": "editor"}});
        assert_eq!(
            place(&s, &ok),
            Ok(Placement {
                org: Some("acme".into()),
                role: Role::Editor
            })
        );
        let outside = json!({"groups": ["x"], "tlswatch": {"org": "acme", "role": "admin"}});
        assert!(
            matches!(place(&s, &outside), Err(SsoError::Refused(m)) if m.contains("not in a group"))
        );
        let no_groups = json!({"tlswatch": {"org": "acme"}});
        assert!(matches!(place(&s, &no_groups), Err(SsoError::Refused(_))));
        let unknown_role = json!({"groups": "mail-team", "tlswatch": {"role": "root"}});
        assert!(
            matches!(place(&s, &unknown_role), Err(SsoError::Refused(m)) if m.contains("\"root\""))
        );
        let defaults = json!({"groups": ["mail-team"]});
        assert_eq!(
            place(&s, &defaults),
            Ok(Placement {
                org: None,
                role: Role::Viewer
            })
        );
        let open = SsoSettings {
            allowed_groups: Vec::new(),
            ..s
        };
        assert!(place(&open, &json!({})).is_ok());
    }

    #[test]
    fn payload_of_a_compact_token() {
        use base64::Engine;
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"a","groups":["g"]}"#);
        let v = id_token_payload(&format!("h.{body}.s")).unwrap();
        assert_eq!(v["groups"], json!(["g"]));
        assert!(id_token_payload("nodots").is_none());
    }
}
