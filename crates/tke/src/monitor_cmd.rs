//! The monitor component's flags and controllers: where metrics queries are answered from, the
//! embedded store's limits, and the sampler that fills it (under the Lease
//! `tke-monitor-sampler`, so one replica samples); and `tke monitor` running the component on
//! its own against the same store.

use std::{sync::Arc, time::Duration};

use crate::{
    controllers::{Running, stopped},
    serve::ServerArgs,
};

/// `tke monitor`: metrics queries, cluster overviews, alarm policies and the sampler.
#[derive(clap::Args, Debug)]
pub struct MonitorCommand {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub monitor: MonitorArgs,
}

/// Flags of the monitor component's metrics.
#[derive(clap::Args, Debug, Clone)]
pub struct MonitorArgs {
    /// A central Prometheus or Thanos Query (`http://host:9090`) whose series carry a
    /// `cluster_id` label: metrics queries are answered from it instead of the embedded store.
    #[arg(long, env = "TKE_MONITOR_PROMETHEUS_URL")]
    pub monitor_prometheus_url: Option<String>,
    /// Answer metrics queries from each cluster's own Prometheus (the Prometheus add-on's
    /// `kube-system/prometheus-k8s:9090`) through the cluster proxy.
    #[arg(long, env = "TKE_MONITOR_CLUSTER_PROMETHEUS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub monitor_cluster_prometheus: bool,
    /// The most memory the embedded metrics store holds (bytes; suffixes Ki, Mi, Gi); the
    /// oldest samples go first.
    #[arg(long, env = "TKE_MONITOR_MEMORY_LIMIT", default_value = "256Mi", value_parser = parse_bytes)]
    pub monitor_memory_limit: u64,
    /// The most disk the embedded metrics store's file takes in the data directory (bytes;
    /// suffixes Ki, Mi, Gi).
    #[arg(long, env = "TKE_MONITOR_DISK_LIMIT", default_value = "256Mi", value_parser = parse_bytes)]
    pub monitor_disk_limit: u64,
    /// How long the embedded store keeps samples (hours).
    #[arg(long, env = "TKE_MONITOR_RETENTION_HOURS", default_value_t = 24)]
    pub monitor_retention_hours: u32,
    /// How often every cluster is sampled for the embedded store and the overview (seconds).
    #[arg(long, env = "TKE_MONITOR_SAMPLE_INTERVAL", default_value_t = 60)]
    pub monitor_sample_interval: u64,
}

fn parse_bytes(s: &str) -> Result<u64, String> {
    apimachinery::quantity::milli_units(s)
        .filter(|m| *m >= 0)
        .map(|m| (m / 1000) as u64)
        .ok_or_else(|| format!("{s:?} is not a size: write bytes with an optional suffix (64Mi, 1Gi)"))
}

impl MonitorArgs {
    pub fn component(&self) -> monitor::Monitor {
        use monitor::component::{MetricsBackend, MetricsSettings};
        let backend = match (&self.monitor_prometheus_url, self.monitor_cluster_prometheus) {
            (Some(url), _) => MetricsBackend::Prometheus(url.clone()),
            (None, true) => MetricsBackend::ClusterPrometheus,
            (None, false) => MetricsBackend::Embedded,
        };
        let limit = self.monitor_memory_limit.min(self.monitor_disk_limit);
        monitor::Monitor::new(MetricsSettings {
            backend,
            limits: monitor::store::Limits {
                bytes: usize::try_from(limit).unwrap_or(usize::MAX),
                retention_seconds: self.monitor_retention_hours.saturating_mul(3600),
            },
            sample_interval: Duration::from_secs(self.monitor_sample_interval.max(1)),
            ..Default::default()
        })
    }
}

/// Starts the sampler of the mounted `component` in `running`.
pub fn controllers(running: &mut Running, component: &monitor::Monitor, platform: &kube::Client, leader_elect: bool) {
    let Some(sampled) = component.sampled() else {
        tracing::warn!("the monitor component is not mounted: no sampler runs");
        return;
    };
    let clusters: Arc<dyn controller_runtime::cluster::ClusterClients> =
        Arc::new(controller_runtime::cluster::PlatformClusters::new(
            platform.clone(),
            controller_runtime::cluster::ClientOptions::timeout(Duration::from_secs(10)),
        ));
    let client = platform.clone();
    let opts = monitor::metrics::sampler::Options { interval: component.metrics.sample_interval, ..Default::default() };
    running.spawn("monitor", platform, leader_elect.then_some("tke-monitor-sampler"), move |stop| {
        monitor::metrics::sampler::run(client.clone(), clusters.clone(), sampled.clone(), opts.clone(), stopped(stop))
    });
}

/// Runs the monitor component until Ctrl-C or SIGTERM. It reads the clusters in process, so the
/// platform's API is served beside it (from the same store; the platform's controllers run in
/// `tke platform`).
pub async fn run(cmd: MonitorCommand) -> anyhow::Result<()> {
    let component = cmd.monitor.component();
    let server = crate::serve::Server::start(&cmd.server, &[&platform::component::Platform, &component]).await?;
    let client = controller_runtime::platform_client(&server.kubeconfig).await?;
    let mut running = Running::new();
    controllers(&mut running, &component, &client, cmd.server.leader_elect);
    println!("tke-rs is up at {} (the monitor component; storage: {:?})", server.url, server.storage);
    println!("  export KUBECONFIG={}", server.kubeconfig.display());
    server.serve(running).await?;
    println!("tke-rs stopped");
    Ok(())
}
