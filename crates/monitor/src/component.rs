//! The monitor component in an API server: `monitor.tkestack.io/v1`.

use std::sync::Arc;

use apiserver::{
    ApiServer, Component, Mount, ResourceDef,
    component::{MountContext, MountError},
};

/// The monitor component.
pub struct Monitor;

#[async_trait::async_trait]
impl Component for Monitor {
    fn name(&self) -> &'static str {
        "monitor"
    }

    fn resources(&self) -> Vec<ResourceDef> {
        api::monitor::resources()
    }

    async fn mount(&self, _server: &Arc<ApiServer>, _ctx: &MountContext) -> Result<Mount, MountError> {
        Ok(Mount::default())
    }
}
