//! The commands of the `tlswatch` binary.

mod accounts;
mod check;
mod import;
mod mailbox;
mod ops;
mod orgs;
mod quarantine;

use anyhow::Context;

use crate::config::{Cli, Command, GlobalArgs, ServeArgs};
use crate::http::{shutdown_signal, Application, HttpSettings};
use crate::service::accounts::Accounts;
use crate::store::{redact, Store};

/// Runs the command; returns the process exit status.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let global = cli.global;
    let command = match cli.command {
        Some(c) => c,
        None => Command::Serve(ServeArgs::from_env()?),
    };
    // These work without (or before) opening the database the usual way.
    match &command {
        Command::Doctor => return ops::doctor(&global).await,
        Command::Restore { file, force } => return ops::restore(&global, file, *force).await,
        _ => {}
    }
    let url = global.database_url();
    let mut store = Store::connect(&url, global.db_max_connections)
        .await
        .with_context(|| format!("opening the database {}", redact(&url)))?;
    // A store URL that is not the default SQLite file may live elsewhere; the key file still
    // lives in the data directory.
    let sealer = global.sealer()?;
    store = store.with_sealer(sealer);
    match &command {
        Command::Serve(args) => store = store.with_quarantine_quota(args.limits.quarantine_quota()),
        Command::Import(args) => {
            store = store.with_quarantine_quota(args.limits.quarantine_quota())
        }
        _ => {}
    }
    match command {
        Command::Serve(args) => serve(store, &global, args).await.map(|()| 0),
        Command::Import(args) => import::run(&store, &args).await,
        Command::Secrets(crate::config::SecretsCommand::Rotate) => {
            accounts::rotate_secrets(&store, &global).await
        }
        Command::Quarantine(cmd) => quarantine::run(&store, cmd).await,
        Command::Mailbox(cmd) => mailbox::run(&store, &global, cmd).await,
        Command::User(cmd) => accounts::user(&Accounts::new(store), cmd).await,
        Command::Check(args) => check::run(&store, &global, &args).await,
        Command::Backup { file } => ops::backup(&store, &file).await,
        Command::Doctor | Command::Restore { .. } => unreachable!("handled above"),
        Command::Token(cmd) => accounts::token(&Accounts::new(store), cmd).await,
        Command::Domain(cmd) => orgs::domain(store, &global, cmd).await,
        Command::Org(cmd) => orgs::org(store, cmd).await,
    }
}

async fn serve(store: Store, global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<()> {
    let sealed = store.seal_plaintext_secrets().await?;
    if sealed > 0 {
        tracing::info!(
            count = sealed,
            "sealed secrets stored in plain text by an earlier version"
        );
    }
    let alert_wake: std::sync::Arc<tokio::sync::Notify> = std::sync::Arc::default();
    let certificate_wake: std::sync::Arc<tokio::sync::Notify> = std::sync::Arc::default();
    let delivery = crate::alerts::channels::Delivery {
        tls: crate::net::tls::client_config(global.extra_ca_file.as_deref())?,
        extra_ca_pem: match &global.extra_ca_file {
            Some(p) => Some(std::fs::read(p)?),
            None => None,
        },
        timeout: std::time::Duration::from_secs(15),
        allow_private: args.alert_private.get(),
    };
    let timing = crate::alerts::notify::Timing {
        group_wait: args.alert_group_wait_seconds.max(0),
        repeat_interval: args.alert_repeat_minutes.max(1) * 60,
        max_attempts: 6,
        public_url: args.public_url.clone(),
        lease_seconds: 120,
    };
    let checks = std::sync::Arc::new(crate::check::run::CheckService::new(
        args.checker.checker(global)?,
        store.clone(),
        crate::check::run::ReportDestinations {
            mailbox: args.report_address.clone(),
            public_url: args.public_url.clone(),
            receiver_secret: args.receiver_secret.clone(),
        },
    ));
    let poller = global.imap_poller(&args.limits)?;
    let settings = HttpSettings {
        listen: args.listen,
        site_root: args.site_root.map(|p| p.display().to_string()),
        limits: args.limits.limits(),
        receiver_secret: args.receiver_secret,
        receiver_rate_per_minute: args.receiver_rate_per_minute,
        secure_cookies: args.secure_cookies.get(),
        session_idle_minutes: args.session_idle_minutes,
        session_absolute_hours: args.session_absolute_hours,
        domain_policy: args.auto_register.domain_policy(),
        checks: Some(checks.clone()),
        alert_wake: alert_wake.clone(),
        certificate_wake: certificate_wake.clone(),
        imap: Some(poller.clone()),
        public_url: args.public_url.clone(),
        trusted_proxies: parse_networks(&args.trusted_proxies)?,
        receiver_max_in_flight: args.receiver_max_in_flight,
        request_timeout: std::time::Duration::from_secs(args.request_timeout_seconds.max(1)),
        upload_timeout: std::time::Duration::from_secs(args.request_timeout_seconds.max(1) * 4),
        sso: match args.sso.settings()? {
            Some(s) => Some(crate::auth::oidc::Sso::new(
                s,
                crate::net::tls::client_config(global.extra_ca_file.as_deref())?,
            )?),
            None => None,
        },
        local_passwords: args.sso.local_passwords.get(),
    };
    if !settings.local_passwords && settings.sso.is_none() {
        anyhow::bail!("TLSWATCH_LOCAL_PASSWORDS=false needs single sign-on: set TLSWATCH_OIDC_ISSUER and TLSWATCH_OIDC_CLIENT_ID");
    }
    if let Some(token) = crate::auth::ensure_setup_token(&store).await? {
        // Printed, not logged at a level that could be filtered away: it is the only way in.
        eprintln!("\nNo account exists yet. Create the first admin at:\n  http://{}/setup?token={token}\n(or run: tlswatch user add --email EMAIL --role admin)\n", args.listen);
    }
    let app = Application::build(store.clone(), settings).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let every = std::time::Duration::from_secs(args.mailbox_scheduler_seconds.max(1));
    let scheduler = tokio::spawn(crate::ingest::imap::run_scheduler(
        store.clone(),
        poller,
        every,
        stop_rx.clone(),
    ));
    let check_scheduler = (args.check_interval_minutes > 0).then(|| {
        tokio::spawn(checks.clone().run_scheduler(
            std::time::Duration::from_secs(args.check_interval_minutes * 60),
            std::time::Duration::from_secs(60),
            args.check_concurrency,
            stop_rx.clone(),
        ))
    });
    let alert_loop = tokio::spawn(crate::alerts::notify::run_loop(
        store.clone(),
        delivery,
        timing,
        std::time::Duration::from_secs(args.alert_interval_seconds.max(1)),
        alert_wake,
        stop_rx.clone(),
    ));
    let retention = args
        .limits
        .retention_days
        .map(|days| tokio::spawn(ops::retention_loop(store.clone(), days, stop_rx.clone())));
    let policy_listener = match args.policy_host.policy_listen {
        Some(addr) => {
            let policies = crate::service::policies::Policies::new(
                store.clone(),
                Some(checks.clone()),
                certificate_wake.clone(),
            );
            let l =
                crate::hosting::tls::PolicyListener::bind(addr, store.clone(), policies).await?;
            Some(tokio::spawn(l.run(stop_rx.clone())))
        }
        None => None,
    };
    let certificates = args.policy_host.acme().map(|acme| {
        tokio::spawn(crate::hosting::acme::run(
            store.clone(),
            acme,
            certificate_wake.clone(),
            stop_rx.clone(),
            format!("{}-{}", std::process::id(), rand::random::<u32>()),
        ))
    });
    let result = app.run_until_stopped(shutdown_signal()).await;
    let _ = stop_tx.send(true);
    let _ = scheduler.await;
    if let Some(s) = check_scheduler {
        let _ = s.await;
    }
    let _ = alert_loop.await;
    if let Some(r) = retention {
        let _ = r.await;
    }
    for task in [policy_listener, certificates].into_iter().flatten() {
        let _ = task.await;
    }
    result
}

/// Parses `TLSWATCH_TRUSTED_PROXIES`: addresses or networks (`10.0.0.1`, `10.0.0.0/8`, `::1`).
fn parse_networks(items: &[String]) -> anyhow::Result<Vec<ipnet::IpNet>> {
    items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    anyhow::anyhow!("TLSWATCH_TRUSTED_PROXIES: {s:?} is not an address or network")
                })
        })
        .collect()
}
