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
            }
        }))
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
