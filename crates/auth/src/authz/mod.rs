//! Authorization of every request by the Casbin model of TKEStack (policies, roles and
//! bindings kept as Rule objects), and the `/auth/` webhooks business clusters call.
//!
//! - [`model`]: the model and its `keyMatchCustom`, patterns compiled once;
//! - [`attributes`]: a request's action and object, as TKEStack derives them;
//! - [`enforcer`]: the model evaluated through an index of the rows by subject and domain,
//!   updated row by row from the Rule objects;
//! - [`authorizer`]: the API server's authorizer (TKEStack's short-circuits, then the
//!   enforcer), and the batch decisions of `/auth/batchauthz`;
//! - [`catalogue`]: the default policies and categories each tenant starts with;
//! - [`clusters`]: requests into business clusters (the request inside the proxy) and the
//!   projects owning the clusters' namespaces.

pub mod attributes;
pub mod authorizer;
pub mod catalogue;
pub mod clusters;
pub mod enforcer;
pub mod model;
pub mod sync;
pub mod webhooks;

use std::sync::Arc;

use apiserver::{
    ApiServer, Mount,
    component::{MountContext, MountError},
};

pub use attributes::{TkeAttributes, convert};
pub use authorizer::{CasbinAuthorizer, NoTenantAdmins, TenantAdmins};
pub use enforcer::{Effect, Enforcer, Query, Row, RowError, Verdict};
pub use model::{DEFAULT_MODEL, key_match_custom};

/// Actions every authenticated user may take whatever their policies: finding out who they
/// are and what they may do (the `/auth/` reviews check themselves who may ask about whom),
/// issuing API keys for themselves, changing their own password, and the console gateway's
/// questions every page asks (who the session is, which components run, the platform's
/// information).
fn always_allowed(attrs: &apiserver::auth::Attributes) -> bool {
    if !attrs.resource_request {
        return attrs.verb == "post"
            && matches!(attrs.path.as_str(), "/auth/authn" | "/auth/authz" | "/auth/restauthz" | "/auth/batchauthz");
    }
    match (attrs.api_group.as_str(), attrs.resource.as_str(), attrs.subresource.as_str()) {
        ("authentication.k8s.io", "selfsubjectreviews", _) => attrs.verb == "create",
        ("authorization.k8s.io", "selfsubjectaccessreviews" | "selfsubjectrulesreviews", _) => attrs.verb == "create",
        ("auth.tkestack.io", "apikeys", "token") => attrs.verb == "create" && attrs.name == "default",
        // The handler asks for the user's current password unless the caller administers them.
        ("auth.tkestack.io", "localidentities", "password") => matches!(attrs.verb.as_str(), "create" | "update"),
        ("gateway.tkestack.io", "tokens", "") => attrs.verb == "get" && attrs.name == "info",
        ("gateway.tkestack.io", "sysinfo" | "platforminfo", "") => matches!(attrs.verb.as_str(), "get" | "list"),
        _ => false,
    }
}

/// The API server's authorizer: [`always_allowed`], then the Casbin model, about the request
/// inside when a request goes into a business cluster ([`clusters::cluster_request`]).
pub struct PlatformAuthorizer {
    pub casbin: Arc<CasbinAuthorizer>,
    /// Who owns the namespaces of business clusters.
    pub owners: Arc<dyn clusters::Owners>,
    /// The API groups the server serves itself (the unified proxy does not take them).
    pub served_groups: Vec<String>,
}

#[async_trait::async_trait]
impl apiserver::auth::Authorizer for PlatformAuthorizer {
    async fn authorize(&self, attrs: &apiserver::auth::Attributes) -> apiserver::auth::Decision {
        if always_allowed(attrs) {
            return apiserver::auth::Decision::Allow;
        }
        self.casbin.authorize(attrs).await
    }

    async fn authorize_request(
        &self,
        attrs: &apiserver::auth::Attributes,
        request: &http::request::Parts,
    ) -> apiserver::auth::Decision {
        // The console's `X-TKE-ProjectName` puts the request in that project: a `project:`
        // group after the caller's own (a certificate's project stays the one that counts).
        let with_project;
        let attrs = match request.headers.get(attributes::PROJECT_HEADER).and_then(|v| v.to_str().ok()) {
            Some(p) if !p.trim().is_empty() => {
                let mut a = attrs.clone();
                a.user.groups.push(format!("project:{}", p.trim()));
                with_project = a;
                &with_project
            }
            _ => attrs,
        };
        let served = |g: &str| self.served_groups.iter().any(|s| s == g);
        match clusters::cluster_request(attrs, request, served) {
            Some(inner) => {
                let verdict = self.casbin.check_in_cluster(&inner, self.owners.as_ref());
                if verdict.allowed {
                    apiserver::auth::Decision::Allow
                } else {
                    apiserver::auth::Decision::Deny(verdict.reason)
                }
            }
            None => self.authorize(attrs).await,
        }
    }
}

/// Authorization of every request: the enforcer fed by the Rule objects, the authorizer with
/// the tenants' administrators, the `/auth/` webhooks. Returns the controller's sources (run
/// under a Lease by the binary, see [`sync::run`]).
pub async fn mount(
    server: &Arc<ApiServer>,
    _ctx: &MountContext,
    _config: &crate::component::Config,
    handle: &Arc<crate::component::Handle>,
    mount: &mut Mount,
) -> Result<Arc<sync::Sources>, MountError> {
    let enforcer = Arc::new(Enforcer::new());
    sync::feed(server, enforcer.clone()).await?;
    let idps = handle.provider.people.idps.clone();
    let tenant_admins = move |tenant: &str, user: &str| idps.get(tenant).is_some_and(|i| i.is_administrator(user));
    let casbin = Arc::new(CasbinAuthorizer::new(enforcer, Arc::new(tenant_admins)));
    // Business Namespace objects say which project owns a namespace of a business cluster;
    // without the business component nothing does.
    let owners: Arc<dyn clusters::Owners> =
        match server.resource(api::business::GROUP, api::business::VERSION, "namespaces").cloned() {
            Some(store) => Arc::new(clusters::NamespaceOwners::new(
                crate::index::Index::start_keyed(store, crate::index::namespaced_key).await?,
            )),
            None => Arc::new(clusters::NoOwners),
        };
    let mut served_groups: Vec<String> = server.defs().iter().map(|d| d.group.to_string()).collect();
    served_groups.sort();
    served_groups.dedup();
    mount.authorizer =
        Some(Arc::new(PlatformAuthorizer { casbin: casbin.clone(), owners: owners.clone(), served_groups }));
    let _ = handle.authorizer.set(casbin.clone());
    let hooks = Arc::new(webhooks::Webhooks { authorizer: casbin, tokens: handle.clone(), owners });
    let previous = mount.around_api.take();
    mount.around_api = Some(Box::new(move |api: axum::Router| {
        let api = match previous {
            Some(f) => f(api),
            None => api,
        };
        webhooks::routes(hooks).merge(api)
    }));
    Ok(sync::Sources::start(server).await?)
}

#[cfg(test)]
mod tests {
    use apiserver::{
        UserInfo,
        auth::{Attributes, Authorizer, Decision},
    };
    use http::Method;

    use super::*;

    fn request(method: Method, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).expect("request").into_parts().0
    }

    fn decide(a: &PlatformAuthorizer, user: &UserInfo, method: Method, uri: &str, headers: &[(&str, &str)]) -> bool {
        let parts = request(method, uri, headers);
        let attrs = Attributes::from_request(&parts.method, &parts.uri, user.clone());
        futures::executor::block_on(a.authorize_request(&attrs, &parts)) == Decision::Allow
    }

    struct OneNamespace;
    impl clusters::Owners for OneNamespace {
        fn owner(&self, cluster: &str, namespace: &str) -> Option<clusters::Owner> {
            (cluster == "cls-a" && namespace == "ns-a")
                .then(|| clusters::Owner { project: "prj-a".into(), tenant: "t1".into() })
        }
    }

    #[test]
    fn the_platform_authorizer_reads_the_request() {
        let e = Enforcer::with_rows(&[
            Row::policy("pol-member", "*", "*Pod*", Effect::Allow),
            Row::policy("pol-member", "*", "getCluster", Effect::Allow),
            Row::grouping("t1##user##bob", "pol-member", "prj-a"),
        ])
        .expect("rows");
        let a = PlatformAuthorizer {
            casbin: Arc::new(CasbinAuthorizer::new(Arc::new(e), Arc::new(NoTenantAdmins))),
            owners: Arc::new(OneNamespace),
            served_groups: vec!["platform.tkestack.io".into(), "business.tkestack.io".into()],
        };
        let bob = UserInfo { name: "bob".into(), groups: vec!["tenant:t1".into()], ..Default::default() };
        let proxy = "/apis/platform.tkestack.io/v1/clusters/cls-a/proxy";
        // Through the proxy, the unified proxy: the pods of prj-a's namespace only.
        assert!(decide(&a, &bob, Method::GET, &format!("{proxy}/api/v1/namespaces/ns-a/pods"), &[]));
        assert!(!decide(&a, &bob, Method::GET, &format!("{proxy}/api/v1/namespaces/ns-b/pods"), &[]));
        assert!(decide(&a, &bob, Method::GET, "/api/v1/namespaces/ns-a/pods", &[("X-TKE-ClusterName", "cls-a")]));
        assert!(!decide(&a, &bob, Method::GET, "/api/v1/namespaces/ns-a/pods", &[("X-TKE-ClusterName", "cls-b")]));
        // The platform's own objects: in the project the console names.
        let cluster = "/apis/platform.tkestack.io/v1/clusters/cls-a";
        assert!(!decide(&a, &bob, Method::GET, cluster, &[]));
        assert!(decide(&a, &bob, Method::GET, cluster, &[("X-TKE-ProjectName", "prj-a")]));
        assert!(!decide(&a, &bob, Method::GET, cluster, &[("X-TKE-ProjectName", "prj-b")]));
        // Confined to prj-b by the header, prj-a's namespace is out of reach.
        assert!(!decide(
            &a,
            &bob,
            Method::GET,
            &format!("{proxy}/api/v1/namespaces/ns-a/pods"),
            &[("X-TKE-ProjectName", "prj-b")]
        ));
    }
}
