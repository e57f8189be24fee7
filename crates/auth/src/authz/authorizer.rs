//! [`CasbinAuthorizer`]: the API server's authorizer. It applies TKEStack's short-circuits
//! (reference 3.2), then asks the [`Enforcer`] about the request's action and object
//! ([`super::attributes`]) for every subject the caller speaks for.
//!
//! In order:
//! 0. impersonation (the verb `impersonate`) is for platform administrators only, whatever the
//!    policies say: acting as another user can cross tenants (impersonating a user of another
//!    tenant, or the group `system:masters`), which no tenant's policy may grant;
//! 1. platform administrators (group `system:masters`) may do anything;
//! 2. administrators of the caller's tenant (the tenant's IdentityProvider `administrators`,
//!    supplied as [`TenantAdmins`]) may do anything;
//! 3. `listPortal` (what the console asks right after login) is always allowed;
//! 4. a caller confined to a project (a `project:<id>` group: a namespace certificate's, or the
//!    console's `X-TKE-ProjectName`, added by [`super::PlatformAuthorizer`]) is refused anything in
//!    another project; a caller holding a namespace certificate (a `namespace:<ns>` group) is
//!    refused any resource outside that namespace (checked before 2: the credential is
//!    confined, whoever holds it);
//! 5. the enforcer decides for `{tenant}##user##{name}`, `{tenant}##user##*` and
//!    `{tenant}##group##{g}` of each group the caller has (except the `system:` groups and the
//!    context groups `tenant:`, `project:`, `cluster:` and `namespace:`), in the caller's
//!    project (its `project:` group, or the project a `business.tkestack.io` request is in)
//!    or else the platform domain `*`.
//!
//! Requests into a business cluster ([`super::clusters`]) are decided by
//! [`CasbinAuthorizer::check_in_cluster`] about the request inside the proxy: a namespace
//! certificate's holder stays in its cluster and namespace; discovery is open to whoever reaches
//! the cluster; a namespaced request is decided in the domain of the project owning the
//! namespace (refused when the caller is confined to another project); a cluster-wide request
//! (nodes, every namespace) in the platform domain, which plain project members hold nothing in.
//!
//! Listing a project-scoped business resource across every project (`kubectl get
//! namespaces.business.tkestack.io -A`) is refused to project members, not filtered: as in
//! Kubernetes, `-A` is for whoever may read everywhere; the refusal says to list one project at
//! a time (the portal names the caller's projects).
//!
//! A refusal's reason names the user, the action and the object, and why. A caller whose user
//! extra `debug` is `true` (TKEStack's debug mode) also gets the policy rows it holds there.

use std::sync::Arc;

use apiserver::{
    UserInfo,
    auth::{Attributes, Authorizer, Decision},
};
use async_trait::async_trait;

use super::{
    attributes::{self, BUSINESS_GROUP, TkeAttributes, group_value},
    clusters::{ClusterRequest, Owners, is_discovery, namespace_of},
    enforcer::{Enforcer, Query, Row, Verdict, all_users_key, group_key, user_key},
    model::PLATFORM_DOMAIN,
};

/// The action the console asks for after login; never refused.
pub const LIST_PORTAL: &str = "listPortal";

/// Who administers a tenant (the tenant IdentityProvider's `spec.administrators`).
pub trait TenantAdmins: Send + Sync {
    fn is_admin(&self, tenant: &str, user: &str) -> bool;
}

impl<F> TenantAdmins for F
where
    F: Fn(&str, &str) -> bool + Send + Sync,
{
    fn is_admin(&self, tenant: &str, user: &str) -> bool {
        self(tenant, user)
    }
}

/// No tenant has administrators (besides the platform's).
pub struct NoTenantAdmins;

impl TenantAdmins for NoTenantAdmins {
    fn is_admin(&self, _tenant: &str, _user: &str) -> bool {
        false
    }
}

/// Group prefixes that carry request context or identity, not group membership.
const CONTEXT_PREFIXES: [&str; 5] = ["system:", "tenant:", "project:", "cluster:", "namespace:"];

/// Authorizes every request by the model (see the module's documentation).
#[derive(Clone)]
pub struct CasbinAuthorizer {
    enforcer: Arc<Enforcer>,
    tenant_admins: Arc<dyn TenantAdmins>,
}

impl CasbinAuthorizer {
    pub fn new(enforcer: Arc<Enforcer>, tenant_admins: Arc<dyn TenantAdmins>) -> Self {
        Self { enforcer, tenant_admins }
    }

    pub fn enforcer(&self) -> &Arc<Enforcer> {
        &self.enforcer
    }

    /// The subject keys of `user` in `tenant`.
    pub fn subjects(user: &UserInfo, tenant: &str) -> Vec<String> {
        let mut subjects = Vec::with_capacity(2 + user.groups.len());
        subjects.push(user_key(tenant, &user.name));
        subjects.push(all_users_key(tenant));
        for g in &user.groups {
            if g.is_empty() || CONTEXT_PREFIXES.iter().any(|p| g.starts_with(p)) {
                continue;
            }
            let key = group_key(tenant, g);
            if !subjects.contains(&key) {
                subjects.push(key);
            }
        }
        subjects
    }

    /// The decision for one request.
    pub fn check(&self, attrs: &Attributes) -> Verdict {
        let tke = attributes::convert(attrs, None);
        let tenant = attrs.user.tenant();
        match self.short_circuits(attrs, &tke, &tenant) {
            Step::Done(verdict) => verdict,
            Step::Ask(domain) => {
                let subjects = Self::subjects(&attrs.user, &tenant);
                let refs: Vec<&str> = subjects.iter().map(String::as_str).collect();
                let verdict = self.enforcer.decide(&refs, domain, &tke.object, &tke.action);
                self.finish(attrs, &tke, verdict, &refs, domain)
            }
        }
    }

    /// The decision for a request into a business cluster (the module's documentation), with
    /// `owners` telling which project owns a namespace of the cluster.
    pub fn check_in_cluster(&self, req: &ClusterRequest, owners: &dyn Owners) -> Verdict {
        let inner = &req.inner;
        let user = &inner.user;
        let cluster = req.cluster.as_str();
        let tke = attributes::convert(inner, Some(cluster));
        if user.is_admin() {
            return Verdict::allow(format!("{} is a platform administrator", user.name));
        }
        if let Some(mine) = group_value(user, "cluster")
            && mine != cluster
        {
            return refusal(inner, &tke, &format!("the credential is for cluster {mine} only"));
        }
        let namespace = namespace_of(inner);
        if let Some(ns) = group_value(user, "namespace")
            && ns != namespace
            && !is_discovery(inner)
        {
            return refusal(inner, &tke, &format!("the credential is for namespace {ns} of cluster {cluster} only"));
        }
        let tenant = user.tenant();
        if self.tenant_admins.is_admin(&tenant, &user.name) {
            return Verdict::allow(format!("{} administers tenant {tenant}", user.name));
        }
        if is_discovery(inner) {
            return Verdict::allow(format!("anyone who reaches cluster {cluster} reads its discovery"));
        }
        let confined = group_value(user, "project");
        let subjects = Self::subjects(user, &tenant);
        let refs: Vec<&str> = subjects.iter().map(String::as_str).collect();
        if namespace.is_empty() {
            if let Some(mine) = confined {
                return refusal(
                    inner,
                    &tke,
                    &format!(
                        "the request is confined to project {mine}, which reaches only its own namespaces of cluster {cluster}"
                    ),
                );
            }
            let verdict = self.enforcer.decide(&refs, PLATFORM_DOMAIN, &tke.object, &tke.action);
            let verdict = self.finish(inner, &tke, verdict, &refs, PLATFORM_DOMAIN);
            return if verdict.allowed {
                verdict
            } else {
                Verdict::deny(format!(
                    "{}; a request for the whole of cluster {cluster} (nodes, every namespace...) needs a platform-wide policy: project members reach only the namespaces of their projects",
                    verdict.reason
                ))
            };
        }
        // A project of another tenant is none of the caller's business (nor named to them).
        let owner = owners.owner(cluster, namespace).filter(|o| o.tenant == tenant).map(|o| o.project);
        match (confined, owner.as_deref()) {
            (Some(mine), Some(p)) if mine != p => {
                return refusal(
                    inner,
                    &tke,
                    &format!(
                        "namespace {namespace} of cluster {cluster} belongs to project {p}, and the request is confined to project {mine}"
                    ),
                );
            }
            (Some(mine), None) => {
                return refusal(
                    inner,
                    &tke,
                    &format!(
                        "namespace {namespace} of cluster {cluster} belongs to no project, and the request is confined to project {mine}"
                    ),
                );
            }
            _ => {}
        }
        let domain = owner.as_deref().unwrap_or(PLATFORM_DOMAIN);
        let verdict = self.enforcer.decide(&refs, domain, &tke.object, &tke.action);
        let verdict = self.finish(inner, &tke, verdict, &refs, domain);
        match owner {
            _ if verdict.allowed => verdict,
            Some(p) => Verdict::deny(format!(
                "{} (namespace {namespace} of cluster {cluster} is in project {p})",
                verdict.reason
            )),
            None => Verdict::deny(format!(
                "{} (namespace {namespace} of cluster {cluster} belongs to no project, so only platform-wide policies apply)",
                verdict.reason
            )),
        }
    }

    /// The decisions for many requests of one caller or several (`/auth/batchauthz`), in order.
    /// Consecutive requests of the same user share the work of finding the user's subjects and
    /// the policies they reach, and the enforcer answers them all under one look at the rows.
    pub fn batch(&self, list: &[Attributes]) -> Vec<Verdict> {
        let converted: Vec<TkeAttributes> = list.iter().map(|a| attributes::convert(a, None)).collect();
        // Subjects per run of requests by the same user.
        let mut sets: Vec<(String, Vec<String>)> = Vec::new();
        let mut set_of: Vec<usize> = Vec::with_capacity(list.len());
        for (i, attrs) in list.iter().enumerate() {
            if i == 0 || list[i - 1].user != attrs.user {
                let tenant = attrs.user.tenant();
                let subjects = Self::subjects(&attrs.user, &tenant);
                sets.push((tenant, subjects));
            }
            set_of.push(sets.len() - 1);
        }
        let steps: Vec<Step> = list
            .iter()
            .zip(&converted)
            .zip(&set_of)
            .map(|((attrs, tke), set)| self.short_circuits(attrs, tke, &sets[*set].0))
            .collect();
        let refs: Vec<Vec<&str>> = sets.iter().map(|(_, s)| s.iter().map(String::as_str).collect()).collect();
        let queries: Vec<Query> = steps
            .iter()
            .enumerate()
            .filter_map(|(i, step)| match step {
                Step::Ask(domain) => Some(Query {
                    subjects: &refs[set_of[i]],
                    domain,
                    obj: &converted[i].object,
                    act: &converted[i].action,
                }),
                Step::Done(_) => None,
            })
            .collect();
        let mut answers = self.enforcer.decide_all(&queries).into_iter();
        steps
            .into_iter()
            .enumerate()
            .map(|(i, step)| match step {
                Step::Done(verdict) => verdict,
                Step::Ask(domain) => {
                    let verdict = answers.next().unwrap_or_else(|| Verdict::deny("no answer"));
                    self.finish(&list[i], &converted[i], verdict, &refs[set_of[i]], domain)
                }
            })
            .collect()
    }

    /// TKEStack's short-circuits (the module's documentation, 0 to 4): a verdict, or the
    /// domain to ask the enforcer in.
    fn short_circuits<'a>(&self, attrs: &'a Attributes, tke: &'a TkeAttributes, tenant: &str) -> Step<'a> {
        let user = &attrs.user;
        if user.is_admin() {
            return Step::Done(Verdict::allow(format!("{} is a platform administrator", user.name)));
        }
        if attrs.verb == "impersonate" {
            return Step::Done(Verdict::deny(format!(
                "user {:?} may not impersonate {} {:?}: only platform administrators may impersonate",
                user.name, attrs.resource, attrs.name
            )));
        }
        if let Some(ns) = group_value(user, "namespace")
            && (!attrs.resource_request || attrs.namespace != ns)
            && tke.action != LIST_PORTAL
        {
            return Step::Done(refusal(attrs, tke, &format!("the credential is for namespace {ns} only")));
        }
        if self.tenant_admins.is_admin(tenant, &user.name) {
            return Step::Done(Verdict::allow(format!("{} administers tenant {tenant}", user.name)));
        }
        if tke.action == LIST_PORTAL {
            return Step::Done(Verdict::allow("everyone may list the portal"));
        }
        let target_project = target_project(attrs, tke);
        let confined = group_value(user, "project");
        if let (Some(mine), Some(target)) = (confined, target_project)
            && mine != target
        {
            return Step::Done(refusal(attrs, tke, &format!("the request is confined to project {mine}")));
        }
        Step::Ask(confined.or(target_project).unwrap_or(PLATFORM_DOMAIN))
    }

    /// The enforcer's verdict as the caller sees it: a refusal names the user, the action and
    /// the object (and in debug mode the rows the caller holds).
    fn finish(
        &self,
        attrs: &Attributes,
        tke: &TkeAttributes,
        verdict: Verdict,
        subjects: &[&str],
        domain: &str,
    ) -> Verdict {
        if verdict.allowed {
            verdict
        } else if across_projects(attrs) {
            let why = format!(
                "{}; the objects of every project are listed by platform-wide roles only: a project member lists those of one project at a time (-n <project>)",
                verdict.reason
            );
            refusal(attrs, tke, &why)
        } else if debug(&attrs.user) {
            let rows = held(&self.enforcer.permissions(subjects, domain));
            refusal(attrs, tke, &format!("{}; {rows}", verdict.reason))
        } else {
            refusal(attrs, tke, &verdict.reason)
        }
    }
}

/// What the short-circuits leave to do.
enum Step<'a> {
    Done(Verdict),
    /// Ask the enforcer, in this domain.
    Ask(&'a str),
}

fn refusal(attrs: &Attributes, tke: &TkeAttributes, why: &str) -> Verdict {
    Verdict::deny(format!("user {:?} may not {} {:?}: {why}", attrs.user.name, tke.action, tke.object))
}

/// Whether the caller asked for explanations (user extra `debug=true`).
fn debug(user: &UserInfo) -> bool {
    user.extra.get("debug").is_some_and(|v| v.iter().any(|d| d == "true"))
}

/// The rows a caller holds, in a few words (the first ones when there are many).
fn held(rows: &[Row]) -> String {
    const SHOWN: usize = 20;
    if rows.is_empty() {
        return "the caller holds no policy rows here".to_string();
    }
    let mut out = format!("the caller holds {} policy rows here: ", rows.len());
    for (i, row) in rows.iter().take(SHOWN).enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        out.push_str(&row.to_string());
    }
    if rows.len() > SHOWN {
        out.push_str("; …");
    }
    out
}

/// A listing or watch of a project-scoped business resource across every project (what
/// `kubectl get namespaces.business.tkestack.io -A` asks). Such a listing is refused to project
/// members rather than filtered: as in Kubernetes, `-A` is for whoever may read everywhere, and
/// a member lists their projects (the portal names them) one at a time.
fn across_projects(attrs: &Attributes) -> bool {
    attrs.resource_request
        && attrs.api_group == BUSINESS_GROUP
        && attrs.namespace.is_empty()
        && matches!(attrs.resource.as_str(), "namespaces" | "imagenamespaces" | "chartgroups" | "nsemigrations")
        && matches!(attrs.verb.as_str(), "list" | "watch")
}

/// The project a request is about: the namespace of a `business.tkestack.io` request, or the
/// project named by a request for `projects/<id>`.
fn target_project<'a>(attrs: &'a Attributes, tke: &'a TkeAttributes) -> Option<&'a str> {
    if !attrs.resource_request {
        return None;
    }
    if attrs.api_group == BUSINESS_GROUP && !attrs.namespace.is_empty() {
        return Some(&attrs.namespace);
    }
    (tke.resource == "project" && tke.name != "*").then_some(tke.name.as_str())
}

#[async_trait]
impl Authorizer for CasbinAuthorizer {
    async fn authorize(&self, attributes: &Attributes) -> Decision {
        let verdict = self.check(attributes);
        if verdict.allowed { Decision::Allow } else { Decision::Deny(verdict.reason) }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use http::{Method, Uri};

    use super::*;
    use crate::authz::{clusters::Owner, enforcer::Effect};

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            name: name.into(),
            uid: String::new(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            extra: BTreeMap::new(),
        }
    }

    fn attrs(method: Method, path: &str, user: UserInfo) -> Attributes {
        let uri: Uri = path.parse().expect("uri");
        Attributes::from_request(&method, &uri, user)
    }

    fn authorizer() -> CasbinAuthorizer {
        let e = Enforcer::with_rows(&[
            Row::policy("pol-t1-viewer", "*", "get*", Effect::Allow),
            Row::policy("pol-t1-viewer", "*", "list*", Effect::Allow),
            Row::policy("pol-t1-cls", "cluster:cls-a*", "*", Effect::Allow),
            Row::policy("pol-t1-member", "*", "*Deployment*", Effect::Allow),
            Row::policy("pol-t1-member", "*", "*Project*", Effect::Allow),
            Row::policy("pol-t1-nosecret", "*", "*Secret*", Effect::Deny),
            Row::grouping("t1##user##alice", "pol-t1-viewer", "*"),
            Row::grouping("t1##group##ops", "pol-t1-cls", "*"),
            Row::grouping("t1##user##*", "pol-t1-nosecret", "*"),
            Row::grouping("t1##user##bob", "pol-t1-member", "prj-a"),
        ])
        .expect("rows");
        let admins = |tenant: &str, user: &str| tenant == "t1" && user == "boss";
        CasbinAuthorizer::new(Arc::new(e), Arc::new(admins))
    }

    const P: &str = "/apis/platform.tkestack.io/v1";

    #[tokio::test]
    async fn short_circuits_then_the_enforcer() {
        let a = authorizer();
        let alice = user("alice", &["tenant:t1", "system:authenticated"]);
        assert_eq!(a.authorize(&attrs(Method::GET, &format!("{P}/clusters"), alice.clone())).await, Decision::Allow);
        let Decision::Deny(reason) = a.authorize(&attrs(Method::POST, &format!("{P}/clusters"), alice.clone())).await
        else {
            panic!("alice may not create clusters");
        };
        assert_eq!(
            reason,
            "user \"alice\" may not createCluster \"cluster:*\": no policy bound in the platform allows it"
        );
        // Platform and tenant administrators.
        let root = user("root", &["system:masters"]);
        assert!(a.check(&attrs(Method::DELETE, &format!("{P}/clusters/x"), root)).allowed);
        let boss = user("boss", &["tenant:t1"]);
        assert!(a.check(&attrs(Method::DELETE, &format!("{P}/clusters/x"), boss)).allowed);
        let other_boss = user("boss", &["tenant:t2"]);
        assert!(!a.check(&attrs(Method::DELETE, &format!("{P}/clusters/x"), other_boss)).allowed);
        // listPortal for anyone.
        let nobody = user("nobody", &["tenant:t9"]);
        assert!(a.check(&attrs(Method::GET, "/apis/business.tkestack.io/v1/portal", nobody)).allowed);
    }

    #[test]
    fn groups_and_the_everyone_key() {
        let a = authorizer();
        let carol = user("carol", &["tenant:t1", "ops", "system:authenticated"]);
        assert!(a.check(&attrs(Method::DELETE, &format!("{P}/clusters/cls-a"), carol.clone())).allowed);
        assert!(!a.check(&attrs(Method::DELETE, &format!("{P}/clusters/cls-b"), carol.clone())).allowed);
        // The deny for everyone in t1 wins over the group's grant.
        let secret = attrs(
            Method::GET,
            "/api/v1/namespaces/ns/secrets/s",
            user("carol", &["tenant:t1", "ops", "cluster:cls-a"]),
        );
        let v = a.check(&secret);
        assert!(!v.allowed);
        assert_eq!(
            v.reason,
            "user \"carol\" may not getSecret \"cluster:cls-a/namespace:ns/secret:s\": pol-t1-nosecret denies \"*Secret*\" on \"*\""
        );
        assert_eq!(
            CasbinAuthorizer::subjects(&carol, "t1"),
            ["t1##user##carol", "t1##user##*", "t1##group##ops"],
            "system: and context groups are not subjects"
        );
    }

    #[test]
    fn projects_domains_and_confinement() {
        let a = authorizer();
        let bob = user("bob", &["tenant:t1"]);
        let deploy = "/apis/apps/v1/namespaces/ns/deployments";
        // Bob's binding is in project prj-a only: it applies when he works in it.
        assert!(!a.check(&attrs(Method::POST, deploy, bob.clone())).allowed);
        let bob_in_a = user("bob", &["tenant:t1", "project:prj-a"]);
        assert!(a.check(&attrs(Method::POST, deploy, bob_in_a.clone())).allowed);
        let bob_in_b = user("bob", &["tenant:t1", "project:prj-b"]);
        assert!(!a.check(&attrs(Method::POST, deploy, bob_in_b)).allowed);
        // A business request is in its project even without the header.
        let ns = "/apis/business.tkestack.io/v1/namespaces/prj-a/namespaces";
        let project = "/apis/business.tkestack.io/v1/projects/prj-a";
        assert!(a.check(&attrs(Method::GET, project, bob.clone())).allowed);
        assert!(a.check(&attrs(Method::PUT, project, bob.clone())).allowed);
        assert!(!a.check(&attrs(Method::PUT, "/apis/business.tkestack.io/v1/projects/prj-b", bob.clone())).allowed);
        // Confined to prj-a: nothing in another project, whatever the policies say.
        let v =
            a.check(&attrs(Method::GET, "/apis/business.tkestack.io/v1/namespaces/prj-b/namespaces", bob_in_a.clone()));
        assert_eq!(
            v.reason,
            "user \"bob\" may not listNamespaces \"project:prj-b/namespace:*\": the request is confined to project prj-a"
        );
        let alice_in_a = user("alice", &["tenant:t1", "project:prj-a"]);
        assert!(
            !a.check(&attrs(Method::GET, "/apis/business.tkestack.io/v1/projects/prj-b", alice_in_a.clone())).allowed
        );
        assert!(
            a.check(&attrs(Method::GET, "/apis/business.tkestack.io/v1/projects/prj-a", alice_in_a.clone())).allowed
        );
        assert!(a.check(&attrs(Method::GET, ns, alice_in_a)).allowed);
    }

    #[test]
    fn namespace_certificates_are_confined() {
        let a = authorizer();
        let holder = user("alice", &["tenant:t1", "namespace:ns1"]);
        assert!(a.check(&attrs(Method::GET, "/api/v1/namespaces/ns1/pods", holder.clone())).allowed);
        let v = a.check(&attrs(Method::GET, "/api/v1/namespaces/ns2/pods", holder.clone()));
        assert_eq!(
            v.reason,
            "user \"alice\" may not listPods \"namespace:ns2/pod:*\": the credential is for namespace ns1 only"
        );
        assert!(!a.check(&attrs(Method::GET, "/api/v1/nodes", holder)).allowed, "cluster-scoped is outside");
    }

    /// Namespaces of cluster cls-a: ns-a in prj-a, ns-b in prj-b, free in no project.
    struct TestOwners;

    impl Owners for TestOwners {
        fn owner(&self, cluster: &str, namespace: &str) -> Option<Owner> {
            let project = match (cluster, namespace) {
                ("cls-a", "ns-a") => "prj-a",
                ("cls-a", "ns-b") => "prj-b",
                _ => return None,
            };
            Some(Owner { project: project.into(), tenant: "t1".into() })
        }
    }

    fn into_cluster(method: Method, cluster: &str, path: &str, user: UserInfo) -> ClusterRequest {
        ClusterRequest { cluster: cluster.into(), inner: attrs(method, path, user) }
    }

    #[test]
    fn members_reach_only_their_projects_namespaces_in_clusters() {
        let a = authorizer();
        let o = TestOwners;
        let in_cls =
            |m: Method, c: &str, p: &str, u: &UserInfo| a.check_in_cluster(&into_cluster(m, c, p, u.clone()), &o);
        // bob: pol-t1-member (*Deployment*) in prj-a.
        let bob = user("bob", &["tenant:t1"]);
        assert!(in_cls(Method::POST, "cls-a", "/apis/apps/v1/namespaces/ns-a/deployments", &bob).allowed);
        let v = in_cls(Method::POST, "cls-a", "/apis/apps/v1/namespaces/ns-b/deployments", &bob);
        assert!(!v.allowed);
        assert!(v.reason.ends_with("(namespace ns-b of cluster cls-a is in project prj-b)"), "{}", v.reason);
        let v = in_cls(Method::POST, "cls-a", "/apis/apps/v1/namespaces/free/deployments", &bob);
        assert!(v.reason.contains("belongs to no project"), "{}", v.reason);
        // The same namespace name in another cluster is not prj-a's.
        assert!(!in_cls(Method::POST, "cls-b", "/apis/apps/v1/namespaces/ns-a/deployments", &bob).allowed);
        // Cluster-wide: refused, saying why.
        let v = in_cls(Method::GET, "cls-a", "/api/v1/nodes", &bob);
        assert!(v.reason.contains("needs a platform-wide policy"), "{}", v.reason);
        assert!(!in_cls(Method::GET, "cls-a", "/apis/apps/v1/deployments", &bob).allowed, "every namespace");
        // Discovery is open.
        assert!(in_cls(Method::GET, "cls-a", "/apis", &bob).allowed);
        assert!(in_cls(Method::GET, "cls-a", "/api/v1", &bob).allowed);
        // alice reads everything platform-wide (pol-t1-viewer), wherever it is.
        let alice = user("alice", &["tenant:t1"]);
        assert!(in_cls(Method::GET, "cls-a", "/api/v1/nodes", &alice).allowed);
        assert!(in_cls(Method::GET, "cls-a", "/api/v1/namespaces/free/pods", &alice).allowed);
        // Administrators.
        assert!(in_cls(Method::DELETE, "cls-a", "/api/v1/nodes/n1", &user("boss", &["tenant:t1"])).allowed);
        assert!(in_cls(Method::DELETE, "cls-a", "/api/v1/nodes/n1", &user("root", &["system:masters"])).allowed);
        // A project of another tenant is not named.
        let v = in_cls(Method::GET, "cls-a", "/api/v1/namespaces/ns-a/pods", &user("bob", &["tenant:t2"]));
        assert!(!v.allowed && !v.reason.contains("prj-a"), "{}", v.reason);
    }

    #[test]
    fn listing_every_projects_namespaces_is_refused_with_the_way_to_list_them() {
        let a = authorizer();
        let bob = user("bob", &["tenant:t1"]);
        let v = a.check(&attrs(Method::GET, "/apis/business.tkestack.io/v1/namespaces", bob.clone()));
        assert!(!v.allowed);
        assert!(v.reason.ends_with("one project at a time (-n <project>)"), "{}", v.reason);
        let v = a.check(&attrs(Method::GET, "/apis/business.tkestack.io/v1/projects", bob));
        assert!(!v.reason.contains("-n <project>"), "projects are not in projects: {}", v.reason);
    }

    #[test]
    fn namespace_certificates_stay_in_their_cluster_and_namespace() {
        let a = authorizer();
        let o = TestOwners;
        let holder = user("bob", &["tenant:t1", "cluster:cls-a", "project:prj-a", "namespace:ns-a"]);
        let in_cls = |m: Method, c: &str, p: &str| a.check_in_cluster(&into_cluster(m, c, p, holder.clone()), &o);
        assert!(in_cls(Method::POST, "cls-a", "/apis/apps/v1/namespaces/ns-a/deployments").allowed);
        assert!(in_cls(Method::GET, "cls-a", "/api").allowed, "discovery");
        assert!(!in_cls(Method::GET, "cls-a", "/api/v1/namespaces/ns-a/secrets").allowed, "the policies still apply");
        let v = in_cls(Method::POST, "cls-a", "/apis/apps/v1/namespaces/ns-b/deployments");
        assert_eq!(
            v.reason,
            "user \"bob\" may not createDeployment \"cluster:cls-a/namespace:ns-b/deployment:*\": the credential is for namespace ns-b of cluster cls-a only"
                .replace("namespace ns-b of", "namespace ns-a of")
        );
        let v = in_cls(Method::POST, "cls-b", "/apis/apps/v1/namespaces/ns-a/deployments");
        assert!(v.reason.ends_with("the credential is for cluster cls-a only"), "{}", v.reason);
        assert!(!in_cls(Method::GET, "cls-a", "/api/v1/nodes").allowed);
        // The namespace moved to another project: the certificate of the old one no longer works.
        let moved = user("bob", &["tenant:t1", "cluster:cls-a", "project:prj-a", "namespace:ns-b"]);
        let v = a.check_in_cluster(&into_cluster(Method::GET, "cls-a", "/api/v1/namespaces/ns-b/pods", moved), &o);
        assert!(
            v.reason.contains("belongs to project prj-b, and the request is confined to project prj-a"),
            "{}",
            v.reason
        );
        // Even a tenant administrator's certificate is confined; on the platform too.
        let boss = user("boss", &["tenant:t1", "cluster:cls-a", "namespace:ns-a"]);
        assert!(!a.check_in_cluster(&into_cluster(Method::GET, "cls-a", "/api/v1/nodes", boss.clone()), &o).allowed);
        assert!(!a.check(&attrs(Method::GET, &format!("{P}/clusters"), boss)).allowed);
    }

    #[test]
    fn batch_answers_in_order() {
        let a = authorizer();
        let alice = user("alice", &["tenant:t1"]);
        let bob = user("bob", &["tenant:t1", "project:prj-a"]);
        let list = vec![
            attrs(Method::GET, &format!("{P}/clusters"), alice.clone()),
            attrs(Method::POST, &format!("{P}/clusters"), alice.clone()),
            attrs(Method::POST, "/apis/apps/v1/namespaces/n/deployments", bob.clone()),
            attrs(Method::POST, "/apis/apps/v1/namespaces/n/deployments", alice.clone()),
            attrs(Method::GET, "/apis/business.tkestack.io/v1/portal", user("x", &[])),
        ];
        let got = a.batch(&list);
        assert_eq!(got.iter().map(|v| v.allowed).collect::<Vec<_>>(), [true, false, true, false, true]);
        let one_by_one: Vec<Verdict> = list.iter().map(|x| a.check(x)).collect();
        assert_eq!(got, one_by_one, "same verdicts, same reasons");
        // Interleaved users, projects, debug mode, short-circuits.
        let mut debug_alice = alice.clone();
        debug_alice.extra.insert("debug".into(), vec!["true".into()]);
        let list = vec![
            attrs(Method::GET, "/apis/business.tkestack.io/v1/projects/prj-b", bob.clone()),
            attrs(Method::POST, &format!("{P}/clusters"), debug_alice.clone()),
            attrs(Method::POST, &format!("{P}/clusters"), alice.clone()),
            attrs(Method::DELETE, &format!("{P}/clusters/cls-a"), user("carol", &["tenant:t1", "ops"])),
            attrs(Method::DELETE, &format!("{P}/clusters/x"), user("root", &["system:masters"])),
            attrs(Method::POST, "/apis/apps/v1/namespaces/n/deployments", bob.clone()),
            attrs(Method::POST, &format!("{P}/clusters"), debug_alice),
        ];
        let one_by_one: Vec<Verdict> = list.iter().map(|x| a.check(x)).collect();
        assert_eq!(a.batch(&list), one_by_one);
        assert_eq!(
            one_by_one.iter().map(|v| v.allowed).collect::<Vec<_>>(),
            [false, false, false, true, true, true, false]
        );
        assert!(a.batch(&[]).is_empty());
    }

    #[test]
    fn only_platform_administrators_impersonate() {
        let e = Enforcer::with_rows(&[
            Row::policy("pol-t1-administrator", "*", "*", Effect::Allow),
            Row::grouping("t1##user##alice", "pol-t1-administrator", "*"),
        ])
        .expect("rows");
        let admins = |_: &str, user: &str| user == "boss";
        let a = CasbinAuthorizer::new(Arc::new(e), Arc::new(admins));
        let impersonate = |u: UserInfo, resource: &str, name: &str| Attributes {
            user: u,
            verb: "impersonate".into(),
            resource_request: true,
            path: "/api/v1/pods".into(),
            api_group: String::new(),
            api_version: String::new(),
            namespace: String::new(),
            resource: resource.into(),
            subresource: String::new(),
            name: name.into(),
        };
        let alice = user("alice", &["tenant:t1"]);
        assert!(a.check(&attrs(Method::DELETE, &format!("{P}/clusters/x"), alice.clone())).allowed);
        let v = a.check(&impersonate(alice, "groups", "system:masters"));
        assert_eq!(
            v.reason,
            "user \"alice\" may not impersonate groups \"system:masters\": only platform administrators may impersonate"
        );
        assert!(
            !a.check(&impersonate(user("boss", &["tenant:t1"]), "users", "bob")).allowed,
            "nor tenant administrators"
        );
        assert!(a.check(&impersonate(user("root", &["system:masters"]), "users", "bob")).allowed);
    }

    #[test]
    fn debug_mode_explains_refusals() {
        let a = authorizer();
        let mut alice = user("alice", &["tenant:t1"]);
        let create = |u: UserInfo| attrs(Method::POST, &format!("{P}/clusters"), u);
        assert!(!a.check(&create(alice.clone())).reason.contains("holds"));
        alice.extra.insert("debug".into(), vec!["true".into()]);
        let reason = a.check(&create(alice.clone())).reason;
        assert!(reason.starts_with("user \"alice\" may not createCluster \"cluster:*\": no policy bound in the platform allows it; the caller holds 3 policy rows here: "), "{reason}");
        assert!(reason.contains("p, pol-t1-viewer, *, *, get*, allow"), "{reason}");
        assert_eq!(held(&[]), "the caller holds no policy rows here");
        let many: Vec<Row> = (0..25).map(|i| Row::policy("p", "*", &format!("a{i}"), Effect::Allow)).collect();
        assert!(held(&many).ends_with("; …"));
    }

    #[test]
    fn no_tenant_admins() {
        let a = CasbinAuthorizer::new(Arc::new(Enforcer::new()), Arc::new(NoTenantAdmins));
        assert!(!a.check(&attrs(Method::GET, &format!("{P}/clusters"), user("boss", &["tenant:t1"]))).allowed);
        assert!(a.enforcer().is_empty());
    }
}
