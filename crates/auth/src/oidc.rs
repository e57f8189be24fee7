//! The platform's OpenID provider under `/oidc/` (issuer = the server's URL + `/oidc`):
//! discovery, the JWKS, the token endpoint (the password grant), userinfo; and the
//! authenticator that turns its ID tokens, presented as bearer tokens, back into users.
//!
//! ID tokens carry TKEStack's claims: the username in `name`, the display name in
//! `preferred_username`, `groups`, and the tenant in `federated_claims.connector_id`. On every
//! request the authenticator checks the token's user still exists (for local tenants) and
//! takes the platform-administrator flag from the user as it is now, not as it was at login.

use std::{sync::Arc, time::Duration};

use apiserver::{
    ApiServer, Mount, UserInfo,
    auth::{Authentication, Authenticator, bearer, request_token},
    component::{MountContext, MountError},
    resource::ADMIN_GROUP,
};
use axum::{
    Form, Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    grants::{GrantError, Grants},
    index::{Index, store_of},
    keys::SigningKeys,
    people::{LoginError, People, Person},
};

/// Claims of the platform's ID tokens.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The username (TKEStack's choice of claim).
    pub name: String,
    /// The display name.
    #[serde(default)]
    pub preferred_username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(default)]
    pub groups: Vec<String>,
    pub federated_claims: FederatedClaims,
}

/// Where the user came from: the tenant (dex's connector) and the user's id there.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FederatedClaims {
    pub connector_id: String,
    pub user_id: String,
}

/// The provider's state, shared by its routes and the authenticator.
pub struct Provider {
    pub issuer: String,
    pub keys: Arc<SigningKeys>,
    pub people: Arc<People>,
    pub clients: Arc<Index<api::auth::Client>>,
    pub grants: Arc<Grants>,
    pub id_token_ttl: Duration,
    /// How long a browser's login at the provider lasts.
    pub session_ttl: Duration,
    /// How long a refresh-token family lasts from its login.
    pub refresh_ttl: Duration,
}

impl Provider {
    /// Signs an ID token for `person`, for `client_id`.
    pub fn id_token(
        &self,
        person: &Person,
        client_id: &str,
        nonce: Option<String>,
    ) -> Result<(String, IdClaims), apimachinery::ApiError> {
        let now = chrono::Utc::now().timestamp();
        let claims = IdClaims {
            iss: self.issuer.clone(),
            sub: subject(&person.tenant, &person.id),
            aud: client_id.to_string(),
            exp: now + self.id_token_ttl.as_secs() as i64,
            iat: now,
            nonce,
            name: person.username.clone(),
            preferred_username: person.display_name.clone(),
            email: person.email.clone(),
            groups: person.groups.clone(),
            federated_claims: FederatedClaims { connector_id: person.tenant.clone(), user_id: person.id.clone() },
        };
        Ok((self.keys.sign(&claims)?, claims))
    }

    /// Whether a person logged in earlier may still get tokens: a local user must still exist
    /// (and not be locked); the tenant must still exist.
    pub fn still_valid(&self, person: &Person) -> bool {
        let Some(idp) = self.people.idps.get(&person.tenant) else { return false };
        if idp.spec.type_ != api::auth::identity_provider::types::TKE {
            return true;
        }
        self.people.users.get(&person.id).is_some_and(|u| {
            u.tenant() == person.tenant
                && u.spec.username == person.username
                && crate::people::locked_until(&u, chrono::Utc::now()).is_none()
        })
    }

    /// The person as the platform knows them now (current groups and names of a local user).
    fn refreshed(&self, person: &Person) -> Person {
        match self.people.users.get(&person.id) {
            Some(u) if u.tenant() == person.tenant => self.people.person_of(&u),
            _ => person.clone(),
        }
    }

    /// The audience of an ID token hint whose signature is ours, even if it has expired.
    pub fn audience_of_hint(&self, hint: &str) -> Option<String> {
        if hint.is_empty() {
            return None;
        }
        self.keys.verify_ignoring_expiry::<IdClaims>(hint, &self.issuer).ok().map(|c| c.aud)
    }

    /// The user a valid ID token stands for now, or why not.
    pub fn user_of(&self, token: &str) -> Result<UserInfo, String> {
        let claims: IdClaims = self.keys.verify(token, &self.issuer).map_err(|e| e.to_string())?;
        let tenant = claims.federated_claims.connector_id.clone();
        let idp = self.people.idps.get(&tenant).ok_or_else(|| format!("tenant {tenant:?} no longer exists"))?;
        let mut groups = claims.groups.clone();
        if idp.spec.type_ == api::auth::identity_provider::types::TKE {
            let user = self
                .people
                .users
                .get(&claims.federated_claims.user_id)
                .filter(|u| u.tenant() == tenant && u.spec.username == claims.name)
                .ok_or_else(|| format!("user {:?} of tenant {tenant:?} no longer exists", claims.name))?;
            if user.platform_admin() {
                groups.push(ADMIN_GROUP.to_string());
            }
        }
        groups.retain(|g| g != ADMIN_GROUP || idp.spec.type_ == api::auth::identity_provider::types::TKE);
        let mut extra = std::collections::BTreeMap::new();
        extra.insert("tenantid".to_string(), vec![tenant]);
        Ok(UserInfo { name: claims.name, uid: claims.sub, groups, extra })
    }
}

/// A stable `sub`: the tenant and the user's id there, base64url (ids may hold any character).
fn subject(tenant: &str, id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{tenant}/{id}"))
}

/// Bearer tokens of the platform: API keys and ID tokens signed by its keys.
pub struct TokenAuthenticator {
    pub provider: Arc<Provider>,
    pub api_keys: Arc<crate::apikeys::ApiKeys>,
}

#[async_trait::async_trait]
impl Authenticator for TokenAuthenticator {
    async fn authenticate(&self, request: &axum::http::request::Parts) -> Authentication {
        let Some(token) = request_token(&request.headers) else { return Authentication::NotApplicable };
        let token = token.as_ref();
        if token.split('.').count() != 3 {
            return Authentication::NotApplicable;
        }
        match self.api_keys.authentication(token) {
            Authentication::NotApplicable => {}
            answer => return answer,
        }
        if !self.provider.keys.is_ours(token) {
            return Authentication::NotApplicable;
        }
        match self.provider.user_of(token) {
            Ok(user) => Authentication::Authenticated(user),
            Err(reason) => Authentication::Rejected(format!("ID token: {reason}")),
        }
    }
}

/// An OAuth error answer (RFC 6749 §5.2).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(json!({"error": error, "error_description": description})))
        .into_response()
}

async fn discovery(State(p): State<Arc<Provider>>) -> Response {
    let i = &p.issuer;
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/auth"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/keys"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [crate::keys::ALGORITHM],
        "scopes_supported": ["openid", "email", "groups", "profile", "offline_access"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "grant_types_supported": ["authorization_code", "refresh_token", "password"],
        "code_challenge_methods_supported": ["S256"],
        "response_modes_supported": ["query"],
        "revocation_endpoint": format!("{i}/revoke"),
        "end_session_endpoint": format!("{i}/logout"),
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "name", "preferred_username", "email", "groups", "federated_claims"],
    }))
    .into_response()
}

async fn jwks(State(p): State<Arc<Provider>>) -> Response {
    // Keys change rarely, but a new key must be picked up well before it signs anything old
    // tokens depend on: a short cache.
    ([(header::CACHE_CONTROL, "max-age=60")], Json(p.keys.jwks())).into_response()
}

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    /// Our extension: the tenant to log in to (default `default`).
    #[serde(default)]
    tenant_id: String,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    code: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    code_verifier: String,
    #[serde(default)]
    refresh_token: String,
    /// `offline_access` in the password grant's scope asks for a refresh token.
    #[serde(default)]
    scope: String,
}

/// Checks the client of a token request: a public client names itself; a confidential one
/// proves its secret (Basic or form). Returns the client id.
fn client_of(p: &Provider, headers: &HeaderMap, form: &TokenRequest) -> Result<String, Response> {
    let (mut id, mut secret) = (form.client_id.clone(), form.client_secret.clone());
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
        && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(basic.trim())
        && let Ok(text) = String::from_utf8(decoded)
        && let Some((i, s)) = text.split_once(':')
    {
        id = form_decode(i);
        secret = form_decode(s);
    }
    let invalid = || oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client or wrong client secret");
    let client = p.clients.find(|c| c.spec.id == id).ok_or_else(invalid)?;
    if !client.spec.public && !crate::grants::constant_eq(client.spec.secret.as_bytes(), secret.as_bytes()) {
        return Err(invalid());
    }
    Ok(id)
}

/// `application/x-www-form-urlencoded` decoding of a Basic credential's halves (RFC 6749 §2.3.1).
fn form_decode(s: &str) -> String {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
        .ok()
        .and_then(|v| v.into_iter().next())
        .map(|(_, v)| v)
        .unwrap_or_else(|| s.to_string())
}

/// The address a request came from (the TLS listener records it).
pub type Source = Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>;

pub fn ip_of(source: &Source) -> Option<std::net::IpAddr> {
    source.as_ref().map(|s| s.0.0.ip())
}

async fn token(
    State(p): State<Arc<Provider>>,
    source: Source,
    headers: HeaderMap,
    Form(form): Form<TokenRequest>,
) -> Response {
    let client_id = match client_of(&p, &headers, &form) {
        Ok(id) => id,
        Err(resp) => return resp,
    };
    match form.grant_type.as_str() {
        "authorization_code" => {
            let invalid = |why: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", why);
            let code = match p.grants.redeem_code(&form.code).await {
                Ok(c) => c,
                Err(GrantError::Store(e)) => {
                    return oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", &e);
                }
                Err(_) => return invalid("the authorization code is unknown, used or expired"),
            };
            if code.client_id != client_id {
                return invalid("the authorization code was issued to another client");
            }
            if code.redirect_uri != form.redirect_uri {
                return invalid("redirect_uri differs from the one of the authorization request");
            }
            if !code.code_challenge.is_empty() {
                if form.code_verifier.is_empty() {
                    return invalid("code_verifier is required (PKCE)");
                }
                let challenge = crate::grants::pkce_challenge(&form.code_verifier);
                if !crate::grants::constant_eq(challenge.as_bytes(), code.code_challenge.as_bytes()) {
                    return invalid("code_verifier does not match the code_challenge");
                }
            }
            let person: Person = (&code.person).into();
            if !p.still_valid(&person) {
                return invalid("the user can no longer log in");
            }
            let person = p.refreshed(&person);
            let refresh = if code.scope.split(' ').any(|s| s == "offline_access") {
                match p.grants.start_family(&client_id, &code.scope, &person, &code.session, p.refresh_ttl).await {
                    Ok(t) => Some(t),
                    Err(e) => {
                        return oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", &e.to_string());
                    }
                }
            } else {
                None
            };
            issue(&p, &person, &client_id, code.nonce.clone(), refresh)
        }
        "refresh_token" => {
            let (family, next) = match p.grants.rotate(&form.refresh_token, &client_id).await {
                Ok(r) => r,
                Err(GrantError::Reused) => {
                    tracing::warn!(client = %client_id, "a refresh token was used twice; its login's tokens are revoked");
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", &GrantError::Reused.to_string());
                }
                Err(GrantError::Store(e)) => {
                    return oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", &e);
                }
                Err(GrantError::Invalid) => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "the refresh token is unknown, revoked or expired",
                    );
                }
            };
            let person: Person = (&family.person).into();
            if !p.still_valid(&person) {
                let _ = p.grants.revoke(&next).await;
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the user can no longer log in");
            }
            issue(&p, &p.refreshed(&person), &client_id, None, Some(next))
        }
        "password" => {
            let tenant = if form.tenant_id.is_empty() { crate::bootstrap::DEFAULT_TENANT } else { &form.tenant_id };
            if form.username.is_empty() || form.password.is_empty() {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "username and password are required");
            }
            match p.people.login_from(&p.grants, ip_of(&source), tenant, &form.username, &form.password).await {
                Ok(person) => {
                    let refresh = if form.scope.split(' ').any(|s| s == "offline_access") {
                        // No browser session: the family ends by revocation or expiry only.
                        match p.grants.start_family(&client_id, &form.scope, &person, "", p.refresh_ttl).await {
                            Ok(t) => Some(t),
                            Err(e) => {
                                return oauth_error(
                                    StatusCode::SERVICE_UNAVAILABLE,
                                    "temporarily_unavailable",
                                    &e.to_string(),
                                );
                            }
                        }
                    } else {
                        None
                    };
                    issue(&p, &person, &client_id, form.nonce.clone(), refresh)
                }
                Err(LoginError::Unavailable(e)) => {
                    tracing::warn!(tenant, error = %e, "login: the identity provider is unavailable");
                    oauth_error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "temporarily_unavailable",
                        "the tenant's identity provider cannot be reached; try again",
                    )
                }
                Err(LoginError::Locked(until)) => oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    &format!("the account is locked after repeated failed logins until {until}"),
                ),
                Err(e @ LoginError::SourceBlocked(_)) => {
                    oauth_error(StatusCode::TOO_MANY_REQUESTS, "invalid_grant", &e.to_string())
                }
                Err(_) => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "wrong tenant, username or password"),
            }
        }
        other => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("grant type {other:?} is not supported here"),
        ),
    }
}

fn issue(p: &Provider, person: &Person, client_id: &str, nonce: Option<String>, refresh: Option<String>) -> Response {
    match p.id_token(person, client_id, nonce) {
        Ok((token, _)) => {
            let mut body = json!({
                "access_token": token,
                "token_type": "bearer",
                "expires_in": p.id_token_ttl.as_secs(),
                "id_token": token,
                "scope": "openid profile email groups",
            });
            if let Some(r) = refresh {
                body["refresh_token"] = json!(r);
            }
            (StatusCode::OK, [(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")], Json(body))
                .into_response()
        }
        Err(e) => oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", &e.message),
    }
}

async fn userinfo(State(p): State<Arc<Provider>>, headers: HeaderMap) -> Response {
    let Some(token) = bearer(&headers) else {
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "").into_response();
    };
    match p.keys.verify::<IdClaims>(token, &p.issuer) {
        Ok(c) => Json(json!({"sub": c.sub, "name": c.name, "preferred_username": c.preferred_username,
            "email": c.email, "groups": c.groups, "federated_claims": c.federated_claims}))
        .into_response(),
        Err(e) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, format!("Bearer error=\"invalid_token\", error_description=\"{e}\""))],
            "",
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct RevokeRequest {
    #[serde(default)]
    token: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
}

/// `POST /oidc/revoke` (RFC 7009): revokes a refresh token's family. ID tokens cannot be
/// revoked one by one; they are short-lived, and deleting or locking the user ends them.
async fn revoke(State(p): State<Arc<Provider>>, headers: HeaderMap, Form(form): Form<RevokeRequest>) -> Response {
    let as_token_request = TokenRequest {
        grant_type: String::new(),
        username: String::new(),
        password: String::new(),
        client_id: form.client_id.clone(),
        client_secret: form.client_secret.clone(),
        tenant_id: String::new(),
        nonce: None,
        code: String::new(),
        redirect_uri: String::new(),
        code_verifier: String::new(),
        refresh_token: String::new(),
        scope: String::new(),
    };
    if let Err(resp) = client_of(&p, &headers, &as_token_request) {
        return resp;
    }
    match p.grants.revoke(&form.token).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", &e.to_string()),
    }
}

/// The provider's routes, served before the API's authentication.
pub fn routes(provider: Arc<Provider>) -> Router {
    use crate::authorize;
    Router::new()
        .route("/oidc/.well-known/openid-configuration", get(discovery))
        .route("/oidc/keys", get(jwks))
        .route("/oidc/token", post(token))
        .route("/oidc/userinfo", get(userinfo).post(userinfo))
        .route("/oidc/auth", get(authorize::authorize))
        .route("/oidc/auth/login", post(authorize::login_post))
        .route("/oidc/auth/lang", get(authorize::switch_language))
        .route("/oidc/auth/upstream", get(authorize::to_upstream))
        .route("/oidc/callback", get(authorize::upstream_callback))
        .route("/oidc/logout", get(authorize::logout))
        .route("/oidc/revoke", post(revoke))
        .route("/oidc/static/login.css", get(authorize::stylesheet))
        .with_state(provider)
}

/// Starts the provider: its keys, the people it logs in, its routes and authenticator.
pub async fn mount(
    server: &Arc<ApiServer>,
    ctx: &MountContext,
    config: &crate::component::Config,
    mount: &mut Mount,
) -> Result<Arc<crate::component::Handle>, MountError> {
    let issuer = match &config.issuer {
        Some(i) => i.trim_end_matches('/').to_string(),
        None => format!("{}/oidc", ctx.url.trim_end_matches('/')),
    };
    let keys = SigningKeys::start(server, config.id_token_ttl).await?;
    let people = People::start(server).await?;
    let clients = Index::start(store_of(server, "clients")?).await?;
    let (kv, key_root) = server.kv();
    let grants = Grants::new(kv, key_root);
    let provider = Arc::new(Provider {
        issuer,
        keys: keys.clone(),
        people,
        clients,
        grants: grants.clone(),
        id_token_ttl: config.id_token_ttl,
        session_ttl: config.session_ttl,
        refresh_ttl: config.refresh_ttl,
    });
    // Expired codes, sessions and families are removed by every replica (deletes are
    // conditional on the revision read, so they do not conflict).
    let weak_grants = Arc::downgrade(&grants);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(300)).await;
            let Some(g) = weak_grants.upgrade() else { return };
            if let Err(e) = g.sweep().await {
                tracing::debug!(error = %e, "sweeping expired login state failed");
            }
        }
    });
    // Rotation is checked hourly; every replica may do it (the store's uniqueness of names and
    // the newest-signs rule keep them consistent).
    let weak = Arc::downgrade(&keys);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            let Some(keys) = weak.upgrade() else { return };
            if let Err(e) = keys.rotate_if_due().await {
                tracing::warn!(error = %e.message, "rotating the token signing key failed");
            }
        }
    });
    let api_keys = Arc::new(crate::apikeys::ApiKeys {
        issuer: provider.issuer.clone(),
        keys: keys.clone(),
        people: provider.people.clone(),
        index: Index::start(store_of(server, "apikeys")?).await?,
        store: store_of(server, "apikeys")?,
        grants: provider.grants.clone(),
    });
    mount.authenticators.push(Arc::new(TokenAuthenticator { provider: provider.clone(), api_keys: api_keys.clone() }));
    let handle = Arc::new(crate::component::Handle {
        provider: provider.clone(),
        api_keys: api_keys.clone(),
        authz: Default::default(),
        authorizer: Default::default(),
    });
    let routes = routes(provider).merge(
        Router::new()
            .route(crate::apikeys::PASSWORD_PATH, post(crate::apikeys::password_route))
            .with_state(api_keys.clone()),
    );
    // Issued to the caller: inside authentication.
    let previous = mount.around_api.take();
    mount.around_api = Some(Box::new(move |api: Router| {
        let api = match previous {
            Some(f) => f(api),
            None => api,
        };
        Router::new()
            .route(crate::apikeys::TOKEN_PATH, post(crate::apikeys::token_route))
            .with_state(api_keys)
            .merge(api)
    }));
    mount.front = Some(match mount.front.take() {
        Some(front) => front.merge(routes),
        None => routes,
    });
    Ok(handle)
}
