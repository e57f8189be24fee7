//! The browser half of the OpenID provider: the authorization endpoint (`/oidc/auth`, code
//! flow with PKCE), the login form's post, logout (`/oidc/logout`, RP-initiated) and token
//! revocation (`/oidc/revoke`).
//!
//! Redirect URIs match exactly (loopback URIs of native clients on any port, RFC 8252), and
//! an invalid client or redirect URI is shown as an error page, never redirected to. Public
//! clients must use PKCE with S256. The login form is bound to the browser that asked for it
//! (a cookie naming the pending request) and carries an anti-forgery value, so a form posted
//! from another site is refused.

use std::{sync::Arc, time::Duration};

use axum::{
    Form,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use crate::{
    grants::{AuthRequest, Code, GrantError, now},
    login_page::{self, Lang, LoginForm, TenantChoice, Text, urlencode},
    oidc::Provider,
    people::{LoginError, Person},
};

/// The cookie naming the browser's pending login request.
pub const REQUEST_COOKIE: &str = "tke_oidc_request";
/// The cookie of the browser's session at the provider.
pub const SESSION_COOKIE: &str = "tke_oidc_session";
/// How long a login form stays valid.
const REQUEST_TTL: Duration = Duration::from_secs(600);
/// How long an authorization code stays valid (RFC 6749 recommends at most 10 minutes).
const CODE_TTL: Duration = Duration::from_secs(60);

#[derive(Deserialize, Default)]
pub struct AuthQuery {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    code_challenge: String,
    #[serde(default)]
    code_challenge_method: String,
    #[serde(default)]
    prompt: String,
    #[serde(default)]
    lang: Option<String>,
    /// Preselects a tenant (dex's `connector_id`).
    #[serde(default, alias = "connector_id")]
    tenant: String,
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    apiserver::cookies::get(headers, name)
}

/// The provider's cookies: its own path, hidden from scripts, sent back from a provider's login.
fn provider_cookie(max_age: Option<Duration>) -> apiserver::cookies::Attributes<'static> {
    apiserver::cookies::Attributes {
        path: "/oidc",
        http_only: true,
        same_site: apiserver::cookies::SameSite::Lax,
        max_age,
    }
}

fn set_cookie(name: &str, value: &str, max_age: Option<Duration>) -> HeaderValue {
    apiserver::cookies::set(name, value, provider_cookie(max_age))
}

fn clear_cookie(name: &str) -> HeaderValue {
    apiserver::cookies::clear(name, provider_cookie(None))
}

/// `redirect_uri?key=value&...` (added to an existing query).
fn redirect_to(uri: &str, params: &[(&str, &str)]) -> Response {
    let mut target = uri.to_string();
    for (k, v) in params.iter().filter(|(_, v)| !v.is_empty()) {
        target.push(if target.contains('?') { '&' } else { '?' });
        target.push_str(&format!("{k}={}", urlencode(v)));
    }
    (StatusCode::SEE_OTHER, [(header::LOCATION, target), (header::CACHE_CONTROL, "no-store".into())]).into_response()
}

fn tenants(p: &Provider) -> Vec<TenantChoice> {
    let mut list: Vec<TenantChoice> = p
        .people
        .idps
        .filter(|_| true)
        .iter()
        .map(|idp| TenantChoice {
            id: idp.name().to_string(),
            name: idp.spec.name.clone(),
            upstream: idp.spec.type_ == api::auth::identity_provider::types::OIDC,
        })
        .collect();
    list.sort_by(|a, b| {
        (a.id != crate::bootstrap::DEFAULT_TENANT, &a.id).cmp(&(b.id != crate::bootstrap::DEFAULT_TENANT, &b.id))
    });
    list
}

/// `GET /oidc/auth`.
pub async fn authorize(State(p): State<Arc<Provider>>, headers: HeaderMap, Query(q): Query<AuthQuery>) -> Response {
    let lang = Lang::pick(q.lang.as_deref(), &headers);
    let Some(client) = p.clients.find(|c| c.spec.id == q.client_id) else {
        return login_page::error(lang, StatusCode::BAD_REQUEST, &format!("Unknown client {:?}.", q.client_id));
    };
    if !client.redirect_allowed(&q.redirect_uri) {
        return login_page::error(
            lang,
            StatusCode::BAD_REQUEST,
            &format!("The redirect URI {:?} is not registered for client {:?}.", q.redirect_uri, q.client_id),
        );
    }
    let fail = |error: &str, description: &str| {
        redirect_to(&q.redirect_uri, &[("error", error), ("error_description", description), ("state", &q.state)])
    };
    if q.response_type != "code" {
        return fail("unsupported_response_type", "only the authorization code flow (response_type=code) is supported");
    }
    if !q.scope.split(' ').any(|s| s == "openid") {
        return fail("invalid_scope", "the scope must include openid");
    }
    if !q.code_challenge.is_empty() && q.code_challenge_method != "S256" {
        return fail("invalid_request", "code_challenge_method must be S256");
    }
    if q.code_challenge.is_empty() && client.spec.public {
        return fail("invalid_request", "public clients must use PKCE (code_challenge with S256)");
    }
    // Single sign-on: a live session answers at once unless the client asks to log in again.
    if q.prompt != "login"
        && let Some(sid) = cookie(&headers, SESSION_COOKIE)
        && let Ok(Some(session)) = p.grants.session(&sid).await
    {
        let person: Person = (&session.person).into();
        if p.still_valid(&person) {
            let code = Code {
                client_id: q.client_id.clone(),
                redirect_uri: q.redirect_uri.clone(),
                nonce: q.nonce.clone(),
                scope: q.scope.clone(),
                code_challenge: q.code_challenge.clone(),
                person: session.person.clone(),
                session: crate::grants::digest(&sid),
                expires_at: now() + CODE_TTL.as_secs() as i64,
            };
            return match p.grants.issue_code(&code).await {
                Ok(c) => redirect_to(&q.redirect_uri, &[("code", &c), ("state", &q.state)]),
                Err(e) => fail("temporarily_unavailable", &e.to_string()),
            };
        }
    }
    if q.prompt == "none" {
        return fail("login_required", "no login session");
    }
    let request = AuthRequest {
        client_id: q.client_id.clone(),
        redirect_uri: q.redirect_uri.clone(),
        state: q.state.clone(),
        nonce: q.nonce.clone(),
        scope: q.scope.clone(),
        code_challenge: q.code_challenge.clone(),
        csrf: crate::grants::secret(),
        upstream: None,
        expires_at: now() + REQUEST_TTL.as_secs() as i64,
    };
    let id = match p.grants.begin(&request).await {
        Ok(id) => id,
        Err(e) => return login_page::error(lang, StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let choices = tenants(&p);
    let tenant = if q.tenant.is_empty() { crate::bootstrap::DEFAULT_TENANT } else { &q.tenant };
    let form = LoginForm { request: &id, csrf: &request.csrf, tenants: &choices, tenant, username: "", error: None };
    let mut resp = login_page::login(lang, &form, StatusCode::OK);
    resp.headers_mut().append(header::SET_COOKIE, set_cookie(REQUEST_COOKIE, &id, Some(REQUEST_TTL)));
    resp
}

#[derive(Deserialize, Default)]
pub struct LangQuery {
    #[serde(default)]
    req: String,
    #[serde(default)]
    lang: Option<String>,
}

/// `GET /oidc/auth/lang`: the same pending login in the other language.
pub async fn switch_language(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Response {
    let lang = Lang::pick(q.lang.as_deref(), &headers);
    match p.grants.request(&q.req).await {
        Ok(r) if cookie(&headers, REQUEST_COOKIE).as_deref() == Some(q.req.as_str()) => {
            let choices = tenants(&p);
            let form = LoginForm {
                request: &q.req,
                csrf: &r.csrf,
                tenants: &choices,
                tenant: crate::bootstrap::DEFAULT_TENANT,
                username: "",
                error: None,
            };
            login_page::login(lang, &form, StatusCode::OK)
        }
        _ => login_page::error(lang, StatusCode::BAD_REQUEST, lang.text(Text::Expired)),
    }
}

#[derive(Deserialize, Default)]
pub struct LoginPost {
    #[serde(default)]
    req: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// `POST /oidc/auth/login`.
pub async fn login_post(
    State(p): State<Arc<Provider>>,
    source: crate::oidc::Source,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
    Form(f): Form<LoginPost>,
) -> Response {
    let lang = Lang::pick(q.lang.as_deref(), &headers);
    let expired = || login_page::error(lang, StatusCode::FORBIDDEN, lang.text(Text::Expired));
    let bound =
        cookie(&headers, REQUEST_COOKIE).is_some_and(|c| crate::grants::constant_eq(c.as_bytes(), f.req.as_bytes()));
    let Ok(request) = p.grants.request(&f.req).await else { return expired() };
    if !bound || !crate::grants::constant_eq(request.csrf.as_bytes(), f.csrf.as_bytes()) {
        return expired();
    }
    let choices = tenants(&p);
    let again = |error: String, status: StatusCode| {
        let form = LoginForm {
            request: &f.req,
            csrf: &request.csrf,
            tenants: &choices,
            tenant: &f.tenant,
            username: &f.username,
            error: Some(error),
        };
        login_page::login(lang, &form, status)
    };
    let person =
        match p.people.login_from(&p.grants, crate::oidc::ip_of(&source), &f.tenant, &f.username, &f.password).await {
            Ok(person) => person,
            Err(LoginError::Locked(until)) => {
                return again(format!("{} {until}", lang.text(Text::Locked)), StatusCode::UNAUTHORIZED);
            }
            Err(LoginError::Unavailable(e)) => {
                tracing::warn!(tenant = %f.tenant, error = %e, "login: the identity provider is unavailable");
                return again(lang.text(Text::Unavailable).to_string(), StatusCode::SERVICE_UNAVAILABLE);
            }
            Err(LoginError::SourceBlocked(until)) => {
                return again(format!("{} {until}", lang.text(Text::Locked)), StatusCode::TOO_MANY_REQUESTS);
            }
            Err(_) => return again(lang.text(Text::Wrong).to_string(), StatusCode::UNAUTHORIZED),
        };
    complete(&p, &f.req, &person).await.unwrap_or_else(|_| expired())
}

/// Finishes a pending login for `person`: a session, a code, the redirect to the client.
pub async fn complete(p: &Provider, request_id: &str, person: &Person) -> Result<Response, GrantError> {
    let request = p.grants.finish_request(request_id).await?;
    let session = p.grants.start_session(person, p.session_ttl).await?;
    let code = Code {
        client_id: request.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        nonce: request.nonce.clone(),
        scope: request.scope.clone(),
        code_challenge: request.code_challenge.clone(),
        person: person.into(),
        session: crate::grants::digest(&session),
        expires_at: now() + CODE_TTL.as_secs() as i64,
    };
    let code = p.grants.issue_code(&code).await?;
    let mut resp = redirect_to(&request.redirect_uri, &[("code", &code), ("state", &request.state)]);
    resp.headers_mut().append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, &session, Some(p.session_ttl)));
    resp.headers_mut().append(header::SET_COOKIE, clear_cookie(REQUEST_COOKIE));
    Ok(resp)
}

#[derive(Deserialize, Default)]
pub struct LogoutQuery {
    #[serde(default)]
    id_token_hint: String,
    #[serde(default)]
    post_logout_redirect_uri: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    lang: Option<String>,
}

/// `GET /oidc/logout` (RP-initiated logout): ends the session and revokes the refresh tokens
/// issued in it; returns to the client when its post-logout URI is one of its redirect URIs.
pub async fn logout(State(p): State<Arc<Provider>>, headers: HeaderMap, Query(q): Query<LogoutQuery>) -> Response {
    let lang = Lang::pick(q.lang.as_deref(), &headers);
    if let Some(sid) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = p.grants.end_session(&sid).await
    {
        return login_page::error(lang, StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
    }
    // The client: named, or the audience of the ID token hint (signature checked; it may have expired).
    let client_id = if q.client_id.is_empty() {
        p.audience_of_hint(&q.id_token_hint).unwrap_or_default()
    } else {
        q.client_id.clone()
    };
    let mut resp = match p.clients.find(|c| c.spec.id == client_id) {
        Some(c) if !q.post_logout_redirect_uri.is_empty() && c.redirect_allowed(&q.post_logout_redirect_uri) => {
            redirect_to(&q.post_logout_redirect_uri, &[("state", &q.state)])
        }
        _ => login_page::signed_out(lang),
    };
    resp.headers_mut().append(header::SET_COOKIE, clear_cookie(SESSION_COOKIE));
    resp
}

#[derive(Deserialize, Default)]
pub struct UpstreamQuery {
    #[serde(default)]
    req: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    lang: Option<String>,
}

/// `GET /oidc/auth/upstream`: the pending login goes on at an `oidc` tenant's provider.
pub async fn to_upstream(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    Query(q): Query<UpstreamQuery>,
) -> Response {
    let lang = Lang::pick(q.lang.as_deref(), &headers);
    let bound =
        cookie(&headers, REQUEST_COOKIE).is_some_and(|c| crate::grants::constant_eq(c.as_bytes(), q.req.as_bytes()));
    if !bound || p.grants.request(&q.req).await.is_err() {
        return login_page::error(lang, StatusCode::FORBIDDEN, lang.text(Text::Expired));
    }
    let Some(idp) = p.people.idps.get(&q.tenant).filter(|i| i.spec.type_ == api::auth::identity_provider::types::OIDC)
    else {
        return login_page::error(
            lang,
            StatusCode::BAD_REQUEST,
            &format!("Tenant {:?} does not log in through an OpenID provider.", q.tenant),
        );
    };
    let upstream = match p.people.upstream(&idp).await {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(tenant = %q.tenant, error = %e, "login: the upstream OpenID provider is unavailable");
            return login_page::error(lang, StatusCode::SERVICE_UNAVAILABLE, lang.text(Text::Unavailable));
        }
    };
    let pkce = crate::upstream::Pkce::new();
    let nonce = crate::grants::secret();
    let leg =
        crate::grants::UpstreamLeg { tenant: q.tenant.clone(), verifier: pkce.verifier.clone(), nonce: nonce.clone() };
    if p.grants.set_upstream(&q.req, leg).await.is_err() {
        return login_page::error(lang, StatusCode::FORBIDDEN, lang.text(Text::Expired));
    }
    let target = upstream.authorization_url(&q.req, &nonce, &pkce.challenge);
    (StatusCode::SEE_OTHER, [(header::LOCATION, target), (header::CACHE_CONTROL, "no-store".into())]).into_response()
}

#[derive(Deserialize, Default)]
pub struct CallbackQuery {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// `GET /oidc/callback`: an `oidc` tenant's provider sends the browser back with a code.
pub async fn upstream_callback(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let lang = Lang::pick(None, &headers);
    let bound =
        cookie(&headers, REQUEST_COOKIE).is_some_and(|c| crate::grants::constant_eq(c.as_bytes(), q.state.as_bytes()));
    let request = match p.grants.request(&q.state).await {
        Ok(r) if bound => r,
        _ => return login_page::error(lang, StatusCode::FORBIDDEN, lang.text(Text::Expired)),
    };
    let Some(leg) = request.upstream.clone() else {
        return login_page::error(lang, StatusCode::FORBIDDEN, lang.text(Text::Expired));
    };
    if !q.error.is_empty() {
        return login_page::error(
            lang,
            StatusCode::UNAUTHORIZED,
            &format!("The tenant's provider refused the login: {} {}", q.error, q.error_description),
        );
    }
    let Some(idp) = p.people.idps.get(&leg.tenant) else {
        return login_page::error(lang, StatusCode::BAD_REQUEST, &format!("Tenant {:?} no longer exists.", leg.tenant));
    };
    let person = match p.people.upstream(&idp).await {
        Ok(upstream) => upstream.exchange(&q.code, &leg.verifier, &leg.nonce).await,
        Err(e) => {
            tracing::warn!(tenant = %leg.tenant, error = %e, "login: the upstream OpenID provider is unavailable");
            return login_page::error(lang, StatusCode::SERVICE_UNAVAILABLE, lang.text(Text::Unavailable));
        }
    };
    match person {
        Ok(person) => complete(&p, &q.state, &person)
            .await
            .unwrap_or_else(|_| login_page::error(lang, StatusCode::FORBIDDEN, lang.text(Text::Expired))),
        Err(e) => {
            tracing::warn!(tenant = %leg.tenant, error = %e, "login at the upstream OpenID provider failed");
            login_page::error(
                lang,
                StatusCode::UNAUTHORIZED,
                &format!("The login at the tenant's provider could not be completed: {e}"),
            )
        }
    }
}

/// `GET /oidc/static/login.css`.
pub async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")],
        login_page::STYLESHEET,
    )
        .into_response()
}
