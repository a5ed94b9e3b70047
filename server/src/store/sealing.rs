//! Sealing the secrets stored in the database (see [`crate::secrets`]): mailbox passwords, client
//! secrets, service account keys and refresh tokens,
//! alert channel settings, policy hosts' private keys, pending ACME challenges and ACME
//! accounts.

use anyhow::Context;

use super::Store;
use crate::secrets::Sealer;

/// Tables, their key and the columns holding sealed secrets (an empty value is no secret).
const SECRET_COLUMNS: [(&str, &str, &str); 7] = [
    ("mailbox", "id", "password"),
    ("mailbox", "id", "refresh_token"),
    ("mailbox_authorization", "state", "verifier"),
    ("alert_channel", "id", "config"),
    ("tls_certificate", "host", "key_pem"),
    ("acme_challenge", "host || '/' || kind", "value"),
    ("acme_account", "directory", "credentials"),
];

impl Store {
    /// Seals secrets an earlier version stored in plain text; returns how many. Takes the
    /// write lock only when there is something to seal.
    pub async fn seal_plaintext_secrets(&self) -> anyhow::Result<usize> {
        for (table, _, column) in SECRET_COLUMNS {
            let (plain,): (i64,) = sqlx::query_as(&format!(
                "select count(*) from {table} where {column} not like 'v1:%' and {column} <> ''"
            ))
            .fetch_one(self.pool())
            .await
            .with_context(|| format!("reading {table}"))?;
            if plain > 0 {
                return self.reseal(None).await;
            }
        }
        Ok(0)
    }

    /// Opens every secret with the current key and seals it with `new`, in one transaction.
    pub async fn reseal_secrets(&self, new: &Sealer) -> anyhow::Result<usize> {
        self.reseal(Some(new)).await
    }

    /// Every stored secret column as the database holds it, one per line (tests use it to
    /// show nothing is stored in the clear).
    pub async fn debug_dump_secret_columns(&self) -> anyhow::Result<String> {
        let mut out = String::new();
        for (table, _, column) in SECRET_COLUMNS {
            let rows: Vec<(String,)> = sqlx::query_as(&format!("select {column} from {table}"))
                .fetch_all(self.pool())
                .await
                .with_context(|| format!("reading {table}"))?;
            for (v,) in rows {
                out.push_str(&v);
                out.push('\n');
            }
        }
        Ok(out)
    }

    async fn reseal(&self, new: Option<&Sealer>) -> anyhow::Result<usize> {
        let current = self.sealer()?;
        let mut turn = self.write_guard().await?;
        let mut tx = self.begin_write(&mut turn).await?;
        let mut n = 0;
        for (table, key, column) in SECRET_COLUMNS {
            // Table and column names are constants above, never input.
            let rows: Vec<(String, String)> = sqlx::query_as(&format!(
                "select cast({key} as text), {column} from {table} where {column} <> ''"
            ))
            .fetch_all(&mut *tx)
            .await
            .with_context(|| format!("reading {table}"))?;
            for (id, value) in rows {
                let sealed = Sealer::is_sealed(&value);
                let replacement = match (new, sealed) {
                    (None, true) => continue,
                    (None, false) => current.seal(&value),
                    (Some(new), true) => new.seal(
                        &current
                            .open(&value)
                            .with_context(|| format!("opening {table} {id}"))?,
                    ),
                    (Some(new), false) => new.seal(&value),
                };
                sqlx::query(&format!(
                    "update {table} set {column} = $1 where cast({key} as text) = $2"
                ))
                .bind(replacement)
                .bind(id.clone())
                .execute(&mut *tx)
                .await
                .with_context(|| format!("sealing {table} {id}"))?;
                n += 1;
            }
        }
        self.commit(tx).await.context("sealing secrets")?;
        Ok(n)
    }
}
