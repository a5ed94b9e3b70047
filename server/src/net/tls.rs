//! TLS client configuration: the public WebPKI roots plus, optionally, extra PEM roots
//! (`TLSWATCH_EXTRA_CA_FILE`), for private CAs and for tests.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// Root certificates: WebPKI plus the PEM certificates in `extra_ca_file`.
pub fn roots(extra_ca_file: Option<&Path>) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca_file {
        let pem = std::fs::read(path)
            .with_context(|| format!("reading extra CA file {}", path.display()))?;
        let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &pem[..])
            .collect::<Result<_, _>>()
            .with_context(|| format!("parsing PEM certificates in {}", path.display()))?;
        anyhow::ensure!(
            !certs.is_empty(),
            "no certificate found in {}",
            path.display()
        );
        for c in certs {
            roots
                .add(c)
                .with_context(|| format!("adding a root from {}", path.display()))?;
        }
    }
    Ok(roots)
}

/// A client configuration verifying server certificates against [`roots`].
pub fn client_config(extra_ca_file: Option<&Path>) -> anyhow::Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots(extra_ca_file)?)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
