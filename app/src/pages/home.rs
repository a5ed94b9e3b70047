//! The overview page: every domain with its totals and the daily chart for a range kept in the
//! URL (`/?days=30`), so a view can be shared.

use leptos::prelude::*;

use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::NavigateOptions;

use crate::api::{
    get_overview, get_overview_between, get_trends, DomainRow, Overview, DEFAULT_RANGE, RANGES,
};
use crate::components::chart::{ChartTable, DailyChart};

/// `/`: overview of all domains.
#[component]
pub fn HomePage() -> impl IntoView {
    let query = use_query_map();
    let days = Memo::new(move |_| {
        query
            .read()
            .get("days")
            .and_then(|d| d.parse::<u32>().ok())
            .filter(|d| (1..=3660).contains(d))
            .unwrap_or(DEFAULT_RANGE)
    });
    // A custom range (`/?from=YYYY-MM-DD&to=YYYY-MM-DD`) wins over `days`.
    let custom = Memo::new(move |_| {
        let q = query.read();
        match (q.get("from"), q.get("to")) {
            (Some(f), Some(t)) if !f.is_empty() && !t.is_empty() => Some((f, t)),
            _ => None,
        }
    });
    let overview = Resource::new(
        move || (days.get(), custom.get()),
        |(d, c)| async move {
            match c {
                Some((f, t)) => get_overview_between(f, t).await,
                None => get_overview(d).await,
            }
        },
    );
    // The sparklines come in a second request, so the numbers show first.
    let trends = Resource::new(
        move || (days.get(), custom.get()),
        |(d, c)| async move {
            match c {
                Some((f, t)) => get_trends(d, Some(f), Some(t)).await,
                None => get_trends(d, None, None).await,
            }
        },
    );
    provide_context(trends);
    let points = Signal::derive(move || overview.get().and_then(Result::ok).map(|o| o.series));
    let failures_only = RwSignal::new(false);
    let navigate = use_navigate();
    let on_range = move |ev| {
        let value = event_target_value(&ev);
        if value == "custom" {
            return;
        }
        navigate(
            &format!("/?days={value}"),
            NavigateOptions {
                scroll: false,
                ..Default::default()
            },
        );
    };

    view! {
        <section class="page">
            <div class="toolbar">
                <h1>"Overview"</h1>
                <label class="range">
                    "Range "
                    <select id="range" on:change=on_range prop:value=move || if custom.get().is_some() { "custom".to_string() } else { days.get().to_string() }>
                        {RANGES.iter().map(|r| view! {
                            <option value=r.to_string() selected=move || custom.get().is_none() && days.get() == *r>{format!("Last {r} days")}</option>
                        }).collect_view()}
                        <option value="custom" selected=move || custom.get().is_some()>"Custom…"</option>
                    </select>
                </label>
                <form id="custom-range" class="custom-range" method="get" action="/">
                    <label>"From " <input id="range-from" type="date" name="from" required prop:value=move || custom.get().map(|c| c.0).unwrap_or_default()/></label>
                    <label>" to " <input id="range-to" type="date" name="to" required prop:value=move || custom.get().map(|c| c.1).unwrap_or_default()/></label>
                    <button type="submit">"Apply"</button>
                </form>
            </div>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || overview.get().map(|r| match r {
                    Ok(o) => view! { <Summary overview=o/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{format!("Could not load the overview: {e}")}</p> }.into_any(),
                })}
            </Transition>
            <div class="toolbar">
                <h2>"Sessions per day"</h2>
                <label class="check"><input id="failures-only" type="checkbox" on:change=move |ev| failures_only.set(event_target_checked(&ev))/>" failures only"</label>
            </div>
            <DailyChart id="daily-chart" points failures_only/>
            <Transition fallback=|| ()>
                {move || overview.get().and_then(Result::ok).map(|o| view! { <ChartTable points=o.series/> })}
            </Transition>
        </section>
    }
}

#[component]
fn Summary(overview: Overview) -> impl IntoView {
    let range = format!("{} to {} (UTC)", overview.from, overview.to);
    if overview.domains.is_empty() {
        return view! { <FirstRun/> }.into_any();
    }
    let total_s: i64 = overview.domains.iter().map(|d| d.success).sum();
    let total_f: i64 = overview.domains.iter().map(|d| d.failure).sum();
    view! {
        <p class="range-label">{range}</p>
        <div class="cards">
            <div class="card"><span class="label">"Successful sessions"</span><span id="total-success" class="value"><crate::components::Count n=total_s/></span></div>
            <div class="card"><span class="label">"Failed sessions"</span><span id="total-failure" class="value bad"><crate::components::Count n=total_f/></span></div>
        </div>
        <table class="domains" id="domains">
            <thead><tr><th>"Domain"</th><th>"Trend"</th><th class="num">"Successful"</th><th class="num">"Failed"</th><th class="num">"Failure rate"</th><th class="num">"Reports"</th><th>"MTA-STS"</th><th>"Health"</th><th class="num">"Alerts"</th></tr></thead>
            <tbody>
                {overview.domains.into_iter().map(|d| view! { <DomainLine d/> }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// No reports in the range: the steps to the first ones.
#[component]
fn FirstRun() -> impl IntoView {
    let add = ServerAction::<crate::api::ClaimDomain>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        // A domain the organization sees at once opens its page; one waiting for its DNS
        // proof opens the domains page with the record to publish.
        match add.value().get() {
            Some(Ok(c)) if c.verified => navigate(
                &format!("/domains/{}", c.domain),
                NavigateOptions::default(),
            ),
            Some(Ok(_)) => navigate("/domains", NavigateOptions::default()),
            _ => {}
        }
    });
    view! {
        <div class="empty first-run" id="first-run">
            <p><strong>"No reports in this range yet. Three steps to the first ones:"</strong></p>
            <ol>
                <li>
                    <p>"Add your domain. Its page then shows the DNS records to publish (or lets tlswatch host the MTA-STS policy) and checks them."</p>
                    <ActionForm action=add attr:class="inline-form" attr:id="add-domain">
                        <label>"Domain " <input name="domain" id="add-domain-name" placeholder="example.com" required/></label>
                        <button type="submit">"Add domain"</button>
                    </ActionForm>
                    {move || add.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{crate::pages::auth::clean(&e.to_string())}</p> })}
                </li>
                <li><p>"Import the reports you already have: " <a href="/upload">"upload files"</a> " (JSON, .gz, .zip, .eml, mbox) or run " <code>"tlswatch import PATH…"</code> "."</p></li>
                <li><p>"Have new reports sent here: publish a TLS-RPT record whose " <code>"rua"</code> " names the mailbox tlswatch polls (" <code>"tlswatch mailbox add"</code> ") or its HTTPS receiver, for example:"</p>
                    <pre>"_smtp._tls.example.com. TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@example.com\""</pre></li>
            </ol>
        </div>
    }
}

#[component]
fn DomainLine(d: DomainRow) -> impl IntoView {
    let rate = crate::components::rate(d.success, d.failure);
    let bad = d.failure > 0;
    let health = d.health;
    let name = d.name.clone();
    view! {
        <tr>
            <td class="domain"><a href=format!("/domains/{}", d.name)>{d.name.clone()}</a></td>
            <td class="trend">
                <Transition fallback=|| view! { <span class="hint">"…"</span> }>
                    {
                        move || {
                            let name = name.clone();
                            use_context::<Resource<Result<Vec<(String, Vec<(i64, i64)>)>, ServerFnError>>>()
                                .and_then(|t| t.get())
                                .and_then(Result::ok)
                                .map(|all| {
                                    let spark = all.into_iter().find(|(n, _)| *n == name).map(|(_, s)| s).unwrap_or_default();
                                    sparkline(&spark)
                                })
                        }
                    }
                </Transition>
            </td>
            <td class="num"><crate::components::Count n=d.success/></td>
            <td class="num" class:bad=bad><crate::components::Count n=d.failure/></td>
            <td class="num" class:bad=bad>{rate}</td>
            <td class="num"><crate::components::Count n=d.reports/></td>
            <td class="mode">{d.mode.unwrap_or_else(|| "–".into())}</td>
            <td class="health">{match health {
                Some(s) => view! { <a href=format!("/domains/{}#health", d.name)><span class=format!("sev sev-{}", s.as_str())>{s.as_str()}</span></a> }.into_any(),
                None => view! { <span class="hint">"not checked"</span> }.into_any(),
            }}</td>
            <td class="num alerts">{(d.alerts > 0).then(|| view! { <a class="bad" href="/alerts">{d.alerts}</a> })}</td>
        </tr>
    }
}

/// A small SVG trend: sessions (green, scaled to their maximum) and the failure rate (red,
/// scaled to its maximum, at least 1 %). Server-rendered; no script needed.
fn sparkline(points: &[(i64, i64)]) -> impl IntoView {
    const W: f64 = 120.0;
    const H: f64 = 24.0;
    if points.len() < 2 {
        return view! { <span class="hint">"–"</span> }.into_any();
    }
    let max_total = points.iter().map(|(s, f)| s + f).max().unwrap_or(0).max(1) as f64;
    let rates: Vec<f64> = points
        .iter()
        .map(|(s, f)| {
            if s + f > 0 {
                *f as f64 / (s + f) as f64
            } else {
                0.0
            }
        })
        .collect();
    let max_rate = rates.iter().cloned().fold(0.01, f64::max);
    let step = W / (points.len() - 1) as f64;
    let line = |ys: Vec<f64>| {
        ys.iter()
            .enumerate()
            .map(|(i, y)| format!("{:.1},{:.1}", i as f64 * step, H - 1.0 - y * (H - 2.0)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let totals = line(
        points
            .iter()
            .map(|(s, f)| (s + f) as f64 / max_total)
            .collect(),
    );
    let fails = line(rates.iter().map(|r| r / max_rate).collect());
    let total_f: i64 = points.iter().map(|p| p.1).sum();
    let title = format!(
        "sessions per period up to yesterday (green) and failure rate (red, peak {:.2} %); {total_f} failed in all",
        max_rate * 100.0
    );
    let label = title.clone();
    view! {
        <svg class="spark" width="120" height="24" viewBox="0 0 120 24" role="img" aria-label=label>
            <title>{title}</title>
            <polyline class="ok" points=totals/>
            <polyline class="bad" points=fails/>
        </svg>
    }
    .into_any()
}
