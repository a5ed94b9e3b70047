//! Secrets at rest: mailbox passwords and alert channel settings (webhook URLs, HMAC secrets,
//! SMTP passwords) are sealed with XChaCha20-Poly1305 before they reach the database.
//!
//! The key comes from `TLSWATCH_SECRET_KEY` (32 bytes, base64) or from `secret.key` in the
//! data directory, created on first start with mode 0600. Several instances sharing one
//! database must share the key (set the variable on all of them). A sealed value reads
//! `v1:<key id>:<base64 of nonce and ciphertext>`; the key id (8 hex digits of the key's
//! SHA-256) tells which key sealed it, so a wrong key is named as such, not as corrupt data.

use std::path::Path;

use anyhow::{bail, Context};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "v1:";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Name of the key file in the data directory.
pub const KEY_FILE: &str = "secret.key";

/// Seals and opens secrets with one key.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    id: String,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("key_id", &self.id).finish()
    }
}

impl Sealer {
    /// A sealer over a 32-byte key.
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
            id: hex::encode(&Sha256::digest(key)[..4]),
        }
    }

    /// A sealer over a key written as base64 (as in `TLSWATCH_SECRET_KEY`).
    pub fn from_base64(text: &str) -> anyhow::Result<Self> {
        let bytes = B64
            .decode(text.trim())
            .context("the secret key is not base64")?;
        let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            anyhow::anyhow!("the secret key has {} bytes; it must have 32", b.len())
        })?;
        Ok(Self::new(&key))
    }

    /// A new random key, as base64.
    pub fn generate_key() -> String {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        B64.encode(key)
    }

    /// The key from `env_key` when set, else from the key file in `data_dir`, created (mode
    /// 0600) when missing.
    pub fn load(env_key: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        if let Some(k) = env_key.filter(|k| !k.trim().is_empty()) {
            return Self::from_base64(k).context("TLSWATCH_SECRET_KEY");
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_base64(&text).with_context(|| format!("{}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate_key();
                write_key_file(&path, &key)?;
                tracing::info!(path = %path.display(), "created the secret key file (keep it with your backups)");
                Self::from_base64(&key)
            }
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// The key's id (8 hex digits).
    pub fn key_id(&self) -> &str {
        &self.id
    }

    /// Seals `plain`.
    pub fn seal(&self, plain: &str) -> String {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        // Encryption into a Vec cannot fail for inputs of this size.
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plain.as_bytes())
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}:{}", self.id, B64.encode(out))
    }

    /// Opens a sealed value.
    pub fn open(&self, sealed: &str) -> anyhow::Result<String> {
        let Some(rest) = sealed.strip_prefix(PREFIX) else {
            bail!("the stored secret is not sealed");
        };
        let (id, data) = rest
            .split_once(':')
            .context("the stored secret is malformed")?;
        if id != self.id {
            bail!(
                "the stored secret was sealed with key {id}, but the configured key is {}; set TLSWATCH_SECRET_KEY or the key file to that key",
                self.id
            );
        }
        let bytes = B64.decode(data).context("the stored secret is malformed")?;
        if bytes.len() < 24 {
            bail!("the stored secret is malformed");
        }
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(&bytes[..24]), &bytes[24..])
            .map_err(|_| {
                anyhow::anyhow!(
                    "the stored secret does not open with the configured key (altered?)"
                )
            })?;
        String::from_utf8(plain).context("the stored secret is not text")
    }

    /// Whether `value` is sealed (by any key).
    pub fn is_sealed(value: &str) -> bool {
        value.starts_with(PREFIX)
    }
}

/// Writes a key file readable by its owner only.
pub fn write_key_file(path: &Path, key_b64: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("key.new");
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(key_b64.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_their_key_only() {
        let a = Sealer::from_base64(&Sealer::generate_key()).unwrap();
        let b = Sealer::from_base64(&Sealer::generate_key()).unwrap();
        let s = a.seal("hunter2 and more");
        assert!(!s.contains("hunter2"));
        assert_ne!(s, a.seal("hunter2 and more"), "a fresh nonce each time");
        assert_eq!(a.open(&s).unwrap(), "hunter2 and more");
        let err = b.open(&s).unwrap_err().to_string();
        assert!(err.contains("sealed with key"), "{err}");
        let mut tampered = s.clone();
        tampered.pop();
        tampered.push(if s.ends_with('A') { 'B' } else { 'A' });
        assert!(a.open(&tampered).is_err());
    }

    #[test]
    fn the_key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = Sealer::load(None, dir.path()).unwrap();
        let again = Sealer::load(None, dir.path()).unwrap();
        assert_eq!(first.key_id(), again.key_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let from_env = Sealer::load(Some(&Sealer::generate_key()), dir.path()).unwrap();
        assert_ne!(from_env.key_id(), first.key_id());
    }
}
