//! Docker token authentication: the `/registry/auth` token endpoint, JWT issue and check, and
//! the pluggable credential check ([`Authenticator`]) and access policy ([`Authorizer`]).
//!
//! Flow: a `/v2/` request without a sufficient token gets `401` with
//! `WWW-Authenticate: Bearer realm=..,service=..,scope=..`; the client asks the realm for a
//! token (Basic credentials, or none for anonymous), and retries with `Authorization: Bearer`.

use crate::error::{Code, Error, Result};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, header};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Token auth settings.
#[derive(Clone)]
pub struct AuthConfig {
    /// The token endpoint URL given to clients. Default: `<scheme>://<the request's host>/registry/auth`
    /// (its authority: `:authority` over HTTP/2, the `Host` header over HTTP/1.1).
    pub realm: Option<String>,
    /// Scheme for the default realm (`https` behind TLS).
    pub scheme: String,
    /// The `service` (token audience), `tke` in TKEStack.
    pub service: String,
    /// The token issuer.
    pub issuer: String,
    /// HMAC key the tokens are signed with (HS256).
    pub signing_key: Vec<u8>,
    pub token_ttl: Duration,
    /// Who may log in; the default is the configured admin.
    pub authenticator: Arc<dyn Authenticator>,
    /// What a caller may do; the default is [`DefaultPolicy`].
    pub authorizer: Arc<dyn Authorizer>,
    /// What the platform's policies let a tenant's users do in its namespaces, on top of
    /// [`crate::TenantPolicy`] (which the registry component puts in place of `authorizer`).
    /// Without one, a tenant's users may pull, push and delete in its namespaces.
    pub repository_policy: Option<Arc<dyn crate::tenancy::RepositoryPolicy>>,
}

impl AuthConfig {
    /// Token auth with the given credential check and policy, a random signing key and
    /// TKEStack's service and issuer names.
    pub fn new(authenticator: Arc<dyn Authenticator>, authorizer: Arc<dyn Authorizer>) -> AuthConfig {
        let mut key = vec![0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut key[..]);
        AuthConfig {
            realm: None,
            scheme: "https".into(),
            service: "tke".into(),
            issuer: "tke-registry-token-issuer".into(),
            signing_key: key,
            token_ttl: Duration::from_secs(3600),
            authenticator,
            authorizer,
            repository_policy: None,
        }
    }

    /// Token auth with one admin (`password_hash` from [`hash_password`]), a random signing key
    /// and repositories under `public` prefixes pullable anonymously.
    pub fn with_admin(username: &str, password_hash: &str, public: Vec<String>) -> Result<AuthConfig> {
        PasswordHash::new(password_hash).map_err(|e| Error::new(Code::Unknown, format!("admin password hash: {e}")))?;
        Ok(AuthConfig::new(
            Arc::new(AdminAuthenticator { username: username.into(), password_hash: password_hash.into() }),
            Arc::new(DefaultPolicy { public_prefixes: public }),
        ))
    }
}

/// Hash a password for configuration (argon2id, PHC string).
pub fn hash_password(password: &str) -> Result<String> {
    let mut raw = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut raw[..]);
    let salt = SaltString::encode_b64(&raw).map_err(|e| Error::new(Code::Unknown, format!("salt: {e}")))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::new(Code::Unknown, format!("hashing password: {e}")))
}

/// An authenticated caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub admin: bool,
    /// The user's tenant; `None` for the default tenant.
    pub tenant: Option<String>,
    /// The user's groups (what the platform's policies may be bound to).
    pub groups: Vec<String>,
}

/// Checks Basic credentials. The platform's auth component plugs in here (TokenReview, so API
/// keys work as passwords).
#[async_trait::async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// `Ok(None)` for wrong credentials.
    async fn authenticate(&self, username: &str, password: &str) -> Result<Option<Identity>>;
}

/// Decides which of the requested actions a caller gets on a resource.
#[async_trait::async_trait]
pub trait Authorizer: Send + Sync + 'static {
    /// `tenant` is the tenant the request was made to (empty when the registry has no
    /// tenancy); `requested.name` is the repository as the client names it.
    async fn grant(&self, who: Option<&Identity>, tenant: &str, requested: &Access) -> Vec<String>;
}

/// The configured admin, password checked against an argon2 hash.
pub struct AdminAuthenticator {
    pub username: String,
    pub password_hash: String,
}

#[async_trait::async_trait]
impl Authenticator for AdminAuthenticator {
    async fn authenticate(&self, username: &str, password: &str) -> Result<Option<Identity>> {
        if username != self.username {
            return Ok(None);
        }
        let (hash, password) = (self.password_hash.clone(), password.to_string());
        // argon2 is deliberately expensive: keep it off the async workers.
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
        })
        .await
        .unwrap_or(false);
        Ok(ok.then(|| Identity { name: username.to_string(), admin: true, tenant: None, ..Default::default() }))
    }
}

/// A fixed set of users with argon2-hashed passwords (the configured admin and service
/// accounts, until the platform's auth component answers instead).
#[derive(Default)]
pub struct StaticUsers {
    users: std::collections::HashMap<String, (String, Identity)>,
}

impl StaticUsers {
    pub fn new() -> StaticUsers {
        StaticUsers::default()
    }

    /// Adds a user; `password_hash` comes from [`hash_password`].
    pub fn add(&mut self, identity: Identity, password_hash: &str) -> Result<()> {
        PasswordHash::new(password_hash)
            .map_err(|e| Error::new(Code::Unknown, format!("password hash of {}: {e}", identity.name)))?;
        self.users.insert(identity.name.clone(), (password_hash.to_string(), identity));
        Ok(())
    }
}

#[async_trait::async_trait]
impl Authenticator for StaticUsers {
    async fn authenticate(&self, username: &str, password: &str) -> Result<Option<Identity>> {
        let Some((hash, identity)) = self.users.get(username) else {
            return Ok(None);
        };
        let (hash, password) = (hash.clone(), password.to_string());
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
        })
        .await
        .unwrap_or(false);
        Ok(ok.then(|| identity.clone()))
    }
}

/// Admins may do everything; other authenticated users pull and push repositories; anyone may
/// pull repositories under a public prefix; the catalog is for admins only.
pub struct DefaultPolicy {
    pub public_prefixes: Vec<String>,
}

#[async_trait::async_trait]
impl Authorizer for DefaultPolicy {
    async fn grant(&self, who: Option<&Identity>, _tenant: &str, requested: &Access) -> Vec<String> {
        let allowed: &[&str] = match (who, requested.kind.as_str()) {
            (Some(id), _) if id.admin => &["pull", "push", "delete", "*"],
            (Some(_), "repository") => &["pull", "push"],
            (None, "repository")
                if self
                    .public_prefixes
                    .iter()
                    .any(|p| requested.name == *p || requested.name.starts_with(&format!("{p}/"))) =>
            {
                &["pull"]
            }
            _ => &[],
        };
        requested.actions.iter().filter(|a| allowed.contains(&a.as_str())).cloned().collect()
    }
}

/// One access entry: `repository:<name>:<actions>` in scopes, `{type,name,actions}` in tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl Access {
    /// Parse a scope string `type:name:action,action`. Names may contain `:` (registry ports
    /// are not part of names, but be lenient): type is before the first, actions after the last.
    pub fn parse_scope(scope: &str) -> Option<Access> {
        let (kind, rest) = scope.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        let actions = actions.split(',').filter(|a| !a.is_empty()).map(str::to_string).collect();
        Some(Access { kind: kind.to_string(), name: name.to_string(), actions })
    }

    pub fn scope(&self) -> String {
        format!("{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: String,
    access: Vec<Access>,
    /// The tenant the token was issued for: it is valid on that tenant's host only.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    tenant: String,
}

/// What a valid bearer token says.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    /// The user it was issued to; empty for anonymous callers.
    pub subject: String,
    pub access: Vec<Access>,
}

/// The realm's absolute URL for a request to `host` (its
/// [`apiserver::http::request_authority`]): the same host the client used, so that the token
/// comes from the same tenant and through the same TLS name.
fn realm(cfg: &AuthConfig, host: Option<&str>) -> String {
    if let Some(r) = &cfg.realm {
        return r.clone();
    }
    format!("{}://{}/registry/auth", cfg.scheme, host.unwrap_or("localhost"))
}

/// The 401 a `/v2/` request to `host` gets when its token does not cover `needed`.
pub(crate) fn challenge(cfg: &AuthConfig, host: Option<&str>, needed: Option<&Access>, error: Option<&str>) -> Error {
    let mut value = format!("Bearer realm=\"{}\",service=\"{}\"", realm(cfg, host), cfg.service);
    if let Some(a) = needed {
        value.push_str(&format!(",scope=\"{}\"", a.scope()));
    }
    if let Some(e) = error {
        value.push_str(&format!(",error=\"{e}\""));
    }
    let detail = needed.map(|a| serde_json::json!([{ "Type": a.kind, "Name": a.name, "Action": a.actions.join(",") }]));
    let mut err = Error::new(Code::Unauthorized, "authentication required").header(header::WWW_AUTHENTICATE, &value);
    if let Some(d) = detail {
        err = err.detail(d);
    }
    err
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Check the request's bearer token: valid for this service and issued for `tenant`.
pub(crate) fn verify(cfg: &AuthConfig, headers: &HeaderMap, tenant: &str) -> Option<Token> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))?.trim();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&[&cfg.service]);
    validation.set_issuer(&[&cfg.issuer]);
    validation.leeway = 30;
    let data =
        jsonwebtoken::decode::<Claims>(token, &jsonwebtoken::DecodingKey::from_secret(&cfg.signing_key), &validation)
            .ok()?;
    (data.claims.tenant == tenant).then_some(Token { subject: data.claims.sub, access: data.claims.access })
}

/// Whether `granted` covers `action` on `kind:name` (`*` covers everything).
pub(crate) fn covers(granted: &[Access], kind: &str, name: &str, action: &str) -> bool {
    granted.iter().any(|a| a.kind == kind && a.name == name && a.actions.iter().any(|x| x == action || x == "*"))
}

/// `GET /registry/auth?service=..&scope=..[&scope=..]` with optional Basic credentials.
///
/// `tenant` is the tenant of the request's host ("" without tenancy). With tenancy, a request
/// without scopes is a `docker login` and needs valid credentials of an
/// administrator or of a user of that tenant.
pub(crate) async fn token_endpoint(
    cfg: &AuthConfig,
    tenant: &str,
    tenancy: Option<&crate::tenancy::Tenancy>,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response {
    match issue(cfg, tenant, tenancy, query, headers).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn issue(
    cfg: &AuthConfig,
    tenant: &str,
    tenancy: Option<&crate::tenancy::Tenancy>,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response> {
    let mut scopes = Vec::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            // Several scopes may also come space-separated in one parameter.
            "scope" => scopes.extend(v.split(' ').filter_map(Access::parse_scope)),
            "service" if v != cfg.service => {
                return Err(Error::new(Code::Denied, format!("unknown service {v:?}")));
            }
            _ => {}
        }
    }
    let who = match apiserver::auth::basic(headers) {
        Some((user, password)) => match cfg.authenticator.authenticate(&user, &password).await? {
            Some(id) => Some(id),
            None => {
                tracing::info!(user = %user, "registry login refused");
                return Err(Error::new(Code::Unauthorized, "invalid username or password")
                    .header(header::WWW_AUTHENTICATE, "Basic realm=\"registry\""));
            }
        },
        None => None,
    };
    if let Some(tenancy) = tenancy
        && scopes.is_empty()
    {
        let member = who
            .as_ref()
            .is_some_and(|id| id.admin || id.tenant.as_deref().unwrap_or(&tenancy.default_tenant) == tenant);
        if !member {
            return Err(Error::new(Code::Unauthorized, "log in with an account of this tenant")
                .header(header::WWW_AUTHENTICATE, "Basic realm=\"registry\""));
        }
    }
    let mut access = Vec::new();
    for requested in &scopes {
        let actions = cfg.authorizer.grant(who.as_ref(), tenant, requested).await;
        access.push(Access { kind: requested.kind.clone(), name: requested.name.clone(), actions });
    }
    let iat = now();
    let claims = Claims {
        iss: cfg.issuer.clone(),
        sub: who.as_ref().map(|w| w.name.clone()).unwrap_or_default(),
        aud: cfg.service.clone(),
        exp: iat + cfg.token_ttl.as_secs(),
        nbf: iat.saturating_sub(1),
        iat,
        jti: uuid::Uuid::new_v4().to_string(),
        access,
        tenant: tenant.to_string(),
    };
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&cfg.signing_key),
    )
    .map_err(|e| Error::new(Code::Unknown, format!("signing token: {e}")))?;
    let issued_at = rfc3339(iat);
    let body = serde_json::json!({
        "token": token, "access_token": token, "expires_in": cfg.token_ttl.as_secs(), "issued_at": issued_at,
    });
    Ok(([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response())
}

/// Seconds since the epoch as an RFC 3339 UTC timestamp.
fn rfc3339(secs: u64) -> String {
    apimachinery::time::rfc3339(UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_dates() {
        let a = Access::parse_scope("repository:t1/ns/app:pull,push").expect("scope");
        assert_eq!((a.kind.as_str(), a.name.as_str()), ("repository", "t1/ns/app"));
        assert_eq!(a.actions, vec!["pull", "push"]);
        assert_eq!(a.scope(), "repository:t1/ns/app:pull,push");
        assert!(Access::parse_scope("repository").is_none());
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_709_251_200), "2024-03-01T00:00:00Z");
    }

    #[tokio::test]
    async fn policy() {
        let p = DefaultPolicy { public_prefixes: vec!["library".into()] };
        let pull_push = |name: &str| Access {
            kind: "repository".into(),
            name: name.into(),
            actions: vec!["pull".into(), "push".into()],
        };
        assert_eq!(p.grant(None, "", &pull_push("library/nginx")).await, vec!["pull"]);
        assert!(p.grant(None, "", &pull_push("libraryx/nginx")).await.is_empty());
        let admin = Identity { name: "admin".into(), admin: true, tenant: None, ..Default::default() };
        assert_eq!(p.grant(Some(&admin), "", &pull_push("a/b")).await, vec!["pull", "push"]);
        let catalog = Access { kind: "registry".into(), name: "catalog".into(), actions: vec!["*".into()] };
        let user = Identity { name: "u".into(), admin: false, tenant: None, ..Default::default() };
        assert!(p.grant(Some(&user), "", &catalog).await.is_empty());
    }

    #[tokio::test]
    async fn admin_password() {
        let hash = hash_password("s3cret").expect("hash");
        let a = AdminAuthenticator { username: "admin".into(), password_hash: hash };
        assert!(a.authenticate("admin", "s3cret").await.expect("auth").is_some());
        assert!(a.authenticate("admin", "wrong").await.expect("auth").is_none());
        assert!(a.authenticate("other", "s3cret").await.expect("auth").is_none());
    }
}
