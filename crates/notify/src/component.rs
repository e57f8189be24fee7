//! The notify component in an API server: `notify.tkestack.io/v1`.

use std::sync::Arc;

use apiserver::{
    ApiServer, Component, Mount, ResourceDef,
    component::{MountContext, MountError},
};

/// The notify component.
pub struct Notify;

#[async_trait::async_trait]
impl Component for Notify {
    fn name(&self) -> &'static str {
        "notify"
    }

    fn resources(&self) -> Vec<ResourceDef> {
        api::notify::resources()
    }

    async fn mount(&self, _server: &Arc<ApiServer>, _ctx: &MountContext) -> Result<Mount, MountError> {
        Ok(Mount::default())
    }
}
