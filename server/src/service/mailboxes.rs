//! Mailboxes tlswatch polls for report mail (admin): adding, listing, polling now.

use super::{Actor, Admin, Outcome, ServiceError};
use crate::store::{Mailbox, Store};

/// Mailbox use cases, for every adapter.
#[derive(Clone)]
pub struct Mailboxes {
    store: Store,
    poller: Option<crate::ingest::imap::ImapPoller>,
}

impl Mailboxes {
    /// Mailboxes of `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            poller: None,
        }
    }

    /// The same, testing and polling with `poller` (the web's "test connection" and "poll now").
    pub fn with_poller(mut self, poller: Option<crate::ingest::imap::ImapPoller>) -> Self {
        self.poller = poller;
        self
    }

    fn poller(&self) -> Outcome<&crate::ingest::imap::ImapPoller> {
        self.poller
            .as_ref()
            .ok_or_else(|| ServiceError::NotFound("this server does not poll mailboxes".into()))
    }

    /// Mailbox `id`, when the caller's organization owns it (an instance admin: any).
    async fn one(&self, by: &Actor<Admin>, id: i64) -> Outcome<Mailbox> {
        self.store
            .mailboxes()
            .await?
            .into_iter()
            .find(|m| m.id == id && by.reaches(m.org_id))
            .ok_or_else(|| ServiceError::NotFound("no such mailbox".into()))
    }

    /// Signs in and selects the folder without importing; what happened, in words.
    pub async fn test(&self, by: &Actor<Admin>, id: i64) -> Outcome<Result<String, String>> {
        let m = self.one(by, id).await?;
        let result = match self.poller()?.test(&self.store, &m).await {
            Ok(n) => {
                if m.auth_required {
                    self.store.set_mailbox_auth_required(id, false).await?;
                }
                Ok(format!("Signed in; {n} message(s) in {}.", m.folder))
            }
            Err(e) => {
                if e.authorization_needed {
                    self.store.set_mailbox_auth_required(id, true).await?;
                }
                Err(e.to_string())
            }
        };
        super::audit(
            &self.store,
            by,
            "mailbox.test",
            &format!(
                "mailbox {id}: {}",
                if result.is_ok() { "ok" } else { "failed" }
            ),
        )
        .await;
        Ok(result)
    }

    /// Polls one mailbox now and records it like a scheduled poll; what happened, in words.
    pub async fn poll_one(&self, by: &Actor<Admin>, id: i64) -> Outcome<Result<String, String>> {
        self.one(by, id).await?;
        let result = match crate::ingest::imap::poll_now(&self.store, self.poller()?, id).await? {
            None => Err("a poll of this mailbox is running; try again in a moment".into()),
            Some(Ok(o)) => Ok(format!(
                "Polled: {} imported, {} already imported, {} rejected.",
                o.imported, o.duplicates, o.rejected
            )),
            Some(Err(e)) => Err(e.to_string()),
        };
        super::audit(
            &self.store,
            by,
            "mailbox.poll",
            &format!(
                "mailbox {id}: {}",
                if result.is_ok() { "ok" } else { "failed" }
            ),
        )
        .await;
        Ok(result)
    }

    /// Every mailbox as the admin page shows it (no password).
    pub async fn view(&self, by: &Actor<Admin>) -> Outcome<Vec<app::mailboxes::MailboxView>> {
        let totals = self.store.mailbox_totals().await?;
        Ok(self
            .list(by)
            .await?
            .into_iter()
            .map(|m| {
                let t = totals.iter().find(|t| t.id == m.id);
                let state = state(&m);
                app::mailboxes::MailboxView {
                    kind: m.kind,
                    auth: m.auth,
                    tenant: m.oauth.tenant,
                    authority: m.oauth.authority,
                    token_url: m.oauth.token_url,
                    authorize_url: m.oauth.authorize_url,
                    client_id: m.oauth.client_id,
                    scope: m.oauth.scope,
                    sasl: m.oauth.sasl,
                    signed_in: !m.refresh_token.is_empty(),
                    retention_days: m.retention_days,
                    id: m.id,
                    name: m.name,
                    host: m.host,
                    port: m.port,
                    tls: m.tls_mode,
                    username: m.username,
                    password_set: !m.password.is_empty(),
                    folder: m.folder,
                    archive_folder: m.archive_folder.unwrap_or_default(),
                    rejected_folder: m.rejected_folder.unwrap_or_default(),
                    poll_seconds: m.poll_seconds,
                    enabled: m.enabled,
                    auto_register: m.auto_register,
                    last_poll: m.last_poll_at.map(super::views::utc),
                    last_success: t.and_then(|t| t.last_success_at).map(super::views::utc),
                    last_error: m.last_error,
                    state: state.into(),
                    imported: t.map_or(0, |t| t.imported),
                    duplicates: t.map_or(0, |t| t.duplicates),
                    rejected: t.map_or(0, |t| t.rejected),
                }
            })
            .collect())
    }

    /// Starts "sign in" for an authorization-code mailbox: the provider's URL to send the
    /// browser to; the browser comes back to `redirect` (see [`Self::finish_sign_in`]).
    pub async fn start_sign_in(
        &self,
        by: &Actor<Admin>,
        id: i64,
        redirect: &str,
    ) -> Outcome<String> {
        let m = self.one(by, id).await?;
        if m.auth != "authorization_code" {
            return Err(ServiceError::Invalid(
                "only mailboxes with the sign-in method (authorization code) are signed in".into(),
            ));
        }
        let a = self
            .poller()?
            .tokens
            .authorize(&m, redirect)
            .map_err(ServiceError::Invalid)?;
        self.store
            .start_mailbox_authorization(&a.state, id, &a.verifier, crate::ingest::now_unix())
            .await?;
        super::audit(
            &self.store,
            by,
            "mailbox.sign_in.start",
            &format!("mailbox {id}"),
        )
        .await;
        Ok(a.url)
    }

    /// Finishes a sign-in: the code traded for a refresh token, kept sealed; the mailbox id.
    /// An unknown or expired `state` is refused (it is the CSRF guard of the flow).
    pub async fn finish_sign_in(
        &self,
        by: &Actor<Admin>,
        state: &str,
        code: &str,
        redirect: &str,
    ) -> Outcome<i64> {
        let Some((id, verifier)) = self
            .store
            .take_mailbox_authorization(state, crate::ingest::now_unix())
            .await?
        else {
            return Err(ServiceError::Invalid(
                "this sign-in is unknown or older than an hour: start it again from the mailboxes page".into(),
            ));
        };
        let m = self.one(by, id).await?;
        let refresh = self
            .poller()?
            .tokens
            .finish(&m, code, &verifier, redirect)
            .await
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        self.store.set_mailbox_refresh_token(id, &refresh).await?;
        super::audit(
            &self.store,
            by,
            "mailbox.sign_in",
            &format!("mailbox {id} {}", m.name),
        )
        .await;
        Ok(id)
    }

    /// What opt-in retention would delete from a mailbox's archive now (date, subject), deleting
    /// nothing.
    pub async fn retention_preview(
        &self,
        by: &Actor<Admin>,
        id: i64,
    ) -> Outcome<Result<Vec<(String, String)>, String>> {
        let m = self.one(by, id).await?;
        Ok(self
            .poller()?
            .retention_preview(&self.store, &m)
            .await
            .map_err(|e| e.to_string()))
    }

    /// The caller's organization's mailboxes (an instance admin: every one; passwords
    /// included: adapters never show them).
    pub async fn list(&self, by: &Actor<Admin>) -> Outcome<Vec<Mailbox>> {
        let mut all = self.store.mailboxes().await?;
        all.retain(|m| by.reaches(m.org_id));
        Ok(all)
    }

    /// Adds a mailbox after checking its settings (audited; the password is stored sealed).
    pub async fn add(&self, by: &Actor<Admin>, mut m: Mailbox) -> Outcome<i64> {
        validate(&m).map_err(ServiceError::Invalid)?;
        m.org_id = by.org();
        let id = self.store.add_mailbox(&m).await?;
        super::audit(
            &self.store,
            by,
            "mailbox.add",
            &format!(
                "mailbox {id} {} ({}@{}:{})",
                m.name, m.username, m.host, m.port
            ),
        )
        .await;
        Ok(id)
    }

    /// Changes a mailbox (an empty password keeps the stored one; audited).
    pub async fn update(&self, by: &Actor<Admin>, m: Mailbox) -> Outcome<()> {
        let stored = self.one(by, m.id).await?;
        let check = Mailbox {
            password: if m.password.is_empty() {
                stored.password
            } else {
                m.password.clone()
            },
            ..m.clone()
        };
        validate(&check).map_err(ServiceError::Invalid)?;
        if !self.store.update_mailbox(&m).await? {
            return Err(ServiceError::NotFound("no such mailbox".into()));
        }
        super::audit(
            &self.store,
            by,
            "mailbox.update",
            &format!(
                "mailbox {} {} ({}@{}:{}){}",
                m.id,
                m.name,
                m.username,
                m.host,
                m.port,
                if m.password.is_empty() {
                    ""
                } else {
                    ", new password"
                }
            ),
        )
        .await;
        Ok(())
    }

    /// Deletes a mailbox (audited).
    pub async fn delete(&self, by: &Actor<Admin>, id: i64) -> Outcome<()> {
        self.one(by, id).await?;
        if !self.store.delete_mailbox(id).await? {
            return Err(ServiceError::NotFound("no such mailbox".into()));
        }
        super::audit(&self.store, by, "mailbox.delete", &format!("mailbox {id}")).await;
        Ok(())
    }

    /// Polls every enabled mailbox once with `poller`; how many were polled and how many
    /// answered with an error.
    pub async fn poll_now(
        &self,
        by: &Actor<Admin>,
        poller: &crate::ingest::imap::ImapPoller,
    ) -> Outcome<(usize, usize)> {
        let n = crate::ingest::imap::try_execute_once(&self.store, poller).await?;
        let failed = self
            .store
            .mailboxes()
            .await?
            .iter()
            .filter(|m| by.reaches(m.org_id) && m.enabled && m.last_error.is_some())
            .count();
        super::audit(
            &self.store,
            by,
            "mailbox.poll",
            &format!("{n} polled, {failed} with errors"),
        )
        .await;
        Ok((n, failed))
    }
}

/// The state people see: `off`, `authorization needed`, `failing`, `not polled yet`, `ok`.
pub fn state(m: &Mailbox) -> &'static str {
    match (m.enabled, m.auth_required, &m.last_error, m.last_poll_at) {
        (false, ..) => "off",
        (true, true, ..) => "authorization needed",
        (true, false, Some(_), _) => "failing",
        (true, false, None, None) => "not polled yet",
        (true, false, None, Some(_)) => "ok",
    }
}

/// Checks a mailbox's settings (the secret as it will be stored).
pub fn validate(m: &Mailbox) -> Result<(), String> {
    if m.name.trim().is_empty() || m.name.len() > 100 {
        return Err("a name of 1 to 100 characters is required".into());
    }
    match m.kind.as_str() {
        "imap" => {
            if m.host.trim().is_empty() || m.host.len() > 253 || m.host.contains(['/', ' ', '@']) {
                return Err("the IMAP host must be a host name or address".into());
            }
            if m.port == 0 {
                return Err("the port must be 1 to 65535".into());
            }
            if !matches!(m.tls_mode.as_str(), "implicit" | "starttls") {
                return Err("tls must be implicit or starttls".into());
            }
        }
        "graph" => {
            let ok = url::Url::parse(&m.host).is_ok_and(|u| {
                matches!(u.scheme(), "https" | "http") && u.host().is_some() && u.path() == "/"
            });
            if !ok {
                return Err("the Graph base URL must be like https://graph.microsoft.com (national clouds: https://graph.microsoft.us, https://microsoftgraph.chinacloudapi.cn)".into());
            }
            if !matches!(m.auth.as_str(), "client_credentials" | "authorization_code") {
                return Err("Microsoft Graph mailboxes sign in with client credentials (app-only) or by signing in once".into());
            }
        }
        _ => return Err("kind must be imap or graph".into()),
    }
    if m.username.trim().is_empty() || m.username.len() > 320 {
        return Err("the user name (the mailbox's address) is required".into());
    }
    let o = &m.oauth;
    let url_ok = |u: &str| {
        u.is_empty() || url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "https" | "http"))
    };
    for (what, u) in [
        ("token URL", &o.token_url),
        ("authorization URL", &o.authorize_url),
        ("authority", &o.authority),
    ] {
        if !url_ok(u) || u.len() > 500 {
            return Err(format!("the {what} must be an https:// URL"));
        }
    }
    if o.tenant.len() > 100 || o.tenant.contains(['/', ' ', '?', '#']) {
        return Err("the tenant is a directory id or a domain (no spaces or slashes)".into());
    }
    if o.client_id.len() > 200 || o.scope.len() > 1000 {
        return Err("the client id or the scopes are too long".into());
    }
    if !matches!(o.sasl.as_str(), "" | "xoauth2" | "oauthbearer") {
        return Err("the SASL mechanism must be xoauth2 or oauthbearer".into());
    }
    match m.auth.as_str() {
        "password" => {
            if m.kind == "graph" || m.password.is_empty() {
                return Err("a user name and a password are required".into());
            }
        }
        "client_credentials" => {
            if o.client_id.trim().is_empty() || m.password.is_empty() {
                return Err(
                    "client credentials need the application (client) id and a client secret"
                        .into(),
                );
            }
            if o.tenant.is_empty() && o.token_url.is_empty() {
                return Err(
                    "client credentials need the tenant (Microsoft 365) or a token URL".into(),
                );
            }
        }
        "service_account" => {
            if m.kind != "imap" {
                return Err("Google service accounts read Gmail over IMAP".into());
            }
            crate::ingest::oauth::service_account_key(&m.password)?;
        }
        "authorization_code" => {
            if o.client_id.trim().is_empty() || o.authorize_url.is_empty() {
                return Err("signing in needs the client id and the authorization URL".into());
            }
            if o.tenant.is_empty() && o.token_url.is_empty() {
                return Err(
                    "signing in needs the token URL (or, for Microsoft, the tenant)".into(),
                );
            }
        }
        _ => {
            return Err(
                "auth must be password, client_credentials, service_account or authorization_code"
                    .into(),
            )
        }
    }
    if let Some(days) = m.retention_days {
        if !(1..=3650).contains(&days) {
            return Err("retention must be 1 to 3650 days".into());
        }
        if m.archive_folder.is_none() {
            return Err("retention deletes archived mails: set an archive folder first".into());
        }
    }
    for (what, f) in [
        ("folder", Some(&m.folder)),
        ("archive folder", m.archive_folder.as_ref()),
        ("rejected folder", m.rejected_folder.as_ref()),
    ] {
        if let Some(f) = f {
            if f.is_empty() || f.len() > 200 || f.chars().any(char::is_control) {
                return Err(format!(
                    "the {what} name must be 1 to 200 printable characters"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Mailbox {
        Mailbox {
            name: "m".into(),
            host: "imap.example".into(),
            port: 993,
            tls_mode: "implicit".into(),
            username: "u".into(),
            password: "p".into(),
            folder: "INBOX".into(),
            kind: "imap".into(),
            auth: "password".into(),
            ..Mailbox::default()
        }
    }

    #[test]
    fn each_method_needs_its_settings() {
        assert_eq!(validate(&ok()), Ok(()));
        let cc = Mailbox {
            auth: "client_credentials".into(),
            ..ok()
        };
        assert!(validate(&cc).unwrap_err().contains("client) id"));
        let mut cc = cc;
        cc.oauth.client_id = "app".into();
        assert!(validate(&cc).unwrap_err().contains("tenant"));
        cc.oauth.tenant = "contoso.example".into();
        assert_eq!(validate(&cc), Ok(()));
        cc.oauth.sasl = "plain".into();
        assert!(validate(&cc).unwrap_err().contains("SASL"));

        let graph = Mailbox {
            kind: "graph".into(),
            host: "https://graph.microsoft.com/".into(),
            ..ok()
        };
        assert!(validate(&graph).unwrap_err().contains("client credentials"));
        let bad_base = Mailbox {
            host: "https://graph.microsoft.com/v1.0/users".into(),
            auth: "client_credentials".into(),
            ..graph.clone()
        };
        assert!(validate(&bad_base).unwrap_err().contains("Graph base URL"));

        let code = Mailbox {
            auth: "authorization_code".into(),
            password: String::new(),
            ..ok()
        };
        assert!(validate(&code).unwrap_err().contains("authorization URL"));
    }

    #[test]
    fn retention_needs_an_archive_and_a_sane_period() {
        let mut m = ok();
        m.retention_days = Some(30);
        assert!(validate(&m).unwrap_err().contains("archive folder"));
        m.archive_folder = Some("Archive".into());
        assert_eq!(validate(&m), Ok(()));
        m.retention_days = Some(0);
        assert!(validate(&m).unwrap_err().contains("1 to 3650"));
    }

    #[test]
    fn states_read_in_order_of_urgency() {
        let mut m = ok();
        m.enabled = true;
        assert_eq!(state(&m), "not polled yet");
        m.last_poll_at = Some(1);
        assert_eq!(state(&m), "ok");
        m.last_error = Some("x".into());
        assert_eq!(state(&m), "failing");
        m.auth_required = true;
        assert_eq!(state(&m), "authorization needed");
        m.enabled = false;
        assert_eq!(state(&m), "off");
    }
}
