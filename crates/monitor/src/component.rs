//! The monitor component in an API server: `monitor.tkestack.io/v1` (metrics queries and
//! cluster overviews), the alarm policy REST API under `/apis/v1/monitor`, and on `/metrics` the
//! project quota gauges and the platform's certificate expiry.

use std::{
    path::PathBuf,
    sync::{Arc, OnceLock},
    time::Duration,
};

use apiserver::{
    ApiServer, Component, Mount, ResourceDef,
    component::{MountContext, MountError},
};

use crate::{
    metrics::{Backend, sampler::Sampled},
    store::{Limits, SeriesStore},
};

/// Where metrics queries are answered from.
#[derive(Clone, Debug, Default)]
pub enum MetricsBackend {
    /// The embedded store filled by the sampler.
    #[default]
    Embedded,
    /// A central Prometheus or Thanos Query at this URL (series labelled `cluster_id`).
    Prometheus(String),
    /// Each cluster's own Prometheus (the add-on) through the platform's cluster proxy.
    ClusterPrometheus,
}

/// How the metrics part of the component runs.
#[derive(Clone, Debug)]
pub struct MetricsSettings {
    pub backend: MetricsBackend,
    /// The embedded store's limits.
    pub limits: Limits,
    /// How often the sampler reads every cluster.
    pub sample_interval: Duration,
    /// How often the project quota gauges are recomputed.
    pub quota_interval: Duration,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            backend: MetricsBackend::Embedded,
            limits: Limits::default(),
            sample_interval: Duration::from_secs(60),
            quota_interval: Duration::from_secs(60),
        }
    }
}

/// The embedded store's file in the data directory.
pub const STORE_FILE: &str = "monitor-metrics.bin";

/// The monitor component.
#[derive(Default)]
pub struct Monitor {
    pub metrics: MetricsSettings,
    /// What the sampler fills, made when the component is mounted.
    sampled: OnceLock<Arc<Sampled>>,
}

impl Monitor {
    pub fn new(metrics: MetricsSettings) -> Self {
        Monitor { metrics, sampled: OnceLock::new() }
    }

    /// The store and latest numbers the sampler fills (`None` before the component is mounted).
    pub fn sampled(&self) -> Option<Arc<Sampled>> {
        self.sampled.get().cloned()
    }

    fn backend(&self, sampled: &Arc<Sampled>, data_dir: &std::path::Path) -> Result<Arc<dyn Backend>, MountError> {
        Ok(match &self.metrics.backend {
            MetricsBackend::Embedded => Arc::new(crate::metrics::Embedded(sampled.store.clone())),
            MetricsBackend::Prometheus(url) => Arc::new(
                crate::metrics::prometheus::Central::new(url)
                    .map_err(|e| format!("the Prometheus backend {url}: {}", e.message))?,
            ),
            MetricsBackend::ClusterPrometheus => Arc::new(crate::metrics::prometheus::ClusterProxy::new(
                PathBuf::from(data_dir).join("admin.kubeconfig"),
            )),
        })
    }
}

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
        let store = Arc::new(SeriesStore::open(&ctx.data_dir.join(STORE_FILE), self.metrics.limits.clone()));
        let sampled = self.sampled.get_or_init(|| Sampled::new(store)).clone();
        let backend = self.backend(&sampled, &ctx.data_dir)?;
        crate::serve::mount(server, sampled, backend, &self.metrics, ctx.peers.clone(), &mut mount).await?;
        // Alarm policies, kept in the business clusters' PrometheusRules.
        crate::alarm::rest::mount(Arc::new(crate::alarm::store::PolicyStore::new(server.clone())), &mut mount);
        // The platform watching itself: when its certificates expire.
        let data_dir = ctx.data_dir.clone();
        server.metrics.with_registry(|r| crate::certificates::register(r, &data_dir));
        Ok(mount)
    }
}
