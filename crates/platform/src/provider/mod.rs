//! Cluster providers (reference 2.2): a provider names the steps of each lifecycle of its
//! clusters (create, housekeeping update, upgrade, scale up, scale down, delete); the cluster
//! controller runs them through the [`crate::engine`]. Providers are registered by name, the
//! value of `spec.type`.

use std::{collections::HashMap, sync::Arc};

use api::platform::{Cluster, ClusterCredential, common::Condition};
use controller_runtime::cluster::AccessError;
use kube::Client;

use crate::engine::{Conditioned, Step};

pub mod imported;
pub mod observe;

pub use imported::Imported;

/// What a cluster step works with besides the Cluster itself.
pub struct ClusterContext {
    /// The platform's own API.
    pub platform: Client,
    /// The cluster's credential, when it has one.
    pub credential: Option<ClusterCredential>,
    /// A client of the business cluster, or why there is none (no credential, no address...).
    pub business: Result<Client, BusinessClientError>,
    /// The URL the business client talks to (for messages).
    pub url: String,
}

impl ClusterContext {
    /// The business cluster's client, or a step error saying why it cannot be reached.
    pub fn business(&self) -> Result<&Client, crate::engine::StepError> {
        self.business.as_ref().map_err(|e| crate::engine::StepError::new(e.to_string()))
    }
}

/// Why cluster and machine steps have no client of the business cluster; the text becomes a
/// condition message, so it says what to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BusinessClientError {
    /// The cluster's addresses or credential cannot make a client.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The same, of the cluster named (a machine's cluster).
    #[error("cluster {cluster}: {source}")]
    ClusterAccess { cluster: String, source: AccessError },
    /// The cluster being reconciled has no credential (the message tells how to give it one).
    #[error("the cluster has no ClusterCredential: set spec.clusterCredentialRef, or create one with clusterName: {0}")]
    NoCredential(String),
    /// A machine's cluster has no credential yet (its provider has not made one).
    #[error("cluster {0} has no ClusterCredential yet")]
    NoCredentialYet(String),
    /// A machine's cluster (`spec.clusterName`) does not exist.
    #[error("cluster {0} does not exist")]
    NoCluster(String),
}

/// One step of a cluster lifecycle.
pub type ClusterStep = Step<Cluster, ClusterContext>;

/// The steps of every lifecycle of a provider's clusters. Lists left empty finish at once.
pub trait Provider: Send + Sync {
    /// The `spec.type` this provider serves.
    fn name(&self) -> &'static str;
    /// Run once, in order, while the cluster is `Initializing`; it is `Running` after the last.
    fn create_steps(&self) -> Vec<ClusterStep>;
    /// Housekeeping run on every pass over a `Running` or `Failed` cluster (before its health
    /// check); failures are reported with reason `FailedUpdate` but do not change the phase.
    fn update_steps(&self) -> Vec<ClusterStep> {
        vec![]
    }
    /// Run while the cluster is `Upgrading`.
    fn upgrade_steps(&self) -> Vec<ClusterStep> {
        vec![]
    }
    /// Run while the cluster is `Upscaling` (on `spec.scalingMachines`).
    fn scale_up_steps(&self) -> Vec<ClusterStep> {
        vec![]
    }
    /// Run while the cluster is `Downscaling` (on `spec.scalingMachines`).
    fn scale_down_steps(&self) -> Vec<ClusterStep> {
        vec![]
    }
    /// Run when the cluster is deleted, before its finalizer is cleared.
    fn delete_steps(&self) -> Vec<ClusterStep> {
        vec![]
    }
}

/// Providers by name.
#[derive(Clone, Default)]
pub struct Providers(HashMap<&'static str, Arc<dyn Provider>>);

impl Providers {
    /// The providers this crate implements (`Imported`).
    pub fn builtin() -> Self {
        let mut p = Providers::default();
        p.register(Arc::new(Imported));
        p
    }

    /// Adds (or replaces) a provider, e.g. `Baremetal` from another crate.
    pub fn register(&mut self, provider: Arc<dyn Provider>) {
        self.0.insert(provider.name(), provider);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.0.get(name)
    }

    pub fn names(&self) -> Vec<&'static str> {
        let mut n: Vec<_> = self.0.keys().copied().collect();
        n.sort();
        n
    }
}

impl Conditioned for Cluster {
    fn conditions(&self) -> &[Condition] {
        self.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or(&[])
    }
    fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        self.status.get_or_insert_with(Default::default).conditions.get_or_insert_with(Vec::new)
    }
    fn skip_conditions(&self) -> Vec<String> {
        self.spec.features.as_ref().and_then(|f| f.skip_conditions.clone()).unwrap_or_default()
    }
    /// TKEStack's form: `status.reason` the failure reason, `status.message` "<step> error: <text>".
    fn record_failure(&mut self, reason: &str, step: &str, message: &str) {
        let s = self.status.get_or_insert_with(Default::default);
        s.reason = Some(reason.to_string());
        s.message = Some(format!("{step} error: {message}"));
    }
}
