//! Organizations, and which of them may see a domain: a claim proven by a TXT record at
//! `_tlswatch-challenge.<domain>` (or vouched for by an instance admin), re-checked
//! periodically.

use std::sync::Arc;

use rand::RngCore;

use super::{Actor, Editor, InstanceAdmin, Needs, Outcome, ServiceError, Viewer};
use crate::check::dns::Dns;
use crate::check::run::CheckService;
use crate::domain::names::DomainName;
use crate::ingest::now_unix;
use crate::store::{Claim, Org, Store};

/// Where an organization publishes its proof, under the domain.
pub const CHALLENGE_LABEL: &str = "_tlswatch-challenge";
/// What the TXT record holds before the token.
pub const CHALLENGE_PREFIX: &str = "tlswatch-verification=";
/// A proven claim is looked up again after this long.
pub const RECHECK_PROVEN_SECS: i64 = 24 * 3600;
/// A claim waiting for its record is looked up again after this long.
pub const RECHECK_PENDING_SECS: i64 = 10 * 60;

/// The TXT record to publish for `claim`: name and value.
pub fn challenge_record(claim: &Claim) -> (String, String) {
    (
        format!("{CHALLENGE_LABEL}.{}", claim.domain),
        format!("{CHALLENGE_PREFIX}{}", claim.challenge),
    )
}

/// Organization use cases, for every adapter.
#[derive(Clone)]
pub struct Orgs {
    store: Store,
    /// Its checker's DNS settings look the records up (`None`: only vouching works).
    checks: Option<Arc<CheckService>>,
}

/// An organization's name: 1 to 64 characters, letters, digits, space, `.`, `-`, `_`.
pub fn check_name(name: &str) -> Outcome<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ServiceError::Invalid(
            "an organization's name has 1 to 64 characters".into(),
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '.' | '-' | '_'))
    {
        return Err(ServiceError::Invalid(
            "an organization's name has letters, digits, spaces, '.', '-' and '_' only".into(),
        ));
    }
    Ok(name.to_string())
}

/// A fresh random token for a claim.
pub(crate) fn new_challenge() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Orgs {
    /// Organizations over `store`; proofs looked up with the DNS settings of `checks` (none:
    /// only vouching works).
    pub fn new(store: Store, checks: Option<Arc<CheckService>>) -> Self {
        Self { store, checks }
    }

    /// Every organization.
    pub async fn list(&self, _: &Actor<InstanceAdmin>) -> Outcome<Vec<Org>> {
        Ok(self.store.orgs().await?)
    }

    /// Every organization's id and name (names of the claims an instance admin lists).
    pub async fn names(&self) -> Outcome<Vec<(i64, String)>> {
        Ok(self
            .store
            .orgs()
            .await?
            .into_iter()
            .map(|o| (o.id, o.name))
            .collect())
    }

    /// The caller's own organization.
    pub async fn own<R: Needs>(&self, by: &Actor<R>) -> Outcome<Org> {
        self.store
            .org_by_id(by.org())
            .await?
            .ok_or_else(|| ServiceError::NotFound("no such organization".into()))
    }

    /// Creates an organization (audited).
    pub async fn add(&self, by: &Actor<InstanceAdmin>, name: &str) -> Outcome<Org> {
        let name = check_name(name)?;
        let id = self.store.add_org(&name, now_unix()).await?;
        self.store.copy_default_rules(id, now_unix()).await?;
        super::audit(&self.store, by, "org.add", &name).await;
        self.store
            .org_by_id(id)
            .await?
            .ok_or(ServiceError::Unavailable)
    }

    /// The organization called `name`, for an instance admin.
    pub async fn by_name(&self, _: &Actor<InstanceAdmin>, name: &str) -> Outcome<Org> {
        self.store
            .org_by_name(name.trim())
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no organization called {name:?}")))
    }

    /// The claims the caller sees: its organization's (an instance admin: all).
    pub async fn claims(&self, by: &Actor<Viewer>) -> Outcome<Vec<Claim>> {
        Ok(self.store.claims(by.org_filter()).await?)
    }

    /// The caller's organization's claim of `domain` (with its record to publish).
    pub async fn claim_of(&self, by: &Actor<Viewer>, domain: &str) -> Outcome<Claim> {
        let name = DomainName::parse(domain)?;
        self.store.claim(by.org(), &name).await?.ok_or_else(|| {
            ServiceError::NotFound("this organization has not claimed this domain".into())
        })
    }

    /// Claims `domain` for the caller's organization, or for `org` (an instance admin only;
    /// another caller naming an organization not its own gets "not found"), audited. With
    /// `vouch` (instance admins only) it is seen at once; otherwise once the TXT record is
    /// found, which is tried right away (the record may be published already).
    pub async fn claim(
        &self,
        by: &Actor<Editor>,
        domain: &str,
        org: Option<&str>,
        vouch: bool,
    ) -> Outcome<Claim> {
        let name = DomainName::parse(domain)?;
        let org_id = match org {
            None => by.org(),
            Some(o) => {
                let found = self.store.org_by_name(o.trim()).await?;
                match found {
                    Some(found) if by.reaches(found.id) => found.id,
                    _ => {
                        return Err(ServiceError::NotFound(format!(
                            "no organization called {o:?}"
                        )))
                    }
                }
            }
        };
        if vouch && !by.sees_all() {
            return Err(ServiceError::Forbidden(
                "only an instance admin may vouch for a domain; publish the TXT record instead"
                    .into(),
            ));
        }
        let claim = self
            .store
            .claim_domain(
                org_id,
                &name,
                &new_challenge(),
                vouch.then_some(by.name()),
                now_unix(),
            )
            .await?;
        super::audit(
            &self.store,
            by,
            if vouch {
                "domain.vouch"
            } else {
                "domain.claim"
            },
            &format!("{name} for organization {org_id}"),
        )
        .await;
        if claim.verified_at.is_none() && self.checks.is_some() {
            return self.prove(claim).await;
        }
        Ok(claim)
    }

    /// Looks up the caller's organization's record for `domain` now; the claim as it then is.
    pub async fn verify(&self, by: &Actor<Editor>, domain: &str) -> Outcome<Claim> {
        let name = DomainName::parse(domain)?;
        let claim = self.store.claim(by.org(), &name).await?.ok_or_else(|| {
            ServiceError::NotFound("this organization has not claimed this domain".into())
        })?;
        if self.checks.is_none() {
            return Err(ServiceError::Conflict(
                "this server does not look up DNS (health checks are off); an instance admin can vouch for the domain".into(),
            ));
        }
        let was = claim.verified_at.is_some();
        let claim = self.prove(claim).await?;
        if !was && claim.verified_at.is_some() {
            super::audit(&self.store, by, "domain.proven", &name).await;
        }
        Ok(claim)
    }

    /// [`Self::verify`] of organization `org`'s claim, for the operator at the command line.
    pub async fn verify_for(&self, org: i64, domain: &str) -> Outcome<Claim> {
        let name = DomainName::parse(domain)?;
        let claim = self.store.claim(org, &name).await?.ok_or_else(|| {
            ServiceError::NotFound("this organization has not claimed this domain".into())
        })?;
        self.prove(claim).await
    }

    /// Withdraws the caller's organization's claim of `domain` (audited); its reports stay.
    pub async fn unclaim(&self, by: &Actor<super::Admin>, domain: &str) -> Outcome<()> {
        let name = DomainName::parse(domain)?;
        if !self.store.unclaim(by.org(), &name).await? {
            return Err(ServiceError::NotFound(
                "this organization has not claimed this domain".into(),
            ));
        }
        super::audit(&self.store, by, "domain.unclaim", &name).await;
        Ok(())
    }

    /// Looks up `claim`'s record and records what was found.
    async fn prove(&self, claim: Claim) -> Outcome<Claim> {
        let Some(checks) = &self.checks else {
            return Ok(claim);
        };
        // A resolver of its own for each lookup: no cached answer (a record just published,
        // or just removed, is seen at once).
        let error = match checks.checker().dns() {
            Ok(dns) => lookup(&dns, &claim).await,
            Err(e) => Proof::Unknown(format!("no DNS resolver: {e}")),
        };
        // A lookup that failed (timeout, SERVFAIL) proves nothing either way: a proven claim
        // keeps its state until the record is seen to be gone.
        let error = match error {
            Proof::Found => None,
            Proof::Missing(why) => Some(why),
            Proof::Unknown(why) if claim.verified_at.is_none() => Some(why),
            Proof::Unknown(why) => {
                tracing::warn!(domain = %claim.domain, error = %why, "domain proof lookup failed; keeping the proven state");
                return Ok(claim);
            }
        };
        self.store
            .record_proof(claim.org_id, &claim.domain, error.as_deref(), now_unix())
            .await?;
        Ok(self
            .store
            .claim(claim.org_id, &claim.domain)
            .await?
            .unwrap_or(claim))
    }

    /// Looks up the claims that are due again; how many were looked up. Run by the server
    /// periodically (one instance at a time).
    pub async fn recheck_due(&self) -> anyhow::Result<usize> {
        self.recheck_due_at(now_unix()).await
    }

    /// [`Self::recheck_due`] as if it were `now`.
    pub async fn recheck_due_at(&self, now: i64) -> anyhow::Result<usize> {
        let due = self
            .store
            .claims_due(now - RECHECK_PENDING_SECS, now - RECHECK_PROVEN_SECS, 200)
            .await?;
        let n = due.len();
        for claim in due {
            let (org, domain, was) = (claim.org_id, claim.domain.clone(), claim.verified_at);
            let after = self
                .prove(claim)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if was.is_some() != after.verified_at.is_some() {
                let what = if after.verified_at.is_some() {
                    "domain.proven"
                } else {
                    "domain.proof-lost"
                };
                super::audit_as(
                    &self.store,
                    "tlswatch",
                    org,
                    None,
                    what,
                    &format!(
                        "{domain}: {}",
                        after.last_error.as_deref().unwrap_or("record found")
                    ),
                )
                .await;
            }
        }
        Ok(n)
    }
}

enum Proof {
    Found,
    /// The record is not there or holds something else.
    Missing(String),
    /// The lookup failed.
    Unknown(String),
}

async fn lookup(dns: &Dns, claim: &Claim) -> Proof {
    let (name, want) = challenge_record(claim);
    match dns.txt(&name).await {
        Ok(answer) => {
            let values: Vec<String> = answer
                .data
                .iter()
                .map(|parts| parts.concat())
                .map(|b| String::from_utf8_lossy(&b).trim().to_string())
                .collect();
            if values.contains(&want) {
                Proof::Found
            } else {
                Proof::Missing(format!(
                    "{name} has {} TXT record(s), none is \"{want}\"",
                    values.len()
                ))
            }
        }
        Err(e) if e.is_absent() => Proof::Missing(format!("no TXT record at {name} ({e})")),
        Err(e) => Proof::Unknown(format!("looking up {name}: {e}")),
    }
}
