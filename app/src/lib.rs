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
pub mod hosting;
pub mod mailboxes;
pub mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::{lazy_route, path, Lazy, LazyRoute};

/// Where the page finds its scripts, stylesheet and icon. The server provides the
/// content-hashed paths of the site it embeds (cached for a year); without them the plain
/// names are used (a site served from a directory, `cargo leptos watch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assets {
    /// The hydration module (wasm-bindgen glue).
    pub js: String,
    /// The loader of the lazy routes' WASM chunks, which the glue imports.
    pub split_loader: String,
    /// The WASM.
    pub wasm: String,
    /// The stylesheet.
    pub css: String,
    /// ECharts, served by tlswatch itself.
    pub echarts: String,
    /// The icon.
    pub favicon: String,
}

impl Default for Assets {
    fn default() -> Self {
        Self {
            js: "/pkg/tlswatch.js".into(),
            split_loader: "/pkg/__wasm_split.______________________.js".into(),
            wasm: "/pkg/tlswatch.wasm".into(),
            css: "/pkg/tlswatch.css".into(),
            echarts: "/echarts.min.js".into(),
            favicon: "/favicon.svg".into(),
        }
    }
}

/// Leptos' hydration loader (leptos 0.8 `hydration_script.js`): imports the module and starts
/// it with the WASM. Ours is the same, given the hashed file names.
const HYDRATION_SCRIPT: &str = r#"(function (root, pkg_path, output_name, wasm_output_name, defer) {
	const hydrate = () =>
		import(`${root}/${pkg_path}/${output_name}.js`)
			.then(mod => {
				mod.default({module_or_path: `${root}/${pkg_path}/${wasm_output_name}.wasm`}).then(() => {
					mod.hydrate();
				});
			});
	if (defer && "requestIdleCallback" in window) {
		window.requestIdleCallback(hydrate, { timeout: 2000 });
	} else {
		hydrate();
	}
})"#;

/// Preloads and starts the WASM front end from `assets` (both under `/pkg/`).
#[component]
fn Hydration(assets: Assets) -> impl IntoView {
    let nonce = leptos::nonce::use_nonce();
    let stem = |path: &str, ext: &str| {
        path.trim_start_matches("/pkg/")
            .trim_end_matches(ext)
            .to_owned()
    };
    let call = format!(
        "{HYDRATION_SCRIPT}(\"\", \"pkg\", {:?}, {:?}, false);",
        stem(&assets.js, ".js"),
        stem(&assets.wasm, ".wasm")
    );
    view! {
        <link rel="modulepreload" href=assets.js.clone()/>
        <link rel="modulepreload" href=assets.split_loader.clone()/>
        <link rel="preload" href=assets.wasm.clone() r#as="fetch" r#type="application/wasm" crossorigin="anonymous"/>
        <script type="module" nonce=nonce>{call}</script>
    }
}

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let assets = use_context::<Assets>().unwrap_or_default();
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
                <link rel="icon" href=assets.favicon.clone() type="image/svg+xml"/>
                <link rel="stylesheet" id="leptos" href=assets.css.clone()/>
                // ECharts is served by tlswatch itself (never a CDN); a classic script runs
                // before the deferred hydration module that draws the charts.
                <script src=assets.echarts.clone()></script>
                <AutoReload options=options.clone()/>
                <Hydration assets/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// A page whose code is a WASM chunk of its own, fetched the first time it is shown (the
/// overview, the page most visits start on, is in the main module). On the server the page
/// renders as usual.
macro_rules! lazy_page {
    ($route:ident, $page:path) => {
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                $page().into_any()
            }
        }
    };
}

lazy_page!(LoginRoute, pages::auth::LoginPage);
lazy_page!(SetupRoute, pages::auth::SetupPage);
lazy_page!(UploadRoute, pages::upload::UploadPage);
lazy_page!(AccountRoute, pages::auth::AccountPage);
lazy_page!(DomainsRoute, pages::claims::DomainsPage);
lazy_page!(DomainRoute, pages::domain::DomainPage);
lazy_page!(PolicyRoute, pages::policy::PolicyPage);
lazy_page!(ReportsRoute, pages::reports::ReportsPage);
lazy_page!(AlertsRoute, pages::alerts::AlertsPage);
lazy_page!(ReportRoute, pages::reports::ReportPage);
lazy_page!(UsersRoute, pages::admin::UsersPage);
lazy_page!(TokensRoute, pages::admin::TokensPage);
lazy_page!(AuditRoute, pages::admin::AuditPage);
lazy_page!(QuarantineRoute, pages::admin::QuarantinePage);
lazy_page!(MailboxesRoute, pages::mailboxes::MailboxesPage);

/// The application: layout and routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title text="tlswatch"/>
        <Router>
            // rel="external": the browser follows it (focusing <main>), not the router.
            <a class="skip-link" href="#main" rel="external">"Skip to content"</a>
            <TopBar/>
            <main id="main" tabindex="-1">
                <Routes fallback=|| view! { <p class="empty">"Page not found."</p> }>
                    <Route path=path!("/") view=pages::home::HomePage/>
                    <Route path=path!("/login") view={Lazy::<LoginRoute>::new()}/>
                    <Route path=path!("/setup") view={Lazy::<SetupRoute>::new()}/>
                    <Route path=path!("/upload") view={Lazy::<UploadRoute>::new()}/>
                    <Route path=path!("/account") view={Lazy::<AccountRoute>::new()}/>
                    <Route path=path!("/domains") view={Lazy::<DomainsRoute>::new()}/>
                    <Route path=path!("/domains/:domain") view={Lazy::<DomainRoute>::new()}/>
                    <Route path=path!("/domains/:domain/policy") view={Lazy::<PolicyRoute>::new()}/>
                    <Route path=path!("/reports") view={Lazy::<ReportsRoute>::new()}/>
                    <Route path=path!("/alerts") view={Lazy::<AlertsRoute>::new()}/>
                    <Route path=path!("/reports/:id") view={Lazy::<ReportRoute>::new()}/>
                    <Route path=path!("/admin/users") view={Lazy::<UsersRoute>::new()}/>
                    <Route path=path!("/admin/tokens") view={Lazy::<TokensRoute>::new()}/>
                    <Route path=path!("/admin/audit") view={Lazy::<AuditRoute>::new()}/>
                    <Route path=path!("/admin/quarantine") view={Lazy::<QuarantineRoute>::new()}/>
                    <Route path=path!("/admin/mailboxes") view={Lazy::<MailboxesRoute>::new()}/>
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
    // On narrow screens the links fold behind a button; navigating folds them again.
    let open = RwSignal::new(false);
    Effect::new(move |_| {
        location.pathname.track();
        open.set(false);
    });
    view! {
        <header class="topbar" class:menu-open=move || open.get()>
            <A href="/" attr:class="brand">"tlswatch"</A>
            <Transition fallback=|| ()>
                {move || me.get().and_then(Result::ok).flatten().map(|u| {
                    let editor = u.can(auth::Role::Editor);
                    let admin = u.can(auth::Role::Admin);
                    let instance = u.instance_admin;
                    view! {
                        <button type="button" class="menu-toggle" aria-controls="main-nav"
                            aria-expanded=move || open.get().to_string()
                            on:click=move |_| open.update(|o| *o = !*o)>"Menu"</button>
                        <nav id="main-nav" aria-label="Main">
                            <A href="/">"Overview"</A>
                            <A href="/domains">"Domains"</A>
                            <A href="/reports">"Reports"</A>
                            <A href="/alerts">"Alerts"</A>
                            {editor.then(|| view! { <A href="/upload">"Upload"</A> })}
                            {admin.then(|| view! { <A href="/admin/users">"Users"</A> <A href="/admin/tokens">"Tokens"</A> <A href="/admin/audit">"Audit log"</A> <A href="/admin/mailboxes">"Mailboxes"</A> })}
                            {instance.then(|| view! { <A href="/admin/quarantine">"Quarantine"</A> })}
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
    // Lazy routes: a page's chunk is fetched before that part of the page is hydrated.
    leptos::mount::hydrate_lazy(App);
}
