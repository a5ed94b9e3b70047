//! tlswatch UI: pages, components and the server functions they call.
//!
//! This crate knows nothing about SQL, DNS or SMTP. On the server, server functions reach the
//! real work through [`api::Backend`], which the `server` crate implements and provides as
//! Leptos context; in the browser the same functions are HTTP calls.
#![forbid(unsafe_code)]

pub mod alerting;
pub mod api;
pub mod auth;
pub mod components;
pub mod health;
pub mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // The security middleware chose this response's CSP nonce; the hydration scripts carry it.
    #[cfg(feature = "ssr")]
    if let Some(parts) = use_context::<http::request::Parts>() {
        if let Some(nonce) = parts.extensions.get::<auth::CspNonce>() {
            provide_context(leptos::nonce::Nonce::from_value(nonce.0.clone()));
        }
    }
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                // ECharts is served by tlswatch itself (never a CDN); a classic script runs
                // before the deferred hydration module that draws the charts.
                <script src="/echarts.min.js"></script>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The application: layout and routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/tlswatch.css"/>
        <Title text="tlswatch"/>
        <Router>
            <TopBar/>
            <main>
                <Routes fallback=|| view! { <p class="empty">"Page not found."</p> }>
                    <Route path=path!("/") view=pages::home::HomePage/>
                    <Route path=path!("/login") view=pages::auth::LoginPage/>
                    <Route path=path!("/setup") view=pages::auth::SetupPage/>
                    <Route path=path!("/upload") view=pages::upload::UploadPage/>
                    <Route path=path!("/account") view=pages::auth::AccountPage/>
                    <Route path=path!("/domains/:domain") view=pages::domain::DomainPage/>
                    <Route path=path!("/reports") view=pages::reports::ReportsPage/>
                    <Route path=path!("/alerts") view=pages::alerts::AlertsPage/>
                    <Route path=path!("/reports/:id") view=pages::reports::ReportPage/>
                    <Route path=path!("/admin/users") view=pages::admin::UsersPage/>
                    <Route path=path!("/admin/tokens") view=pages::admin::TokensPage/>
                    <Route path=path!("/admin/audit") view=pages::admin::AuditPage/>
                    <Route path=path!("/admin/quarantine") view=pages::admin::QuarantinePage/>
                </Routes>
            </main>
        </Router>
    }
}

/// Navigation for the signed-in user: links by role, who is signed in, sign-out.
#[component]
fn TopBar() -> impl IntoView {
    // Asked again after every navigation, so sign-in and sign-out show at once.
    let location = leptos_router::hooks::use_location();
    let me = Resource::new(move || location.pathname.get(), |_| api::whoami());
    let logout = ServerAction::<api::Logout>::new();
    view! {
        <header class="topbar">
            <A href="/" attr:class="brand">"tlswatch"</A>
            <Transition fallback=|| ()>
                {move || me.get().and_then(Result::ok).flatten().map(|u| {
                    let editor = u.can(auth::Role::Editor);
                    let admin = u.can(auth::Role::Admin);
                    view! {
                        <nav>
                            <A href="/">"Overview"</A>
                            <A href="/reports">"Reports"</A>
                            <A href="/alerts">"Alerts"</A>
                            {editor.then(|| view! { <A href="/upload">"Upload"</A> })}
                            {admin.then(|| view! { <A href="/admin/users">"Users"</A> <A href="/admin/tokens">"Tokens"</A> <A href="/admin/audit">"Audit log"</A> <A href="/admin/quarantine">"Quarantine"</A> })}
                        </nav>
                        <div class="me">
                            <A href="/account" attr:id="me">{u.email.clone()}" ("{u.role.as_str()}")"</A>
                            <ActionForm action=logout><button id="sign-out" type="submit">"Sign out"</button></ActionForm>
                        </div>
                    }
                })}
            </Transition>
        </header>
    }
}

/// Browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
