//! Hosted MTA-STS policies: the shapes the server answers for a domain's policy, its versions,
//! the TXT record to publish, the DNS state and the MX migration assistant.

use serde::{Deserialize, Serialize};

/// One version of a hosted policy. Versions are never changed or deleted; a rollback is a new
/// version with an old version's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// 1, 2, … per domain.
    pub version: i64,
    /// The id published in the `_mta-sts` record (letters and digits, never reused).
    pub id: String,
    /// `testing`, `enforce` or `none`.
    pub mode: String,
    /// MX patterns, in the order given.
    pub mx: Vec<String>,
    /// Seconds senders may cache the policy.
    pub max_age: i64,
    /// Who made it (e-mail, `token:NAME`, `cli:LOGIN`).
    pub author: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Why, in the author's words.
    pub comment: String,
    /// Set when a guard was overridden.
    pub override_reason: Option<String>,
    /// The policy file exactly as served (CRLF line ends).
    pub text: String,
}

/// The DNS record a hosted version needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxtRecord {
    /// `_mta-sts.<domain>`.
    pub name: String,
    /// `v=STSv1; id=<id>`.
    pub value: String,
}

/// What the latest check saw in DNS, compared with the served version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsState {
    /// The id the latest check found in the `_mta-sts` record (`None`: none valid, or no check yet).
    pub published_id: Option<String>,
    /// Unix seconds of that check.
    pub checked_at: Option<i64>,
    /// Whether the published id is the served version's.
    pub in_step: bool,
    /// What to do, when not in step.
    pub advice: Option<String>,
}

/// One MX pattern of the current version, as the migration assistant sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MxStep {
    /// The pattern.
    pub mx: String,
    /// Unix seconds since it is in the policy without interruption.
    pub in_policy_since: i64,
    /// From then on no sender can hold a cached policy without it (the longest `max_age` of
    /// the versions before it was added has passed).
    pub safe_from: i64,
    /// MX hosts from the latest check it covers.
    pub covers: Vec<String>,
    /// `waiting`, `ready` (MX records may point at its hosts), or `unused` (no MX record uses
    /// it any more: it can be dropped).
    pub state: String,
    /// The next step in words.
    pub advice: String,
}

/// Everything about a domain's hosted policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyView {
    /// The domain.
    pub domain: String,
    /// `active`, `phasing_out`, `stopped` (phase-out over: the host answers 404) or
    /// `not_hosted`.
    pub state: String,
    /// During a phase-out: Unix seconds when the host starts answering 404.
    pub phase_out_until: Option<i64>,
    /// The host name to point at tlswatch with a CNAME.
    pub host: String,
    /// The version served.
    pub current: Option<PolicyVersion>,
    /// Every version, newest first.
    pub history: Vec<PolicyVersion>,
    /// The record to publish for the current version.
    pub txt_record: Option<TxtRecord>,
    /// The DNS state.
    pub dns: DnsState,
    /// The MX migration assistant, one entry per pattern of the current version.
    pub migration: Vec<MxStep>,
    /// MX hosts from the latest check that the current version does not cover.
    pub uncovered_mx: Vec<String>,
    /// The certificate of the policy host when tlswatch obtains it: `None` when it has none.
    pub certificate_not_after: Option<i64>,
    /// The last error obtaining that certificate.
    pub certificate_error: Option<String>,
}

/// A change to a hosted policy (`PUT /api/v1/domains/{d}/policy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyChange {
    /// `testing`, `enforce` or `none`.
    pub mode: String,
    /// MX patterns (`mail.example.com`, `*.example.net`).
    #[serde(default)]
    pub mx: Vec<String>,
    /// Seconds, 0 to 31557600.
    pub max_age: i64,
    /// Why.
    #[serde(default)]
    pub comment: String,
    /// Makes the change although a guard refuses it; audited with the guard's reasons.
    #[serde(default)]
    pub override_reason: Option<String>,
}

/// The answer to a change: the new version and what to publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// The new version's number.
    pub version: i64,
    /// Its policy id.
    pub id: String,
    /// The policy file as served.
    pub text: String,
    /// The record to publish.
    pub txt_record: TxtRecord,
    /// Things to know that did not block the change (a lowered `max_age`, an MX added).
    pub warnings: Vec<String>,
    /// The guards overridden, when `override_reason` was used.
    pub overridden: Vec<String>,
    /// During a phase-out: Unix seconds when the host starts answering 404.
    pub phase_out_until: Option<i64>,
}

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::auth::{require, Role};

/// A domain's hosted policy (viewer); `None` for an unknown domain.
#[server]
pub async fn get_policy(domain: String) -> Result<Option<PolicyView>, ServerFnError> {
    require(Role::Viewer)?;
    crate::api::backend()?
        .policy(domain)
        .await
        .map_err(crate::auth::failed)
}

/// Publishes a new version (editor). `mx` holds one pattern per line; a refusal by a guard
/// comes back as an error naming the reasons, to be repeated with `override_reason`.
#[server]
pub async fn publish_policy(
    domain: String,
    mode: String,
    mx: String,
    max_age: i64,
    comment: String,
    override_reason: String,
) -> Result<Published, ServerFnError> {
    let by = require(Role::Editor)?;
    let change = PolicyChange {
        mode,
        mx: mx
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        max_age,
        comment,
        override_reason: Some(override_reason).filter(|r| !r.trim().is_empty()),
    };
    crate::api::backend()?
        .publish_policy(&by, domain, change)
        .await
        .map_err(crate::auth::failed)
}

/// Publishes an earlier version's content again (editor).
#[server]
pub async fn rollback_policy(
    domain: String,
    version: i64,
    override_reason: String,
) -> Result<Published, ServerFnError> {
    let by = require(Role::Editor)?;
    crate::api::backend()?
        .rollback_policy(
            &by,
            domain,
            version,
            Some(override_reason).filter(|r| !r.trim().is_empty()),
        )
        .await
        .map_err(crate::auth::failed)
}

/// Stops hosting: `mode: none` for `max_age`, then 404 (editor).
#[server]
pub async fn stop_policy(domain: String) -> Result<Published, ServerFnError> {
    let by = require(Role::Editor)?;
    crate::api::backend()?
        .stop_policy(&by, domain)
        .await
        .map_err(crate::auth::failed)
}
