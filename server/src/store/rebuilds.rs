//! SQLite table rebuilds: schema changes SQLite's `alter table` cannot make (dropping a
//! column's constraint), done after the migrations by SQLite's documented procedure (a new
//! table, the rows copied, the old one dropped, the new one renamed).
//!
//! They run outside sqlx's migrator because that procedure needs foreign keys off and the
//! migrator runs every SQLite migration inside a transaction, where `pragma foreign_keys`
//! does nothing (sqlx 0.8 ignores `-- no-transaction` on SQLite): with foreign keys on,
//! dropping the old `report` table would delete every policy row through `on delete cascade`.
//! Each rebuild looks at the schema itself, so it runs once whatever the database's age, and
//! its transaction leaves the old table or the new one, never half of each.

use anyhow::Context;
use sqlx::{AnyPool, Executor, Row};

/// Reports keep one unique key on a random hash, not two (issue 18). Equal content means
/// equal organization, report-id and dates, so the dedup key already finds every copy the
/// content hash found; the content hash stays as a column, without an index (a copy is told
/// apart from a conflicting report by comparing it). Every stored report wrote a page of
/// each unique index at a random place, to the log and again to the database file.
const REPORT_ONE_RANDOM_KEY: &str = include_str!("rebuild_report.sql");

/// Applies the rebuilds a database still needs.
pub(crate) async fn apply(pool: &AnyPool) -> anyhow::Result<()> {
    let unique_content_hash: i64 = sqlx::query_scalar(
        "select count(*) from pragma_index_list('report') l, pragma_index_info(l.name) i
         where l.\"unique\" and i.name = 'content_hash'",
    )
    .fetch_one(pool)
    .await
    .context("reading the report table's indexes")?;
    if unique_content_hash == 0 {
        return Ok(());
    }
    tracing::info!(
        "rebuilding the report table once (one unique key on a random hash instead of two); \
         this copies every report (25-38 s per million) before tlswatch starts"
    );
    let started = std::time::Instant::now();
    let mut conn = pool.acquire().await?;
    conn.execute("pragma foreign_keys = off").await?;
    let rebuilt = rebuild(&mut conn, REPORT_ONE_RANDOM_KEY).await;
    // On again whatever happened (a failed rebuild's transaction was rolled back); a
    // connection that cannot say so does not go back to the pool.
    if conn.execute("pragma foreign_keys = on").await.is_err() {
        conn.detach();
    }
    rebuilt.context("rebuilding the report table")?;
    // The rebuild's transaction went through the write-ahead log whole (about the size of the
    // reports): copied into the database file and the log file cut back, so that it does not
    // keep that size on disk.
    sqlx::query("pragma wal_checkpoint(truncate)")
        .execute(pool)
        .await
        .context("checkpointing after the rebuild")?;
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        "rebuilt the report table with one unique key on a random hash"
    );
    Ok(())
}

/// Runs `sql` in one transaction and commits only if every foreign key still holds.
async fn rebuild(conn: &mut sqlx::AnyConnection, sql: &str) -> anyhow::Result<()> {
    let mut tx = sqlx::Connection::begin(conn).await?;
    tx.execute(sql).await?;
    let dangling = sqlx::query("pragma foreign_key_check")
        .fetch_all(&mut *tx)
        .await?;
    if let Some(row) = dangling.first() {
        anyhow::bail!(
            "it would leave {} dangling references (the first in table {}); nothing was changed",
            dangling.len(),
            row.try_get::<String, _>(0).unwrap_or_default()
        );
    }
    tx.commit().await?;
    Ok(())
}
