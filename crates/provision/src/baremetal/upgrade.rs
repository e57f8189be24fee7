//! Upgrades: the masters one by one (`kubeadm upgrade apply` on the first), the worker Machines
//! marked to follow, and the upgrade of one worker.

use std::sync::Arc;

use api::platform::{
    Cluster, Machine,
    cluster::{ClusterMachine, ClusterSpec},
};
use async_trait::async_trait;
use k8s_openapi::api::core::v1::Node;
use kube::{
    Api, Client,
    api::{DynamicObject, Patch, PatchParams},
};
use platform::{
    engine::{Handler, StepError},
    machine::{
        MachineContext, NEED_UPGRADE_LABEL, WILL_UPGRADE, cluster_machines, find_node, machine_resource, node_ready,
        start_worker_upgrades,
    },
    provider::ClusterContext,
};
use serde_json::json;

use crate::install::{self};

use super::cluster::masters;
use super::machine::running_cluster;
use super::node::{drain_node, kubelet_version, set_unschedulable, wait_node_ready};
use super::{Shared, log_line, step_err};

fn drain_before_upgrade(spec: &ClusterSpec) -> bool {
    spec.features
        .as_ref()
        .and_then(|f| f.upgrade.as_ref())
        .and_then(|u| u.strategy.as_ref())
        .and_then(|s| s.drain_node_before_upgrade)
        .unwrap_or(false)
}

/// Upgrades one node to `spec.version`: drained first when asked, the release's binaries and
/// images from the bundle, `kubeadm upgrade apply` (`apply`, the first master) or `kubeadm
/// upgrade node`, the kubelet restarted, the node Ready again (on the new kubelet when this
/// platform manages the services), then uncordoned. A node already Ready on the new kubelet is
/// done (the restart is the last thing an upgrade does), so a retried step passes over the
/// nodes it upgraded before.
async fn upgrade_node(
    sh: &Shared,
    spec: &ClusterSpec,
    m: &ClusterMachine,
    apply: bool,
    client: &Client,
    url: &str,
) -> Result<(), StepError> {
    let version = sh.version(spec)?;
    let want = format!("v{version}");
    let o = &sh.opts.install;
    let drain = drain_before_upgrade(spec);
    // Cordoned by an upgrade that drained it (and possibly failed before the end).
    let cordoned = |n: &Node| {
        n.metadata.name.clone().filter(|_| drain && n.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false))
    };
    if let Some(n) =
        find_node(client, &m.ip).await.map_err(|e| StepError::new(format!("listing the nodes of {url}: {e}")))?
        && kubelet_version(&n) == Some(want.as_str())
        && node_ready(&n).is_some_and(|r| r.0 == "True")
    {
        if let Some(name) = cordoned(&n) {
            set_unschedulable(client, &name, false).await?;
        }
        return Ok(());
    }
    if drain {
        drain_node(client, url, &m.ip, sh.opts.drain_timeout).await?;
    }
    let s = sh.connect(m).await?;
    let r = async {
        let release = sh.release(&s, spec).await?;
        install::install_binaries(&s, &release, o).await.map_err(step_err)?;
        install::load_images(&s, &release, o, &mut log_line(&m.ip)).await.map_err(step_err)?;
        install::kubeadm_upgrade(&s, o, &version, apply, &mut log_line(&m.ip)).await.map_err(step_err)?;
        install::restart_kubelet(&s, o).await.map_err(step_err)
    }
    .await;
    s.close().await;
    r?;
    let node =
        wait_node_ready(client, url, &m.ip, sh.opts.node_ready_timeout, o.manage_system.then_some(want.as_str()))
            .await?;
    if let Some(name) = cordoned(&node) {
        set_unschedulable(client, &name, false).await?;
    }
    tracing::info!(host = %m.ip, %version, "node upgraded");
    Ok(())
}

/// `EnsureUpgradeControlPlaneNode`: the masters one by one, the first with `kubeadm upgrade apply`.
pub(super) struct UpgradeMasters {
    pub(super) sh: Arc<Shared>,
}

#[async_trait]
impl Handler<Cluster, ClusterContext> for UpgradeMasters {
    async fn run(&self, cluster: &mut Cluster, ctx: &ClusterContext) -> Result<(), StepError> {
        let spec = self.sh.effective_spec(&cluster.spec)?;
        let client = ctx.business()?;
        for (i, m) in masters(cluster)?.iter().enumerate() {
            upgrade_node(&self.sh, &spec, m, i == 0, client, &ctx.url).await?;
        }
        Ok(())
    }
}

/// `EnsureMarkUpgradeWorkers`: every worker Machine of the cluster not yet on the new kubelet
/// gets the need-upgrade label — `willUpgrade` with `upgrade.mode: Auto` (the default), empty
/// with `Manual` (the user sets `willUpgrade` machine by machine) — and the first ones start.
pub(super) struct MarkUpgradeWorkers;

#[async_trait]
impl Handler<Cluster, ClusterContext> for MarkUpgradeWorkers {
    async fn run(&self, cluster: &mut Cluster, ctx: &ClusterContext) -> Result<(), StepError> {
        let manual = cluster.spec.features.as_ref().and_then(|f| f.upgrade.as_ref()).and_then(|u| u.mode.as_deref())
            == Some("Manual");
        let want = format!("v{}", cluster.spec.version.as_deref().unwrap_or_default().trim_start_matches('v'));
        let api: Api<DynamicObject> = Api::all_with(ctx.platform.clone(), &machine_resource());
        let err =
            |e: kube::Error| StepError::new(format!("marking the workers of {} for upgrade: {e}", cluster.name()));
        for m in cluster_machines(&ctx.platform, cluster.name()).await.map_err(err)? {
            let current =
                m.status.as_ref().and_then(|s| s.machine_info.as_ref()).and_then(|i| i.kubelet_version.as_deref());
            if current == Some(want.as_str()) || !m.metadata["labels"][NEED_UPGRADE_LABEL].is_null() {
                continue;
            }
            let value = if manual { "" } else { WILL_UPGRADE };
            api.patch(
                m.name(),
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {NEED_UPGRADE_LABEL: value}}})),
            )
            .await
            .map_err(err)?;
        }
        if !manual {
            start_worker_upgrades(&ctx.platform, cluster).await.map_err(err)?;
        }
        Ok(())
    }
}

/// `EnsureUpgrade` of a worker Machine.
pub(super) struct UpgradeWorker {
    pub(super) sh: Arc<Shared>,
}

#[async_trait]
impl Handler<Machine, MachineContext> for UpgradeWorker {
    async fn run(&self, machine: &mut Machine, ctx: &MachineContext) -> Result<(), StepError> {
        let cluster = running_cluster(ctx)?;
        let spec = self.sh.effective_spec(&cluster.spec)?;
        upgrade_node(&self.sh, &spec, &machine.ssh_target(), false, ctx.business()?, &ctx.url).await
    }
}
