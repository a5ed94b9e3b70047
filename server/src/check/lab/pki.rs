//! The lab's PKI: a CA made at run time, leaf certificates, certificates chosen by SNI.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// A CA generated at run time.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// CA certificate, PEM.
    pub cert_pem: String,
    /// CA certificate, DER.
    pub cert_der: CertificateDer<'static>,
}

/// A leaf certificate and key.
#[derive(Clone)]
pub struct Leaf {
    /// Certificate (leaf only), PEM.
    pub cert_pem: String,
    /// Private key, PEM.
    pub key_pem: String,
    /// For rustls servers.
    pub certified: Arc<CertifiedKey>,
}

impl TestCa {
    /// A fresh CA named `name`.
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("key generation");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("self-signed CA");
        Self {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `names`, valid from `not_before_days` to `not_after_days` from now.
    pub fn leaf(&self, names: &[&str], not_before_days: i64, not_after_days: i64) -> Leaf {
        let key = KeyPair::generate().expect("key generation");
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("names");
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(not_before_days);
        params.not_after = now + time::Duration::days(not_after_days);
        let cert = params.signed_by(&key, &self.issuer).expect("signing");
        let der = cert.der().clone();
        let key_der = PrivateKeyDer::try_from(key.serialize_der()).expect("key der");
        let provider = rustls::crypto::ring::default_provider();
        let signing = provider
            .key_provider
            .load_private_key(key_der)
            .expect("signing key");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            certified: Arc::new(CertifiedKey::new(vec![der], signing)),
        }
    }

    /// A root store holding only this CA.
    pub fn roots(&self) -> rustls::RootCertStore {
        let mut r = rustls::RootCertStore::empty();
        r.add(self.cert_der.clone()).expect("CA cert");
        r
    }
}

/// Chooses a certificate by SNI; `default` when the name is unknown or absent (`None`: abort).
#[derive(Debug, Default)]
pub struct SniCerts {
    by_name: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    default: RwLock<Option<Arc<CertifiedKey>>>,
    /// Issue valid certificates on the fly for unknown names (benchmarks with many domains).
    auto: RwLock<Option<Arc<TestCa>>>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestCa")
    }
}

impl SniCerts {
    /// Serves `leaf` for `name`.
    pub fn set(&self, name: &str, leaf: &Leaf) {
        if let Ok(mut m) = self.by_name.write() {
            m.insert(name.to_ascii_lowercase(), leaf.certified.clone());
        }
    }
    /// Serves `leaf` when no name matches (or no SNI was sent).
    pub fn set_default(&self, leaf: Option<&Leaf>) {
        if let Ok(mut d) = self.default.write() {
            *d = leaf.map(|l| l.certified.clone());
        }
    }
    /// Issues certificates for unknown names with `ca`.
    pub fn auto_issue(&self, ca: Arc<TestCa>) {
        if let Ok(mut a) = self.auto.write() {
            *a = Some(ca);
        }
    }
}

impl ResolvesServerCert for SniCerts {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = hello.server_name() {
            let name = name.to_ascii_lowercase();
            if let Some(c) = self.by_name.read().ok()?.get(&name) {
                return Some(c.clone());
            }
            let auto = self.auto.read().ok()?.clone();
            if let Some(ca) = auto {
                let leaf = ca.leaf(&[&name], -1, 90);
                self.by_name
                    .write()
                    .ok()?
                    .insert(name, leaf.certified.clone());
                return Some(leaf.certified);
            }
        }
        self.default.read().ok()?.clone()
    }
}

pub(super) fn server_config(certs: Arc<SniCerts>, alpn: bool) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut c = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_cert_resolver(certs);
    if alpn {
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
    }
    Arc::new(c)
}
