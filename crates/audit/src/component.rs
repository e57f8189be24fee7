//! The audit component in an API server: `audit.tkestack.io/v1`.

use std::sync::Arc;

use apiserver::{
    ApiServer, Component, Mount, ResourceDef,
    component::{MountContext, MountError},
};

/// The audit component.
pub struct Audit;

#[async_trait::async_trait]
impl Component for Audit {
    fn name(&self) -> &'static str {
        "audit"
    }

    fn resources(&self) -> Vec<ResourceDef> {
        api::audit::resources()
    }

    async fn mount(&self, _server: &Arc<ApiServer>, _ctx: &MountContext) -> Result<Mount, MountError> {
        Ok(Mount::default())
    }
}
