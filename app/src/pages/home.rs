//! The overview page: every domain with its totals and the daily chart for a range kept in the
//! URL (`/?days=30`), so a view can be shared.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::NavigateOptions;

use crate::api::{get_overview, DomainRow, Overview, DEFAULT_RANGE, RANGES};
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
    let overview = Resource::new(move || days.get(), get_overview);
    let points = Signal::derive(move || overview.get().and_then(Result::ok).map(|o| o.series));
    let navigate = use_navigate();
    let on_range = move |ev| {
        let value = event_target_value(&ev);
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
                    <select id="range" on:change=on_range prop:value=move || days.get().to_string()>
                        {RANGES.iter().map(|r| view! {
                            <option value=r.to_string() selected=move || days.get() == *r>{format!("Last {r} days")}</option>
                        }).collect_view()}
                    </select>
                </label>
            </div>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || overview.get().map(|r| match r {
                    Ok(o) => view! { <Summary overview=o/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{format!("Could not load the overview: {e}")}</p> }.into_any(),
                })}
            </Transition>
            <h2>"Sessions per day"</h2>
            <DailyChart id="daily-chart" points/>
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
        return view! {
            <div class="empty">
                <p><strong>"No reports yet."</strong></p>
                <p>"Import TLS-RPT reports you already have with " <code>"tlswatch import PATH…"</code>
                   ", or publish a TLS-RPT record so senders mail their daily reports, for example:"</p>
                <pre>"_smtp._tls.example.com. TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@example.com\""</pre>
            </div>
        }
        .into_any();
    }
    let total_s: i64 = overview.domains.iter().map(|d| d.success).sum();
    let total_f: i64 = overview.domains.iter().map(|d| d.failure).sum();
    view! {
        <p class="range-label">{range}</p>
        <div class="cards">
            <div class="card"><span class="label">"Successful sessions"</span><span id="total-success" class="value">{total_s}</span></div>
            <div class="card"><span class="label">"Failed sessions"</span><span id="total-failure" class="value bad">{total_f}</span></div>
        </div>
        <table class="domains" id="domains">
            <thead><tr><th>"Domain"</th><th class="num">"Successful"</th><th class="num">"Failed"</th><th class="num">"Failure rate"</th><th class="num">"Reports"</th></tr></thead>
            <tbody>
                {overview.domains.into_iter().map(|d| view! { <DomainLine d/> }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn DomainLine(d: DomainRow) -> impl IntoView {
    let rate = d
        .failure_rate()
        .map(|r| format!("{r:.2} %"))
        .unwrap_or_else(|| "–".into());
    let bad = d.failure > 0;
    view! {
        <tr>
            <td class="domain"><a href=format!("/domains/{}", d.name)>{d.name.clone()}</a></td>
            <td class="num">{d.success}</td>
            <td class="num" class:bad=bad>{d.failure}</td>
            <td class="num" class:bad=bad>{rate}</td>
            <td class="num">{d.reports}</td>
        </tr>
    }
}
