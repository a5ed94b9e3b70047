//! A local HTTPS server answering the Microsoft Graph v1.0 requests tlswatch makes, as
//! Microsoft's documentation describes them (Graph itself cannot be reached from here):
//! `mailFolders` and `childFolders` listed in pages joined by `@odata.nextLink`, folders
//! created with `POST`, messages of a folder filtered on `isRead`, `receivedDateTime`,
//! `/$value` as MIME, `/move` (201 with the moved message), `PATCH` of `isRead`, `DELETE`,
//! `429` with `Retry-After` once on a page, and `401` for a bearer token the OAuth server's
//! introspection does not call active.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::pki::TestCa;

/// A message in the fake mailbox.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub folder: String,
    pub subject: String,
    pub received: String,
    pub read: bool,
    pub mime: Vec<u8>,
}

/// What the server holds and saw.
#[derive(Debug, Default)]
pub struct GraphState {
    pub user: String,
    /// (id, parent id or "" for top level, display name)
    pub folders: Vec<(String, String, String)>,
    pub messages: Vec<Message>,
    /// Requests as `METHOD path?query`.
    pub log: Vec<String>,
    /// 429s served.
    pub throttled: usize,
    pub introspection: String,
    pub accepted_tokens: usize,
}

/// The running server.
pub struct Graph {
    pub base: String,
    pub ca_file: tempfile::NamedTempFile,
    pub state: Arc<Mutex<GraphState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Graph {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Shared = Arc<Mutex<GraphState>>;

async fn authorized(s: &Shared, headers: &HeaderMap) -> bool {
    let Some(token) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let url = s.lock().unwrap().introspection.clone();
    let seen: Value = reqwest::Client::new()
        .post(url)
        .basic_auth("dovecot", Some("dovecot-secret"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ok = seen["active"] == true
        && seen["scope"]
            .as_str()
            .is_some_and(|s| s.contains("https://graph.microsoft.com/.default"));
    if ok {
        s.lock().unwrap().accepted_tokens += 1;
    }
    ok
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token validation failure."}})),
    )
        .into_response()
}

fn page(
    items: Vec<Value>,
    skip: usize,
    top: usize,
    next_base: &str,
    q: &HashMap<String, String>,
) -> Value {
    let chunk: Vec<Value> = items.iter().skip(skip).take(top).cloned().collect();
    let mut v = json!({ "value": chunk });
    if skip + top < items.len() {
        let mut next = url::Url::parse(next_base).unwrap();
        {
            let mut pairs = next.query_pairs_mut();
            for (k, val) in q {
                if k != "$skip" {
                    pairs.append_pair(k, val);
                }
            }
            pairs.append_pair("$skip", &(skip + top).to_string());
        }
        v["@odata.nextLink"] = json!(next.to_string());
    }
    v
}

fn log(s: &Shared, method: &str, uri: &axum::http::Uri) {
    s.lock().unwrap().log.push(format!(
        "{method} {}",
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("")
    ));
}

async fn folders(
    State(s): State<Shared>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Path(p): Path<Vec<(String, String)>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    log(&s, "GET", &uri);
    if !authorized(&s, &headers).await {
        return unauthorized();
    }
    let parent = p
        .iter()
        .find(|(k, _)| k == "parent")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let st = s.lock().unwrap();
    let parent = if parent == "msgfolderroot" {
        String::new()
    } else {
        parent
    };
    let items: Vec<Value> = st
        .folders
        .iter()
        .filter(|f| f.1 == parent)
        .map(|f| json!({"id": f.0, "displayName": f.2, "parentFolderId": f.1}))
        .collect();
    // Two folders per page, so paging is exercised.
    let skip = q.get("$skip").and_then(|v| v.parse().ok()).unwrap_or(0);
    let base = format!("https://localhost:{}{}", uri_port(&headers), uri.path());
    Json(page(items, skip, 2, &base, &q)).into_response()
}

fn uri_port(headers: &HeaderMap) -> String {
    headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.rsplit_once(':').map(|(_, p)| p.to_owned()))
        .unwrap_or_default()
}

async fn create_folder(
    State(s): State<Shared>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Path(p): Path<Vec<(String, String)>>,
    Json(body): Json<Value>,
) -> Response {
    log(&s, "POST", &uri);
    if !authorized(&s, &headers).await {
        return unauthorized();
    }
    let parent = p
        .iter()
        .find(|(k, _)| k == "parent")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let name = body["displayName"].as_str().unwrap_or("").to_owned();
    let mut st = s.lock().unwrap();
    let id = format!("AAMkFolder{}", st.folders.len() + 1);
    st.folders.push((id.clone(), parent, name.clone()));
    (
        StatusCode::CREATED,
        Json(json!({"id": id, "displayName": name})),
    )
        .into_response()
}

fn folder_id(st: &GraphState, id: &str) -> String {
    // Well-known names stand for the ids of those folders.
    st.folders
        .iter()
        .find(|f| f.0 == id || f.2.to_lowercase() == id)
        .map(|f| f.0.clone())
        .unwrap_or_else(|| id.to_owned())
}

async fn folder(
    State(s): State<Shared>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Path((_user, id)): Path<(String, String)>,
) -> Response {
    log(&s, "GET", &uri);
    if !authorized(&s, &headers).await {
        return unauthorized();
    }
    let st = s.lock().unwrap();
    let fid = folder_id(&st, &id);
    let n = st.messages.iter().filter(|m| m.folder == fid).count();
    Json(json!({"id": fid, "totalItemCount": n})).into_response()
}

async fn messages(
    State(s): State<Shared>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Path((_user, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    log(&s, "GET", &uri);
    if !authorized(&s, &headers).await {
        return unauthorized();
    }
    let skip: usize = q.get("$skip").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut st = s.lock().unwrap();
    // The second page is throttled once.
    if skip > 0 && st.throttled == 0 {
        st.throttled += 1;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            Json(json!({"error": {"code": "ApplicationThrottled", "message": "Application is over its MailboxConcurrency limit."}})),
        )
            .into_response();
    }
    let fid = folder_id(&st, &id);
    let filter = q.get("$filter").cloned().unwrap_or_default();
    let items: Vec<Value> = st
        .messages
        .iter()
        .filter(|m| m.folder == fid)
        .filter(|m| match filter.as_str() {
            "isRead eq false" => !m.read,
            f if f.starts_with("receivedDateTime lt ") => {
                m.received.as_str() < f.trim_start_matches("receivedDateTime lt ")
            }
            "" => true,
            other => panic!("unexpected $filter {other}"),
        })
        .map(|m| json!({"id": m.id, "subject": m.subject, "receivedDateTime": m.received}))
        .collect();
    let base = format!("https://localhost:{}{}", uri_port(&headers), uri.path());
    Json(page(items, skip, 2, &base, &q)).into_response()
}

async fn value(
    State(s): State<Shared>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Path((_user, id)): Path<(String, String)>,
) -> Response {
    log(&s, "GET", &uri);
    if !authorized(&s, &headers).await {
        return unauthorized();
    }
    let st = s.lock().unwrap();
    match st.messages.iter().find(|m| m.id == id) {
        Some(m) => ([("content-type", "text/plain")], m.mime.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn message(
    State(s): State<Shared>,
    headers: HeaderMap,
    method: axum::http::Method,
    uri: axum::http::Uri,
    Path((_user, id)): Path<(String, String)>,
    body: Option<Json<Value>>,
) -> Response {
    log(&s, method.as_str(), &uri);
    if !authorized(&s, &headers).await {
        return unauthorized();
    }
    let mut st = s.lock().unwrap();
    let Some(pos) = st.messages.iter().position(|m| m.id == id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if method == axum::http::Method::DELETE {
        st.messages.remove(pos);
        return StatusCode::NO_CONTENT.into_response();
    }
    if let Some(Json(b)) = body {
        if let Some(r) = b["isRead"].as_bool() {
            st.messages[pos].read = r;
        }
    }
    Json(json!({"id": id})).into_response()
}

async fn move_message(
    State(s): State<Shared>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Path((_user, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    log(&s, "POST", &uri);
    if !authorized(&s, &headers).await {
        return unauthorized();
    }
    let mut st = s.lock().unwrap();
    let dest = folder_id(&st, body["destinationId"].as_str().unwrap_or(""));
    let Some(m) = st.messages.iter_mut().find(|m| m.id == id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    m.folder = dest;
    // Exchange gives a moved message a new id.
    m.id = format!("{}-moved", m.id);
    (StatusCode::CREATED, Json(json!({"id": m.id}))).into_response()
}

impl Graph {
    /// Starts the server for `user`, checking tokens at `introspection`.
    pub async fn start(user: &str, introspection: &str) -> Self {
        let ca = TestCa::new("tlswatch Graph test CA");
        let leaf = ca.leaf(&["localhost"], -1, 30);
        let ca_file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(ca_file.path(), &ca.cert_pem).unwrap();
        let state: Shared = Arc::new(Mutex::new(GraphState {
            user: user.to_owned(),
            introspection: introspection.to_owned(),
            folders: vec![
                ("AAMkInbox".into(), String::new(), "Inbox".into()),
                ("AAMkDrafts".into(), String::new(), "Drafts".into()),
                ("AAMkSent".into(), String::new(), "Sent Items".into()),
                (
                    "AAMkProcessed".into(),
                    String::new(),
                    "Processed Reports".into(),
                ),
            ],
            ..GraphState::default()
        }));
        let app = Router::new()
            .route(
                "/v1.0/users/{user}/mailFolders",
                get(folders).post(create_folder),
            )
            .route(
                "/v1.0/users/{user}/mailFolders/{parent}/childFolders",
                get(folders).post(create_folder),
            )
            .route("/v1.0/users/{user}/mailFolders/{id}", get(folder))
            .route(
                "/v1.0/users/{user}/mailFolders/{id}/messages",
                get(messages),
            )
            .route("/v1.0/users/{user}/messages/{id}/$value", get(value))
            .route(
                "/v1.0/users/{user}/messages/{id}",
                axum::routing::patch(message).delete(message),
            )
            .route("/v1.0/users/{user}/messages/{id}/move", post(move_message))
            .with_state(state.clone());
        let chain = rustls_pemfile::certs(&mut leaf.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = rustls_pemfile::private_key(&mut leaf.key_pem.as_bytes())
            .unwrap()
            .unwrap();
        let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let app = app.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self {
            base: format!("https://localhost:{port}/"),
            ca_file,
            state,
            task,
        }
    }

    /// Puts a message in folder `folder` (an id).
    pub fn add(&self, id: &str, folder: &str, subject: &str, received: &str, mime: &[u8]) {
        self.state.lock().unwrap().messages.push(Message {
            id: id.into(),
            folder: folder.into(),
            subject: subject.into(),
            received: received.into(),
            read: false,
            mime: mime.to_vec(),
        });
    }
}
