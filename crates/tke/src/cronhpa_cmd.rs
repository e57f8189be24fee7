//! `tke cronhpa`: the CronHPA controller of a business cluster (the CronHPA add-on runs it there
//! as `tke cronhpa --in-cluster`). Installs its CRD, then scales workloads on their schedules
//! until stopped.

use std::time::Duration;

use anyhow::Context as _;

#[derive(clap::Args, Debug)]
pub struct CronHpaArgs {
    /// Kubeconfig of the cluster to run in (default: the in-cluster service account, else
    /// $KUBECONFIG / ~/.kube/config).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// Use the pod's service account (what the add-on's manifest passes); the default when no
    /// kubeconfig is given.
    #[arg(long, default_value_t = false)]
    pub in_cluster: bool,
    /// How late a missed run may still be carried out when a CronHPA sets no deadline (seconds).
    #[arg(long, default_value_t = 120)]
    pub grace_seconds: u64,
    /// CronHPAs reconciled at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: u16,
    /// Scale only while holding a Lease, so that two replicas (or the old and new pod of a
    /// rolling update) never both carry out a run.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// Namespace of the Lease.
    #[arg(long, default_value = "kube-system")]
    pub lease_namespace: String,
    /// Name of the Lease.
    #[arg(long, default_value = "tke-cronhpa-controller")]
    pub lease_name: String,
}

pub async fn run(args: CronHpaArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = match (&args.kubeconfig, args.in_cluster) {
        (_, true) => kube::Config::incluster().context("reading the in-cluster configuration")?,
        (Some(path), false) => {
            let kc =
                kube::config::Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.context("the kubeconfig")?
        }
        (None, false) => kube::Config::infer().await.context("finding a cluster configuration")?,
    };
    let client = kube::Client::try_from(config).context("building the client")?;
    cronhpa::install_crd(&client, Duration::from_secs(60)).await.context("installing the CronHPA CRD")?;
    let opts = cronhpa::Options {
        default_grace: Duration::from_secs(args.grace_seconds),
        concurrency: args.concurrency.max(1),
        ..Default::default()
    };
    if !args.leader_elect {
        eprintln!("cronhpa: controller running");
        tokio::select! {
            _ = cronhpa::run(client, opts) => {}
            _ = crate::serve::shutdown_signal() => eprintln!("cronhpa: stopping"),
        }
        return Ok(());
    }
    let lease = controller_runtime::LeaderOptions {
        namespace: args.lease_namespace,
        name: args.lease_name,
        ..Default::default()
    };
    let identity = lease.identity.clone();
    eprintln!("cronhpa: controller running as {identity}, waiting to lead");
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        crate::serve::shutdown_signal().await;
        eprintln!("cronhpa: stopping");
        let _ = stop_tx.send(true);
    });
    let on_change =
        |leading: bool| eprintln!("cronhpa: {identity} {}", if leading { "leads" } else { "stopped leading" });
    controller_runtime::run_while_leading(client.clone(), lease, stop, on_change, |mut lost| {
        let (client, opts) = (client.clone(), opts.clone());
        async move {
            tokio::select! {
                _ = cronhpa::run(client, opts) => {}
                _ = lost.wait_for(|l| *l) => {}
            }
        }
    })
    .await;
    Ok(())
}
