//! Accounts: users, API tokens, passwords and the audit log.

use app::auth::Role;

use super::{Actor, Admin, Outcome, ServiceError, Viewer};
use crate::ingest::now_unix;
use crate::store::{AuditEntry, Store, Token, User};

/// Account use cases, for every adapter.
#[derive(Clone)]
pub struct Accounts {
    store: Store,
}

impl Accounts {
    /// Accounts over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    async fn audit<R: super::Needs>(&self, by: &Actor<R>, action: &str, detail: &str) {
        super::audit(&self.store, by, action, detail).await;
    }

    /// Every user.
    pub async fn users(&self, _: &Actor<Admin>) -> Outcome<Vec<User>> {
        Ok(self.store.users().await?)
    }

    /// Adds a user after checking the e-mail and the password policy.
    pub async fn add_user(
        &self,
        by: &Actor<Admin>,
        email: &str,
        password: &str,
        role: Role,
    ) -> Outcome<i64> {
        let email = crate::auth::normalize_email(email).map_err(ServiceError::Invalid)?;
        crate::auth::check_password_policy(password).map_err(ServiceError::Invalid)?;
        let id = crate::auth::create_user(&self.store, &email, password, role).await?;
        self.audit(by, "user.add", &format!("{email} as {}", role.as_str()))
            .await;
        Ok(id)
    }

    /// Changes a user's role and disabled flag; an admin cannot demote or disable themselves.
    pub async fn update_user(
        &self,
        by: &Actor<Admin>,
        id: i64,
        role: Role,
        disabled: bool,
    ) -> Outcome<()> {
        if id == by.user().id && (role != Role::Admin || disabled) {
            return Err(ServiceError::Conflict(
                "you cannot demote or disable yourself; ask another admin".into(),
            ));
        }
        let u = self
            .store
            .user_by_id(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound("no such user".into()))?;
        self.store.update_user(id, role, disabled).await?;
        self.audit(
            by,
            "user.update",
            &format!("{}: role {}, disabled {disabled}", u.email, role.as_str()),
        )
        .await;
        Ok(())
    }

    /// The caller changes their own password, proving the current one.
    pub async fn change_own_password(
        &self,
        by: &Actor<Viewer>,
        current: String,
        new: String,
    ) -> Outcome<()> {
        if by.user().id == 0 {
            return Err(ServiceError::Invalid("API tokens have no password".into()));
        }
        let user = self
            .store
            .user_by_id(by.user().id)
            .await?
            .ok_or_else(|| ServiceError::NotFound("no such user".into()))?;
        let hash = user.password_hash.clone();
        let ok = tokio::task::spawn_blocking(move || crate::auth::verify_password(&current, &hash))
            .await
            .unwrap_or(false);
        if !ok {
            self.audit(by, "password.change.failed", "wrong current password")
                .await;
            return Err(ServiceError::Invalid(
                "the current password is wrong".into(),
            ));
        }
        crate::auth::check_password_policy(&new).map_err(ServiceError::Invalid)?;
        crate::auth::set_password(&self.store, user.id, &new).await?;
        self.audit(by, "password.change", "").await;
        Ok(())
    }

    /// Every token, newest first.
    pub async fn tokens(&self, _: &Actor<Admin>) -> Outcome<Vec<Token>> {
        Ok(self.store.tokens().await?)
    }

    /// Creates a token; the secret, shown once (only its hash is stored).
    pub async fn create_token(&self, by: &Actor<Admin>, name: &str, role: Role) -> Outcome<String> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(ServiceError::Invalid(
                "give the token a name (at most 100 characters)".into(),
            ));
        }
        let (token, hash) = crate::auth::new_secret("tlsw_");
        self.store
            .add_token(name, &hash, role, by.name(), now_unix())
            .await?;
        self.audit(by, "token.create", &format!("{name} ({})", role.as_str()))
            .await;
        Ok(token)
    }

    /// Revokes a live token.
    pub async fn revoke_token(&self, by: &Actor<Admin>, id: i64) -> Outcome<()> {
        if !self.store.revoke_token(id, now_unix()).await? {
            return Err(ServiceError::NotFound("no such live token".into()));
        }
        self.audit(by, "token.revoke", &format!("token {id}")).await;
        Ok(())
    }

    /// The newest audit entries.
    pub async fn audit_log(&self, _: &Actor<Admin>, limit: i64) -> Outcome<Vec<AuditEntry>> {
        Ok(self.store.audit_log(limit).await?)
    }
}
