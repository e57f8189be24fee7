//! The platform component in an API server: `platform.tkestack.io/v1` (clusters, machines,
//! credentials, add-ons...) with the Cluster subresources and the unified proxy. Its controllers
//! run beside it ([`crate::Controllers`]) against the API, as any client.

use std::sync::Arc;

use apiserver::{
    ApiServer, Component, Mount, ResourceDef,
    component::{MountContext, MountError},
};

/// The platform component.
pub struct Platform;

#[async_trait::async_trait]
impl Component for Platform {
    fn name(&self) -> &'static str {
        "platform"
    }

    fn resources(&self) -> Vec<ResourceDef> {
        api::platform::resources()
    }

    async fn mount(&self, server: &Arc<ApiServer>, ctx: &MountContext) -> Result<Mount, MountError> {
        // The controllers of this process (clusters, machines, add-ons…) report reconciles and
        // Leases on the server's `/metrics`.
        server.metrics.with_registry(controller_runtime::metrics::register);
        // Business clusters are reached through `clusters/{name}/proxy` and the unified proxy
        // (header X-TKE-ClusterName), both after authentication so they act as the caller.
        let proxy = crate::subresources::mount(server).map_err(|e| format!("serving the cluster subresources: {e}"))?;
        // Their kube-apiservers call back the platform's webhooks with certificates of its CA.
        let issuer = crate::authwebhook::WebhookIssuer::from_data_dir(&ctx.url, &ctx.data_dir)
            .map_err(|e| format!("the clusters' webhook configuration: {e}"))?;
        crate::subresources::authwebhook::register(server, Arc::new(issuer))
            .map_err(|e| format!("serving clusters/authwebhook: {e}"))?;
        Ok(Mount { around_api: Some(Box::new(move |routes| proxy.layer(routes))), ..Default::default() })
    }
}
