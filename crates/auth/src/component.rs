//! The auth component in an API server: its resources (`auth.tkestack.io/v1`,
//! `authz.tkestack.io/v1`), the first-start objects (tenant `default`, the platform
//! administrator), the OpenID provider under `/oidc/`, the authenticators (ID tokens, API keys)
//! and the authorizer every request goes through.

use std::sync::Arc;

use apiserver::{
    ApiServer, Component, Mount, ResourceDef,
    component::{MountContext, MountError},
};

/// How the auth component is set up (flags of `tke up` and `tke auth`).
#[derive(Clone, Debug)]
pub struct Config {
    /// The OpenID provider's issuer; default: the server's URL + `/oidc`.
    pub issuer: Option<String>,
    /// How long an ID token is valid.
    pub id_token_ttl: std::time::Duration,
    /// How long a browser's login at the OpenID provider lasts (single sign-on).
    pub session_ttl: std::time::Duration,
    /// How long a refresh token (rotated at each use) keeps a login alive.
    pub refresh_ttl: std::time::Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            issuer: None,
            id_token_ttl: std::time::Duration::from_secs(3600),
            session_ttl: std::time::Duration::from_secs(12 * 3600),
            refresh_ttl: std::time::Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// The auth component.
#[derive(Default)]
pub struct Auth {
    pub config: Config,
}

impl Auth {
    pub fn new(config: Config) -> Self {
        Auth { config }
    }
}

#[async_trait::async_trait]
impl Component for Auth {
    fn name(&self) -> &'static str {
        "auth"
    }

    fn resources(&self) -> Vec<ResourceDef> {
        let mut defs = api::auth::resources();
        // Local users' passwords are hashed here (argon2id), never stored as sent.
        for def in &mut defs {
            if def.plural == "localidentities" {
                *def = api::auth::local_identity::definition_with(Some(crate::password::hash_field));
            }
        }
        defs.extend(api::authz::resources());
        defs
    }

    async fn mount(&self, server: &Arc<ApiServer>, ctx: &MountContext) -> Result<Mount, MountError> {
        let mut mount = Mount::default();
        crate::bootstrap::mount(server, ctx, &self.config, &mut mount).await?;
        crate::oidc::mount(server, ctx, &self.config, &mut mount).await?;
        crate::authz::mount(server, ctx, &self.config, &mut mount).await?;
        Ok(mount)
    }
}
