//! The `Baremetal` machine provider: workers prepared like masters, joined with a bootstrap
//! token of their own, labelled once Ready, and drained, removed and reset on delete.

use std::sync::Arc;

use api::platform::{Cluster, Machine, cluster::phase as cluster_phase};
use async_trait::async_trait;
use k8s_openapi::api::core::v1::Node;
use kube::{
    Api,
    api::{Patch, PatchParams},
};
use platform::{
    engine::{Handler, Step, StepError},
    machine::{MachineContext, MachineProvider, MachineStep},
};
use serde_json::json;

use crate::install::{self, JoinPhase, KubeadmParams};

use super::credential::{ca_cert_hash, cred_field, machine_bootstrap_token};
use super::hooks::{Hook, MachineFiles, MachineHook};
use super::node::{delete_node, drain_node, wait_node_ready};
use super::upgrade::UpgradeWorker;
use super::{
    BaremetalOptions, ENSURE_COPY_FILES, ENSURE_DRAIN_NODE, ENSURE_NODE_READY, ENSURE_REMOVE_NODE, ENSURE_UPGRADE,
    PREPARE, Prepare, Shared, log_line, node_name, prepare, step_err,
};

/// The provider of `Baremetal` machines (workers).
pub struct BaremetalMachine {
    pub(super) shared: Arc<Shared>,
}

impl BaremetalMachine {
    pub fn new(opts: BaremetalOptions) -> Self {
        BaremetalMachine { shared: Arc::new(Shared::new(opts)) }
    }
}

const WORKER_JOIN_PHASES: &[JoinPhase] = &[JoinPhase::Preflight, JoinPhase::KubeletStart];

impl MachineProvider for BaremetalMachine {
    fn name(&self) -> &'static str {
        "Baremetal"
    }

    fn create_steps(&self) -> Vec<MachineStep> {
        let sh = &self.shared;
        let hook = |h: Hook| Step::new(h.step(), MachineHook { sh: sh.clone(), hook: h });
        let mut steps: Vec<MachineStep> =
            vec![Step::new(ENSURE_COPY_FILES, MachineFiles { sh: sh.clone() }), hook(Hook::PreInstall)];
        steps.extend(PREPARE.iter().map(|a| Step::new(a.step(), Worker { sh: sh.clone(), action: *a })));
        steps.extend(WORKER_JOIN_PHASES.iter().map(|p| Step::new(p.step(), JoinWorker { sh: sh.clone(), phase: *p })));
        steps.push(Step::new(ENSURE_NODE_READY, NodeReady { sh: sh.clone() }));
        steps.push(hook(Hook::PostInstall));
        steps
    }

    fn upgrade_steps(&self) -> Vec<MachineStep> {
        let sh = &self.shared;
        let hook = |h: Hook| Step::new(h.step(), MachineHook { sh: sh.clone(), hook: h });
        vec![
            hook(Hook::PreUpgrade),
            Step::new(ENSURE_UPGRADE, UpgradeWorker { sh: sh.clone() }),
            hook(Hook::PostUpgrade),
        ]
    }

    fn delete_steps(&self) -> Vec<MachineStep> {
        vec![
            Step::new(ENSURE_DRAIN_NODE, Drain { sh: self.shared.clone() }),
            Step::new(ENSURE_REMOVE_NODE, RemoveNode { sh: self.shared.clone() }),
        ]
    }
}

/// The machine's cluster, which must be up for a worker to join it.
pub(super) fn running_cluster(ctx: &MachineContext) -> Result<&Cluster, StepError> {
    let c = ctx.cluster()?;
    match c.phase() {
        cluster_phase::RUNNING | cluster_phase::UPSCALING | cluster_phase::DOWNSCALING | cluster_phase::UPGRADING => {
            Ok(c)
        }
        p => Err(StepError::new(format!(
            "cluster {} is {}: workers join once it is Running",
            c.name(),
            if p.is_empty() { "not yet initialised" } else { p }
        ))),
    }
}

struct Worker {
    sh: Arc<Shared>,
    action: Prepare,
}

#[async_trait]
impl Handler<Machine, MachineContext> for Worker {
    async fn run(&self, machine: &mut Machine, ctx: &MachineContext) -> Result<(), StepError> {
        let cluster = running_cluster(ctx)?;
        let spec = self.sh.effective_spec(&cluster.spec)?;
        prepare(&self.sh, self.action, &spec, &machine.ssh_target(), false).await
    }
}

struct JoinWorker {
    sh: Arc<Shared>,
    phase: JoinPhase,
}

#[async_trait]
impl Handler<Machine, MachineContext> for JoinWorker {
    async fn run(&self, machine: &mut Machine, ctx: &MachineContext) -> Result<(), StepError> {
        let cluster = running_cluster(ctx)?;
        let client = ctx.business()?;
        let spec = self.sh.effective_spec(&cluster.spec)?;
        let node = machine.ssh_target();
        let ca = cred_field(&ctx.credential, |c| c.ca_cert.clone()).ok_or_else(|| {
            StepError::new(format!(
                "the ClusterCredential of {} has no caCert to verify the cluster with",
                cluster.name()
            ))
        })?;
        let token = machine_bootstrap_token(client, machine.name())
            .await
            .map_err(|e| StepError::new(format!("creating a bootstrap token in {}: {e}", ctx.url)))?;
        let params = KubeadmParams {
            node_name: node_name(&spec, &node),
            node,
            bootstrap_token: Some(token),
            ca_cert_hash: Some(ca_cert_hash(&ca).map_err(step_err)?),
            ..Default::default()
        };
        let config = install::kubeadm_join_config(&spec, &params, false).map_err(step_err)?;
        let s = self.sh.connect(&params.node).await?;
        let r =
            install::kubeadm_join_phase(&s, &self.sh.opts.install, &config, self.phase, &mut log_line(&params.node.ip))
                .await;
        s.close().await;
        r.map(|_| ()).map_err(step_err)
    }
}

struct NodeReady {
    sh: Arc<Shared>,
}

#[async_trait]
impl Handler<Machine, MachineContext> for NodeReady {
    async fn run(&self, machine: &mut Machine, ctx: &MachineContext) -> Result<(), StepError> {
        let client = ctx.business()?;
        let node = wait_node_ready(client, &ctx.url, &machine.spec.ip, self.sh.opts.node_ready_timeout, None).await?;
        if let Some(labels) = machine.spec.labels.clone().filter(|l| !l.is_empty()) {
            let name = node.metadata.name.clone().unwrap_or_default();
            let nodes: Api<Node> = Api::all(client.clone());
            nodes
                .patch(&name, &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": labels}})))
                .await
                .map_err(|e| StepError::new(format!("labelling node {name}: {e}")))?;
        }
        Ok(())
    }
}

struct Drain {
    sh: Arc<Shared>,
}

#[async_trait]
impl Handler<Machine, MachineContext> for Drain {
    async fn run(&self, machine: &mut Machine, ctx: &MachineContext) -> Result<(), StepError> {
        let client = match ctx.business() {
            Ok(c) => c,
            // The cluster is gone: there is nothing left to drain.
            Err(_) if ctx.cluster.is_none() => return Ok(()),
            Err(e) => return Err(e),
        };
        drain_node(client, &ctx.url, &machine.spec.ip, self.sh.opts.drain_timeout).await.map(|_| ())
    }
}

struct RemoveNode {
    sh: Arc<Shared>,
}

#[async_trait]
impl Handler<Machine, MachineContext> for RemoveNode {
    async fn run(&self, machine: &mut Machine, ctx: &MachineContext) -> Result<(), StepError> {
        match ctx.business() {
            Ok(client) => delete_node(client, &ctx.url, &machine.spec.ip).await?,
            Err(_) if ctx.cluster.is_none() => {}
            Err(e) => return Err(e),
        }
        let hint = format!(
            "to delete the machine without cleaning it, annotate it with {}: {ENSURE_REMOVE_NODE}",
            platform::machine::SKIP_CONDITIONS_ANNOTATION
        );
        let s =
            self.sh.connect(&machine.ssh_target()).await.map_err(|e| StepError::new(format!("{} ({hint})", e.0)))?;
        let r = install::remove_node(&s, &self.sh.opts.install).await;
        s.close().await;
        r.map(|_| ()).map_err(|e| StepError::new(format!("{e} ({hint})")))
    }
}
