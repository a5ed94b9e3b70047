//! `/admin/mailboxes`: the IMAP mailboxes tlswatch polls for report mail: their state (last
//! poll, last success, last error, counts), "test connection" (signs in, imports nothing),
//! "poll now", and a form to add or change one (the password is write-only).

use leptos::prelude::*;

use crate::components::LocalTime;
use crate::mailboxes::{
    list_mailboxes, mailbox_problems, MailboxForm, MailboxView, PollMailbox, RemoveMailbox,
    SaveMailbox, TestMailbox,
};
use crate::pages::channels::Field;

/// The page.
#[component]
pub fn MailboxesPage() -> impl IntoView {
    let save = ServerAction::<SaveMailbox>::new();
    let remove = ServerAction::<RemoveMailbox>::new();
    let test = ServerAction::<TestMailbox>::new();
    let poll = ServerAction::<PollMailbox>::new();
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
            <p class="hint">"tlswatch polls these IMAP folders for TLS-RPT report mail. Reports are imported, other mail is set aside and kept in the quarantine."</p>
            {error}
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || data.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{crate::pages::auth::clean(&e.to_string())}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="empty" id="no-mailboxes">"No mailbox yet: add the one your TLS-RPT records send reports to."</p> }.into_any(),
                    Ok(list) => view! { <MailboxTable list save remove test poll/> }.into_any(),
                })}
            </Transition>
            <h2>"Add a mailbox"</h2>
            <MailboxEditor initial=MailboxForm { port: "993".into(), tls: "implicit".into(), folder: "INBOX".into(), poll_minutes: "5".into(), enabled: true, ..MailboxForm::default() } save/>
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
                };
                let sev = match m.state.as_str() { "ok" => "pass", "failing" => "fail", _ => "info" };
                view! {
                    <tr id=format!("mailbox-{id}")>
                        <td><strong>{m.name.clone()}</strong>
                            <div class="hint">{format!("{}@{}:{} ({}), folder {}", m.username, m.host, m.port, m.tls, m.folder)}</div>
                            <div class="hint">{format!("every {} min", (m.poll_seconds / 60).max(1))}{(!m.archive_folder.is_empty()).then(|| format!(", imported mail to {}", m.archive_folder))}</div>
                        </td>
                        <td><span class=format!("sev sev-{sev}")>{m.state.clone()}</span>
                            {m.last_error.clone().map(|e| view! { <div class="hint mailbox-error">{e}</div> })}</td>
                        <td>{m.last_poll.clone().map(|t| view! { <LocalTime utc=t/> })}
                            {m.last_success.clone().map(|t| view! { <div class="hint">"last success " <LocalTime utc=t/></div> })}</td>
                        <td class="num"><crate::components::Count n=m.imported/></td>
                        <td class="num"><crate::components::Count n=m.duplicates/></td>
                        <td class="num"><crate::components::Count n=m.rejected/></td>
                        <td class="actions">
                            <button type="button" class="test-mailbox" disabled=move || test.pending().get()
                                on:click=move |_| { answered.set(Some((id, "test"))); test.dispatch(TestMailbox { id }); }>"Test connection"</button>
                            <button type="button" class="poll-mailbox" disabled=move || poll.pending().get()
                                on:click=move |_| { answered.set(Some((id, "poll"))); poll.dispatch(PollMailbox { id }); }>"Poll now"</button>
                            <button type="button" class="edit-mailbox" aria-expanded=move || (editing.get() == Some(id)).to_string()
                                on:click=move |_| editing.update(|e| *e = if *e == Some(id) { None } else { Some(id) })>"Edit"</button>
                            <button type="button" on:click=move |_| { remove.dispatch(RemoveMailbox { id }); }>"Delete"</button>
                            <Show when=move || answered.get().is_some_and(|(i, _)| i == id)>
                                <p class="mailbox-result" role="status">{move || {
                                    let (pending, value) = match answered.get().map(|a| a.1) {
                                        Some("poll") => (poll.pending().get(), poll.value().get()),
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
    view! {
        <form id=format!("{p}-form") class="stacked-form mailbox-form" on:submit=submit novalidate>
            <Field label="Name" key="name" prefix=p.clone() value=name problems/>
            <Field label="IMAP server" key="host" prefix=p.clone() value=host problems hint="imap.example.com"/>
            <label class="field"><span>"TLS"</span>
                <select id=tls_id on:change=move |ev| {
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
            <Field label="User name" key="username" prefix=p.clone() value=username problems/>
            <Field label="Password" key="password" prefix=p.clone() value=password problems kind="password" hint=keep/>
            <Field label="Folder to read" key="folder" prefix=p.clone() value=folder problems/>
            <Field label="Move imported mail to (empty: mark it read)" key="archive_folder" prefix=p.clone() value=archive problems/>
            <Field label="Move other mail to (empty: mark it read)" key="rejected_folder" prefix=p.clone() value=rejected problems/>
            <Field label="Minutes between polls" key="poll_minutes" prefix=p.clone() value=minutes problems kind="number"/>
            <label class="check"><input type="checkbox" prop:checked=move || enabled.get() on:change=move |ev| enabled.set(event_target_checked(&ev))/>" poll this mailbox"</label>
            <label class="check"><input type="checkbox" prop:checked=move || auto_register.get() on:change=move |ev| auto_register.set(event_target_checked(&ev))/>" reports may register domains not added yet (anyone can mail this address)"</label>
            <button type="submit" id=save_id>{if adding { "Add mailbox" } else { "Save" }}</button>
        </form>
    }
}
