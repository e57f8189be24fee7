//! The auth component in an API server: its resources (`auth.tkestack.io/v1`,
//! `authz.tkestack.io/v1`) and, as they land, its routes and the authenticators and authorizer
//! it gives every request.

use std::sync::Arc;

use apiserver::{ApiServer, Component, Mount, ResourceDef, component::MountError};

/// The auth component.
pub struct Auth;

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

    async fn mount(&self, _server: &Arc<ApiServer>) -> Result<Mount, MountError> {
        Ok(Mount::default())
    }
}
