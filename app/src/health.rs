//! Configuration health: check findings, check runs, guided setup and enforce readiness.
//! The checker itself runs on the server (`server/src/check`); these are the shapes it reports.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::auth::{require, Role};

/// How a finding turned out. Ordered from harmless to worst, so `max` is the run's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The check passed.
    Pass,
    /// Informational, no action needed.
    Info,
    /// A prerequisite failed, so the check did not run.
    Skip,
    /// Works, but risky or against best practice.
    Warn,
    /// The checker could not tell (DNS timeout, port 25 blocked, refused address).
    Error,
    /// An RFC violation, or senders will ignore or mis-apply the policy.
    Fail,
}

impl Severity {
    /// Lower-case name (also the CSS class).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Pass => "pass",
            Severity::Info => "info",
            Severity::Skip => "skip",
            Severity::Warn => "warn",
            Severity::Error => "error",
            Severity::Fail => "fail",
        }
    }

    /// Parses [`Severity::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pass" => Severity::Pass,
            "info" => Severity::Info,
            "skip" => Severity::Skip,
            "warn" => Severity::Warn,
            "error" => Severity::Error,
            "fail" => Severity::Fail,
            _ => return None,
        })
    }
}

/// One result of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable catalogue ID, e.g. `STS-TXT-08`.
    pub id: String,
    /// Outcome.
    pub severity: Severity,
    /// What was checked, in a few words.
    pub title: String,
    /// What was found (may quote DNS and HTTP data: render as text only).
    pub detail: String,
    /// What to change; empty when nothing needs doing.
    pub fix: String,
    /// The RFC clause.
    pub rfc: String,
    /// What it is about when a check runs per host or address (`mx1.example.com 192.0.2.1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The TLS-RPT result type a sender would report for this failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_type: Option<String>,
}

/// A check run as listed in the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRunRow {
    /// Id.
    pub id: i64,
    /// Start, `YYYY-MM-DD HH:MM:SS` UTC.
    pub started: String,
    /// Duration in milliseconds.
    pub millis: i64,
    /// `manual`, `schedule`, `cli` or `api`.
    pub trigger: String,
    /// The worst severity.
    pub worst: Severity,
    /// Number of `fail` findings.
    pub fails: i64,
    /// Number of `warn` findings.
    pub warns: i64,
    /// Policy mode seen (`enforce`, `testing`, `none`) if a valid policy was fetched.
    pub mode: Option<String>,
}

/// Everything the health section of the domain page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthView {
    /// Domain.
    pub domain: String,
    /// The newest run, with its findings.
    pub latest: Option<CheckRunRow>,
    /// Findings of the newest run, worst first.
    pub findings: Vec<Finding>,
    /// Earlier runs, newest first.
    pub history: Vec<CheckRunRow>,
    /// Records to publish for a domain that lacks MTA-STS or TLS-RPT.
    pub setup: SetupGuide,
    /// Whether the domain can move from `testing` to `enforce`.
    pub readiness: Readiness,
}

/// The records tlswatch proposes, each with the live state of the matching checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetupGuide {
    /// Whether MTA-STS is fully working (no setup step left).
    pub sts_done: bool,
    /// Whether TLS-RPT is published and valid.
    pub tlsrpt_done: bool,
    /// The policy file to serve at `https://mta-sts.<domain>/.well-known/mta-sts.txt`.
    pub policy_file: String,
    /// `_mta-sts.<domain>` TXT value with a fresh valid id.
    pub sts_txt_name: String,
    /// Its value.
    pub sts_txt_value: String,
    /// `_smtp._tls.<domain>` TXT name.
    pub tlsrpt_txt_name: String,
    /// Its value pointing at this tlswatch (empty if no destination is configured).
    pub tlsrpt_txt_value: String,
    /// The steps with their live state from the latest check.
    pub steps: Vec<SetupStep>,
}

/// One step of the guided setup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetupStep {
    /// What to do.
    pub title: String,
    /// `pass`, `fail`, `warn`, … from the checks this step is about; `None` before any check.
    pub state: Option<Severity>,
    /// The checks it is judged by.
    pub checks: Vec<String>,
}

/// Enforce readiness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Readiness {
    /// Current mode from the latest check (`None`: no valid policy).
    pub mode: Option<String>,
    /// True when nothing blocks `enforce`.
    pub ready: bool,
    /// What blocks it, in words.
    pub blockers: Vec<String>,
    /// What is already fine.
    pub met: Vec<String>,
    /// Advice on `max_age`.
    pub max_age_advice: String,
}

/// The health section of a domain page (viewer).
#[server]
pub async fn get_health(domain: String) -> Result<Option<HealthView>, ServerFnError> {
    require(Role::Viewer)?;
    crate::api::backend()?
        .health(domain)
        .await
        .map_err(crate::auth::failed)
}

/// Runs the checks of a domain now (editor) and returns the new health view.
#[server]
pub async fn run_check(domain: String) -> Result<Option<HealthView>, ServerFnError> {
    let by = require(Role::Editor)?;
    crate::api::backend()?
        .run_check(&by, domain)
        .await
        .map_err(crate::auth::failed)
}
