//! Organizations and their claims of domains (with the DNS proof of each claim).

use anyhow::Context;

use super::Store;

/// The organization an existing installation's data moved into.
pub const DEFAULT_ORG: i64 = 1;

/// An organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    /// Row id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// An organization's claim of a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The organization.
    pub org_id: i64,
    /// The domain's name.
    pub domain: String,
    /// The token to publish at `_tlswatch-challenge.<domain>`.
    pub challenge: String,
    /// Unix seconds of the claim.
    pub created_at: i64,
    /// Since when the organization sees the domain (`None`: not proven).
    pub verified_at: Option<i64>,
    /// The instance admin who vouched for it instead of the DNS proof.
    pub vouched_by: Option<String>,
    /// Last time the record was looked up.
    pub checked_at: Option<i64>,
    /// Why the last lookup did not prove it.
    pub last_error: Option<String>,
}

type ClaimTuple = (
    i64,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

fn claim(
    (org_id, domain, challenge, created_at, verified_at, vouched_by, checked_at, last_error): ClaimTuple,
) -> Claim {
    Claim {
        org_id,
        domain,
        challenge,
        created_at,
        verified_at,
        vouched_by,
        checked_at,
        last_error,
    }
}

const CLAIM_COLUMNS: &str = "c.org_id, d.name, c.challenge, c.created_at, c.verified_at, c.vouched_by, c.checked_at, c.last_error";

impl Store {
    /// Every organization, by name.
    pub async fn orgs(&self) -> anyhow::Result<Vec<Org>> {
        let rows: Vec<(i64, String, i64)> =
            sqlx::query_as("select id, name, created_at from organization order by name")
                .fetch_all(self.pool())
                .await
                .context("listing organizations")?;
        Ok(rows
            .into_iter()
            .map(|(id, name, created_at)| Org {
                id,
                name,
                created_at,
            })
            .collect())
    }

    /// The organization called `name`.
    pub async fn org_by_name(&self, name: &str) -> anyhow::Result<Option<Org>> {
        Ok(self.orgs().await?.into_iter().find(|o| o.name == name))
    }

    /// The organization `id`.
    pub async fn org_by_id(&self, id: i64) -> anyhow::Result<Option<Org>> {
        Ok(self.orgs().await?.into_iter().find(|o| o.id == id))
    }

    /// Creates an organization; a conflict when the name is taken.
    pub async fn add_org(&self, name: &str, now: i64) -> anyhow::Result<i64> {
        let _guard = self.write_guard().await?;
        let (id,): (i64,) = sqlx::query_as(
            "insert into organization (name, created_at) values ($1, $2) returning id",
        )
        .bind(name)
        .bind(now)
        .fetch_one(self.pool())
        .await
        .map_err(|e| super::unique_violation(e, "an organization with this name exists"))?;
        Ok(id)
    }

    /// Number of organizations.
    pub async fn org_count(&self) -> anyhow::Result<i64> {
        let (n,): (i64,) = sqlx::query_as("select count(*) from organization")
            .fetch_one(self.pool())
            .await
            .context("counting organizations")?;
        Ok(n)
    }

    /// Claims `domain` (registered here if new) for `org` with `challenge`; vouched for (and so
    /// visible at once) when `vouched_by` is given. An existing claim keeps its token; a
    /// vouch proves it.
    pub async fn claim_domain(
        &self,
        org: i64,
        domain: &str,
        challenge: &str,
        vouched_by: Option<&str>,
        now: i64,
    ) -> anyhow::Result<Claim> {
        let domain_id = self.add_domain(domain, "manual", now).await?;
        {
            let _guard = self.write_guard().await?;
            sqlx::query(
                "insert into org_domain (org_id, domain_id, challenge, created_at) values ($1, $2, $3, $4)
                 on conflict (org_id, domain_id) do nothing",
            )
            .bind(org)
            .bind(domain_id)
            .bind(challenge)
            .bind(now)
            .execute(self.pool())
            .await
            .context("claiming a domain")?;
            if let Some(by) = vouched_by {
                sqlx::query(
                    "update org_domain set verified_at = coalesce(verified_at, $1), vouched_by = $2, last_error = null
                     where org_id = $3 and domain_id = $4",
                )
                .bind(now)
                .bind(by)
                .bind(org)
                .bind(domain_id)
                .execute(self.pool())
                .await
                .context("vouching for a domain")?;
            }
        }
        self.claim(org, domain)
            .await?
            .context("the claim just written is missing")
    }

    /// The claim of `domain` by `org`.
    pub async fn claim(&self, org: i64, domain: &str) -> anyhow::Result<Option<Claim>> {
        let row: Option<ClaimTuple> = sqlx::query_as(&format!(
            "select {CLAIM_COLUMNS} from org_domain c join domain d on d.id = c.domain_id
             where c.org_id = $1 and d.name = $2"
        ))
        .bind(org)
        .bind(domain)
        .fetch_optional(self.pool())
        .await
        .context("reading a claim")?;
        Ok(row.map(claim))
    }

    /// The claims of `org` (every claim for `None`), by domain.
    pub async fn claims(&self, org: Option<i64>) -> anyhow::Result<Vec<Claim>> {
        let rows: Vec<ClaimTuple> = sqlx::query_as(&format!(
            "select {CLAIM_COLUMNS} from org_domain c join domain d on d.id = c.domain_id
             where $1 is null or c.org_id = $1 order by d.name, c.org_id"
        ))
        .bind(org)
        .fetch_all(self.pool())
        .await
        .context("listing claims")?;
        Ok(rows.into_iter().map(claim).collect())
    }

    /// The names of the domains `org` has proven (in no order), and how many domains are
    /// registered in all: one statement, the names packed into one JSON array (a row each
    /// was a hand-off each, on every dashboard and API read).
    pub async fn org_domain_names(&self, org: i64) -> anyhow::Result<(Vec<String>, i64)> {
        use sqlx::Row;
        let sql = format!(
            "select ({}), (select count(*) from domain)",
            self.packed_rows(
                "select d.name from org_domain c join domain d on d.id = c.domain_id
                 where c.org_id = $1 and c.verified_at is not null",
                "name"
            )
        );
        let row = sqlx::query(&sql)
            .bind(org)
            .fetch_one(self.pool())
            .await
            .context("listing an organization's domains")?;
        let names = super::unpack_rows::<(String,)>(&row, 0)?
            .into_iter()
            .map(|r| r.0)
            .collect();
        Ok((names, row.try_get(1)?))
    }

    /// Every proven claim as (organization, domain name).
    pub async fn proven_claims(&self) -> anyhow::Result<Vec<(i64, String)>> {
        sqlx::query_as(
            "select c.org_id, d.name from org_domain c join domain d on d.id = c.domain_id
             where c.verified_at is not null order by c.org_id, d.name",
        )
        .fetch_all(self.pool())
        .await
        .context("listing proven claims")
    }

    /// Records a lookup of a claim's record: proven (`error` is `None`; `verified_at` kept
    /// when it was proven before) or not (a claim proven by DNS before loses it; a vouched
    /// one keeps it).
    pub async fn record_proof(
        &self,
        org: i64,
        domain: &str,
        error: Option<&str>,
        now: i64,
    ) -> anyhow::Result<()> {
        let _guard = self.write_guard().await?;
        let sql = if error.is_none() {
            "update org_domain set verified_at = coalesce(verified_at, $1), checked_at = $1, last_error = $2
             where org_id = $3 and domain_id = (select id from domain where name = $4)"
        } else {
            "update org_domain set verified_at = case when vouched_by is null then null else verified_at end,
                 checked_at = $1, last_error = $2
             where org_id = $3 and domain_id = (select id from domain where name = $4)"
        };
        sqlx::query(sql)
            .bind(now)
            .bind(error)
            .bind(org)
            .bind(domain)
            .execute(self.pool())
            .await
            .context("recording a domain proof")?;
        Ok(())
    }

    /// Claims to look up again (not vouched for): never looked up, waiting for their record
    /// and last looked up before `pending_before`, or proven and last looked up before
    /// `proven_before`; the longest unchecked first.
    pub async fn claims_due(
        &self,
        pending_before: i64,
        proven_before: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<Claim>> {
        let rows: Vec<ClaimTuple> = sqlx::query_as(&format!(
            "select {CLAIM_COLUMNS} from org_domain c join domain d on d.id = c.domain_id
             where c.vouched_by is null and (c.checked_at is null
                 or (c.verified_at is null and c.checked_at < $1) or c.checked_at < $2)
             order by coalesce(c.checked_at, 0) limit $3"
        ))
        .bind(pending_before)
        .bind(proven_before)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .context("listing claims due")?;
        Ok(rows.into_iter().map(claim).collect())
    }

    /// Withdraws `org`'s claim of `domain`; whether there was one. The domain and its reports
    /// stay (another organization may claim it).
    pub async fn unclaim(&self, org: i64, domain: &str) -> anyhow::Result<bool> {
        let _guard = self.write_guard().await?;
        let n = sqlx::query(
            "delete from org_domain where org_id = $1 and domain_id = (select id from domain where name = $2)",
        )
        .bind(org)
        .bind(domain)
        .execute(self.pool())
        .await
        .context("withdrawing a claim")?
        .rows_affected();
        Ok(n == 1)
    }
}
