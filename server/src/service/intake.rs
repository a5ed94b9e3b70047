//! Reports coming in over HTTP: files uploaded by signed-in users, and reports POSTed by
//! sending mail servers to the open receiver (RFC 8460 §3). Each input is prepared within the
//! budget of untrusted input (in parallel, on blocking threads), then written by one group
//! committer: inputs that arrive together share one transaction, and each request is
//! answered only after the transaction holding its report has committed and is durable (as
//! with `synchronous=FULL` on SQLite: the write-ahead log is fsynced, see
//! [`Store::durable`], while the next group is written). The alert loop is woken when
//! something new arrived.

use std::sync::Arc;
use std::time::Instant;

use super::{Actor, Editor, Outcome, ServiceError};
use crate::ingest::{self, now_unix, InputOutcome, Limits, Prepared, Status};
use crate::store::{Backend, DomainPolicy, Store};
use crate::telemetry::commits;

/// Rejected bodies from the open receiver are quarantined only up to this size: the endpoint
/// is open to anyone, so it must not become free storage. Enough to see what was sent.
pub const RECEIVER_QUARANTINE_KEEP: usize = 64 * 1024;

/// Most inputs one group commit writes in one transaction.
const GROUP_MAX: usize = 256;

/// Most bytes of prepared inputs (their reports' JSON and compressed copies) waiting for the
/// group commit, all channels together. The receiver bounds the requests being read and
/// prepared at once by count; once prepared, a report waits for its transaction under this
/// bound instead, so more reports share a transaction than there are preparation slots
/// (200 uploaders: groups of ~100 instead of ~32) while memory stays bounded whatever their
/// sizes. A larger input waits until enough of the queue has been written.
pub const QUEUED_BYTES: usize = 256 * 1024 * 1024;

/// One input waiting for the group commit, and where its outcome goes.
type Waiting = (
    Prepared,
    DomainPolicy,
    tokio::sync::oneshot::Sender<Outcome<InputOutcome>>,
);

/// Intake use cases.
#[derive(Clone)]
pub struct Intake {
    store: Store,
    limits: Limits,
    domains: DomainPolicy,
    wake: Arc<tokio::sync::Notify>,
    /// The group committer: inputs that arrive together are written in one transaction.
    group: Option<tokio::sync::mpsc::Sender<Waiting>>,
    /// Bytes of prepared inputs waiting for the group commit ([`QUEUED_BYTES`]).
    queued: Arc<tokio::sync::Semaphore>,
}

/// Writes what is waiting, in as few transactions as there are domain policies among it, and
/// answers each input only after the transaction holding it has committed.
async fn group_commit(
    rt: tokio::runtime::Handle,
    store: Store,
    wake: Arc<tokio::sync::Notify>,
    mut rx: tokio::sync::mpsc::Receiver<Waiting>,
) {
    while let Some(first) = rx.recv().await {
        let mut waiting = vec![first];
        while waiting.len() < GROUP_MAX {
            match rx.try_recv() {
                Ok(w) => waiting.push(w),
                Err(_) => break,
            }
        }
        let (known, auto): (Vec<Waiting>, Vec<Waiting>) = waiting
            .into_iter()
            .partition(|w| w.1 == DomainPolicy::KnownOnly);
        for (policy, group) in [
            (DomainPolicy::KnownOnly, known),
            (DomainPolicy::AutoRegister, auto),
        ] {
            if group.is_empty() {
                continue;
            }
            let (batch, answers): (Vec<Prepared>, Vec<_>) =
                group.into_iter().map(|(p, _, tx)| (p, tx)).unzip();
            let n = batch.len();
            let outcomes = match write_timed(&store, batch, policy).await {
                Ok(outcomes) => outcomes,
                Err(e) => {
                    // Nothing of the group is written: every input in it is answered 503.
                    tracing::error!(error = %format!("{e:#}"), inputs = n, "storing a group of inputs failed");
                    for answer in answers {
                        let _ = answer.send(Err(ServiceError::Unavailable));
                    }
                    continue;
                }
            };
            // Answered once durable, while the next group is written (one fsync covers the
            // groups committed before it began).
            let (store, wake) = (store.clone(), wake.clone());
            rt.spawn(async move {
                if let Err(e) = store.durable().await {
                    // Written but perhaps not on disk: answered 503, so that the sender
                    // sends again (and is answered "duplicate" once durable).
                    tracing::error!(error = %format!("{e:#}"), inputs = n, "making a group of inputs durable failed");
                    for answer in answers {
                        let _ = answer.send(Err(ServiceError::Unavailable));
                    }
                    return;
                }
                if outcomes.iter().any(|o| o.status == Status::Imported) {
                    wake.notify_one();
                }
                for (o, answer) in outcomes.into_iter().zip(answers) {
                    let _ = answer.send(Ok(o));
                }
            });
        }
    }
}

/// [`ingest::write`] (committed, not yet durable), counted in the group commit's histograms
/// (`/metrics`).
async fn write_timed(
    store: &Store,
    batch: Vec<Prepared>,
    policy: DomainPolicy,
) -> anyhow::Result<Vec<InputOutcome>> {
    let (n, started) = (batch.len(), Instant::now());
    let written = ingest::write(store, batch, policy).await;
    commits::TRANSACTION.observe(started.elapsed().as_secs_f64());
    commits::INPUTS.observe(n as f64);
    written
}

/// Where an input came from, as the receiver records it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The body as sent.
    pub body: bytes::Bytes,
    /// Its media type's essence (`application/tlsrpt+gzip`, ...).
    pub media_type: String,
    /// The client address, for the record.
    pub client: String,
}

impl Intake {
    /// Intake into `store` within `limits`; uploads register unknown domains per `domains`.
    pub fn new(
        store: Store,
        limits: Limits,
        domains: DomainPolicy,
        wake: Arc<tokio::sync::Notify>,
    ) -> Self {
        // Outside a runtime (tools, tests without one) each input commits on its own.
        let group = tokio::runtime::Handle::try_current().ok().and_then(|rt| {
            let (tx, rx) = tokio::sync::mpsc::channel(GROUP_MAX * 4);
            let committer = group_commit(rt.clone(), store.clone(), wake.clone(), rx);
            if store.backend() == Backend::Sqlite {
                // On a thread of its own: every statement of a group commit is a hand-off to
                // the SQLite connection's thread and back, and on the shared runtime each way
                // back queued behind the requests' tasks (under the receiver's load `BEGIN`
                // took 1 ms instead of 0.06, with every report of the group waiting). Its
                // SQLite connections are threads of their own too, so nothing it uses is tied
                // to either runtime. (PostgreSQL's sockets are, so there it stays.)
                let spawned = std::thread::Builder::new()
                    .name("tlswatch-commit".into())
                    .spawn(move || {
                        match tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                        {
                            Ok(own) => own.block_on(committer),
                            Err(e) => {
                                tracing::error!(error = %e, "starting the group committer failed")
                            }
                        }
                    });
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "starting the group committer's thread failed; inputs are written one by one");
                    return None;
                }
            } else {
                rt.spawn(committer);
            }
            Some(tx)
        });
        Self {
            store,
            limits,
            domains,
            wake,
            group,
            queued: Arc::new(tokio::sync::Semaphore::new(QUEUED_BYTES)),
        }
    }

    /// The input limits in effect.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// A file uploaded by `by`, named `name` by the browser.
    pub async fn upload(
        &self,
        by: &Actor<Editor>,
        body: bytes::Bytes,
        name: &str,
    ) -> Outcome<InputOutcome> {
        let name = crate::domain::report::truncate(name, 255).to_owned();
        let source = format!("upload by {}: {name}", by.name());
        let prepared = self
            .prepare(body, None, Some(name), source, "upload")
            .await?;
        self.commit(prepared, self.domains).await
    }

    /// A report POSTed to the open receiver, first half: extracts and parses it; a rejected
    /// body is kept only up to [`RECEIVER_QUARANTINE_KEEP`] bytes. The receiver lets the next
    /// request be read once this is done, then calls [`Intake::commit_received`].
    pub async fn prepare_received(&self, r: Received) -> Outcome<Prepared> {
        let source = format!("https from {}", r.client);
        let mut p = self
            .prepare(r.body, Some(r.media_type), None, source, "https")
            .await?;
        if let Some(raw) = p.raw_if_rejected.as_mut() {
            raw.truncate(RECEIVER_QUARANTINE_KEEP);
        }
        Ok(p)
    }

    /// Extracts and parses one input within its budget: a small input right here
    /// ([`ingest::prepare_quick`], bounded work), a larger one on a blocking thread.
    async fn prepare(
        &self,
        body: bytes::Bytes,
        media_type: Option<String>,
        name: Option<String>,
        source: String,
        channel: &'static str,
    ) -> Outcome<Prepared> {
        let limits = self.limits;
        if let Some(p) = ingest::prepare_quick(
            &body,
            media_type.as_deref(),
            name.as_deref(),
            &source,
            channel,
            &limits,
            now_unix(),
        ) {
            return Ok(p);
        }
        tokio::task::spawn_blocking(move || {
            ingest::prepare(
                &body,
                media_type.as_deref(),
                name.as_deref(),
                source,
                channel,
                &limits,
                now_unix(),
            )
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, channel, "preparing an input failed");
            ServiceError::Unavailable
        })
    }

    /// A report POSTed to the open receiver, second half: anyone may send, so only domains
    /// already registered are stored; answers once its transaction has committed.
    pub async fn commit_received(&self, prepared: Prepared) -> Outcome<InputOutcome> {
        self.commit(prepared, DomainPolicy::KnownOnly).await
    }

    async fn commit(&self, prepared: Prepared, domains: DomainPolicy) -> Outcome<InputOutcome> {
        let started = Instant::now();
        let outcome = self.commit_now(prepared, domains).await;
        commits::WAIT.observe(started.elapsed().as_secs_f64());
        outcome
    }

    /// Writes one input: through the group committer when there is one, else on its own.
    async fn commit_now(&self, prepared: Prepared, domains: DomainPolicy) -> Outcome<InputOutcome> {
        if let Some(group) = &self.group {
            // Held until the answer: the input's bytes count against the queue until written.
            let weight = queued_weight(&prepared);
            let _queued = self
                .queued
                .acquire_many(weight)
                .await
                .map_err(|_| ServiceError::Unavailable)?;
            let (tx, rx) = tokio::sync::oneshot::channel();
            if group.send((prepared, domains, tx)).await.is_ok() {
                return rx.await.unwrap_or(Err(ServiceError::Unavailable));
            }
            return Err(ServiceError::Unavailable);
        }
        let mut outcomes = write_timed(&self.store, vec![prepared], domains).await?;
        self.store.durable().await?;
        let o = outcomes.remove(0);
        if o.status == Status::Imported {
            self.wake.notify_one();
        }
        Ok(o)
    }
}

/// What a prepared input weighs in the commit queue: its reports' JSON and compressed copies
/// and any rejected bytes kept, at least 1 KiB, at most the whole queue.
fn queued_weight(p: &Prepared) -> u32 {
    let bytes: usize = p
        .reports
        .iter()
        .map(|r| r.raw_size + r.raw_gz.len())
        .sum::<usize>()
        + p.raw_if_rejected.as_ref().map_or(0, Vec::len);
    u32::try_from(bytes.clamp(1024, QUEUED_BYTES)).unwrap_or(u32::MAX)
}
