//! The platform component's flags and controllers: the cluster, machine and add-on controllers
//! of `tke up`, and `tke platform` running the platform on its own against the same store.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context as _;

use crate::{controllers::Running, serve::ServerArgs};

/// Flags of the platform component.
#[derive(clap::Args, Debug)]
pub struct PlatformArgs {
    /// Registry prefix of add-on images (air-gapped installations point it at their own registry).
    #[arg(long, env = "TKE_ADDON_REGISTRY", default_value = "docker.io")]
    pub addon_registry: String,
    /// How often a Running add-on's workloads are checked (seconds).
    #[arg(long, env = "TKE_ADDON_HEALTH_PERIOD_SECONDS", default_value_t = 300)]
    pub addon_health_period_seconds: u64,
    /// How often an add-on being installed is checked for available workloads (seconds).
    #[arg(long, env = "TKE_ADDON_CHECK_INTERVAL_SECONDS", default_value_t = 5)]
    pub addon_check_interval_seconds: u64,
    /// Wait between installation attempts of an add-on (seconds).
    #[arg(long, env = "TKE_ADDON_RETRY_DELAY_SECONDS", default_value_t = 300)]
    pub addon_retry_delay_seconds: u64,
    /// Run the cluster controllers (import, health checks, deletion) in this process.
    #[arg(long, env = "TKE_PLATFORM_CONTROLLERS", default_value_t = true, action = clap::ArgAction::Set)]
    pub platform_controllers: bool,
    /// How often each cluster is health-checked (seconds); a random delay of up to a quarter of it spreads clusters out.
    #[arg(long, env = "TKE_CLUSTER_HEALTH_PERIOD_SECONDS", default_value_t = 60)]
    pub cluster_health_period_seconds: u64,
    /// Probes per health check; a check fails only when all of them fail.
    #[arg(long, env = "TKE_CLUSTER_HEALTH_PROBES", default_value_t = 3)]
    pub cluster_health_probes: u32,
    /// Failed health checks in a row before a Running cluster is marked Failed.
    #[arg(long, env = "TKE_CLUSTER_HEALTH_FAILURE_THRESHOLD", default_value_t = 3)]
    pub cluster_health_failure_threshold: u32,
    /// Good health checks in a row before a Failed cluster is Running again.
    #[arg(long, env = "TKE_CLUSTER_HEALTH_SUCCESS_THRESHOLD", default_value_t = 1)]
    pub cluster_health_success_threshold: u32,
    /// The offline bundle Baremetal clusters and machines are installed from (see
    /// crates/provision/BUNDLE.md); default DATA_DIR/bundle.
    #[arg(long, env = "TKE_BAREMETAL_BUNDLE_DIR")]
    pub baremetal_bundle_dir: Option<PathBuf>,
    /// Prefix of every path the Baremetal steps write on a machine ("" on real machines).
    #[arg(long, env = "TKE_BAREMETAL_INSTALL_ROOT", default_value = "")]
    pub baremetal_install_root: String,
    /// Let the Baremetal steps run systemctl, modprobe, sysctl and swapoff on machines.
    #[arg(long, env = "TKE_BAREMETAL_MANAGE_SYSTEM", default_value_t = true, action = clap::ArgAction::Set)]
    pub baremetal_manage_system: bool,
    /// The platform's URL as business clusters reach it (https://host:port), for the authn/authz
    /// webhooks of Baremetal clusters with features.authzWebhookAddr; default: this server's URL.
    #[arg(long, env = "TKE_CLUSTER_WEBHOOK_URL")]
    pub cluster_webhook_url: Option<String>,
}

/// `tke platform`: clusters, machines and add-ons with their controllers.
#[derive(clap::Args, Debug)]
pub struct PlatformCommand {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub platform: PlatformArgs,
}

/// Where the Prometheus add-on's Alertmanager calls the platform: the notify component's
/// `/webhook`, with the bearer token it accepts ([`notify::webhook_token`]), trusting the
/// platform's CA when it generated its certificate.
pub fn alert_webhook(data_dir: &Path, url: &str) -> anyhow::Result<addons::prometheus::AlertWebhook> {
    let token = notify::webhook_token(data_dir).context("the Alertmanager webhook token")?;
    let ca_pem = std::fs::read_to_string(data_dir.join("pki").join("ca.crt")).ok();
    Ok(addons::prometheus::AlertWebhook { url: format!("{}/webhook", url.trim_end_matches('/')), token, ca_pem })
}

/// Starts the platform's controllers (cluster and machine, add-ons) in `running`.
pub fn controllers(
    running: &mut Running,
    platform_client: &kube::Client,
    args: &PlatformArgs,
    data_dir: &Path,
    url: &str,
    leader_elect: bool,
) -> anyhow::Result<()> {
    let addon_opts = addons::Options {
        registry: args.addon_registry.clone(),
        timings: addons::lifecycle::Timings {
            health_period: Duration::from_secs(args.addon_health_period_seconds.max(1)),
            check_interval: Duration::from_secs(args.addon_check_interval_seconds.max(1)),
            retry_delay: Duration::from_secs(args.addon_retry_delay_seconds.max(1)),
            ..Default::default()
        },
        alert_webhook: Some(alert_webhook(data_dir, url)?),
        ..Default::default()
    };
    crate::controllers::addons(running, platform_client, addon_opts, leader_elect);
    if !args.platform_controllers {
        return Ok(());
    }
    let period = Duration::from_secs(args.cluster_health_period_seconds.max(1));
    let opts = platform::ControllerOptions {
        health: platform::HealthOptions {
            period,
            jitter: period / 4,
            probes: args.cluster_health_probes.max(1),
            failure_threshold: args.cluster_health_failure_threshold.max(1),
            success_threshold: args.cluster_health_success_threshold.max(1),
            ..Default::default()
        },
        leader_election: leader_elect.then(platform::LeaderOptions::default),
        ..Default::default()
    };
    let baremetal = Arc::new(baremetal_provider(args, data_dir, url)?);
    let client = platform_client.clone();
    // The platform controllers elect their leader themselves (`opts.leader_election`).
    running.spawn("platform", platform_client, None, move |stop| {
        platform::Controllers::new(client.clone(), opts.clone())
            .with_machine_provider(Arc::new(baremetal.machine_provider()))
            .with_provider(baremetal.clone())
            .run(crate::controllers::stopped(stop))
    });
    Ok(())
}

/// The Baremetal cluster and machine provider: bundle, install prefix, SSH host keys trusted
/// on first use and remembered in DATA_DIR/known_hosts, and the platform's URL and CA for the
/// clusters' authn/authz webhooks.
fn baremetal_provider(
    args: &PlatformArgs,
    data_dir: &Path,
    url: &str,
) -> anyhow::Result<provision::baremetal::Baremetal> {
    let bundle = args.baremetal_bundle_dir.clone().unwrap_or_else(|| data_dir.join("bundle"));
    let mut o = provision::baremetal::BaremetalOptions::new(bundle);
    let known_hosts = data_dir.join("known_hosts");
    let hosts = provision::KnownHosts::open(&known_hosts)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", known_hosts.display()))?;
    o.ssh.host_keys = provision::HostKeyPolicy::TrustOnFirstUse(Arc::new(hosts));
    o.install.root = args.baremetal_install_root.clone();
    o.install.manage_system = args.baremetal_manage_system;
    o.auth_webhook = Some(Arc::new(
        platform::authwebhook::WebhookIssuer::from_data_dir(
            args.cluster_webhook_url.as_deref().unwrap_or(url),
            data_dir,
        )
        .map_err(|e| anyhow::anyhow!("the clusters' webhook configuration: {e}"))?,
    ));
    Ok(provision::baremetal::Baremetal::new(o))
}

/// Runs the platform component alone until Ctrl-C or SIGTERM.
pub async fn run(cmd: PlatformCommand) -> anyhow::Result<()> {
    let server = crate::serve::Server::start(&cmd.server, &[&platform::component::Platform]).await?;
    let client = controller_runtime::platform_client(&server.kubeconfig).await?;
    let mut running = Running::new();
    controllers(&mut running, &client, &cmd.platform, &server.data_dir, &server.url, cmd.server.leader_elect)?;
    println!("tke-rs is up at {} (the platform component; storage: {:?})", server.url, server.storage);
    println!("  export KUBECONFIG={}", server.kubeconfig.display());
    server.serve(running).await?;
    println!("tke-rs stopped");
    Ok(())
}
