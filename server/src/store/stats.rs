//! Reading the daily rollups for charts and tables.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;

use super::Store;

/// Totals of one domain over a range of days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainTotals {
    /// Domain name.
    pub domain: String,
    /// Counted successful sessions.
    pub success: i64,
    /// Counted failed sessions.
    pub failure: i64,
    /// Reports that contributed.
    pub reports: i64,
}

/// Totals of one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyTotals {
    /// Day number (days since 1970-01-01, UTC).
    pub day: i64,
    /// Counted successful sessions.
    pub success: i64,
    /// Counted failed sessions.
    pub failure: i64,
}

impl Store {
    /// Every registered domain with its totals for `from..=to` (days), zero when it has none.
    /// Whole weeks come from `weekly_domain`, the days around them from `daily_domain`.
    pub async fn domain_totals(&self, from: i64, to: i64) -> anyhow::Result<Vec<DomainTotals>> {
        let split = WeekSplit::of(from, to);
        let sql = self.packed_rows(
            "select d.name, coalesce(t.s, 0) as s, coalesce(t.f, 0) as f, coalesce(t.r, 0) as r
             from domain d left join (
                 select domain_id, cast(sum(success) as bigint) as s, cast(sum(failure) as bigint) as f,
                        cast(sum(reports) as bigint) as r
                 from (select domain_id, success, failure, reports from weekly_domain where week between $1 and $2
                       union all
                       select domain_id, success, failure, reports from daily_domain
                       where day between $3 and $4 or day between $5 and $6) parts
                 group by domain_id) t on t.domain_id = d.id",
            "name, s, f, r",
        );
        let row = split
            .bind(sqlx::query(&sql))
            .fetch_one(self.pool())
            .await
            .context("reading domain totals")?;
        let mut rows: Vec<(String, i64, i64, i64)> = super::unpack_rows(&row, 0)?;
        rows.sort_unstable();
        Ok(rows
            .into_iter()
            .map(|(domain, success, failure, reports)| DomainTotals {
                domain,
                success,
                failure,
                reports,
            })
            .collect())
    }

    /// Daily totals across all domains for `from..=to`; days without data are absent.
    pub async fn daily_totals(&self, from: i64, to: i64) -> anyhow::Result<Vec<DailyTotals>> {
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "select day, success, failure from daily_total where day between $1 and $2 order by day",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await
        .context("reading daily totals")?;
        Ok(rows
            .into_iter()
            .map(|(day, success, failure)| DailyTotals {
                day,
                success,
                failure,
            })
            .collect())
    }

    /// Per domain, totals of `from..=to` in buckets of `weeks` weeks (weeks of Unix days,
    /// `day / 7`): `(domain, bucket, success, failure)` with bucket
    /// `(day / 7 - from / 7) / weeks`. The first and last bucket hold only the days of the
    /// range.
    pub async fn domain_week_buckets(
        &self,
        from: i64,
        to: i64,
        weeks: i64,
    ) -> anyhow::Result<Vec<(String, i64, i64, i64)>> {
        let split = WeekSplit::of(from, to);
        // One week per bucket: whole weeks as they are (one row per domain and week), and
        // only the edge days summed into their weeks.
        let sql = if weeks <= 1 {
            "select domain_id, week - $7, success, failure from weekly_domain where week between $1 and $2 and $8 = 1
             union all
             select domain_id, day / 7 - $7, cast(sum(success) as bigint), cast(sum(failure) as bigint)
             from daily_domain where day between $3 and $4 or day between $5 and $6
             group by domain_id, day / 7"
        } else {
            "select domain_id, (week - $7) / $8 as b, cast(sum(success) as bigint) as s, cast(sum(failure) as bigint) as f
             from (select domain_id, week, success, failure from weekly_domain where week between $1 and $2
                   union all
                   select domain_id, day / 7 as week, success, failure from daily_domain
                   where day between $3 and $4 or day between $5 and $6) parts
             group by domain_id, (week - $7) / $8"
        };
        // SQLite: whole weeks packed a week per row, straight off the primary key's order
        // (see [`unpack_buckets`]); the edge weeks and longer buckets packed after grouping.
        let (sqlite_sql, postgres_sql);
        let sql = match self.backend() {
            super::Backend::Postgres => {
                postgres_sql = packed_pg(sql);
                &postgres_sql
            }
            super::Backend::Sqlite if weeks <= 1 => {
                "select week - $7, json_group_array(domain_id), json_group_array(success), json_group_array(failure)
                 from weekly_domain where week between $1 and $2 and $8 = 1 group by week
                 union all
                 select w - $7, json_group_array(domain_id), json_group_array(s), json_group_array(f)
                 from (select domain_id, day / 7 as w, sum(success) as s, sum(failure) as f from daily_domain
                       where day between $3 and $4 or day between $5 and $6 group by domain_id, day / 7) edges
                 group by w"
            }
            super::Backend::Sqlite => {
                sqlite_sql = packed(sql);
                &sqlite_sql
            }
        };
        let q = split
            .bind(sqlx::query(sql))
            .bind(from.div_euclid(7))
            .bind(weeks.max(1));
        let rows = self.buckets(q).await.context("reading per-domain trends")?;
        self.with_domain_names(rows).await
    }

    /// Number of stored reports.
    pub async fn report_count(&self) -> anyhow::Result<i64> {
        let (n,): (i64,) = sqlx::query_as("select count(*) from report")
            .fetch_one(self.pool())
            .await
            .context("counting reports")?;
        Ok(n)
    }
}

/// A range of days as the rollups read it: the whole weeks in it (`weekly_domain`, weeks of
/// Unix days) and the days before and after them (`daily_domain`). Empty parts are `(1, 0)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekSplit {
    /// Whole weeks, first and last.
    pub weeks: (i64, i64),
    /// Days before the first whole week.
    pub before: (i64, i64),
    /// Days after the last whole week.
    pub after: (i64, i64),
}

impl WeekSplit {
    /// Binds the split to `$1`..`$6` of `q`: whole weeks, days before, days after.
    fn bind<'q>(
        &self,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        q.bind(self.weeks.0)
            .bind(self.weeks.1)
            .bind(self.before.0)
            .bind(self.before.1)
            .bind(self.after.0)
            .bind(self.after.1)
    }

    /// The split of `from..=to` (days).
    pub fn of(from: i64, to: i64) -> Self {
        const NONE: (i64, i64) = (1, 0);
        let first = (from + 6).div_euclid(7);
        let last = (to + 1).div_euclid(7) - 1;
        if to < from {
            return Self {
                weeks: NONE,
                before: NONE,
                after: NONE,
            };
        }
        if first > last {
            return Self {
                weeks: NONE,
                before: (from, to),
                after: NONE,
            };
        }
        Self {
            weeks: (first, last),
            before: (from, first * 7 - 1),
            after: ((last + 1) * 7, to),
        }
    }
}

/// Breakdown of one domain over a range of days (from the rollups).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DomainStats {
    /// Counted successful sessions.
    pub success: i64,
    /// Counted failed sessions.
    pub failure: i64,
    /// Per day: `(day, success, failure)`.
    pub by_day: Vec<(i64, i64, i64)>,
    /// Failed sessions per receiving MX (`""`: the report named none).
    pub by_mx: Vec<(String, i64)>,
    /// Failed sessions per result type.
    pub by_result_type: Vec<(String, i64)>,
    /// Per reporter: `(organization, success, failure, reports, last day)`.
    pub by_reporter: Vec<(String, i64, i64, i64, i64)>,
}

/// A stored report as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReportSummary {
    /// Row id.
    pub id: i64,
    /// Reporter.
    pub org_name: String,
    /// The reporter's report-id.
    pub report_id: String,
    /// Range start, Unix seconds.
    pub start_time: i64,
    /// Range end, Unix seconds.
    pub end_time: i64,
    /// Channel it came through.
    pub channel: String,
    /// Counted successful sessions.
    pub success: i64,
    /// Counted failed sessions.
    pub failure: i64,
    /// The policy domain this row is about (a report covering two domains gives two rows).
    pub domains: String,
    /// Number of parse warnings.
    pub warnings: i64,
}

/// Filter for report lists.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    /// Only reports with a policy for this domain.
    pub domain: Option<String>,
    /// Only this reporter.
    pub reporter: Option<String>,
    /// First day (inclusive).
    pub from: Option<i64>,
    /// Last day (inclusive).
    pub to: Option<i64>,
    /// Only reports with failed sessions.
    pub failures_only: bool,
    /// Most rows.
    pub limit: i64,
    /// Only reports with a policy for a domain this organization has proven (the service
    /// sets it from the caller; `None`: every domain).
    pub org: Option<i64>,
}

impl Store {
    /// Stats of one domain for `from..=to`; `None` when the domain is not registered.
    ///
    /// One statement, each list packed into a JSON array (as `/metrics`): five statements
    /// returning a row per day, MX, result type and reporter were five hand-offs to a
    /// connection and one per row, each a wake-up of the task behind whatever else the
    /// runtime was doing. The lists are ordered here.
    pub async fn domain_stats(
        &self,
        domain: &str,
        from: i64,
        to: i64,
    ) -> anyhow::Result<Option<DomainStats>> {
        use sqlx::Row;
        const ID: &str = "(select id from domain where name = $1)";
        let failures = |table: &str, key: &str| {
            // Table and column are constants here, never input.
            self.packed_rows(
                &format!(
                    "select {key} as k, cast(sum(failure) as bigint) as f from {table}
                     where domain_id = {ID} and day between $2 and $3 group by {key}"
                ),
                "k, f",
            )
        };
        let sql = format!(
            "select {ID}, ({}), ({}), ({}), ({})",
            self.packed_rows(
                &format!(
                    "select day, success, failure from daily_domain
                     where domain_id = {ID} and day between $2 and $3"
                ),
                "day, success, failure"
            ),
            failures("daily_mx", "mx"),
            failures("daily_result", "result_type"),
            self.packed_rows(
                &format!(
                    "select org_name, cast(sum(success) as bigint) as s, cast(sum(failure) as bigint) as f,
                            cast(sum(reports) as bigint) as r, max(day) as last
                     from daily_reporter where domain_id = {ID} and day between $2 and $3
                     group by org_name"
                ),
                "org_name, s, f, r, last"
            ),
        );
        let row = sqlx::query(&sql)
            .bind(domain)
            .bind(from)
            .bind(to)
            .fetch_one(self.pool())
            .await
            .context("reading domain stats")?;
        if row.try_get::<Option<i64>, _>(0)?.is_none() {
            return Ok(None);
        }
        let mut by_day: Vec<(i64, i64, i64)> = super::unpack_rows(&row, 1)?;
        by_day.sort_unstable_by_key(|d| d.0);
        let most_first = |mut v: Vec<(String, i64)>| {
            v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v
        };
        let by_mx = most_first(super::unpack_rows(&row, 2)?);
        let by_result_type = most_first(super::unpack_rows(&row, 3)?);
        let mut by_reporter: Vec<(String, i64, i64, i64, i64)> = super::unpack_rows(&row, 4)?;
        by_reporter.sort_unstable_by(|a, b| b.3.cmp(&a.3).then_with(|| a.0.cmp(&b.0)));
        let (success, failure) = by_day.iter().fold((0, 0), |(s, f), d| (s + d.1, f + d.2));
        Ok(Some(DomainStats {
            success,
            failure,
            by_day,
            by_mx,
            by_result_type,
            by_reporter,
        }))
    }

    /// Reports matching `f`, newest range first: one row per report and policy domain, with
    /// that domain's counted numbers. The domain and failure filters apply per domain.
    pub async fn reports(&self, f: &ReportFilter) -> anyhow::Result<Vec<ReportSummary>> {
        type Row = (i64, String, String, i64, i64, String, String, i64);
        let limit = f.limit.clamp(1, 100_000);
        let domain = f.domain.clone().unwrap_or_default();
        // The newest matching reports (each gives at least one row), then their counted
        // policies grouped by domain. Without a domain: newest first along `report_newest`,
        // each report checked for a policy that passes (a correlated `limit 1` subquery, not
        // `exists`: PostgreSQL turns `exists` into a semi-join over every partition, 20 s at
        // 10 M reports instead of 3 ms); with one: that domain's policies
        // (`report_policy_domain`), then their reports.
        let domain_id: Option<i64> = if domain.is_empty() {
            None
        } else {
            match sqlx::query_scalar::<_, i64>("select id from domain where name = $1")
                .bind(&domain)
                .fetch_optional(self.pool())
                .await
                .context("listing reports")?
            {
                Some(id) => Some(id),
                None => return Ok(Vec::new()),
            }
        };
        const ORG: &str = "($7 = 0 or p.domain_id in (select c.domain_id from org_domain c
                               where c.org_id = $7 and c.verified_at is not null))";
        // With a domain: its reports (day, id) that have a matching policy.
        let pairs = format!(
            "(select distinct p.report_id, p.start_day from report_policy p
              where p.domain_id = $1 and p.start_day between $3 and $4 and p.start_day >= $8
                and ($5 = 0 or (p.counted = 1 and p.failure_count > 0))
                and {ORG})"
        );
        let sql = match domain_id {
            None => format!(
                "select r.id, r.org_name, r.report_id, r.start_time, r.end_time, r.channel, r.warnings, r.start_day
                 from report r
                 where r.start_day between $3 and $4 and r.start_day >= $8
                   and ($2 = '' or r.org_name = $2)
                   and ($5 = 0 or r.failure_count > 0)
                   and (select 1 from report_policy p where p.report_id = r.id and p.start_day = r.start_day
                          and $1 = 0 -- no domain: $1 is 0 (every parameter must appear)
                          and ($5 = 0 or (p.counted = 1 and p.failure_count > 0))
                          and {ORG}
                        limit 1) = 1
                 order by r.start_day desc, r.start_time desc, r.id desc
                 limit $6"
            ),
            // PostgreSQL: each report looked up by its key (a lateral subquery that is not
            // flattened, so its month is chosen at run time); a plain join let the planner hash
            // the months' whole report partitions instead (1.3 s on 1 M reports instead of
            // 44 ms). SQLite joins by nested loops, through the key, anyway.
            Some(_) if self.backend() == super::Backend::Postgres => format!(
                "select r.id, r.org_name, r.report_id, r.start_time, r.end_time, r.channel, r.warnings, r.start_day
                 from {pairs} m
                 cross join lateral (select r.id, r.org_name, r.report_id, r.start_time, r.end_time, r.channel, r.warnings, r.start_day
                                     from report r where r.id = m.report_id and r.start_day = m.start_day
                                       and ($2 = '' or r.org_name = $2)
                                     limit 1) r
                 order by r.start_day desc, r.start_time desc, r.id desc
                 limit $6"
            ),
            Some(_) => format!(
                "select r.id, r.org_name, r.report_id, r.start_time, r.end_time, r.channel, r.warnings, r.start_day
                 from {pairs} m
                 join report r on r.id = m.report_id and r.start_day = m.start_day
                 where ($2 = '' or r.org_name = $2)
                 order by r.start_day desc, r.start_time desc, r.id desc
                 limit $6"
            ),
        };
        // One domain, any reporter: the newest `limit` reports start on or after the day of
        // the `limit`-th newest, which the covering index tells without reading reports; only
        // reports from that day on are read and sorted.
        let from = f.from.unwrap_or(i64::MIN / 2);
        let first_day = match domain_id {
            Some(id) if f.reporter.as_deref().unwrap_or("").is_empty() => {
                sqlx::query_scalar::<_, Option<i64>>(
                    // Ordered as the index is (day, then report), so the newest distinct
                    // pairs come straight off it, month by month, and the scan stops at the
                    // limit; ordered by day alone, PostgreSQL collected and de-duplicated
                    // every policy row of the domain first (88 ms instead of 1.9 ms on 1 M
                    // reports).
                    "select min(start_day) from (select distinct p.start_day, p.report_id from report_policy p
                     where p.domain_id = $1 and p.start_day between $2 and $3
                       and ($4 = 0 or (p.counted = 1 and p.failure_count > 0))
                       and ($5 = 0 or p.domain_id in (select c.domain_id from org_domain c
                                                      where c.org_id = $5 and c.verified_at is not null))
                     order by p.start_day desc, p.report_id desc limit $6) newest",
                )
                .bind(id)
                .bind(from)
                .bind(f.to.unwrap_or(i64::MAX / 2))
                .bind(i64::from(f.failures_only))
                .bind(f.org.unwrap_or(0))
                .bind(limit)
                    .fetch_one(self.pool())
                    .await
                    .context("listing reports")?
                    .unwrap_or(from)
                    .max(from)
            }
            _ => from,
        };
        let reports: Vec<Row> = sqlx::query_as(&sql)
            .bind(domain_id.unwrap_or(0))
            .bind(f.reporter.clone().unwrap_or_default())
            .bind(from)
            .bind(f.to.unwrap_or(i64::MAX / 2))
            .bind(i64::from(f.failures_only))
            .bind(limit)
            .bind(f.org.unwrap_or(0))
            .bind(first_day)
            .fetch_all(self.pool())
            .await
            .context("listing reports")?;
        let mut per_domain: HashMap<i64, BTreeMap<String, (i64, i64)>> = HashMap::new();
        for chunk in reports.chunks(500) {
            let sql = format!(
                "select report_id, policy_domain, cast(sum(success_count * counted) as bigint),
                        cast(sum(failure_count * counted) as bigint)
                 from report_policy where report_id in ({}) and start_day between ${} and ${}
                 group by report_id, policy_domain",
                super::rows::list(self.backend(), 1, chunk.len()),
                chunk.len() + 1,
                chunk.len() + 2
            );
            let mut q = sqlx::query_as::<_, (i64, String, i64, i64)>(&sql);
            for r in chunk {
                q = q.bind(r.0);
            }
            let days = chunk.iter().map(|r| r.7);
            q = q
                .bind(days.clone().min().unwrap_or(0))
                .bind(days.max().unwrap_or(0));
            for (id, d, s, fl) in q.fetch_all(self.pool()).await.context("listing reports")? {
                per_domain.entry(id).or_default().insert(d, (s, fl));
            }
        }
        let mut out = Vec::new();
        for (id, org_name, report_id, start_time, end_time, channel, warnings, _) in reports {
            let warnings = serde_json::from_str::<Vec<String>>(&warnings)
                .map(|w| w.len() as i64)
                .unwrap_or(0);
            for (d, (success, failure)) in per_domain.remove(&id).unwrap_or_default() {
                if (!domain.is_empty() && d != domain) || (f.failures_only && failure == 0) {
                    continue;
                }
                out.push(ReportSummary {
                    id,
                    org_name: org_name.clone(),
                    report_id: report_id.clone(),
                    start_time,
                    end_time,
                    channel: channel.clone(),
                    success,
                    failure,
                    domains: d,
                    warnings,
                });
            }
        }
        out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(out)
    }

    /// The domains a stored report has policies for.
    pub async fn report_domains(&self, id: i64) -> anyhow::Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "select distinct d.name from report_policy p join domain d on d.id = p.domain_id where p.report_id = $1",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await
        .context("reading a report's domains")?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// The stored raw report (gzip) and its warnings.
    pub async fn report_raw(&self, id: i64) -> anyhow::Result<Option<(Vec<u8>, Vec<String>)>> {
        let row: Option<(Vec<u8>, String)> =
            sqlx::query_as("select raw_gz, warnings from report where id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await
                .context("reading report")?;
        Ok(row.map(|(raw, w)| (raw, serde_json::from_str(&w).unwrap_or_default())))
    }
}

/// One distinct policy as reporters described it, with when it was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySeen {
    /// `sts`, `tlsa`, `no-policy-found`, …
    pub policy_type: String,
    /// `mode:` from the policy strings (`sts` only).
    pub mode: Option<String>,
    /// `mx-host` patterns, sorted.
    pub mx: Vec<String>,
    /// First and last day seen.
    pub first_day: i64,
    /// Last day seen.
    pub last_day: i64,
    /// Reports describing it.
    pub reports: i64,
    /// Distinct reporting organizations.
    pub reporters: i64,
}

impl Store {
    /// Per domain, totals of `from..=to` in buckets of `width` days:
    /// `(domain, bucket, success, failure)` with bucket `(day - from) / width`.
    pub async fn domain_buckets(
        &self,
        from: i64,
        to: i64,
        width: i64,
    ) -> anyhow::Result<Vec<(String, i64, i64, i64)>> {
        // One day per bucket: the rows as they are (one per domain and day), in index order.
        let sql = if width <= 1 {
            "select domain_id, day - $1, success, failure from daily_domain where day between $1 and $2 and $3 = 1"
        } else {
            "select domain_id, (day - $1) / $3 as b, cast(sum(success) as bigint) as s, cast(sum(failure) as bigint) as f
             from daily_domain where day between $1 and $2 group by domain_id, (day - $1) / $3"
        };
        // SQLite: a day per row, straight off the `daily_domain_day` index's order (see
        // [`unpack_buckets`]).
        let (sqlite_sql, postgres_sql);
        let sql = match self.backend() {
            super::Backend::Postgres => {
                postgres_sql = packed_pg(sql);
                &postgres_sql
            }
            super::Backend::Sqlite if width <= 1 => {
                "select day - $1, json_group_array(domain_id), json_group_array(success), json_group_array(failure)
                 from daily_domain where day between $1 and $2 and $3 = 1 group by day"
            }
            super::Backend::Sqlite => {
                sqlite_sql = packed(sql);
                &sqlite_sql
            }
        };
        let q = sqlx::query(sql).bind(from).bind(to).bind(width.max(1));
        let rows = self.buckets(q).await.context("reading per-domain trends")?;
        self.with_domain_names(rows).await
    }

    /// Runs a sparkline query, packed a bucket per row ([`packed`] on SQLite, [`packed_pg`] on
    /// PostgreSQL): its `(domain id, bucket, success, failure)` rows.
    async fn buckets<'q>(
        &self,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> anyhow::Result<Vec<(i64, i64, i64, i64)>> {
        let rows = q.fetch_all(self.pool()).await?;
        match self.backend() {
            super::Backend::Postgres => unpack_buckets_pg(&rows),
            super::Backend::Sqlite => unpack_buckets(&rows),
        }
    }

    /// `(domain id, …)` rows with the domain's name in place of its id.
    async fn with_domain_names(
        &self,
        rows: Vec<(i64, i64, i64, i64)>,
    ) -> anyhow::Result<Vec<(String, i64, i64, i64)>> {
        let row = sqlx::query(&self.packed_rows("select id, name from domain", "id, name"))
            .fetch_one(self.pool())
            .await
            .context("reading domain names")?;
        let names: std::collections::HashMap<i64, String> =
            super::unpack_rows::<(i64, String)>(&row, 0)?
                .into_iter()
                .collect();
        Ok(rows
            .into_iter()
            .filter_map(|(id, b, s, f)| names.get(&id).map(|n| (n.clone(), b, s, f)))
            .collect())
    }

    /// Sending MTA addresses with the most failed sessions for `domain` in `from..=to`
    /// (counted policies only, so sts+tlsa double listings count once).
    pub async fn top_sending_mtas(
        &self,
        domain: &str,
        from: i64,
        to: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<(String, i64, i64)>> {
        sqlx::query_as(
            "select coalesce(fd.sending_mta_ip, ''), cast(sum(fd.failed_session_count) as bigint), count(distinct r.org_name)
             from failure_detail fd
             join report_policy rp on rp.id = fd.policy_id and rp.start_day = fd.start_day
             join report r on r.id = rp.report_id and r.start_day = rp.start_day
             join domain d on d.id = rp.domain_id
             where d.name = $1 and rp.counted = 1 and fd.start_day between $2 and $3
               and rp.start_day between $2 and $3 and r.start_day between $2 and $3
             group by coalesce(fd.sending_mta_ip, '') order by 2 desc, 1 limit $4",
        )
        .bind(domain)
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .context("reading top sending MTAs")
    }

    /// The distinct policies reporters described for `domain` in `from..=to`, oldest first.
    pub async fn policies_seen(
        &self,
        domain: &str,
        from: i64,
        to: i64,
    ) -> anyhow::Result<Vec<PolicySeen>> {
        let rows: Vec<(i64, String, String, String, String)> = sqlx::query_as(
            "select r.start_day, r.org_name, rp.policy_type, rp.policy_strings, rp.mx_patterns
             from report_policy rp join report r on r.id = rp.report_id and r.start_day = rp.start_day
             join domain d on d.id = rp.domain_id
             where d.name = $1 and rp.start_day between $2 and $3 and r.start_day between $2 and $3
             order by r.start_day limit 50000",
        )
        .bind(domain)
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await
        .context("reading policies seen")?;
        let mut seen: Vec<(PolicySeen, std::collections::BTreeSet<String>)> = Vec::new();
        for (day, org, ptype, strings, mx) in rows {
            let strings: Vec<String> = serde_json::from_str(&strings).unwrap_or_default();
            let mut mx: Vec<String> = serde_json::from_str(&mx).unwrap_or_default();
            mx.sort();
            mx.dedup();
            let mode = strings
                .iter()
                .find_map(|s| s.trim().strip_prefix("mode:").map(|m| m.trim().to_string()));
            match seen
                .iter_mut()
                .find(|(p, _)| p.policy_type == ptype && p.mode == mode && p.mx == mx)
            {
                Some((p, orgs)) => {
                    p.first_day = p.first_day.min(day);
                    p.last_day = p.last_day.max(day);
                    p.reports += 1;
                    orgs.insert(org);
                }
                None => {
                    if seen.len() < 100 {
                        seen.push((
                            PolicySeen {
                                policy_type: ptype,
                                mode,
                                mx,
                                first_day: day,
                                last_day: day,
                                reports: 1,
                                reporters: 0,
                            },
                            [org].into_iter().collect(),
                        ));
                    }
                }
            }
        }
        Ok(seen
            .into_iter()
            .map(|(mut p, orgs)| {
                p.reporters = orgs.len() as i64;
                p
            })
            .collect())
    }
}

/// `sql`, which selects `domain_id, b, s, f` (a domain's bucket and its sums), packed a
/// bucket per row for [`unpack_buckets`] (SQLite).
fn packed(sql: &str) -> String {
    format!(
        "select b, json_group_array(domain_id), json_group_array(s), json_group_array(f)
         from ({sql}) buckets group by b"
    )
}

/// The same on PostgreSQL, for a query of `(domain id, bucket, success, failure)` columns
/// whatever their names: a row per bucket with its `domain success failure` triples in one
/// string, one aggregate, so each triple stays whole. At 10 M reports the 365-day sparklines'
/// 53,000 rows, each decoded by sqlx apart, took 42 ms at p50 where the query took 16. (Three
/// `json_agg`s would need an `order by` each to be sure to agree, which sorted on disk: 46 ms
/// in `psql`; one `json_agg` of arrays took 37–57 ms; this, 26 ms with the transfer.)
fn packed_pg(sql: &str) -> String {
    format!(
        "select b, string_agg(domain_id::text || ' ' || s::text || ' ' || f::text, ' ')
         from ({sql}) as buckets (domain_id, b, s, f) group by b"
    )
}

/// Rows of [`packed_pg`] as `(domain id, bucket, success, failure)` rows.
fn unpack_buckets_pg(rows: &[sqlx::any::AnyRow]) -> anyhow::Result<Vec<(i64, i64, i64, i64)>> {
    use sqlx::Row;
    let mut out = Vec::new();
    for r in rows {
        let bucket: i64 = r.try_get(0)?;
        let packed: &str = r.try_get(1)?;
        let numbers = packed
            .split(' ')
            .map(str::parse::<i64>)
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("sparkline bucket {bucket}: not numbers"))?;
        anyhow::ensure!(
            numbers.len() % 3 == 0,
            "sparkline bucket {bucket}: {} numbers, not triples",
            numbers.len()
        );
        out.extend(numbers.chunks_exact(3).map(|t| (t[0], bucket, t[1], t[2])));
    }
    Ok(out)
}

/// SQLite sparkline rows `(bucket, [domain id, …], [success, …], [failure, …])` (JSON arrays
/// of one length, in one order) as `(domain id, bucket, success, failure)` rows.
///
/// A sparkline query has a row per domain and day or week: 30,000 for 1,000 domains over 30
/// days, 52,000 over 365. sqlx hands each row from its SQLite connection thread to the task,
/// which cost more than the query (365 days at 10 M reports: p50 96 ms, of which SQLite's
/// part is ~4 ms). Packed a bucket per row, in the index's order (no sort), the query
/// returns 30 or 53 rows.
fn unpack_buckets(rows: &[sqlx::any::AnyRow]) -> anyhow::Result<Vec<(i64, i64, i64, i64)>> {
    use sqlx::Row;
    let mut out = Vec::new();
    for r in rows {
        let bucket: i64 = r.try_get(0)?;
        let ids: Vec<i64> = serde_json::from_str(r.try_get(1)?)?;
        let success: Vec<i64> = serde_json::from_str(r.try_get(2)?)?;
        let failure: Vec<i64> = serde_json::from_str(r.try_get(3)?)?;
        anyhow::ensure!(
            ids.len() == success.len() && ids.len() == failure.len(),
            "sparkline bucket {bucket}: arrays of different lengths"
        );
        out.extend(
            ids.into_iter()
                .zip(success.into_iter().zip(failure))
                .map(|(id, (s, f))| (id, bucket, s, f)),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::WeekSplit;

    #[test]
    fn a_week_split_covers_every_day_of_the_range_once() {
        for from in 20_000..20_015 {
            for to in from - 1..from + 40 {
                let s = WeekSplit::of(from, to);
                let mut days: Vec<i64> = (s.before.0..=s.before.1)
                    .chain((s.weeks.0..=s.weeks.1).flat_map(|w| w * 7..w * 7 + 7))
                    .chain(s.after.0..=s.after.1)
                    .collect();
                days.sort();
                assert_eq!(
                    days,
                    (from..=to).collect::<Vec<_>>(),
                    "{from}..={to}: {s:?}"
                );
                assert!(s.before.1 - s.before.0 < 6 || s.weeks == (1, 0), "{s:?}");
                assert!(s.after.1 - s.after.0 < 6, "{s:?}");
            }
        }
    }
}
