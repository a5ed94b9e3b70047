//! Keeping the data: retention (old reports deleted, daily totals kept) and online backups.

use anyhow::Context;

use super::{Backend, Store};

/// Rows deleted per statement when pruning, so a large backlog never holds a long lock.
const PRUNE_BATCH: i64 = 5_000;

impl Store {
    /// Deletes reports that ended before `before` (Unix time) with their policy and failure
    /// rows (on PostgreSQL months that ended before it are dropped whole); the daily rollups stay, so charts and totals are unchanged. Returns how many
    /// reports were deleted.
    pub async fn prune_reports(&self, before: i64) -> anyhow::Result<u64> {
        // PostgreSQL: whole months go at once (their partitions are dropped); what remains
        // is deleted row by row.
        let mut deleted = self.drop_old_months(before).await?;
        loop {
            let mut turn = self.write_guard().await?;
            let mut tx = self.begin_write(&mut turn).await?;
            let n = sqlx::query(
                "delete from report where id in (select id from report where end_time < $1 order by id limit $2)",
            )
            .bind(before)
            .bind(PRUNE_BATCH)
            .execute(&mut *tx)
            .await
            .context("pruning reports")?
            .rows_affected();
            self.commit(tx).await?;
            deleted += n;
            if n < PRUNE_BATCH as u64 {
                return Ok(deleted);
            }
        }
    }

    /// Writes a consistent copy of the SQLite database to `path` while it is in use
    /// (`VACUUM INTO`: one read transaction, a compact file). PostgreSQL: use `pg_dump`.
    pub async fn backup_to(&self, path: &std::path::Path) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.backend == Backend::Sqlite,
            "tlswatch backup copies SQLite databases; for PostgreSQL run: pg_dump --format=custom --file=tlswatch.dump \"$TLSWATCH_DATABASE_URL\""
        );
        anyhow::ensure!(
            !path.exists(),
            "{} exists; choose a new file name",
            path.display()
        );
        let target = path
            .to_str()
            .context("the backup path must be valid UTF-8")?
            .replace('\'', "''");
        sqlx::query(&format!("vacuum into '{target}'"))
            .execute(&self.pool)
            .await
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    /// The applied migrations' newest version, and the newest this build knows.
    pub async fn schema_versions(&self) -> anyhow::Result<(Option<i64>, i64)> {
        let applied: Option<i64> =
            sqlx::query_scalar("select max(version) from _sqlx_migrations where success")
                .fetch_one(&self.pool)
                .await
                .context("reading the schema version")?;
        let known = self
            .migrator()
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or_default();
        Ok((applied, known))
    }

    /// Reports and domains stored (what `tlswatch restore` shows).
    pub async fn totals_for_restore(&self) -> anyhow::Result<(i64, i64)> {
        let reports: i64 = sqlx::query_scalar("select count(*) from report")
            .fetch_one(&self.pool)
            .await?;
        let domains: i64 = sqlx::query_scalar("select count(*) from domain")
            .fetch_one(&self.pool)
            .await?;
        Ok((reports, domains))
    }

    /// After a bulk load on PostgreSQL (a no-op on SQLite): `VACUUM (ANALYZE)` of every
    /// table, what autovacuum does in time, at once. The planner's statistics: until the new
    /// partitions are analyzed, one domain's report list at 10 M reports took 130 ms instead
    /// of 11 ms, planned from an estimate of 24 rows per partition where there were 1,164. The
    /// vacuum: every batch updates the rollup rows of its days in place, and each update
    /// leaves the old version behind until a vacuum; at 10 M reports `weekly_domain` held
    /// 157,000 live rows in 125 MB with 1.97 M dead ones, and the 365-day sparklines' query,
    /// which reads a year of it, took 70 ms instead of 16.
    pub async fn analyze(&self) -> anyhow::Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("vacuum (analyze)")
                .execute(&self.pool)
                .await
                .context("vacuuming and analyzing tables")?;
        }
        Ok(())
    }

    /// Moves SQLite's write-ahead log into the database file (a no-op on PostgreSQL).
    pub async fn checkpoint(&self) -> anyhow::Result<()> {
        if self.backend == Backend::Sqlite {
            sqlx::query("pragma wal_checkpoint(truncate)")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// When the newest report was received (for the doctor's clock check).
    pub async fn newest_received_at(&self) -> anyhow::Result<Option<i64>> {
        Ok(sqlx::query_scalar("select max(received_at) from report")
            .fetch_one(&self.pool)
            .await?)
    }
}
