//! The axum application: the Leptos dashboard with its server functions, `/healthz`, static
//! files, and the layers around them.

mod backend;
pub mod receiver;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{FromRef, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use backend::WebBackend;
pub use receiver::Receiver;

use crate::ingest::Limits;
use crate::store::Store;

/// Shared handles for handlers. No global mutable state.
#[derive(Clone)]
pub struct AppState {
    /// Leptos settings (site root, output name).
    pub leptos: LeptosOptions,
    /// The database.
    pub store: Store,
    /// Bounds on untrusted input.
    pub limits: Limits,
    /// The HTTPS report receiver's settings.
    pub receiver: Receiver,
}

/// Settings of the HTTP server.
#[derive(Clone)]
pub struct HttpSettings {
    /// Address to bind (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Directory of the built site; `None` keeps Leptos' default (`LEPTOS_SITE_ROOT` or `target/site`).
    pub site_root: Option<String>,
    /// Bounds on untrusted input.
    pub limits: Limits,
    /// Secret path segment for the HTTPS receiver.
    pub receiver_secret: Option<String>,
    /// Receiver requests per minute per client address.
    pub receiver_rate_per_minute: u32,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// The built application, bound to its listener (port 0 works: tests read [`Self::local_addr`]).
pub struct Application {
    listener: tokio::net::TcpListener,
    router: Router,
    store: Store,
}

impl Application {
    /// Builds the router and binds `listen`.
    pub async fn build(store: Store, settings: HttpSettings) -> anyhow::Result<Self> {
        let HttpSettings {
            listen,
            site_root,
            limits,
            receiver_secret,
            receiver_rate_per_minute,
        } = settings;
        let mut leptos = get_configuration(None)
            .context("reading Leptos settings")?
            .leptos_options;
        if leptos.output_name.is_empty() {
            leptos.output_name = "tlswatch".into();
        }
        if let Some(root) = site_root {
            leptos.site_root = root.into();
        }
        leptos.site_addr = listen;
        let receiver = Receiver::new(receiver_secret, receiver_rate_per_minute);
        let state = AppState {
            leptos: leptos.clone(),
            store: store.clone(),
            limits,
            receiver,
        };
        let router = router(state);
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        Ok(Self {
            listener,
            router,
            store,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then drains connections and closes the database.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr(), backend = ?self.store.backend(), "tlswatch listening");
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")?;
        self.store.close().await;
        tracing::info!("tlswatch stopped");
        Ok(())
    }
}

/// All routes and layers.
pub fn router(state: AppState) -> Router {
    let backend: app::api::SharedBackend = Arc::new(WebBackend::new(state.store.clone()));
    let routes = generate_route_list(app::App);
    let leptos = state.leptos.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .merge(receiver::router(state.limits.max_input))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(backend.clone()),
            move || app::shell(leptos.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        .layer(CompressionLayer::new())
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// `GET /healthz`: 200 after pinging the database, 503 when it does not answer.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n"),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}
