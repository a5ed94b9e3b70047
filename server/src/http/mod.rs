//! The axum application: the Leptos dashboard with its server functions, `/healthz`, static
//! files, and the layers around them.

pub mod alerts;
mod api;
mod backend;
mod mailboxes;
mod metrics;
mod orgs;
mod policies;
pub mod policy_host;
pub mod receiver;
mod routes;
pub mod security;
mod site;
mod sso;
mod upload;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{FromRef, State};
use axum::http::{Method, StatusCode};
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

pub use backend::WebBackend;
pub use receiver::Receiver;
pub use site::files as site_files;

use crate::ingest::Limits;
use crate::service::Services;
use crate::store::{DbSessionStore, Store};

/// Shared handles for handlers. No global mutable state. One allocation shared by every
/// request: extractors and middleware clone the state per request, so a clone is one atomic
/// increment (cloning the fields each time was a tenth of the receiver's CPU time).
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct AppStateInner {
    /// Leptos settings (site root, output name).
    pub leptos: LeptosOptions,
    /// Every use case; handlers touch nothing else of the application.
    pub services: Services,
    /// Bounds on untrusted input (request body limits).
    pub limits: Limits,
    /// The HTTPS report receiver's settings.
    pub receiver: Receiver,
    /// Sign-in settings.
    pub auth: AuthState,
    /// Whether the site is served from a directory (`TLSWATCH_SITE_ROOT`) instead of the binary.
    pub site_from_directory: bool,
    /// `TLSWATCH_PUBLIC_URL`: where users reach tlswatch (OAuth redirect URIs).
    pub public_url: Option<String>,
    /// Single sign-on (`None`: off).
    pub sso: Option<crate::auth::oidc::Sso>,
}

/// Sign-in state shared by handlers.
#[derive(Clone)]
pub struct AuthState {
    /// A session older than this (since sign-in) is signed out, whatever its activity.
    pub absolute_timeout_secs: i64,
    /// A session unused for this long is signed out; using it moves the deadline.
    pub idle_timeout_secs: i64,
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
    /// Mark the session cookie `Secure` (serve over HTTPS, or behind a TLS proxy).
    pub secure_cookies: bool,
    /// Sign out after this many minutes without a request.
    pub session_idle_minutes: i64,
    /// Sign out this many hours after sign-in, whatever the activity.
    pub session_absolute_hours: i64,
    /// Whether authenticated uploads register unknown domains.
    pub domain_policy: crate::store::DomainPolicy,
    /// Health checks (`None`: the check pages say they are off).
    pub checks: Option<Arc<crate::check::run::CheckService>>,
    /// Wakes the alert loop (after an import, a rule change, a channel test).
    pub alert_wake: Arc<tokio::sync::Notify>,
    /// Wakes the certificate manager (after a hosted policy changes).
    pub certificate_wake: Arc<tokio::sync::Notify>,
    /// Tests and polls mailboxes from the admin page (`None`: not offered).
    pub imap: Option<crate::ingest::imap::ImapPoller>,
    /// Where users reach tlswatch (`None`: the address the browser used).
    pub public_url: Option<String>,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Reports the open receiver prepares at once.
    pub receiver_max_in_flight: usize,
    /// Server-side deadline of a request (uploads and received reports get `upload_timeout`).
    pub request_timeout: Duration,
    /// Deadline of an upload or a received report, body included.
    pub upload_timeout: Duration,
    /// Single sign-on with OpenID Connect (`None`: off).
    pub sso: Option<crate::auth::oidc::Sso>,
    /// Whether e-mail and password sign-in is allowed.
    pub local_passwords: bool,
}

impl HttpSettings {
    /// Settings for tests and tools: loopback, default limits, no secret path.
    pub fn local(listen: SocketAddr) -> Self {
        Self {
            listen,
            site_root: None,
            limits: Limits::default(),
            receiver_secret: None,
            receiver_rate_per_minute: 60,
            secure_cookies: false,
            session_idle_minutes: 12 * 60,
            session_absolute_hours: 7 * 24,
            domain_policy: crate::store::DomainPolicy::AutoRegister,
            checks: None,
            alert_wake: Arc::default(),
            certificate_wake: Arc::default(),
            imap: None,
            public_url: None,
            trusted_proxies: Vec::new(),
            receiver_max_in_flight: receiver::DEFAULT_IN_FLIGHT,
            request_timeout: Duration::from_secs(30),
            upload_timeout: Duration::from_secs(120),
            sso: None,
            local_passwords: true,
        }
    }
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
            secure_cookies,
            session_idle_minutes,
            session_absolute_hours,
            domain_policy,
            checks,
            alert_wake,
            certificate_wake,
            imap,
            public_url,
            trusted_proxies,
            receiver_max_in_flight,
            request_timeout,
            upload_timeout,
            sso,
            local_passwords,
        } = settings;
        // Built by cargo-leptos, the output name is compiled in; otherwise (cargo build/test) use ours.
        let mut leptos = if std::env::var_os("LEPTOS_OUTPUT_NAME").is_some()
            || option_env!("LEPTOS_OUTPUT_NAME").is_some()
        {
            get_configuration(None)
                .context("reading Leptos settings")?
                .leptos_options
        } else {
            let root = std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".into());
            LeptosOptions::builder()
                .output_name("tlswatch")
                .site_root(root)
                .build()
        };
        let site_root_override = site_root;
        if let Some(root) = &site_root_override {
            leptos.site_root = root.clone().into();
        }
        leptos.site_addr = listen;
        let receiver = Receiver::new(receiver_secret, receiver_rate_per_minute)
            .with_trusted_proxies(trusted_proxies)
            .with_max_in_flight(receiver_max_in_flight);
        // Limiter state of quiet clients is dropped every minute (bounded memory).
        {
            let receiver = receiver.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(60));
                loop {
                    tick.tick().await;
                    receiver.prune();
                }
            });
        }
        let auth = AuthState {
            absolute_timeout_secs: session_absolute_hours.max(1) * 3600,
            idle_timeout_secs: session_idle_minutes.max(1) * 60,
        };
        // The domain proofs are looked up with the checker's DNS settings (no checker: no
        // lookups; instance admins can still vouch for domains).
        let proofs = checks.is_some();
        let services = Services::new(
            store.clone(),
            crate::service::Settings {
                limits,
                domain_policy,
                checks,
                alert_wake,
                certificate_wake,
                imap,
                local_passwords,
            },
        );
        if proofs {
            let orgs = services.orgs.clone();
            let store = store.clone();
            tokio::spawn(async move {
                let holder = format!("proofs-{}", std::process::id());
                let mut tick = tokio::time::interval(Duration::from_secs(60));
                loop {
                    tick.tick().await;
                    let now = crate::ingest::now_unix();
                    // One instance looks the records up at a time.
                    match store
                        .take_lease("domain-proofs", &holder, now, now + 300)
                        .await
                    {
                        Ok(true) => {
                            if let Err(e) = orgs.recheck_due().await {
                                tracing::warn!(error = %format!("{e:#}"), "domain proofs: lookup round failed");
                            }
                        }
                        Ok(false) => {}
                        Err(e) => {
                            tracing::warn!(error = %format!("{e:#}"), "domain proofs: no lease")
                        }
                    }
                }
            });
        }
        let state = AppState(Arc::new(AppStateInner {
            leptos: leptos.clone(),
            services,
            limits,
            receiver,
            auth,
            site_from_directory: site::from_directory(site_root_override.as_deref()),
            public_url,
            sso,
        }));
        let idle = tower_sessions::cookie::time::Duration::minutes(session_idle_minutes.max(1));
        let sessions = SessionManagerLayer::new(DbSessionStore(store.clone()))
            .with_name(security::SESSION_COOKIE)
            .with_secure(secure_cookies)
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_expiry(Expiry::OnInactivity(idle));
        let router = router(state, sessions, request_timeout, upload_timeout);
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
pub fn router(
    state: AppState,
    sessions: SessionManagerLayer<DbSessionStore>,
    request_timeout: Duration,
    upload_timeout: Duration,
) -> Router {
    let backend: app::api::SharedBackend = Arc::new(WebBackend::new(
        state.services.clone(),
        state.sso.as_ref().map(|s| s.settings().button.clone()),
    ));
    let (assets_router, assets) = if state.site_from_directory {
        (Router::new(), app::Assets::default())
    } else {
        site::embedded()
    };
    let for_errors = (backend.clone(), assets.clone());
    let routes = generate_route_list(app::App);
    let leptos = state.leptos.clone();
    // Every request has a deadline: a request that would wait forever (a lock, a lost
    // notification) ends with 503 and is counted, instead of holding its connection.
    let short = || middleware::from_fn_with_state(request_timeout, deadline);
    let long = || middleware::from_fn_with_state(upload_timeout, deadline);
    // The open receiver: sending mail servers neither sign in nor hold cookies, so it stands
    // outside the dashboard's sessions, sign-in and CSRF check (its own layer limits each
    // client's rate and the reports prepared at once). Under load those layers cost a received
    // report about 15 µs, of the server's 175–210 (issue 18).
    let receiver = receiver::router(state.limits.max_input, state.clone()).layer(long());
    let rest = Router::new()
        .route("/healthz", get(healthz))
        .merge(api::routes().into_router())
        .merge(alerts::routes().into_router())
        .merge(metrics::routes().into_router())
        .merge(mailboxes::routes().into_router())
        .merge(policies::routes().into_router())
        .merge(orgs::routes().into_router())
        .merge(sso::routes().into_router())
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                provide_context(backend.clone());
                provide_context(assets.clone());
            },
            move || app::shell(leptos.clone()),
        )
        .merge(assets_router)
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(
            move || {
                provide_context(for_errors.0.clone());
                provide_context(for_errors.1.clone());
            },
            app::shell,
        ))
        .layer(short());
    // CSRF, session, sign-in: the dashboard's, uploads' and the API's alone. One stack (a layer
    // of its own per middleware would box each route's service and future once more per
    // request). Uploads have the long deadline only.
    let signed_in = Router::new()
        .merge(upload::router(state.limits.max_input).layer(long()))
        .merge(rest)
        .layer(
            tower::ServiceBuilder::new()
                .layer(middleware::from_fn(security::csrf))
                .layer(middleware::from_fn(security::server_fn_bad_args))
                .layer(middleware::from_fn(security::keep_session_cookie))
                .layer(sessions)
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    security::authenticate,
                )),
        );
    Router::new()
        .merge(receiver)
        .merge(signed_in)
        // Around everything, outermost first (`from_fn` takes a plain body, so the body
        // limit's layer stands alone): trace; policy hosts (`mta-sts.<domain>`), answered
        // before sessions, CSRF and sign-in, so nothing of the dashboard is reachable under
        // those names; headers and compression; the body limit.
        .layer(RequestBodyLimitLayer::new(
            state.limits.max_input + 64 * 1024,
        ))
        .layer(
            tower::ServiceBuilder::new()
                .layer(TraceLayer::new_for_http())
                .layer(middleware::from_fn_with_state(
                    state.services.policies.clone(),
                    policy_host::intercept,
                ))
                .layer(middleware::from_fn(security::headers))
                .layer(CompressionLayer::new()),
        )
        .with_state(state)
}

/// `path` on this tlswatch as users reach it: `TLSWATCH_PUBLIC_URL` + `path`, else the address
/// the browser used (the redirect URIs of the OAuth and OpenID flows).
fn url_of(state: &AppState, headers: &axum::http::HeaderMap, path: &str) -> String {
    match &state.public_url {
        Some(u) => format!("{}{path}", u.trim_end_matches('/')),
        None => {
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}{path}")
        }
    }
}

/// Ends a request at `limit` with 503, counts it and logs it: nothing in a request path can
/// hold its connection forever.
async fn deadline(
    State(limit): State<Duration>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let path = req.uri().path().to_owned();
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            crate::telemetry::counters::bump(&crate::telemetry::counters::REQUEST_TIMEOUTS);
            tracing::error!(path = ?crate::domain::report::truncate(&path, 200), limit_s = limit.as_secs(), "request hit its deadline");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the request took too long and was stopped; try again\n",
            )
                .into_response()
        }
    }
}

/// Every endpoint, as the router serves it: the REST routes (method, path) and the server
/// functions (always `POST`), for the route × role test and the docs. Leptos' pages, the
/// site's files and `/healthz` are not in it (they are public).
pub fn endpoints() -> Vec<(Method, String)> {
    let mut all: Vec<(Method, String)> = [
        api::routes().list(),
        alerts::routes().list(),
        metrics::routes().list(),
        mailboxes::routes().list(),
        policies::routes().list(),
        orgs::routes().list(),
        sso::routes().list(),
        upload::routes().list(),
        receiver::routes().list(),
    ]
    .into_iter()
    .flatten()
    .map(|(m, p)| (m, p.to_owned()))
    .collect();
    all.extend(leptos::server_fn::axum::server_fn_paths().map(|(p, m)| (m, p.to_owned())));
    all.sort_by(|a, b| (&a.1, a.0.as_str()).cmp(&(&b.1, b.0.as_str())));
    all
}

/// `GET /healthz`: 200 after pinging the database, 503 when it does not answer.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.services.ready().await {
        Ok(()) => (StatusCode::OK, "ok\n"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n"),
    }
}

/// Every use-case error becomes its HTTP status and message, in one place.
impl IntoResponse for crate::service::ServiceError {
    fn into_response(self) -> axum::response::Response {
        use crate::service::ServiceError as E;
        let status = match &self {
            E::Invalid(_) => StatusCode::BAD_REQUEST,
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Forbidden(_) => StatusCode::FORBIDDEN,
            E::Conflict(_) => StatusCode::CONFLICT,
            E::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, format!("{self}\n")).into_response()
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
