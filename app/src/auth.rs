//! Who is calling: roles and the signed-in user, as the UI and server functions see them.

use serde::{Deserialize, Serialize};

/// Roles, ordered by power: every role can do what the ones before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Read only.
    Viewer,
    /// Domains, rules, uploads, silences, acknowledgements.
    Editor,
    /// Users, tokens, channels, mailboxes, settings.
    Admin,
}

impl Role {
    /// `viewer`, `editor`, `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    /// Parses `viewer`, `editor`, `admin`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// All roles, least powerful first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Editor, Role::Admin];
}

/// The authenticated caller of a request (a user's session or an API token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    /// User id (0 for API tokens).
    pub id: i64,
    /// E-mail of the user, or `token:NAME`.
    pub email: String,
    /// What the caller may do inside its organization.
    pub role: Role,
    /// The organization the caller belongs to (1: the default organization).
    #[serde(default = "default_org")]
    pub org: i64,
    /// Whether the caller administers the whole instance: sees every organization's domains
    /// and manages organizations.
    #[serde(default)]
    pub instance_admin: bool,
}

fn default_org() -> i64 {
    1
}

impl CurrentUser {
    /// Whether the caller has at least `role`.
    pub fn can(&self, role: Role) -> bool {
        self.role >= role
    }
}

/// `s` for a query parameter's value: unreserved characters and `/` as they are, everything
/// else percent-encoded.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `next` when it is a path on this site to go to after signing in; `None` for anything that
/// could lead elsewhere: absolute URLs, scheme-relative `//host`, `/\host` (browsers read a
/// backslash as a slash), control characters, or an overlong value.
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && next.len() <= 2048
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control());
    ok.then_some(next)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_same_site_paths_are_followed() {
        for good in ["/", "/domains/example.com?days=30", "/a//b"] {
            assert_eq!(safe_next(good), Some(good));
        }
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "/\\/evil.example",
            "/ok\r\nSet-Cookie: x",
            "/tab\there",
            "evil.example",
            "",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }
}

/// The CSP nonce of the current response, set by the server's security middleware in the
/// request extensions and used by the shell for the hydration scripts.
#[derive(Debug, Clone)]
pub struct CspNonce(pub String);

/// The caller of the current request, from the request extensions the server's auth
/// middleware filled in.
#[cfg(feature = "ssr")]
pub fn current_user() -> Option<CurrentUser> {
    let parts = leptos::prelude::use_context::<http::request::Parts>()?;
    parts.extensions.get::<CurrentUser>().cloned()
}

/// A backend error as a server function error with a fitting status: 503 when the server failed
/// (the message says to see the server log), 400 for what the caller can fix.
#[cfg(feature = "ssr")]
pub fn failed(e: String) -> leptos::prelude::ServerFnError {
    let code = if e.ends_with("see the server log") {
        http::StatusCode::SERVICE_UNAVAILABLE
    } else {
        http::StatusCode::BAD_REQUEST
    };
    if let Some(r) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        r.set_status(code);
    }
    leptos::prelude::ServerFnError::new(e)
}

/// The caller, if it has at least `role`; otherwise an error the UI shows (401 or 403).
#[cfg(feature = "ssr")]
pub fn require(role: Role) -> Result<CurrentUser, leptos::prelude::ServerFnError> {
    let status = |code: http::StatusCode| {
        if let Some(r) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            r.set_status(code);
        }
    };
    match current_user() {
        Some(u) if u.can(role) => Ok(u),
        Some(_) => {
            status(http::StatusCode::FORBIDDEN);
            Err(leptos::prelude::ServerFnError::new(format!(
                "this needs the {} role",
                role.as_str()
            )))
        }
        None => {
            status(http::StatusCode::UNAUTHORIZED);
            Err(leptos::prelude::ServerFnError::new("sign in first"))
        }
    }
}
