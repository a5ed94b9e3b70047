//! `/admin/mailboxes`: the mailboxes tlswatch polls for report mail (IMAP with a password or
//! OAuth 2.0, Microsoft Graph): their state (last poll, last success, last error, counts,
//! "authorization needed"), "test connection" (signs in, imports nothing), "poll now", "sign in"
//! for the authorization-code method, a dry run of retention, and a form to add or change one
//! (secrets are write-only).

use leptos::prelude::*;

use crate::components::LocalTime;
use crate::mailboxes::{
    list_mailboxes, mailbox_problems, secret_label, MailboxForm, MailboxView, PollMailbox,
    PreviewRetention, RemoveMailbox, SaveMailbox, TestMailbox, AUTH_METHODS,
};
use crate::pages::channels::Field;

/// The page.
#[component]
pub fn MailboxesPage() -> impl IntoView {
    let save = ServerAction::<SaveMailbox>::new();
    let remove = ServerAction::<RemoveMailbox>::new();
    let test = ServerAction::<TestMailbox>::new();
    let poll = ServerAction::<PollMailbox>::new();
    let preview = ServerAction::<PreviewRetention>::new();
    let data = Resource::new(
        move || {
            (
                save.version().get(),
                remove.version().get(),
                poll.version().get(),
            )
        },
        |_| list_mailboxes(),
    );
    let error = move || {
        [save.value().get().and_then(Result::err), remove.value().get().and_then(Result::err)]
            .into_iter()
            .flatten()
            .next()
            .map(|e| view! { <p class="error" role="alert">{crate::pages::auth::clean(&e.to_string())}</p> })
    };
    view! {
        <section class="page mailboxes">
            <h1>"Mailboxes"</h1>
            <p class="hint">"tlswatch polls these mailboxes (IMAP, or Microsoft Graph for Microsoft 365) for TLS-RPT report mail. Reports are imported, other mail is set aside and kept in the quarantine."</p>
            {error}
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || data.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{crate::pages::auth::clean(&e.to_string())}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="empty" id="no-mailboxes">"No mailbox yet: add the one your TLS-RPT records send reports to."</p> }.into_any(),
                    Ok(list) => view! { <MailboxTable list save remove test poll preview/> }.into_any(),
                })}
            </Transition>
            <h2>"Add a mailbox"</h2>
            <MailboxEditor initial=MailboxForm { port: "993".into(), tls: "implicit".into(), folder: "INBOX".into(), poll_minutes: "5".into(), enabled: true, kind: "imap".into(), auth: "password".into(), ..MailboxForm::default() } save/>
        </section>
    }
}

#[component]
fn MailboxTable(
    list: Vec<MailboxView>,
    save: ServerAction<SaveMailbox>,
    remove: ServerAction<RemoveMailbox>,
    test: ServerAction<TestMailbox>,
    poll: ServerAction<PollMailbox>,
    preview: ServerAction<PreviewRetention>,
) -> impl IntoView {
    // Which mailbox the last answer belongs to.
    let answered = RwSignal::new(None::<(i64, &'static str)>);
    let editing = RwSignal::new(None::<i64>);
    view! {
        <div class="table-scroll"><table id="mailboxes">
            <thead><tr><th>"Mailbox"</th><th>"State"</th><th>"Last poll"</th><th class="num">"Imported"</th><th class="num">"Duplicates"</th><th class="num">"Rejected"</th><th></th></tr></thead>
            <tbody>{list.into_iter().map(|m| {
                let id = m.id;
                let form = MailboxForm {
                    id,
                    name: m.name.clone(),
                    host: m.host.clone(),
                    port: m.port.to_string(),
                    tls: m.tls.clone(),
                    username: m.username.clone(),
                    password: String::new(),
                    folder: m.folder.clone(),
                    archive_folder: m.archive_folder.clone(),
                    rejected_folder: m.rejected_folder.clone(),
                    poll_minutes: (m.poll_seconds / 60).max(1).to_string(),
                    enabled: m.enabled,
                    auto_register: m.auto_register,
                    kind: m.kind.clone(),
                    auth: m.auth.clone(),
                    tenant: m.tenant.clone(),
                    authority: m.authority.clone(),
                    token_url: m.token_url.clone(),
                    authorize_url: m.authorize_url.clone(),
                    client_id: m.client_id.clone(),
                    scope: m.scope.clone(),
                    sasl: m.sasl.clone(),
                    retention_days: m.retention_days.map(|d| d.to_string()).unwrap_or_default(),
                };
                let sev = match m.state.as_str() { "ok" => "pass", "failing" | "authorization needed" => "fail", _ => "info" };
                let method = AUTH_METHODS.iter().find(|(v, _)| *v == m.auth).map_or("", |(_, l)| l);
                let place = if m.kind == "graph" {
                    format!("{} via Microsoft Graph ({}), folder {}", m.username, m.host, m.folder)
                } else {
                    format!("{}@{}:{} ({}), folder {}", m.username, m.host, m.port, m.tls, m.folder)
                };
                let sign_in = (m.auth == "authorization_code").then(|| {
                    let label = if m.signed_in { "Sign in again" } else { "Sign in" };
                    view! { <a class="button sign-in-mailbox" href=format!("/admin/mailboxes/{id}/sign-in") rel="external">{label}</a> }
                });
                let retention = m.retention_days.map(|d| format!(", archived mail deleted after {d} days"));
                let has_retention = m.retention_days.is_some();
                view! {
                    <tr id=format!("mailbox-{id}")>
                        <td><strong>{m.name.clone()}</strong>
                            <div class="hint">{place}</div>
                            <div class="hint">{method}</div>
                            <div class="hint">{format!("every {} min", (m.poll_seconds / 60).max(1))}{(!m.archive_folder.is_empty()).then(|| format!(", imported mail to {}", m.archive_folder))}{retention}</div>
                        </td>
                        <td><span class=format!("sev sev-{sev}")>{m.state.clone()}</span>
                            {m.last_error.clone().map(|e| view! { <div class="hint mailbox-error">{e}</div> })}</td>
                        <td>{m.last_poll.clone().map(|t| view! { <LocalTime utc=t/> })}
                            {m.last_success.clone().map(|t| view! { <div class="hint">"last success " <LocalTime utc=t/></div> })}</td>
                        <td class="num"><crate::components::Count n=m.imported/></td>
                        <td class="num"><crate::components::Count n=m.duplicates/></td>
                        <td class="num"><crate::components::Count n=m.rejected/></td>
                        <td class="actions">
                            <button type="button" class="test-mailbox" disabled={let off = crate::components::until_hydrated(); move || off() || test.pending().get()}
                                on:click=move |_| { answered.set(Some((id, "test"))); test.dispatch(TestMailbox { id }); }>"Test connection"</button>
                            <button type="button" class="poll-mailbox" disabled={let off = crate::components::until_hydrated(); move || off() || poll.pending().get()}
                                on:click=move |_| { answered.set(Some((id, "poll"))); poll.dispatch(PollMailbox { id }); }>"Poll now"</button>
                            {sign_in}
                            {has_retention.then(|| view! {
                                <button type="button" class="preview-retention" disabled={let off = crate::components::until_hydrated(); move || off() || preview.pending().get()}
                                    on:click=move |_| { answered.set(Some((id, "retention"))); preview.dispatch(PreviewRetention { id }); }>"Preview clean-up"</button>
                            })}
                            <button type="button" disabled=crate::components::until_hydrated() class="edit-mailbox" aria-expanded=move || (editing.get() == Some(id)).to_string()
                                on:click=move |_| editing.update(|e| *e = if *e == Some(id) { None } else { Some(id) })>"Edit"</button>
                            <button type="button" disabled=crate::components::until_hydrated() on:click=move |_| { remove.dispatch(RemoveMailbox { id }); }>"Delete"</button>
                            <Show when=move || answered.get().is_some_and(|(i, _)| i == id)>
                                <p class="mailbox-result" role="status">{move || {
                                    let (pending, value) = match answered.get().map(|a| a.1) {
                                        Some("poll") => (poll.pending().get(), poll.value().get()),
                                        Some("retention") => (preview.pending().get(), preview.value().get()),
                                        _ => (test.pending().get(), test.value().get()),
                                    };
                                    match (pending, value) {
                                        (true, _) => "Working…".to_owned(),
                                        (false, Some(Ok(m))) => m,
                                        (false, Some(Err(e))) => e.to_string(),
                                        (false, None) => String::new(),
                                    }
                                }}</p>
                            </Show>
                        </td>
                    </tr>
                    <Show when=move || editing.get() == Some(id)>
                        <tr class="editor-row"><td colspan="7"><MailboxEditor initial=form.clone() save/></td></tr>
                    </Show>
                }
            }).collect_view()}</tbody>
        </table></div>
    }
}

/// The form of a mailbox: adding (`initial.id` 0) or changing one.
#[component]
fn MailboxEditor(initial: MailboxForm, save: ServerAction<SaveMailbox>) -> impl IntoView {
    let adding = initial.id == 0;
    let p = if adding {
        "new-mailbox".to_owned()
    } else {
        format!("mailbox-{}", initial.id)
    };
    let id = initial.id;
    let name = RwSignal::new(initial.name.clone());
    let host = RwSignal::new(initial.host.clone());
    let port = RwSignal::new(initial.port.clone());
    let tls = RwSignal::new(initial.tls.clone());
    let username = RwSignal::new(initial.username.clone());
    let password = RwSignal::new(String::new());
    let folder = RwSignal::new(initial.folder.clone());
    let archive = RwSignal::new(initial.archive_folder.clone());
    let rejected = RwSignal::new(initial.rejected_folder.clone());
    let minutes = RwSignal::new(initial.poll_minutes.clone());
    let enabled = RwSignal::new(initial.enabled);
    let auto_register = RwSignal::new(initial.auto_register);
    let kind = RwSignal::new(if initial.kind.is_empty() {
        "imap".to_owned()
    } else {
        initial.kind.clone()
    });
    let auth = RwSignal::new(if initial.auth.is_empty() {
        "password".to_owned()
    } else {
        initial.auth.clone()
    });
    let tenant = RwSignal::new(initial.tenant.clone());
    let authority = RwSignal::new(initial.authority.clone());
    let token_url = RwSignal::new(initial.token_url.clone());
    let authorize_url = RwSignal::new(initial.authorize_url.clone());
    let client_id = RwSignal::new(initial.client_id.clone());
    let scope = RwSignal::new(initial.scope.clone());
    let sasl = RwSignal::new(initial.sasl.clone());
    let retention = RwSignal::new(initial.retention_days.clone());
    let tried = RwSignal::new(false);
    let form = move || MailboxForm {
        id,
        name: name.get(),
        host: host.get(),
        port: port.get(),
        tls: tls.get(),
        username: username.get(),
        password: password.get(),
        folder: folder.get(),
        archive_folder: archive.get(),
        rejected_folder: rejected.get(),
        poll_minutes: minutes.get(),
        enabled: enabled.get(),
        auto_register: auto_register.get(),
        kind: kind.get(),
        auth: auth.get(),
        tenant: tenant.get(),
        authority: authority.get(),
        token_url: token_url.get(),
        authorize_url: authorize_url.get(),
        client_id: client_id.get(),
        scope: scope.get(),
        sasl: sasl.get(),
        retention_days: retention.get(),
    };
    let problems = Signal::derive(move || {
        if tried.get() {
            mailbox_problems(&form())
        } else {
            Vec::new()
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        tried.set(true);
        let f = form();
        if mailbox_problems(&f).is_empty() {
            save.dispatch(SaveMailbox { form: f });
        }
    };
    let keep = if adding {
        ""
    } else {
        "stored; leave empty to keep it"
    };
    let tls_id = format!("{p}-tls");
    let save_id = format!("{p}-save");
    let kind_id = format!("{p}-kind");
    let auth_id = format!("{p}-auth");
    let sasl_id = format!("{p}-sasl");
    let initial_kind = initial.kind.clone();
    let initial_auth = initial.auth.clone();
    let initial_sasl = initial.sasl.clone();
    let imap = move || kind.get() != "graph";
    let oauth = move || auth.get() != "password" && auth.get() != "service_account";
    let p2 = p.clone();
    let p3 = p.clone();
    let p4 = p.clone();
    let imap_fields = view! {
            <div class="imap-only" hidden=move || !imap()>
            <label class="field"><span>"TLS"</span>
                <select id=tls_id.clone() on:change=move |ev| {
                    let v = event_target_value(&ev);
                    // The usual port follows the TLS mode unless one was typed.
                    if port.get_untracked() == "993" || port.get_untracked() == "143" {
                        port.set(if v == "starttls" { "143".into() } else { "993".into() });
                    }
                    tls.set(v);
                }>
                    <option value="implicit" selected=initial.tls != "starttls">"implicit TLS (993)"</option>
                    <option value="starttls" selected=initial.tls == "starttls">"STARTTLS (143)"</option>
                </select>
            </label>
            <Field label="Port" key="port" prefix=p.clone() value=port problems kind="number"/>
            </div>
    }
    .into_any();
    let oauth_fields = view! {
            <fieldset class="oauth-settings" hidden=move || !oauth()>
                <legend>"OAuth 2.0"</legend>
                <Field label="Application (client) id" key="client_id" prefix=p.clone() value=client_id problems/>
                <Field label="Tenant (Microsoft 365: directory id or domain)" key="tenant" prefix=p.clone() value=tenant problems/>
                <Field label="Authority (national clouds; empty: login.microsoftonline.com)" key="authority" prefix=p.clone() value=authority problems/>
                <Field label="Token URL (empty: from the tenant)" key="token_url" prefix=p.clone() value=token_url problems/>
                <div hidden=move || auth.get() != "authorization_code">
                    <Field label="Authorization URL" key="authorize_url" prefix=p.clone() value=authorize_url problems hint="https://accounts.google.com/o/oauth2/v2/auth"/>
                </div>
            </fieldset>
            <div hidden=move || auth.get() == "password">
                <Field label="Scopes (empty: the usual one)" key="scope" prefix=p.clone() value=scope problems/>
                <label class="field" hidden=move || !imap()><span>"SASL mechanism"</span>
                    <select id=sasl_id on:change=move |ev| sasl.set(event_target_value(&ev))>
                        <option value="" selected=initial_sasl != "oauthbearer">"XOAUTH2"</option>
                        <option value="oauthbearer" selected=initial_sasl == "oauthbearer">"OAUTHBEARER (RFC 7628)"</option>
                    </select>
                </label>
            </div>
    }
    .into_any();
    view! {
        <form id=format!("{p}-form") class="stacked-form mailbox-form" on:submit=submit novalidate>
            <Field label="Name" key="name" prefix=p.clone() value=name problems/>
            <label class="field"><span>"Kind"</span>
                <select id=kind_id on:change=move |ev| {
                    let v = event_target_value(&ev);
                    if v == "graph" {
                        if host.get_untracked().is_empty() || !host.get_untracked().contains("://") {
                            host.set("https://graph.microsoft.com".into());
                        }
                        if auth.get_untracked() == "password" || auth.get_untracked() == "service_account" {
                            auth.set("client_credentials".into());
                        }
                        if folder.get_untracked() == "INBOX" { folder.set("inbox".into()); }
                    } else if host.get_untracked().contains("://") {
                        host.set(String::new());
                    }
                    kind.set(v);
                }>
                    <option value="imap" selected=initial_kind != "graph">"IMAP"</option>
                    <option value="graph" selected=initial_kind == "graph">"Microsoft Graph (Microsoft 365 without IMAP)"</option>
                </select>
            </label>
            <label class="field"><span>"Sign-in method"</span>
                <select id=auth_id on:change=move |ev| auth.set(event_target_value(&ev))>
                    {AUTH_METHODS.iter().map(|(v, l)| view! { <option value=*v selected=initial_auth == *v>{*l}</option> }).collect_view()}
                </select>
            </label>
            <Show when=imap fallback=move || view! { <Field label="Graph base URL" key="host" prefix=p2.clone() value=host problems hint="https://graph.microsoft.com"/> }>
                <Field label="IMAP server" key="host" prefix=p3.clone() value=host problems hint="imap.example.com"/>
            </Show>
            {imap_fields}
            <Field label="User name (the mailbox's address for OAuth and Graph)" key="username" prefix=p.clone() value=username problems/>
            {move || {
                let label = secret_label(&auth.get());
                view! { <Field label key="password" prefix=p4.clone() value=password problems kind="password" hint=keep/> }
            }}
            {oauth_fields}
            <Field label="Folder to read" key="folder" prefix=p.clone() value=folder problems/>
            <Field label="Move imported mail to (empty: mark it read)" key="archive_folder" prefix=p.clone() value=archive problems/>
            <Field label="Move other mail to (empty: mark it read)" key="rejected_folder" prefix=p.clone() value=rejected problems/>
            <Field label="Minutes between polls" key="poll_minutes" prefix=p.clone() value=minutes problems kind="number"/>
            <Field label="Delete archived mail after (days; empty: keep it)" key="retention_days" prefix=p.clone() value=retention problems kind="number"/>
            <label class="check"><input type="checkbox" prop:checked=move || enabled.get() on:change=move |ev| enabled.set(event_target_checked(&ev))/>" poll this mailbox"</label>
            <label class="check"><input type="checkbox" prop:checked=move || auto_register.get() on:change=move |ev| auto_register.set(event_target_checked(&ev))/>" reports may register domains not added yet (anyone can mail this address)"</label>
            <button type="submit" id=save_id>{if adding { "Add mailbox" } else { "Save" }}</button>
        </form>
    }
}
