//! Reports coming in over HTTP: files uploaded by signed-in users, and reports POSTed by
//! sending mail servers to the open receiver (RFC 8460 §3). Each input is prepared within the
//! budget of untrusted input, stored in one transaction, and wakes the alert loop when it
//! brought something new.

use std::sync::Arc;

use super::{Actor, Editor, Outcome, ServiceError};
use crate::ingest::{self, now_unix, InputOutcome, Limits, Prepared, Status};
use crate::store::{DomainPolicy, Store};

/// Rejected bodies from the open receiver are quarantined only up to this size: the endpoint
/// is open to anyone, so it must not become free storage. Enough to see what was sent.
pub const RECEIVER_QUARANTINE_KEEP: usize = 64 * 1024;

/// Intake use cases.
#[derive(Clone)]
pub struct Intake {
    store: Store,
    limits: Limits,
    domains: DomainPolicy,
    wake: Arc<tokio::sync::Notify>,
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
        Self {
            store,
            limits,
            domains,
            wake,
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
        let limits = self.limits;
        let prepared = tokio::task::spawn_blocking(move || {
            ingest::prepare(
                &body,
                None,
                Some(&name),
                source,
                "upload",
                &limits,
                now_unix(),
            )
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "upload preparation failed");
            ServiceError::Unavailable
        })?;
        self.commit(prepared, self.domains).await
    }

    /// A report POSTed to the open receiver: anyone may send, so only domains already
    /// registered are stored, and a rejected body is kept only up to
    /// [`RECEIVER_QUARANTINE_KEEP`] bytes.
    pub async fn receive(&self, r: Received) -> Outcome<InputOutcome> {
        let limits = self.limits;
        let source = format!("https from {}", r.client);
        let prepared = tokio::task::spawn_blocking(move || {
            let mut p = ingest::prepare(
                &r.body,
                Some(&r.media_type),
                None,
                source,
                "https",
                &limits,
                now_unix(),
            );
            if let Some(raw) = p.raw_if_rejected.as_mut() {
                raw.truncate(RECEIVER_QUARANTINE_KEEP);
            }
            p
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "report preparation task failed");
            ServiceError::Unavailable
        })?;
        self.commit(prepared, DomainPolicy::KnownOnly).await
    }

    async fn commit(&self, prepared: Prepared, domains: DomainPolicy) -> Outcome<InputOutcome> {
        let mut outcomes = ingest::commit(&self.store, vec![prepared], domains).await?;
        let o = outcomes.remove(0);
        if o.status == Status::Imported {
            self.wake.notify_one();
        }
        Ok(o)
    }
}
