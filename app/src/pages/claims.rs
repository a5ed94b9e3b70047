//! `/domains`: the domains of the caller's organization and the proof of each. Reports arrive
//! for any domain that names tlswatch; an organization sees a domain once tlswatch finds the
//! TXT record that proves it owns it (or an instance admin vouched for it).

use leptos::prelude::*;

use crate::api::{get_claims, ClaimDomain, ClaimView, VerifyClaim};
use crate::pages::auth::{action_error, clean};

/// `/domains`.
#[component]
pub fn DomainsPage() -> impl IntoView {
    let add = ServerAction::<ClaimDomain>::new();
    let verify = ServerAction::<VerifyClaim>::new();
    let claims = Resource::new(
        move || (add.version().get(), verify.version().get()),
        |_| get_claims(),
    );
    let add_error = action_error(add);
    let verify_error = action_error(verify);
    let me = Resource::new(|| (), |_| crate::api::whoami());
    let editor = move || {
        me.get()
            .and_then(Result::ok)
            .flatten()
            .is_some_and(|u| u.can(crate::auth::Role::Editor))
    };
    view! {
        <section class="page">
            <h1>"Domains"</h1>
            <p class="hint">"Reports arrive for any domain whose " <code>"_smtp._tls"</code>
                " record names this tlswatch. Your organization sees a domain once tlswatch finds the TXT record below in its DNS (looked up every few minutes, and re-checked daily)."</p>
            <Transition fallback=|| ()>
                {move || editor().then(|| view! {
                    <ActionForm action=add attr:class="inline-form" attr:id="claim-domain">
                        <label>"Domain " <input name="domain" id="claim-domain-name" placeholder="example.com" required/></label>
                        <button type="submit">"Add domain"</button>
                    </ActionForm>
                })}
            </Transition>
            {move || add_error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            {move || verify_error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || claims.get().map(|r| match r {
                    Err(e) => view! { <p class="error" role="alert">{clean(&e.to_string())}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No domains yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <table id="claims">
                            <thead><tr><th>"Domain"</th><th>"Organization"</th><th>"Ownership"</th><th>"Last looked up"</th><th></th></tr></thead>
                            <tbody>{list.into_iter().map(|c| view! { <ClaimLine c editor=editor() verify/> }).collect_view()}</tbody>
                        </table>
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ClaimLine(c: ClaimView, editor: bool, verify: ServerAction<VerifyClaim>) -> impl IntoView {
    let state = match (&c.verified, &c.vouched_by) {
        (true, Some(by)) => format!("proven (vouched for by {by})"),
        (true, None) => "proven by DNS".to_string(),
        (false, _) => "waiting for the TXT record".to_string(),
    };
    let domain = c.domain.clone();
    let pending = !c.verified;
    view! {
        <tr class=if pending { "claim pending" } else { "claim" } data-domain=c.domain.clone()>
            <td class="domain">
                {if c.verified {
                    view! { <a href=format!("/domains/{}", c.domain)>{c.domain.clone()}</a> }.into_any()
                } else {
                    view! { <span>{c.domain.clone()}</span> }.into_any()
                }}
            </td>
            <td>{c.org.clone()}</td>
            <td>
                <span class=if pending { "badge warn" } else { "badge ok" }>{state}</span>
                {pending.then(|| view! {
                    <p>"Publish:"</p>
                    <pre class="record">{format!("{}. IN TXT \"{}\"", c.record_name, c.record_value)}</pre>
                    {c.last_error.clone().map(|e| view! { <p class="hint">{e}</p> })}
                })}
            </td>
            <td>{c.checked.clone().unwrap_or_else(|| "never".into())}</td>
            <td>
                {(editor && pending && c.vouched_by.is_none()).then(|| view! {
                    <ActionForm action=verify>
                        <input type="hidden" name="domain" value=domain.clone()/>
                        <button type="submit">"Check now"</button>
                    </ActionForm>
                })}
            </td>
        </tr>
    }
}
