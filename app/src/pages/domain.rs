//! `/domains/{domain}`: daily successes vs failures, failures by receiving MX and by result type
//! (with what each means and how to fix it), and the reporters.

use leptos::prelude::*;

use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::{explain_result_type, get_domain, get_domain_details, DomainDetails, DomainView};
use crate::components::chart::{ChartTable, DailyChart};
use crate::pages::auth::clean;
use crate::pages::health::{checks_for_result_type, HealthSection};

/// The domain page.
#[component]
pub fn DomainPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let domain = move || params.read().get("domain").unwrap_or_default();
    let days = move || {
        query
            .read()
            .get("days")
            .and_then(|d| d.parse::<u32>().ok())
            .unwrap_or(30)
    };
    let data = Resource::new(move || (domain(), days()), |(d, n)| get_domain(d, n));
    let points =
        Signal::derive(move || data.get().and_then(Result::ok).flatten().map(|v| v.series));
    let log = RwSignal::new(false);
    let failures_only = RwSignal::new(false);
    let details = Resource::new(
        move || (domain(), days()),
        |(d, n)| get_domain_details(d, n),
    );
    view! {
        <section class="page">
            <h1 id="domain-name">{domain}</h1>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || data.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{clean(&e.to_string())}</p> }.into_any(),
                    Ok(None) => view! { <p class="empty">"This domain is not registered in tlswatch."</p> }.into_any(),
                    Ok(Some(v)) => view! { <DomainBody v/> }.into_any(),
                })}
            </Transition>
            <div class="toolbar">
                <h2>"Sessions per day"</h2>
                <div class="chart-options">
                    <label class="check"><input id="failures-only" type="checkbox" on:change=move |ev| failures_only.set(event_target_checked(&ev))/>" failures only"</label>
                    <label class="check"><input id="log-scale" type="checkbox" on:change=move |ev| log.set(event_target_checked(&ev))/>" log scale"</label>
                </div>
            </div>
            <DailyChart id="domain-chart" points log failures_only/>
            <Transition fallback=|| ()>
                {move || details.get().and_then(Result::ok).flatten().map(|d| view! { <Details d/> })}
            </Transition>
            <HealthSection domain=Signal::derive(domain)/>
        </section>
    }
}

#[component]
fn DomainBody(v: DomainView) -> impl IntoView {
    let rate = crate::components::rate(v.success, v.failure);
    let reports_link = format!("/reports?domain={}", v.domain);
    let policy_link = format!("/domains/{}/policy", v.domain);
    view! {
        <p class="range-label">{format!("{} to {} (UTC)", v.from, v.to)}" · "<a href=reports_link>"reports"</a>" · "<a id="policy-link" href=policy_link>"hosted policy"</a></p>
        <div class="cards">
            <div class="card"><span class="label">"Successful sessions"</span><span class="value"><crate::components::Count n=v.success/></span></div>
            <div class="card"><span class="label">"Failed sessions"</span><span class="value bad"><crate::components::Count n=v.failure/></span></div>
            <div class="card"><span class="label">"Failure rate"</span><span class="value">{rate}</span></div>
        </div>
        <ChartTable points=v.series.clone()/>
        <h2>"Failures by receiving MX"</h2>
        <p class="hint">"RFC 8460 counts successful sessions per policy, not per MX: only failures are attributed to an MX."</p>
        <table id="by-mx">
            <thead><tr><th>"Receiving MX"</th><th class="num">"Failed sessions"</th></tr></thead>
            <tbody>{v.by_mx.into_iter().map(|(mx, n)| view! {
                <tr><td>{if mx.is_empty() { "(not named by the report)".to_owned() } else { mx }}</td><td class="num"><crate::components::Count n=n/></td></tr>
            }).collect_view()}</tbody>
        </table>
        <h2>"Failures by result type"</h2>
        <table id="by-result-type">
            <thead><tr><th>"Result type"</th><th class="num">"Failed sessions"</th><th>"Likely cause"</th><th>"Fix"</th><th>"Checks"</th></tr></thead>
            <tbody>{v.by_result_type.into_iter().map(|r| {
                let (cause, fix) = explain_result_type(&r.result_type);
                let checks = checks_for_result_type(&r.result_type);
                view! { <tr>
                    <td><code>{r.result_type}</code></td><td class="num"><crate::components::Count n=r.failure/></td><td>{cause}</td><td>{fix}</td>
                    <td class="explained-by">{checks.iter().map(|c| view! { <a href=format!("#check-{c}")>{*c}</a>" " }).collect_view()}</td>
                </tr> }
            }).collect_view()}</tbody>
        </table>
        <h2>"Reporters"</h2>
        <table id="reporters">
            <thead><tr><th>"Organization"</th><th class="num">"Successful"</th><th class="num">"Failed"</th><th class="num">"Reports"</th><th>"Last report"</th></tr></thead>
            <tbody>{v.reporters.into_iter().map(|r| view! {
                <tr>
                    <td>{r.organization}</td><td class="num"><crate::components::Count n=r.success/></td><td class="num"><crate::components::Count n=r.failure/></td><td class="num"><crate::components::Count n=r.reports/></td>
                    <td>{r.last_day}{r.silent.then(|| view! { <span class="badge" title="no report in the last 3 days of the range">" silent"</span> })}</td>
                </tr>
            }).collect_view()}</tbody>
        </table>
    }
}

#[component]
fn Details(d: DomainDetails) -> impl IntoView {
    view! {
        <h2>"Top sending MTAs with failures"</h2>
        <p class="hint">"Addresses of the servers that failed to deliver over TLS, as reporters named them."</p>
        <table id="top-mtas">
            <thead><tr><th>"Sending MTA address"</th><th class="num">"Failed sessions"</th><th class="num">"Reporters"</th></tr></thead>
            <tbody>{d.top_mtas.into_iter().map(|m| view! {
                <tr><td><code>{if m.ip.is_empty() { "(not named)".to_owned() } else { m.ip }}</code></td><td class="num"><crate::components::Count n=m.failure/></td><td class="num"><crate::components::Count n=m.reporters/></td></tr>
            }).collect_view()}</tbody>
        </table>
        <h2>"Policy as reporters saw it"</h2>
        <p class="hint">"Each distinct policy the reports describe, with the days it was seen: a change of mode or mx lines shows here as senders pick it up."</p>
        <table id="policies-seen">
            <thead><tr><th>"Type"</th><th>"Mode"</th><th>"mx patterns"</th><th>"First seen"</th><th>"Last seen"</th><th class="num">"Reports"</th><th class="num">"Reporters"</th></tr></thead>
            <tbody>{d.policies.into_iter().map(|p| view! {
                <tr>
                    <td><code>{p.policy_type}</code></td><td>{p.mode.unwrap_or_else(|| "–".into())}</td><td>{p.mx}</td>
                    <td>{p.first_day}</td><td>{p.last_day}</td><td class="num"><crate::components::Count n=p.reports/></td><td class="num"><crate::components::Count n=p.reporters/></td>
                </tr>
            }).collect_view()}</tbody>
        </table>
    }
}
