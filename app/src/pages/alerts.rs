//! `/alerts`: current alerts with why they fired, acknowledgement and silences (editor), the
//! history, the rules, and (admins) the notification channels with "send test".

use leptos::prelude::*;

use crate::alerting::{
    get_alerts, params_json, rule_fields, AckAlert, AddRule, AlertView, AlertsView, DeleteChannel,
    EndSilence, ParamField, RuleView, SaveChannel, SaveRule, SilenceAlert, TestChannel, RULE_KINDS,
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
    let save = ServerAction::<SaveChannel>::new();
    let add_rule = ServerAction::<AddRule>::new();
    let test = ServerAction::<TestChannel>::new();
    let del = ServerAction::<DeleteChannel>::new();
    let data = Resource::new(
        move || {
            (
                ack.version().get(),
                silence.version().get(),
                end.version().get(),
                rule.version().get(),
                add_rule.version().get(),
                save.version().get(),
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
            add_rule.value().get().and_then(Result::err),
            save.value().get().and_then(Result::err),
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
                        view! { <AlertsBody v editor admin ack silence end rule add_rule save test del/> }.into_any()
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
    add_rule: ServerAction<AddRule>,
    save: ServerAction<SaveChannel>,
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
                <td>{if a.domain.is_empty() {
                        view! { <a href="/admin/mailboxes">"mailboxes"</a> }.into_any()
                    } else {
                        view! { <a href=format!("/domains/{}", a.domain)>{a.domain.clone()}</a> }.into_any()
                    }}<div class="hint"><code>{labels}</code></div></td>
                <td>{a.reason.clone()}
                    <div class="hint">{format!("value {:.4}", a.value)}
                        {a.baseline.map(|b| format!(" · baseline {b:.4}"))}
                        {a.threshold.map(|t| format!(" · threshold {t:.4}"))}</div>
                </td>
                <td><crate::components::LocalTime utc=a.started.clone()/>{a.resolved.clone().map(|r| view! { <div class="hint">"resolved " <crate::components::LocalTime utc=r/></div> })}</td>
                <td>{(live && editor).then(|| view! {
                    <button class="ack" type="button" disabled={let (off, done) = (crate::components::until_hydrated(), a.acknowledged_by.is_some()); move || done || off()} on:click=move |_| { ack.dispatch(AckAlert { id }); }>"Acknowledge"</button>
                    <button class="silence" type="button" disabled=crate::components::until_hydrated() on:click=move |_| { silence.dispatch(SilenceAlert { id, minutes: 24 * 60, comment: "silenced from the alerts page".into() }); }>"Silence 24 h"</button>
                })}</td>
            </tr>
        }
    };
    let active_empty = active.is_empty();
    view! {
        <h2>"Current"</h2>
        {active_empty.then(|| view! { <p class="empty" id="no-alerts">"No alert is firing."</p> })}
        <table id="current-alerts">
            <thead><tr><th>"State"</th><th>"Domain and labels"</th><th>"Why"</th><th>"Since"</th><th></th></tr></thead>
            <tbody>{active.into_iter().map(|a| row(a, true)).collect_view()}</tbody>
        </table>
        <h2>"Silences"</h2>
        <table id="silences">
            <thead><tr><th>"Matchers"</th><th>"Ends (UTC)"</th><th>"By"</th><th>"Comment"</th><th></th></tr></thead>
            <tbody>{v.silences.into_iter().map(|s| {
                let id = s.id;
                view! { <tr class:inactive=!s.active>
                    <td><code>{s.matchers}</code></td><td>{s.ends}</td><td>{s.author}</td><td>{s.comment}</td>
                    <td>{(editor && s.active).then(|| view! { <button type="button" disabled=crate::components::until_hydrated() on:click=move |_| { end.dispatch(EndSilence { id }); }>"End now"</button> })}</td>
                </tr> }
            }).collect_view()}</tbody>
        </table>
        <h2>"History"</h2>
        <table id="alert-history">
            <thead><tr><th>"State"</th><th>"Domain and labels"</th><th>"Why"</th><th>"Since"</th><th></th></tr></thead>
            <tbody>{history.into_iter().map(|a| row(a, false)).collect_view()}</tbody>
        </table>
        <Rules rules=v.rules defaults=v.rule_defaults editor rule add_rule/>
        {admin.then(|| view! { <crate::pages::channels::Channels channels=v.channels save test del/> })}
    }
}

/// A rule's number fields with what was typed.
type Entries = Vec<(ParamField, RwSignal<String>)>;

fn entries(kind: &str, values: &[(String, f64)]) -> Entries {
    rule_fields(kind)
        .iter()
        .map(|f| {
            let stored = values.iter().find(|(k, _)| k == f.key).map(|(_, v)| *v);
            (
                *f,
                RwSignal::new(stored.map(|v| f.shown(v)).unwrap_or_default()),
            )
        })
        .collect()
}

/// The parameters as the server takes them, or the first problem.
fn collect(entries: &Entries) -> Result<String, String> {
    let mut values = Vec::new();
    for (f, text) in entries {
        values.push((f.key, f.parse(&text.get_untracked())?));
    }
    Ok(params_json(&values))
}

/// Labelled number fields with their unit and limits; a wrong value is explained under its
/// field as it is typed.
#[component]
fn ParamInputs(entries: Entries, prefix: String) -> impl IntoView {
    entries
        .into_iter()
        .map(|(f, text)| {
            let id = format!("{prefix}-{}", f.key);
            let err_id = format!("{id}-error");
            let problem = move || f.parse(&text.get()).err();
            let step = if f.whole { "1" } else { "any" };
            view! {
                <label class="field">
                    <span>{f.label}</span>
                    <span class="with-unit">
                        <input type="number" id=id.clone() step=step min=f.min max=f.max
                            prop:value=move || text.get()
                            on:input=move |ev| text.set(event_target_value(&ev))
                            aria-invalid=move || problem().is_some().to_string()
                            aria-describedby=err_id.clone()/>
                        <span class="unit">{f.unit}</span>
                    </span>
                    <span id=err_id class="field-error" role="status">{problem}</span>
                </label>
            }
        })
        .collect_view()
}

fn summary(r: &RuleView) -> String {
    rule_fields(&r.kind)
        .iter()
        .filter_map(|f| {
            let v = r.values.iter().find(|(k, _)| k == f.key)?.1;
            Some(format!("{} {} {}", f.label, f.shown(v), f.unit))
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

#[component]
fn Rules(
    rules: Vec<RuleView>,
    defaults: Vec<(String, Vec<(String, f64)>)>,
    editor: bool,
    rule: ServerAction<SaveRule>,
    add_rule: ServerAction<AddRule>,
) -> impl IntoView {
    view! {
        <h2>"Rules"</h2>
        <p class="hint">"Each rule is evaluated for every domain (or the one it is limited to) after imports and every minute."</p>
        <div class="table-scroll"><table id="rules">
            <thead><tr><th>"Rule"</th><th>"Scope"</th><th>"Settings"</th><th>"On"</th><th></th></tr></thead>
            <tbody>{rules.into_iter().map(|r| view! { <RuleRow r editor rule/> }).collect_view()}</tbody>
        </table></div>
        {editor.then(|| view! { <NewRule add_rule defaults/> })}
    }
}

#[component]
fn RuleRow(r: RuleView, editor: bool, rule: ServerAction<SaveRule>) -> impl IntoView {
    let id = r.id;
    let open = RwSignal::new(false);
    let enabled = RwSignal::new(r.enabled);
    let fields = entries(&r.kind, &r.values);
    let problem = RwSignal::new(None::<String>);
    let kept = StoredValue::new(fields.clone());
    let text = summary(&r);
    let save = move |_| match collect(&kept.get_value()) {
        Ok(params) => {
            problem.set(None);
            rule.dispatch(SaveRule {
                id,
                enabled: enabled.get_untracked(),
                params,
            });
            open.set(false);
        }
        Err(e) => problem.set(Some(e)),
    };
    view! {
        <tr id=format!("rule-{id}")>
            <td>{r.name.clone()}<div class="hint"><code>{r.kind.clone()}</code></div></td>
            <td>{r.domain.clone().unwrap_or_else(|| "every domain".into())}</td>
            <td class="rule-summary">{text}</td>
            <td><input type="checkbox" aria-label=format!("{} on", r.name) prop:checked=move || enabled.get() disabled=!editor
                on:change=move |ev| enabled.set(event_target_checked(&ev))/></td>
            <td>{editor.then(|| view! {
                <button type="button" disabled=crate::components::until_hydrated() class="edit-rule" aria-expanded=move || open.get().to_string()
                    on:click=move |_| open.update(|o| *o = !*o)>"Edit"</button>
            })}</td>
        </tr>
        <Show when=move || open.get()>
            <tr class="editor-row"><td colspan="5">
                <form class="rule-form" on:submit=move |ev| ev.prevent_default()>
                    <ParamInputs entries=kept.get_value() prefix=format!("rule-{id}")/>
                    {move || problem.get().map(|p| view! { <p class="field-error" role="alert">{p}</p> })}
                    <button type="button" class="save-rule" on:click=save>"Save"</button>
                </form>
            </td></tr>
        </Show>
    }
}

#[component]
fn NewRule(
    add_rule: ServerAction<AddRule>,
    defaults: Vec<(String, Vec<(String, f64)>)>,
) -> impl IntoView {
    let defaults = StoredValue::new(defaults);
    let name = RwSignal::new(String::new());
    let kind = RwSignal::new(RULE_KINDS[0].0.to_owned());
    let domain = RwSignal::new(String::new());
    let fields: RwSignal<Entries> = RwSignal::new(entries(RULE_KINDS[0].0, &[]));
    let problem = RwSignal::new(None::<String>);
    let defaults = move |k: &str| -> Vec<(String, f64)> {
        defaults
            .get_value()
            .iter()
            .find(|(kind, _)| kind == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    fields.set(entries(RULE_KINDS[0].0, &defaults(RULE_KINDS[0].0)));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if name.get_untracked().trim().is_empty() {
            problem.set(Some("Name: required".into()));
            return;
        }
        match collect(&fields.get_untracked()) {
            Ok(params) => {
                problem.set(None);
                add_rule.dispatch(AddRule {
                    name: name.get_untracked(),
                    kind: kind.get_untracked(),
                    domain: domain.get_untracked(),
                    params,
                });
            }
            Err(e) => problem.set(Some(e)),
        }
    };
    view! {
        <h3>"Add a rule"</h3>
        <form id="add-rule" class="stacked-form" on:submit=submit novalidate>
            <label>"Name"<input id="new-rule-name" prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) maxlength="100"/></label>
            <label>"Kind"
                <select id="new-rule-kind" on:change=move |ev| {
                    let k = event_target_value(&ev);
                    fields.set(entries(&k, &defaults(&k)));
                    kind.set(k);
                }>
                    {RULE_KINDS.iter().map(|(k, what)| view! { <option value=*k>{*what}</option> }).collect_view()}
                </select>
            </label>
            <label>"Only for the domain (empty: every domain)"<input id="new-rule-domain" prop:value=move || domain.get() on:input=move |ev| domain.set(event_target_value(&ev))/></label>
            {move || view! { <ParamInputs entries=fields.get() prefix="new-rule".to_owned()/> }}
            {move || problem.get().map(|p| view! { <p class="field-error" role="alert">{p}</p> })}
            <button type="submit" id="add-rule-submit">"Add rule"</button>
        </form>
    }
}
