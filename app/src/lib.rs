//! tlswatch UI: pages, components and the server functions they call.
//!
//! This crate knows nothing about SQL, DNS or SMTP. On the server, server functions reach the
//! real work through [`api::Backend`], which the `server` crate implements and provides as
//! Leptos context; in the browser the same functions are HTTP calls.
#![forbid(unsafe_code)]

pub mod api;
pub mod components;
pub mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
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
            <header class="topbar">
                <A href="/" attr:class="brand">"tlswatch"</A>
                <nav>
                    <A href="/">"Overview"</A>
                </nav>
            </header>
            <main>
                <Routes fallback=|| view! { <p class="empty">"Page not found."</p> }>
                    <Route path=path!("/") view=pages::home::HomePage/>
                </Routes>
            </main>
        </Router>
    }
}

/// Browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
