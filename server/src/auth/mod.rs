//! Accounts and credentials: argon2id passwords, API tokens, sign-in with throttling and
//! temporary lockout, the first-run setup token.

pub mod oidc;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use anyhow::Context;
use app::auth::Role;
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use base64::Engine;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::RngCore;

use crate::ingest::{now_unix, sha256_hex};
use crate::store::{Store, User};

/// Consecutive failures that lock an account.
pub const MAX_FAILURES: i64 = 5;
/// How long a locked account stays locked, in seconds.
pub const LOCKOUT_SECONDS: i64 = 15 * 60;
/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Hashes a password with argon2id (CPU-heavy: call from a blocking thread).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))?
        .to_string())
}

/// Checks a password against an argon2 PHC string.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("tlswatch-dummy-password").unwrap_or_default())
}

/// Checks a new password against the policy.
pub fn check_password_policy(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("use at least {MIN_PASSWORD_CHARS} characters"));
    }
    Ok(())
}

/// Normalizes and checks an e-mail address used as a sign-in name.
pub fn normalize_email(email: &str) -> Result<String, String> {
    let e = email.trim().to_ascii_lowercase();
    let valid = e.len() <= 254
        && e.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty()
                && d.contains('.')
                && !d.starts_with('.')
                && !e.contains(char::is_whitespace)
        });
    if valid {
        Ok(e)
    } else {
        Err(format!(
            "{:?} is not an e-mail address",
            crate::domain::report::truncate(email, 80)
        ))
    }
}

/// A new random secret (API token or setup token) and its SHA-256 hash.
pub fn new_secret(prefix: &str) -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = sha256_hex(token.as_bytes());
    (token, hash)
}

/// Why a sign-in failed. The message never says whether the account exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Wrong e-mail or password (or a disabled account).
    #[error("wrong e-mail or password")]
    Invalid,
    /// Too many failures: account or address temporarily locked.
    #[error("too many failed sign-ins; try again in a few minutes")]
    Throttled,
}

/// Sign-in logic with throttling per client address and lockout per account.
#[derive(Clone)]
pub struct Authenticator {
    store: Store,
    per_ip: Arc<DefaultKeyedRateLimiter<IpAddr>>,
}

impl Authenticator {
    /// Allows 10 sign-in attempts a minute per client address.
    pub fn new(store: Store) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN));
        Self {
            store,
            per_ip: Arc::new(RateLimiter::keyed(quota)),
        }
    }

    /// Checks credentials; records failures and locks the account after [`MAX_FAILURES`].
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        ip: Option<IpAddr>,
    ) -> anyhow::Result<Result<User, LoginError>> {
        let now = now_unix();
        if let Some(ip) = ip {
            if self.per_ip.check_key(&ip).is_err() {
                return Ok(Err(LoginError::Throttled));
            }
        }
        let email = normalize_email(email).unwrap_or_default();
        let user = self.store.user_by_email(&email).await?;
        let (hash, user) = match user {
            Some(u) => (u.password_hash.clone(), Some(u)),
            // Same work whether or not the account exists.
            None => (dummy_hash().to_owned(), None),
        };
        let pw = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &hash))
            .await
            .context("password check")?;
        let Some(user) = user else {
            return Ok(Err(LoginError::Invalid));
        };
        // A locked, disabled or wrong attempt all answer "wrong e-mail or password", exactly
        // as for an account that does not exist: the answer never tells which accounts exist.
        if user.locked_until.is_some_and(|t| t > now) {
            tracing::info!(user = user.id, "sign-in refused: account locked");
            return Ok(Err(LoginError::Invalid));
        }
        if !ok || user.disabled {
            let (failures, locked_until) = self
                .store
                .record_failed_login(user.id, now, MAX_FAILURES, LOCKOUT_SECONDS)
                .await?;
            if locked_until.is_some_and(|t| t > now) {
                tracing::warn!(
                    user = user.id,
                    failures,
                    "account locked after failed sign-ins"
                );
            }
            return Ok(Err(LoginError::Invalid));
        }
        self.store.record_login(user.id, true, None).await?;
        Ok(Ok(user))
    }
}

/// Creates a user of the default organization after checking the e-mail and password policy
/// (an admin there administers the instance, as every admin did before organizations).
pub async fn create_user(
    store: &Store,
    email: &str,
    password: &str,
    role: Role,
) -> anyhow::Result<i64> {
    create_member(
        store,
        email,
        password,
        role,
        crate::store::DEFAULT_ORG,
        role == Role::Admin,
    )
    .await
}

/// Creates a user of organization `org` (an instance admin when `instance_admin`) after
/// checking the e-mail and the password policy.
pub async fn create_member(
    store: &Store,
    email: &str,
    password: &str,
    role: Role,
    org: i64,
    instance_admin: bool,
) -> anyhow::Result<i64> {
    let email = normalize_email(email).map_err(anyhow::Error::msg)?;
    check_password_policy(password).map_err(anyhow::Error::msg)?;
    let pw = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || hash_password(&pw)).await??;
    store
        .add_user(&email, &hash, role, org, instance_admin, now_unix())
        .await
}

/// Sets a user's password after checking the policy (and lifts a lockout).
pub async fn set_password(store: &Store, id: i64, password: &str) -> anyhow::Result<()> {
    check_password_policy(password).map_err(anyhow::Error::msg)?;
    let pw = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || hash_password(&pw)).await??;
    anyhow::ensure!(store.set_password_hash(id, &hash).await?, "no such user");
    Ok(())
}

/// When no account exists, makes a one-time setup token valid for a day and returns it.
pub async fn ensure_setup_token(store: &Store) -> anyhow::Result<Option<String>> {
    if store.user_count().await? > 0 {
        return Ok(None);
    }
    let (token, hash) = new_secret("");
    store.set_setup_token(&hash, now_unix() + 86_400).await?;
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email(" Admin@Example.COM "),
            Ok("admin@example.com".into())
        );
        assert!(normalize_email("nobody").is_err());
        assert!(normalize_email("a b@example.com").is_err());
    }

    #[test]
    fn secrets_are_random_and_hashed() {
        let (a, ha) = new_secret("tlsw_");
        let (b, _) = new_secret("tlsw_");
        assert_ne!(a, b);
        assert!(a.starts_with("tlsw_") && a.len() > 40);
        assert_eq!(ha, sha256_hex(a.as_bytes()));
    }
}
