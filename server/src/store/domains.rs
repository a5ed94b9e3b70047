//! Registered domains.

use anyhow::Context;

use super::Store;

impl Store {
    /// Registers `name` (already normalized) unless present; returns its id.
    pub async fn add_domain(&self, name: &str, origin: &str, now: i64) -> anyhow::Result<i64> {
        let _guard = self.write_guard().await?;
        sqlx::query("insert into domain (name, created_at, origin) values ($1, $2, $3) on conflict (name) do nothing")
            .bind(name)
            .bind(now)
            .bind(origin)
            .execute(self.pool())
            .await
            .context("registering domain")?;
        let (id,): (i64,) = sqlx::query_as("select id from domain where name = $1")
            .bind(name)
            .fetch_one(self.pool())
            .await
            .context("reading domain id")?;
        // While there is a single organization, every registered domain belongs to it (no
        // other organization could see it): one organization works as before organizations.
        sqlx::query(
            "insert into org_domain (org_id, domain_id, challenge, created_at, verified_at, vouched_by)
             select min(id), $1, 'single-organization', $2, $2, 'single organization' from organization
             having count(*) = 1
             on conflict (org_id, domain_id) do nothing",
        )
        .bind(id)
        .bind(now)
        .execute(self.pool())
        .await
        .context("claiming a domain for the only organization")?;
        Ok(id)
    }

    /// Whether `name` is registered (one row at most, not the list of every domain).
    pub async fn domain_registered(&self, name: &str) -> anyhow::Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as("select id from domain where name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .context("looking up a domain")?;
        Ok(row.is_some())
    }

    /// Names of all registered domains, sorted.
    pub async fn domain_names(&self) -> anyhow::Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as("select name from domain order by name")
            .fetch_all(self.pool())
            .await
            .context("listing domains")?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }
}
