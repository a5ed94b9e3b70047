//! Certificates for the policy hosts (`mta-sts.<domain>`) from an ACME CA (RFC 8555), with
//! `instant-acme`. One instance at a time orders (the `acme` job lease); certificates, keys,
//! pending challenge answers and the account are stored in the database (sealed), so every
//! instance serves the same certificate and answers the CA's validation, whichever it reaches.
//!
//! Challenges: TLS-ALPN-01 (RFC 8737), answered by the policy listener itself on port 443, or
//! HTTP-01, answered on the HTTP listener (port 80 must reach it).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};

use crate::store::Store;

/// The kind name of pending HTTP-01 answers.
pub const HTTP_01: &str = "http-01";
/// The kind name of pending TLS-ALPN-01 certificates.
pub const TLS_ALPN_01: &str = "tls-alpn-01";

/// How the CA validates control of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Challenge {
    /// TLS-ALPN-01 on the policy listener (port 443).
    TlsAlpn01,
    /// HTTP-01 on the HTTP listener (port 80).
    Http01,
}

/// ACME settings.
#[derive(Debug, Clone)]
pub struct AcmeSettings {
    /// The CA's directory URL.
    pub directory: String,
    /// A PEM file with the root that signs the CA's API certificate (test CAs like Pebble);
    /// `None`: the system's roots.
    pub ca_file: Option<PathBuf>,
    /// `mailto:` contact for the account.
    pub contact: Option<String>,
    /// The challenge to answer.
    pub challenge: Challenge,
    /// Renew this long before expiry.
    pub renew_before: Duration,
    /// How often to look for hosts needing a certificate (also woken by policy changes).
    pub interval: Duration,
    /// How long to wait for the CA to validate and issue.
    pub order_timeout: Duration,
}

/// Runs until `stop` turns true: obtains and renews certificates of every hosted domain's
/// policy host. `holder` names this instance in the lease.
pub async fn run(
    store: Store,
    settings: AcmeSettings,
    wake: Arc<tokio::sync::Notify>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    holder: String,
) {
    loop {
        if let Err(e) = cycle(&store, &settings, &holder).await {
            tracing::error!(error = %format!("{e:#}"), "certificate manager");
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(settings.interval) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// One pass: every served policy host without a certificate, or with one due for renewal,
/// gets a new one. Errors are recorded per host and do not stop the others.
pub async fn cycle(store: &Store, settings: &AcmeSettings, holder: &str) -> anyhow::Result<usize> {
    let now = crate::ingest::now_unix();
    let lease = settings.order_timeout.as_secs() as i64 * 4 + 60;
    if !store.take_lease("acme", holder, now, now + lease).await? {
        return Ok(0);
    }
    let result = obtain_due(store, settings, now).await;
    store.release_lease("acme", holder).await?;
    result
}

async fn obtain_due(store: &Store, settings: &AcmeSettings, now: i64) -> anyhow::Result<usize> {
    let mut due = Vec::new();
    for domain in store.hosted_domains(now).await? {
        let host = format!("mta-sts.{domain}");
        let (not_after, _) = store.certificate_status(&host).await?;
        if not_after.is_none_or(|t| t - now < settings.renew_before.as_secs() as i64) {
            due.push(host);
        }
    }
    if due.is_empty() {
        return Ok(0);
    }
    let account = account(store, settings).await?;
    let mut obtained = 0;
    for host in due {
        match obtain(store, settings, &account, &host).await {
            Ok(not_after) => {
                obtained += 1;
                tracing::info!(host = %host, not_after, "certificate obtained");
            }
            Err(e) => {
                let msg = format!("{e:#}");
                tracing::error!(host = %host, error = %msg, "obtaining a certificate failed");
                store
                    .set_certificate_error(&host, &msg, crate::ingest::now_unix())
                    .await?;
            }
        }
        let _ = store.delete_challenge(&host, TLS_ALPN_01).await;
        let _ = store.delete_challenge(&host, HTTP_01).await;
    }
    Ok(obtained)
}

/// The stored account for the directory, or a new one (stored).
async fn account(store: &Store, settings: &AcmeSettings) -> anyhow::Result<Account> {
    let builder = || match &settings.ca_file {
        Some(path) => Account::builder_with_root(path)
            .with_context(|| format!("reading the ACME CA file {}", path.display())),
        None => Account::builder().context("building the ACME client"),
    };
    if let Some(json) = store.acme_credentials(&settings.directory).await? {
        let credentials: AccountCredentials =
            serde_json::from_str(&json).context("reading the stored ACME account")?;
        return builder()?
            .from_credentials(credentials)
            .await
            .context("restoring the ACME account");
    }
    let contact: Vec<String> = settings
        .contact
        .iter()
        .map(|c| {
            if c.starts_with("mailto:") {
                c.clone()
            } else {
                format!("mailto:{c}")
            }
        })
        .collect();
    let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (account, credentials) = builder()?
        .create(
            &NewAccount {
                contact: &contact,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            settings.directory.clone(),
            None,
        )
        .await
        .context("creating the ACME account")?;
    store
        .put_acme_credentials(&settings.directory, &serde_json::to_string(&credentials)?)
        .await?;
    Ok(account)
}

/// The self-signed certificate that answers a TLS-ALPN-01 challenge (RFC 8737 §3): the host
/// as its only name and the key authorization's digest in the critical acmeIdentifier
/// extension. Certificate and key, PEM, one after the other.
pub fn alpn_challenge_pem(host: &str, digest: &[u8]) -> anyhow::Result<String> {
    let mut params = rcgen::CertificateParams::new(vec![host.to_owned()])?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(format!("{}{}", cert.pem(), key.serialize_pem()))
}

/// Orders, validates and stores a certificate for `host`; its `not_after`.
async fn obtain(
    store: &Store,
    settings: &AcmeSettings,
    account: &Account,
    host: &str,
) -> anyhow::Result<i64> {
    let identifiers = [Identifier::Dns(host.to_owned())];
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .context("creating the order")?;
    let expires = crate::ingest::now_unix() + settings.order_timeout.as_secs() as i64 * 2 + 60;
    let mut authorizations = order.authorizations();
    while let Some(result) = authorizations.next().await {
        let mut authz = result.context("reading an authorization")?;
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => bail!("the authorization is {other:?}"),
        }
        let (kind, challenge_type) = match settings.challenge {
            Challenge::TlsAlpn01 => (TLS_ALPN_01, ChallengeType::TlsAlpn01),
            Challenge::Http01 => (HTTP_01, ChallengeType::Http01),
        };
        let mut challenge = authz
            .challenge(challenge_type)
            .with_context(|| format!("the CA offers no {kind} challenge"))?;
        let key_authorization = challenge.key_authorization();
        let answer = match settings.challenge {
            Challenge::TlsAlpn01 => alpn_challenge_pem(host, key_authorization.digest().as_ref())?,
            Challenge::Http01 => key_authorization.as_str().to_owned(),
        };
        store
            .put_challenge(host, kind, &challenge.token.clone(), &answer, expires)
            .await?;
        challenge
            .set_ready()
            .await
            .context("telling the CA the challenge is ready")?;
    }
    let retry = RetryPolicy::new().timeout(settings.order_timeout);
    let status = order
        .poll_ready(&retry)
        .await
        .context("waiting for validation")?;
    if status != OrderStatus::Ready {
        let detail = order
            .state()
            .error
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_else(|| format!("{status:?}"));
        bail!("the CA did not validate {host}: {detail}");
    }
    let key_pem = order.finalize().await.context("finalizing the order")?;
    let chain_pem = order
        .poll_certificate(&retry)
        .await
        .context("downloading the certificate")?;
    let not_after = not_after(&chain_pem)?;
    store
        .put_certificate(
            host,
            &chain_pem,
            &key_pem,
            not_after,
            crate::ingest::now_unix(),
        )
        .await?;
    Ok(not_after)
}

/// `not_after` of the first certificate in a PEM chain.
pub fn not_after(chain_pem: &str) -> anyhow::Result<i64> {
    let first = rustls_pemfile::certs(&mut chain_pem.as_bytes())
        .next()
        .context("the chain has no certificate")?
        .context("reading the chain")?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(&first).context("parsing the certificate")?;
    Ok(cert.validity().not_after.timestamp())
}
