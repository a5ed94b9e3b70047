//! Admin pages: users, API tokens, audit log. The server checks the admin role on every call.

use leptos::prelude::*;

use crate::api::{
    audit_log, list_rejected, list_tokens, list_users, AddUser, CreateToken, ReprocessRejected,
    RevokeToken, UpdateUser,
};
use crate::auth::Role;
use crate::pages::auth::{action_error, clean};

fn role_options(selected: Role) -> impl IntoView {
    Role::ALL.iter().map(move |r| view! { <option value=format!("{r:?}") selected=*r == selected>{r.as_str()}</option> }).collect_view()
}

/// `/admin/users`.
#[component]
pub fn UsersPage() -> impl IntoView {
    let add = ServerAction::<AddUser>::new();
    let update = ServerAction::<UpdateUser>::new();
    let users = Resource::new(
        move || (add.version().get(), update.version().get()),
        |_| list_users(),
    );
    let add_error = action_error(add);
    let update_error = action_error(update);
    view! {
        <section class="page">
            <h1>"Users"</h1>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || users.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{clean(&e.to_string())}</p> }.into_any(),
                    Ok(list) => view! {
                        <table id="users">
                            <thead><tr><th>"E-mail"</th><th>"Role"</th><th>"Status"</th><th></th></tr></thead>
                            <tbody>{list.into_iter().map(|u| {
                                let (id, role, disabled) = (u.id, u.role, u.disabled);
                                let status = match (&u.locked_until, disabled) {
                                    (_, true) => "disabled".to_string(),
                                    (Some(t), _) => format!("locked until {t}"),
                                    _ => "active".to_string(),
                                };
                                view! {
                                    <tr>
                                        <td>{u.email}</td>
                                        <td>
                                            <select aria-label="Role" on:change=move |ev| {
                                                if let Some(r) = Role::ALL.iter().find(|r| format!("{r:?}") == event_target_value(&ev)) {
                                                    update.dispatch(UpdateUser { id, role: *r, disabled });
                                                }
                                            }>{role_options(role)}</select>
                                        </td>
                                        <td>{status}</td>
                                        <td><button on:click=move |_| { update.dispatch(UpdateUser { id, role, disabled: !disabled }); }>
                                            {if disabled { "Enable" } else { "Disable" }}
                                        </button></td>
                                    </tr>
                                }
                            }).collect_view()}</tbody>
                        </table>
                    }.into_any(),
                })}
            </Transition>
            {move || update_error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <h2>"Add a user"</h2>
            <ActionForm action=add attr:class="inline-form">
                <input type="email" name="email" placeholder="e-mail" required/>
                <input type="password" name="password" placeholder="password (12+ characters)" minlength="12" required/>
                <select name="role" aria-label="Role">{role_options(Role::Viewer)}</select>
                <button type="submit">"Add"</button>
            </ActionForm>
            {move || add_error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </section>
    }
}

/// `/admin/tokens`.
#[component]
pub fn TokensPage() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_tokens(),
    );
    view! {
        <section class="page">
            <h1>"API tokens"</h1>
            <p class="hint">"Send a token as " <code>"Authorization: Bearer TOKEN"</code> " to " <code>"/api/v1"</code> "."</p>
            <ActionForm action=create attr:class="inline-form">
                <input name="name" placeholder="what uses it" required maxlength="100"/>
                <select name="role" aria-label="Role">{role_options(Role::Viewer)}</select>
                <button type="submit">"Create token"</button>
            </ActionForm>
            {move || create.value().get().map(|r| match r {
                Ok(t) => view! { <p class="notice" id="new-token">"Copy it now, it will not be shown again: " <code>{t}</code></p> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">{clean(&e.to_string())}</p> }.into_any(),
            })}
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || tokens.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{clean(&e.to_string())}</p> }.into_any(),
                    Ok(list) => view! {
                        <table>
                            <thead><tr><th>"Name"</th><th>"Role"</th><th>"Created"</th><th>"Last used"</th><th></th></tr></thead>
                            <tbody>{list.into_iter().map(|t| {
                                let id = t.id;
                                let live = t.revoked_at.is_none();
                                view! {
                                    <tr>
                                        <td>{t.name}</td>
                                        <td>{t.role.as_str()}</td>
                                        <td>{t.created_at}" by "{t.created_by}</td>
                                        <td>{t.last_used_at.unwrap_or_else(|| "never".into())}</td>
                                        <td>{if live {
                                            view! { <button on:click=move |_| { revoke.dispatch(RevokeToken { id }); }>"Revoke"</button> }.into_any()
                                        } else {
                                            view! { <span>"revoked "{t.revoked_at}</span> }.into_any()
                                        }}</td>
                                    </tr>
                                }
                            }).collect_view()}</tbody>
                        </table>
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}

/// `/admin/audit`.
#[component]
pub fn AuditPage() -> impl IntoView {
    let entries = Resource::new(|| (), |_| audit_log());
    view! {
        <section class="page">
            <h1>"Audit log"</h1>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || entries.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{clean(&e.to_string())}</p> }.into_any(),
                    Ok(list) => view! {
                        <table id="audit">
                            <thead><tr><th>"When"</th><th>"Who"</th><th>"What"</th><th>"Details"</th><th>"From"</th></tr></thead>
                            <tbody>{list.into_iter().map(|a| view! {
                                <tr><td><crate::components::LocalTime utc=a.at/></td><td>{a.actor}</td><td>{a.action}</td><td>{a.detail}</td><td>{a.ip.unwrap_or_default()}</td></tr>
                            }).collect_view()}</tbody>
                        </table>
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}

/// `/admin/quarantine`: inputs that were rejected, kept with the reason, to download and re-process.
#[component]
pub fn QuarantinePage() -> impl IntoView {
    let reprocess = ServerAction::<ReprocessRejected>::new();
    let rows = Resource::new(move || reprocess.version().get(), |_| list_rejected());
    view! {
        <section class="page">
            <h1>"Quarantine"</h1>
            <p class="hint">"Inputs that could not be imported, with the reason. Re-process them after an upgrade or after registering their domain."</p>
            {move || reprocess.value().get().map(|r| match r {
                Ok(t) => view! { <p class="notice" id="reprocess-result">{t}</p> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">{clean(&e.to_string())}</p> }.into_any(),
            })}
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || rows.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{clean(&e.to_string())}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="empty">"Nothing in the quarantine."</p> }.into_any(),
                    Ok(list) => view! {
                        <table id="quarantine">
                            <thead><tr><th>"Received"</th><th>"Channel"</th><th>"Source"</th><th class="num">"Bytes"</th><th>"Reason"</th><th></th></tr></thead>
                            <tbody>{list.into_iter().map(|q| {
                                let id = q.id;
                                let raw = format!("/api/v1/quarantine/{id}/raw");
                                view! {
                                    <tr>
                                        <td>{q.received_at}</td><td>{q.channel}</td><td>{q.source}</td><td class="num">{q.size}</td><td>{q.reason}</td>
                                        <td><a href=raw download>"Download"</a>" "
                                            <button on:click=move |_| { reprocess.dispatch(ReprocessRejected { id }); }>"Re-process"</button></td>
                                    </tr>
                                }
                            }).collect_view()}</tbody>
                        </table>
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}
