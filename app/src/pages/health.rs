//! The configuration-health part of a domain page: latest check findings (worst first, each with
//! its fix), "check now", the history of runs, the guided setup and enforce readiness.

use std::collections::HashSet;

use leptos::prelude::*;

use crate::api::whoami;
use crate::auth::Role;
use crate::health::{get_health, run_check, Finding, HealthView, Severity};
use crate::pages::auth::clean;

/// The checks that explain a failure type seen in reports (the join between reports and checks).
pub fn checks_for_result_type(result_type: &str) -> &'static [&'static str] {
    match result_type {
        "sts-policy-fetch-error" => &["STS-HOST-01", "STS-HOST-02", "STS-HTTP-01", "STS-HTTP-06"],
        "sts-policy-invalid" => &[
            "STS-HTTP-04",
            "STS-POL-04",
            "STS-POL-05",
            "STS-POL-06",
            "STS-POL-07",
            "STS-POL-08",
        ],
        "sts-webpki-invalid" => &["STS-HOST-04", "STS-HOST-05", "STS-HOST-06"],
        "starttls-not-supported" => &["STS-SMTP-02", "STS-SMTP-03"],
        "certificate-host-mismatch" => &["STS-SMTP-05"],
        "certificate-expired" => &["STS-SMTP-06"],
        "certificate-not-trusted" => &["STS-SMTP-04"],
        "validation-failure" => &["STS-MX-03", "STS-MX-04", "STS-SMTP-03"],
        "tlsa-invalid" | "dnssec-invalid" | "dane-required" => &["DANE-02", "STS-SMTP-10"],
        _ => &[],
    }
}

fn badge(s: Severity) -> impl IntoView {
    view! { <span class=format!("sev sev-{}", s.as_str())>{s.as_str()}</span> }
}

/// The health section for `domain`.
#[component]
pub fn HealthSection(domain: Signal<String>) -> impl IntoView {
    let me = Resource::new(|| (), |_| whoami());
    let can_run = move || {
        me.get()
            .and_then(Result::ok)
            .flatten()
            .is_some_and(|u| u.role >= Role::Editor)
    };
    let run = Action::new(|d: &String| run_check(d.clone()));
    let data = Resource::new(
        move || (domain.get(), run.version().get()),
        |(d, _)| get_health(d),
    );
    view! {
        <section id="health" class="health">
            <div class="toolbar">
                <h2>"Configuration health"</h2>
                <Show when=can_run>
                    <button id="check-now" type="button"
                        disabled={let off = crate::components::until_hydrated(); move || off() || run.pending().get()}
                        on:click=move |_| { run.dispatch(domain.get_untracked()); }>
                        {move || if run.pending().get() { "Checking…" } else { "Check now" }}
                    </button>
                </Show>
            </div>
            {move || run.value().get().and_then(Result::err).map(|e| view! { <p class="error">{clean(&e.to_string())}</p> })}
            <Transition fallback=|| view! { <p class="loading">"Loading checks…"</p> }>
                {move || data.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{clean(&e.to_string())}</p> }.into_any(),
                    Ok(None) => view! { <p class="empty">"Unknown domain."</p> }.into_any(),
                    Ok(Some(h)) => view! { <HealthBody h/> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

#[component]
fn HealthBody(h: HealthView) -> impl IntoView {
    let HealthView {
        latest,
        findings,
        history,
        setup,
        readiness,
        ..
    } = h;
    let summary = match &latest {
        None => view! { <p id="check-summary" class="empty">"No check has run yet. Checks run every few hours; an editor can run them now."</p> }.into_any(),
        Some(l) => view! {
            <p id="check-summary">
                "Latest check: " <crate::components::LocalTime utc=l.started.clone()/> " (" {l.trigger.clone()} ", " {l.millis} " ms): " {badge(l.worst)}
                " · " {l.fails} " failing, " {l.warns} " warnings"
                {l.mode.clone().map(|m| view! { " · policy mode " <strong class="mode">{m}</strong> })}
            </p>
        }.into_any(),
    };
    let show_setup = !(setup.sts_done && setup.tlsrpt_done);
    let (problems, fine): (Vec<Finding>, Vec<Finding>) = findings.into_iter().partition(|f| {
        matches!(
            f.severity,
            Severity::Fail | Severity::Error | Severity::Warn
        )
    });
    let mut anchored: HashSet<String> = HashSet::new();
    let mut row = move |f: Finding| {
        let anchor = anchored
            .insert(f.id.clone())
            .then(|| format!("check-{}", f.id));
        view! {
            <tr id=anchor class=format!("finding sev-row-{}", f.severity.as_str())>
                <td>{badge(f.severity)}</td>
                <td><code>{f.id}</code></td>
                <td>{f.title}{f.subject.map(|s| view! { <div class="subject">{s}</div> })}</td>
                <td>{f.detail}{f.result_type.map(|t| view! { <div class="hint">"Senders report: " <code>{t}</code></div> })}</td>
                <td>{f.fix}<div class="hint">{f.rfc}</div></td>
            </tr>
        }
    };
    let problem_rows: Vec<_> = problems.into_iter().map(&mut row).collect();
    let fine_count = fine.len();
    let fine_rows: Vec<_> = fine.into_iter().map(&mut row).collect();
    view! {
        {summary}
        <Show when=move || show_setup>
            <SetupGuideView setup=setup.clone()/>
        </Show>
        <div id="readiness" class=if readiness.ready { "readiness ready" } else { "readiness" }>
            <h3>"Ready for enforce?"</h3>
            <p class="verdict">{if readiness.ready { "Yes: nothing blocks switching the policy to mode: enforce." } else if readiness.mode.as_deref() == Some("enforce") { "The policy is enforced." } else { "Not yet." }}</p>
            <ul class="blockers">{readiness.blockers.into_iter().map(|b| view! { <li class="blocker">{b}</li> }).collect_view()}</ul>
            <ul class="met">{readiness.met.into_iter().map(|b| view! { <li>{b}</li> }).collect_view()}</ul>
            <p class="hint">{readiness.max_age_advice}</p>
        </div>
        <h3>"Findings"</h3>
        <table id="findings">
            <thead><tr><th>"Result"</th><th>"Check"</th><th>"What"</th><th>"Found"</th><th>"Fix"</th></tr></thead>
            <tbody>{problem_rows}</tbody>
        </table>
        <details class="passed">
            <summary>{format!("{fine_count} passed, informational or skipped")}</summary>
            <table id="findings-passed"><tbody>{fine_rows}</tbody></table>
        </details>
        <h3>"History"</h3>
        <table id="check-history">
            <thead><tr><th>"Started"</th><th>"Trigger"</th><th>"Result"</th><th class="num">"Failing"</th><th class="num">"Warnings"</th><th>"Mode"</th><th class="num">"ms"</th></tr></thead>
            <tbody>{history.into_iter().map(|r| view! {
                <tr><td><crate::components::LocalTime utc=r.started/></td><td>{r.trigger}</td><td>{badge(r.worst)}</td><td class="num">{r.fails}</td><td class="num">{r.warns}</td><td>{r.mode.unwrap_or_default()}</td><td class="num">{r.millis}</td></tr>
            }).collect_view()}</tbody>
        </table>
    }
}

#[component]
fn SetupGuideView(setup: crate::health::SetupGuide) -> impl IntoView {
    view! {
        <div id="setup" class="setup">
            <h3>"Set up MTA-STS and TLS-RPT"</h3>
            <ol class="steps">{setup.steps.into_iter().map(|s| view! {
                <li>
                    {match s.state { Some(st) => badge(st).into_any(), None => view! { <span class="sev">"not checked"</span> }.into_any() }}
                    " " {s.title}
                    <span class="hint">" (" {s.checks.into_iter().map(|c| view! { <a href=format!("#check-{c}")>{c.clone()}</a>" " }).collect_view()} ")"</span>
                </li>
            }).collect_view()}</ol>
            <h4>"1. " <code>{setup.tlsrpt_txt_name}</code> " TXT"</h4>
            <pre id="setup-tlsrpt">{setup.tlsrpt_txt_value}</pre>
            <h4>"2. The policy file (text/plain, status 200, no redirect)"</h4>
            <pre id="setup-policy">{setup.policy_file}</pre>
            <h4>"3. " <code>{setup.sts_txt_name}</code> " TXT"</h4>
            <pre id="setup-sts">{setup.sts_txt_value}</pre>
            <p class="hint">"The id is letters and digits only; change it whenever the policy file changes. Start in mode testing, read the reports, then switch to enforce."</p>
        </div>
    }
}
