//! API keys: long-lived tokens for scripts (reference 1.3). A key is an ES256 JWT naming its
//! user (`usr`), tenant (`ted`) and id (`jti`), with its expiry, recorded as an APIKey object.
//! A token counts only while its object exists, is not disabled and has not expired, so
//! disabling or deleting the object revokes it at once on every replica.
//!
//! Issued by `POST /apis/auth.tkestack.io/v1/apikeys/default/token` (for the caller) and
//! `POST .../apikeys/default/password` (with tenant, username and base64 password, reachable
//! without logging in). The token is in that answer only; reads never show it again.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use api::auth::{APIKey, identity_provider::types};
use apimachinery::ApiError;
use apiserver::{
    UserInfo,
    auth::Authentication,
    http::error_response,
    store::{ResourceStore, WriteOptions},
};
use axum::{
    Extension, Json,
    body::Bytes,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    index::{Index, system_context},
    keys::{SigningKeys, VerifyError},
    people::{LoginError, People, Person},
};

/// The claims of an API key (TKEStack's, plus `iss`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyClaims {
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// The username.
    pub usr: String,
    /// The tenant.
    pub ted: String,
}

/// Where a caller gets a key for themselves.
pub const TOKEN_PATH: &str = "/apis/auth.tkestack.io/v1/apikeys/default/token";
/// Where anyone gets a key with a username and password.
pub const PASSWORD_PATH: &str = "/apis/auth.tkestack.io/v1/apikeys/default/password";

/// The longest an API key may live.
pub const MAX_EXPIRE: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// When a request names none.
pub const DEFAULT_EXPIRE: Duration = Duration::from_secs(24 * 3600);

pub struct ApiKeys {
    pub issuer: String,
    pub keys: Arc<SigningKeys>,
    pub people: Arc<People>,
    pub index: Arc<Index<APIKey>>,
    pub store: Arc<ResourceStore>,
    pub grants: Arc<crate::grants::Grants>,
}

/// A Go-style duration as TKEStack's `expire` field carries it (`24h`, `1h30m`, `90s`), plus
/// days (`30d`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = 0u64;
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().ok()?;
        number.clear();
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    if !number.is_empty() {
        return None;
    }
    (total > 0).then(|| Duration::from_secs(total))
}

#[derive(Deserialize, Default)]
struct KeyRequest {
    #[serde(default)]
    expire: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PasswordKeyRequest {
    #[serde(default, rename = "tenantID")]
    tenant_id: String,
    #[serde(default)]
    username: String,
    /// Base64 of the password, as TKEStack's API takes it.
    #[serde(default)]
    password: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    expire: String,
}

impl ApiKeys {
    /// Issues a key for `person`.
    pub async fn issue(&self, person: &Person, expire: &str, description: &str) -> Result<serde_json::Value, ApiError> {
        let ttl = if expire.trim().is_empty() {
            DEFAULT_EXPIRE
        } else {
            parse_duration(expire).ok_or_else(|| {
                ApiError::bad_request(format!("expire {expire:?} is not a duration such as 24h, 30m or 90d"))
            })?
        };
        if ttl > MAX_EXPIRE {
            return Err(ApiError::bad_request("expire may be at most 10 years (87600h)"));
        }
        if description.chars().count() > 1024 {
            return Err(ApiError::bad_request("the description may have at most 1024 characters"));
        }
        let now = chrono::Utc::now();
        let exp = now + chrono::Duration::from_std(ttl).unwrap_or_default();
        let jti = crate::keys::hex(&rand::random::<[u8; 16]>());
        let claims = KeyClaims {
            iss: self.issuer.clone(),
            iat: now.timestamp(),
            exp: exp.timestamp(),
            jti: jti.clone(),
            usr: person.username.clone(),
            ted: person.tenant.clone(),
        };
        let token = self.keys.sign(&claims)?;
        let stamp = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let obj = json!({"apiVersion": api::auth::API_VERSION, "kind": "APIKey",
            "metadata": {"generateName": "apk-"},
            "spec": {"apiKey": token, "tenantID": person.tenant, "username": person.username,
                "description": description, "issue_at": stamp(now), "expire_at": stamp(exp), "tokenID": jti}});
        let written = self.store.create(&system_context(), obj, &WriteOptions::default()).await?;
        // The one answer that carries the token.
        let mut shown = written.object;
        shown["spec"]["apiKey"] = json!(token);
        Ok(shown)
    }

    /// The user an API key stands for now, `None` when `token` is not one of ours.
    pub fn authenticate(&self, token: &str) -> Option<Result<UserInfo, String>> {
        let claims = match self.keys.verify::<KeyClaims>(token, &self.issuer) {
            Ok(c) => c,
            // Retired signing keys are removed once their ID tokens have expired; an API key
            // outlives them and is then checked against its stored token.
            Err(VerifyError::UnknownKey) => {
                let claims = unverified_claims(token)?;
                let stored = self.index.find(|k| k.spec.token_id == claims.jti)?;
                if !crate::grants::constant_eq(stored.spec.api_key.as_bytes(), token.as_bytes()) {
                    return None;
                }
                if claims.exp < chrono::Utc::now().timestamp() {
                    return Some(Err("the API key has expired".into()));
                }
                claims
            }
            // Not an API key (an ID token has no `jti`/`ted`), or not ours.
            Err(VerifyError::Malformed) => return None,
            Err(e) => return Some(Err(format!("API key: {e}"))),
        };
        Some(self.user_of(&claims))
    }

    fn user_of(&self, claims: &KeyClaims) -> Result<UserInfo, String> {
        let key = self.index.find(|k| k.spec.token_id == claims.jti).ok_or("the API key was deleted")?;
        if key.disabled() {
            return Err("the API key is disabled".into());
        }
        if key.tenant() != claims.ted || key.spec.username != claims.usr {
            return Err("the API key does not match its record".into());
        }
        let idp = self.people.idps.get(&claims.ted).ok_or("the key's tenant no longer exists")?;
        let mut groups = vec![];
        if idp.spec.type_ == types::TKE {
            let user = self
                .people
                .local_user(&claims.ted, &claims.usr)
                .ok_or_else(|| format!("user {:?} of the key no longer exists", claims.usr))?;
            groups = self.people.person_of(&user).user_info().groups;
        }
        let mut extra = BTreeMap::new();
        extra.insert("tenantid".to_string(), vec![claims.ted.clone()]);
        extra.insert("issueAt".to_string(), vec![key.spec.issue_at.clone()]);
        extra.insert("expireAt".to_string(), vec![key.spec.expire_at.clone()]);
        if !key.spec.description.is_empty() {
            extra.insert("description".to_string(), vec![key.spec.description.clone()]);
        }
        Ok(UserInfo { name: claims.usr.clone(), uid: key.name().to_string(), groups, extra })
    }

    /// As an authenticator answer.
    pub fn authentication(&self, token: &str) -> Authentication {
        match self.authenticate(token) {
            None => Authentication::NotApplicable,
            Some(Ok(user)) => Authentication::Authenticated(user),
            Some(Err(reason)) => Authentication::Rejected(reason),
        }
    }
}

/// The claims of a token without checking its signature (only to find its stored record).
fn unverified_claims(token: &str) -> Option<KeyClaims> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn person_of_caller(keys: &ApiKeys, user: &UserInfo) -> Result<Person, ApiError> {
    let tenant = user.tenant();
    if let Some(u) = keys.people.local_user(&tenant, &user.name) {
        return Ok(keys.people.person_of(&u));
    }
    // Users of directory tenants (and certificate users) are issued keys by name.
    if user.name.is_empty() || user.name.starts_with("system:") {
        return Err(ApiError::forbidden(
            api::auth::GROUP,
            "apikeys",
            "default",
            "API keys are issued to users of a tenant; this caller is not one",
        ));
    }
    Ok(Person {
        tenant,
        username: user.name.clone(),
        id: user.uid.clone(),
        display_name: user.name.clone(),
        email: String::new(),
        groups: user.groups.clone(),
        platform_admin: false,
    })
}

/// `POST /apis/auth.tkestack.io/v1/apikeys/default/token`: a key for the caller.
pub async fn token_route(
    State(keys): State<Arc<ApiKeys>>,
    Extension(user): Extension<UserInfo>,
    body: Bytes,
) -> Response {
    let result = async {
        let req: KeyRequest = if body.is_empty() {
            KeyRequest::default()
        } else {
            serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("the request is not an APIKeyReq: {e}")))?
        };
        let person = person_of_caller(&keys, &user)?;
        keys.issue(&person, &req.expire, &req.description).await
    }
    .await;
    match result {
        Ok(obj) => (StatusCode::CREATED, Json(obj)).into_response(),
        Err(e) => error_response(&e),
    }
}

/// `POST /apis/auth.tkestack.io/v1/apikeys/default/password`: a key for whoever proves a
/// username and password (no login needed). Failures count toward the user's lockout.
pub async fn password_route(State(keys): State<Arc<ApiKeys>>, source: crate::oidc::Source, body: Bytes) -> Response {
    let result = async {
        let req: PasswordKeyRequest = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("the request is not an APIKeyReqPassword: {e}")))?;
        let password = crate::password::decode_field(&req.password)
            .map_err(|_| ApiError::bad_request("password must be the base64 of the password"))?;
        let tenant = if req.tenant_id.is_empty() { crate::bootstrap::DEFAULT_TENANT } else { &req.tenant_id };
        let ip = crate::oidc::ip_of(&source);
        let person =
            keys.people.login_from(&keys.grants, ip, tenant, &req.username, &password).await.map_err(|e| match e {
                LoginError::Unavailable(_) => ApiError::unavailable("the tenant's identity provider cannot be reached"),
                LoginError::Locked(until) => {
                    ApiError::unauthorized(format!("the account is locked after repeated failed logins until {until}"))
                }
                e @ LoginError::SourceBlocked(_) => ApiError::too_many_requests(e.to_string(), 60),
                _ => ApiError::unauthorized("wrong tenant, username or password"),
            })?;
        keys.issue(&person, &req.expire, &req.description).await
    }
    .await;
    match result {
        Ok(obj) => (StatusCode::CREATED, Json(obj)).into_response(),
        Err(e) => error_response(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("90d"), Some(Duration::from_secs(90 * 86_400)));
        for bad in ["", "h", "10", "1x", "-1h", "0s", "99999999999999999999h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
