//! `/domains/{domain}/policy`: the domain's MTA-STS policy hosted by tlswatch. The version
//! served, the TXT record to publish and whether DNS shows it yet, the MX migration assistant,
//! a form for the next version (refusals by a guard can be overridden with a reason), the
//! history with rollback, and stopping (phase-out).

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api::whoami;
use crate::auth::Role;
use crate::hosting::{
    get_policy, PolicyView, PublishPolicy, Published, RollbackPolicy, StopPolicy,
};

/// `YYYY-MM-DD HH:MM UTC` of Unix seconds.
pub fn utc(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60
    )
}

/// `max_age` in words: seconds and days.
fn age(seconds: i64) -> String {
    if seconds >= 86_400 && seconds % 86_400 == 0 {
        format!("{seconds} s ({} days)", seconds / 86_400)
    } else {
        format!("{seconds} s")
    }
}

/// A server function's error as the user should read it.
fn message(e: &ServerFnError) -> String {
    let s = e.to_string();
    s.strip_prefix("error running server function: ")
        .unwrap_or(&s)
        .to_owned()
}

/// The page.
#[component]
pub fn PolicyPage() -> impl IntoView {
    let params = use_params_map();
    let domain = move || params.read().get("domain").unwrap_or_default();
    let me = Resource::new(|| (), |_| whoami());
    let editor = move || {
        me.get()
            .and_then(Result::ok)
            .flatten()
            .is_some_and(|u| u.role >= Role::Editor)
    };
    let publish = ServerAction::<PublishPolicy>::new();
    let rollback = ServerAction::<RollbackPolicy>::new();
    let stop = ServerAction::<StopPolicy>::new();
    // Reload after a change that went through only: after a refusal the form keeps what the
    // user typed, so an override reason can be added to it.
    let changes = RwSignal::new(0u32);
    let last: RwSignal<Option<Result<Published, String>>> = RwSignal::new(None);
    let settle = move |v: Option<Result<Published, ServerFnError>>| {
        if let Some(v) = v {
            let ok = v.is_ok();
            last.set(Some(v.map_err(|e| message(&e))));
            if ok {
                changes.update(|n| *n += 1);
            }
        }
    };
    Effect::new(move |_| settle(publish.value().get()));
    Effect::new(move |_| settle(rollback.value().get()));
    Effect::new(move |_| settle(stop.value().get()));
    let data = Resource::new(move || (domain(), changes.get()), |(d, _)| get_policy(d));
    let refused = move || last.with(|l| matches!(l, Some(Err(e)) if e.starts_with("refused")));
    view! {
        <section class="page policy">
            <p class="crumbs"><a href=move || format!("/domains/{}", domain())>{domain}</a>" › hosted policy"</p>
            <h1>"Hosted MTA-STS policy"</h1>
            {move || last.get().map(|r| match r {
                Ok(p) => view! { <PublishedNote p/> }.into_any(),
                Err(e) => view! { <p id="policy-error" class="error" role="alert">{e}</p> }.into_any(),
            })}
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || data.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{message(&e)}</p> }.into_any(),
                    Ok(None) => view! { <p class="empty">"This domain is not registered in tlswatch."</p> }.into_any(),
                    Ok(Some(v)) => view! { <PolicyBody v editor=Signal::derive(editor) refused=Signal::derive(refused) publish rollback stop/> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

#[component]
fn PublishedNote(p: Published) -> impl IntoView {
    view! {
        <div id="policy-published" class="notice" role="status">
            <p>"Version " {p.version} " is served (id " <code>{p.id.clone()}</code> "). Publish this record: "
               <code>{p.txt_record.name.clone()}</code> " TXT " <code>{format!("\"{}\"", p.txt_record.value)}</code></p>
            {(!p.warnings.is_empty()).then(|| view! {
                <ul class="warnings">{p.warnings.into_iter().map(|w| view! { <li class="warn">{w}</li> }).collect_view()}</ul>
            })}
            {(!p.overridden.is_empty()).then(|| view! {
                <p class="hint">"Overridden (audited): " {p.overridden.join("; ")}</p>
            })}
            {p.phase_out_until.map(|t| view! { <p class="hint">"Senders are told to forget the policy; the host answers 404 from " {utc(t)} "."</p> })}
        </div>
    }
}

#[component]
fn PolicyBody(
    v: PolicyView,
    editor: Signal<bool>,
    refused: Signal<bool>,
    publish: ServerAction<PublishPolicy>,
    rollback: ServerAction<RollbackPolicy>,
    stop: ServerAction<StopPolicy>,
) -> impl IntoView {
    let state = match v.state.as_str() {
        "not_hosted" => format!("Not hosted yet. Point {} at tlswatch with a CNAME (or at the TLS proxy in front of it), then publish a first version in mode testing below.", v.host),
        "active" => format!("Served at https://{}/.well-known/mta-sts.txt.", v.host),
        "phasing_out" => format!(
            "Being stopped: mode none is served until {}, then the host answers 404.",
            v.phase_out_until.map(utc).unwrap_or_default()
        ),
        _ => "Hosting has stopped: the host answers 404. Publish a version to host again.".into(),
    };
    let certificate = match (v.certificate_not_after, &v.certificate_error) {
        (_, Some(e)) => Some(format!("Obtaining the certificate failed: {e}")),
        (Some(t), None) => Some(format!("Certificate valid until {}.", utc(t))),
        (None, None) => None,
    };
    let current = v.current.clone();
    let domain = StoredValue::new(v.domain.clone());
    let (mode0, mx0, days0) = current
        .as_ref()
        .map_or(("testing".to_owned(), String::new(), 7), |c| {
            (c.mode.clone(), c.mx.join("\n"), (c.max_age / 86_400).max(1))
        });
    let (mode0, mx0) = (StoredValue::new(mode0), StoredValue::new(mx0));
    let can_stop = v.state == "active";
    let history = v.history.clone();
    view! {
        <p id="policy-state" class=format!("state state-{}", v.state)>{state}</p>
        {certificate.map(|c| view! { <p id="policy-certificate" class="hint">{c}</p> })}
        {current.map(|c| view! {
            <h2>"Served now: version " {c.version}</h2>
            <pre id="policy-text" class="policy-text">{c.text.clone()}</pre>
        })}
        {v.txt_record.clone().map(|t| view! {
            <h2>"DNS"</h2>
            <table class="kv">
                <tbody>
                    <tr><th scope="row">"Record to publish"</th><td><code id="txt-name">{t.name}</code>" TXT "<code id="txt-value">{format!("\"{}\"", t.value)}</code></td></tr>
                    <tr><th scope="row">"Seen by the latest check"</th><td id="dns-state">{
                        if v.dns.in_step { view! { <span class="sev sev-pass">"in step"</span> }.into_any() }
                        else { view! { <span class="sev sev-warn">"lagging"</span>" "{v.dns.advice.clone().unwrap_or_default()} }.into_any() }
                    }</td></tr>
                </tbody>
            </table>
        })}
        {(!v.uncovered_mx.is_empty()).then(|| view! {
            <p id="uncovered-mx" class="warn">"MX records the policy does not cover: " {v.uncovered_mx.join(", ")}</p>
        })}
        {(!v.migration.is_empty()).then(|| view! {
            <h2>"MX migration"</h2>
            <p class="hint">"To move mail to a new MX: add it here, wait until every sender's cached policy includes it, change the MX records, then drop the old one."</p>
            <div class="table-scroll"><table id="migration">
                <thead><tr><th>"MX pattern"</th><th>"In the policy since"</th><th>"Safe from"</th><th>"Covers"</th><th>"State"</th><th>"Next step"</th></tr></thead>
                <tbody>{v.migration.clone().into_iter().map(|m| view! {
                    <tr><td><code>{m.mx}</code></td><td>{utc(m.in_policy_since)}</td><td>{utc(m.safe_from)}</td>
                        <td>{m.covers.join(", ")}</td><td><span class=format!("mx-state mx-{}", m.state)>{m.state.clone()}</span></td><td>{m.advice}</td></tr>
                }).collect_view()}</tbody>
            </table></div>
        })}
        <Show when=move || editor.get()>
            <h2>"Publish a new version"</h2>
            <ActionForm action=publish attr:id="policy-form" attr:class="stacked-form">
                <input type="hidden" name="domain" value=domain.get_value()/>
                <label>"Mode"
                    <select name="mode" id="policy-mode">
                        {["testing", "enforce", "none"].into_iter().map(|m| view! {
                            <option value=m selected=mode0.get_value() == m>{m}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label>"MX patterns, one per line (" <code>"mail.example.com"</code> ", " <code>"*.example.net"</code> ")"
                    <textarea name="mx" id="policy-mx" rows="4">{mx0.get_value()}</textarea>
                </label>
                <MaxAge days=days0/>
                <label>"Comment"<input name="comment" id="policy-comment" maxlength="500"/></label>
                <Show when=move || refused.get()>
                    <label>"Override reason (the refusal above is overridden and audited)"
                        <input name="override_reason" id="policy-override" maxlength="500" required=true/>
                    </label>
                </Show>
                <Show when=move || !refused.get()>
                    <input type="hidden" name="override_reason" value=""/>
                </Show>
                <button type="submit" id="policy-publish" disabled=move || publish.pending().get()>"Publish"</button>
            </ActionForm>
            <Show when=move || can_stop>
                <StopHosting domain=domain.get_value() stop/>
            </Show>
        </Show>
        <h2>"History"</h2>
        <div class="table-scroll"><table id="policy-history">
            <thead><tr><th class="num">"Version"</th><th>"Id"</th><th>"Mode"</th><th>"MX"</th><th>"max_age"</th><th>"By"</th><th>"When"</th><th>"Comment"</th><th></th></tr></thead>
            <tbody>{history.into_iter().map(|h| {
                let d = domain.get_value();
                let version = h.version;
                view! {
                    <tr>
                        <td class="num">{h.version}</td><td><code>{h.id}</code></td><td>{h.mode}</td>
                        <td>{h.mx.join(", ")}</td><td>{age(h.max_age)}</td><td>{h.author}</td><td><crate::components::LocalTime utc=utc(h.created_at)/></td>
                        <td>{h.comment}{h.override_reason.map(|r| view! { <div class="hint">"Override: " {r}</div> })}</td>
                        <td><Show when=move || editor.get()>
                            <button type="button" disabled=crate::components::until_hydrated() class="link rollback" title=format!("Publish version {version}'s content again")
                                on:click={ let d = d.clone(); move |_| { rollback.dispatch(RollbackPolicy { domain: d.clone(), version, override_reason: String::new() }); } }>
                                "Roll back to this"
                            </button>
                        </Show></td>
                    </tr>
                }
            }).collect_view()}</tbody>
        </table></div>
    }
}

/// `max_age` in days, with the seconds shown as typed.
#[component]
fn MaxAge(days: i64) -> impl IntoView {
    let value = RwSignal::new(days.to_string());
    let seconds = move || {
        value
            .get()
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|d| (0..=365).contains(d))
            .map(|d| d * 86_400)
    };
    view! {
        <label>"max_age in days (0 to 365)"
            <input type="number" id="policy-max-age-days" min="0" max="365" step="1" prop:value=value
                on:input=move |ev| value.set(event_target_value(&ev))
                aria-describedby="policy-max-age-hint"/>
        </label>
        <input type="hidden" name="max_age" prop:value=move || seconds().unwrap_or(-1).to_string()/>
        <p id="policy-max-age-hint" class=move || if seconds().is_some() { "hint" } else { "error" }>
            {move || match seconds() {
                Some(s) => format!("{s} seconds. Testing: a day or a week; enforce: 2 weeks or more."),
                None => "Enter whole days from 0 to 365.".to_owned(),
            }}
        </p>
    }
}

/// Stopping asks once more before it starts the phase-out.
#[component]
fn StopHosting(domain: String, stop: ServerAction<StopPolicy>) -> impl IntoView {
    let asked = RwSignal::new(false);
    view! {
        <div class="danger-zone">
            <Show when=move || !asked.get() fallback={
                let domain = domain.clone();
                move || {
                    let domain = domain.clone();
                    view! {
                        <p>"Senders will be told to forget the policy (mode none, for the current max_age); then the host answers 404."</p>
                        <button type="button" id="policy-stop-confirm" class="danger"
                            on:click=move |_| { stop.dispatch(StopPolicy { domain: domain.clone() }); asked.set(false); }>"Stop hosting"</button>
                        <button type="button" class="link" on:click=move |_| asked.set(false)>"Cancel"</button>
                    }
                }
            }>
                <button type="button" disabled=crate::components::until_hydrated() id="policy-stop" class="link danger" on:click=move |_| asked.set(true)>"Stop hosting…"</button>
            </Show>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_unix_seconds() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_764_547_200 + 3_660), "2025-12-01 01:01 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(age(604_800), "604800 s (7 days)");
        assert_eq!(age(3_600), "3600 s");
    }
}
