//! Hosted MTA-STS policies: versions, the hosting state, the policy hosts' certificates, ACME
//! challenges and accounts. Private keys, challenge answers and account credentials are sealed.

use anyhow::Context;
use sqlx::Row;

use super::Store;

/// A stored version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRow {
    /// 1, 2, … per domain.
    pub version: i64,
    /// The published id.
    pub policy_id: String,
    /// `testing`, `enforce`, `none`.
    pub mode: String,
    /// MX patterns.
    pub mx: Vec<String>,
    /// Seconds.
    pub max_age: i64,
    /// Who.
    pub author: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Why.
    pub comment: String,
    /// Set when a guard was overridden.
    pub override_reason: Option<String>,
}

/// A version to add.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    /// The published id (unique).
    pub policy_id: &'a str,
    /// Mode.
    pub mode: &'a str,
    /// MX patterns.
    pub mx: &'a [String],
    /// Seconds.
    pub max_age: i64,
    /// Who.
    pub author: &'a str,
    /// Unix seconds.
    pub created_at: i64,
    /// Why.
    pub comment: &'a str,
    /// Set when a guard was overridden.
    pub override_reason: Option<&'a str>,
    /// `active` or `phasing_out`.
    pub state: &'a str,
    /// End of a phase-out.
    pub phase_out_until: Option<i64>,
}

/// Whether and how a domain's policy is hosted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosting {
    /// `active` or `phasing_out`.
    pub state: String,
    /// End of a phase-out (Unix seconds).
    pub phase_out_until: Option<i64>,
    /// The version served.
    pub current_version: i64,
}

/// A policy host's certificate.
#[derive(Debug, Clone)]
pub struct StoredCert {
    /// The chain, PEM.
    pub cert_pem: String,
    /// The private key, PEM (opened).
    pub key_pem: String,
    /// Unix seconds.
    pub not_after: i64,
    /// Unix seconds it was stored.
    pub updated_at: i64,
}

const VERSION_COLUMNS: &str = "v.version, v.policy_id, v.mode, v.mx, v.max_age, v.author, v.created_at, v.comment, v.override_reason";

fn version_of(r: &sqlx::any::AnyRow) -> anyhow::Result<VersionRow> {
    let mx: String = r.try_get(3)?;
    Ok(VersionRow {
        version: r.try_get(0)?,
        policy_id: r.try_get(1)?,
        mode: r.try_get(2)?,
        mx: serde_json::from_str(&mx).context("stored mx list")?,
        max_age: r.try_get(4)?,
        author: r.try_get(5)?,
        created_at: r.try_get(6)?,
        comment: r.try_get(7)?,
        override_reason: r.try_get(8)?,
    })
}

impl Store {
    /// The hosting state of `domain`, when its policy is (or was) hosted.
    pub async fn policy_hosting(&self, domain: &str) -> anyhow::Result<Option<Hosting>> {
        let row: Option<(String, Option<i64>, i64)> = sqlx::query_as(
            "select h.state, h.phase_out_until, h.current_version from hosted_policy h
             join domain d on d.id = h.domain_id where d.name = $1",
        )
        .bind(domain)
        .fetch_optional(self.pool())
        .await
        .context("reading the hosting state")?;
        Ok(
            row.map(|(state, phase_out_until, current_version)| Hosting {
                state,
                phase_out_until,
                current_version,
            }),
        )
    }

    /// Every version of `domain`'s policy, oldest first.
    pub async fn policy_versions(&self, domain: &str) -> anyhow::Result<Vec<VersionRow>> {
        let rows = sqlx::query(&format!(
            "select {VERSION_COLUMNS} from policy_version v join domain d on d.id = v.domain_id
             where d.name = $1 order by v.version"
        ))
        .bind(domain)
        .fetch_all(self.pool())
        .await
        .context("reading policy versions")?;
        rows.iter().map(version_of).collect()
    }

    /// The state and the current version of `domain`'s hosted policy, for serving.
    pub async fn served_policy(
        &self,
        domain: &str,
    ) -> anyhow::Result<Option<(Hosting, VersionRow)>> {
        let row = sqlx::query(&format!(
            "select {VERSION_COLUMNS}, h.state, h.phase_out_until from hosted_policy h
             join domain d on d.id = h.domain_id
             join policy_version v on v.domain_id = h.domain_id and v.version = h.current_version
             where d.name = $1"
        ))
        .bind(domain)
        .fetch_optional(self.pool())
        .await
        .context("reading the served policy")?;
        row.map(|r| {
            let v = version_of(&r)?;
            Ok((
                Hosting {
                    state: r.try_get(9)?,
                    phase_out_until: r.try_get(10)?,
                    current_version: v.version,
                },
                v,
            ))
        })
        .transpose()
    }

    /// Adds the next version of `domain`'s policy and makes it the one served, in one
    /// transaction; its number. Two changes at once: one of them is a conflict.
    pub async fn add_policy_version(
        &self,
        domain: &str,
        new: &NewVersion<'_>,
    ) -> anyhow::Result<i64> {
        let mut turn = self.write_guard().await?;
        let mut tx = self.begin_write(&mut turn).await?;
        let (domain_id,): (i64,) = sqlx::query_as("select id from domain where name = $1")
            .bind(domain)
            .fetch_one(&mut *tx)
            .await
            .context("finding the domain")?;
        let (version,): (i64,) = sqlx::query_as(
            "select cast(coalesce(max(version), 0) + 1 as bigint) from policy_version where domain_id = $1",
        )
        .bind(domain_id)
        .fetch_one(&mut *tx)
        .await
        .context("numbering the version")?;
        sqlx::query(
            "insert into policy_version (domain_id, version, policy_id, mode, mx, max_age, author, created_at, comment, override_reason)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(domain_id)
        .bind(version)
        .bind(new.policy_id)
        .bind(new.mode)
        .bind(serde_json::to_string(new.mx)?)
        .bind(new.max_age)
        .bind(new.author)
        .bind(new.created_at)
        .bind(new.comment)
        .bind(new.override_reason)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            super::unique_violation(e, "another change to this policy was made at the same time; reload and try again")
        })?;
        sqlx::query(
            "insert into hosted_policy (domain_id, state, phase_out_until, current_version) values ($1, $2, $3, $4)
             on conflict (domain_id) do update set state = excluded.state, phase_out_until = excluded.phase_out_until, current_version = excluded.current_version",
        )
        .bind(domain_id)
        .bind(new.state)
        .bind(new.phase_out_until)
        .bind(version)
        .execute(&mut *tx)
        .await
        .context("updating the hosting state")?;
        self.commit(tx).await.context("committing the version")?;
        Ok(version)
    }

    /// Domains whose policy host is served at `now` (active, or phasing out and not over).
    pub async fn hosted_domains(&self, now: i64) -> anyhow::Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "select d.name from hosted_policy h join domain d on d.id = h.domain_id
             where h.state = 'active' or (h.state = 'phasing_out' and h.phase_out_until > $1)
             order by d.name",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await
        .context("listing hosted domains")?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }

    /// The certificate of `host`, if one was obtained.
    pub async fn certificate(&self, host: &str) -> anyhow::Result<Option<StoredCert>> {
        let row: Option<(String, String, i64, i64)> = sqlx::query_as(
            "select cert_pem, key_pem, not_after, updated_at from tls_certificate where host = $1 and cert_pem <> ''",
        )
        .bind(host)
        .fetch_optional(self.pool())
        .await
        .context("reading a certificate")?;
        row.map(|(cert_pem, key, not_after, updated_at)| {
            Ok(StoredCert {
                cert_pem,
                key_pem: self
                    .sealer()?
                    .open(&key)
                    .context("opening a certificate key")?,
                not_after,
                updated_at,
            })
        })
        .transpose()
    }

    /// `not_after` (when there is a certificate) and the last error of `host`.
    pub async fn certificate_status(
        &self,
        host: &str,
    ) -> anyhow::Result<(Option<i64>, Option<String>)> {
        let row: Option<(String, i64, Option<String>)> = sqlx::query_as(
            "select cert_pem, not_after, last_error from tls_certificate where host = $1",
        )
        .bind(host)
        .fetch_optional(self.pool())
        .await
        .context("reading a certificate's state")?;
        Ok(match row {
            Some((cert, not_after, err)) => ((!cert.is_empty()).then_some(not_after), err),
            None => (None, None),
        })
    }

    /// Stores a new certificate for `host` (clearing its last error).
    pub async fn put_certificate(
        &self,
        host: &str,
        cert_pem: &str,
        key_pem: &str,
        not_after: i64,
        now: i64,
    ) -> anyhow::Result<()> {
        let sealed = self.sealer()?.seal(key_pem);
        let _guard = self.write_guard().await?;
        sqlx::query(
            "insert into tls_certificate (host, cert_pem, key_pem, not_after, updated_at, last_error) values ($1, $2, $3, $4, $5, null)
             on conflict (host) do update set cert_pem = excluded.cert_pem, key_pem = excluded.key_pem, not_after = excluded.not_after, updated_at = excluded.updated_at, last_error = null",
        )
        .bind(host)
        .bind(cert_pem)
        .bind(sealed)
        .bind(not_after)
        .bind(now)
        .execute(self.pool())
        .await
        .context("storing a certificate")?;
        Ok(())
    }

    /// Records why obtaining `host`'s certificate failed (the certificate it has is kept).
    pub async fn set_certificate_error(
        &self,
        host: &str,
        error: &str,
        now: i64,
    ) -> anyhow::Result<()> {
        let _guard = self.write_guard().await?;
        sqlx::query(
            "insert into tls_certificate (host, cert_pem, key_pem, not_after, updated_at, last_error) values ($1, '', '', 0, $2, $3)
             on conflict (host) do update set last_error = excluded.last_error",
        )
        .bind(host)
        .bind(now)
        .bind(crate::domain::report::truncate(error, 1000))
        .execute(self.pool())
        .await
        .context("recording a certificate error")?;
        Ok(())
    }

    /// Stores a pending challenge's answer (sealed) for whichever instance the CA reaches.
    pub async fn put_challenge(
        &self,
        host: &str,
        kind: &str,
        token: &str,
        value: &str,
        expires_at: i64,
    ) -> anyhow::Result<()> {
        let sealed = self.sealer()?.seal(value);
        let _guard = self.write_guard().await?;
        sqlx::query(
            "insert into acme_challenge (host, kind, token, value, expires_at) values ($1, $2, $3, $4, $5)
             on conflict (host, kind) do update set token = excluded.token, value = excluded.value, expires_at = excluded.expires_at",
        )
        .bind(host)
        .bind(kind)
        .bind(token)
        .bind(sealed)
        .bind(expires_at)
        .execute(self.pool())
        .await
        .context("storing a challenge")?;
        Ok(())
    }

    /// The pending challenge of `host` of `kind` at `now`: `(token, answer)`.
    pub async fn challenge(
        &self,
        host: &str,
        kind: &str,
        now: i64,
    ) -> anyhow::Result<Option<(String, String)>> {
        let row: Option<(String, String)> = sqlx::query_as(
            "select token, value from acme_challenge where host = $1 and kind = $2 and expires_at > $3",
        )
        .bind(host)
        .bind(kind)
        .bind(now)
        .fetch_optional(self.pool())
        .await
        .context("reading a challenge")?;
        row.map(|(t, v)| Ok((t, self.sealer()?.open(&v).context("opening a challenge")?)))
            .transpose()
    }

    /// Forgets the challenge of `host` of `kind`.
    pub async fn delete_challenge(&self, host: &str, kind: &str) -> anyhow::Result<()> {
        let _guard = self.write_guard().await?;
        sqlx::query("delete from acme_challenge where host = $1 and kind = $2")
            .bind(host)
            .bind(kind)
            .execute(self.pool())
            .await
            .context("deleting a challenge")?;
        Ok(())
    }

    /// The ACME account credentials (JSON) for `directory`.
    pub async fn acme_credentials(&self, directory: &str) -> anyhow::Result<Option<String>> {
        let row: Option<(String,)> =
            sqlx::query_as("select credentials from acme_account where directory = $1")
                .bind(directory)
                .fetch_optional(self.pool())
                .await
                .context("reading the ACME account")?;
        row.map(|(c,)| self.sealer()?.open(&c).context("opening the ACME account"))
            .transpose()
    }

    /// Stores the ACME account credentials for `directory`.
    pub async fn put_acme_credentials(
        &self,
        directory: &str,
        credentials: &str,
    ) -> anyhow::Result<()> {
        let sealed = self.sealer()?.seal(credentials);
        let _guard = self.write_guard().await?;
        sqlx::query(
            "insert into acme_account (directory, credentials) values ($1, $2)
             on conflict (directory) do update set credentials = excluded.credentials",
        )
        .bind(directory)
        .bind(sealed)
        .execute(self.pool())
        .await
        .context("storing the ACME account")?;
        Ok(())
    }
}
