//! IMAP mailboxes: fetch unseen mails, import the reports, then mark each mail seen or move it
//! to the archive folder; a mail that is not a report is moved aside or left. Nothing is ever
//! deleted or expunged.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use async_imap::{Client, Session};
use futures::TryStreamExt;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::{commit, now_unix, prepare, Limits, Status};
use crate::store::{DomainPolicy, Mailbox, NewRejected, Store};

/// Mails handled per poll; the rest wait for the next one.
const MAX_PER_POLL: usize = 500;
/// Bound on every network step.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

type ImapSession = Session<TlsStream<TcpStream>>;

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollOutcome {
    /// Mails with at least one newly stored report.
    pub imported: usize,
    /// Mails whose reports were all stored already.
    pub duplicates: usize,
    /// Mails that were not (usable) reports; quarantined.
    pub rejected: usize,
}

/// Settings of the poller.
#[derive(Clone)]
pub struct ImapPoller {
    /// TLS client settings (WebPKI plus extra roots).
    pub tls: Arc<ClientConfig>,
    /// Input bounds.
    pub limits: Limits,
}

async fn step<T>(what: &str, f: impl std::future::Future<Output = T>) -> anyhow::Result<T> {
    timeout(STEP_TIMEOUT, f)
        .await
        .with_context(|| format!("IMAP {what} timed out"))
}

impl ImapPoller {
    /// Connects, logs in and selects the mailbox's folder; the session and the number of
    /// messages in the folder.
    async fn open(&self, m: &Mailbox) -> anyhow::Result<(ImapSession, u32)> {
        let tcp = step("connect", TcpStream::connect((m.host.as_str(), m.port)))
            .await?
            .with_context(|| format!("connecting to {}:{}", m.host, m.port))?;
        let name = ServerName::try_from(m.host.clone())
            .with_context(|| format!("{} is not a valid TLS server name", m.host))?;
        let connector = TlsConnector::from(self.tls.clone());
        let tls = match m.tls_mode.as_str() {
            "implicit" => step("TLS handshake", connector.connect(name, tcp))
                .await?
                .context("TLS handshake")?,
            "starttls" => {
                let mut client = Client::new(tcp);
                step("greeting", client.read_response())
                    .await?
                    .context("reading the greeting")?
                    .context("server closed before greeting")?;
                step(
                    "STARTTLS",
                    client.run_command_and_check_ok("STARTTLS", None),
                )
                .await?
                .context("STARTTLS refused")?;
                step(
                    "TLS handshake",
                    connector.connect(name, client.into_inner()),
                )
                .await?
                .context("TLS handshake after STARTTLS")?
            }
            other => bail!("unknown TLS mode {other:?} (use implicit or starttls)"),
        };
        let mut client = Client::new(tls);
        if m.tls_mode == "implicit" {
            step("greeting", client.read_response())
                .await?
                .context("reading the greeting")?
                .context("server closed before greeting")?;
        }
        let mut session = step("login", client.login(&m.username, &m.password))
            .await?
            .map_err(|(e, _)| anyhow::anyhow!("login as {} failed: {e}", m.username))?;
        let selected = step("select", session.select(&m.folder))
            .await?
            .with_context(|| format!("selecting folder {}", m.folder))?;
        Ok((session, selected.exists))
    }

    /// Signs in and selects the folder without importing anything; the number of messages in
    /// it ("test connection").
    pub async fn test(&self, m: &Mailbox) -> anyhow::Result<u32> {
        let (mut session, exists) = self.open(m).await?;
        let _ = step("logout", session.logout()).await;
        Ok(exists)
    }

    /// Polls one mailbox once.
    #[tracing::instrument(skip_all, fields(mailbox = %m.name))]
    pub async fn poll_once(&self, store: &Store, m: &Mailbox) -> anyhow::Result<PollOutcome> {
        let (mut session, _) = self.open(m).await?;
        let result = self.process(store, m, &mut session).await;
        let _ = step("logout", session.logout()).await;
        result
    }

    async fn process(
        &self,
        store: &Store,
        m: &Mailbox,
        session: &mut ImapSession,
    ) -> anyhow::Result<PollOutcome> {
        let mut uids: Vec<u32> = step("search", session.uid_search("UNSEEN"))
            .await?
            .context("searching unseen mails")?
            .into_iter()
            .collect();
        uids.sort_unstable();
        uids.truncate(MAX_PER_POLL);
        let mut outcome = PollOutcome::default();
        if uids.is_empty() {
            return Ok(outcome);
        }
        let sizes = self.sizes(session, &uids).await?;
        for uid in uids {
            let source = format!("imap {}:{}/{} uid {uid}", m.host, m.folder, m.name);
            let size = sizes.get(&uid).copied().unwrap_or(0);
            let status = if size > self.limits.max_input {
                let reason = format!(
                    "mail is {size} bytes, above the {}-byte input limit; left in the mailbox",
                    self.limits.max_input
                );
                store
                    .quarantine(&NewRejected {
                        channel: "imap",
                        source_name: &source,
                        received_at: now_unix(),
                        reason: &reason,
                        content_hash: &format!("imap-oversize:{source}"),
                        raw_gz: &[],
                        raw_size: size,
                    })
                    .await?;
                Status::Rejected
            } else {
                let raw = self.fetch_body(session, uid).await?;
                let limits = self.limits;
                let prepared = tokio::task::spawn_blocking(move || {
                    prepare(
                        &raw,
                        Some("message/rfc822"),
                        None,
                        source,
                        "imap",
                        &limits,
                        now_unix(),
                    )
                })
                .await?;
                // Anyone can mail a reporting address: its reports register domains only when
                // the mailbox is set to; otherwise they wait in the quarantine.
                let domains = if m.auto_register {
                    DomainPolicy::AutoRegister
                } else {
                    DomainPolicy::KnownOnly
                };
                commit(store, vec![prepared], domains)
                    .await?
                    .remove(0)
                    .status
            };
            match status {
                Status::Imported => outcome.imported += 1,
                Status::Duplicate => outcome.duplicates += 1,
                Status::Rejected => outcome.rejected += 1,
            }
            let target = if status == Status::Rejected {
                m.rejected_folder.as_deref()
            } else {
                m.archive_folder.as_deref()
            };
            self.dispose(session, uid, target).await?;
        }
        Ok(outcome)
    }

    async fn sizes(
        &self,
        session: &mut ImapSession,
        uids: &[u32],
    ) -> anyhow::Result<HashMap<u32, usize>> {
        let set = uids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let fetches: Vec<_> = step("fetch sizes", async {
            session
                .uid_fetch(&set, "(UID RFC822.SIZE)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?
        .context("fetching sizes")?;
        Ok(fetches
            .iter()
            .filter_map(|f| Some((f.uid?, f.size? as usize)))
            .collect())
    }

    async fn fetch_body(&self, session: &mut ImapSession, uid: u32) -> anyhow::Result<Vec<u8>> {
        let fetches: Vec<_> = step("fetch body", async {
            session
                .uid_fetch(uid.to_string(), "BODY.PEEK[]")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?
        .context("fetching a mail")?;
        let body = fetches
            .iter()
            .find(|f| f.uid == Some(uid))
            .and_then(|f| f.body())
            .or_else(|| fetches.first().and_then(|f| f.body()));
        Ok(body.unwrap_or_default().to_vec())
    }

    /// Moves the mail to `folder` (MOVE, never delete) or marks it seen.
    async fn dispose(
        &self,
        session: &mut ImapSession,
        uid: u32,
        folder: Option<&str>,
    ) -> anyhow::Result<()> {
        let uid = uid.to_string();
        if let Some(folder) = folder {
            // Creating an existing folder fails harmlessly.
            let _ = step("create", session.create(folder)).await?;
            step("move", session.uid_mv(&uid, folder))
                .await?
                .with_context(|| format!("moving a mail to {folder}"))?;
        } else {
            step("store", async {
                session
                    .uid_store(&uid, "+FLAGS (\\Seen)")
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?
            .context("marking a mail seen")?;
        }
        Ok(())
    }
}

/// Polls mailbox `id` now, whatever its interval (unless another poll holds it), and records
/// the poll like a scheduled one; `None` when another poll is running.
pub async fn poll_now(
    store: &Store,
    poller: &ImapPoller,
    id: i64,
) -> anyhow::Result<Option<Result<PollOutcome, String>>> {
    let Some(m) = store.lease_mailbox(id, now_unix(), 600, false).await? else {
        return Ok(None);
    };
    Ok(Some(record(store, poller, &m).await?))
}

/// Polls `m` (leased) and records the outcome.
async fn record(
    store: &Store,
    poller: &ImapPoller,
    m: &Mailbox,
) -> anyhow::Result<Result<PollOutcome, String>> {
    match poller.poll_once(store, m).await {
        Ok(o) => {
            tracing::info!(mailbox = %m.name, imported = o.imported, duplicates = o.duplicates, rejected = o.rejected, "mailbox polled");
            store
                .finish_poll(
                    m.id,
                    now_unix(),
                    None,
                    (o.imported as i64, o.duplicates as i64, o.rejected as i64),
                )
                .await?;
            Ok(Ok(o))
        }
        Err(e) => {
            let msg = format!("{e:#}");
            tracing::warn!(mailbox = ?m.name, error = ?msg, "mailbox poll failed");
            store
                .finish_poll(m.id, now_unix(), Some(&msg), (0, 0, 0))
                .await?;
            Ok(Err(msg))
        }
    }
}

/// Polls every due mailbox once (taking its lease, so several instances never poll the same
/// mailbox at the same time). Returns how many mailboxes were polled.
pub async fn try_execute_once(store: &Store, poller: &ImapPoller) -> anyhow::Result<usize> {
    let mut polled = 0;
    for m in store.mailboxes().await? {
        let now = now_unix();
        let Some(m) = store.lease_due_mailbox(m.id, now, 600).await? else {
            continue;
        };
        polled += 1;
        // The outcome is recorded on the mailbox (and logged) by `record`.
        let _outcome = record(store, poller, &m).await?;
    }
    Ok(polled)
}

/// Runs [`try_execute_once`] every `every` until `shutdown` fires.
pub async fn run_scheduler(
    store: Store,
    poller: ImapPoller,
    every: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = try_execute_once(&store, &poller).await {
            tracing::warn!(error = %format!("{e:#}"), "mailbox scheduler pass failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}
