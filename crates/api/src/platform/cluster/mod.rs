//! `Cluster` (`cls`): a business cluster managed by the platform, created on bare machines
//! (`Baremetal`), imported from credentials (`Imported`) or at the edge (`Edge`). Its strategy
//! forces the tenant, names and finalizer, starts the lifecycle at `Initializing`, turns spec
//! changes into `Upgrading`/`Upscaling`/`Downscaling`, and keeps a deleted cluster in
//! `Terminating` until the controller clears `spec.finalizers` through `/finalize`.

mod spec;
mod status;
#[cfg(feature = "server")]
mod strategy;
mod validation;

pub use spec::{
    AuthzWebhookAddr, ClusterFeature, ClusterMachine, ClusterProperty, ClusterSpec, CsiOperatorFeature, Etcd,
    ExternalAuthzWebhook, ExternalEtcd, File, Ha, LocalEtcd, MachineProxy, ThirdPartyHa, TkeHa, Upgrade,
    UpgradeStrategy, keep_ssh_credentials,
};
pub use status::{ClusterAddress, ClusterComponent, ClusterComponentReplicas, ClusterResource, ClusterStatus};
#[cfg(feature = "server")]
pub use strategy::ClusterStrategy;
pub use validation::validate;
#[cfg(feature = "server")]
pub(crate) use validation::validate_machine;

#[cfg(feature = "server")]
use apiserver::{Column, ResourceDef, Subresources, Verbs, resource::schema_of, typed};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, meta_str};
#[cfg(feature = "server")]
use super::{GROUP, VERSION};

pub const KIND: &str = "Cluster";
pub const GENERATE_NAME: &str = "cls-";
/// The finalizer the cluster controller clears when the cluster is torn down.
pub const FINALIZER: &str = "cluster";
pub const DEFAULT_DNS_DOMAIN: &str = "cluster.local";
/// Provider names a cluster may use.
pub const CLUSTER_TYPES: &[&str] = &["Baremetal", "Imported", "Edge"];

/// Cluster phases (`status.phase`).
pub mod phase {
    pub const INITIALIZING: &str = "Initializing";
    pub const WAITING: &str = "Waiting";
    pub const RUNNING: &str = "Running";
    pub const FAILED: &str = "Failed";
    pub const CONFINED: &str = "Confined";
    pub const IDLING: &str = "Idling";
    pub const UPGRADING: &str = "Upgrading";
    pub const TERMINATING: &str = "Terminating";
    pub const UPSCALING: &str = "Upscaling";
    pub const DOWNSCALING: &str = "Downscaling";
    pub const RECOVERING: &str = "Recovering";
}
/// Keys of `spec.features.hooks`.
pub const HOOK_TYPES: &[&str] = &[
    "PreInstall",
    "PostInstall",
    "PreUpgrade",
    "PostUpgrade",
    "PreClusterInstall",
    "PostClusterInstall",
    "PreClusterUpgrade",
    "PostClusterUpgrade",
    "PreClusterDelete",
    "PostClusterDelete",
];

/// A Kubernetes cluster managed by the platform.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    /// `platform.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Cluster`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata. The name is `global` or `cls-` plus lowercase letters and
    /// digits; leave it empty to have one generated.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// The desired cluster.
    #[serde(default)]
    pub spec: ClusterSpec,
    /// The observed state, written by the cluster controller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ClusterStatus>,
}

impl Cluster {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    pub fn phase(&self) -> &str {
        self.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
    }
    #[cfg(feature = "server")]
    #[cfg(feature = "server")]
    fn status_mut(&mut self) -> &mut ClusterStatus {
        self.status.get_or_insert_with(Default::default)
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "clusters",
        singular: "cluster",
        short_names: &["cls"],
        categories: &["tkestack"],
        namespaced: false,
        verbs: Verbs::NO_DELETE_COLLECTION,
        subresources: Subresources { status: true, finalize: true },
        columns: vec![
            Column::new("Type", "string", ".spec.type", "Provider of the cluster."),
            Column::new("Version", "string", ".status.version", "Kubernetes version the cluster runs."),
            Column::new("Status", "string", ".status.phase", "Lifecycle phase of the cluster."),
            Column::age(),
        ],
        field_selectors: &[
            "spec.tenantID",
            "spec.type",
            "spec.version",
            "status.locked",
            "status.version",
            "status.phase",
        ],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<Cluster>,
        strategy: typed::<Cluster, _>(ClusterStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cluster(v: Value) -> Cluster {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let v = json!({
            "apiVersion": "platform.tkestack.io/v1", "kind": "Cluster",
            "metadata": {"name": "cls-a", "labels": {"a": "b"}, "managedFields": [{"manager": "kubectl"}]},
            "spec": {"type": "Baremetal", "tenantID": "default", "finalizers": [], "clusterCIDR": "10.244.0.0/16",
                     "features": {"ipvs": true, "publicLB": false, "ipv6DualStack": false, "upgrade": {"strategy": {"maxUnready": 1}},
                                  "authzWebhookAddr": {"builtin": {}}},
                     "etcd": {"local": {"serverCertSANs": ["etcd"]}}, "bootstrapApps": [{"app": {"metadata": {}, "spec": {}}}],
                     "machines": [{"ip": "10.0.0.1", "port": 22, "taints": [{"key": "k", "effect": "NoSchedule"}]}]},
            "status": {"phase": "Running", "dnsIP": "10.96.0.10", "nodeCIDRMaskSizeIPv4": 24, "conditions": [{"type": "EnsureKubelet", "status": "True"}],
                       "components": [{"type": "apiserver", "replicas": {"desired": 1, "current": 1, "available": 1, "updated": 1}}]}
        });
        let c = cluster(v.clone());
        let back = serde_json::to_value(&c).unwrap();
        assert!(
            apiserver::resource::unknown_fields(&v, &back).is_empty(),
            "{:?}",
            apiserver::resource::unknown_fields(&v, &back)
        );
        assert_eq!(back, v);
    }
}
