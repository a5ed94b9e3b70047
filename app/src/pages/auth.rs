//! Sign-in and first-run setup.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::{ChangePassword, Login, Setup};

/// `/login`.
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_else(|| "/".into());
    let action = ServerAction::<Login>::new();
    let error = action_error(action);
    let options = Resource::new(|| (), |_| crate::api::get_sign_in_options());
    let sso_href = move || format!("/auth/oidc/start?next={}", crate::auth::urlencode(&next()));
    let password_form = move || {
        view! {
            <ActionForm action>
                <input type="hidden" name="next" value=next/>
                <label>"E-mail" <input id="email" type="email" name="email" autocomplete="username" required/></label>
                <label>"Password" <input id="password" type="password" name="password" autocomplete="current-password" required/></label>
                <button id="sign-in" type="submit">"Sign in"</button>
            </ActionForm>
            {move || error().map(|e| view! { <p class="error" role="alert" id="login-error">{e}</p> })}
            <p class="hint">"No account yet? Open the setup link tlswatch printed at its first start, or run "
                <code>"tlswatch user add --email you@example.com --role admin"</code>"."</p>
        }
    };
    view! {
        <section class="page narrow">
            <h1>"Sign in"</h1>
            <Suspense fallback=move || view! { <p>"Loading…"</p> }>
                {move || options.get().map(|o| {
                    let o = o.unwrap_or(crate::api::SignInOptions { sso: None, passwords: true });
                    view! {
                        {o.sso.map(|words| view! {
                            <p><a id="sso-sign-in" class="button" href=sso_href rel="external">{words}</a></p>
                        })}
                        {o.passwords.then(password_form)}
                    }
                })}
            </Suspense>
        </section>
    }
}

/// `/setup?token=…`: creates the first admin.
#[component]
pub fn SetupPage() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let action = ServerAction::<Setup>::new();
    let error = action_error(action);
    view! {
        <section class="page narrow">
            <h1>"Create the first admin"</h1>
            <ActionForm action>
                <input type="hidden" name="token" value=token/>
                <label>"E-mail" <input type="email" name="email" autocomplete="username" required/></label>
                <label>"Password (at least 12 characters)" <input type="password" name="password" autocomplete="new-password" minlength="12" required/></label>
                <button type="submit">"Create admin and sign in"</button>
            </ActionForm>
            {move || error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </section>
    }
}

/// `/account`: the signed-in user changes their password.
#[component]
pub fn AccountPage() -> impl IntoView {
    let action = ServerAction::<ChangePassword>::new();
    let result = move || {
        action.value().get().map(|r| match r {
            Ok(()) => view! { <p class="ok" role="status" id="password-changed">"Password changed."</p> }.into_any(),
            Err(e) => view! { <p class="error" role="alert" id="password-error">{clean(&e.to_string())}</p> }.into_any(),
        })
    };
    view! {
        <section class="page narrow">
            <h1>"Your account"</h1>
            <h2>"Change password"</h2>
            <ActionForm action>
                <label>"Current password" <input id="current-password" type="password" name="current" autocomplete="current-password" required/></label>
                <label>"New password (at least 12 characters)" <input id="new-password" type="password" name="new" autocomplete="new-password" minlength="12" required/></label>
                <button id="change-password" type="submit">"Change password"</button>
            </ActionForm>
            {result}
        </section>
    }
}

/// The last error of a server action, as the page shows it.
pub fn action_error<S>(action: ServerAction<S>) -> impl Fn() -> Option<String> + Copy
where
    S: leptos::server_fn::ServerFn + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: std::fmt::Display + Send + Sync + 'static,
{
    move || {
        action.value().with(|v| {
            v.as_ref()
                .and_then(|r| r.as_ref().err())
                .map(|e| clean(&e.to_string()))
        })
    }
}

/// Server function errors arrive as "error running server function: …"; show the reason only.
pub fn clean(msg: &str) -> String {
    msg.rsplit_once(": ")
        .map(|(_, m)| m)
        .unwrap_or(msg)
        .to_owned()
}
