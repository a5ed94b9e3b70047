//! Adding rules and changing channels (the forms of the alerts page and the API).

use anyhow::Context;

use super::alerts::ChannelRow;
use super::Store;

impl Store {
    /// Adds a rule; its id.
    pub async fn add_rule(
        &self,
        name: &str,
        kind: &str,
        domain: Option<&str>,
        params: &serde_json::Value,
        enabled: bool,
        now: i64,
    ) -> anyhow::Result<i64> {
        let _guard = self.write_guard().await?;
        let (id,): (i64,) = sqlx::query_as(
            "insert into alert_rule (name, kind, domain, params, enabled, created_at) values ($1, $2, $3, $4, $5, $6) returning id",
        )
        .bind(name)
        .bind(kind)
        .bind(domain)
        .bind(params.to_string())
        .bind(i64::from(enabled))
        .bind(now)
        .fetch_one(self.pool())
        .await
        .context("adding a rule")?;
        Ok(id)
    }

    /// Replaces a channel's name, settings (sealed), domains and switch; false when it does
    /// not exist.
    pub async fn update_channel(&self, c: &ChannelRow) -> anyhow::Result<bool> {
        let sealed = self.sealer()?.seal(&c.config.to_string());
        let _guard = self.write_guard().await?;
        let r = sqlx::query(
            "update alert_channel set name = $1, config = $2, domains = $3, enabled = $4 where id = $5",
        )
        .bind(&c.name)
        .bind(sealed)
        .bind(serde_json::to_string(&c.domains)?)
        .bind(i64::from(c.enabled))
        .bind(c.id)
        .execute(self.pool())
        .await
        .context("changing a channel")?;
        Ok(r.rows_affected() == 1)
    }
}
