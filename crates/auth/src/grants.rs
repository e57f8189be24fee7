//! The OpenID provider's short-lived state, kept in the platform's store (never served as API
//! objects) so that several replicas act as one: pending login requests, authorization codes,
//! browser sessions and refresh-token families.
//!
//! Every record is stored under the SHA-256 of its secret, never the secret itself, and carries
//! its expiry; a janitor removes expired records. One-time use (codes) and rotation (refresh
//! tokens) rest on the store's compare-and-swap, so two replicas racing on one code or one
//! refresh token cannot both win.

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use storage::{Revision, Store, StoreError};

use crate::people::Person;

/// A person as stored in codes, sessions and families.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredPerson {
    pub tenant: String,
    pub username: String,
    pub id: String,
    pub display_name: String,
    pub email: String,
    pub groups: Vec<String>,
}

impl From<&Person> for StoredPerson {
    fn from(p: &Person) -> Self {
        StoredPerson {
            tenant: p.tenant.clone(),
            username: p.username.clone(),
            id: p.id.clone(),
            display_name: p.display_name.clone(),
            email: p.email.clone(),
            groups: p.groups.clone(),
        }
    }
}

impl From<&StoredPerson> for Person {
    fn from(p: &StoredPerson) -> Self {
        Person {
            tenant: p.tenant.clone(),
            username: p.username.clone(),
            id: p.id.clone(),
            display_name: p.display_name.clone(),
            email: p.email.clone(),
            groups: p.groups.clone(),
            platform_admin: false,
        }
    }
}

/// A login in progress: the authorization request's parameters while the login page shows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: String,
    pub nonce: Option<String>,
    pub scope: String,
    pub code_challenge: String,
    /// The login form's anti-forgery value.
    pub csrf: String,
    /// For an upstream OpenID tenant: the PKCE verifier and nonce of our request to it.
    #[serde(default)]
    pub upstream: Option<UpstreamLeg>,
    pub expires_at: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UpstreamLeg {
    pub tenant: String,
    pub verifier: String,
    pub nonce: String,
}

/// An authorization code's grant.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Code {
    pub client_id: String,
    pub redirect_uri: String,
    pub nonce: Option<String>,
    pub scope: String,
    pub code_challenge: String,
    pub person: StoredPerson,
    pub session: String,
    pub expires_at: i64,
}

/// A browser's login at the provider (single sign-on across clients, ended by logout).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Session {
    pub person: StoredPerson,
    pub expires_at: i64,
}

/// A refresh-token family: every token rotated from one login. A token presented that is not
/// the family's current one means a copy was used: the family is revoked.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Family {
    pub client_id: String,
    pub scope: String,
    pub person: StoredPerson,
    pub session: String,
    /// SHA-256 of the current token's secret (base64url).
    pub current: String,
    pub generation: u64,
    pub revoked: bool,
    pub expires_at: i64,
}

/// Failed logins from one source address (any user).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct SourceFailures {
    failures: u32,
    window_start: i64,
    blocked_until: i64,
    lockouts: u32,
    expires_at: i64,
}

/// Failures from one address within [`crate::people::WINDOW`] that block it (higher than a
/// user's five: offices share addresses behind NAT).
pub const SOURCE_MAX_FAILURES: u32 = 20;

/// Why a grant operation failed.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("unknown, used or expired")]
    Invalid,
    #[error("the refresh token was used before: every token of its login is revoked")]
    Reused,
    #[error("the store is unavailable: {0}")]
    Store(String),
}

impl From<StoreError> for GrantError {
    fn from(e: StoreError) -> Self {
        GrantError::Store(e.to_string())
    }
}

/// A random secret: 32 bytes, base64url.
pub fn secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// SHA-256, base64url: how secrets appear in keys and records.
pub fn digest(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, secret.as_bytes()))
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub struct Grants {
    store: Arc<dyn Store>,
    prefix: String,
}

impl Grants {
    pub fn new(store: Arc<dyn Store>, key_root: &str) -> Arc<Self> {
        let prefix = format!("{}/auth.tkestack.io/private/", key_root.trim_end_matches('/'));
        Arc::new(Grants { store, prefix })
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}/{id}", self.prefix)
    }

    async fn put<T: Serialize>(&self, kind: &str, id: &str, record: &T) -> Result<(), GrantError> {
        let value = serde_json::to_vec(record).map_err(|e| GrantError::Store(e.to_string()))?;
        self.store.create(&self.key(kind, id), value.into()).await?;
        Ok(())
    }

    async fn get<T: DeserializeOwned>(&self, kind: &str, id: &str) -> Result<Option<(T, Revision)>, GrantError> {
        let (kv, _) = self.store.get(&self.key(kind, id)).await?;
        Ok(kv.and_then(|kv| serde_json::from_slice(&kv.value).ok().map(|r| (r, kv.mod_revision))))
    }

    /// Reads and deletes a record in one step; only one caller ever gets it.
    async fn take<T: DeserializeOwned>(&self, kind: &str, id: &str) -> Result<Option<T>, GrantError> {
        let Some((record, rev)) = self.get::<T>(kind, id).await? else { return Ok(None) };
        match self.store.delete(&self.key(kind, id), Some(rev)).await {
            Ok(_) => Ok(Some(record)),
            Err(StoreError::NotFound { .. } | StoreError::Conflict { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn remove(&self, kind: &str, id: &str) -> Result<(), GrantError> {
        match self.store.delete(&self.key(kind, id), None).await {
            Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores a pending login; returns its id.
    pub async fn begin(&self, request: &AuthRequest) -> Result<String, GrantError> {
        let id = secret();
        self.put("requests", &digest(&id), request).await?;
        Ok(id)
    }

    pub async fn request(&self, id: &str) -> Result<AuthRequest, GrantError> {
        match self.get::<AuthRequest>("requests", &digest(id)).await? {
            Some((r, _)) if r.expires_at > now() => Ok(r),
            _ => Err(GrantError::Invalid),
        }
    }

    /// Records the upstream leg of a pending login (an `oidc` tenant was chosen).
    pub async fn set_upstream(&self, id: &str, leg: UpstreamLeg) -> Result<(), GrantError> {
        let key = self.key("requests", &digest(id));
        for _ in 0..4 {
            let (Some(kv), _) = self.store.get(&key).await? else { return Err(GrantError::Invalid) };
            let mut request: AuthRequest = serde_json::from_slice(&kv.value).map_err(|_| GrantError::Invalid)?;
            request.upstream = Some(leg.clone());
            let value = serde_json::to_vec(&request).map_err(|e| GrantError::Store(e.to_string()))?;
            match self.store.update(&key, value.into(), kv.mod_revision).await {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(GrantError::Invalid)
    }

    /// Ends a pending login (it may be finished once).
    pub async fn finish_request(&self, id: &str) -> Result<AuthRequest, GrantError> {
        match self.take::<AuthRequest>("requests", &digest(id)).await? {
            Some(r) if r.expires_at > now() => Ok(r),
            _ => Err(GrantError::Invalid),
        }
    }

    /// Issues an authorization code.
    pub async fn issue_code(&self, code: &Code) -> Result<String, GrantError> {
        let secret = secret();
        self.put("codes", &digest(&secret), code).await?;
        Ok(secret)
    }

    /// Redeems a code: once only, before it expires.
    pub async fn redeem_code(&self, code: &str) -> Result<Code, GrantError> {
        match self.take::<Code>("codes", &digest(code)).await? {
            Some(c) if c.expires_at > now() => Ok(c),
            _ => Err(GrantError::Invalid),
        }
    }

    pub async fn start_session(&self, person: &Person, ttl: Duration) -> Result<String, GrantError> {
        let id = secret();
        let session = Session { person: person.into(), expires_at: now() + ttl.as_secs() as i64 };
        self.put("sessions", &digest(&id), &session).await?;
        Ok(id)
    }

    pub async fn session(&self, id: &str) -> Result<Option<Session>, GrantError> {
        Ok(self.get::<Session>("sessions", &digest(id)).await?.map(|(s, _)| s).filter(|s| s.expires_at > now()))
    }

    /// Ends a session and revokes every refresh-token family started in it.
    pub async fn end_session(&self, id: &str) -> Result<(), GrantError> {
        let session_key = digest(id);
        self.remove("sessions", &session_key).await?;
        let start = self.key("families", "");
        let end = format!("{}0", start.trim_end_matches('/'));
        let range = self.store.range(&start, &end, 0, 0).await?;
        for kv in range.kvs {
            if let Ok(mut f) = serde_json::from_slice::<Family>(&kv.value)
                && f.session == session_key
                && !f.revoked
            {
                f.revoked = true;
                let value = serde_json::to_vec(&f).map_err(|e| GrantError::Store(e.to_string()))?;
                let _ = self.store.update(&kv.key, value.into(), kv.mod_revision).await;
            }
        }
        Ok(())
    }

    /// Starts a refresh-token family; returns the first token (`{family}.{secret}`).
    pub async fn start_family(
        &self,
        client_id: &str,
        scope: &str,
        person: &Person,
        session: &str,
        ttl: Duration,
    ) -> Result<String, GrantError> {
        let family = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
        let secret = secret();
        let record = Family {
            client_id: client_id.to_string(),
            scope: scope.to_string(),
            person: person.into(),
            session: digest(session),
            current: digest(&secret),
            generation: 0,
            revoked: false,
            expires_at: now() + ttl.as_secs() as i64,
        };
        self.put("families", &family, &record).await?;
        Ok(format!("{family}.{secret}"))
    }

    /// Rotates a refresh token: returns the family and the next token. A token that is not the
    /// family's current one revokes the family.
    pub async fn rotate(&self, token: &str, client_id: &str) -> Result<(Family, String), GrantError> {
        let (family_id, secret_part) = token.split_once('.').ok_or(GrantError::Invalid)?;
        if family_id.is_empty() || family_id.contains('/') {
            return Err(GrantError::Invalid);
        }
        let key = self.key("families", family_id);
        for _ in 0..4 {
            let (kv, _) = self.store.get(&key).await?;
            let kv = kv.ok_or(GrantError::Invalid)?;
            let mut family: Family = serde_json::from_slice(&kv.value).map_err(|_| GrantError::Invalid)?;
            if family.revoked || family.expires_at <= now() || family.client_id != client_id {
                return Err(GrantError::Invalid);
            }
            if !constant_eq(family.current.as_bytes(), digest(secret_part).as_bytes()) {
                family.revoked = true;
                let value = serde_json::to_vec(&family).map_err(|e| GrantError::Store(e.to_string()))?;
                match self.store.update(&key, value.into(), kv.mod_revision).await {
                    Ok(_) => return Err(GrantError::Reused),
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            let next = secret();
            family.current = digest(&next);
            family.generation += 1;
            let value = serde_json::to_vec(&family).map_err(|e| GrantError::Store(e.to_string()))?;
            match self.store.update(&key, value.into(), kv.mod_revision).await {
                Ok(_) => return Ok((family, format!("{family_id}.{next}"))),
                // Someone rotated it first: our token is now an old one.
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(GrantError::Invalid)
    }

    /// Revokes the family of a refresh token (RFC 7009: unknown tokens are not an error).
    pub async fn revoke(&self, token: &str) -> Result<(), GrantError> {
        let Some((family_id, _)) = token.split_once('.') else { return Ok(()) };
        if family_id.is_empty() || family_id.contains('/') {
            return Ok(());
        }
        let key = self.key("families", family_id);
        for _ in 0..4 {
            let (Some(kv), _) = self.store.get(&key).await? else { return Ok(()) };
            let Ok(mut family) = serde_json::from_slice::<Family>(&kv.value) else { return Ok(()) };
            family.revoked = true;
            let value = serde_json::to_vec(&family).map_err(|e| GrantError::Store(e.to_string()))?;
            match self.store.update(&key, value.into(), kv.mod_revision).await {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// When logins from `source` are refused until (RFC 3339), if they are now.
    pub async fn source_blocked(&self, source: &str) -> Option<String> {
        let (record, _) = self.get::<SourceFailures>("sources", &digest(source)).await.ok()??;
        (record.blocked_until > now())
            .then(|| chrono::DateTime::from_timestamp(record.blocked_until, 0).unwrap_or_default().to_rfc3339())
    }

    /// Counts a failed login from `source`; at [`SOURCE_MAX_FAILURES`] within the window the
    /// address is blocked for the window, twice as long each time in a row (at most a day).
    pub async fn source_failed(&self, source: &str) {
        let key = self.key("sources", &digest(source));
        let window = crate::people::WINDOW.as_secs() as i64;
        for _ in 0..8 {
            let Ok((current, _)) = self.store.get(&key).await else { return };
            let now = now();
            let mut record: SourceFailures =
                current.as_ref().and_then(|kv| serde_json::from_slice(&kv.value).ok()).unwrap_or_default();
            if now - record.window_start > window {
                record.failures = 0;
                record.window_start = now;
            }
            record.failures += 1;
            if record.failures >= SOURCE_MAX_FAILURES {
                let length = (window << record.lockouts.min(6)).min(24 * 3600);
                record.blocked_until = now + length;
                record.lockouts += 1;
                record.failures = 0;
                tracing::warn!(
                    source,
                    seconds = length,
                    "logins from a source address blocked after repeated failures"
                );
            }
            record.expires_at = now.max(record.blocked_until) + 24 * 3600;
            let Ok(value) = serde_json::to_vec(&record) else { return };
            let written = match &current {
                None => self.store.create(&key, value.into()).await.map(|_| ()),
                Some(kv) => self.store.update(&key, value.into(), kv.mod_revision).await.map(|_| ()),
            };
            match written {
                Ok(()) => return,
                Err(StoreError::Conflict { .. } | StoreError::AlreadyExists { .. }) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "recording a failed login failed");
                    return;
                }
            }
        }
    }

    /// Removes expired records (and revoked families past their expiry).
    pub async fn sweep(&self) -> Result<usize, GrantError> {
        let mut removed = 0;
        let end = format!("{}~", self.prefix);
        let range = self.store.range(&self.prefix, &end, 0, 0).await?;
        let now = now();
        for kv in range.kvs {
            let expires = serde_json::from_slice::<serde_json::Value>(&kv.value)
                .ok()
                .and_then(|v| v.get("expires_at").and_then(serde_json::Value::as_i64))
                .unwrap_or(0);
            if expires <= now && self.store.delete(&kv.key, Some(kv.mod_revision)).await.is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Equality of secrets without data-dependent timing (the API server's token comparison).
pub use apiserver::auth::constant_time_eq as constant_eq;

/// The PKCE S256 challenge of a verifier (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
