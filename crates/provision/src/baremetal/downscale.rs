//! Scaling masters down: the leaving masters' nodes drained and their Node objects deleted
//! (their `kubeadm reset` is the cluster provider's `RemoveMasters`).

use std::sync::Arc;

use api::platform::Cluster;
use async_trait::async_trait;
use platform::{
    engine::{Handler, StepError},
    provider::ClusterContext,
};

use super::Shared;
use super::cluster::{Nodes, select};
use super::node::{delete_node, drain_node};

/// `EnsureDrainNode` of a scale-down: the leaving masters' nodes drained.
pub(super) struct DrainMasters {
    pub(super) sh: Arc<Shared>,
}

#[async_trait]
impl Handler<Cluster, ClusterContext> for DrainMasters {
    async fn run(&self, cluster: &mut Cluster, ctx: &ClusterContext) -> Result<(), StepError> {
        let client = ctx.business()?;
        for m in select(cluster, Nodes::Scaling)? {
            drain_node(client, &ctx.url, &m.ip, self.sh.opts.drain_timeout).await?;
        }
        Ok(())
    }
}

/// `EnsureRemoveNode` of a scale-down: the leaving masters' Node objects deleted.
pub(super) struct RemoveMasterNodes;

#[async_trait]
impl Handler<Cluster, ClusterContext> for RemoveMasterNodes {
    async fn run(&self, cluster: &mut Cluster, ctx: &ClusterContext) -> Result<(), StepError> {
        let client = ctx.business()?;
        for m in select(cluster, Nodes::Scaling)? {
            delete_node(client, &ctx.url, &m.ip).await?;
        }
        Ok(())
    }
}
