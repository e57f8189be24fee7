//! Authorization of every request by the Casbin model of TKEStack (policies, roles and
//! bindings kept as Rule objects), and the `/auth/` webhooks business clusters call.
//!
//! - [`model`]: the model and its `keyMatchCustom`, patterns compiled once;
//! - [`attributes`]: a request's action and object, as TKEStack derives them;
//! - [`enforcer`]: the model evaluated through an index of the rows by subject and domain,
//!   updated row by row from the Rule objects;
//! - [`authorizer`]: the API server's authorizer (TKEStack's short-circuits, then the
//!   enforcer), and the batch decisions of `/auth/batchauthz`;
//! - [`catalogue`]: the default policies and categories each tenant starts with.

pub mod attributes;
pub mod authorizer;
pub mod catalogue;
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
/// issuing API keys for themselves, and changing their own password.
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
        _ => false,
    }
}

/// The API server's authorizer: [`always_allowed`], then the Casbin model.
pub struct PlatformAuthorizer(pub Arc<CasbinAuthorizer>);

#[async_trait::async_trait]
impl apiserver::auth::Authorizer for PlatformAuthorizer {
    async fn authorize(&self, attrs: &apiserver::auth::Attributes) -> apiserver::auth::Decision {
        if always_allowed(attrs) {
            return apiserver::auth::Decision::Allow;
        }
        self.0.authorize(attrs).await
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
    mount.authorizer = Some(Arc::new(PlatformAuthorizer(casbin.clone())));
    let _ = handle.authorizer.set(casbin.clone());
    let hooks = Arc::new(webhooks::Webhooks { authorizer: casbin, tokens: handle.clone() });
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
