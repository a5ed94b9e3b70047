//! Inputs that could not become reports. Nothing is dropped: the raw bytes and the reason are
//! kept so an admin can look at them and re-process them after an upgrade.

use anyhow::Context;

use super::Store;

/// A rejected input as listed for admins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Row id.
    pub id: i64,
    /// Channel it arrived through.
    pub channel: String,
    /// File name, mail part or client address it came from.
    pub source_name: String,
    /// Unix seconds it arrived.
    pub received_at: i64,
    /// Why it was rejected.
    pub reason: String,
    /// Size of the raw input in bytes.
    pub raw_size: i64,
}

/// A rejected input to keep.
#[derive(Debug, Clone, Copy)]
pub struct NewRejected<'a> {
    /// Channel it arrived through.
    pub channel: &'a str,
    /// File name, mail part or client address it came from.
    pub source_name: &'a str,
    /// Unix seconds it arrived.
    pub received_at: i64,
    /// Why it was rejected.
    pub reason: &'a str,
    /// SHA-256 (hex) of the raw input.
    pub content_hash: &'a str,
    /// The raw input, gzip-compressed.
    pub raw_gz: &'a [u8],
    /// Size of the raw input in bytes.
    pub raw_size: usize,
}

/// How much the quarantine may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuarantineQuota {
    /// Most entries.
    pub max_entries: i64,
    /// Most stored (compressed) bytes.
    pub max_bytes: i64,
}

impl Default for QuarantineQuota {
    fn default() -> Self {
        Self {
            max_entries: 10_000,
            max_bytes: 256 << 20,
        }
    }
}

impl Store {
    /// Keeps a rejected input. The same bytes rejected twice are kept once (the latest reason
    /// wins). Then enforces the quarantine quota: while it is exceeded, the oldest inputs from
    /// the open channels (the HTTPS receiver first, then mail, which stays in its mailbox) are
    /// evicted; inputs from the CLI and uploads are never evicted.
    pub async fn quarantine(&self, r: &NewRejected<'_>) -> anyhow::Result<()> {
        let mut turn = self.write_guard().await?;
        let mut tx = self.begin_write(&mut turn).await?;
        sqlx::query(
            "insert into rejected_input (channel, source_name, received_at, reason, content_hash, raw_gz, raw_size)
             values ($1, $2, $3, $4, $5, $6, $7)
             on conflict (content_hash) do update set reason = excluded.reason, received_at = excluded.received_at",
        )
        .bind(r.channel)
        .bind(r.source_name)
        .bind(r.received_at)
        .bind(r.reason)
        .bind(r.content_hash)
        .bind(r.raw_gz)
        .bind(r.raw_size as i64)
        .execute(&mut *tx)
        .await
        .context("storing rejected input")?;
        let quota = self.quarantine_quota();
        for channel in ["https", "imap"] {
            loop {
                let (entries, bytes): (i64, i64) = sqlx::query_as(
                    "select count(*), cast(coalesce(sum(length(raw_gz)), 0) as bigint) from rejected_input",
                )
                .fetch_one(&mut *tx)
                .await
                .context("measuring the quarantine")?;
                if entries <= quota.max_entries && bytes <= quota.max_bytes {
                    break;
                }
                // Just the excess entries (or one at a time while over the byte quota).
                let excess = (entries - quota.max_entries).max(1);
                let evicted = sqlx::query(
                    "delete from rejected_input where id in
                       (select id from rejected_input where channel = $1 order by received_at, id limit $2)",
                )
                .bind(channel)
                .bind(excess)
                .execute(&mut *tx)
                .await
                .context("evicting from the quarantine")?
                .rows_affected();
                if evicted == 0 {
                    break;
                }
                crate::telemetry::counters::QUARANTINE_EVICTED
                    .fetch_add(evicted, std::sync::atomic::Ordering::Relaxed);
            }
        }
        self.commit(tx).await.context("storing rejected input")?;
        Ok(())
    }

    /// Entries and stored bytes of the quarantine.
    pub async fn quarantine_usage(&self) -> anyhow::Result<(i64, i64)> {
        sqlx::query_as(
            "select count(*), cast(coalesce(sum(length(raw_gz)), 0) as bigint) from rejected_input",
        )
        .fetch_one(self.pool())
        .await
        .context("measuring the quarantine")
    }

    /// The raw bytes (gzip) and channel of a rejected input.
    pub async fn rejected_raw(&self, id: i64) -> anyhow::Result<Option<(String, String, Vec<u8>)>> {
        let row: Option<(String, String, Vec<u8>)> =
            sqlx::query_as("select channel, source_name, raw_gz from rejected_input where id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await
                .context("reading rejected input")?;
        Ok(row)
    }

    /// Marks a rejected input as successfully re-processed (it stays listed with `--all`).
    pub async fn mark_reprocessed(&self, id: i64, now: i64) -> anyhow::Result<()> {
        let _guard = self.write_guard().await?;
        sqlx::query("update rejected_input set reprocessed_at = $1 where id = $2")
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await
            .context("marking rejected input re-processed")?;
        Ok(())
    }

    /// Rejected inputs not yet re-processed, newest first.
    pub async fn list_rejected(&self, limit: i64) -> anyhow::Result<Vec<Rejected>> {
        let rows: Vec<(i64, String, String, i64, String, i64)> = sqlx::query_as(
            "select id, channel, source_name, received_at, reason, raw_size from rejected_input
             where reprocessed_at is null order by id desc limit $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .context("listing rejected inputs")?;
        Ok(rows
            .into_iter()
            .map(
                |(id, channel, source_name, received_at, reason, raw_size)| Rejected {
                    id,
                    channel,
                    source_name,
                    received_at,
                    reason,
                    raw_size,
                },
            )
            .collect())
    }
}
