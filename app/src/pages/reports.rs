//! `/reports`: the filterable list; `/reports/{id}`: every field of one report, its warnings and
//! the raw download.

use leptos::prelude::*;

use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
#[cfg(feature = "hydrate")]
use leptos_router::NavigateOptions;

use crate::api::{get_report, get_reports, ReportView};
use crate::pages::auth::clean;

/// The report list.
#[component]
pub fn ReportsPage() -> impl IntoView {
    let query = use_query_map();
    let q = move |k: &str| query.read().get(k).unwrap_or_default();
    let list = Resource::new(
        move || (q("domain"), q("reporter"), q("failures") == "1"),
        |(d, r, f)| get_reports(d, r, f),
    );
    let navigate = use_navigate();
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let Some(form) = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok())
            else {
                return;
            };
            let field = |name: &str| {
                form.get_with_name(name)
                    .and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok())
            };
            let text = |name: &str| field(name).map(|i| i.value()).unwrap_or_default();
            let failures = field("failures").is_some_and(|i| i.checked());
            let url = format!(
                "/reports?domain={}&reporter={}&failures={}",
                js_sys::encode_uri_component(&text("domain")),
                js_sys::encode_uri_component(&text("reporter")),
                if failures { "1" } else { "0" }
            );
            navigate(&url, NavigateOptions::default());
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &navigate;
    };
    let export = move |fmt: &str| {
        format!(
            "/api/v1/reports?domain={}&reporter={}&failures={}&format={fmt}",
            q("domain"),
            q("reporter"),
            q("failures") == "1"
        )
    };
    view! {
        <section class="page">
            <h1>"Reports"</h1>
            <form class="inline-form" on:submit=apply>
                <input name="domain" placeholder="domain" prop:value=move || q("domain")/>
                <input name="reporter" placeholder="reporter" prop:value=move || q("reporter")/>
                <label class="check"><input type="checkbox" name="failures" prop:checked=move || q("failures") == "1"/>" with failures"</label>
                <button type="submit">"Filter"</button>
                <a href=move || export("json")>"JSON"</a>
                <a href=move || export("csv")>"CSV"</a>
            </form>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || list.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{clean(&e.to_string())}</p> }.into_any(),
                    Ok(rows) if rows.is_empty() => view! { <p class="empty">"No report matches. Import reports with the upload page or " <code>"tlswatch import"</code>"."</p> }.into_any(),
                    Ok(rows) => view! {
                        <table id="reports">
                            <thead><tr><th>"Start (UTC)"</th><th>"Reporter"</th><th>"Domain"</th><th class="num">"Successful"</th><th class="num">"Failed"</th><th>"Channel"</th><th class="num">"Warnings"</th></tr></thead>
                            <tbody>{rows.into_iter().map(|r| {
                                let href = format!("/reports/{}", r.id);
                                view! { <tr><td><a href=href>{r.start}</a></td><td>{r.organization}</td><td>{r.domain}</td><td class="num"><crate::components::Count n=r.success/></td><td class="num"><crate::components::Count n=r.failure/></td><td>{r.channel}</td><td class="num">{r.warnings}</td></tr> }
                            }).collect_view()}</tbody>
                        </table>
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}

/// One report.
#[component]
pub fn ReportPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|i| i.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let report = Resource::new(id, get_report);
    view! {
        <section class="page">
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || report.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{clean(&e.to_string())}</p> }.into_any(),
                    Ok(None) => view! { <p class="empty">"No such report."</p> }.into_any(),
                    Ok(Some(v)) => view! { <ReportDetail v/> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ReportDetail(v: ReportView) -> impl IntoView {
    let raw = format!("/api/v1/reports/{}/raw", v.id);
    view! {
        <h1>"Report " <span id="report-org">{v.organization.clone()}</span></h1>
        <dl class="fields">
            <dt>"organization-name"</dt><dd>{v.organization}</dd>
            <dt>"report-id"</dt><dd>{v.report_id}</dd>
            <dt>"contact-info"</dt><dd>{v.contact_info.unwrap_or_else(|| "(none)".into())}</dd>
            <dt>"date-range"</dt><dd>{v.start}" – "{v.end}</dd>
        </dl>
        <p><a href=raw download>"Download the raw report (JSON)"</a></p>
        {(!v.warnings.is_empty()).then(|| view! {
            <h2>"Parse warnings"</h2>
            <ul id="warnings">{v.warnings.into_iter().map(|w| view! { <li>{w}</li> }).collect_view()}</ul>
        })}
        {v.policies.into_iter().enumerate().map(|(i, p)| view! {
            <h2>{format!("Policy {} · {} · {}", i + 1, p.policy_type, p.policy_domain)}{(!p.counted).then_some(" (same sessions as another policy: not counted twice)")}</h2>
            <p>{format!("{} successful, {} failed sessions", p.success, p.failure)}</p>
            {(!p.policy_strings.is_empty()).then(|| view! { <pre>{p.policy_strings.join("\n")}</pre> })}
            {(!p.mx_hosts.is_empty()).then(|| view! { <p>"mx-host: " {p.mx_hosts.join(", ")}</p> })}
            {(!p.failures.is_empty()).then(|| view! {
                <table class="failures">
                    <thead><tr><th>"result-type"</th><th class="num">"sessions"</th><th>"sending-mta-ip"</th><th>"receiving-mx-hostname"</th><th>"receiving-mx-helo"</th><th>"receiving-ip"</th><th>"failure-reason-code"</th><th>"additional-information"</th></tr></thead>
                    <tbody>{p.failures.into_iter().map(|f| view! {
                        <tr><td>{f.result_type}</td><td class="num"><crate::components::Count n=i64::try_from(f.failed_session_count).unwrap_or(i64::MAX)/></td><td>{f.sending_mta_ip}</td><td>{f.receiving_mx_hostname}</td>
                            <td>{f.receiving_mx_helo}</td><td>{f.receiving_ip}</td><td>{f.failure_reason_code}</td><td>{f.additional_information}</td></tr>
                    }).collect_view()}</tbody>
                </table>
            })}
        }).collect_view()}
    }
}
