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

use super::oauth::TokenError;
use super::{commit, now_unix, prepare, Limits, Status};
use crate::store::{DomainPolicy, Mailbox, NewRejected, PollErrorKind, Store};

/// Mails handled per poll (IMAP and Graph); the rest wait for the next one.
pub(super) const MAX_PER_POLL: usize = 500;
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

/// Settings of the poller (IMAP and Microsoft Graph mailboxes).
#[derive(Clone)]
pub struct ImapPoller {
    /// TLS client settings (WebPKI plus extra roots).
    pub tls: Arc<ClientConfig>,
    /// Input bounds.
    pub limits: Limits,
    /// Access tokens of OAuth mailboxes, and the HTTP client for Graph.
    pub tokens: super::oauth::Tokens,
}

/// A poll or test that failed, with its kind (counted per mailbox) and whether the identity
/// provider refused the grant ("authorization needed").
#[derive(Debug)]
pub struct PollError {
    /// What failed.
    pub kind: PollErrorKind,
    /// The provider refused the grant: do not poll again until fixed.
    pub authorization_needed: bool,
    /// The error.
    pub error: anyhow::Error,
}

impl std::fmt::Display for PollError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl PollError {
    /// Classifies an error: a refused token or login is `Auth`, the network `Network`, the
    /// rest `Server`.
    pub fn classify(error: anyhow::Error) -> Self {
        if let Some(t) = error.downcast_ref::<TokenError>() {
            let needed = matches!(t, TokenError::AuthorizationNeeded(_));
            return Self {
                kind: if needed {
                    PollErrorKind::Auth
                } else {
                    PollErrorKind::Network
                },
                authorization_needed: needed,
                error,
            };
        }
        let kind = if error.downcast_ref::<SignInRefused>().is_some() {
            PollErrorKind::Auth
        } else if error.chain().any(|c| {
            c.downcast_ref::<std::io::Error>().is_some()
                || c.downcast_ref::<tokio::time::error::Elapsed>().is_some()
                || c.downcast_ref::<reqwest::Error>()
                    .is_some_and(|e| e.is_connect() || e.is_timeout())
        }) || format!("{error:#}").contains("timed out")
        {
            PollErrorKind::Network
        } else {
            PollErrorKind::Server
        };
        Self {
            kind,
            authorization_needed: false,
            error,
        }
    }
}

/// The mail server (or API) refused the credentials.
#[derive(Debug)]
pub struct SignInRefused(pub String);

impl std::fmt::Display for SignInRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SignInRefused {}

/// SASL XOAUTH2 / OAUTHBEARER (RFC 7628): the initial response, then, after the server's
/// error challenge (kept for the message), the empty / `^A` answer that ends the exchange.
struct Bearer {
    payload: Vec<u8>,
    after_error: &'static [u8],
    sent: bool,
    challenge: Arc<std::sync::Mutex<Vec<u8>>>,
}

impl async_imap::Authenticator for &mut Bearer {
    type Response = Vec<u8>;

    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        if self.sent {
            *self.challenge.lock().expect("challenge") = challenge.to_vec();
            self.after_error.to_vec()
        } else {
            self.sent = true;
            self.payload.clone()
        }
    }
}

fn bearer(m: &Mailbox, token: &str) -> Bearer {
    let (payload, after_error): (String, &'static [u8]) = if m.oauth.sasl == "oauthbearer" {
        (
            format!(
                "n,a={},\x01host={}\x01port={}\x01auth=Bearer {token}\x01\x01",
                m.username.replace('=', "=3D").replace(',', "=2C"),
                m.host,
                m.port
            ),
            b"\x01",
        )
    } else {
        (
            format!("user={}\x01auth=Bearer {token}\x01\x01", m.username),
            b"",
        )
    };
    Bearer {
        payload: payload.into_bytes(),
        after_error,
        sent: false,
        challenge: Arc::default(),
    }
}

async fn step<T>(what: &str, f: impl std::future::Future<Output = T>) -> anyhow::Result<T> {
    timeout(STEP_TIMEOUT, f)
        .await
        .with_context(|| format!("IMAP {what} timed out"))
}

impl ImapPoller {
    /// Connects, logs in and selects the mailbox's folder; the session and the number of
    /// messages in the folder.
    async fn open(&self, store: &Store, m: &Mailbox) -> anyhow::Result<(ImapSession, u32)> {
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
        let mut session = if m.auth == "password" {
            step("login", client.login(&m.username, &m.password))
                .await?
                .map_err(|(e, _)| {
                    anyhow::Error::new(SignInRefused(format!(
                        "login as {} failed: {e}",
                        m.username
                    )))
                })?
        } else {
            self.sign_in_with_token(store, m, client).await?
        };
        let selected = step("select", session.select(&m.folder))
            .await?
            .with_context(|| format!("selecting folder {}", m.folder))?;
        Ok((session, selected.exists))
    }

    /// SASL XOAUTH2 or OAUTHBEARER with an access token; a token the server refuses is
    /// dropped and a fresh one tried once.
    async fn sign_in_with_token(
        &self,
        store: &Store,
        m: &Mailbox,
        mut client: Client<TlsStream<TcpStream>>,
    ) -> anyhow::Result<ImapSession> {
        let mechanism = if m.oauth.sasl == "oauthbearer" {
            "OAUTHBEARER"
        } else {
            "XOAUTH2"
        };
        let mut last = String::new();
        for attempt in 0..2 {
            if attempt == 1 {
                self.tokens.forget(m.id);
            }
            let token = self.tokens.access_token(store, m).await?;
            let mut auth = bearer(m, &token);
            match step("authenticate", client.authenticate(mechanism, &mut auth)).await? {
                Ok(session) => return Ok(session),
                Err((e, c)) => {
                    let challenge =
                        String::from_utf8_lossy(&auth.challenge.lock().expect("challenge"))
                            .into_owned();
                    last = super::oauth::clean(&format!(
                        "{e}{}",
                        if challenge.is_empty() {
                            String::new()
                        } else {
                            format!(" ({challenge})")
                        }
                    ));
                    client = c;
                }
            }
        }
        Err(anyhow::Error::new(SignInRefused(format!(
            "the IMAP server refused the access token for {} ({mechanism}), also a fresh one: {last}. Check that the application may access this mailbox.",
            m.username
        ))))
    }

    /// Signs in and selects the folder without importing anything; the number of messages in
    /// it ("test connection").
    pub async fn test(&self, store: &Store, m: &Mailbox) -> Result<u32, PollError> {
        let run = async {
            if m.kind == "graph" {
                return super::graph::test(self, store, m).await;
            }
            let (mut session, exists) = self.open(store, m).await?;
            let _ = step("logout", session.logout()).await;
            Ok(exists)
        };
        run.await.map_err(PollError::classify)
    }

    /// Polls one mailbox once.
    #[tracing::instrument(skip_all, fields(mailbox = %m.name))]
    pub async fn poll_once(&self, store: &Store, m: &Mailbox) -> Result<PollOutcome, PollError> {
        let run = async {
            if m.kind == "graph" {
                return super::graph::poll(self, store, m).await;
            }
            let (mut session, _) = self.open(store, m).await?;
            let result = self.process(store, m, &mut session).await;
            let result = match (result, m.retention_days, m.archive_folder.as_deref()) {
                (Ok(o), Some(days), Some(archive)) => self
                    .expunge_old(&mut session, archive, days, false)
                    .await
                    .map(|_| o),
                (r, ..) => r,
            };
            let _ = step("logout", session.logout()).await;
            result
        };
        run.await.map_err(PollError::classify)
    }

    /// Archived report mails older than `days` in `archive`: their dates and subjects; deleted
    /// unless `dry_run`.
    async fn expunge_old(
        &self,
        session: &mut ImapSession,
        archive: &str,
        days: i64,
        dry_run: bool,
    ) -> anyhow::Result<Vec<(String, String)>> {
        if step("select archive", session.select(archive))
            .await?
            .is_err()
        {
            return Ok(Vec::new()); // no archive folder yet: nothing archived
        }
        let before = (chrono::Utc::now() - chrono::Duration::days(days))
            .format("%d-%b-%Y")
            .to_string();
        let mut uids: Vec<u32> = step("search", session.uid_search(format!("BEFORE {before}")))
            .await?
            .context("searching old archived mails")?
            .into_iter()
            .collect();
        uids.sort_unstable();
        uids.truncate(MAX_PER_POLL);
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let set = uids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let fetches: Vec<_> = step("fetch envelopes", async {
            session
                .uid_fetch(&set, "(UID INTERNALDATE ENVELOPE)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?
        .context("reading old archived mails")?;
        let listed = fetches
            .iter()
            .map(|f| {
                let date = f
                    .internal_date()
                    .map(|d| d.naive_utc().format("%Y-%m-%d").to_string())
                    .unwrap_or_default();
                let subject = f
                    .envelope()
                    .and_then(|e| e.subject.as_ref())
                    .map(|s| super::oauth::clean(&String::from_utf8_lossy(s)))
                    .unwrap_or_default();
                (date, subject)
            })
            .collect();
        if !dry_run {
            step("store", async {
                session
                    .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?
            .context("flagging old archived mails deleted")?;
            step("expunge", async {
                session
                    .uid_expunge(&set)
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?
            .context("expunging old archived mails")?;
        }
        Ok(listed)
    }

    /// What retention would delete from `m`'s archive now (dates and subjects), deleting
    /// nothing.
    pub async fn retention_preview(
        &self,
        store: &Store,
        m: &Mailbox,
    ) -> Result<Vec<(String, String)>, PollError> {
        let run = async {
            let (Some(days), Some(archive)) = (m.retention_days, m.archive_folder.as_deref())
            else {
                anyhow::bail!("retention is off: set an archive folder and a number of days");
            };
            if m.kind == "graph" {
                return super::graph::expire(self, store, m, archive, days, true).await;
            }
            let (mut session, _) = self.open(store, m).await?;
            let listed = self.expunge_old(&mut session, archive, days, true).await;
            let _ = step("logout", session.logout()).await;
            listed
        };
        run.await.map_err(PollError::classify)
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
                quarantine_oversize(store, &self.limits, &source, size).await?
            } else {
                let raw = self.fetch_body(session, uid).await?;
                import_mail(store, &self.limits, m, raw, source).await?
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

/// Records a mail above the input limit in the quarantine (its bytes stay in the mailbox).
pub(super) async fn quarantine_oversize(
    store: &Store,
    limits: &Limits,
    source: &str,
    size: usize,
) -> anyhow::Result<Status> {
    let reason = format!(
        "mail is {size} bytes, above the {}-byte input limit; left in the mailbox",
        limits.max_input
    );
    store
        .quarantine(&NewRejected {
            channel: "imap",
            source_name: source,
            received_at: now_unix(),
            reason: &reason,
            content_hash: &format!("imap-oversize:{source}"),
            raw_gz: &[],
            raw_size: size,
        })
        .await?;
    Ok(Status::Rejected)
}

/// Imports one mail of mailbox `m` (parsed off the async threads); what became of it.
pub(super) async fn import_mail(
    store: &Store,
    limits: &Limits,
    m: &Mailbox,
    raw: Vec<u8>,
    source: String,
) -> anyhow::Result<Status> {
    let limits = *limits;
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
    // Anyone can mail a reporting address: its reports register domains only when the mailbox
    // is set to; otherwise they wait in the quarantine.
    let domains = if m.auto_register {
        DomainPolicy::AutoRegister
    } else {
        DomainPolicy::KnownOnly
    };
    Ok(commit(store, vec![prepared], domains)
        .await?
        .remove(0)
        .status)
}

/// Polls mailbox `id` now, whatever its interval (unless another poll holds it), and records
/// the poll like a scheduled one; `None` when another poll is running.
pub async fn poll_now(
    store: &Store,
    poller: &ImapPoller,
    id: i64,
) -> anyhow::Result<Option<Result<PollOutcome, PollError>>> {
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
) -> anyhow::Result<Result<PollOutcome, PollError>> {
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
            let msg = format!("{e}");
            tracing::warn!(mailbox = ?m.name, error = ?msg, kind = e.kind.label(), authorization_needed = e.authorization_needed, "mailbox poll failed");
            if e.authorization_needed {
                store.set_mailbox_auth_required(m.id, true).await?;
            }
            store
                .finish_poll(m.id, now_unix(), Some((e.kind, &msg)), (0, 0, 0))
                .await?;
            Ok(Err(e))
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
