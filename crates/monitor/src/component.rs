//! The monitor component in an API server: `monitor.tkestack.io/v1`, the alarm policy REST API
//! under `/apis/v1/monitor`, and the platform's certificate expiry on `/metrics`.

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

    async fn mount(&self, server: &Arc<ApiServer>, ctx: &MountContext) -> Result<Mount, MountError> {
        let mut mount = Mount::default();
        // Alarm policies, kept in the business clusters' PrometheusRules.
        crate::alarm::rest::mount(Arc::new(crate::alarm::store::PolicyStore::new(server.clone())), &mut mount);
        // The platform watching itself: when its certificates expire.
        let data_dir = ctx.data_dir.clone();
        server.metrics.with_registry(|r| crate::certificates::register(r, &data_dir));
        Ok(mount)
    }
}
