//! `/metrics`: the Prometheus text exposition of the numbers (viewer role or a token).

use app::auth::CurrentUser;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use std::fmt::Write as _;

use super::routes::Routes;
use super::AppState;
use crate::service::{Actor, ServiceError, Viewer};

/// The route.
pub fn routes() -> Routes {
    Routes::new().get("/metrics", metrics)
}

/// Prometheus label value escaping (backslash, double quote and line feed), written where
/// the line is formatted instead of into a string of its own.
fn esc(v: &str) -> Esc<'_> {
    Esc(v)
}

/// A label value as [`esc`] writes it.
struct Esc<'a>(&'a str);

impl std::fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['\\', '"', '\n']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'\\' => "\\\\",
                b'"' => "\\\"",
                _ => "\\n",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

async fn metrics(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Viewer>::authorize(&user)?;
    let crate::service::stats::MetricsSnapshot {
        totals,
        alerts,
        quarantine,
        instance_wide,
        mailboxes: snapshot_mailboxes,
    } = state.services.stats.metrics(&by).await?;
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(
        "tlswatch_sessions_total",
        "counter",
        "TLS sessions reported for the domain, by result (counting rule applied).",
    );
    let mut body = String::new();
    for (d, s, f, _) in &totals.domains {
        let _ = writeln!(
            body,
            "tlswatch_sessions_total{{domain=\"{}\",result=\"success\"}} {s}",
            esc(d)
        );
        let _ = writeln!(
            body,
            "tlswatch_sessions_total{{domain=\"{}\",result=\"failure\"}} {f}",
            esc(d)
        );
    }
    out.push_str(&body);
    let mut rest = String::new();
    rest.push_str("# HELP tlswatch_reports_total Reports stored for the domain.\n# TYPE tlswatch_reports_total counter\n");
    for (d, _, _, n) in &totals.domains {
        let _ = writeln!(rest, "tlswatch_reports_total{{domain=\"{}\"}} {n}", esc(d));
    }
    rest.push_str("# HELP tlswatch_failed_sessions_by_mx_total Failed sessions by receiving MX.\n# TYPE tlswatch_failed_sessions_by_mx_total counter\n");
    for (d, mx, n) in &totals.mx {
        let _ = writeln!(
            rest,
            "tlswatch_failed_sessions_by_mx_total{{domain=\"{}\",mx=\"{}\"}} {n}",
            esc(d),
            esc(mx)
        );
    }
    rest.push_str("# HELP tlswatch_failed_sessions_by_result_type_total Failed sessions by RFC 8460 result type.\n# TYPE tlswatch_failed_sessions_by_result_type_total counter\n");
    for (d, rt, n) in &totals.result_types {
        let _ = writeln!(
            rest,
            "tlswatch_failed_sessions_by_result_type_total{{domain=\"{}\",result_type=\"{}\"}} {n}",
            esc(d),
            esc(rt)
        );
    }
    rest.push_str("# HELP tlswatch_rejected_inputs_total Inputs rejected and kept in the quarantine.\n# TYPE tlswatch_rejected_inputs_total counter\n");
    let _ = writeln!(rest, "tlswatch_rejected_inputs_total {}", totals.rejected);
    if let Some(((entries, bytes), quota)) = quarantine {
        let _ = writeln!(rest,
            "# HELP tlswatch_quarantine_entries Inputs kept in the quarantine.\n# TYPE tlswatch_quarantine_entries gauge\ntlswatch_quarantine_entries {entries}\n\
             # HELP tlswatch_quarantine_bytes Compressed bytes kept in the quarantine.\n# TYPE tlswatch_quarantine_bytes gauge\ntlswatch_quarantine_bytes {bytes}\n\
             # HELP tlswatch_quarantine_max_entries Quota of quarantine entries.\n# TYPE tlswatch_quarantine_max_entries gauge\ntlswatch_quarantine_max_entries {}\n\
             # HELP tlswatch_quarantine_max_bytes Quota of quarantine bytes.\n# TYPE tlswatch_quarantine_max_bytes gauge\ntlswatch_quarantine_max_bytes {}",
            quota.max_entries, quota.max_bytes
        );
    }
    if instance_wide {
        use crate::telemetry::counters::{
            read, QUARANTINE_EVICTED, RECEIVER_BUSY, RECEIVER_RATE_LIMITED, REQUEST_TIMEOUTS,
        };
        let _ = writeln!(rest,
            "# HELP tlswatch_quarantine_evicted_total Quarantined inputs evicted to stay within the quota (this process).\n# TYPE tlswatch_quarantine_evicted_total counter\ntlswatch_quarantine_evicted_total {}\n\
             # HELP tlswatch_receiver_refused_total Receiver requests refused before reading them (this process).\n# TYPE tlswatch_receiver_refused_total counter\n\
             tlswatch_receiver_refused_total{{reason=\"rate\"}} {}\ntlswatch_receiver_refused_total{{reason=\"busy\"}} {}\n\
             # HELP tlswatch_request_timeouts_total Requests ended by the server-side deadline (this process).\n# TYPE tlswatch_request_timeouts_total counter\ntlswatch_request_timeouts_total {}",
            read(&QUARANTINE_EVICTED),
            read(&RECEIVER_RATE_LIMITED),
            read(&RECEIVER_BUSY),
            read(&REQUEST_TIMEOUTS)
        );
        crate::telemetry::commits::write(&mut rest);
    }
    rest.push_str("# HELP tlswatch_check_runs_total Configuration check runs by their worst finding.\n# TYPE tlswatch_check_runs_total counter\n");
    for (w, n) in &totals.checks {
        let _ = writeln!(
            rest,
            "tlswatch_check_runs_total{{worst=\"{}\"}} {n}",
            esc(w)
        );
    }
    rest.push_str("# HELP tlswatch_notifications Notifications by delivery status.\n# TYPE tlswatch_notifications gauge\n");
    for (s, n) in &totals.notifications {
        let _ = writeln!(rest, "tlswatch_notifications{{status=\"{}\"}} {n}", esc(s));
    }
    rest.push_str("# HELP tlswatch_mailbox_last_success_timestamp_seconds When the mailbox was last polled without error.\n# TYPE tlswatch_mailbox_last_success_timestamp_seconds gauge\n");
    for m in &snapshot_mailboxes {
        if let Some(t) = m.totals.last_success_at {
            let _ = writeln!(
                rest,
                "tlswatch_mailbox_last_success_timestamp_seconds{{mailbox=\"{}\"}} {t}",
                esc(&m.name)
            );
        }
    }
    rest.push_str("# HELP tlswatch_mailbox_failing 1 when the mailbox's last poll failed.\n# TYPE tlswatch_mailbox_failing gauge\n");
    for m in &snapshot_mailboxes {
        let _ = writeln!(
            rest,
            "tlswatch_mailbox_failing{{mailbox=\"{}\"}} {}",
            esc(&m.name),
            i64::from(m.failing)
        );
    }
    rest.push_str("# HELP tlswatch_mailbox_auth_required 1 when the identity provider refused the mailbox's grant (sign in again or fix the credentials).\n# TYPE tlswatch_mailbox_auth_required gauge\n");
    for m in &snapshot_mailboxes {
        let _ = writeln!(
            rest,
            "tlswatch_mailbox_auth_required{{mailbox=\"{}\"}} {}",
            esc(&m.name),
            i64::from(m.auth_required)
        );
    }
    rest.push_str("# HELP tlswatch_mailbox_poll_errors_total Failed polls of a mailbox, by kind (auth, network, server).\n# TYPE tlswatch_mailbox_poll_errors_total counter\n");
    for m in &snapshot_mailboxes {
        for (kind, n) in &m.totals.errors {
            let _ = writeln!(
                rest,
                "tlswatch_mailbox_poll_errors_total{{mailbox=\"{}\",kind=\"{}\"}} {n}",
                esc(&m.name),
                kind.label()
            );
        }
    }
    rest.push_str("# HELP tlswatch_mailbox_mails_total Mails a mailbox's polls handled, by outcome.\n# TYPE tlswatch_mailbox_mails_total counter\n");
    for m in &snapshot_mailboxes {
        for (outcome, n) in [
            ("imported", m.totals.imported),
            ("duplicate", m.totals.duplicates),
            ("rejected", m.totals.rejected),
        ] {
            let _ = writeln!(
                rest,
                "tlswatch_mailbox_mails_total{{mailbox=\"{}\",outcome=\"{outcome}\"}} {n}",
                esc(&m.name)
            );
        }
    }
    rest.push_str("# HELP tlswatch_alerts_firing Alert instances firing, by rule and domain.\n# TYPE tlswatch_alerts_firing gauge\n");
    let mut firing: std::collections::BTreeMap<(String, String), i64> =
        std::collections::BTreeMap::new();
    for a in alerts.iter().filter(|a| a.state == "firing") {
        *firing
            .entry((
                a.labels.get("rule").cloned().unwrap_or_default(),
                a.domain.clone(),
            ))
            .or_default() += 1;
    }
    for ((rule, d), n) in firing {
        let _ = writeln!(
            rest,
            "tlswatch_alerts_firing{{rule=\"{}\",domain=\"{}\"}} {n}",
            esc(&rule),
            esc(&d)
        );
    }
    out.push_str(&rest);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(esc("mx1.example").to_string(), "mx1.example");
        assert_eq!(
            esc("a\"b\\c\nd\"").to_string(),
            "a\\\"b\\\\c\\nd\\\"",
            "quote, backslash and line feed, anywhere"
        );
        assert_eq!(esc("é\n").to_string(), "é\\n");
        assert_eq!(esc("").to_string(), "");
    }
}
