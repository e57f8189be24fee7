//! The business component in an API server: `business.tkestack.io/v1`.

use std::sync::Arc;

use apiserver::{
    ApiServer, Component, Mount, ResourceDef,
    component::{MountContext, MountError},
};

/// The business component.
pub struct Business;

#[async_trait::async_trait]
impl Component for Business {
    fn name(&self) -> &'static str {
        "business"
    }

    fn resources(&self) -> Vec<ResourceDef> {
        api::business::resources()
    }

    async fn mount(&self, server: &Arc<ApiServer>, _ctx: &MountContext) -> Result<Mount, MountError> {
        crate::quota::register(server)?;
        crate::emigration::register(server)?;
        Ok(Mount::default())
    }
}
