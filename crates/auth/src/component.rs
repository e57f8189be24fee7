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
#[derive(Clone, Debug, Default)]
pub struct Config {}

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
