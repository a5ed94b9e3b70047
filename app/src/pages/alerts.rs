//! `/alerts`: current alerts with why they fired, acknowledgement and silences (editor), the
//! history, the rules, and (admins) the notification channels with "send test".

use leptos::prelude::*;

use crate::alerting::{
    get_alerts, AckAlert, AddChannel, AlertView, AlertsView, DeleteChannel, EndSilence, SaveRule,
    SilenceAlert, TestChannel,
};
use crate::api::whoami;
use crate::auth::Role;
use crate::pages::auth::clean;

/// The alerts page.
#[component]
pub fn AlertsPage() -> impl IntoView {
    let me = Resource::new(|| (), |_| whoami());
    let role = move || me.get().and_then(Result::ok).flatten().map(|u| u.role);
    let ack = ServerAction::<AckAlert>::new();
    let silence = ServerAction::<SilenceAlert>::new();
    let end = ServerAction::<EndSilence>::new();
    let rule = ServerAction::<SaveRule>::new();
    let add = ServerAction::<AddChannel>::new();
    let test = ServerAction::<TestChannel>::new();
    let del = ServerAction::<DeleteChannel>::new();
    let data = Resource::new(
        move || {
            (
                ack.version().get(),
                silence.version().get(),
                end.version().get(),
                rule.version().get(),
                add.version().get(),
                test.version().get(),
                del.version().get(),
            )
        },
        |_| get_alerts(),
    );
    let error = move || {
        [
            ack.value().get().and_then(Result::err),
            silence.value().get().and_then(Result::err),
            end.value().get().and_then(Result::err),
            rule.value().get().and_then(Result::err),
            add.value().get().and_then(Result::err),
            test.value().get().and_then(Result::err),
            del.value().get().and_then(Result::err),
        ]
        .into_iter()
        .flatten()
        .next()
        .map(|e| view! { <p class="error" role="alert">{clean(&e.to_string())}</p> })
    };
    view! {
        <section class="page alerts">
            <h1>"Alerts"</h1>
            {error}
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || data.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{clean(&e.to_string())}</p> }.into_any(),
                    Ok(v) => {
                        let editor = role().is_some_and(|r| r >= Role::Editor);
                        let admin = role().is_some_and(|r| r >= Role::Admin);
                        view! { <AlertsBody v editor admin ack silence end rule add test del/> }.into_any()
                    }
                })}
            </Transition>
        </section>
    }
}

#[allow(clippy::too_many_arguments)]
#[component]
fn AlertsBody(
    v: AlertsView,
    editor: bool,
    admin: bool,
    ack: ServerAction<AckAlert>,
    silence: ServerAction<SilenceAlert>,
    end: ServerAction<EndSilence>,
    rule: ServerAction<SaveRule>,
    add: ServerAction<AddChannel>,
    test: ServerAction<TestChannel>,
    del: ServerAction<DeleteChannel>,
) -> impl IntoView {
    let (active, history): (Vec<AlertView>, Vec<AlertView>) =
        v.alerts.into_iter().partition(|a| a.state != "resolved");
    let row = move |a: AlertView, live: bool| {
        let id = a.id;
        let labels = a
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        view! {
            <tr class=format!("alert alert-{}", a.state) id=format!("alert-{id}")>
                <td><span class=format!("sev sev-{}", if a.state == "firing" { "fail" } else if a.state == "pending" { "warn" } else { "pass" })>{a.state.clone()}</span>
                    {a.silenced.then(|| view! { <span class="badge">" silenced"</span> })}
                    {a.acknowledged_by.clone().map(|b| view! { <div class="hint">"acknowledged by " {b}</div> })}
                </td>
                <td><a href=format!("/domains/{}", a.domain)>{a.domain.clone()}</a><div class="hint"><code>{labels}</code></div></td>
                <td>{a.reason.clone()}
                    <div class="hint">{format!("value {:.4}", a.value)}
                        {a.baseline.map(|b| format!(" · baseline {b:.4}"))}
                        {a.threshold.map(|t| format!(" · threshold {t:.4}"))}</div>
                </td>
                <td>{a.started.clone()}{a.resolved.clone().map(|r| view! { <div class="hint">"resolved " {r}</div> })}</td>
                <td>{(live && editor).then(|| view! {
                    <button class="ack" type="button" disabled=a.acknowledged_by.is_some() on:click=move |_| { ack.dispatch(AckAlert { id }); }>"Acknowledge"</button>
                    <button class="silence" type="button" on:click=move |_| { silence.dispatch(SilenceAlert { id, minutes: 24 * 60, comment: "silenced from the alerts page".into() }); }>"Silence 24 h"</button>
                })}</td>
            </tr>
        }
    };
    let active_empty = active.is_empty();
    view! {
        <h2>"Current"</h2>
        {active_empty.then(|| view! { <p class="empty" id="no-alerts">"No alert is firing."</p> })}
        <table id="current-alerts">
            <thead><tr><th>"State"</th><th>"Domain and labels"</th><th>"Why"</th><th>"Since (UTC)"</th><th></th></tr></thead>
            <tbody>{active.into_iter().map(|a| row(a, true)).collect_view()}</tbody>
        </table>
        <h2>"Silences"</h2>
        <table id="silences">
            <thead><tr><th>"Matchers"</th><th>"Ends (UTC)"</th><th>"By"</th><th>"Comment"</th><th></th></tr></thead>
            <tbody>{v.silences.into_iter().map(|s| {
                let id = s.id;
                view! { <tr class:inactive=!s.active>
                    <td><code>{s.matchers}</code></td><td>{s.ends}</td><td>{s.author}</td><td>{s.comment}</td>
                    <td>{(editor && s.active).then(|| view! { <button type="button" on:click=move |_| { end.dispatch(EndSilence { id }); }>"End now"</button> })}</td>
                </tr> }
            }).collect_view()}</tbody>
        </table>
        <h2>"History"</h2>
        <table id="alert-history">
            <thead><tr><th>"State"</th><th>"Domain and labels"</th><th>"Why"</th><th>"Since (UTC)"</th><th></th></tr></thead>
            <tbody>{history.into_iter().map(|a| row(a, false)).collect_view()}</tbody>
        </table>
        <h2>"Rules"</h2>
        <p class="hint">"Each rule is evaluated for every domain after imports and every minute. Parameters are JSON numbers (windows in days, rates as fractions)."</p>
        <table id="rules">
            <thead><tr><th>"Rule"</th><th>"Scope"</th><th>"Parameters"</th><th>"On"</th><th></th></tr></thead>
            <tbody>{v.rules.into_iter().map(|r| {
                let id = r.id;
                let enabled = RwSignal::new(r.enabled);
                let params = RwSignal::new(r.params.clone());
                view! { <tr>
                    <td>{r.name}<div class="hint"><code>{r.kind}</code></div></td>
                    <td>{r.domain.unwrap_or_else(|| "every domain".into())}</td>
                    <td><input class="params" type="text" prop:value=move || params.get() disabled=!editor on:input=move |ev| params.set(event_target_value(&ev))/></td>
                    <td><input type="checkbox" prop:checked=move || enabled.get() disabled=!editor on:change=move |ev| enabled.set(event_target_checked(&ev))/></td>
                    <td>{editor.then(|| view! { <button type="button" on:click=move |_| { rule.dispatch(SaveRule { id, enabled: enabled.get_untracked(), params: params.get_untracked() }); }>"Save"</button> })}</td>
                </tr> }
            }).collect_view()}</tbody>
        </table>
        {admin.then(|| view! { <Channels channels=v.channels add test del/> })}
    }
}

#[component]
fn Channels(
    channels: Vec<crate::alerting::ChannelView>,
    add: ServerAction<AddChannel>,
    test: ServerAction<TestChannel>,
    del: ServerAction<DeleteChannel>,
) -> impl IntoView {
    view! {
        <h2>"Notification channels"</h2>
        <table id="channels">
            <thead><tr><th>"Name"</th><th>"Kind"</th><th>"Settings"</th><th>"Domains"</th><th>"Recent deliveries"</th><th></th></tr></thead>
            <tbody>{channels.into_iter().map(|c| {
                let id = c.id;
                view! { <tr>
                    <td>{c.name}</td><td>{c.kind}</td><td><code>{c.config}</code></td><td>{c.domains}</td>
                    <td><ul class="deliveries">{c.recent.into_iter().map(|(when, kind, status, err)| view! {
                        <li>{when} " " {kind} " " <strong>{status}</strong> {(!err.is_empty()).then(|| view! { <span class="hint">" " {err}</span> })}</li>
                    }).collect_view()}</ul></td>
                    <td>
                        <button class="send-test" type="button" on:click=move |_| { test.dispatch(TestChannel { id }); }>"Send test"</button>
                        <button type="button" on:click=move |_| { del.dispatch(DeleteChannel { id }); }>"Delete"</button>
                    </td>
                </tr> }
            }).collect_view()}</tbody>
        </table>
        <h3>"Add a channel"</h3>
        <ActionForm action=add attr:id="add-channel" attr:class="stack">
            <label>"Name " <input name="name" required/></label>
            <label>"Kind " <select name="kind">
                <option value="webhook">"webhook (JSON, optional HMAC-SHA256 signature)"</option>
                <option value="slack">"Slack incoming webhook"</option>
                <option value="teams">"Microsoft Teams webhook"</option>
                <option value="email">"e-mail (SMTP)"</option>
            </select></label>
            <label>"Settings (JSON) " <textarea name="config" rows="3" required placeholder=r#"{"url": "https://hooks.example/…", "secret": "…"}  or  {"host": "smtp.example.com", "port": 587, "tls": "starttls", "username": "…", "password": "…", "from": "tlswatch@example.com", "to": ["postmaster@example.com"]}"#></textarea></label>
            <label>"Only these domains (comma-separated, empty: all) " <input name="domains"/></label>
            <button type="submit">"Add"</button>
        </ActionForm>
    }
}
