//! Users, API tokens, sessions, the setup token and the audit log.

use anyhow::Context;
use app::auth::Role;
use async_trait::async_trait;
use sqlx::Row;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use std::collections::HashMap;

use super::{Backend, Store};

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// Sign-in e-mail (lowercase).
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Unix seconds it was created.
    pub created_at: i64,
    /// Disabled users cannot sign in.
    pub disabled: bool,
    /// Consecutive failed sign-ins.
    pub failed_logins: i64,
    /// Sign-in refused until then (Unix seconds).
    pub locked_until: Option<i64>,
    /// The organization the user belongs to.
    pub org_id: i64,
    /// Whether the user administers the whole instance.
    pub instance_admin: bool,
}

/// An API token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Row id.
    pub id: i64,
    /// Name given at creation.
    pub name: String,
    /// Role it grants.
    pub role: Role,
    /// Who created it.
    pub created_by: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of last use.
    pub last_used_at: Option<i64>,
    /// Unix seconds it was revoked.
    pub revoked_at: Option<i64>,
    /// The organization it acts in.
    pub org_id: i64,
    /// Whether it acts for the whole instance.
    pub instance_admin: bool,
}

/// Who a live API token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCaller {
    /// Its name.
    pub name: String,
    /// Its role inside its organization.
    pub role: Role,
    /// Its organization.
    pub org_id: i64,
    /// Whether it acts for the whole instance.
    pub instance_admin: bool,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Unix seconds.
    pub at: i64,
    /// Who did it.
    pub actor: String,
    /// What (`sign-in`, `user.add`, …).
    pub action: String,
    /// Details.
    pub detail: String,
    /// Client address.
    pub ip: Option<String>,
}

const USER_COLUMNS: &str =
    "id, email, password_hash, role, created_at, disabled, failed_logins, locked_until, org_id, instance_admin";

fn user_from_row(r: &sqlx::any::AnyRow) -> anyhow::Result<User> {
    user_from_row_at(r, 0)
}

/// A user from [`USER_COLUMNS`] starting at column `at` of `r`.
fn user_from_row_at(r: &sqlx::any::AnyRow, at: usize) -> anyhow::Result<User> {
    Ok(User {
        id: r.try_get(at)?,
        email: r.try_get(at + 1)?,
        password_hash: r.try_get(at + 2)?,
        role: Role::parse(&r.try_get::<String, _>(at + 3)?).unwrap_or(Role::Viewer),
        created_at: r.try_get(at + 4)?,
        disabled: r.try_get::<i64, _>(at + 5)? != 0,
        failed_logins: r.try_get(at + 6)?,
        locked_until: r.try_get(at + 7)?,
        org_id: r.try_get(at + 8)?,
        instance_admin: r.try_get::<i64, _>(at + 9)? != 0,
    })
}

/// A session that has not expired, and the account it is signed in as.
#[derive(Debug, Clone)]
pub struct SessionWithUser {
    /// The session's data ([`DbSessionStore`] writes it as a JSON object).
    pub data: HashMap<String, serde_json::Value>,
    /// The account named by the data's `user_id`, when there is one and it still exists.
    pub user: Option<User>,
}

/// A token's last use is recorded to this many seconds.
pub const TOKEN_USE_PRECISION_SECS: i64 = 60;

impl Store {
    /// Number of user accounts.
    pub async fn user_count(&self) -> anyhow::Result<i64> {
        let (n,): (i64,) = sqlx::query_as("select count(*) from app_user")
            .fetch_one(self.pool())
            .await
            .context("counting users")?;
        Ok(n)
    }

    /// Creates a user of organization `org` (an instance admin when `instance_admin`); fails
    /// if the e-mail exists.
    pub async fn add_user(
        &self,
        email: &str,
        password_hash: &str,
        role: Role,
        org: i64,
        instance_admin: bool,
        now: i64,
    ) -> anyhow::Result<i64> {
        let _guard = self.write_guard().await?;
        let (id,): (i64,) = sqlx::query_as("insert into app_user (email, password_hash, role, created_at, org_id, instance_admin) values ($1, $2, $3, $4, $5, $6) returning id")
            .bind(email)
            .bind(password_hash)
            .bind(role.as_str())
            .bind(now)
            .bind(org)
            .bind(i64::from(instance_admin))
            .fetch_one(self.pool())
            .await
            .map_err(|e| super::unique_violation(e, "a user with this e-mail address exists"))?;
        Ok(id)
    }

    /// A user by e-mail.
    pub async fn user_by_email(&self, email: &str) -> anyhow::Result<Option<User>> {
        let row = sqlx::query(&format!(
            "select {USER_COLUMNS} from app_user where email = $1"
        ))
        .bind(email)
        .fetch_optional(self.pool())
        .await
        .context("reading user")?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// A user by id.
    pub async fn user_by_id(&self, id: i64) -> anyhow::Result<Option<User>> {
        let row = sqlx::query(&format!(
            "select {USER_COLUMNS} from app_user where id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .context("reading user")?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// The session `id`, unless it has expired by `now`, with the account its data's
    /// `user_id` names, in one query: every signed-in request needs both, and on SQLite each
    /// query through the pool is two hand-offs to a connection's thread and back (the query,
    /// then the pool's check of the connection on its return).
    pub async fn session_with_user(
        &self,
        id: &str,
        now: i64,
    ) -> anyhow::Result<Option<SessionWithUser>> {
        let user_id = match self.backend() {
            Backend::Sqlite => "json_extract(s.data, '$.user_id')",
            // A number in the JSON (as written by the session store); anything else names no
            // account rather than failing the cast.
            Backend::Postgres => {
                "case when json_typeof(s.data::json -> 'user_id') = 'number' \
                 then (s.data::json ->> 'user_id')::bigint end"
            }
        };
        let columns: Vec<String> = USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect();
        let row = sqlx::query(&format!(
            "select s.data, {} from session s left join app_user u on u.id = {user_id}
             where s.id = $1 and s.expiry_date > $2",
            columns.join(", ")
        ))
        .bind(id)
        .bind(now)
        .fetch_optional(self.pool())
        .await
        .context("reading the session")?;
        let Some(row) = row else {
            return Ok(None);
        };
        let data: String = row.try_get(0)?;
        let user = match row.try_get::<Option<i64>, _>(1)? {
            Some(_) => Some(user_from_row_at(&row, 1)?),
            None => None,
        };
        Ok(Some(SessionWithUser {
            data: serde_json::from_str(&data).context("reading the session's data")?,
            user,
        }))
    }

    /// Every user, by e-mail.
    pub async fn users(&self) -> anyhow::Result<Vec<User>> {
        self.users_of(None).await
    }

    /// The users of organization `org` (every user for `None`), by e-mail.
    pub async fn users_of(&self, org: Option<i64>) -> anyhow::Result<Vec<User>> {
        let rows = sqlx::query(&format!(
            "select {USER_COLUMNS} from app_user where $1 is null or org_id = $1 order by email"
        ))
        .bind(org)
        .fetch_all(self.pool())
        .await
        .context("listing users")?;
        rows.iter().map(user_from_row).collect()
    }

    /// Changes role and disabled flag.
    pub async fn update_user(&self, id: i64, role: Role, disabled: bool) -> anyhow::Result<()> {
        let _guard = self.write_guard().await?;
        sqlx::query("update app_user set role = $1, disabled = $2 where id = $3")
            .bind(role.as_str())
            .bind(i64::from(disabled))
            .bind(id)
            .execute(self.pool())
            .await
            .context("updating user")?;
        Ok(())
    }

    /// Moves a user to organization `org` with `role` (single sign-on: the identity
    /// provider's claims decide at every sign-in).
    pub async fn set_membership(
        &self,
        id: i64,
        org: i64,
        role: Role,
        instance_admin: bool,
    ) -> anyhow::Result<()> {
        let _guard = self.write_guard().await?;
        sqlx::query(
            "update app_user set org_id = $1, role = $2, instance_admin = $3 where id = $4",
        )
        .bind(org)
        .bind(role.as_str())
        .bind(i64::from(instance_admin))
        .bind(id)
        .execute(self.pool())
        .await
        .context("changing a user's organization")?;
        Ok(())
    }

    /// Records a sign-in attempt's result: resets or increments the failure count and sets the lockout.
    pub async fn record_login(
        &self,
        id: i64,
        ok: bool,
        locked_until: Option<i64>,
    ) -> anyhow::Result<()> {
        let _guard = self.write_guard().await?;
        let sql = if ok {
            "update app_user set failed_logins = 0, locked_until = $1 where id = $2"
        } else {
            "update app_user set failed_logins = failed_logins + 1, locked_until = $1 where id = $2"
        };
        sqlx::query(sql)
            .bind(locked_until)
            .bind(id)
            .execute(self.pool())
            .await
            .context("recording sign-in")?;
        Ok(())
    }

    /// Counts a failed sign-in in one statement (concurrent failures all count) and locks the
    /// account for `lock_seconds` when it reaches `max_failures`. A lock that has expired
    /// starts the count again. Returns the count and the lock.
    pub async fn record_failed_login(
        &self,
        id: i64,
        now: i64,
        max_failures: i64,
        lock_seconds: i64,
    ) -> anyhow::Result<(i64, Option<i64>)> {
        let _guard = self.write_guard().await?;
        let row: (i64, Option<i64>) = sqlx::query_as(
            "update app_user set
                 failed_logins = case when locked_until is not null and locked_until <= $1 then 1 else failed_logins + 1 end,
                 locked_until = case
                     when (case when locked_until is not null and locked_until <= $1 then 1 else failed_logins + 1 end) >= $2
                         then $3
                     when locked_until is not null and locked_until <= $1 then null
                     else locked_until end
             where id = $4 returning failed_logins, locked_until",
        )
        .bind(now)
        .bind(max_failures)
        .bind(now + lock_seconds)
        .bind(id)
        .fetch_one(self.pool())
        .await
        .context("recording a failed sign-in")?;
        Ok(row)
    }

    /// Sets a user's password hash.
    pub async fn set_password_hash(&self, id: i64, hash: &str) -> anyhow::Result<bool> {
        let _guard = self.write_guard().await?;
        let n = sqlx::query(
            "update app_user set password_hash = $1, failed_logins = 0, locked_until = null where id = $2",
        )
        .bind(hash)
        .bind(id)
        .execute(self.pool())
        .await
        .context("setting a password")?
        .rows_affected();
        Ok(n == 1)
    }

    /// Stores a new API token's hash, for the default organization (an admin token there
    /// acts for the instance, as every admin token did before organizations).
    pub async fn add_token(
        &self,
        name: &str,
        token_hash: &str,
        role: Role,
        created_by: &str,
        now: i64,
    ) -> anyhow::Result<i64> {
        self.add_org_token(
            name,
            token_hash,
            role,
            super::DEFAULT_ORG,
            role == Role::Admin,
            created_by,
            now,
        )
        .await
    }

    /// Stores a new API token's hash for organization `org`.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_org_token(
        &self,
        name: &str,
        token_hash: &str,
        role: Role,
        org: i64,
        instance_admin: bool,
        created_by: &str,
        now: i64,
    ) -> anyhow::Result<i64> {
        let _guard = self.write_guard().await?;
        let (id,): (i64,) = sqlx::query_as("insert into api_token (name, token_hash, role, created_by, created_at, org_id, instance_admin) values ($1, $2, $3, $4, $5, $6, $7) returning id")
            .bind(name)
            .bind(token_hash)
            .bind(role.as_str())
            .bind(created_by)
            .bind(now)
            .bind(org)
            .bind(i64::from(instance_admin))
            .fetch_one(self.pool())
            .await
            .context("adding token")?;
        Ok(id)
    }

    /// The live (not revoked) token with this hash; records its use to the minute (a busy
    /// API client must not turn every read into a write, queued behind the receiver's).
    pub async fn use_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> anyhow::Result<Option<TokenCaller>> {
        let row: Option<(i64, String, String, i64, i64, Option<i64>)> = sqlx::query_as(
            "select id, name, role, org_id, instance_admin, last_used_at from api_token where token_hash = $1 and revoked_at is null",
        )
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await
        .context("reading token")?;
        let Some((id, name, role, org_id, instance_admin, last_used)) = row else {
            return Ok(None);
        };
        if last_used.is_none_or(|t| now - t >= TOKEN_USE_PRECISION_SECS || now < t) {
            let _guard = self.write_guard().await?;
            sqlx::query("update api_token set last_used_at = $1 where id = $2")
                .bind(now)
                .bind(id)
                .execute(self.pool())
                .await
                .context("recording token use")?;
        }
        Ok(Some(TokenCaller {
            name,
            role: Role::parse(&role).unwrap_or(Role::Viewer),
            org_id,
            instance_admin: instance_admin != 0,
        }))
    }

    /// Every token, newest first.
    pub async fn tokens(&self) -> anyhow::Result<Vec<Token>> {
        self.tokens_of(None).await
    }

    /// The tokens of organization `org` (every token for `None`), newest first.
    pub async fn tokens_of(&self, org: Option<i64>) -> anyhow::Result<Vec<Token>> {
        type TokenTuple = (
            i64,
            String,
            String,
            String,
            i64,
            Option<i64>,
            Option<i64>,
            i64,
            i64,
        );
        let rows: Vec<TokenTuple> =
            sqlx::query_as("select id, name, role, created_by, created_at, last_used_at, revoked_at, org_id, instance_admin from api_token where $1 is null or org_id = $1 order by id desc").bind(org).fetch_all(self.pool()).await.context("listing tokens")?;
        Ok(rows
            .into_iter()
            .map(
                |(id, name, role, created_by, created_at, last_used_at, revoked_at, org_id, ia)| {
                    Token {
                        id,
                        name,
                        role: Role::parse(&role).unwrap_or(Role::Viewer),
                        created_by,
                        created_at,
                        last_used_at,
                        revoked_at,
                        org_id,
                        instance_admin: ia != 0,
                    }
                },
            )
            .collect())
    }

    /// Revokes a token.
    pub async fn revoke_token(&self, id: i64, now: i64) -> anyhow::Result<bool> {
        self.revoke_token_of(id, None, now).await
    }

    /// Revokes a token of organization `org` (any for `None`).
    pub async fn revoke_token_of(
        &self,
        id: i64,
        org: Option<i64>,
        now: i64,
    ) -> anyhow::Result<bool> {
        let _guard = self.write_guard().await?;
        let n = sqlx::query(
            "update api_token set revoked_at = $1 where id = $2 and revoked_at is null and ($3 is null or org_id = $3)",
        )
        .bind(now)
        .bind(id)
        .bind(org)
        .execute(self.pool())
        .await
        .context("revoking token")?
        .rows_affected();
        Ok(n == 1)
    }

    /// Replaces the one-time setup token.
    pub async fn set_setup_token(&self, token_hash: &str, expires_at: i64) -> anyhow::Result<()> {
        let _guard = self.write_guard().await?;
        sqlx::query("delete from setup_token")
            .execute(self.pool())
            .await?;
        sqlx::query("insert into setup_token (token_hash, expires_at) values ($1, $2)")
            .bind(token_hash)
            .bind(expires_at)
            .execute(self.pool())
            .await
            .context("storing setup token")?;
        Ok(())
    }

    /// Consumes the setup token if it is valid.
    pub async fn take_setup_token(&self, token_hash: &str, now: i64) -> anyhow::Result<bool> {
        let _guard = self.write_guard().await?;
        let n = sqlx::query("delete from setup_token where token_hash = $1 and expires_at > $2")
            .bind(token_hash)
            .bind(now)
            .execute(self.pool())
            .await
            .context("using setup token")?
            .rows_affected();
        Ok(n == 1)
    }

    /// Appends to the audit log of organization `org`.
    pub async fn audit(
        &self,
        actor: &str,
        org: i64,
        action: &str,
        detail: &str,
        ip: Option<&str>,
        now: i64,
    ) -> anyhow::Result<()> {
        let _guard = self.write_guard().await?;
        sqlx::query(
            "insert into audit_log (at, actor, action, detail, ip, org_id) values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(now)
        .bind(actor)
        .bind(action)
        .bind(detail)
        .bind(ip)
        .bind(org)
        .execute(self.pool())
        .await
        .context("writing audit log")?;
        Ok(())
    }

    /// The newest audit entries.
    pub async fn audit_log(&self, limit: i64) -> anyhow::Result<Vec<AuditEntry>> {
        self.audit_log_of(None, limit).await
    }

    /// The newest audit entries of organization `org` (every entry for `None`).
    pub async fn audit_log_of(
        &self,
        org: Option<i64>,
        limit: i64,
    ) -> anyhow::Result<Vec<AuditEntry>> {
        let rows: Vec<(i64, String, String, String, Option<String>)> = sqlx::query_as(
            "select at, actor, action, detail, ip from audit_log where $2 is null or org_id = $2 order by id desc limit $1",
        )
        .bind(limit)
        .bind(org)
        .fetch_all(self.pool())
        .await
        .context("reading audit log")?;
        Ok(rows
            .into_iter()
            .map(|(at, actor, action, detail, ip)| AuditEntry {
                at,
                actor,
                action,
                detail,
                ip,
            })
            .collect())
    }

    /// Deletes expired sessions.
    pub async fn delete_expired_sessions(&self, now: i64) -> anyhow::Result<u64> {
        let _guard = self.write_guard().await?;
        Ok(sqlx::query("delete from session where expiry_date < $1")
            .bind(now)
            .execute(self.pool())
            .await
            .context("deleting expired sessions")?
            .rows_affected())
    }
}

/// tower-sessions store over [`Store`]: sessions live in the database, so they work across
/// instances.
#[derive(Clone, Debug)]
pub struct DbSessionStore(pub Store);

fn backend_err(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let _guard = self.0.write_guard().await.map_err(backend_err)?;
        loop {
            let n = sqlx::query("insert into session (id, data, expiry_date) values ($1, $2, $3) on conflict (id) do nothing")
                .bind(record.id.to_string())
                .bind(&data)
                .bind(record.expiry_date.unix_timestamp())
                .execute(self.0.pool())
                .await
                .map_err(backend_err)?
                .rows_affected();
            if n == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let _guard = self.0.write_guard().await.map_err(backend_err)?;
        // Only an existing session is saved (new ones go through `create`): a request that
        // loaded the session before a sign-out deleted it must not bring it back.
        sqlx::query("update session set data = $2, expiry_date = $3 where id = $1")
            .bind(record.id.to_string())
            .bind(data)
            .bind(record.expiry_date.unix_timestamp())
            .execute(self.0.pool())
            .await
            .map_err(backend_err)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = tower_sessions::cookie::time::OffsetDateTime::now_utc().unix_timestamp();
        let row: Option<(String, i64)> = sqlx::query_as(
            "select data, expiry_date from session where id = $1 and expiry_date > $2",
        )
        .bind(id.to_string())
        .bind(now)
        .fetch_optional(self.0.pool())
        .await
        .map_err(backend_err)?;
        let Some((data, expiry)) = row else {
            return Ok(None);
        };
        Ok(Some(Record {
            id: *id,
            data: serde_json::from_str(&data)
                .map_err(|e| session_store::Error::Decode(e.to_string()))?,
            expiry_date: tower_sessions::cookie::time::OffsetDateTime::from_unix_timestamp(expiry)
                .map_err(backend_err)?,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let _guard = self.0.write_guard().await.map_err(backend_err)?;
        sqlx::query("delete from session where id = $1")
            .bind(id.to_string())
            .execute(self.0.pool())
            .await
            .map_err(backend_err)?;
        Ok(())
    }
}
