//! Tenants whose people live in an LDAP directory (IdentityProvider type `ldap`): password
//! logins (search the user as the service account, then bind as the user), group membership,
//! and the user and group listings by keyword that the console's pickers and the User/Group
//! views show. The configuration is dex's LDAP connector JSON, as TKEStack stores it in the
//! IdentityProvider's `spec.config`, so existing tenants move over unchanged.
//!
//! Searches share one connection bound as the service account (ldap3 multiplexes operations
//! on it; it is re-opened when it fails). A password check opens a connection of its own,
//! because a bind changes the identity of the connection it is made on. Every value from a
//! user goes into filters escaped (RFC 4515) and an empty password is refused before it
//! reaches the server: LDAP treats a bind with a DN and no password as an anonymous bind that
//! "succeeds".

use std::{collections::HashMap, sync::Arc, time::Duration};

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, SearchOptions, ldap_escape};
use serde::Deserialize;
use tokio::sync::Mutex;

/// How long to wait for the directory to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one operation may take before the login or listing fails.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// The most entries a listing returns, whatever the caller asks.
pub const MAX_LIST: i32 = 500;

/// dex's LDAP connector configuration (the JSON in IdentityProvider `spec.config`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `host:port`; port 636 (ldaps) or 389 (with `insecureNoSSL` or `startTLS`) when absent.
    pub host: String,
    #[serde(rename = "insecureNoSSL")]
    pub insecure_no_ssl: bool,
    #[serde(rename = "insecureSkipVerify")]
    pub insecure_skip_verify: bool,
    #[serde(rename = "startTLS")]
    pub start_tls: bool,
    /// PEM of the CA that signs the directory's certificate, base64 encoded (dex's rootCAData).
    #[serde(rename = "rootCAData")]
    pub root_ca_data: String,
    #[serde(rename = "bindDN")]
    pub bind_dn: String,
    #[serde(rename = "bindPW")]
    pub bind_pw: String,
    #[serde(rename = "usernamePrompt")]
    pub username_prompt: String,
    #[serde(rename = "userSearch")]
    pub user_search: UserSearch,
    #[serde(rename = "groupSearch")]
    pub group_search: GroupSearch,
}

/// Where users are and which attributes say what.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct UserSearch {
    #[serde(rename = "baseDN")]
    pub base_dn: String,
    /// Extra filter every user must match, e.g. `(objectClass=person)`.
    pub filter: String,
    /// The attribute the login name is matched against (`uid`).
    pub username: String,
    /// `sub` (default) or `one`.
    pub scope: String,
    #[serde(rename = "idAttr")]
    pub id_attr: String,
    #[serde(rename = "emailAttr")]
    pub email_attr: String,
    #[serde(rename = "nameAttr")]
    pub name_attr: String,
    #[serde(rename = "preferredUsernameAttr")]
    pub preferred_username_attr: String,
}

impl Default for UserSearch {
    fn default() -> Self {
        UserSearch {
            base_dn: String::new(),
            filter: String::new(),
            username: "uid".into(),
            scope: "sub".into(),
            id_attr: "uid".into(),
            email_attr: "mail".into(),
            name_attr: "cn".into(),
            preferred_username_attr: String::new(),
        }
    }
}

/// Where groups are and how they name their members.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct GroupSearch {
    #[serde(rename = "baseDN")]
    pub base_dn: String,
    pub filter: String,
    pub scope: String,
    /// The user's attribute a group lists (`DN` for the user's DN itself).
    #[serde(rename = "userAttr")]
    pub user_attr: String,
    /// The group's attribute that lists members (`member`, `memberUid`).
    #[serde(rename = "groupAttr")]
    pub group_attr: String,
    #[serde(rename = "nameAttr")]
    pub name_attr: String,
}

impl Default for GroupSearch {
    fn default() -> Self {
        GroupSearch {
            base_dn: String::new(),
            filter: String::new(),
            scope: "sub".into(),
            user_attr: "DN".into(),
            group_attr: "member".into(),
            name_attr: "cn".into(),
        }
    }
}

/// Why a directory operation failed (never because of a wrong password: that is `Ok(None)`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the LDAP configuration is not valid: {0}")]
    Config(String),
    #[error("cannot reach the LDAP server {host}: {source}")]
    Connect { host: String, source: ldap3::LdapError },
    #[error("the LDAP server refused the service account {bind_dn:?}: {source}")]
    ServiceBind { bind_dn: String, source: ldap3::LdapError },
    #[error("LDAP {operation} failed: {source}")]
    Operation { operation: &'static str, source: ldap3::LdapError },
    #[error("LDAP {0} timed out after {OPERATION_TIMEOUT:?}")]
    Timeout(&'static str),
}

/// A person in the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub dn: String,
    /// `idAttr`: stable across renames when the directory has such an attribute.
    pub id: String,
    /// The login name (`username` attribute, or `preferredUsernameAttr` when set).
    pub username: String,
    pub display_name: String,
    pub email: String,
}

/// A group in the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub dn: String,
    /// `nameAttr`.
    pub name: String,
    pub description: String,
    /// The members' login names, where the group lists them by DN under the users' base.
    pub members: Vec<String>,
}

/// One tenant's directory.
pub struct Directory {
    config: Config,
    url: String,
    settings: LdapConnSettings,
    /// Bound as the service account, shared by searches.
    searcher: Mutex<Option<Ldap>>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // bindPW stays out of logs.
        f.debug_struct("Directory").field("url", &self.url).field("bind_dn", &self.config.bind_dn).finish()
    }
}

impl Directory {
    /// A directory from an IdentityProvider's `spec.config`.
    pub fn from_json(config: &str) -> Result<Arc<Directory>, Error> {
        let config: Config = serde_json::from_str(config).map_err(|e| Error::Config(e.to_string()))?;
        Self::new(config)
    }

    pub fn new(config: Config) -> Result<Arc<Directory>, Error> {
        if config.host.is_empty() {
            return Err(Error::Config("host is required (host:port of the LDAP server)".into()));
        }
        if config.user_search.base_dn.is_empty() {
            return Err(Error::Config("userSearch.baseDN is required".into()));
        }
        for (field, filter) in
            [("userSearch.filter", &config.user_search.filter), ("groupSearch.filter", &config.group_search.filter)]
        {
            let enclosed = filter.starts_with('(') && filter.ends_with(')');
            if !filter.is_empty() && !enclosed {
                return Err(Error::Config(format!(
                    "{field} must be enclosed in parentheses, e.g. (objectClass=person)"
                )));
            }
        }
        let plain = config.insecure_no_ssl || config.start_tls;
        let host = if config.host.contains(':') {
            config.host.clone()
        } else {
            format!("{}:{}", config.host, if plain { 389 } else { 636 })
        };
        let url = format!("{}://{host}", if plain { "ldap" } else { "ldaps" });
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(CONNECT_TIMEOUT)
            .set_starttls(config.start_tls && !config.insecure_no_ssl)
            .set_no_tls_verify(config.insecure_skip_verify);
        if !config.root_ca_data.is_empty() {
            settings = settings.set_config(Arc::new(tls_config(&config.root_ca_data)?));
        }
        Ok(Arc::new(Directory { config, url, settings, searcher: Mutex::new(None) }))
    }

    /// What the login page asks for (dex's `usernamePrompt`), "Username" when not set.
    pub fn username_prompt(&self) -> &str {
        if self.config.username_prompt.is_empty() { "Username" } else { &self.config.username_prompt }
    }

    /// Checks a login: `Ok(None)` when the user does not exist, is not unique, or the password
    /// is wrong.
    pub async fn login(&self, username: &str, password: &str) -> Result<Option<(User, Vec<Group>)>, Error> {
        if password.is_empty() || username.is_empty() {
            return Ok(None);
        }
        let Some(user) = self.find_user(username).await? else { return Ok(None) };
        let (conn, mut ldap) = self.connect().await?;
        ldap3::drive!(conn);
        let bound = timeout("bind", ldap.simple_bind(&user.dn, password)).await?;
        let _ = ldap.unbind().await;
        match bound.map(|r| r.rc) {
            Ok(0) => {}
            // invalidCredentials (49) and friends: a wrong password, not a broken directory.
            Ok(_) => return Ok(None),
            Err(source) => return Err(Error::Operation { operation: "bind", source }),
        }
        let groups = self.groups_of(&user).await?;
        Ok(Some((user, groups)))
    }

    /// The user whose login name is exactly `username`.
    pub async fn find_user(&self, username: &str) -> Result<Option<User>, Error> {
        let us = &self.config.user_search;
        let filter = and(&us.filter, &format!("({}={})", us.username, ldap_escape(username)));
        let mut found = self.search("user search", &us.base_dn, &us.scope, &filter, &self.user_attrs(), 2).await?;
        // Two entries for one login name: refuse rather than guess who is logging in.
        Ok(if found.len() == 1 { found.pop().map(|e| self.user(e)) } else { None })
    }

    /// Users whose login name, display name or email contains `keyword` (all when empty), at
    /// most `limit` (capped at [`MAX_LIST`]).
    pub async fn search_users(&self, keyword: &str, limit: i32) -> Result<Vec<User>, Error> {
        let us = &self.config.user_search;
        let filter = if keyword.is_empty() {
            and(&us.filter, &format!("({}=*)", us.username))
        } else {
            let k = ldap_escape(keyword);
            and(&us.filter, &format!("(|({}=*{k}*)({}=*{k}*)({}=*{k}*))", us.username, us.name_attr, us.email_attr))
        };
        let entries =
            self.search("user listing", &us.base_dn, &us.scope, &filter, &self.user_attrs(), cap(limit)).await?;
        Ok(entries.into_iter().map(|e| self.user(e)).collect())
    }

    /// Groups whose name contains `keyword` (all when empty), at most `limit`.
    pub async fn search_groups(&self, keyword: &str, limit: i32) -> Result<Vec<Group>, Error> {
        let gs = &self.config.group_search;
        if gs.base_dn.is_empty() {
            return Ok(vec![]);
        }
        let filter = if keyword.is_empty() {
            and(&gs.filter, &format!("({}=*)", gs.name_attr))
        } else {
            and(&gs.filter, &format!("({}=*{}*)", gs.name_attr, ldap_escape(keyword)))
        };
        let entries =
            self.search("group listing", &gs.base_dn, &gs.scope, &filter, &self.group_attrs(), cap(limit)).await?;
        Ok(entries.into_iter().map(|e| self.group(e)).collect())
    }

    /// The groups `user` is a member of.
    pub async fn groups_of(&self, user: &User) -> Result<Vec<Group>, Error> {
        let gs = &self.config.group_search;
        if gs.base_dn.is_empty() {
            return Ok(vec![]);
        }
        let value = if gs.user_attr.eq_ignore_ascii_case("DN") {
            user.dn.clone()
        } else if gs.user_attr == self.config.user_search.username {
            user.username.clone()
        } else {
            // The attribute is neither the DN nor the login name: read it.
            let entries =
                self.search("user read", &user.dn, "base", "(objectClass=*)", &[gs.user_attr.as_str()], 1).await?;
            match entries.first().and_then(|e| first(&e.attrs, &gs.user_attr)) {
                Some(v) => v,
                None => return Ok(vec![]),
            }
        };
        let filter = and(&gs.filter, &format!("({}={})", gs.group_attr, ldap_escape(&value)));
        let entries =
            self.search("group search", &gs.base_dn, &gs.scope, &filter, &self.group_attrs(), MAX_LIST).await?;
        Ok(entries.into_iter().map(|e| self.group(e)).collect())
    }

    fn user_attrs(&self) -> Vec<&str> {
        let us = &self.config.user_search;
        let mut attrs = vec![us.username.as_str(), us.id_attr.as_str(), us.email_attr.as_str(), us.name_attr.as_str()];
        if !us.preferred_username_attr.is_empty() {
            attrs.push(us.preferred_username_attr.as_str());
        }
        attrs
    }

    fn group_attrs(&self) -> Vec<&str> {
        let gs = &self.config.group_search;
        vec![gs.name_attr.as_str(), "description", gs.group_attr.as_str()]
    }

    fn user(&self, e: SearchEntry) -> User {
        let us = &self.config.user_search;
        let username = (!us.preferred_username_attr.is_empty())
            .then(|| first(&e.attrs, &us.preferred_username_attr))
            .flatten()
            .or_else(|| first(&e.attrs, &us.username))
            .unwrap_or_default();
        User {
            id: first(&e.attrs, &us.id_attr).unwrap_or_else(|| username.clone()),
            display_name: first(&e.attrs, &us.name_attr).unwrap_or_else(|| username.clone()),
            email: first(&e.attrs, &us.email_attr).unwrap_or_default(),
            username,
            dn: e.dn,
        }
    }

    fn group(&self, e: SearchEntry) -> Group {
        let gs = &self.config.group_search;
        let members = e
            .attrs
            .get(&gs.group_attr)
            .map(|values| values.iter().map(|v| member_name(v, &self.config.user_search.username)).collect())
            .unwrap_or_default();
        Group {
            name: first(&e.attrs, &gs.name_attr).unwrap_or_else(|| rdn_value(&e.dn)),
            description: first(&e.attrs, "description").unwrap_or_default(),
            members,
            dn: e.dn,
        }
    }

    async fn connect(&self) -> Result<(ldap3::LdapConnAsync, Ldap), Error> {
        LdapConnAsync::with_settings(self.settings.clone(), &self.url)
            .await
            .map_err(|source| Error::Connect { host: self.config.host.clone(), source })
    }

    /// The shared service-account connection, opened (and bound) when there is none.
    async fn searcher(&self) -> Result<Ldap, Error> {
        let mut slot = self.searcher.lock().await;
        if let Some(ldap) = slot.as_mut()
            && !ldap.is_closed()
        {
            return Ok(ldap.clone());
        }
        let (conn, mut ldap) = self.connect().await?;
        ldap3::drive!(conn);
        if !self.config.bind_dn.is_empty() {
            timeout("service bind", ldap.simple_bind(&self.config.bind_dn, &self.config.bind_pw))
                .await?
                .and_then(|r| r.success())
                .map_err(|source| Error::ServiceBind { bind_dn: self.config.bind_dn.clone(), source })?;
        }
        *slot = Some(ldap.clone());
        Ok(ldap)
    }

    /// One search on the shared connection, retried once on a fresh connection when the
    /// shared one broke (the directory restarted, an idle timeout closed it).
    async fn search(
        &self,
        operation: &'static str,
        base: &str,
        scope: &str,
        filter: &str,
        attrs: &[&str],
        limit: i32,
    ) -> Result<Vec<SearchEntry>, Error> {
        let scope = match scope {
            "one" => Scope::OneLevel,
            "base" => Scope::Base,
            _ => Scope::Subtree,
        };
        let mut retried = false;
        loop {
            let mut ldap = self.searcher().await?;
            let result = timeout(
                operation,
                ldap.with_search_options(SearchOptions::new().sizelimit(limit)).search(
                    base,
                    scope,
                    filter,
                    attrs.to_vec(),
                ),
            )
            .await?;
            match result {
                // sizeLimitExceeded (4) still carries the entries up to the limit.
                Ok(ldap3::SearchResult(entries, res)) if res.rc == 0 || res.rc == 4 => {
                    return Ok(entries.into_iter().map(SearchEntry::construct).collect());
                }
                // noSuchObject: the base does not exist, so nothing is under it.
                Ok(ldap3::SearchResult(_, res)) if res.rc == 32 => return Ok(vec![]),
                Ok(ldap3::SearchResult(_, res)) => {
                    return Err(Error::Operation { operation, source: ldap3::LdapError::from(res) });
                }
                Err(e) if !retried => {
                    tracing::debug!(error = %e, "the shared LDAP connection failed; reconnecting");
                    *self.searcher.lock().await = None;
                    retried = true;
                }
                Err(source) => return Err(Error::Operation { operation, source }),
            }
        }
    }
}

async fn timeout<T>(operation: &'static str, f: impl std::future::Future<Output = T>) -> Result<T, Error> {
    tokio::time::timeout(OPERATION_TIMEOUT, f).await.map_err(|_| Error::Timeout(operation))
}

fn cap(limit: i32) -> i32 {
    if limit <= 0 { MAX_LIST } else { limit.min(MAX_LIST) }
}

fn and(base: &str, term: &str) -> String {
    if base.is_empty() { term.to_string() } else { format!("(&{base}{term})") }
}

fn first(attrs: &HashMap<String, Vec<String>>, name: &str) -> Option<String> {
    attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.first().cloned())
}

/// The value of a DN's first RDN: `cn=ops,ou=groups,...` → `ops`.
fn rdn_value(dn: &str) -> String {
    dn.split(',').next().and_then(|rdn| rdn.split_once('=')).map(|(_, v)| v.trim().to_string()).unwrap_or_default()
}

/// A member value as a login name: the RDN value of a DN whose RDN is the username attribute
/// (`uid=alice,ou=people,...` → `alice`), else the value itself (`memberUid: alice`).
fn member_name(value: &str, username_attr: &str) -> String {
    match value.split(',').next().and_then(|rdn| rdn.split_once('=')) {
        Some((attr, v)) if attr.trim().eq_ignore_ascii_case(username_attr) => v.trim().to_string(),
        Some(_) => rdn_value(value),
        None => value.to_string(),
    }
}

fn tls_config(root_ca_data: &str) -> Result<rustls::ClientConfig, Error> {
    use base64::Engine;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(root_ca_data.trim())
        .map_err(|_| Error::Config("rootCAData must be base64 encoded PEM".into()))?;
    let mut roots = rustls::RootCertStore::empty();
    let mut reader = std::io::BufReader::new(pem.as_slice());
    for cert in rustls_pemfile::certs(&mut reader) {
        let cert = cert.map_err(|e| Error::Config(format!("rootCAData: {e}")))?;
        roots.add(cert).map_err(|e| Error::Config(format!("rootCAData: {e}")))?;
    }
    if roots.is_empty() {
        return Err(Error::Config("rootCAData holds no PEM certificate".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .map_err(|e| Error::Config(format!("TLS: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_escape_what_users_type() {
        assert_eq!(and("", "(uid=a)"), "(uid=a)");
        assert_eq!(and("(objectClass=person)", "(uid=a)"), "(&(objectClass=person)(uid=a))");
        assert_eq!(format!("(uid={})", ldap_escape("*)(uid=*")), "(uid=\\2a\\29\\28uid=\\2a)");
    }

    #[test]
    fn member_values_become_login_names() {
        assert_eq!(member_name("uid=alice,ou=people,dc=example,dc=org", "uid"), "alice");
        assert_eq!(member_name("alice", "uid"), "alice");
        assert_eq!(rdn_value("cn=ops,ou=groups,dc=example,dc=org"), "ops");
    }

    #[test]
    fn configurations_are_checked() {
        assert!(matches!(Directory::from_json("{"), Err(Error::Config(_))));
        assert!(
            matches!(Directory::from_json(r#"{"userSearch":{"baseDN":"dc=x"}}"#), Err(Error::Config(m)) if m.contains("host"))
        );
        let bad =
            r#"{"host":"h:389","insecureNoSSL":true,"userSearch":{"baseDN":"dc=x","filter":"objectClass=person"}}"#;
        assert!(matches!(Directory::from_json(bad), Err(Error::Config(m)) if m.contains("parentheses")));
        let ok = r#"{"host":"h","insecureNoSSL":true,"bindPW":"s3cret","userSearch":{"baseDN":"dc=x"}}"#;
        let d = Directory::from_json(ok).unwrap();
        assert_eq!(d.url, "ldap://h:389");
        assert!(!format!("{d:?}").contains("s3cret"), "the bind password is never printed");
    }
}
