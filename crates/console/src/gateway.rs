//! The gateway's routes (reference 9.1) under `/apis/gateway.tkestack.io/v1/` and `/callback`:
//! the browser's login through the OpenID provider (authorization code with PKCE; the console
//! is a public client), the password grant of TKEStack's `tokens` route, renewal, logout, who
//! the session is, which components run, and the platform's information.
//!
//! A session is three cookies: `tke` (the ID token; `HttpOnly`, `SameSite=Lax`, so a link from
//! elsewhere still opens the console logged in), `tke_refresh` (the refresh token; `HttpOnly`,
//! `SameSite=Strict`) and `tke_csrf` (the CSRF token the page reads and repeats; see
//! `apiserver::session`). All are `Secure` and last as long as a browser session may.

use std::{sync::Arc, time::Duration};

use apimachinery::ApiError;
use apiserver::{
    ApiServer, Context, UserInfo,
    cookies::{self, Attributes, SameSite},
    http::error_response,
    session::{self, SessionCookie},
};
use axum::{
    Extension, Json, Router,
    body::Body,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, Response, StatusCode, Uri, header},
    response::{IntoResponse, Redirect},
    routing::{get, post},
};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::relying_party::{RelyingParty, RpError, Tokens, random_token};

/// The gateway's API prefix (TKEStack's).
pub const PREFIX: &str = "/apis/gateway.tkestack.io/v1";
/// Cookies of logins under way, one per login (`tke_login_<state prefix>`), so two tabs sent
/// to the login at once both come back.
const LOGIN_COOKIE_PREFIX: &str = "tke_login_";
const LOGIN_TTL: Duration = Duration::from_secs(600);
/// Renewing on a page load when the ID token has less than this left.
const RENEW_MARGIN_SECONDS: i64 = 30;

pub struct Gateway {
    pub rp: RelyingParty,
    pub session_max_age: Duration,
    pub backend: Backend,
    /// The CA of the serving certificate, when the platform generated it: put into the
    /// kubeconfigs the console hands out, so kubectl trusts the platform.
    pub serving_ca_pem: Option<String>,
    /// The components mounted beside the console in this process, for those serving no
    /// resources of their own (audit's API is routes only).
    pub mounted: Vec<String>,
}

/// Where the components the console shows are.
pub enum Backend {
    /// In this process (`tke up`): the API server the console is mounted into.
    Local(Arc<ApiServer>),
    /// Separate processes behind this gateway (`tke console`).
    Remote(Arc<crate::proxy::Components>),
}

/// Where a browser without a session goes to log in, coming back to `return_to`.
pub fn login_path(return_to: &str) -> String {
    format!("{PREFIX}/tokens/redirect?return_to={}", form_escape(return_to))
}

fn form_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A path of this site to return to after login: anything else (another site, `//host`,
/// `/\host`) returns to the console's home.
fn safe_return(to: &str) -> String {
    let ok =
        to.starts_with('/') && !to.starts_with("//") && !to.starts_with("/\\") && !to.chars().any(char::is_control);
    if ok { to.to_string() } else { "/tkestack".into() }
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The host the browser reached (the redirect URI must name it).
fn host_of(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let host = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()).map(str::to_string))?;
    host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')).then_some(host)
}

fn redirect_uri(host: &str) -> String {
    format!("https://{host}/callback")
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// A page for a login that cannot go on: what happened and a way to try again.
fn login_failed(status: StatusCode, message: &str) -> Response<Body> {
    let body = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Login failed</title>\
         <h1>Login failed</h1><p>{}</p><p><a href=\"{}\">Log in again</a></p></html>",
        escape_html(message),
        escape_html(&login_path("/tkestack"))
    );
    let mut r = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    crate::assets::secure_headers(r.headers_mut());
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The claims the page is told about (the token was just issued to us by the provider).
fn claims_of(id_token: &str) -> Value {
    id_token
        .split('.')
        .nth(1)
        .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

fn info_of_tokens(t: &Tokens) -> Value {
    let c = claims_of(&t.id_token);
    json!({
        "name": c["name"],
        "uid": c["sub"],
        "groups": c.get("groups").cloned().unwrap_or_else(|| json!([])),
        "extra": {"tenantid": [c["federated_claims"]["connector_id"]]},
        "expiresAt": c["exp"],
    })
}

fn rp_error(e: &RpError) -> Response<Body> {
    let err = match e.status {
        401 => ApiError::unauthorized(e.message.clone()),
        429 => ApiError::too_many_requests(e.message.clone(), 30),
        _ => ApiError::unavailable(e.message.clone()),
    };
    error_response(&err)
}

impl Gateway {
    fn session_attrs(&self, http_only: bool, same_site: SameSite) -> Attributes<'static> {
        Attributes { path: "/", http_only, same_site, max_age: Some(self.session_max_age) }
    }

    /// The cookies of a session holding `tokens`.
    fn session_cookies(&self, tokens: &Tokens) -> Vec<HeaderValue> {
        let mut v = vec![
            cookies::set(session::COOKIE, &tokens.id_token, self.session_attrs(true, SameSite::Lax)),
            cookies::set(
                session::CSRF_COOKIE,
                &session::csrf_token(&tokens.id_token),
                self.session_attrs(false, SameSite::Strict),
            ),
        ];
        if let Some(r) = &tokens.refresh_token {
            v.push(cookies::set(session::REFRESH_COOKIE, r, self.session_attrs(true, SameSite::Strict)));
        }
        v
    }

    fn clear_session(&self) -> Vec<HeaderValue> {
        vec![
            cookies::clear(session::COOKIE, self.session_attrs(true, SameSite::Lax)),
            cookies::clear(session::CSRF_COOKIE, self.session_attrs(false, SameSite::Strict)),
            cookies::clear(session::REFRESH_COOKIE, self.session_attrs(true, SameSite::Strict)),
        ]
    }

    /// For a page load: `Ok` with the cookies to set when the browser has a session (renewed
    /// here when its ID token has run out and a refresh token is there), `Err` when it must log
    /// in. The page checks the session properly with its first API call.
    pub async fn ensure_session(&self, headers: &HeaderMap) -> Result<Vec<HeaderValue>, ()> {
        let live = cookies::get(headers, session::COOKIE)
            .and_then(|t| session::token_expiry(&t))
            .is_some_and(|exp| exp > now() + RENEW_MARGIN_SECONDS);
        if live {
            return Ok(vec![]);
        }
        let refresh = cookies::get(headers, session::REFRESH_COOKIE).filter(|r| !r.is_empty()).ok_or(())?;
        match self.rp.refresh(&refresh).await {
            Ok(tokens) => Ok(self.session_cookies(&tokens)),
            Err(e) => {
                tracing::debug!(error = %e, "console: the session could not be renewed; logging in again");
                Err(())
            }
        }
    }
}

#[derive(Deserialize)]
struct ReturnTo {
    #[serde(default)]
    return_to: String,
}

/// `GET tokens/redirect`: to the provider's login, PKCE and state kept in a login cookie.
async fn redirect(
    State(g): State<Arc<Gateway>>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<ReturnTo>,
) -> Response<Body> {
    let Some(host) = host_of(&headers, &uri) else {
        return error_response(&ApiError::bad_request("the request names no valid Host"));
    };
    let (state, nonce, verifier) = (random_token(), random_token(), random_token());
    let return_to = safe_return(if q.return_to.is_empty() { "/tkestack" } else { &q.return_to });
    let value = format!(
        "{state}.{nonce}.{verifier}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(return_to.as_bytes())
    );
    let mut resp =
        Redirect::to(&g.rp.authorization_url(&redirect_uri(&host), &state, &nonce, &verifier)).into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        cookies::set(
            &format!("{LOGIN_COOKIE_PREFIX}{}", &state[..12]),
            &value,
            Attributes { path: "/callback", http_only: true, same_site: SameSite::Lax, max_age: Some(LOGIN_TTL) },
        ),
    );
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[derive(Deserialize)]
struct CallbackQuery {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// `GET /callback`: the provider's answer to a login: the code exchanged for tokens, the
/// session cookies written, back to where the user was going.
async fn callback(
    State(g): State<Arc<Gateway>>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<CallbackQuery>,
) -> Response<Body> {
    if !q.error.is_empty() {
        let what = if q.error_description.is_empty() { q.error.clone() } else { q.error_description.clone() };
        return login_failed(StatusCode::UNAUTHORIZED, &format!("The identity provider refused the login: {what}"));
    }
    if q.code.is_empty() {
        // Back from the provider's logout, or opened by hand: start over.
        return Redirect::to("/tkestack").into_response();
    }
    let login_cookie = format!("{LOGIN_COOKIE_PREFIX}{}", q.state.get(..12).unwrap_or(""));
    let Some(login) = cookies::get(&headers, &login_cookie) else {
        return login_failed(
            StatusCode::BAD_REQUEST,
            "This login was not started in this browser, or took longer than 10 minutes.",
        );
    };
    let mut parts = login.splitn(4, '.');
    let (state, nonce, verifier, encoded_return) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    if !apiserver::auth::constant_time_eq(state.as_bytes(), q.state.as_bytes()) || verifier.is_empty() {
        return login_failed(StatusCode::BAD_REQUEST, "The login's state does not match the one this browser started.");
    }
    let Some(host) = host_of(&headers, &uri) else {
        return login_failed(StatusCode::BAD_REQUEST, "The request names no valid Host.");
    };
    let tokens = match g.rp.exchange_code(&q.code, &redirect_uri(&host), verifier).await {
        Ok(t) => t,
        Err(e) => return login_failed(StatusCode::UNAUTHORIZED, &e.message),
    };
    if claims_of(&tokens.id_token)["nonce"].as_str() != Some(nonce) {
        return login_failed(StatusCode::BAD_REQUEST, "The ID token does not answer this login (nonce).");
    }
    let return_to = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded_return)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .map(|r| safe_return(&r))
        .unwrap_or_else(|| "/tkestack".into());
    let mut resp = Redirect::to(&return_to).into_response();
    for c in g.session_cookies(&tokens) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp.headers_mut().append(
        header::SET_COOKIE,
        cookies::clear(
            &login_cookie,
            Attributes { path: "/callback", http_only: true, same_site: SameSite::Lax, max_age: None },
        ),
    );
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[derive(Deserialize)]
struct TenantQuery {
    #[serde(default)]
    tenant: String,
}

/// `POST tokens`: TKEStack's password login with Basic credentials into a session (201).
async fn password_login(
    State(g): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(q): Query<TenantQuery>,
) -> Response<Body> {
    let Some((user, password)) = apiserver::auth::basic(&headers) else {
        return error_response(&ApiError::unauthorized(
            "send the username and password as Basic credentials (Authorization: Basic base64(user:password))",
        ));
    };
    let tenant = if q.tenant.is_empty() { "default" } else { q.tenant.as_str() };
    match g.rp.password(tenant, &user, &password).await {
        Ok(tokens) => {
            let mut resp = (StatusCode::CREATED, Json(info_of_tokens(&tokens))).into_response();
            for c in g.session_cookies(&tokens) {
                resp.headers_mut().append(header::SET_COOKIE, c);
            }
            resp
        }
        Err(e) => rp_error(&e),
    }
}

/// `POST tokens/renew`: a new ID token (and rotated refresh token) for the session, 201 with
/// the session's information. A change like any other: it needs the CSRF token.
async fn renew(State(g): State<Arc<Gateway>>, headers: HeaderMap) -> Response<Body> {
    let Some(current) = cookies::get(&headers, session::COOKIE).filter(|t| !t.is_empty()) else {
        return error_response(&ApiError::unauthorized("there is no console session to renew; log in"));
    };
    if !session::csrf_ok(&headers, &current) {
        return error_response(&ApiError::new(
            apimachinery::error::Reason::Forbidden,
            session::CsrfRefused.to_string(),
        ));
    }
    let Some(refresh) = cookies::get(&headers, session::REFRESH_COOKIE).filter(|t| !t.is_empty()) else {
        return error_response(&ApiError::unauthorized("the console session cannot be renewed; log in again"));
    };
    match g.rp.refresh(&refresh).await {
        Ok(tokens) => {
            let mut resp = (StatusCode::CREATED, Json(info_of_tokens(&tokens))).into_response();
            for c in g.session_cookies(&tokens) {
                resp.headers_mut().append(header::SET_COOKIE, c);
            }
            resp
        }
        Err(e) => {
            let mut resp = rp_error(&e);
            if e.status == 401 {
                for c in g.clear_session() {
                    resp.headers_mut().append(header::SET_COOKIE, c);
                }
            }
            resp
        }
    }
}

/// `GET|POST logout`: revokes the session's refresh tokens, deletes the cookies, and ends the
/// provider's session in the browser, which comes back to the console (and so to the login).
async fn logout(
    State(g): State<Arc<Gateway>>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<ReturnTo>,
) -> Response<Body> {
    if let Some(refresh) = cookies::get(&headers, session::REFRESH_COOKIE).filter(|t| !t.is_empty()) {
        g.rp.revoke(&refresh).await;
    }
    let back = match host_of(&headers, &uri) {
        Some(host) => redirect_uri(&host),
        None => "/tkestack".into(),
    };
    let target = if q.return_to.is_empty() || safe_return(&q.return_to) != q.return_to {
        g.rp.logout_url(&back)
    } else {
        q.return_to.clone()
    };
    let mut resp = Redirect::to(&target).into_response();
    for c in g.clear_session() {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `GET tokens/info`: who the caller is (and, for the console's session, until when).
async fn info(Extension(user): Extension<UserInfo>, session: Option<Extension<SessionCookie>>) -> Response<Body> {
    let mut v = json!({"name": user.name, "uid": user.uid, "groups": user.groups, "extra": user.extra});
    if let Some(Extension(s)) = session
        && let Some(exp) = s.expires_at
    {
        v["expiresAt"] = json!(exp);
    }
    let mut resp = Json(v).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The components TKEStack's console asks about, by the API group each serves.
const COMPONENTS: &[(&str, &str)] = &[
    ("platform", "platform.tkestack.io"),
    ("business", "business.tkestack.io"),
    ("monitor", "monitor.tkestack.io"),
    ("notify", "notify.tkestack.io"),
    ("auth", "auth.tkestack.io"),
    ("registry", "registry.tkestack.io"),
    ("audit", "audit.tkestack.io"),
    ("logagent", "logagent.tkestack.io"),
    ("application", "application.tkestack.io"),
    ("mesh", "mesh.tkestack.io"),
];

/// `GET sysinfo`: the components this platform runs (a group it serves, or a component behind
/// this gateway), and the registry's and auth's defaults.
async fn sysinfo(State(g): State<Arc<Gateway>>) -> Response<Body> {
    let mut v = serde_json::Map::new();
    match &g.backend {
        Backend::Local(api) => {
            let defs = api.all_defs();
            for (name, group) in COMPONENTS {
                if let Some(d) = defs.iter().find(|d| d.group == *group) {
                    v.insert((*name).into(), json!({"groupName": group, "version": d.version}));
                } else if g.mounted.iter().any(|m| m == name) {
                    v.insert((*name).into(), json!({"groupName": group, "version": "v1"}));
                }
            }
        }
        Backend::Remote(components) => {
            for m in components.modules() {
                if let Some((name, group)) = COMPONENTS.iter().find(|(n, _)| *n == m) {
                    v.insert((*name).into(), json!({"groupName": group, "version": "v1"}));
                }
            }
        }
    }
    v.insert("auth".into(), {
        let mut a = v.get("auth").cloned().unwrap_or_else(|| json!({}));
        a["defaultTenant"] = json!("default");
        a
    });
    if let Some(r) = v.get_mut("registry") {
        r["defaultTenant"] = json!("default");
        r["domainSuffix"] = json!("");
    }
    Json(Value::Object(v)).into_response()
}

const CLUSTER_INFO: &str = "/apis/platform.tkestack.io/v1/configmaps/cluster-info";

/// `GET platforminfo`: the platform's `cluster-info` ConfigMap (`platform.tkestack.io`), as
/// TKEStack's console reads `tke/cluster-info`: `{}` when there is none.
async fn platforminfo(State(g): State<Arc<Gateway>>, token: Option<Extension<RemoteToken>>) -> Response<Body> {
    let found = match (&g.backend, token) {
        (Backend::Local(api), _) => {
            let Some(store) = api.resource_store("platform.tkestack.io", "v1", "configmaps") else {
                return Json(json!({})).into_response();
            };
            store.get(&Context::system("console", None), "cluster-info", None).await
        }
        (Backend::Remote(c), Some(Extension(RemoteToken(token)))) => match c.get_as(&token, CLUSTER_INFO).await {
            Ok((200, v)) => Ok(v),
            Ok((404, _)) => return Json(json!({})).into_response(),
            Ok((code, v)) => {
                return (StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY), Json(v)).into_response();
            }
            Err(e) => Err(e),
        },
        (Backend::Remote(_), None) => Err(ApiError::unauthorized("log in to the console")),
    };
    match found {
        Ok(cm) => Json(cm.get("data").cloned().unwrap_or_else(|| json!({}))).into_response(),
        Err(e) if e.code() == 404 => Json(json!({})).into_response(),
        Err(e) => error_response(&e),
    }
}

/// The caller's token, in a gateway in front of separate components.
#[derive(Clone)]
struct RemoteToken(String);

/// Authentication of the gateway's own routes when the components are elsewhere: the session
/// (CSRF checked on changes) or a bearer token, whose user the components tell.
async fn remote_authentication(
    State(c): State<Arc<crate::proxy::Components>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response<Body> {
    let (mut parts, body) = request.into_parts();
    let checked = match session::adopt(&mut parts) {
        Err(refused) => Err(ApiError::new(apimachinery::error::Reason::Forbidden, refused.to_string())),
        Ok(()) => match apiserver::auth::request_token(&parts.headers).map(|t| t.into_owned()) {
            None => Err(ApiError::unauthorized("log in to the console, or send a bearer token")),
            Some(token) => c.whoami(&token).await.map(|u| (u, token)),
        },
    };
    let (user, token) = match checked {
        Ok(found) => found,
        Err(e) => {
            apiserver::auth::drain(body).await;
            return error_response(&e);
        }
    };
    parts.extensions.insert(user);
    parts.extensions.insert(RemoteToken(token));
    next.run(axum::extract::Request::from_parts(parts, body)).await
}

/// `GET cacert`: the CA of the platform's serving certificate (PEM), 404 when the operator
/// brought a certificate of their own CA. Public, like any CA certificate.
async fn cacert(State(g): State<Arc<Gateway>>) -> Response<Body> {
    match &g.serving_ca_pem {
        Some(pem) => ([(header::CONTENT_TYPE, "application/x-pem-file")], pem.clone()).into_response(),
        None => error_response(&ApiError::new(
            apimachinery::error::Reason::NotFound,
            "the platform serves a certificate of the operator's own CA: clients trust it as they already do",
        )),
    }
}

/// Routes served before authentication: the login's legs, renewal (the ID token may have
/// expired) and logout, and TKEStack's OpenAPI aliases.
pub fn front_routes(g: Arc<Gateway>) -> Router {
    let mut r = Router::new()
        .route("/callback", get(callback))
        .route(&format!("{PREFIX}/tokens"), post(password_login))
        .route(&format!("{PREFIX}/tokens/"), post(password_login))
        .route(&format!("{PREFIX}/tokens/redirect"), get(redirect))
        .route(&format!("{PREFIX}/tokens/renew"), post(renew))
        .route(&format!("{PREFIX}/logout"), get(logout).post(logout))
        .route(&format!("{PREFIX}/cacert"), get(cacert));
    for module in ["platform", "business", "auth", "registry", "monitor", "notify", "audit", "logagent", "application"]
    {
        r = r.route(&format!("/tke-{module}-api"), get(|| async { Redirect::temporary("/openapi/v2") }));
    }
    r.with_state(g)
}

/// Routes inside authentication (the caller is known).
pub fn api_routes(g: Arc<Gateway>) -> Router {
    Router::new()
        .route(&format!("{PREFIX}/tokens/info"), get(info))
        .route(&format!("{PREFIX}/sysinfo"), get(sysinfo))
        .route(&format!("{PREFIX}/platforminfo"), get(platforminfo))
        .with_state(g)
}

/// The whole gateway in front of separate components (`tke console`): the console, the login,
/// the gateway's own routes, and every other path sent on to its component.
pub fn standalone(
    g: Arc<Gateway>,
    components: Arc<crate::proxy::Components>,
    terminal: Arc<crate::terminal::Api>,
) -> Router {
    let own =
        api_routes(g.clone()).layer(axum::middleware::from_fn_with_state(components.clone(), remote_authentication));
    front_routes(g.clone())
        .merge(crate::assets::routes(g))
        .merge(crate::terminal::routes(terminal))
        .merge(own)
        .fallback_service(Router::new().fallback(crate::proxy::handle).with_state(components))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(safe_return("/tkestack/clusters?x=1"), "/tkestack/clusters?x=1");
        for bad in ["https://evil.example", "//evil.example", "/\\evil.example", "tkestack", "/a\nb"] {
            assert_eq!(safe_return(bad), "/tkestack", "{bad}");
        }
    }

    #[test]
    fn hosts_are_checked_before_use_in_a_redirect_uri() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9443"));
        assert_eq!(host_of(&h, &Uri::from_static("/callback")).as_deref(), Some("127.0.0.1:9443"));
        h.insert(header::HOST, HeaderValue::from_static("evil/path"));
        assert_eq!(host_of(&h, &Uri::from_static("/callback")), None);
    }

    #[test]
    fn login_path_escapes_the_return_path() {
        assert_eq!(
            login_path("/tkestack/a?b=c&d"),
            format!("{PREFIX}/tokens/redirect?return_to=/tkestack/a%3Fb%3Dc%26d")
        );
    }
}
