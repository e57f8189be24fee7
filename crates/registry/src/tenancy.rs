//! Tenants and namespaces on the wire, as TKEStack's registry has them: the tenant comes from
//! the request's host name (`{tenant}.{domain}`, else the default tenant), clients name
//! repositories `{namespace}/{repository}`, and content is stored under a tenant-qualified name
//! so that two tenants' `team/app` never meet. Also the registry's view of namespaces
//! ([`Namespaces`], answered by the platform's API objects) and the access policy built on it
//! ([`TenantPolicy`]: `Public` namespaces pullable by anyone, private ones by the tenant's
//! users, the catalog for administrators only).

use crate::auth::{Access, Authorizer, Identity};
use crate::error::{Code, Error, Result};
use std::sync::Arc;

/// How tenants are told apart.
#[derive(Clone, Debug)]
pub struct Tenancy {
    /// Requests to `{tenant}.{domain_suffix}` belong to `{tenant}`; others to the default one.
    pub domain_suffix: Option<String>,
    /// The tenant of requests whose host names none.
    pub default_tenant: String,
    /// Namespaces every tenant shares (TKEStack's `library`): stored once, under the default
    /// tenant, pullable by everyone and writable by administrators only.
    pub shared_namespaces: Vec<String>,
}

impl Tenancy {
    /// Tenants by host under `domain_suffix` (if any), `default` otherwise, `library` shared.
    pub fn new(domain_suffix: Option<String>) -> Tenancy {
        Tenancy {
            domain_suffix: domain_suffix.map(|d| d.trim_matches('.').to_ascii_lowercase()),
            default_tenant: "default".into(),
            shared_namespaces: vec!["library".into()],
        }
    }

    /// The tenant of a request to `host` (name with optional port: the request's authority,
    /// [`apiserver::http::request_authority`], never a `Host` header read on its own).
    pub fn tenant_of_host(&self, host: Option<&str>) -> Result<String> {
        let Some(suffix) = self.domain_suffix.as_deref().filter(|s| !s.is_empty()) else {
            return Ok(self.default_tenant.clone());
        };
        let host = host.unwrap_or("").trim().to_ascii_lowercase();
        let name = match host.rsplit_once(':') {
            // An IP literal never names a tenant.
            _ if host.starts_with('[') => return Ok(self.default_tenant.clone()),
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host.as_str(),
        };
        let name = name.trim_end_matches('.');
        let Some(label) = name.strip_suffix(suffix).and_then(|l| l.strip_suffix('.')) else {
            return Ok(self.default_tenant.clone());
        };
        // A host label is a DNS label; as such it is also a valid repository path component.
        if !apimachinery::validation::is_dns1123_label(label) {
            return Err(Error::new(Code::Denied, format!("no such tenant: {label:?}")));
        }
        Ok(label.to_string())
    }

    /// Splits a client's repository name into namespace and path (`team/app/x` →
    /// `("team", "app/x")`); a name without a namespace is refused.
    pub fn split<'a>(&self, name: &'a str) -> Result<(&'a str, &'a str)> {
        name.split_once('/').ok_or_else(|| {
            Error::new(Code::NameInvalid, "repository names are {namespace}/{repository}")
                .detail(serde_json::json!({ "name": name }))
        })
    }

    pub fn is_shared(&self, namespace: &str) -> bool {
        self.shared_namespaces.iter().any(|s| s == namespace)
    }

    /// The tenant that owns `namespace` for a request of `tenant` (the default tenant for
    /// shared namespaces).
    pub fn owner<'a>(&'a self, tenant: &'a str, namespace: &str) -> &'a str {
        if self.is_shared(namespace) { &self.default_tenant } else { tenant }
    }

    /// The stored name of a client's repository name: `{owner tenant}/{namespace}/{path}`.
    pub fn stored_name(&self, tenant: &str, name: &str) -> Result<String> {
        let (ns, _) = self.split(name)?;
        Ok(format!("{}/{name}", self.owner(tenant, ns)))
    }

    /// The client's name of a stored name as seen by `tenant`, if that tenant sees it.
    pub fn visible_name(&self, tenant: &str, stored: &str) -> Option<String> {
        let (owner, name) = stored.split_once('/')?;
        let (ns, _) = name.split_once('/')?;
        let visible = if self.is_shared(ns) { owner == self.default_tenant } else { owner == tenant };
        visible.then(|| name.to_string())
    }
}

/// What the registry needs to know about a tenant's namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceInfo {
    /// `Public`: anyone may pull, also without logging in.
    pub public: bool,
    /// Locked namespaces serve administrators only.
    pub locked: bool,
}

/// The registry's source of namespaces (the platform's `registry.tkestack.io` Namespace
/// objects, or a fixed list).
#[async_trait::async_trait]
pub trait Namespaces: Send + Sync + 'static {
    /// The namespace `name` of `tenant`, if it exists.
    async fn namespace(&self, tenant: &str, name: &str) -> Result<Option<NamespaceInfo>>;
}

/// A fixed set of namespaces, for tests and small installations.
#[derive(Default)]
pub struct StaticNamespaces {
    entries: std::sync::RwLock<std::collections::HashMap<(String, String), NamespaceInfo>>,
}

impl StaticNamespaces {
    pub fn new() -> StaticNamespaces {
        StaticNamespaces::default()
    }
    pub fn set(&self, tenant: &str, name: &str, info: NamespaceInfo) {
        if let Ok(mut m) = self.entries.write() {
            m.insert((tenant.into(), name.into()), info);
        }
    }
    pub fn remove(&self, tenant: &str, name: &str) {
        if let Ok(mut m) = self.entries.write() {
            m.remove(&(tenant.into(), name.into()));
        }
    }
}

#[async_trait::async_trait]
impl Namespaces for StaticNamespaces {
    async fn namespace(&self, tenant: &str, name: &str) -> Result<Option<NamespaceInfo>> {
        let m = self.entries.read().map_err(|_| Error::new(Code::Unknown, "namespace table poisoned"))?;
        Ok(m.get(&(tenant.to_string(), name.to_string())).cloned())
    }
}

/// What the platform's policies let a user of a tenant do with a repository of one of the
/// tenant's own namespaces: a subset of `pull`, `push` and `delete`. Administrators, shared
/// namespaces and pulls from `Public` namespaces are not asked about.
#[async_trait::async_trait]
pub trait RepositoryPolicy: Send + Sync + 'static {
    async fn allowed(&self, who: &Identity, tenant: &str, namespace: &str, repository: &str) -> Vec<&'static str>;
}

/// TKEStack's registry rights: administrators may do everything (also the catalog); in a
/// shared namespace everyone may pull; in a tenant's unlocked namespace its users may pull,
/// push and delete, and others (also anonymous callers) may pull if it is `Public`; nothing
/// else, and never the catalog.
pub struct TenantPolicy {
    pub tenancy: Tenancy,
    pub namespaces: Arc<dyn Namespaces>,
    /// Narrows what the tenant's users may do in its namespaces to what the platform's
    /// policies allow them (what the platform's auth component answers).
    pub policy: Option<Arc<dyn RepositoryPolicy>>,
}

const ALL: &[&str] = &["pull", "push", "delete", "*"];

#[async_trait::async_trait]
impl Authorizer for TenantPolicy {
    async fn grant(&self, who: Option<&Identity>, tenant: &str, requested: &Access) -> Vec<String> {
        let allowed: Vec<&str> = match who {
            Some(id) if id.admin => ALL.to_vec(),
            _ if requested.kind != "repository" => vec![],
            _ => self.repository_rights(who, tenant, &requested.name).await,
        };
        requested.actions.iter().filter(|a| allowed.contains(&a.as_str())).cloned().collect()
    }
}

impl TenantPolicy {
    async fn repository_rights(&self, who: Option<&Identity>, tenant: &str, name: &str) -> Vec<&'static str> {
        let Ok((ns, repository)) = self.tenancy.split(name) else {
            return vec![];
        };
        if self.tenancy.is_shared(ns) {
            return vec!["pull"];
        }
        let info = match self.namespaces.namespace(tenant, ns).await {
            Ok(Some(info)) => info,
            Ok(None) => return vec![],
            Err(e) => {
                tracing::warn!(tenant, namespace = ns, error = %e, "looking up a registry namespace failed; access denied");
                return vec![];
            }
        };
        if info.locked {
            return vec![];
        }
        let public: Vec<&'static str> = if info.public { vec!["pull"] } else { vec![] };
        let member = who.filter(|id| id.tenant.as_deref().unwrap_or(&self.tenancy.default_tenant) == tenant);
        match (member, &self.policy) {
            (None, _) => public,
            (Some(_), None) => ALL.to_vec(),
            (Some(id), Some(policy)) => {
                let mut allowed = policy.allowed(id, tenant, ns, repository).await;
                allowed.retain(|a| ALL.contains(a));
                for p in public {
                    if !allowed.contains(&p) {
                        allowed.push(p);
                    }
                }
                allowed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_from_hosts_and_stored_names() {
        let t = Tenancy::new(Some("registry.example.com".into()));
        let of = |h: &str| t.tenant_of_host(Some(h)).ok();
        assert_eq!(of("acme.registry.example.com").as_deref(), Some("acme"));
        assert_eq!(of("ACME.registry.example.com:443").as_deref(), Some("acme"));
        assert_eq!(of("registry.example.com").as_deref(), Some("default"));
        assert_eq!(of("127.0.0.1:5000").as_deref(), Some("default"));
        assert_eq!(of("a.b.registry.example.com"), None);
        assert_eq!(of("a_b.registry.example.com"), None);
        assert_eq!(t.stored_name("acme", "team/app").ok().as_deref(), Some("acme/team/app"));
        assert_eq!(t.stored_name("acme", "library/busybox").ok().as_deref(), Some("default/library/busybox"));
        assert!(t.stored_name("acme", "app").is_err());
        assert_eq!(t.visible_name("acme", "acme/team/app").as_deref(), Some("team/app"));
        assert_eq!(t.visible_name("other", "acme/team/app"), None);
        assert_eq!(t.visible_name("other", "default/library/busybox").as_deref(), Some("library/busybox"));
        let no_domain = Tenancy::new(None);
        assert_eq!(no_domain.tenant_of_host(Some("acme.example.com")).ok().as_deref(), Some("default"));
    }

    #[tokio::test]
    async fn rights_follow_visibility_and_membership() {
        let namespaces = Arc::new(StaticNamespaces::new());
        namespaces.set("acme", "pub", NamespaceInfo { public: true, locked: false });
        namespaces.set("acme", "priv", NamespaceInfo { public: false, locked: false });
        namespaces.set("acme", "frozen", NamespaceInfo { public: true, locked: true });
        let p = TenantPolicy { tenancy: Tenancy::new(Some("r.io".into())), namespaces, policy: None };
        let ask = |name: &str| Access {
            kind: "repository".into(),
            name: name.into(),
            actions: vec!["pull".into(), "push".into()],
        };
        let member = Identity { name: "alice".into(), admin: false, tenant: Some("acme".into()), ..Default::default() };
        let outsider =
            Identity { name: "bob".into(), admin: false, tenant: Some("other".into()), ..Default::default() };
        let admin = Identity { name: "admin".into(), admin: true, tenant: None, ..Default::default() };
        assert_eq!(p.grant(None, "acme", &ask("pub/app")).await, vec!["pull"]);
        assert!(p.grant(None, "acme", &ask("priv/app")).await.is_empty());
        assert_eq!(p.grant(Some(&member), "acme", &ask("priv/app")).await, vec!["pull", "push"]);
        assert!(p.grant(Some(&outsider), "acme", &ask("priv/app")).await.is_empty());
        assert_eq!(p.grant(Some(&outsider), "acme", &ask("pub/app")).await, vec!["pull"]);
        assert!(p.grant(Some(&member), "acme", &ask("frozen/app")).await.is_empty());
        assert!(p.grant(Some(&member), "acme", &ask("missing/app")).await.is_empty());
        assert_eq!(p.grant(None, "acme", &ask("library/busybox")).await, vec!["pull"]);
        assert_eq!(p.grant(Some(&admin), "acme", &ask("missing/app")).await, vec!["pull", "push"]);
        let catalog = Access { kind: "registry".into(), name: "catalog".into(), actions: vec!["*".into()] };
        assert!(p.grant(Some(&member), "acme", &catalog).await.is_empty());
        assert_eq!(p.grant(Some(&admin), "acme", &catalog).await, vec!["*"]);
    }

    /// Lets alice pull in `team` and push in `pub`, nothing else.
    struct AlicePolicy;

    #[async_trait::async_trait]
    impl RepositoryPolicy for AlicePolicy {
        async fn allowed(&self, who: &Identity, _tenant: &str, namespace: &str, _repo: &str) -> Vec<&'static str> {
            match (who.name.as_str(), namespace) {
                ("alice", "team") => vec!["pull", "catalog"],
                ("alice", "pub") => vec!["push"],
                _ => vec![],
            }
        }
    }

    #[tokio::test]
    async fn the_platform_policy_narrows_what_members_may_do() {
        let namespaces = Arc::new(StaticNamespaces::new());
        namespaces.set("acme", "team", NamespaceInfo { public: false, locked: false });
        namespaces.set("acme", "pub", NamespaceInfo { public: true, locked: false });
        let p = TenantPolicy { tenancy: Tenancy::new(None), namespaces, policy: Some(Arc::new(AlicePolicy)) };
        let ask = |name: &str| Access {
            kind: "repository".into(),
            name: name.into(),
            actions: vec!["pull".into(), "push".into(), "delete".into()],
        };
        let member = |name: &str| Identity { name: name.into(), tenant: Some("acme".into()), ..Default::default() };
        let admin = Identity { name: "admin".into(), admin: true, ..Default::default() };
        // Only what the policy allows, and never more than a member could (no "catalog").
        assert_eq!(p.grant(Some(&member("alice")), "acme", &ask("team/app")).await, vec!["pull"]);
        assert!(p.grant(Some(&member("bob")), "acme", &ask("team/app")).await.is_empty());
        // A public namespace stays pullable by everyone, whatever the policies.
        assert_eq!(p.grant(Some(&member("alice")), "acme", &ask("pub/app")).await, vec!["pull", "push"]);
        assert_eq!(p.grant(Some(&member("bob")), "acme", &ask("pub/app")).await, vec!["pull"]);
        assert_eq!(p.grant(Some(&admin), "acme", &ask("team/app")).await, vec!["pull", "push", "delete"]);
    }
}
