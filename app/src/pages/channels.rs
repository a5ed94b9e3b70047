//! Notification channels on the alerts page (admins): a form per kind (webhook, Slack, Teams,
//! e-mail) to add or change one, checked in the browser before it is sent, with a preview of
//! the message as the channel would send it, and "send test" answering in place.

use leptos::prelude::*;

use crate::alerting::{
    channel_problems, preview_channel, ChannelForm, ChannelView, DeleteChannel, SaveChannel,
    TestChannel,
};

const KINDS: [(&str, &str); 4] = [
    ("webhook", "Webhook (JSON, optional HMAC-SHA256 signature)"),
    ("slack", "Slack incoming webhook"),
    ("teams", "Microsoft Teams webhook"),
    ("email", "E-mail (SMTP)"),
];

/// The channels section.
#[component]
pub fn Channels(
    channels: Vec<ChannelView>,
    save: ServerAction<SaveChannel>,
    test: ServerAction<TestChannel>,
    del: ServerAction<DeleteChannel>,
) -> impl IntoView {
    // Which channel's test the answer belongs to.
    let tested = RwSignal::new(None::<i64>);
    let editing = RwSignal::new(None::<i64>);
    view! {
        <h2>"Notification channels"</h2>
        <div class="table-scroll"><table id="channels">
            <thead><tr><th>"Name"</th><th>"Kind"</th><th>"Settings"</th><th>"Domains"</th><th>"Recent deliveries"</th><th></th></tr></thead>
            <tbody>{channels.into_iter().map(|c| {
                let id = c.id;
                let form = form_of(&c);
                let shown = c.settings.iter().map(|(k, v)| format!("{k}: {v}")).chain(c.secrets.iter().map(|k| format!("{k}: set"))).collect::<Vec<_>>().join(" · ");
                view! {
                    <tr id=format!("channel-{id}")>
                        <td>{c.name.clone()}</td><td>{c.kind.clone()}</td><td class="settings">{shown}</td><td>{c.domains.clone()}</td>
                        <td><ul class="deliveries">{c.recent.into_iter().map(|(when, kind, status, err)| view! {
                            <li>{when} " " {kind} " " <strong>{status}</strong> {(!err.is_empty()).then(|| view! { <span class="hint">" " {err}</span> })}</li>
                        }).collect_view()}</ul></td>
                        <td class="actions">
                            <button class="send-test" type="button" disabled={let off = crate::components::until_hydrated(); move || off() || test.pending().get()}
                                on:click=move |_| { tested.set(Some(id)); test.dispatch(TestChannel { id }); }>"Send test"</button>
                            <button class="edit-channel" type="button" disabled=crate::components::until_hydrated() aria-expanded=move || (editing.get() == Some(id)).to_string()
                                on:click=move |_| editing.update(|e| *e = if *e == Some(id) { None } else { Some(id) })>"Edit"</button>
                            <button type="button" disabled=crate::components::until_hydrated() on:click=move |_| { del.dispatch(DeleteChannel { id }); }>"Delete"</button>
                            <Show when=move || tested.get() == Some(id)>
                                <p class="test-result" role="status">{move || match (test.pending().get(), test.value().get()) {
                                    (true, _) => "Sending…".to_owned(),
                                    (false, Some(Ok(m))) => m,
                                    (false, Some(Err(e))) => e.to_string(),
                                    (false, None) => String::new(),
                                }}</p>
                            </Show>
                        </td>
                    </tr>
                    <Show when=move || editing.get() == Some(id)>
                        <tr class="editor-row"><td colspan="6">
                            <ChannelEditor initial=form.clone() save/>
                        </td></tr>
                    </Show>
                }
            }).collect_view()}</tbody>
        </table></div>
        <h3>"Add a channel"</h3>
        <ChannelEditor initial=ChannelForm { kind: "webhook".into(), port: "587".into(), tls: "starttls".into(), ..ChannelForm::default() } save/>
    }
}

fn form_of(c: &ChannelView) -> ChannelForm {
    let get = |k: &str| {
        c.settings
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    ChannelForm {
        id: c.id,
        name: c.name.clone(),
        kind: c.kind.clone(),
        host: get("host"),
        port: get("port"),
        tls: get("tls"),
        username: get("username"),
        from: get("from"),
        to: get("to"),
        domains: if c.domains == "all" {
            String::new()
        } else {
            c.domains.clone()
        },
        ..ChannelForm::default()
    }
}

/// One text field of a form, with its problem under it once the user tried to save.
#[component]
pub(crate) fn Field(
    label: &'static str,
    key: &'static str,
    prefix: String,
    value: RwSignal<String>,
    problems: Signal<Vec<(&'static str, String)>>,
    #[prop(optional)] kind: &'static str,
    #[prop(optional)] hint: &'static str,
) -> impl IntoView {
    let id = format!("{prefix}-{key}");
    let err_id = format!("{id}-error");
    let problem = move || {
        problems
            .get()
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, m)| m)
    };
    view! {
        <label class="field">
            <span>{label}</span>
            <input id=id type=if kind.is_empty() { "text" } else { kind } prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
                placeholder=hint autocomplete="off"
                aria-invalid=move || problem().is_some().to_string() aria-describedby=err_id.clone()/>
            <span id=err_id class="field-error" role="status">{problem}</span>
        </label>
    }
}

/// The form of a channel: adding (`initial.id` 0) or changing one.
#[component]
fn ChannelEditor(initial: ChannelForm, save: ServerAction<SaveChannel>) -> impl IntoView {
    let adding = initial.id == 0;
    let prefix = if adding {
        "new-channel".to_owned()
    } else {
        format!("channel-{}", initial.id)
    };
    let id = initial.id;
    let kind = RwSignal::new(initial.kind.clone());
    let name = RwSignal::new(initial.name.clone());
    let url = RwSignal::new(String::new());
    let secret = RwSignal::new(String::new());
    let host = RwSignal::new(initial.host.clone());
    let port = RwSignal::new(if initial.port.is_empty() {
        "587".to_owned()
    } else {
        initial.port.clone()
    });
    let tls = RwSignal::new(if initial.tls.is_empty() {
        "starttls".to_owned()
    } else {
        initial.tls.clone()
    });
    let username = RwSignal::new(initial.username.clone());
    let password = RwSignal::new(String::new());
    let from = RwSignal::new(initial.from.clone());
    let to = RwSignal::new(initial.to.clone());
    let domains = RwSignal::new(initial.domains.clone());
    let tried = RwSignal::new(false);
    let form = move || ChannelForm {
        id,
        name: name.get(),
        kind: kind.get(),
        url: url.get(),
        secret: secret.get(),
        host: host.get(),
        port: port.get(),
        tls: tls.get(),
        username: username.get(),
        password: password.get(),
        from: from.get(),
        to: to.get(),
        domains: domains.get(),
    };
    let problems = Signal::derive(move || {
        if tried.get() {
            channel_problems(&form())
        } else {
            Vec::new()
        }
    });
    let preview = Resource::new(move || kind.get(), preview_channel);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        tried.set(true);
        let f = form();
        if channel_problems(&f).is_empty() {
            save.dispatch(SaveChannel { form: f });
        }
    };
    let keep = if adding {
        ""
    } else {
        "stored; leave empty to keep it"
    };
    let p = prefix.clone();
    let preview_id = format!("{p}-preview");
    let save_id = format!("{p}-save");
    view! {
        <form id=format!("{prefix}-form") class="stacked-form channel-form" on:submit=submit novalidate>
            <Field label="Name" key="name" prefix=p.clone() value=name problems/>
            <label class="field"><span>"Kind"</span>
                <select id=format!("{p}-kind") disabled=!adding on:change=move |ev| kind.set(event_target_value(&ev))>
                    {KINDS.iter().map(|(k, what)| view! { <option value=*k selected=initial.kind == *k>{*what}</option> }).collect_view()}
                </select>
            </label>
            {
                let p = p.clone();
                move || match kind.get().as_str() {
                    "email" => view! {
                        <Field label="SMTP server" key="host" prefix=p.clone() value=host problems/>
                        <Field label="Port" key="port" prefix=p.clone() value=port problems kind="number"/>
                        <label class="field"><span>"TLS"</span>
                            <select id=format!("{p}-tls") on:change=move |ev| tls.set(event_target_value(&ev))>
                                {[("starttls", "STARTTLS (587)"), ("implicit", "implicit TLS (465)"), ("none", "none (internal relays only)")].into_iter().map(|(v, l)| view! {
                                    <option value=v selected=move || tls.get() == v>{l}</option>
                                }).collect_view()}
                            </select>
                        </label>
                        <Field label="User name (optional)" key="username" prefix=p.clone() value=username problems/>
                        <Field label="Password (optional)" key="password" prefix=p.clone() value=password problems kind="password" hint=keep/>
                        <Field label="From" key="from" prefix=p.clone() value=from problems hint="tlswatch@example.com"/>
                        <Field label="To (comma-separated)" key="to" prefix=p.clone() value=to problems hint="postmaster@example.com"/>
                    }.into_any(),
                    "webhook" => view! {
                        <Field label="URL" key="url" prefix=p.clone() value=url problems kind="url" hint=if adding { "https://hooks.example.com/tlswatch" } else { keep }/>
                        <Field label="Signing secret (optional)" key="secret" prefix=p.clone() value=secret problems kind="password" hint=keep/>
                    }.into_any(),
                    _ => view! {
                        <Field label="Webhook URL" key="url" prefix=p.clone() value=url problems kind="url" hint=if adding { "https://hooks.slack.com/services/…" } else { keep }/>
                    }.into_any(),
                }
            }
            <Field label="Only these domains (comma-separated, empty: all)" key="domains" prefix=p.clone() value=domains problems/>
            <details class="preview">
                <summary>"Preview of a message"</summary>
                <Transition fallback=|| view! { <p class="loading">"…"</p> }>
                    <pre id=preview_id>{move || preview.get().map(|r| r.unwrap_or_else(|e| e.to_string()))}</pre>
                </Transition>
            </details>
            <button type="submit" id=save_id>{if adding { "Add channel" } else { "Save" }}</button>
        </form>
    }
}
