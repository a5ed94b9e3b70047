//! `/api/v1/orgs` (instance admins: organizations, their users, tokens and domains) and
//! `/api/v1/claims` (an organization's claims of domains and their DNS proof).

use app::auth::{CurrentUser, Role};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::routes::Routes;
use super::AppState;
use crate::service::accounts::Membership;
use crate::service::orgs::challenge_record;
use crate::service::{Actor, Admin, Editor, InstanceAdmin, ServiceError, Viewer};
use crate::store::Claim;

/// Routes of organizations and claims.
pub fn routes() -> Routes {
    Routes::new()
        .get("/api/v1/orgs", list)
        .post("/api/v1/orgs", add)
        .post("/api/v1/orgs/{org}/domains", add_domain)
        .post("/api/v1/orgs/{org}/users", add_user)
        .post("/api/v1/orgs/{org}/tokens", add_token)
        .get("/api/v1/claims", claims)
        .post("/api/v1/claims", claim)
        .post("/api/v1/claims/{domain}/verify", verify)
        .delete("/api/v1/claims/{domain}", unclaim)
}

/// A claim as the API shows it, with the record to publish while it waits for proof.
pub fn claim_json(c: &Claim) -> serde_json::Value {
    let (name, value) = challenge_record(c);
    serde_json::json!({
        "domain": c.domain,
        "organization_id": c.org_id,
        "verified": c.verified_at.is_some(),
        "verified_at": c.verified_at,
        "vouched_by": c.vouched_by,
        "checked_at": c.checked_at,
        "last_error": c.last_error,
        "record": { "name": name, "type": "TXT", "value": value },
    })
}

async fn list(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
) -> Result<Response, ServiceError> {
    let by = Actor::<InstanceAdmin>::authorize(&user)?;
    let orgs = state.services.orgs.list(&by).await?;
    Ok(Json(
        orgs.iter()
            .map(|o| serde_json::json!({"id": o.id, "name": o.name, "created_at": o.created_at}))
            .collect::<Vec<_>>(),
    )
    .into_response())
}

/// Body of `POST /api/v1/orgs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    name: String,
}

async fn add(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Json(body): Json<NewOrg>,
) -> Result<Response, ServiceError> {
    let by = Actor::<InstanceAdmin>::authorize(&user)?;
    let o = state.services.orgs.add(&by, &body.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"id": o.id, "name": o.name})),
    )
        .into_response())
}

/// Body of `POST /api/v1/orgs/{org}/domains` and `POST /api/v1/claims`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewClaim {
    domain: String,
    /// Vouch for it (instance admins): seen at once, no DNS proof.
    #[serde(default)]
    verified: bool,
}

async fn add_domain(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(org): Path<String>,
    Json(body): Json<NewClaim>,
) -> Result<Response, ServiceError> {
    let admin = Actor::<InstanceAdmin>::authorize(&user)?;
    let by = Actor::<Editor>::authorize(admin.user())?;
    let c = state
        .services
        .orgs
        .claim(&by, &body.domain, Some(&org), body.verified)
        .await?;
    Ok((StatusCode::CREATED, Json(claim_json(&c))).into_response())
}

/// Body of `POST /api/v1/orgs/{org}/users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    email: String,
    password: String,
    role: String,
    #[serde(default)]
    instance_admin: bool,
}

fn role_of(s: &str) -> Result<Role, ServiceError> {
    Role::parse(s)
        .ok_or_else(|| ServiceError::Invalid("role must be viewer, editor or admin".into()))
}

async fn add_user(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(org): Path<String>,
    Json(body): Json<NewUser>,
) -> Result<Response, ServiceError> {
    let admin = Actor::<InstanceAdmin>::authorize(&user)?;
    let by = Actor::<Admin>::authorize(admin.user())?;
    let membership = Membership {
        org: Some(org),
        instance_admin: body.instance_admin,
    };
    let id = state
        .services
        .accounts
        .add_member(
            &by,
            &body.email,
            &body.password,
            role_of(&body.role)?,
            &membership,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({"id": id}))).into_response())
}

/// Body of `POST /api/v1/orgs/{org}/tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
    role: String,
}

async fn add_token(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(org): Path<String>,
    Json(body): Json<NewToken>,
) -> Result<Response, ServiceError> {
    let admin = Actor::<InstanceAdmin>::authorize(&user)?;
    let by = Actor::<Admin>::authorize(admin.user())?;
    let membership = Membership {
        org: Some(org),
        instance_admin: false,
    };
    let token = state
        .services
        .accounts
        .create_token_in(&by, &body.name, role_of(&body.role)?, &membership)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"token": token})),
    )
        .into_response())
}

async fn claims(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Viewer>::authorize(&user)?;
    let claims = state.services.orgs.claims(&by).await?;
    Ok(Json(claims.iter().map(claim_json).collect::<Vec<_>>()).into_response())
}

async fn claim(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Json(body): Json<NewClaim>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Editor>::authorize(&user)?;
    let c = state
        .services
        .orgs
        .claim(&by, &body.domain, None, body.verified)
        .await?;
    Ok((StatusCode::CREATED, Json(claim_json(&c))).into_response())
}

async fn verify(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(domain): Path<String>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Editor>::authorize(&user)?;
    let c = state.services.orgs.verify(&by, &domain).await?;
    Ok(Json(claim_json(&c)).into_response())
}

async fn unclaim(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(domain): Path<String>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Admin>::authorize(&user)?;
    state.services.orgs.unclaim(&by, &domain).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
