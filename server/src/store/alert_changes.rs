//! Adding rules and changing channels (the forms of the alerts page and the API).

use anyhow::Context;

use super::alerts::ChannelRow;
use super::Store;

impl Store {
    /// Adds a rule of organization `org`; its id.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_rule(
        &self,
        org: i64,
        name: &str,
        kind: &str,
        domain: Option<&str>,
        params: &serde_json::Value,
        enabled: bool,
        now: i64,
    ) -> anyhow::Result<i64> {
        let _guard = self.write_guard().await?;
        let (id,): (i64,) = sqlx::query_as(
            "insert into alert_rule (name, kind, domain, params, enabled, created_at, org_id) values ($1, $2, $3, $4, $5, $6, $7) returning id",
        )
        .bind(name)
        .bind(kind)
        .bind(domain)
        .bind(params.to_string())
        .bind(i64::from(enabled))
        .bind(now)
        .bind(org)
        .fetch_one(self.pool())
        .await
        .context("adding a rule")?;
        Ok(id)
    }

    /// Gives organization `org` a copy of the default organization's rules for every domain
    /// (a new organization starts with the same alerting as the first).
    pub async fn copy_default_rules(&self, org: i64, now: i64) -> anyhow::Result<()> {
        let _guard = self.write_guard().await?;
        sqlx::query(
            "insert into alert_rule (name, kind, domain, params, enabled, created_at, org_id)
             select name, kind, null, params, enabled, $1, $2 from alert_rule
             where org_id = $3 and domain is null order by id",
        )
        .bind(now)
        .bind(org)
        .bind(super::DEFAULT_ORG)
        .execute(self.pool())
        .await
        .context("copying the default rules")?;
        Ok(())
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
