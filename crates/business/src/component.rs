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

    async fn mount(&self, server: &Arc<ApiServer>, ctx: &MountContext) -> Result<Mount, MountError> {
        crate::quota::register(server)?;
        crate::emigration::register(server)?;
        let mut mount = Mount::default();
        // Namespace certificates, signed by the platform's client CA.
        let issuer = crate::certificate::Issuer::from_data_dir(&ctx.url, &ctx.data_dir)
            .map_err(|e| format!("the namespace certificates' CA: {e}"))?;
        crate::certificate::CertificateHandler::register(server, Arc::new(issuer))
            .map_err(|e| format!("serving namespaces/certificate: {e}"))?;
        // The portal, computed per caller.
        crate::portal::mount(crate::portal::PortalSource::start(server).await?, &mut mount);
        Ok(mount)
    }
}
