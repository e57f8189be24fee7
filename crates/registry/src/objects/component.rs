//! The registry as a component of an API server: its `registry.tkestack.io/v1` resources, and
//! the registry's routes (`/v2/`, `/chart/`, the token endpoint, with their own authentication)
//! in front of the API. Its controllers run beside it ([`super::controllers::run`]) against the
//! API, as any client.

use std::sync::{Arc, Mutex, OnceLock};

use apiserver::{
    ApiServer, Component, Mount, ResourceDef,
    component::{MountContext, MountError},
};

use super::{
    Error, Stores, recorder,
    visibility::{ApiChartGroups, ApiNamespaces},
};
use crate::events::Event;

/// The registry joined to its objects, recording its events until dropped.
pub struct Installed {
    pub registry: crate::Registry,
    recorder: tokio::task::JoinHandle<()>,
}

impl Drop for Installed {
    fn drop(&mut self) {
        self.recorder.abort();
    }
}

/// Builds the registry from `config` with tenants ([`crate::Tenancy`]), namespace visibility
/// from Namespace objects and chart group visibility from ChartGroup objects (the credential
/// check of `config.auth` is kept, its policy replaced by [`crate::TenantPolicy`]), and starts
/// recording its events on Repository and Chart objects. `server` must serve
/// `api::registry::resources()`.
pub async fn install(
    server: &ApiServer,
    mut config: crate::Config,
    tenancy: crate::Tenancy,
) -> Result<Installed, Error> {
    let stores = Stores::of(server)?;
    let namespaces: Arc<dyn crate::Namespaces> = Arc::new(ApiNamespaces { stores: stores.clone() });
    if let Some(auth) = config.auth.as_mut() {
        auth.authorizer = Arc::new(crate::TenantPolicy {
            tenancy: tenancy.clone(),
            namespaces,
            policy: auth.repository_policy.clone(),
        });
    }
    let (events, received) = tokio::sync::mpsc::unbounded_channel::<Event>();
    config.tenancy = Some(tenancy);
    config.events = Some(Arc::new(events));
    config.chart_groups = Some(Arc::new(ApiChartGroups { stores: stores.clone() }));
    let root = config.root.display().to_string();
    let registry = crate::Registry::new(config).await.map_err(|source| Error::Open { root, source })?;
    let recorder = tokio::spawn(recorder::run(stores, registry.clone(), received));
    Ok(Installed { registry, recorder })
}

/// What the registry is built from, made when the component is mounted: its settings may need
/// files the server creates as it starts (the CA that container tools are given).
pub type Prepare = Box<dyn FnOnce() -> Result<(crate::Config, crate::Tenancy), MountError> + Send>;

/// The registry component.
pub struct RegistryComponent {
    prepare: Mutex<Option<Prepare>>,
    installed: OnceLock<Installed>,
}

impl RegistryComponent {
    pub fn new(prepare: impl FnOnce() -> Result<(crate::Config, crate::Tenancy), MountError> + Send + 'static) -> Self {
        RegistryComponent { prepare: Mutex::new(Some(Box::new(prepare))), installed: OnceLock::new() }
    }

    /// The data plane, once mounted: the controllers need it to remove images and charts.
    pub fn registry(&self) -> Option<crate::Registry> {
        self.installed.get().map(|i| i.registry.clone())
    }
}

#[async_trait::async_trait]
impl Component for RegistryComponent {
    fn name(&self) -> &'static str {
        "registry"
    }

    fn resources(&self) -> Vec<ResourceDef> {
        api::registry::resources()
    }

    async fn mount(&self, server: &Arc<ApiServer>, _ctx: &MountContext) -> Result<Mount, MountError> {
        let prepare = self.prepare.lock().unwrap_or_else(|p| p.into_inner()).take();
        let prepare = prepare.ok_or("the registry component is mounted once")?;
        let (config, tenancy) = prepare()?;
        let installed = install(server, config, tenancy).await?;
        // Its traffic on the server's `/metrics`.
        server.metrics.with_registry(crate::metrics::register);
        // The registry authenticates with Docker's token flow, not the API's credentials.
        let routes = installed.registry.router();
        self.installed.set(installed).map_err(|_| "the registry component is mounted once")?;
        Ok(Mount { front: Some(routes), ..Default::default() })
    }
}
