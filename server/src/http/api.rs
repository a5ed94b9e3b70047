//! `/api/v1`: the REST API for team tools (session or `Authorization: Bearer` token, viewer role).

use app::auth::CurrentUser;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::routes::Routes;
use super::AppState;
use crate::domain::days::{format_day, parse_day};
use crate::domain::names::normalize_domain;
use crate::service::views::day_range;
use crate::service::{Actor, Editor, InstanceAdmin, ServiceError, Viewer};
use crate::store::ReportFilter;

/// Routes under `/api/v1`.
pub fn routes() -> Routes {
    Routes::new()
        .get("/api/v1/domains", domains)
        .get("/api/v1/domains/{domain}/stats", domain_stats)
        .get("/api/v1/domains/{domain}/checks", domain_checks)
        .post("/api/v1/domains/{domain}/checks", run_domain_check)
        .get("/api/v1/reports", reports)
        .get("/api/v1/reports/{id}", report)
        .get("/api/v1/reports/{id}/raw", report_raw)
        .get("/api/v1/quarantine/{id}/raw", rejected_raw)
}

async fn domain_stats(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(domain): Path<String>,
    Query(q): Query<Range>,
) -> Result<Response, ServiceError> {
    let (from, to) = range(&q)?;
    let by = Actor::<Viewer>::authorize(&user)?;
    let s = state
        .services
        .reports
        .domain_stats(&by, &domain, from, to)
        .await?;
    let domain = normalize_domain(&domain).unwrap_or(domain);
    Ok(Json(serde_json::json!({
        "domain": domain,
        "from": format_day(from),
        "to": format_day(to),
        "success": s.success,
        "failure": s.failure,
        "by_day": s.by_day.iter().map(|(d, ok, f)| serde_json::json!({"day": format_day(*d), "success": ok, "failure": f})).collect::<Vec<_>>(),
        "by_mx": s.by_mx.iter().map(|(mx, f)| serde_json::json!({"mx": mx, "failure": f})).collect::<Vec<_>>(),
        "by_result_type": s.by_result_type.iter().map(|(rt, f)| serde_json::json!({"result_type": rt, "failure": f})).collect::<Vec<_>>(),
        "by_reporter": s.by_reporter.iter().map(|(o, ok, f, n, last)| serde_json::json!({"organization": o, "success": ok, "failure": f, "reports": n, "last_day": format_day(*last)})).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// Filter of `GET /api/v1/reports`.
#[derive(Debug, Deserialize)]
pub struct ReportQuery {
    domain: Option<String>,
    reporter: Option<String>,
    from: Option<String>,
    to: Option<String>,
    failures: Option<bool>,
    limit: Option<i64>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

async fn reports(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Query(q): Query<ReportQuery>,
) -> Response {
    let by = match Actor::<Viewer>::authorize(&user) {
        Ok(by) => by,
        Err(e) => return e.into_response(),
    };
    let day = |s: &Option<String>, what: &str| match s {
        Some(s) => parse_day(s).map(Some).ok_or_else(|| {
            (
                StatusCode::BAD_REQUEST,
                format!("{what} must be a date YYYY-MM-DD\n"),
            )
        }),
        None => Ok(None),
    };
    let (from, to) = match (day(&q.from, "from"), day(&q.to, "to")) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => return e.into_response(),
    };
    let filter = ReportFilter {
        domain: q.domain.as_deref().and_then(normalize_domain),
        reporter: q.reporter.clone(),
        from,
        to,
        failures_only: q.failures.unwrap_or(false),
        limit: q.limit.unwrap_or(1_000),
        // Set from the caller by the service.
        org: None,
    };
    match state.services.reports.list(&by, &filter).await {
        Ok(list) if q.format.as_deref() == Some("csv") => {
            let mut out = String::from(
                "id,organization,report_id,start,end,channel,success,failure,domain,warnings\n",
            );
            for r in &list {
                let v = report_json(r);
                let cells: Vec<String> = [
                    "id",
                    "organization",
                    "report_id",
                    "start",
                    "end",
                    "channel",
                    "success",
                    "failure",
                    "domain",
                    "warnings",
                ]
                .iter()
                .map(|k| {
                    csv_cell(&match &v[*k] {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                })
                .collect();
                out.push_str(&cells.join(","));
                out.push('\n');
            }
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"reports.csv\"",
                    ),
                ],
                out,
            )
                .into_response()
        }
        Ok(list) => Json(list.iter().map(report_json).collect::<Vec<_>>()).into_response(),
        Err(e) => e.into_response(),
    }
}

/// One CSV cell: quoted when needed, and never a formula when opened in a spreadsheet.
fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn report_json(r: &crate::store::ReportSummary) -> serde_json::Value {
    let t = |s: i64| {
        chrono::DateTime::from_timestamp(s, 0)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default()
    };
    serde_json::json!({
        "id": r.id, "organization": r.org_name, "report_id": r.report_id, "start": t(r.start_time), "end": t(r.end_time),
        "channel": r.channel, "success": r.success, "failure": r.failure, "domain": r.domains, "warnings": r.warnings,
    })
}

async fn report(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Viewer>::authorize(&user)?;
    let r = state.services.reports.get(&by, id).await?;
    let json = serde_json::from_slice::<serde_json::Value>(&r.json).ok();
    Ok(Json(serde_json::json!({"id": id, "warnings": r.warnings, "report": json})).into_response())
}

async fn report_raw(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Viewer>::authorize(&user)?;
    let r = state.services.reports.get(&by, id).await?;
    Ok(attachment(
        "application/tlsrpt+json",
        &format!("report-{id}.json"),
        r.json,
    ))
}

/// A download: `bytes` as `content_type`, saved as `filename`.
fn attachment(content_type: &'static str, filename: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// `from`/`to`: inclusive UTC days, `YYYY-MM-DD`; default the last 30 days.
#[derive(Debug, Deserialize)]
pub struct Range {
    from: Option<String>,
    to: Option<String>,
}

fn range(q: &Range) -> Result<(i64, i64), ServiceError> {
    day_range(q.from.as_deref(), q.to.as_deref(), 30)
}

async fn domains(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Query(q): Query<Range>,
) -> Result<Response, ServiceError> {
    let (from, to) = range(&q)?;
    let by = Actor::<Viewer>::authorize(&user)?;
    let rows = state.services.reports.domain_totals(&by, from, to).await?;
    Ok(Json(serde_json::json!({
        "from": format_day(from),
        "to": format_day(to),
        "domains": rows.iter().map(|d| serde_json::json!({"domain": d.domain, "success": d.success, "failure": d.failure, "reports": d.reports})).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// The raw bytes of a quarantined input (instance admin: rejected inputs belong to no
/// organization).
async fn rejected_raw(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, ServiceError> {
    let by = Actor::<InstanceAdmin>::authorize(&user)?;
    let raw = state.services.quarantine.raw(&by, id).await?;
    Ok(attachment(
        "application/octet-stream",
        &format!("rejected-{id}.bin"),
        raw,
    ))
}

/// `GET /api/v1/domains/{domain}/checks`: the latest findings, history, setup and readiness.
async fn domain_checks(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(domain): Path<String>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Viewer>::authorize(&user)?;
    let h = state.services.domains.health(&by, &domain).await?;
    Ok(Json(h).into_response())
}

/// `POST /api/v1/domains/{domain}/checks` (editor): runs the checks now and returns the run.
async fn run_domain_check(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(domain): Path<String>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Editor>::authorize(&user)?;
    let (id, o) = state
        .services
        .domains
        .run_check(&by, &domain, "api")
        .await?;
    Ok(Json(serde_json::json!({
        "id": id,
        "domain": o.domain,
        "worst": o.worst(),
        "millis": o.elapsed.as_millis() as u64,
        "findings": o.findings,
    }))
    .into_response())
}
