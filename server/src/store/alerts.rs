//! Alert rules, instances, silences, channels, notifications and the job lease.

use anyhow::Context;
use sqlx::Row;

use super::Store;

/// A rule row.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RuleRow {
    /// Id.
    pub id: i64,
    /// Name for people.
    pub name: String,
    /// `failure_spike`, `new_failure_type`, `config_regression`, `cert_expiry`, `no_reports`.
    pub kind: String,
    /// Only this domain (`None`: every domain).
    pub domain: Option<String>,
    /// JSON parameters.
    pub params: serde_json::Value,
    /// Evaluated at all.
    pub enabled: bool,
    /// The organization it belongs to (it sees that organization's domains and mailboxes).
    #[serde(default = "default_org")]
    pub org_id: i64,
}

fn default_org() -> i64 {
    super::DEFAULT_ORG
}

/// An alert instance.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlertRow {
    /// Id.
    pub id: i64,
    /// Rule.
    pub rule_id: i64,
    /// Stable hash of rule and labels.
    pub fingerprint: String,
    /// Labels (`rule`, `domain`, `mx`, `result_type`, `check`, `subject`, `reporter`).
    pub labels: std::collections::BTreeMap<String, String>,
    /// Domain.
    pub domain: String,
    /// `pending`, `firing`, `resolved`.
    pub state: String,
    /// Observed value.
    pub value: f64,
    /// Baseline it was compared with.
    pub baseline: Option<f64>,
    /// Threshold it crossed.
    pub threshold: Option<f64>,
    /// Why, in words.
    pub reason: String,
    /// Unix seconds.
    pub started_at: i64,
    /// When it started firing.
    pub fired_at: Option<i64>,
    /// When it resolved.
    pub resolved_at: Option<i64>,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
    /// When.
    pub acknowledged_at: Option<i64>,
    /// The organization of its rule.
    #[serde(default = "default_org")]
    pub org_id: i64,
}

/// A silence.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SilenceRow {
    /// Id.
    pub id: i64,
    /// Exact label matchers `(name, value)`; all must match.
    pub matchers: Vec<(String, String)>,
    /// Unix seconds.
    pub starts_at: i64,
    /// Unix seconds.
    pub ends_at: i64,
    /// Who made it.
    pub author: String,
    /// Why.
    pub comment: String,
    /// The organization whose alerts it silences.
    #[serde(default = "default_org")]
    pub org_id: i64,
}

impl SilenceRow {
    /// Whether it silences an alert with `labels` at `now`.
    pub fn matches(&self, labels: &std::collections::BTreeMap<String, String>, now: i64) -> bool {
        self.starts_at <= now
            && now < self.ends_at
            && !self.matchers.is_empty()
            && self
                .matchers
                .iter()
                .all(|(k, v)| labels.get(k).is_some_and(|l| l == v))
    }
}

/// A notification channel.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChannelRow {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// `email`, `slack`, `teams`, `webhook`.
    pub kind: String,
    /// JSON settings.
    pub config: serde_json::Value,
    /// Domains routed here (empty: all).
    pub domains: Vec<String>,
    /// Used at all.
    pub enabled: bool,
    /// The organization whose alerts it receives.
    #[serde(default = "default_org")]
    pub org_id: i64,
}

/// A notification to deliver.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NotificationRow {
    /// Id.
    pub id: i64,
    /// Channel.
    pub channel_id: i64,
    /// Group (channel and domain).
    pub group_key: String,
    /// `firing`, `resolved`, `test`, `digest`.
    pub kind: String,
    /// The message, JSON.
    pub payload: String,
    /// Unix seconds.
    pub created_at: i64,
    /// `pending`, `sending`, `sent`, `failed`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// Error of the last attempt.
    pub last_error: Option<String>,
    /// When it went out.
    pub sent_at: Option<i64>,
}

const ALERT_COLUMNS: &str = "id, rule_id, fingerprint, labels, domain, state, value, baseline, threshold, reason, started_at, fired_at, resolved_at, acknowledged_by, acknowledged_at, (select r.org_id from alert_rule r where r.id = alert.rule_id)";

fn alert_of(r: &sqlx::any::AnyRow) -> anyhow::Result<AlertRow> {
    Ok(AlertRow {
        id: r.try_get(0)?,
        rule_id: r.try_get(1)?,
        fingerprint: r.try_get(2)?,
        labels: serde_json::from_str(&r.try_get::<String, _>(3)?).unwrap_or_default(),
        domain: r.try_get(4)?,
        state: r.try_get(5)?,
        value: r.try_get(6)?,
        baseline: r.try_get(7)?,
        threshold: r.try_get(8)?,
        reason: r.try_get(9)?,
        started_at: r.try_get(10)?,
        fired_at: r.try_get(11)?,
        resolved_at: r.try_get(12)?,
        acknowledged_by: r.try_get(13)?,
        acknowledged_at: r.try_get(14)?,
        org_id: r
            .try_get::<Option<i64>, _>(15)?
            .unwrap_or(super::DEFAULT_ORG),
    })
}

/// One active condition found by an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Active {
    /// Rule.
    pub rule_id: i64,
    /// Labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Domain.
    pub domain: String,
    /// Observed value.
    pub value: f64,
    /// Baseline.
    pub baseline: Option<f64>,
    /// Threshold.
    pub threshold: Option<f64>,
    /// Why.
    pub reason: String,
    /// Seconds it must stay active before firing.
    pub for_secs: i64,
}

impl Active {
    /// Stable identity of the instance: rule and labels.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let text = format!(
            "{}|{}",
            self.rule_id,
            serde_json::to_string(&self.labels).unwrap_or_default()
        );
        hex::encode(&sha2::Sha256::digest(text.as_bytes())[..16])
    }
}

impl Store {
    /// Takes the named lease until `until` if it is free at `now`; true when this caller holds it.
    pub async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> anyhow::Result<bool> {
        let _guard = self.write_guard().await?;
        let r = sqlx::query("update job_lease set holder = $1, lease_until = $2 where name = $3 and (lease_until <= $4 or holder = $1)")
            .bind(holder)
            .bind(until)
            .bind(name)
            .bind(now)
            .execute(self.pool())
            .await
            .context("taking a lease")?;
        Ok(r.rows_affected() == 1)
    }

    /// Gives the named lease back.
    pub async fn release_lease(&self, name: &str, holder: &str) -> anyhow::Result<()> {
        let _guard = self.write_guard().await?;
        sqlx::query("update job_lease set lease_until = 0 where name = $1 and holder = $2")
            .bind(name)
            .bind(holder)
            .execute(self.pool())
            .await
            .context("releasing a lease")?;
        Ok(())
    }

    /// Every rule.
    pub async fn alert_rules(&self) -> anyhow::Result<Vec<RuleRow>> {
        type RuleTuple = (i64, String, String, Option<String>, String, i64, i64);
        let rows: Vec<RuleTuple> = sqlx::query_as(
            "select id, name, kind, domain, params, enabled, org_id from alert_rule order by id",
        )
        .fetch_all(self.pool())
        .await
        .context("reading rules")?;
        Ok(rows
            .into_iter()
            .map(
                |(id, name, kind, domain, params, enabled, org_id)| RuleRow {
                    id,
                    name,
                    kind,
                    domain,
                    params: serde_json::from_str(&params).unwrap_or(serde_json::Value::Null),
                    enabled: enabled != 0,
                    org_id,
                },
            )
            .collect())
    }

    /// Changes a rule's parameters, domain scope and enabled flag.
    pub async fn update_rule(
        &self,
        id: i64,
        params: &serde_json::Value,
        domain: Option<&str>,
        enabled: bool,
    ) -> anyhow::Result<bool> {
        let _guard = self.write_guard().await?;
        let r = sqlx::query(
            "update alert_rule set params = $1, domain = $2, enabled = $3 where id = $4",
        )
        .bind(params.to_string())
        .bind(domain)
        .bind(i64::from(enabled))
        .bind(id)
        .execute(self.pool())
        .await
        .context("updating a rule")?;
        Ok(r.rows_affected() == 1)
    }

    /// Applies one evaluation: `active` conditions open or update instances (pending, then
    /// firing after their `for`), and instances of `rule_ids` not in `active` resolve.
    pub async fn apply_evaluation(
        &self,
        rule_ids: &[i64],
        active: &[Active],
        now: i64,
    ) -> anyhow::Result<()> {
        let mut turn = self.write_guard().await?;
        let mut tx = self.begin_write(&mut turn).await?;
        let current: Vec<(i64, i64, String, String, i64)> = sqlx::query_as(
            "select id, rule_id, fingerprint, state, started_at from alert where active_key is not null",
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut seen = std::collections::HashSet::new();
        for a in active {
            let fp = a.fingerprint();
            seen.insert(fp.clone());
            match current.iter().find(|c| c.2 == fp) {
                Some((id, _, _, state, started)) => {
                    let fire = state == "pending" && now - started >= a.for_secs;
                    sqlx::query(
                        "update alert set value = $1, baseline = $2, threshold = $3, reason = $4, last_eval_at = $5,
                         state = case when $6 = 1 then 'firing' else state end,
                         fired_at = case when $6 = 1 then $5 else fired_at end
                         where id = $7",
                    )
                    .bind(a.value)
                    .bind(a.baseline)
                    .bind(a.threshold)
                    .bind(&a.reason)
                    .bind(now)
                    .bind(i64::from(fire))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    let firing = a.for_secs <= 0;
                    sqlx::query(
                        "insert into alert (rule_id, fingerprint, active_key, labels, domain, state, value, baseline, threshold, reason, started_at, fired_at, last_eval_at)
                         values ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10) on conflict (active_key) do nothing",
                    )
                    .bind(a.rule_id)
                    .bind(&fp)
                    .bind(serde_json::to_string(&a.labels)?)
                    .bind(&a.domain)
                    .bind(if firing { "firing" } else { "pending" })
                    .bind(a.value)
                    .bind(a.baseline)
                    .bind(a.threshold)
                    .bind(&a.reason)
                    .bind(now)
                    .bind(firing.then_some(now))
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        for (id, rule_id, fp, _, _) in &current {
            if rule_ids.contains(rule_id) && !seen.contains(fp) {
                sqlx::query("update alert set state = 'resolved', resolved_at = $1, active_key = null, last_eval_at = $1 where id = $2")
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        self.commit(tx).await.context("applying an evaluation")?;
        Ok(())
    }

    /// Alerts: active ones first, then the newest resolved, at most `limit`.
    pub async fn alerts(&self, limit: i64) -> anyhow::Result<Vec<AlertRow>> {
        let rows = sqlx::query(&format!(
            "select {ALERT_COLUMNS} from alert order by case when active_key is null then 1 else 0 end, started_at desc, id desc limit $1"
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .context("reading alerts")?;
        rows.iter().map(alert_of).collect()
    }

    /// Pending and firing alerts.
    pub async fn active_alerts(&self) -> anyhow::Result<Vec<AlertRow>> {
        let rows = sqlx::query(&format!(
            "select {ALERT_COLUMNS} from alert where active_key is not null"
        ))
        .fetch_all(self.pool())
        .await
        .context("reading active alerts")?;
        rows.iter().map(alert_of).collect()
    }

    /// Acknowledges an active alert; false when it is not active.
    pub async fn acknowledge(&self, id: i64, by: &str, now: i64) -> anyhow::Result<bool> {
        let _guard = self.write_guard().await?;
        let r = sqlx::query("update alert set acknowledged_by = $1, acknowledged_at = $2 where id = $3 and active_key is not null")
            .bind(by)
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await
            .context("acknowledging")?;
        Ok(r.rows_affected() == 1)
    }

    /// Adds a silence; returns its id.
    pub async fn add_silence(&self, s: &SilenceRow, now: i64) -> anyhow::Result<i64> {
        let _guard = self.write_guard().await?;
        let (id,): (i64,) = sqlx::query_as(
            "insert into silence (matchers, starts_at, ends_at, author, comment, created_at, org_id) values ($1, $2, $3, $4, $5, $6, $7) returning id",
        )
        .bind(serde_json::to_string(&s.matchers)?)
        .bind(s.starts_at)
        .bind(s.ends_at)
        .bind(&s.author)
        .bind(&s.comment)
        .bind(now)
        .bind(s.org_id)
        .fetch_one(self.pool())
        .await
        .context("adding a silence")?;
        Ok(id)
    }

    /// Ends a silence now.
    pub async fn expire_silence(&self, id: i64, now: i64) -> anyhow::Result<bool> {
        let _guard = self.write_guard().await?;
        let r = sqlx::query("update silence set ends_at = $1 where id = $2 and ends_at > $1")
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await
            .context("expiring a silence")?;
        Ok(r.rows_affected() == 1)
    }

    /// Silences that have not ended at `now` (and the last day's ended ones), newest first.
    pub async fn silences(&self, now: i64) -> anyhow::Result<Vec<SilenceRow>> {
        let rows: Vec<(i64, String, i64, i64, String, String, i64)> = sqlx::query_as(
            "select id, matchers, starts_at, ends_at, author, comment, org_id from silence where ends_at > $1 order by id desc",
        )
        .bind(now - 86_400)
        .fetch_all(self.pool())
        .await
        .context("reading silences")?;
        Ok(rows
            .into_iter()
            .map(
                |(id, m, starts_at, ends_at, author, comment, org_id)| SilenceRow {
                    id,
                    matchers: serde_json::from_str(&m).unwrap_or_default(),
                    starts_at,
                    ends_at,
                    author,
                    comment,
                    org_id,
                },
            )
            .collect())
    }

    /// Adds a channel; returns its id.
    pub async fn add_channel(&self, c: &ChannelRow, now: i64) -> anyhow::Result<i64> {
        let _guard = self.write_guard().await?;
        let (id,): (i64,) = sqlx::query_as(
            "insert into alert_channel (name, kind, config, domains, enabled, created_at, org_id) values ($1, $2, $3, $4, $5, $6, $7) returning id",
        )
        .bind(&c.name)
        .bind(&c.kind)
        .bind(self.sealer()?.seal(&c.config.to_string()))
        .bind(serde_json::to_string(&c.domains)?)
        .bind(i64::from(c.enabled))
        .bind(now)
        .bind(c.org_id)
        .fetch_one(self.pool())
        .await
        .context("adding a channel")?;
        Ok(id)
    }

    /// Deletes a channel.
    pub async fn delete_channel(&self, id: i64) -> anyhow::Result<bool> {
        let _guard = self.write_guard().await?;
        let r = sqlx::query("delete from alert_channel where id = $1")
            .bind(id)
            .execute(self.pool())
            .await
            .context("deleting a channel")?;
        Ok(r.rows_affected() == 1)
    }

    /// Every channel.
    pub async fn channels(&self) -> anyhow::Result<Vec<ChannelRow>> {
        let rows: Vec<(i64, String, String, String, String, i64, i64)> = sqlx::query_as(
            "select id, name, kind, config, domains, enabled, org_id from alert_channel order by name",
        )
        .fetch_all(self.pool())
        .await
        .context("reading channels")?;
        rows.into_iter()
            .map(|(id, name, kind, config, domains, enabled, org_id)| {
                let config = if crate::secrets::Sealer::is_sealed(&config) {
                    self.sealer()?
                        .open(&config)
                        .with_context(|| format!("opening the settings of channel {name}"))?
                } else {
                    config
                };
                Ok(ChannelRow {
                    id,
                    name,
                    kind,
                    config: serde_json::from_str(&config).unwrap_or(serde_json::Value::Null),
                    domains: serde_json::from_str(&domains).unwrap_or_default(),
                    enabled: enabled != 0,
                    org_id,
                })
            })
            .collect()
    }

    /// `(alert_id, channel_id) -> (last_sent_at, resolved_sent)`.
    pub async fn delivery_states(
        &self,
    ) -> anyhow::Result<std::collections::HashMap<(i64, i64), (i64, bool)>> {
        let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
            "select alert_id, channel_id, last_sent_at, resolved_sent from alert_delivery_state",
        )
        .fetch_all(self.pool())
        .await
        .context("reading delivery states")?;
        Ok(rows
            .into_iter()
            .map(|(a, c, t, r)| ((a, c), (t, r != 0)))
            .collect())
    }

    /// Queues a notification and records, in the same transaction, that its alerts were notified
    /// on the channel (`resolved`: the resolved message went out).
    pub async fn queue_notification(
        &self,
        channel_id: i64,
        group_key: &str,
        kind: &str,
        payload: &str,
        alert_ids: &[i64],
        now: i64,
    ) -> anyhow::Result<i64> {
        let mut turn = self.write_guard().await?;
        let mut tx = self.begin_write(&mut turn).await?;
        let (id,): (i64,) = sqlx::query_as(
            "insert into notification (channel_id, group_key, kind, payload, created_at, status, attempts, next_attempt_at)
             values ($1, $2, $3, $4, $5, 'pending', 0, $5) returning id",
        )
        .bind(channel_id)
        .bind(group_key)
        .bind(kind)
        .bind(payload)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        for a in alert_ids {
            let resolved = i64::from(kind == "resolved");
            sqlx::query(
                "insert into alert_delivery_state (alert_id, channel_id, last_sent_at, resolved_sent) values ($1, $2, $3, $4)
                 on conflict (alert_id, channel_id) do update set last_sent_at = $3, resolved_sent = $4",
            )
            .bind(a)
            .bind(channel_id)
            .bind(now)
            .bind(resolved)
            .execute(&mut *tx)
            .await?;
        }
        self.commit(tx).await.context("queueing a notification")?;
        Ok(id)
    }

    /// Claims a due notification for delivery (one instance wins); `None` when none is due.
    pub async fn claim_notification(
        &self,
        now: i64,
        hold: i64,
    ) -> anyhow::Result<Option<NotificationRow>> {
        let due: Vec<(i64,)> = sqlx::query_as(
            "select id from notification where (status = 'pending' and next_attempt_at <= $1) or (status = 'sending' and claimed_until < $1) order by id limit 20",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await
        .context("finding due notifications")?;
        for (id,) in due {
            let got = {
                let _guard = self.write_guard().await?;
                sqlx::query(
                    "update notification set status = 'sending', claimed_until = $1
                     where id = $2 and ((status = 'pending' and next_attempt_at <= $3) or (status = 'sending' and claimed_until < $3))",
                )
                .bind(now + hold)
                .bind(id)
                .bind(now)
                .execute(self.pool())
                .await
                .context("claiming a notification")?
                .rows_affected()
                    == 1
            };
            if got {
                return self.notification(id).await;
            }
        }
        Ok(None)
    }

    /// One notification.
    pub async fn notification(&self, id: i64) -> anyhow::Result<Option<NotificationRow>> {
        let row = sqlx::query(
            "select id, channel_id, group_key, kind, payload, created_at, status, attempts, last_error, sent_at from notification where id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .context("reading a notification")?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(NotificationRow {
            id: r.try_get(0)?,
            channel_id: r.try_get(1)?,
            group_key: r.try_get(2)?,
            kind: r.try_get(3)?,
            payload: r.try_get(4)?,
            created_at: r.try_get(5)?,
            status: r.try_get(6)?,
            attempts: r.try_get(7)?,
            last_error: r.try_get(8)?,
            sent_at: r.try_get(9)?,
        }))
    }

    /// Records a delivery attempt: sent, or retried at `retry_at` (`None`: given up).
    pub async fn finish_notification(
        &self,
        id: i64,
        result: Result<(), String>,
        now: i64,
        retry_at: Option<i64>,
    ) -> anyhow::Result<()> {
        let _guard = self.write_guard().await?;
        match result {
            Ok(()) => sqlx::query("update notification set status = 'sent', attempts = attempts + 1, sent_at = $1, last_error = null where id = $2")
                .bind(now)
                .bind(id)
                .execute(self.pool())
                .await?,
            Err(e) => sqlx::query("update notification set status = $1, attempts = attempts + 1, next_attempt_at = $2, last_error = $3 where id = $4")
                .bind(if retry_at.is_some() { "pending" } else { "failed" })
                .bind(retry_at.unwrap_or(now))
                .bind(e)
                .bind(id)
                .execute(self.pool())
                .await?,
        };
        Ok(())
    }

    /// The newest notifications.
    pub async fn notifications(&self, limit: i64) -> anyhow::Result<Vec<NotificationRow>> {
        let ids: Vec<(i64,)> =
            sqlx::query_as("select id from notification order by id desc limit $1")
                .bind(limit)
                .fetch_all(self.pool())
                .await?;
        let mut out = Vec::new();
        for (id,) in ids {
            if let Some(n) = self.notification(id).await? {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// Daily rows of one domain for `from..=to`: `(day, success, failure, reports)`.
    pub async fn domain_days(
        &self,
        domain: &str,
        from: i64,
        to: i64,
    ) -> anyhow::Result<Vec<(i64, i64, i64, i64)>> {
        sqlx::query_as(
            "select dd.day, dd.success, dd.failure, dd.reports from daily_domain dd join domain d on d.id = dd.domain_id
             where d.name = $1 and dd.day between $2 and $3 order by dd.day",
        )
        .bind(domain)
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await
        .context("reading daily rows")
    }

    /// Failures per day and key (`mx` or `result_type`) of one domain: `(day, key, failure)`.
    pub async fn domain_failure_days(
        &self,
        domain: &str,
        by_mx: bool,
        from: i64,
        to: i64,
    ) -> anyhow::Result<Vec<(i64, String, i64)>> {
        let (table, key) = if by_mx {
            ("daily_mx", "mx")
        } else {
            ("daily_result", "result_type")
        };
        sqlx::query_as(&format!(
            "select t.day, t.{key}, t.failure from {table} t join domain d on d.id = t.domain_id
             where d.name = $1 and t.day between $2 and $3 order by t.day"
        ))
        .bind(domain)
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await
        .with_context(|| format!("reading {table}"))
    }

    /// Reports per day and reporter of one domain: `(day, org, reports)`.
    pub async fn reporter_days(
        &self,
        domain: &str,
        from: i64,
        to: i64,
    ) -> anyhow::Result<Vec<(i64, String, i64)>> {
        sqlx::query_as(
            "select t.day, t.org_name, t.reports from daily_reporter t join domain d on d.id = t.domain_id
             where d.name = $1 and t.day between $2 and $3",
        )
        .bind(domain)
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await
        .context("reading reporter days")
    }

    /// Metrics source: all-time sums per domain, and per domain and MX / result type (the
    /// `total_*` rollups: a row each, however long the history).
    ///
    /// One statement, each list packed into a JSON array: `/metrics` is scraped often, and
    /// six statements returning a row per domain and MX were six hand-offs to a connection and
    /// a hand-off per row (on SQLite each one a wake-up of the connection's thread). The lists
    /// are sorted here.
    pub async fn metric_totals(&self) -> anyhow::Result<MetricTotals> {
        let sql = format!(
            "select ({}), ({}), ({}), (select count(*) from rejected_input), ({}), ({})",
            self.packed_rows(
                "select d.name, coalesce(t.success, 0) as s, coalesce(t.failure, 0) as f, coalesce(t.reports, 0) as r
                 from domain d left join total_domain t on t.domain_id = d.id",
                "name, s, f, r"
            ),
            self.packed_rows(
                "select d.name, t.mx, t.failure from total_mx t join domain d on d.id = t.domain_id",
                "name, mx, failure"
            ),
            self.packed_rows(
                "select d.name, t.result_type, t.failure from total_result t join domain d on d.id = t.domain_id",
                "name, result_type, failure"
            ),
            self.packed_rows("select worst, runs from total_check_run", "worst, runs"),
            self.packed_rows(
                "select status, count(*) as n from notification group by status",
                "status, n"
            ),
        );
        let row = sqlx::query(&sql)
            .fetch_one(self.pool())
            .await
            .context("reading the metric totals")?;
        fn unpack<T: serde::de::DeserializeOwned + Ord>(
            row: &sqlx::any::AnyRow,
            i: usize,
        ) -> anyhow::Result<Vec<T>> {
            let mut v: Vec<T> = super::unpack_rows(row, i)?;
            v.sort_unstable();
            Ok(v)
        }
        Ok(MetricTotals {
            domains: unpack(&row, 0)?,
            mx: unpack(&row, 1)?,
            result_types: unpack(&row, 2)?,
            rejected: row.try_get(3)?,
            checks: unpack(&row, 4)?,
            notifications: unpack(&row, 5)?,
        })
    }
}

/// Sums for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct MetricTotals {
    /// `(domain, success, failure, reports)`.
    pub domains: Vec<(String, i64, i64, i64)>,
    /// `(domain, mx, failure)`.
    pub mx: Vec<(String, String, i64)>,
    /// `(domain, result_type, failure)`.
    pub result_types: Vec<(String, String, i64)>,
    /// Rejected inputs kept.
    pub rejected: i64,
    /// Check runs ever made, per worst severity (runs of deleted domains included: a counter).
    pub checks: Vec<(String, i64)>,
    /// Notifications per status.
    pub notifications: Vec<(String, i64)>,
}
