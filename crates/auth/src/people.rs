//! Who the platform's people are, whatever kind of tenant they belong to: password logins
//! against the tenant's IdentityProvider (`tke`: LocalIdentity objects; `ldap`: a directory),
//! with lockout after repeated failures, and the current facts about an authenticated user
//! (groups, platform administrator) that tokens are checked against on every request.
//!
//! Lockout: 5 failed logins within 15 minutes lock a local user for 15 minutes, each further
//! lockout in a row twice as long (capped at a day); the counters live in the user's status, so
//! every replica sees them and an administrator can unlock by clearing `status.locked`. A
//! successful login resets them. An unknown username costs the same hash as a known one.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use api::auth::{IdentityProvider, LocalGroup, LocalIdentity, identity_provider::types};
use apimachinery::ApiError;
use apiserver::{ApiServer, store::ResourceStore, store::WriteOptions};
use serde_json::Value;

use crate::index::{Index, store_of, system_context};

/// Failures that lock an account.
pub const MAX_FAILURES: u32 = 5;
/// The window failures are counted in, and the first lockout's length.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// The longest lockout.
pub const MAX_LOCKOUT: Duration = Duration::from_secs(24 * 3600);

/// A person as the platform knows them after a login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub tenant: String,
    pub username: String,
    /// Stable id: the LocalIdentity's name, or the directory's id attribute.
    pub id: String,
    pub display_name: String,
    pub email: String,
    pub groups: Vec<String>,
    pub platform_admin: bool,
}

impl Person {
    /// The person as the API servers see a caller: their groups (with `system:masters` for a
    /// platform administrator) and the tenant in extra `tenantid`.
    pub fn user_info(&self) -> apiserver::UserInfo {
        let mut groups = self.groups.clone();
        if self.platform_admin {
            groups.push(apiserver::resource::ADMIN_GROUP.to_string());
        }
        let mut extra = std::collections::BTreeMap::new();
        extra.insert("tenantid".to_string(), vec![self.tenant.clone()]);
        apiserver::UserInfo { name: self.username.clone(), uid: self.id.clone(), groups, extra }
    }
}

/// Why a login failed. Callers show every variant but `Unavailable` as the same "wrong
/// username or password", so that a guesser learns nothing.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the username or password is wrong")]
    Wrong,
    #[error("the account is locked after repeated failed logins until {0}")]
    Locked(String),
    #[error("too many failed logins from this address; try again after {0}")]
    SourceBlocked(String),
    #[error("tenant {0:?} does not exist")]
    NoTenant(String),
    #[error("the tenant's identity provider cannot be reached: {0}")]
    Unavailable(String),
}

pub struct People {
    pub idps: Arc<Index<IdentityProvider>>,
    pub users: Arc<Index<LocalIdentity>>,
    pub groups: Arc<Index<LocalGroup>>,
    user_store: Arc<ResourceStore>,
    /// Directories of LDAP tenants, by tenant, with the configuration they were made from.
    directories: Mutex<HashMap<String, (String, Arc<crate::ldap::Directory>)>>,
    /// Upstream OpenID providers of `oidc` tenants, likewise.
    upstreams: tokio::sync::Mutex<HashMap<String, (String, Arc<crate::upstream::Upstream>)>>,
}

impl People {
    pub async fn start(server: &Arc<ApiServer>) -> Result<Arc<Self>, ApiError> {
        let user_store = store_of(server, "localidentities")?;
        Ok(Arc::new(People {
            idps: Index::start(store_of(server, "identityproviders")?).await?,
            users: Index::start(user_store.clone()).await?,
            groups: Index::start(store_of(server, "localgroups")?).await?,
            user_store,
            directories: Mutex::new(HashMap::new()),
            upstreams: tokio::sync::Mutex::new(HashMap::new()),
        }))
    }

    pub fn local_user(&self, tenant: &str, username: &str) -> Option<Arc<LocalIdentity>> {
        self.users.find(|u| u.tenant() == tenant && u.spec.username == username)
    }

    /// Names of the LocalGroups `user` (an object name) is a member of.
    pub fn local_groups(&self, tenant: &str, user_id: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .groups
            .filter(|g| g.tenant() == tenant && g.members().iter().any(|m| m.id == user_id))
            .iter()
            .map(|g| g.name().to_string())
            .collect();
        names.sort();
        names
    }

    /// The directory of an `ldap` tenant, made once per configuration.
    pub fn directory(&self, idp: &IdentityProvider) -> Result<Arc<crate::ldap::Directory>, LoginError> {
        let config = idp.config_with_secrets().map_err(LoginError::Unavailable)?.to_string();
        let mut dirs = self.directories.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((c, d)) = dirs.get(idp.name())
            && *c == config
        {
            return Ok(d.clone());
        }
        let dir = crate::ldap::Directory::from_json(&config).map_err(|e| LoginError::Unavailable(e.to_string()))?;
        dirs.insert(idp.name().to_string(), (config, dir.clone()));
        Ok(dir)
    }

    /// The upstream OpenID provider of an `oidc` tenant, discovered once per configuration.
    pub async fn upstream(&self, idp: &IdentityProvider) -> Result<Arc<crate::upstream::Upstream>, LoginError> {
        let config = crate::upstream::Config::of(idp).map_err(|e| LoginError::Unavailable(e.to_string()))?;
        let key = idp.config_with_secrets().map_err(LoginError::Unavailable)?.to_string();
        let mut upstreams = self.upstreams.lock().await;
        if let Some((k, u)) = upstreams.get(idp.name())
            && *k == key
        {
            return Ok(u.clone());
        }
        let upstream = Arc::new(
            crate::upstream::Upstream::discover(idp.name(), config)
                .await
                .map_err(|e| LoginError::Unavailable(e.to_string()))?,
        );
        upstreams.insert(idp.name().to_string(), (key, upstream.clone()));
        Ok(upstream)
    }

    /// [`People::login`] for a request from `source` (an address): refused while the address is
    /// blocked after repeated failures, and failures counted against it.
    pub async fn login_from(
        &self,
        grants: &crate::grants::Grants,
        source: Option<std::net::IpAddr>,
        tenant: &str,
        username: &str,
        password: &str,
    ) -> Result<Person, LoginError> {
        let source = source.map(|ip| ip.to_string());
        if let Some(s) = &source
            && let Some(until) = grants.source_blocked(s).await
        {
            return Err(LoginError::SourceBlocked(until));
        }
        let result = self.login(tenant, username, password).await;
        if let (Err(LoginError::Wrong | LoginError::NoTenant(_)), Some(s)) = (&result, &source) {
            grants.source_failed(s).await;
        }
        result
    }

    /// Checks a username and password in `tenant`.
    pub async fn login(&self, tenant: &str, username: &str, password: &str) -> Result<Person, LoginError> {
        let idp = self.idps.get(tenant).ok_or_else(|| LoginError::NoTenant(tenant.to_string()))?;
        if password.is_empty() {
            return Err(LoginError::Wrong);
        }
        match idp.spec.type_.as_str() {
            types::TKE => self.local_login(&idp, username, password).await,
            types::LDAP => {
                let dir = self.directory(&idp)?;
                match dir.login(username, password).await {
                    Ok(Some((user, groups))) => Ok(Person {
                        tenant: tenant.to_string(),
                        username: user.username.clone(),
                        id: user.id.clone(),
                        display_name: user.display_name.clone(),
                        email: user.email.clone(),
                        groups: groups.into_iter().map(|g| g.name).collect(),
                        platform_admin: false,
                    }),
                    Ok(None) => Err(LoginError::Wrong),
                    Err(e) => Err(LoginError::Unavailable(e.to_string())),
                }
            }
            other => Err(LoginError::Unavailable(format!("tenants of type {other} log in through their own provider"))),
        }
    }

    async fn local_login(&self, idp: &IdentityProvider, username: &str, password: &str) -> Result<Person, LoginError> {
        let Some(user) = self.local_user(idp.name(), username) else {
            let plain = password.to_string();
            let _ = tokio::task::spawn_blocking(move || crate::password::verify_nobody(plain)).await;
            return Err(LoginError::Wrong);
        };
        let now = chrono::Utc::now();
        if let Some(until) = locked_until(&user, now) {
            return Err(LoginError::Locked(until));
        }
        let hash = user.spec.hashed_password.clone();
        let plain = password.to_string();
        let ok = !hash.is_empty()
            && tokio::task::spawn_blocking(move || crate::password::verify(&plain, &hash)).await.unwrap_or(false);
        self.record(&user, ok, now).await;
        if !ok {
            return Err(LoginError::Wrong);
        }
        Ok(self.person_of(&user))
    }

    /// The facts about a local user that go into tokens.
    pub fn person_of(&self, user: &LocalIdentity) -> Person {
        let mut groups = user.spec.groups.clone();
        for g in self.local_groups(user.tenant(), user.name()) {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        Person {
            tenant: user.tenant().to_string(),
            username: user.spec.username.clone(),
            id: user.name().to_string(),
            display_name: if user.spec.display_name.is_empty() {
                user.spec.username.clone()
            } else {
                user.spec.display_name.clone()
            },
            email: user.spec.email.clone(),
            groups,
            platform_admin: user.platform_admin(),
        }
    }

    /// Counts a failure (locking the account at the limit) or clears the counters on success.
    /// Retries on conflicts with concurrent logins, so no failure goes uncounted.
    pub(crate) async fn record(&self, user: &LocalIdentity, ok: bool, now: chrono::DateTime<chrono::Utc>) {
        let name = user.name().to_string();
        for _ in 0..8 {
            let Ok(current) = self.user_store.get(&system_context(), &name, None).await else { return };
            let mut status: api::auth::local_identity::LocalIdentityStatus =
                serde_json::from_value(current.get("status").cloned().unwrap_or(Value::Null)).unwrap_or_default();
            let before = status.clone();
            if ok {
                status.failed_logins = 0;
                status.lockouts = 0;
                if status.locked_until.is_some() {
                    status.locked = false;
                    status.locked_until = None;
                }
            } else {
                // Failures older than the window no longer count.
                let stale = status
                    .last_update_time
                    .as_deref()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| now.signed_duration_since(t).to_std().unwrap_or_default() > WINDOW);
                if stale {
                    status.failed_logins = 0;
                }
                status.failed_logins += 1;
                status.last_update_time = Some(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                if status.failed_logins >= MAX_FAILURES {
                    let factor = 1u32 << status.lockouts.min(10);
                    let length = (WINDOW * factor).min(MAX_LOCKOUT);
                    let until = now + chrono::Duration::from_std(length).unwrap_or_default();
                    status.locked = true;
                    status.locked_until = Some(until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                    status.lockouts += 1;
                    status.failed_logins = 0;
                    tracing::warn!(user = %user.spec.username, tenant = user.tenant(), until = ?status.locked_until, "account locked after repeated failed logins");
                }
            }
            if status == before {
                return;
            }
            let mut obj = current;
            obj["status"] = serde_json::to_value(&status).unwrap_or_default();
            match self.user_store.update(&system_context(), &name, Some("status"), obj, &WriteOptions::default()).await
            {
                Ok(_) => return,
                Err(e) if e.code() == 409 => continue,
                Err(e) => {
                    tracing::warn!(user = %user.spec.username, error = %e.message, "recording a login failed");
                    return;
                }
            }
        }
    }
}

/// When the user's lockout ends, if it has not yet. A lock set by hand (no end) lasts until
/// an administrator clears it.
pub fn locked_until(user: &LocalIdentity, now: chrono::DateTime<chrono::Utc>) -> Option<String> {
    let status = user.status.as_ref()?;
    if !status.locked {
        return None;
    }
    match status.locked_until.as_deref() {
        None => Some("an administrator unlocks it".into()),
        Some(t) => match chrono::DateTime::parse_from_rfc3339(t) {
            Ok(end) if end > now => Some(t.to_string()),
            Ok(_) => None,
            Err(_) => Some("an administrator unlocks it".into()),
        },
    }
}
