//! Microsoft Graph mailboxes, for tenants without IMAP: app-only access (client credentials)
//! to one user or shared mailbox, following Graph's published API (v1.0):
//!
//! - folders by well-known name (`inbox`, `archive`, …) or by display name, matched without
//!   regard to case as Exchange does, each level listed with `mailFolders` / `childFolders`,
//!   created when an archive or rejected folder is missing;
//! - unread messages of the folder listed (`$filter=isRead eq false`), pages followed through
//!   `@odata.nextLink` (only on Graph's own origin: the token is never sent elsewhere);
//! - each message read as MIME (`/messages/{id}/$value`, bounded by the input limit);
//! - then moved (`/move`) to the archive or rejected folder, or marked read;
//! - `429` and `503` waited out as `Retry-After` says (bounded), a refused token renewed once;
//! - opt-in retention deletes archived messages older than N days (`DELETE`, which Exchange
//!   turns into a move to Deleted Items).

use std::time::Duration;

use anyhow::{bail, Context};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::imap::{
    import_mail, quarantine_oversize, ImapPoller, PollOutcome, SignInRefused, MAX_PER_POLL,
};
use super::oauth::{check_url, clean, read_bounded, MAX_ANSWER};
use super::Status;
use crate::store::{Mailbox, Store};

/// Waits for throttling per request.
const MAX_RETRIES: u32 = 4;
/// Longest single wait asked by `Retry-After` that is honoured.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Graph's well-known folder names (usable in place of ids).
const WELL_KNOWN: [&str; 12] = [
    "inbox",
    "archive",
    "junkemail",
    "deleteditems",
    "sentitems",
    "drafts",
    "outbox",
    "clutter",
    "conversationhistory",
    "msgfolderroot",
    "recoverableitemsdeletions",
    "scheduled",
];

struct Graph<'a> {
    poller: &'a ImapPoller,
    store: &'a Store,
    m: &'a Mailbox,
    /// `{base}/v1.0/users/{mailbox}`.
    user: url::Url,
    origin: url::Origin,
}

/// `/` inside a path segment, and everything else a URL path must not carry, encoded.
fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl<'a> Graph<'a> {
    fn new(poller: &'a ImapPoller, store: &'a Store, m: &'a Mailbox) -> anyhow::Result<Self> {
        let base = check_url(&m.host, poller.tokens.allow_private).map_err(anyhow::Error::msg)?;
        let user = url::Url::parse(&format!(
            "{}/v1.0/users/{}",
            base.as_str().trim_end_matches('/'),
            segment(&m.username)
        ))?;
        Ok(Self {
            poller,
            store,
            m,
            origin: user.origin(),
            user,
        })
    }

    /// `{user}/{path}` with query pairs.
    fn url(&self, path: &str, query: &[(&str, &str)]) -> url::Url {
        let mut u = self.user.clone();
        u.set_path(&format!("{}/{path}", self.user.path()));
        if !query.is_empty() {
            u.query_pairs_mut().extend_pairs(query);
        }
        u
    }

    /// One request with the bearer token: a refused token renewed once, throttling waited
    /// out; the status and the body (at most `max` bytes; `None` when larger).
    async fn send(
        &self,
        method: Method,
        url: &url::Url,
        body: Option<&Value>,
        max: usize,
    ) -> anyhow::Result<(StatusCode, Option<Vec<u8>>)> {
        if url.origin() != self.origin {
            bail!("Graph pointed to another origin ({url}); not followed");
        }
        let mut renewed = false;
        let mut waits = 0;
        loop {
            let token = self.poller.tokens.access_token(self.store, self.m).await?;
            let mut req = self
                .poller
                .tokens
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token);
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req
                .send()
                .await
                .with_context(|| format!("Graph {method} {}", url.path()))?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !renewed {
                renewed = true;
                self.poller.tokens.forget(self.m.id);
                continue;
            }
            if (status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::SERVICE_UNAVAILABLE)
                && waits < MAX_RETRIES
            {
                waits += 1;
                let wait = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map_or(Duration::from_secs(2), Duration::from_secs)
                    .min(MAX_WAIT);
                tracing::info!(mailbox = %self.m.name, status = status.as_u16(), wait_seconds = wait.as_secs(), "Graph throttled; waiting");
                tokio::time::sleep(wait).await;
                continue;
            }
            return match read_bounded(resp, max).await {
                Ok(b) => Ok((status, Some(b))),
                Err(e) if e.contains("larger than") => Ok((status, None)),
                Err(e) => Err(anyhow::Error::msg(e)),
            };
        }
    }

    /// A request whose answer must be a success; its JSON.
    async fn json(
        &self,
        method: Method,
        url: &url::Url,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let (status, bytes) = self.send(method.clone(), url, body, MAX_ANSWER).await?;
        let bytes = bytes.with_context(|| format!("Graph answer to {} too large", url.path()))?;
        if !status.is_success() {
            return Err(self.failure(status, &bytes, url));
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).with_context(|| format!("Graph answer to {}", url.path()))
    }

    /// The error of a failed request in words (Graph's code and message).
    fn failure(&self, status: StatusCode, body: &[u8], url: &url::Url) -> anyhow::Error {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let code = v["error"]["code"].as_str().unwrap_or("");
        let message = v["error"]["message"].as_str().unwrap_or("");
        let what = clean(&format!(
            "Graph {} on {}: {code} {message}",
            status.as_u16(),
            url.path()
        ));
        match status {
            StatusCode::UNAUTHORIZED => anyhow::Error::new(SignInRefused(format!(
                "{what} (the token was refused, also a fresh one)"
            ))),
            StatusCode::FORBIDDEN => anyhow::Error::new(SignInRefused(format!(
                "{what}: grant the application Mail.ReadWrite (application) and allow it this mailbox (Exchange application RBAC)"
            ))),
            _ => anyhow::Error::msg(what),
        }
    }

    /// Every item of a collection, following `@odata.nextLink` (at most `limit` items).
    async fn all(&self, first: url::Url, limit: usize) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            let page = self.json(Method::GET, &url, None).await?;
            if let Some(items) = page["value"].as_array() {
                out.extend(items.iter().cloned());
            }
            if out.len() >= limit {
                out.truncate(limit);
                break;
            }
            if let Some(link) = page["@odata.nextLink"].as_str() {
                next = Some(url::Url::parse(link).context("Graph's nextLink")?);
            }
        }
        Ok(out)
    }

    /// The id of folder `path` (`/` separates levels); created when missing and `create`.
    async fn folder(&self, path: &str, create: bool) -> anyhow::Result<String> {
        let mut parent: Option<String> = None;
        for (i, name) in path.split('/').filter(|s| !s.is_empty()).enumerate() {
            let lower = name.to_lowercase();
            if i == 0 && WELL_KNOWN.contains(&lower.as_str()) {
                parent = Some(lower);
                continue;
            }
            let list = match &parent {
                None => self.url("mailFolders", &[("$top", "100")]),
                Some(p) => self.url(
                    &format!("mailFolders/{}/childFolders", segment(p)),
                    &[("$top", "100")],
                ),
            };
            let folders = self.all(list.clone(), 10_000).await?;
            let found = folders.iter().find(|f| {
                f["displayName"]
                    .as_str()
                    .is_some_and(|d| d.to_lowercase() == lower)
            });
            let id = match found {
                Some(f) => f["id"].as_str().context("a folder without id")?.to_owned(),
                None if create => {
                    let made = self
                        .json(
                            Method::POST,
                            &list_without_query(&list),
                            Some(&json!({ "displayName": name })),
                        )
                        .await
                        .with_context(|| format!("creating folder {name}"))?;
                    made["id"]
                        .as_str()
                        .context("a folder without id")?
                        .to_owned()
                }
                None => bail!("the mailbox has no folder {path:?}"),
            };
            parent = Some(id);
        }
        parent.with_context(|| format!("{path:?} names no folder"))
    }
}

fn list_without_query(u: &url::Url) -> url::Url {
    let mut u = u.clone();
    u.set_query(None);
    u
}

/// Signs in and reads the folder's message count, importing nothing.
pub async fn test(p: &ImapPoller, store: &Store, m: &Mailbox) -> anyhow::Result<u32> {
    let g = Graph::new(p, store, m)?;
    let id = g.folder(&m.folder, false).await?;
    let f = g
        .json(
            Method::GET,
            &g.url(
                &format!("mailFolders/{}", segment(&id)),
                &[("$select", "totalItemCount")],
            ),
            None,
        )
        .await?;
    Ok(f["totalItemCount"].as_u64().unwrap_or(0) as u32)
}

/// Polls once: unread messages of the folder imported, then moved or marked read.
pub async fn poll(p: &ImapPoller, store: &Store, m: &Mailbox) -> anyhow::Result<PollOutcome> {
    let g = Graph::new(p, store, m)?;
    let folder = g.folder(&m.folder, false).await?;
    let archive = match &m.archive_folder {
        Some(f) => Some(g.folder(f, true).await?),
        None => None,
    };
    let rejected = match &m.rejected_folder {
        Some(f) => Some(g.folder(f, true).await?),
        None => None,
    };
    let messages = g
        .all(
            g.url(
                &format!("mailFolders/{}/messages", segment(&folder)),
                &[
                    ("$filter", "isRead eq false"),
                    ("$select", "id,subject,receivedDateTime"),
                    ("$top", "50"),
                ],
            ),
            MAX_PER_POLL,
        )
        .await?;
    let mut outcome = PollOutcome::default();
    for msg in messages {
        let id = msg["id"]
            .as_str()
            .context("a message without id")?
            .to_owned();
        let source = format!("graph {}/{} {}", m.username, m.folder, clean(&id));
        let url = g.url(&format!("messages/{}/$value", segment(&id)), &[]);
        let (status, body) = g.send(Method::GET, &url, None, p.limits.max_input).await?;
        let status = match (status.is_success(), body) {
            (true, Some(raw)) => import_mail(store, &p.limits, m, raw, source).await?,
            (true, None) => {
                quarantine_oversize(store, &p.limits, &source, p.limits.max_input + 1).await?
            }
            (false, body) => return Err(g.failure(status, &body.unwrap_or_default(), &url)),
        };
        match status {
            Status::Imported => outcome.imported += 1,
            Status::Duplicate => outcome.duplicates += 1,
            Status::Rejected => outcome.rejected += 1,
        }
        let target = if status == Status::Rejected {
            rejected.as_ref()
        } else {
            archive.as_ref()
        };
        match target {
            Some(dest) => {
                g.json(
                    Method::POST,
                    &g.url(&format!("messages/{}/move", segment(&id)), &[]),
                    Some(&json!({ "destinationId": dest })),
                )
                .await
                .context("moving a message")?;
            }
            None => {
                g.json(
                    Method::PATCH,
                    &g.url(&format!("messages/{}", segment(&id)), &[]),
                    Some(&json!({ "isRead": true })),
                )
                .await
                .context("marking a message read")?;
            }
        }
    }
    if let (Some(days), Some(archive)) = (m.retention_days, m.archive_folder.as_deref()) {
        expire(p, store, m, archive, days, false).await?;
    }
    Ok(outcome)
}

/// Archived messages older than `days`: their dates and subjects; deleted unless `dry_run`.
pub async fn expire(
    p: &ImapPoller,
    store: &Store,
    m: &Mailbox,
    archive: &str,
    days: i64,
    dry_run: bool,
) -> anyhow::Result<Vec<(String, String)>> {
    let g = Graph::new(p, store, m)?;
    let folder = g.folder(archive, true).await?;
    let before = (chrono::Utc::now() - chrono::Duration::days(days))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let filter = format!("receivedDateTime lt {before}");
    let old = g
        .all(
            g.url(
                &format!("mailFolders/{}/messages", segment(&folder)),
                &[
                    ("$filter", filter.as_str()),
                    ("$select", "id,subject,receivedDateTime"),
                    ("$top", "50"),
                ],
            ),
            MAX_PER_POLL,
        )
        .await?;
    let mut listed = Vec::new();
    for msg in &old {
        listed.push((
            msg["receivedDateTime"]
                .as_str()
                .map(|d| d.chars().take(10).collect())
                .unwrap_or_default(),
            clean(msg["subject"].as_str().unwrap_or("")),
        ));
        if !dry_run {
            let id = msg["id"].as_str().context("a message without id")?;
            g.json(
                Method::DELETE,
                &g.url(&format!("messages/{}", segment(id)), &[]),
                None,
            )
            .await
            .context("deleting an old archived message")?;
        }
    }
    Ok(listed)
}
