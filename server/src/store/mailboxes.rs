//! IMAP mailbox settings and poll bookkeeping.

use anyhow::Context;
use sqlx::Row;

use super::Store;

/// Counts of one mailbox since it was added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxTotals {
    /// Mailbox id.
    pub id: i64,
    /// Unix seconds of the last poll without error.
    pub last_success_at: Option<i64>,
    /// Mails imported.
    pub imported: i64,
    /// Mails already imported.
    pub duplicates: i64,
    /// Mails that were not reports.
    pub rejected: i64,
    /// Failed polls by kind.
    pub errors: [(PollErrorKind, i64); 3],
}

/// OAuth 2.0 settings of a mailbox (none of them secret; the secret is `Mailbox::password`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailboxOAuth {
    /// Microsoft Entra tenant id or domain (builds the token URL when `token_url` is empty).
    pub tenant: String,
    /// Identity provider base URL for Microsoft (`https://login.microsoftonline.com`, or a
    /// national cloud's); empty: the global one.
    pub authority: String,
    /// Token endpoint; empty: derived (Microsoft from tenant, Google from the key file).
    pub token_url: String,
    /// Authorization endpoint (authorization-code mailboxes).
    pub authorize_url: String,
    /// Client (application) id.
    pub client_id: String,
    /// Scopes, space-separated; empty: the usual one for the kind and method.
    pub scope: String,
    /// IMAP SASL mechanism: `xoauth2` (default) or `oauthbearer`.
    pub sasl: String,
}

/// A configured mailbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mailbox {
    /// Row id.
    pub id: i64,
    /// A name for people.
    pub name: String,
    /// IMAP server host name.
    pub host: String,
    /// IMAP server port.
    pub port: u16,
    /// `implicit` or `starttls`.
    pub tls_mode: String,
    /// Login user name.
    pub username: String,
    /// Login password (sealed in the database, plain here).
    pub password: String,
    /// Folder to read.
    pub folder: String,
    /// Folder imported mails are moved to; `None` marks them seen.
    pub archive_folder: Option<String>,
    /// Folder non-report mails are moved to; `None` marks them seen.
    pub rejected_folder: Option<String>,
    /// Poll interval in seconds.
    pub poll_seconds: i64,
    /// Whether the scheduler polls it.
    pub enabled: bool,
    /// Unix seconds of the last poll.
    pub last_poll_at: Option<i64>,
    /// Error of the last poll, if it failed.
    pub last_error: Option<String>,
    /// Whether reports from this mailbox may register unknown domains. Off by default: anyone
    /// can send mail to a reporting address.
    pub auto_register: bool,
    /// `imap` or `graph` (Microsoft Graph; `host` is then the Graph base URL).
    pub kind: String,
    /// `password`, `client_credentials`, `service_account` or `authorization_code`.
    pub auth: String,
    /// OAuth 2.0 settings.
    pub oauth: MailboxOAuth,
    /// Refresh token of an authorization-code mailbox (sealed in the database, plain here);
    /// empty when none.
    pub refresh_token: String,
    /// The identity provider refused the grant: not polled until fixed.
    pub auth_required: bool,
    /// Delete archived report mails older than this many days (opt-in).
    pub retention_days: Option<i64>,
    /// The organization it belongs to (0 when not set: the default organization).
    pub org_id: i64,
}

const COLUMNS: &str = "id, name, host, port, tls_mode, username, password, folder, archive_folder, rejected_folder, poll_seconds, enabled, last_poll_at, last_error, auto_register, kind, auth, oauth, refresh_token, auth_required, retention_days, org_id";

/// Kinds of poll failure counted per mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollErrorKind {
    /// Sign-in refused, by the identity provider or the mail server.
    Auth,
    /// Name resolution, connection, TLS, timeouts.
    Network,
    /// The mail server or API answered with an error.
    Server,
}

impl PollErrorKind {
    /// The counter column.
    fn column(self) -> &'static str {
        match self {
            Self::Auth => "auth_errors_total",
            Self::Network => "network_errors_total",
            Self::Server => "server_errors_total",
        }
    }

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Network => "network",
            Self::Server => "server",
        }
    }
}

fn open_secret(store: &Store, stored: String, what: &str) -> anyhow::Result<String> {
    if crate::secrets::Sealer::is_sealed(&stored) {
        store
            .sealer()?
            .open(&stored)
            .with_context(|| format!("opening the mailbox {what}"))
    } else {
        Ok(stored)
    }
}

fn seal_optional(store: &Store, plain: &str) -> anyhow::Result<Option<String>> {
    (!plain.is_empty())
        .then(|| store.sealer().map(|s| s.seal(plain)))
        .transpose()
}

fn from_row(store: &Store, r: &sqlx::any::AnyRow) -> anyhow::Result<Mailbox> {
    let password = open_secret(store, r.try_get(6)?, "password")?;
    let refresh_token = open_secret(store, r.try_get(18)?, "refresh token")?;
    let oauth: String = r.try_get(17)?;
    Ok(Mailbox {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        host: r.try_get(2)?,
        port: u16::try_from(r.try_get::<i64, _>(3)?).unwrap_or(993),
        tls_mode: r.try_get(4)?,
        username: r.try_get(5)?,
        password,
        folder: r.try_get(7)?,
        archive_folder: r.try_get(8)?,
        rejected_folder: r.try_get(9)?,
        poll_seconds: r.try_get(10)?,
        enabled: r.try_get::<i64, _>(11)? != 0,
        last_poll_at: r.try_get(12)?,
        last_error: r.try_get(13)?,
        auto_register: r.try_get::<i64, _>(14)? != 0,
        kind: r.try_get(15)?,
        auth: r.try_get(16)?,
        oauth: serde_json::from_str(&oauth).context("reading a mailbox's OAuth settings")?,
        refresh_token,
        auth_required: r.try_get::<i64, _>(19)? != 0,
        retention_days: r.try_get(20)?,
        org_id: r.try_get(21)?,
    })
}

impl Store {
    /// Adds a mailbox (its `id` is ignored); returns the new id.
    pub async fn add_mailbox(&self, m: &Mailbox) -> anyhow::Result<i64> {
        let _guard = self.write_guard().await?;
        let (id,): (i64,) = sqlx::query_as(
            "insert into mailbox (name, host, port, tls_mode, username, password, folder, archive_folder, rejected_folder, poll_seconds, enabled, auto_register, kind, auth, oauth, retention_days, org_id)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) returning id",
        )
        .bind(&m.name)
        .bind(&m.host)
        .bind(i64::from(m.port))
        .bind(&m.tls_mode)
        .bind(&m.username)
        .bind(seal_optional(self, &m.password)?.unwrap_or_default())
        .bind(&m.folder)
        .bind(m.archive_folder.as_deref())
        .bind(m.rejected_folder.as_deref())
        .bind(m.poll_seconds)
        .bind(i64::from(m.enabled))
        .bind(i64::from(m.auto_register))
        .bind(&m.kind)
        .bind(&m.auth)
        .bind(serde_json::to_string(&m.oauth)?)
        .bind(m.retention_days)
        .bind(if m.org_id == 0 {
            super::DEFAULT_ORG
        } else {
            m.org_id
        })
        .fetch_one(self.pool())
        .await
        .map_err(|e| super::unique_violation(e, "a mailbox with this name exists"))?;
        Ok(id)
    }

    /// Changes a mailbox's settings (`id` names it). An empty password keeps the stored one.
    /// A change of kind, method, OAuth settings or secret clears "authorization needed" (the
    /// next poll tries again); a change of method or OAuth settings drops a refresh token.
    /// `false` when there is no such mailbox.
    pub async fn update_mailbox(&self, m: &Mailbox) -> anyhow::Result<bool> {
        let _guard = self.write_guard().await?;
        let sealed = seal_optional(self, &m.password)?;
        let oauth = serde_json::to_string(&m.oauth)?;
        let n = sqlx::query(
            "update mailbox set name = $1, host = $2, port = $3, tls_mode = $4, username = $5,
                 password = coalesce($6, password), folder = $7, archive_folder = $8,
                 rejected_folder = $9, poll_seconds = $10, enabled = $11, auto_register = $12,
                 refresh_token = case when auth <> $14 or oauth <> $15 then '' else refresh_token end,
                 auth_required = case when $6 is not null or kind <> $16 or auth <> $14 or oauth <> $15 or host <> $2 or username <> $5 then 0 else auth_required end,
                 kind = $16, auth = $14, oauth = $15, retention_days = $17
             where id = $13",
        )
        .bind(&m.name)
        .bind(&m.host)
        .bind(i64::from(m.port))
        .bind(&m.tls_mode)
        .bind(&m.username)
        .bind(sealed)
        .bind(&m.folder)
        .bind(m.archive_folder.as_deref())
        .bind(m.rejected_folder.as_deref())
        .bind(m.poll_seconds)
        .bind(i64::from(m.enabled))
        .bind(i64::from(m.auto_register))
        .bind(m.id)
        .bind(&m.auth)
        .bind(oauth)
        .bind(&m.kind)
        .bind(m.retention_days)
        .execute(self.pool())
        .await
        .map_err(|e| super::unique_violation(e, "a mailbox with this name exists"))?
        .rows_affected();
        Ok(n > 0)
    }

    /// Deletes a mailbox; `false` when there is none.
    pub async fn delete_mailbox(&self, id: i64) -> anyhow::Result<bool> {
        let _guard = self.write_guard().await?;
        let n = sqlx::query("delete from mailbox where id = $1")
            .bind(id)
            .execute(self.pool())
            .await
            .context("deleting a mailbox")?
            .rows_affected();
        Ok(n > 0)
    }

    /// Every mailbox, by id.
    pub async fn mailboxes(&self) -> anyhow::Result<Vec<Mailbox>> {
        let rows = sqlx::query(&format!("select {COLUMNS} from mailbox order by id"))
            .fetch_all(self.pool())
            .await
            .context("listing mailboxes")?;
        rows.iter().map(|r| from_row(self, r)).collect()
    }

    /// Takes the poll lease of an enabled mailbox whose interval has passed, so that one
    /// instance polls it; `None` when it is not due or another instance holds it.
    pub async fn lease_due_mailbox(
        &self,
        id: i64,
        now: i64,
        lease_seconds: i64,
    ) -> anyhow::Result<Option<Mailbox>> {
        self.lease_mailbox(id, now, lease_seconds, true).await
    }

    /// Takes the poll lease of a mailbox (`due`: only when enabled and its interval has
    /// passed; otherwise whenever no other poll holds it, for "poll now").
    pub async fn lease_mailbox(
        &self,
        id: i64,
        now: i64,
        lease_seconds: i64,
        due: bool,
    ) -> anyhow::Result<Option<Mailbox>> {
        let _guard = self.write_guard().await?;
        let taken = sqlx::query(
            "update mailbox set lease_until = $1
             where id = $2 and (lease_until is null or lease_until < $3)
               and ($4 = 0 or (enabled = 1 and auth_required = 0 and (last_poll_at is null or last_poll_at + poll_seconds <= $3)))",
        )
        .bind(now + lease_seconds)
        .bind(id)
        .bind(now)
        .bind(i64::from(due))
        .execute(self.pool())
        .await
        .context("leasing mailbox")?
        .rows_affected();
        if taken == 0 {
            return Ok(None);
        }
        let row = sqlx::query(&format!("select {COLUMNS} from mailbox where id = $1"))
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        from_row(self, &row).map(Some)
    }

    /// Per mailbox, since it was added, by id.
    pub async fn mailbox_totals(&self) -> anyhow::Result<Vec<MailboxTotals>> {
        type Row = (i64, Option<i64>, i64, i64, i64, i64, i64, i64);
        let rows: Vec<Row> = sqlx::query_as(
            "select id, last_success_at, imported_total, duplicate_total, rejected_total,
                    auth_errors_total, network_errors_total, server_errors_total
             from mailbox order by id",
        )
        .fetch_all(self.pool())
        .await
        .context("reading mailbox totals")?;
        Ok(rows
            .into_iter()
            .map(|r| MailboxTotals {
                id: r.0,
                last_success_at: r.1,
                imported: r.2,
                duplicates: r.3,
                rejected: r.4,
                errors: [
                    (PollErrorKind::Auth, r.5),
                    (PollErrorKind::Network, r.6),
                    (PollErrorKind::Server, r.7),
                ],
            })
            .collect())
    }

    /// Marks a mailbox "authorization needed" (or clears it).
    pub async fn set_mailbox_auth_required(&self, id: i64, required: bool) -> anyhow::Result<()> {
        let _guard = self.write_guard().await?;
        sqlx::query("update mailbox set auth_required = $1 where id = $2")
            .bind(i64::from(required))
            .bind(id)
            .execute(self.pool())
            .await
            .context("recording a mailbox's authorization state")?;
        Ok(())
    }

    /// Stores a mailbox's refresh token (sealed) and clears "authorization needed".
    pub async fn set_mailbox_refresh_token(&self, id: i64, token: &str) -> anyhow::Result<()> {
        let sealed = self.sealer()?.seal(token);
        let _guard = self.write_guard().await?;
        sqlx::query("update mailbox set refresh_token = $1, auth_required = 0 where id = $2")
            .bind(sealed)
            .bind(id)
            .execute(self.pool())
            .await
            .context("storing a mailbox's refresh token")?;
        Ok(())
    }

    /// Records a started sign-in of an authorization-code mailbox (the PKCE verifier sealed)
    /// and forgets those older than an hour.
    pub async fn start_mailbox_authorization(
        &self,
        state: &str,
        mailbox_id: i64,
        verifier: &str,
        now: i64,
    ) -> anyhow::Result<()> {
        let sealed = self.sealer()?.seal(verifier);
        let mut turn = self.write_guard().await?;
        let mut tx = self.begin_write(&mut turn).await?;
        sqlx::query("delete from mailbox_authorization where created_at < $1")
            .bind(now - 3600)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "insert into mailbox_authorization (state, mailbox_id, verifier, created_at) values ($1, $2, $3, $4)",
        )
        .bind(state)
        .bind(mailbox_id)
        .bind(sealed)
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("recording a mailbox sign-in")?;
        self.commit(tx).await?;
        Ok(())
    }

    /// Takes (and removes) a started sign-in by its state: the mailbox id and the verifier;
    /// `None` when unknown or older than an hour.
    pub async fn take_mailbox_authorization(
        &self,
        state: &str,
        now: i64,
    ) -> anyhow::Result<Option<(i64, String)>> {
        let _guard = self.write_guard().await?;
        let row: Option<(i64, String, i64)> = sqlx::query_as(
            "delete from mailbox_authorization where state = $1 returning mailbox_id, verifier, created_at",
        )
        .bind(state)
        .fetch_optional(self.pool())
        .await
        .context("finishing a mailbox sign-in")?;
        match row {
            Some((id, verifier, at)) if at >= now - 3600 => {
                Ok(Some((id, self.sealer()?.open(&verifier)?)))
            }
            _ => Ok(None),
        }
    }

    /// Records the end of a poll (`outcome`: mails imported, duplicates, rejected) and
    /// releases the lease.
    pub async fn finish_poll(
        &self,
        id: i64,
        now: i64,
        error: Option<(PollErrorKind, &str)>,
        outcome: (i64, i64, i64),
    ) -> anyhow::Result<()> {
        let (imported, duplicates, rejected) = outcome;
        let counter = error.map_or("auth_errors_total", |(k, _)| k.column());
        let failed = i64::from(error.is_some());
        let error = error.map(|(_, e)| e);
        let _guard = self.write_guard().await?;
        // The counter column is one of three constants, never input.
        sqlx::query(&format!(
            "update mailbox set lease_until = null, last_poll_at = $1, last_error = $2, {counter} = {counter} + {failed},
                 imported_total = imported_total + $3, rejected_total = rejected_total + $4,
                 duplicate_total = duplicate_total + $5,
                 last_success_at = case when $6 = 1 then $1 else last_success_at end
             where id = $7"
        ))
        .bind(now)
        .bind(error)
        .bind(imported)
        .bind(rejected)
        .bind(duplicates)
        .bind(i64::from(error.is_none()))
        .bind(id)
        .execute(self.pool())
        .await
        .context("recording mailbox poll")?;
        Ok(())
    }
}
