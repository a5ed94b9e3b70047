//! Accounts: users, API tokens, passwords and the audit log.

use std::net::IpAddr;

use app::auth::{CurrentUser, Role};

use super::{Actor, Admin, Outcome, ServiceError, Viewer};
use crate::auth::Authenticator;
use crate::ingest::{now_unix, sha256_hex};
use crate::store::{AuditEntry, Store, Token, User};

/// Account use cases, for every adapter.
#[derive(Clone)]
pub struct Accounts {
    store: Store,
    /// One per server: it holds the sign-in throttle per client address.
    auth: Authenticator,
    /// Whether e-mail and password sign-in is allowed (off: single sign-on only).
    local_passwords: bool,
}

/// A session as stored, and who it is signed in as.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The session's data (the user's id, when it was signed in, when last seen).
    pub data: std::collections::HashMap<String, serde_json::Value>,
    /// The account the data names, unless it is gone or disabled.
    pub user: Option<CurrentUser>,
}

impl SignedIn {
    /// The number under `key` in the session's data.
    pub fn number(&self, key: &str) -> Option<i64> {
        self.data.get(key).and_then(serde_json::Value::as_i64)
    }
}

/// The password hash of an account made by single sign-on: no password matches it.
const NO_PASSWORD: &str = "!sso";

fn current(u: &User) -> CurrentUser {
    CurrentUser {
        id: u.id,
        email: u.email.clone(),
        role: u.role,
        org: u.org_id,
        instance_admin: u.instance_admin,
    }
}

/// Where a new user or token belongs: the caller's organization unless an instance admin
/// names another; instance-wide when an instance admin says so. The default organization is
/// the operator's: an admin there administers the instance (as every admin did before
/// organizations).
#[derive(Debug, Clone, Default)]
pub struct Membership {
    /// The organization's name (`None`: the caller's).
    pub org: Option<String>,
    /// Whether it administers the whole instance.
    pub instance_admin: bool,
}

impl Membership {
    /// The organization id `by` may place something of `role` in, per this membership, and
    /// whether it administers the instance.
    async fn resolve<R: super::Needs>(
        &self,
        store: &Store,
        by: &Actor<R>,
        role: Role,
    ) -> Outcome<(i64, bool)> {
        if self.instance_admin && !by.sees_all() {
            return Err(ServiceError::Forbidden(
                "only an instance admin may create an instance admin".into(),
            ));
        }
        let org = match &self.org {
            None => by.org(),
            Some(name) => match store.org_by_name(name.trim()).await? {
                Some(o) if by.reaches(o.id) => o.id,
                _ => {
                    return Err(ServiceError::NotFound(format!(
                        "no organization called {name:?}"
                    )))
                }
            },
        };
        let instance_admin =
            self.instance_admin || (org == crate::store::DEFAULT_ORG && role == Role::Admin);
        Ok((org, instance_admin))
    }
}

impl Accounts {
    /// Accounts over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            auth: Authenticator::new(store.clone()),
            store,
            local_passwords: true,
        }
    }

    /// The same accounts with e-mail and password sign-in allowed or not.
    pub fn with_local_passwords(mut self, allowed: bool) -> Self {
        self.local_passwords = allowed;
        self
    }

    /// Whether e-mail and password sign-in is allowed.
    pub fn local_passwords(&self) -> bool {
        self.local_passwords
    }

    /// Signs in the person the identity provider vouched for, placed by its claims: the
    /// account is made at the first sign-in and its organization and role follow the claims
    /// at every sign-in. A claim naming an organization tlswatch does not have is refused.
    pub async fn sso_sign_in(
        &self,
        email: &str,
        placement: &crate::auth::oidc::Placement,
        ip: Option<IpAddr>,
    ) -> Outcome<CurrentUser> {
        let shown_ip = ip.map(|ip| ip.to_string());
        let email = crate::auth::normalize_email(email).map_err(ServiceError::Invalid)?;
        let org = match &placement.org {
            None => crate::store::DEFAULT_ORG,
            Some(name) => match self.store.org_by_name(name).await? {
                Some(o) => o.id,
                None => {
                    super::audit_as(
                        &self.store,
                        &email,
                        crate::store::DEFAULT_ORG,
                        shown_ip.as_deref(),
                        "sign-in.sso.refused",
                        &format!("unknown organization {name:?}"),
                    )
                    .await;
                    return Err(ServiceError::Forbidden(format!(
                        "your organization {:?} is not set up in tlswatch; ask its administrator",
                        crate::domain::report::truncate(name, 64)
                    )));
                }
            },
        };
        let role = placement.role;
        let user = match self.store.user_by_email(&email).await? {
            Some(u) if u.disabled => {
                return Err(ServiceError::Forbidden(
                    "this account is disabled in tlswatch".into(),
                ))
            }
            Some(u) => {
                let instance_admin = (org == crate::store::DEFAULT_ORG && role == Role::Admin)
                    || (u.instance_admin && u.org_id == org);
                self.store
                    .set_membership(u.id, org, role, instance_admin)
                    .await?;
                self.store
                    .user_by_id(u.id)
                    .await?
                    .ok_or(ServiceError::Unavailable)?
            }
            None => {
                let instance_admin = org == crate::store::DEFAULT_ORG && role == Role::Admin;
                let id = self
                    .store
                    .add_user(&email, NO_PASSWORD, role, org, instance_admin, now_unix())
                    .await?;
                self.store
                    .user_by_id(id)
                    .await?
                    .ok_or(ServiceError::Unavailable)?
            }
        };
        super::audit_as(
            &self.store,
            &user.email,
            user.org_id,
            shown_ip.as_deref(),
            "sign-in.sso",
            &format!("as {} in organization {}", role.as_str(), user.org_id),
        )
        .await;
        Ok(current(&user))
    }

    /// Checks an e-mail and password (throttled per client address, locking the account after
    /// repeated failures) and audits the attempt. Every refusal answers the same
    /// ([`ServiceError::Forbidden`]), whether or not the account exists.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        ip: Option<IpAddr>,
    ) -> Outcome<CurrentUser> {
        let shown_ip = ip.map(|ip| ip.to_string());
        if !self.local_passwords {
            return Err(ServiceError::Forbidden(
                "sign-in with a password is turned off here: use single sign-on".into(),
            ));
        }
        match self.auth.login(email, password, ip).await? {
            Ok(user) => {
                super::audit_as(
                    &self.store,
                    &user.email,
                    user.org_id,
                    shown_ip.as_deref(),
                    "sign-in",
                    "",
                )
                .await;
                Ok(current(&user))
            }
            Err(e) => {
                let who = crate::domain::report::truncate(email, 254);
                super::audit_as(
                    &self.store,
                    who,
                    crate::store::DEFAULT_ORG,
                    shown_ip.as_deref(),
                    "sign-in.failed",
                    &e.to_string(),
                )
                .await;
                Err(ServiceError::Forbidden(e.to_string()))
            }
        }
    }

    /// Audits a sign-out.
    pub async fn sign_out(&self, by: &Actor<Viewer>) {
        self.audit(by, "sign-out", "").await;
    }

    /// The first-run setup: with the one-time token printed at start, creates the first admin
    /// while no account exists. Possession of the token is the authorization.
    pub async fn first_admin(
        &self,
        token: &str,
        email: &str,
        password: &str,
        ip: Option<&str>,
    ) -> Outcome<CurrentUser> {
        if self.store.user_count().await? > 0 {
            return Err(ServiceError::Conflict(
                "setup is done: an account exists already".into(),
            ));
        }
        let email = crate::auth::normalize_email(email).map_err(ServiceError::Invalid)?;
        crate::auth::check_password_policy(password).map_err(ServiceError::Invalid)?;
        let hash = sha256_hex(token.trim().as_bytes());
        if !self.store.take_setup_token(&hash, now_unix()).await? {
            return Err(ServiceError::Forbidden("this setup link is invalid or expired; restart tlswatch for a new one, or use `tlswatch user add`".into()));
        }
        let org = crate::store::DEFAULT_ORG;
        let id = crate::auth::create_member(&self.store, &email, password, Role::Admin, org, true)
            .await?;
        super::audit_as(&self.store, &email, org, ip, "setup", "first admin created").await;
        Ok(CurrentUser {
            id,
            email,
            role: Role::Admin,
            org,
            instance_admin: true,
        })
    }

    /// The caller a bearer token stands for (`token:NAME`), recording its use; `None` when
    /// the token is unknown or revoked.
    pub async fn token_user(&self, token: &str) -> Outcome<Option<CurrentUser>> {
        Ok(self
            .store
            .use_token(&sha256_hex(token.as_bytes()), now_unix())
            .await?
            .map(|t| CurrentUser {
                id: 0,
                email: format!("token:{}", t.name),
                role: t.role,
                org: t.org_id,
                instance_admin: t.instance_admin,
            }))
    }

    /// The session `id` (unless it has expired) and its signed-in user, unless the account
    /// is gone or disabled: what every signed-in request is checked against, read at once.
    pub async fn session(&self, id: &str) -> Outcome<Option<SignedIn>> {
        Ok(self
            .store
            .session_with_user(id, now_unix())
            .await?
            .map(|s| SignedIn {
                user: s.user.filter(|u| !u.disabled).map(|u| current(&u)),
                data: s.data,
            }))
    }

    async fn audit<R: super::Needs>(&self, by: &Actor<R>, action: &str, detail: &str) {
        super::audit(&self.store, by, action, detail).await;
    }

    /// The users of the caller's organization (an instance admin: every user).
    pub async fn users(&self, by: &Actor<Admin>) -> Outcome<Vec<User>> {
        Ok(self.store.users_of(by.org_filter()).await?)
    }

    /// Adds a user of the caller's organization after checking the e-mail and the password
    /// policy.
    pub async fn add_user(
        &self,
        by: &Actor<Admin>,
        email: &str,
        password: &str,
        role: Role,
    ) -> Outcome<i64> {
        self.add_member(by, email, password, role, &Membership::default())
            .await
    }

    /// [`Self::add_user`] in the organization `membership` names (instance admins).
    pub async fn add_member(
        &self,
        by: &Actor<Admin>,
        email: &str,
        password: &str,
        role: Role,
        membership: &Membership,
    ) -> Outcome<i64> {
        let email = crate::auth::normalize_email(email).map_err(ServiceError::Invalid)?;
        crate::auth::check_password_policy(password).map_err(ServiceError::Invalid)?;
        let (org, instance_admin) = membership.resolve(&self.store, by, role).await?;
        let id =
            crate::auth::create_member(&self.store, &email, password, role, org, instance_admin)
                .await?;
        self.audit(
            by,
            "user.add",
            &format!(
                "{email} as {} in organization {org}{}",
                role.as_str(),
                if instance_admin {
                    ", instance admin"
                } else {
                    ""
                }
            ),
        )
        .await;
        Ok(id)
    }

    /// A user the caller reaches, or "not found".
    async fn reachable_user(&self, by: &Actor<Admin>, user: Option<User>) -> Outcome<User> {
        user.filter(|u| by.reaches(u.org_id))
            .ok_or_else(|| ServiceError::NotFound("no such user".into()))
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
        let found = self.store.user_by_id(id).await?;
        let u = self.reachable_user(by, found).await?;
        self.store.update_user(id, role, disabled).await?;
        self.audit(
            by,
            "user.update",
            &format!("{}: role {}, disabled {disabled}", u.email, role.as_str()),
        )
        .await;
        Ok(())
    }

    /// The user with this e-mail.
    pub async fn find_user(&self, by: &Actor<Admin>, email: &str) -> Outcome<User> {
        let email = crate::auth::normalize_email(email).map_err(ServiceError::Invalid)?;
        self.store
            .user_by_email(&email)
            .await?
            .filter(|u| by.reaches(u.org_id))
            .ok_or_else(|| ServiceError::NotFound(format!("no user {email}")))
    }

    /// Sets a user's password (policy checked; lifts a lockout).
    pub async fn set_password(
        &self,
        by: &Actor<Admin>,
        email: &str,
        password: &str,
    ) -> Outcome<()> {
        let user = self.find_user(by, email).await?;
        crate::auth::check_password_policy(password).map_err(ServiceError::Invalid)?;
        crate::auth::set_password(&self.store, user.id, password).await?;
        self.audit(by, "user.set-password", &user.email).await;
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

    /// The tokens of the caller's organization (an instance admin: every token), newest first.
    pub async fn tokens(&self, by: &Actor<Admin>) -> Outcome<Vec<Token>> {
        Ok(self.store.tokens_of(by.org_filter()).await?)
    }

    /// Creates a token of the caller's organization; the secret, shown once (only its hash
    /// is stored).
    pub async fn create_token(&self, by: &Actor<Admin>, name: &str, role: Role) -> Outcome<String> {
        self.create_token_in(by, name, role, &Membership::default())
            .await
    }

    /// [`Self::create_token`] in the organization `membership` names (instance admins).
    pub async fn create_token_in(
        &self,
        by: &Actor<Admin>,
        name: &str,
        role: Role,
        membership: &Membership,
    ) -> Outcome<String> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(ServiceError::Invalid(
                "give the token a name (at most 100 characters)".into(),
            ));
        }
        let (org, instance_admin) = membership.resolve(&self.store, by, role).await?;
        let (token, hash) = crate::auth::new_secret("tlsw_");
        self.store
            .add_org_token(
                name,
                &hash,
                role,
                org,
                instance_admin,
                by.name(),
                now_unix(),
            )
            .await?;
        self.audit(
            by,
            "token.create",
            &format!("{name} ({}) in organization {org}", role.as_str()),
        )
        .await;
        Ok(token)
    }

    /// Revokes a live token.
    pub async fn revoke_token(&self, by: &Actor<Admin>, id: i64) -> Outcome<()> {
        if !self
            .store
            .revoke_token_of(id, by.org_filter(), now_unix())
            .await?
        {
            return Err(ServiceError::NotFound("no such live token".into()));
        }
        self.audit(by, "token.revoke", &format!("token {id}")).await;
        Ok(())
    }

    /// The newest audit entries.
    pub async fn audit_log(&self, by: &Actor<Admin>, limit: i64) -> Outcome<Vec<AuditEntry>> {
        Ok(self.store.audit_log_of(by.org_filter(), limit).await?)
    }
}
