//! Flags of the auth component (identity and access) for `tke up`.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

#[derive(clap::Args, Clone, Debug)]
pub struct AuthArgs {
    /// The OpenID provider's issuer URL (what ID tokens carry in `iss`). Default: this
    /// server's URL + `/oidc`. Replicas behind one address must all be given that address's.
    #[arg(long, env = "TKE_OIDC_ISSUER_URL")]
    pub oidc_issuer_url: Option<String>,
    /// How long an ID token is valid, in seconds.
    #[arg(long, env = "TKE_ID_TOKEN_TTL_SECONDS", default_value_t = 3600)]
    pub id_token_ttl_seconds: u64,
}

/// The auth component as the flags set it up.
pub fn component(args: &AuthArgs) -> auth::Auth {
    auth::Auth::new(auth::component::Config {
        issuer: args.oidc_issuer_url.clone(),
        id_token_ttl: Duration::from_secs(args.id_token_ttl_seconds.clamp(60, 7 * 24 * 3600)),
        ..Default::default()
    })
}

/// The registry's and chart repositories' Basic auth, answered by the auth component of the
/// same process: platform users by password, API keys and ID tokens (one administrator for
/// the whole platform).
pub struct PlatformUsers(pub Arc<OnceLock<Arc<auth::component::Handle>>>);

#[async_trait::async_trait]
impl registry::auth::Authenticator for PlatformUsers {
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> registry::error::Result<Option<registry::auth::Identity>> {
        let Some(handle) = self.0.get() else { return Ok(None) };
        Ok(handle.check_basic(username, password).await.map(|user| {
            let tenant = user.tenant();
            registry::auth::Identity {
                admin: user.is_admin(),
                tenant: (tenant != auth::bootstrap::DEFAULT_TENANT).then_some(tenant),
                name: user.name,
                groups: user.groups,
            }
        }))
    }
}

/// Push, pull and delete in a tenant's registry namespaces as the platform's policies allow
/// them: `getRepository`, `createRepository` and `deleteRepository` on
/// `registrynamespace:{namespace}/repository:{repository}` (the namespace as clients name it),
/// decided by the same authorizer as every API request.
pub struct PlatformRepositoryPolicy(pub Arc<OnceLock<Arc<auth::component::Handle>>>);

#[async_trait::async_trait]
impl registry::tenancy::RepositoryPolicy for PlatformRepositoryPolicy {
    async fn allowed(
        &self,
        who: &registry::auth::Identity,
        tenant: &str,
        namespace: &str,
        repository: &str,
    ) -> Vec<&'static str> {
        let Some(handle) = self.0.get() else { return vec![] };
        let user = apiserver::UserInfo {
            name: who.name.clone(),
            groups: who.groups.clone(),
            extra: [("tenantid".to_string(), vec![tenant.to_string()])].into(),
            ..Default::default()
        };
        let group = api::registry::GROUP;
        [("pull", "get"), ("push", "create"), ("delete", "delete")]
            .into_iter()
            .filter(|(_, verb)| {
                handle.allows(&apiserver::auth::Attributes {
                    user: user.clone(),
                    verb: (*verb).to_string(),
                    resource_request: true,
                    path: format!("/apis/{group}/v1/namespaces/{namespace}/repositories/{repository}"),
                    api_group: group.to_string(),
                    api_version: "v1".to_string(),
                    namespace: namespace.to_string(),
                    resource: "repositories".to_string(),
                    subresource: String::new(),
                    name: repository.to_string(),
                })
            })
            .map(|(action, _)| action)
            .collect()
    }
}

/// The Lease of the auth component's controller (Casbin rows, default policies, finalizers).
pub const LEASE: &str = "tke-auth-controller";

/// Starts the auth component's controller in `running`, under [`LEASE`] when leader election is on.
pub fn controllers(
    running: &mut crate::controllers::Running,
    component: &auth::Auth,
    platform: &kube::Client,
    leader_elect: bool,
) {
    let handle = component.handle();
    running.spawn("auth", platform, leader_elect.then_some(LEASE), move |stop| {
        let handle = handle.get().cloned();
        async move {
            if let Some(h) = handle {
                h.run_controllers(stop).await;
            }
        }
    });
}
