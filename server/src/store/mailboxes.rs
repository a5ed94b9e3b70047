//! IMAP mailbox settings and poll bookkeeping.

use anyhow::Context;
use sqlx::Row;

use super::Store;

/// A configured mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

const COLUMNS: &str = "id, name, host, port, tls_mode, username, password, folder, archive_folder, rejected_folder, poll_seconds, enabled, last_poll_at, last_error, auto_register";

fn from_row(store: &Store, r: &sqlx::any::AnyRow) -> anyhow::Result<Mailbox> {
    let stored: String = r.try_get(6)?;
    let password = if crate::secrets::Sealer::is_sealed(&stored) {
        store
            .sealer()?
            .open(&stored)
            .context("opening the mailbox password")?
    } else {
        stored
    };
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
    })
}

impl Store {
    /// Adds a mailbox (its `id` is ignored); returns the new id.
    pub async fn add_mailbox(&self, m: &Mailbox) -> anyhow::Result<i64> {
        let _guard = self.write_guard().await?;
        let (id,): (i64,) = sqlx::query_as(
            "insert into mailbox (name, host, port, tls_mode, username, password, folder, archive_folder, rejected_folder, poll_seconds, enabled, auto_register)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) returning id",
        )
        .bind(&m.name)
        .bind(&m.host)
        .bind(i64::from(m.port))
        .bind(&m.tls_mode)
        .bind(&m.username)
        .bind(self.sealer()?.seal(&m.password))
        .bind(&m.folder)
        .bind(m.archive_folder.as_deref())
        .bind(m.rejected_folder.as_deref())
        .bind(m.poll_seconds)
        .bind(i64::from(m.enabled))
        .bind(i64::from(m.auto_register))
        .fetch_one(self.pool())
        .await
        .map_err(|e| super::unique_violation(e, "a mailbox with this name exists"))?;
        Ok(id)
    }

    /// Changes a mailbox's settings (`id` names it). An empty password keeps the stored one.
    /// `false` when there is no such mailbox.
    pub async fn update_mailbox(&self, m: &Mailbox) -> anyhow::Result<bool> {
        let _guard = self.write_guard().await?;
        let sealed = (!m.password.is_empty())
            .then(|| self.sealer().map(|s| s.seal(&m.password)))
            .transpose()?;
        let n = sqlx::query(
            "update mailbox set name = $1, host = $2, port = $3, tls_mode = $4, username = $5,
                 password = coalesce($6, password), folder = $7, archive_folder = $8,
                 rejected_folder = $9, poll_seconds = $10, enabled = $11, auto_register = $12
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
               and ($4 = 0 or (enabled = 1 and (last_poll_at is null or last_poll_at + poll_seconds <= $3)))",
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

    /// Per mailbox: `(id, last_success_at, imported, duplicates, rejected)` since it was added.
    pub async fn mailbox_totals(&self) -> anyhow::Result<Vec<(i64, Option<i64>, i64, i64, i64)>> {
        sqlx::query_as(
            "select id, last_success_at, imported_total, duplicate_total, rejected_total from mailbox order by id",
        )
        .fetch_all(self.pool())
        .await
        .context("reading mailbox totals")
    }

    /// Records the end of a poll (`outcome`: mails imported, duplicates, rejected) and
    /// releases the lease.
    pub async fn finish_poll(
        &self,
        id: i64,
        now: i64,
        error: Option<&str>,
        outcome: (i64, i64, i64),
    ) -> anyhow::Result<()> {
        let (imported, duplicates, rejected) = outcome;
        let _guard = self.write_guard().await?;
        sqlx::query(
            "update mailbox set lease_until = null, last_poll_at = $1, last_error = $2,
                 imported_total = imported_total + $3, rejected_total = rejected_total + $4,
                 duplicate_total = duplicate_total + $5,
                 last_success_at = case when $6 = 1 then $1 else last_success_at end
             where id = $7",
        )
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
