//! `Cluster` (`cls`): a business cluster managed by the platform, created on bare machines
//! (`Baremetal`), imported from credentials (`Imported`) or at the edge (`Edge`). Its strategy
//! forces the tenant, names and finalizer, starts the lifecycle at `Initializing`, turns spec
//! changes into `Upgrading`/`Upscaling`/`Downscaling`, and keeps a deleted cluster in
//! `Terminating` until the controller clears `spec.finalizers` through `/finalize`.

use std::collections::BTreeMap;

use apimachinery::FieldError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{
    CLUSTER_NAME_RULE, Condition, IntOrString, LocalObjectReference, ObjectMeta, Taint, check_base64, check_cidr,
    check_ip, check_port, check_taints, cidrs_overlap, is_cluster_name, is_dns_subdomain, meta_str,
};
#[cfg(feature = "server")]
use {
    super::common::{self, check_immutable},
    super::{GROUP, VERSION},
    apimachinery::ApiError,
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

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

const MAX_NODE_POD_NUMS: &[i64] = &[16, 32, 64, 128, 256];
const GPU_TYPES: &[&str] = &["Physical", "Virtual"];
const CONTAINER_RUNTIMES: &[&str] = &["containerd", "docker"];
const UPGRADE_MODES: &[&str] = &["Auto", "Manual"];
const PROXY_TYPES: &[&str] = &["SSHJumpServer", "SOCKS5"];
const ADDRESS_TYPES: &[&str] = &["Public", "Advertise", "Real", "Internal", "Support"];
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

/// The desired state of a cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// Finalizers that must be cleared (through the `finalize` subresource) before a deleted
    /// cluster is removed. Set to `["cluster"]` by the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finalizers: Option<Vec<String>>,
    /// Tenant owning the cluster; set from the caller, cannot be changed.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Name shown in the console.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Provider that creates and manages the cluster: `Baremetal`, `Imported` or `Edge`.
    /// Cannot be changed.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// Kubernetes version. Changing it on a `Running` cluster upgrades the cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Network plugin type (e.g. `overlay`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_type: Option<String>,
    /// Network interface the network plugin uses (default `eth0` for Baremetal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_device: Option<String>,
    /// CIDR of pod IPs (e.g. `10.244.0.0/16`). Cannot be changed once set.
    #[serde(rename = "clusterCIDR", skip_serializing_if = "Option::is_none")]
    pub cluster_cidr: Option<String>,
    /// CIDR of service IPs. Must not overlap `clusterCIDR`. Cannot be changed once set.
    #[serde(rename = "serviceCIDR", skip_serializing_if = "Option::is_none")]
    pub service_cidr: Option<String>,
    /// Cluster DNS domain; defaults to `cluster.local`. Cannot be changed once set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_domain: Option<String>,
    /// Extra names and IPs put into the API server certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_alternative_names: Option<Vec<String>>,
    /// Optional features of the cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub features: Option<ClusterFeature>,
    /// Limits and ratios of the cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<ClusterProperty>,
    /// Master machines (Baremetal). Adding entries to a `Running` cluster scales it up,
    /// removing entries scales it down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machines: Option<Vec<ClusterMachine>>,
    /// The machines being added or removed by the current scaling; set by the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaling_machines: Option<Vec<ClusterMachine>>,
    /// Extra arguments of dockerd.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_extra_args: Option<BTreeMap<String, String>>,
    /// Extra arguments of the kubelet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubelet_extra_args: Option<BTreeMap<String, String>>,
    /// Extra arguments of kube-apiserver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_server_extra_args: Option<BTreeMap<String, String>>,
    /// Extra arguments of kube-controller-manager.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller_manager_extra_args: Option<BTreeMap<String, String>>,
    /// Extra arguments of kube-scheduler.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler_extra_args: Option<BTreeMap<String, String>>,
    /// Arguments of the network plugin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_args: Option<BTreeMap<String, String>>,
    /// The ClusterCredential holding this cluster's certificates and tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_credential_ref: Option<LocalObjectReference>,
    /// Etcd of the cluster: local (on the masters) or external.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd: Option<Etcd>,
    /// Use the machine hostname as the node name instead of its IP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname_as_nodename: Option<bool>,
    /// Applications installed right after the cluster is created (each an application
    /// object: `metadata` and `spec`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap_apps: Option<Vec<Value>>,
    /// Version of the platform applications installed in the cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// Size class of the cluster (e.g. `L5`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_level: Option<String>,
}

/// A master machine of a cluster, reached over SSH.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterMachine {
    /// IP address of the machine.
    #[serde(default)]
    pub ip: String,
    /// SSH port; defaults to 22.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// SSH user; defaults to `root`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// SSH password, base64-encoded. Either this or `privateKey` is required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// SSH private key (PEM), base64-encoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// Passphrase of the private key, base64-encoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass_phrase: Option<String>,
    /// Labels of the node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Taints of the node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taints: Option<Vec<Taint>>,
    /// A jump host or SOCKS5 proxy to reach the machine through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<MachineProxy>,
}

/// How to reach a machine indirectly.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MachineProxy {
    /// `SSHJumpServer` or `SOCKS5`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// IP address of the proxy.
    #[serde(default)]
    pub ip: String,
    /// Port of the proxy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// User on the proxy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password on the proxy, base64-encoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Private key for the proxy, base64-encoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// Passphrase of the private key, base64-encoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass_phrase: Option<String>,
}

/// Optional features of a cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterFeature {
    /// Use IPVS for kube-proxy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipvs: Option<bool>,
    /// Expose the API server through a public load balancer.
    #[serde(rename = "publicLB", skip_serializing_if = "Option::is_none")]
    pub public_lb: Option<bool>,
    /// Expose the API server through an internal load balancer.
    #[serde(rename = "internalLB", skip_serializing_if = "Option::is_none")]
    pub internal_lb: Option<bool>,
    /// GPU support: `Physical` or `Virtual`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_type: Option<String>,
    /// Allow workloads on master nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_master_schedule: Option<bool>,
    /// High availability of the API server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ha: Option<Ha>,
    /// Names of create steps to skip (e.g. `EnsureGalaxy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_conditions: Option<Vec<String>>,
    /// Files copied to every machine before installation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<File>>,
    /// Scripts run at hook points, keyed by hook type (`PreInstall`, `PostInstall`,
    /// `PreUpgrade`, `PostUpgrade`, `PreClusterInstall`, `PostClusterInstall`,
    /// `PreClusterUpgrade`, `PostClusterUpgrade`, `PreClusterDelete`, `PostClusterDelete`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hooks: Option<BTreeMap<String, String>>,
    /// Install the CSI operator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csi_operator: Option<CsiOperatorFeature>,
    /// Authorization webhook of the cluster's API server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authz_webhook_addr: Option<AuthzWebhookAddr>,
    /// Install metrics-server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_metrics_server: Option<bool>,
    /// IPv4/IPv6 dual stack.
    #[serde(rename = "ipv6DualStack", skip_serializing_if = "Option::is_none")]
    pub ipv6_dual_stack: Option<bool>,
    /// Use Cilium instead of Galaxy as the network plugin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_cilium: Option<bool>,
    /// `containerd` or `docker`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_runtime: Option<String>,
    /// How worker nodes are upgraded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<Upgrade>,
}

/// API server high availability.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ha {
    /// A virtual IP managed by keepalived on the masters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tke: Option<TkeHa>,
    /// An existing load balancer in front of the masters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub third_party: Option<ThirdPartyHa>,
}

/// Keepalived virtual IP.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TkeHa {
    /// The virtual IP.
    #[serde(default)]
    pub vip: String,
    /// VRRP router id (1-255).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrid: Option<i64>,
}

/// Third-party load balancer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ThirdPartyHa {
    /// Address of the load balancer.
    #[serde(default)]
    pub vip: String,
    /// Port of the load balancer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vport: Option<i64>,
}

/// A file copied to the machines.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct File {
    /// Path on the platform host.
    #[serde(default)]
    pub src: String,
    /// Path on the machine.
    #[serde(default)]
    pub dst: String,
}

/// CSI operator feature.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CsiOperatorFeature {
    /// Version of the CSI operator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Where the cluster's authorization webhook points.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuthzWebhookAddr {
    /// The platform's own authorization endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub builtin: Option<BTreeMap<String, Value>>,
    /// Another authorization endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalAuthzWebhook>,
}

/// An external authorization endpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExternalAuthzWebhook {
    /// IP address of the endpoint.
    #[serde(default)]
    pub ip: String,
    /// Port of the endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
}

/// Upgrade policy of worker nodes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Upgrade {
    /// `Auto` upgrades workers after the masters; `Manual` waits for each worker to be
    /// marked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// How workers are upgraded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<UpgradeStrategy>,
}

/// Worker upgrade strategy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStrategy {
    /// Most nodes (number or percentage) that may be unready during the upgrade.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unready: Option<IntOrString>,
    /// Drain each node before upgrading it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drain_node_before_upgrade: Option<bool>,
}

/// Limits of a cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterProperty {
    /// Most services in the cluster: a power of two from 32 to 32768.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_cluster_service_num: Option<i64>,
    /// Most pods per node: 16, 32, 64, 128 or 256.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_node_pod_num: Option<i64>,
    /// Over-commit ratios by resource (e.g. `cpu: "1.5"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oversold_ratio: Option<BTreeMap<String, String>>,
}

/// Etcd of the cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Etcd {
    /// Etcd run on the masters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalEtcd>,
    /// An existing etcd.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalEtcd>,
}

/// Etcd on the masters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalEtcd {
    /// Data directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<String>,
    /// Extra etcd arguments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_args: Option<BTreeMap<String, String>>,
    /// Extra SANs of the server certificate.
    #[serde(rename = "serverCertSANs", skip_serializing_if = "Option::is_none")]
    pub server_cert_sans: Option<Vec<String>>,
    /// Extra SANs of the peer certificate.
    #[serde(rename = "peerCertSANs", skip_serializing_if = "Option::is_none")]
    pub peer_cert_sans: Option<Vec<String>>,
}

/// An existing etcd.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalEtcd {
    /// Client URLs of the etcd members.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// CA certificate file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// Client certificate file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    /// Client key file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
}

/// The observed state of a cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// A locked cluster is not reconciled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    /// Kubernetes version the cluster runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Lifecycle phase: `Initializing`, `Waiting`, `Running`, `Failed`, `Confined`, `Idling`,
    /// `Upgrading`, `Terminating`, `Upscaling`, `Downscaling` or `Recovering`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// One condition per provisioning step and health check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// Human-readable details of the current phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// One-word reason of the current phase (e.g. `FailedHealthCheck`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Addresses of the API server. An Imported cluster is created with at least one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Vec<ClusterAddress>>,
    /// Resources of the cluster's nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<ClusterResource>,
    /// Replicas of the cluster's components.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<ClusterComponent>>,
    /// CIDR of service IPs in use.
    #[serde(rename = "serviceCIDR", skip_serializing_if = "Option::is_none")]
    pub service_cidr: Option<String>,
    /// Mask size of each node's pod CIDR.
    #[serde(rename = "nodeCIDRMaskSize", skip_serializing_if = "Option::is_none")]
    pub node_cidr_mask_size: Option<i64>,
    /// IP of the cluster DNS service.
    #[serde(rename = "dnsIP", skip_serializing_if = "Option::is_none")]
    pub dns_ip: Option<String>,
    /// IPs of the image registries the nodes use.
    #[serde(rename = "registryIPs", skip_serializing_if = "Option::is_none")]
    pub registry_ips: Option<Vec<String>>,
    /// Secondary service CIDR (dual stack).
    #[serde(rename = "secondaryServiceCIDR", skip_serializing_if = "Option::is_none")]
    pub secondary_service_cidr: Option<String>,
    /// CIDR of pod IPs in use.
    #[serde(rename = "clusterCIDR", skip_serializing_if = "Option::is_none")]
    pub cluster_cidr: Option<String>,
    /// Secondary pod CIDR (dual stack).
    #[serde(rename = "secondaryClusterCIDR", skip_serializing_if = "Option::is_none")]
    pub secondary_cluster_cidr: Option<String>,
    /// IPv4 mask size of node pod CIDRs.
    #[serde(rename = "nodeCIDRMaskSizeIPv4", skip_serializing_if = "Option::is_none")]
    pub node_cidr_mask_size_ipv4: Option<i64>,
    /// IPv6 mask size of node pod CIDRs.
    #[serde(rename = "nodeCIDRMaskSizeIPv6", skip_serializing_if = "Option::is_none")]
    pub node_cidr_mask_size_ipv6: Option<i64>,
    /// Distribution detected from the version (`TKE`, `OpenShift`, `AKS`, `EKS`, `GKE`, `ICP`,
    /// `IKS`, `OpenShiftDedicated`, `Other`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kube_vendor: Option<String>,
    /// Version of the platform applications installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// Phase of the platform applications: `deployed`, `pending-upgrade` or `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component_phase: Option<String>,
    /// Size class of the cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_level: Option<String>,
}

/// An address of the cluster's API server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterAddress {
    /// `Public`, `Advertise`, `Real`, `Internal` or `Support`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// Host name or IP.
    #[serde(default)]
    pub host: String,
    /// Port.
    #[serde(default)]
    pub port: i64,
    /// Path prefix, starting with `/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Resources of the cluster's nodes (quantities by resource name).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterResource {
    /// Total resources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<BTreeMap<String, Value>>,
    /// Resources available to pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocatable: Option<BTreeMap<String, Value>>,
    /// Resources requested by pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocated: Option<BTreeMap<String, Value>>,
}

/// Replicas of one cluster component.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterComponent {
    /// Component name.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// Replica counts.
    #[serde(default)]
    pub replicas: ClusterComponentReplicas,
}

/// Replica counts of a component.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterComponentReplicas {
    /// Replicas wanted.
    #[serde(default)]
    pub desired: i64,
    /// Replicas that exist.
    #[serde(default)]
    pub current: i64,
    /// Replicas ready to serve.
    #[serde(default)]
    pub available: i64,
    /// Replicas running the newest version.
    #[serde(default)]
    pub updated: i64,
}

impl Cluster {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    pub fn phase(&self) -> &str {
        self.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
    }
    #[cfg(feature = "server")]
    fn status_mut(&mut self) -> &mut ClusterStatus {
        self.status.get_or_insert_with(Default::default)
    }
}

/// The create/update/delete rules of clusters (reference 2.1).
#[cfg(feature = "server")]
pub struct ClusterStrategy;

#[cfg(feature = "server")]
fn default_machine(m: &mut ClusterMachine) {
    if m.port.is_none() {
        m.port = Some(22);
    }
    if m.username.as_deref().unwrap_or("").is_empty() {
        m.username = Some("root".into());
    }
}

#[cfg(feature = "server")]
impl TypedStrategy<Cluster> for ClusterStrategy {
    fn prepare_for_create(&self, ctx: &Context, c: &mut Cluster) -> Result<(), ApiError> {
        c.spec.tenant_id = Some(common::tenant_for_create(ctx, c.spec.tenant_id.as_deref()));
        common::default_generate_name(&mut c.metadata, GENERATE_NAME);
        c.spec.finalizers = Some(vec![FINALIZER.to_string()]);
        if c.spec.dns_domain.as_deref().unwrap_or("").is_empty() {
            c.spec.dns_domain = Some(DEFAULT_DNS_DOMAIN.into());
        }
        for m in c.spec.machines.iter_mut().flatten() {
            default_machine(m);
        }
        c.spec.scaling_machines = None;
        // The status belongs to the controller; only the API server addresses survive, because
        // an Imported cluster is created with them (they say where the cluster is).
        let addresses = c.status.take().and_then(|s| s.addresses);
        c.status = Some(ClusterStatus { phase: Some(phase::INITIALIZING.into()), addresses, ..Default::default() });
        Ok(())
    }

    fn validate(&self, _ctx: &Context, c: &Cluster) -> Vec<FieldError> {
        let mut errs = validate(c);
        // Creation-only rules: an imported cluster must say where its API server is; a
        // Baremetal one needs machines to install on.
        if c.spec.type_ == "Imported"
            && c.status.as_ref().and_then(|s| s.addresses.as_ref()).is_none_or(|a| a.is_empty())
        {
            errs.push(FieldError::required(
                "status.addresses",
                "an Imported cluster needs the address of its API server (type, host, port)",
            ));
        }
        if c.spec.type_ == "Baremetal" && c.spec.machines.as_ref().is_none_or(|m| m.is_empty()) {
            errs.push(FieldError::required("spec.machines", "a Baremetal cluster needs at least one master machine"));
        }
        errs
    }

    fn prepare_for_update(&self, _ctx: &Context, new: &mut Cluster, old: &Cluster) -> Result<(), ApiError> {
        // Status is written through /status, finalizers through /finalize.
        new.status = old.status.clone();
        new.spec.finalizers = old.spec.finalizers.clone();
        // The machines being added or removed are the server's record of a scaling in progress;
        // once it is over (the controller has set the phase back), the next update forgets them.
        let scaling = matches!(old.phase(), phase::UPSCALING | phase::DOWNSCALING);
        new.spec.scaling_machines = if scaling { old.spec.scaling_machines.clone() } else { None };
        for m in new.spec.machines.iter_mut().flatten() {
            default_machine(m);
        }
        let old_version = old.spec.version.as_deref().unwrap_or("");
        let new_version = new.spec.version.as_deref().unwrap_or("");
        let status_version = old.status.as_ref().and_then(|s| s.version.as_deref()).unwrap_or("");
        if !old_version.is_empty() && new_version != old_version && new_version != status_version {
            new.status_mut().phase = Some(phase::UPGRADING.into());
        }
        let old_ips: Vec<&str> = old.spec.machines.iter().flatten().map(|m| m.ip.as_str()).collect();
        let new_ips: Vec<&str> = new.spec.machines.iter().flatten().map(|m| m.ip.as_str()).collect();
        let added: Vec<ClusterMachine> =
            new.spec.machines.iter().flatten().filter(|m| !old_ips.contains(&m.ip.as_str())).cloned().collect();
        let removed: Vec<ClusterMachine> =
            old.spec.machines.iter().flatten().filter(|m| !new_ips.contains(&m.ip.as_str())).cloned().collect();
        if !added.is_empty() && removed.is_empty() {
            new.status_mut().phase = Some(phase::UPSCALING.into());
            new.spec.scaling_machines = Some(added);
        } else if !removed.is_empty() && added.is_empty() {
            new.status_mut().phase = Some(phase::DOWNSCALING.into());
            new.spec.scaling_machines = Some(removed);
        }
        Ok(())
    }

    fn validate_update(&self, _ctx: &Context, new: &Cluster, old: &Cluster) -> Vec<FieldError> {
        let mut errs = validate(new);
        let (n, o) = (&new.spec, &old.spec);
        common::check_tenant_unchanged("spec.tenantID", n.tenant_id.as_deref(), o.tenant_id.as_deref(), &mut errs);
        check_immutable("spec.type", &n.type_, &o.type_, &mut errs);
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        check_immutable("spec.clusterCIDR", &s(&n.cluster_cidr), &s(&o.cluster_cidr), &mut errs);
        check_immutable("spec.serviceCIDR", &s(&n.service_cidr), &s(&o.service_cidr), &mut errs);
        check_immutable("spec.dnsDomain", &s(&n.dns_domain), &s(&o.dns_domain), &mut errs);

        let old_phase = old.phase();
        let (old_version, new_version) = (s(&o.version), s(&n.version));
        let observed = old.status.as_ref().and_then(|s| s.version.clone()).unwrap_or_default();
        // Setting spec.version to the version the cluster already runs is bookkeeping (e.g.
        // after an import detected it), not an upgrade.
        let upgrading = !old_version.is_empty() && new_version != old_version && new_version != observed;
        if upgrading {
            if old_phase != phase::RUNNING {
                errs.push(FieldError::forbidden(
                    "spec.version",
                    format!("the cluster can only be upgraded while Running (it is {})", phase_text(old_phase)),
                ));
            } else {
                let current = if observed.is_empty() { old_version } else { observed };
                if let Some(msg) = upgrade_problem(&current, &new_version) {
                    errs.push(FieldError::invalid("spec.version", &new_version, msg));
                }
            }
        }
        let ips = |m: &Option<Vec<ClusterMachine>>| m.iter().flatten().map(|m| m.ip.clone()).collect::<Vec<_>>();
        let (old_ips, new_ips) = (ips(&o.machines), ips(&n.machines));
        let mut sorted_old = old_ips.clone();
        let mut sorted_new = new_ips.clone();
        sorted_old.sort();
        sorted_new.sort();
        if sorted_old != sorted_new && !old_ips.is_empty() {
            let added = new_ips.iter().any(|ip| !old_ips.contains(ip));
            let removed = old_ips.iter().any(|ip| !new_ips.contains(ip));
            if old_phase != phase::RUNNING {
                errs.push(FieldError::forbidden(
                    "spec.machines",
                    format!(
                        "masters can only be added or removed while the cluster is Running (it is {})",
                        phase_text(old_phase)
                    ),
                ));
            } else if added && removed {
                errs.push(FieldError::forbidden("spec.machines", "add masters and remove masters in separate updates"));
            } else if upgrading {
                errs.push(FieldError::forbidden(
                    "spec.machines",
                    "do not scale and upgrade the cluster in the same update",
                ));
            } else if new_ips.is_empty() {
                errs.push(FieldError::forbidden(
                    "spec.machines",
                    "a cluster needs at least one master; delete the cluster instead",
                ));
            } else if new_ips.first() != old_ips.first() {
                // The first master initialised the cluster: its address is the API endpoint the
                // nodes and the credential use, and cluster-level hooks run on it.
                errs.push(FieldError::forbidden(
                    "spec.machines[0]",
                    format!("the first master {} holds the cluster's API endpoint and must stay first; add masters after it and remove only the others", old_ips[0]),
                ));
            }
        }
        errs
    }

    fn prepare_for_delete(&self, _ctx: &Context, c: &Cluster) -> Option<Cluster> {
        let mut kept = c.clone();
        kept.status_mut().phase = Some(phase::TERMINATING.into());
        Some(kept)
    }
}

#[cfg(feature = "server")]
fn phase_text(p: &str) -> &str {
    if p.is_empty() { "without a phase" } else { p }
}

/// Parses the `major.minor.patch` numbers of a Kubernetes version (`v1.21.4-tke.3` → 1,21,4).
fn version_numbers(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.trim_start_matches('v').split(['-', '+']).next()?;
    let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
    let major = it.next()??;
    let minor = it.next()??;
    let patch = it.next().unwrap_or(Some(0))?;
    Some((major, minor, patch))
}

/// Why upgrading from `current` to `target` is not allowed, if it is not.
#[cfg(feature = "server")]
fn upgrade_problem(current: &str, target: &str) -> Option<String> {
    let Some(t) = version_numbers(target) else {
        return Some("must be a Kubernetes version such as 1.21.4 or 1.21.4-tke.3".into());
    };
    let c = version_numbers(current)?;
    if t < c {
        return Some(format!("downgrading from {current} is not supported"));
    }
    if t.0 != c.0 || t.1 > c.1 + 1 {
        return Some(format!("upgrade one minor version at a time (the cluster runs {current})"));
    }
    None
}

/// The rules every cluster object must satisfy, on create and on update.
pub fn validate(c: &Cluster) -> Vec<FieldError> {
    let mut errs = vec![];
    validate_name(c, &mut errs);
    validate_spec(&c.spec, &mut errs);
    if let Some(status) = &c.status {
        validate_addresses(status.addresses.as_deref().unwrap_or(&[]), &mut errs);
    }
    errs
}

fn validate_name(c: &Cluster, errs: &mut Vec<FieldError>) {
    let generate = meta_str(&c.metadata, "generateName");
    let name = c.name();
    let generated = !generate.is_empty() && name.starts_with(generate) && name.len() > generate.len();
    if generated && !is_cluster_name(&format!("{generate}a")) {
        errs.push(FieldError::invalid(
            "metadata.generateName",
            generate,
            "must be \"cls-\" optionally followed by lowercase letters and digits, so that generated names are valid cluster names",
        ));
    } else if !name.is_empty() && !is_cluster_name(name) {
        errs.push(FieldError::invalid("metadata.name", name, CLUSTER_NAME_RULE));
    }
}

fn validate_spec(s: &ClusterSpec, errs: &mut Vec<FieldError>) {
    if s.type_.is_empty() {
        errs.push(FieldError::required("spec.type", "the provider of the cluster: Baremetal, Imported or Edge"));
    } else if !CLUSTER_TYPES.contains(&s.type_.as_str()) {
        errs.push(FieldError::not_supported("spec.type", &s.type_, CLUSTER_TYPES));
    }
    if let Some(v) = s.version.as_deref().filter(|v| !v.is_empty())
        && version_numbers(v).is_none()
    {
        errs.push(FieldError::invalid(
            "spec.version",
            v,
            "must be a Kubernetes version such as 1.21.4 or 1.21.4-tke.3",
        ));
    }
    let cluster =
        s.cluster_cidr.as_deref().filter(|v| !v.is_empty()).and_then(|v| check_cidr("spec.clusterCIDR", v, errs));
    let service =
        s.service_cidr.as_deref().filter(|v| !v.is_empty()).and_then(|v| check_cidr("spec.serviceCIDR", v, errs));
    if let (Some(a), Some(b)) = (cluster, service)
        && cidrs_overlap(a, b)
    {
        errs.push(FieldError::invalid(
            "spec.serviceCIDR",
            s.service_cidr.as_deref().unwrap_or(""),
            format!("overlaps spec.clusterCIDR {}", s.cluster_cidr.as_deref().unwrap_or("")),
        ));
    }
    if let Some(d) = s.dns_domain.as_deref()
        && !is_dns_subdomain(d)
    {
        errs.push(FieldError::invalid("spec.dnsDomain", d, "must be a DNS domain such as cluster.local"));
    }
    let mut seen = vec![];
    for (i, m) in s.machines.iter().flatten().enumerate() {
        let field = format!("spec.machines[{i}]");
        validate_machine(&field, m, errs);
        if !m.ip.is_empty() {
            if seen.contains(&m.ip) {
                errs.push(FieldError::duplicate(format!("{field}.ip"), &m.ip));
            }
            seen.push(m.ip.clone());
        }
    }
    if let Some(p) = &s.properties {
        if let Some(n) = p.max_node_pod_num
            && !MAX_NODE_POD_NUMS.contains(&n)
        {
            errs.push(FieldError::not_supported("spec.properties.maxNodePodNum", n, &["16", "32", "64", "128", "256"]));
        }
        if let Some(n) = p.max_cluster_service_num
            && !((32..=32768).contains(&n) && (n as u64).is_power_of_two())
        {
            errs.push(FieldError::invalid(
                "spec.properties.maxClusterServiceNum",
                n,
                "must be a power of two from 32 to 32768",
            ));
        }
    }
    if let Some(f) = &s.features {
        validate_features(f, errs);
    }
    if let Some(e) = &s.etcd {
        match (&e.local, &e.external) {
            (Some(_), Some(_)) => {
                errs.push(FieldError::forbidden("spec.etcd", "set either local or external, not both"))
            }
            (_, Some(x)) if x.endpoints.is_empty() => {
                errs.push(FieldError::required("spec.etcd.external.endpoints", "at least one etcd endpoint"))
            }
            _ => {}
        }
    }
    if let Some(r) = &s.cluster_credential_ref
        && r.name.as_deref().unwrap_or("").is_empty()
    {
        errs.push(FieldError::required("spec.clusterCredentialRef.name", ""));
    }
}

/// Checks an SSH target (`spec.machines[i]`, reused for Machine objects).
pub(crate) fn validate_machine(field: &str, m: &ClusterMachine, errs: &mut Vec<FieldError>) {
    check_ip(&format!("{field}.ip"), &m.ip, errs);
    if let Some(p) = m.port {
        check_port(&format!("{field}.port"), p, errs);
    }
    validate_ssh_secret(field, m.password.as_deref(), m.private_key.as_deref(), m.pass_phrase.as_deref(), errs);
    if let Some(t) = &m.taints {
        check_taints(&format!("{field}.taints"), t, errs);
    }
    if let Some(p) = &m.proxy {
        let f = format!("{field}.proxy");
        if !PROXY_TYPES.contains(&p.type_.as_str()) {
            errs.push(FieldError::not_supported(format!("{f}.type"), &p.type_, PROXY_TYPES));
        }
        check_ip(&format!("{f}.ip"), &p.ip, errs);
        if let Some(port) = p.port {
            check_port(&format!("{f}.port"), port, errs);
        }
        check_base64(&format!("{f}.password"), p.password.as_deref(), errs);
        check_base64(&format!("{f}.privateKey"), p.private_key.as_deref(), errs);
        check_base64(&format!("{f}.passPhrase"), p.pass_phrase.as_deref(), errs);
    }
}

/// Password or private key: one is needed to log in, and both travel base64-encoded.
pub(crate) fn validate_ssh_secret(
    field: &str,
    password: Option<&str>,
    key: Option<&str>,
    pass_phrase: Option<&str>,
    errs: &mut Vec<FieldError>,
) {
    let empty = |v: Option<&str>| v.is_none_or(str::is_empty);
    if empty(password) && empty(key) {
        errs.push(FieldError::required(
            format!("{field}.password"),
            "a password or a privateKey is required to log in over SSH",
        ));
    }
    check_base64(&format!("{field}.password"), password, errs);
    check_base64(&format!("{field}.privateKey"), key, errs);
    check_base64(&format!("{field}.passPhrase"), pass_phrase, errs);
}

fn validate_features(f: &ClusterFeature, errs: &mut Vec<FieldError>) {
    if let Some(g) = f.gpu_type.as_deref()
        && !g.is_empty()
        && !GPU_TYPES.contains(&g)
    {
        errs.push(FieldError::not_supported("spec.features.gpuType", g, GPU_TYPES));
    }
    if let Some(r) = f.container_runtime.as_deref()
        && !r.is_empty()
        && !CONTAINER_RUNTIMES.contains(&r)
    {
        errs.push(FieldError::not_supported("spec.features.containerRuntime", r, CONTAINER_RUNTIMES));
    }
    if let Some(m) = f.upgrade.as_ref().and_then(|u| u.mode.as_deref())
        && !m.is_empty()
        && !UPGRADE_MODES.contains(&m)
    {
        errs.push(FieldError::not_supported("spec.features.upgrade.mode", m, UPGRADE_MODES));
    }
    if let Some(IntOrString::String(s)) =
        f.upgrade.as_ref().and_then(|u| u.strategy.as_ref()).and_then(|s| s.max_unready.as_ref())
        && s.strip_suffix('%').is_none_or(|n| n.parse::<u32>().is_err())
    {
        errs.push(FieldError::invalid(
            "spec.features.upgrade.strategy.maxUnready",
            s,
            "must be a number or a percentage such as 25%",
        ));
    }
    for key in f.hooks.iter().flat_map(|h| h.keys()) {
        if !HOOK_TYPES.contains(&key.as_str()) {
            errs.push(FieldError::not_supported(format!("spec.features.hooks[{key}]"), key, HOOK_TYPES));
        }
    }
    for (i, file) in f.files.iter().flatten().enumerate() {
        if file.src.is_empty() {
            errs.push(FieldError::required(format!("spec.features.files[{i}].src"), ""));
        }
        if !file.dst.starts_with('/') {
            errs.push(FieldError::invalid(
                format!("spec.features.files[{i}].dst"),
                &file.dst,
                "must be an absolute path",
            ));
        }
    }
    if let Some(ha) = &f.ha {
        if ha.tke.is_some() && ha.third_party.is_some() {
            errs.push(FieldError::forbidden("spec.features.ha", "set either tke or thirdParty, not both"));
        }
        if let Some(t) = &ha.tke {
            check_ip("spec.features.ha.tke.vip", &t.vip, errs);
            if let Some(v) = t.vrid
                && !(1..=255).contains(&v)
            {
                errs.push(FieldError::invalid("spec.features.ha.tke.vrid", v, "must be between 1 and 255"));
            }
        }
        if let Some(t) = &ha.third_party {
            if t.vip.is_empty() {
                errs.push(FieldError::required("spec.features.ha.thirdParty.vip", ""));
            }
            if let Some(p) = t.vport {
                check_port("spec.features.ha.thirdParty.vport", p, errs);
            }
        }
    }
    if let Some(x) = f.authz_webhook_addr.as_ref().and_then(|a| a.external.as_ref()) {
        check_ip("spec.features.authzWebhookAddr.external.ip", &x.ip, errs);
        if let Some(p) = x.port {
            check_port("spec.features.authzWebhookAddr.external.port", p, errs);
        }
    }
}

fn validate_addresses(addresses: &[ClusterAddress], errs: &mut Vec<FieldError>) {
    for (i, a) in addresses.iter().enumerate() {
        let f = format!("status.addresses[{i}]");
        if !ADDRESS_TYPES.contains(&a.type_.as_str()) {
            errs.push(FieldError::not_supported(format!("{f}.type"), &a.type_, ADDRESS_TYPES));
        }
        if a.host.is_empty() {
            errs.push(FieldError::required(format!("{f}.host"), ""));
        }
        check_port(&format!("{f}.port"), a.port, errs);
        if let Some(p) = a.path.as_deref()
            && !p.is_empty()
            && !p.starts_with('/')
        {
            errs.push(FieldError::invalid(format!("{f}.path"), p, "must start with /"));
        }
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
    use crate::platform::common::test_ctx;
    use apimachinery::error::FieldErrorKind;
    use serde_json::json;

    fn cluster(v: Value) -> Cluster {
        serde_json::from_value(v).unwrap()
    }

    fn baremetal() -> Cluster {
        cluster(json!({
            "metadata": {"name": "cls-abc1"},
            "spec": {"type": "Baremetal", "version": "1.21.4-tke.3", "clusterCIDR": "10.244.0.0/16",
                     "machines": [{"ip": "10.0.0.1", "password": "cGFzcw=="}]}
        }))
    }

    fn running(mut c: Cluster) -> Cluster {
        ClusterStrategy.prepare_for_create(&test_ctx("t1", false), &mut c).unwrap();
        let s = c.status_mut();
        s.phase = Some(phase::RUNNING.into());
        s.version = Some("1.21.4-tke.3".into());
        c
    }

    fn fields(errs: &[FieldError]) -> Vec<&str> {
        errs.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn create_sets_tenant_finalizer_defaults_and_phase() {
        let mut c = cluster(json!({
            "metadata": {},
            "spec": {"type": "Imported", "tenantID": "other", "finalizers": []},
            "status": {"phase": "Running", "version": "1.30.0", "addresses": [{"type": "Advertise", "host": "10.0.0.1", "port": 6443}]}
        }));
        ClusterStrategy.prepare_for_create(&test_ctx("t1", false), &mut c).unwrap();
        assert_eq!(c.spec.tenant_id.as_deref(), Some("t1"), "a non-admin cannot pick the tenant");
        assert_eq!(c.metadata["generateName"], "cls-");
        assert_eq!(c.spec.finalizers, Some(vec!["cluster".to_string()]));
        assert_eq!(c.spec.dns_domain.as_deref(), Some("cluster.local"));
        let status = c.status.as_ref().unwrap();
        assert_eq!(status.phase.as_deref(), Some("Initializing"));
        assert_eq!(status.version, None, "status is reset");
        assert_eq!(status.addresses.as_ref().map(Vec::len), Some(1), "addresses of an imported cluster are kept");

        let mut c = cluster(json!({"metadata": {"name": "cls-x"}, "spec": {"type": "Imported", "tenantID": "other"}}));
        ClusterStrategy.prepare_for_create(&test_ctx("t1", true), &mut c).unwrap();
        assert_eq!(c.spec.tenant_id.as_deref(), Some("other"), "an administrator may create for another tenant");
        assert!(c.metadata.get("generateName").is_none(), "a given name is kept");
    }

    #[test]
    fn create_defaults_ssh_port_and_user() {
        let mut c = baremetal();
        ClusterStrategy.prepare_for_create(&test_ctx("t1", false), &mut c).unwrap();
        let m = &c.spec.machines.as_ref().unwrap()[0];
        assert_eq!((m.port, m.username.as_deref()), (Some(22), Some("root")));
        assert!(ClusterStrategy.validate(&test_ctx("t1", false), &c).is_empty());
    }

    #[test]
    fn bad_names_are_rejected_not_rewritten() {
        let ctx = test_ctx("t1", false);
        for name in ["prod", "cls-Prod", "cls-a-b", "cls-"] {
            let mut c = baremetal();
            c.metadata = json!({"name": name});
            let errs = ClusterStrategy.validate(&ctx, &c);
            assert_eq!(fields(&errs), vec!["metadata.name"], "{name}");
            assert!(errs[0].detail.contains("\"global\" or \"cls-\""), "{}", errs[0].detail);
        }
        let mut c = baremetal();
        c.metadata = json!({"name": "global"});
        assert!(ClusterStrategy.validate(&ctx, &c).is_empty());
        // A generated name from a bad prefix names the prefix, not the random name.
        c.metadata = json!({"name": "prod-x7k2p", "generateName": "prod-"});
        assert_eq!(fields(&ClusterStrategy.validate(&ctx, &c)), vec!["metadata.generateName"]);
        c.metadata = json!({"name": "cls-x7k2p", "generateName": "cls-"});
        assert!(ClusterStrategy.validate(&ctx, &c).is_empty());
    }

    #[test]
    fn validation_names_each_bad_field() {
        let c = cluster(json!({
            "metadata": {"name": "cls-a"},
            "spec": {
                "type": "Cloud",
                "clusterCIDR": "10.244.0.0/16", "serviceCIDR": "10.244.128.0/17", "dnsDomain": "Bad_Domain",
                "machines": [{"ip": "10.0.0.300", "port": 70000, "password": "cGFzcw=="}, {"ip": "10.0.0.2"}, {"ip": "10.0.0.2", "privateKey": "!!"}],
                "properties": {"maxNodePodNum": 100, "maxClusterServiceNum": 100},
                "features": {"gpuType": "Magic", "hooks": {"OnBoot": "/x.sh"}, "ha": {"tke": {"vip": "vip", "vrid": 0}},
                             "upgrade": {"mode": "Sometimes", "strategy": {"maxUnready": "ten"}}}
            }
        }));
        let errs = ClusterStrategy.validate(&test_ctx("t1", false), &c);
        let f = fields(&errs);
        for expected in [
            "spec.type",
            "spec.serviceCIDR",
            "spec.dnsDomain",
            "spec.machines[0].ip",
            "spec.machines[0].port",
            "spec.machines[1].password",
            "spec.machines[2].ip",
            "spec.machines[2].privateKey",
            "spec.properties.maxNodePodNum",
            "spec.properties.maxClusterServiceNum",
            "spec.features.gpuType",
            "spec.features.hooks[OnBoot]",
            "spec.features.ha.tke.vip",
            "spec.features.ha.tke.vrid",
            "spec.features.upgrade.mode",
            "spec.features.upgrade.strategy.maxUnready",
        ] {
            assert!(f.contains(&expected), "missing {expected} in {f:?}");
        }
        let ty = errs.iter().find(|e| e.field == "spec.type").unwrap();
        assert_eq!(ty.kind, FieldErrorKind::NotSupported);
        assert!(ty.detail.contains("\"Baremetal\", \"Imported\", \"Edge\""));
        let dup = errs.iter().find(|e| e.field == "spec.machines[2].ip").unwrap();
        assert_eq!(dup.kind, FieldErrorKind::Duplicate);
        let cidr = errs.iter().find(|e| e.field == "spec.serviceCIDR").unwrap();
        assert!(cidr.detail.contains("overlaps spec.clusterCIDR"), "{}", cidr.detail);
    }

    #[test]
    fn creation_needs_type_specific_fields() {
        let ctx = test_ctx("t1", false);
        let c = cluster(json!({"metadata": {"name": "cls-a"}, "spec": {"type": "Imported"}}));
        assert_eq!(fields(&ClusterStrategy.validate(&ctx, &c)), vec!["status.addresses"]);
        let c = cluster(json!({"metadata": {"name": "cls-a"}, "spec": {"type": "Baremetal"}}));
        assert_eq!(fields(&ClusterStrategy.validate(&ctx, &c)), vec!["spec.machines"]);
        let c = cluster(json!({"metadata": {"name": "cls-a"}, "spec": {}}));
        let errs = ClusterStrategy.validate(&ctx, &c);
        assert_eq!(errs[0].field, "spec.type");
        assert_eq!(errs[0].kind, FieldErrorKind::Required);
        let c = cluster(json!({"metadata": {"name": "cls-a"}, "spec": {"type": "Imported"},
            "status": {"addresses": [{"type": "Nowhere", "host": "", "port": 0, "path": "api"}]}}));
        let f = ClusterStrategy.validate(&ctx, &c);
        assert_eq!(
            fields(&f),
            vec![
                "status.addresses[0].type",
                "status.addresses[0].host",
                "status.addresses[0].port",
                "status.addresses[0].path"
            ]
        );
    }

    #[test]
    fn update_keeps_status_and_finalizers_and_rejects_immutable_changes() {
        let ctx = test_ctx("t1", false);
        let old = running(baremetal());
        let mut new = old.clone();
        new.status = Some(ClusterStatus { phase: Some("Failed".into()), ..Default::default() });
        new.spec.finalizers = Some(vec![]);
        new.spec.type_ = "Imported".into();
        new.spec.tenant_id = Some("t2".into());
        new.spec.cluster_cidr = Some("10.100.0.0/16".into());
        ClusterStrategy.prepare_for_update(&ctx, &mut new, &old).unwrap();
        assert_eq!(new.phase(), "Running", "status changes only through /status");
        assert_eq!(new.spec.finalizers, old.spec.finalizers, "finalizers change only through /finalize");
        let errs = ClusterStrategy.validate_update(&ctx, &new, &old);
        assert_eq!(fields(&errs), vec!["spec.tenantID", "spec.type", "spec.clusterCIDR"]);
        assert!(errs[1].detail.contains("field is immutable"), "{}", errs[1].detail);
        assert_eq!(errs[0].kind, FieldErrorKind::Forbidden);
    }

    #[test]
    fn version_change_upgrades_a_running_cluster() {
        let ctx = test_ctx("t1", false);
        let old = running(baremetal());
        let mut new = old.clone();
        new.spec.version = Some("1.22.5".into());
        ClusterStrategy.prepare_for_update(&ctx, &mut new, &old).unwrap();
        assert_eq!(new.phase(), "Upgrading");
        assert!(ClusterStrategy.validate_update(&ctx, &new, &old).is_empty());

        for (target, why) in
            [("1.20.1", "downgrading"), ("1.23.0", "one minor version at a time"), ("latest", "Kubernetes version")]
        {
            let mut new = old.clone();
            new.spec.version = Some(target.into());
            ClusterStrategy.prepare_for_update(&ctx, &mut new, &old).unwrap();
            let errs = ClusterStrategy.validate_update(&ctx, &new, &old);
            assert!(errs.iter().any(|e| e.field == "spec.version" && e.detail.contains(why)), "{target}: {errs:?}");
        }

        let mut initializing = old.clone();
        initializing.status_mut().phase = Some("Initializing".into());
        let mut new = initializing.clone();
        new.spec.version = Some("1.22.5".into());
        ClusterStrategy.prepare_for_update(&ctx, &mut new, &initializing).unwrap();
        let errs = ClusterStrategy.validate_update(&ctx, &new, &initializing);
        assert_eq!(fields(&errs), vec!["spec.version"]);
        assert!(errs[0].detail.contains("only be upgraded while Running (it is Initializing)"));
    }

    #[test]
    fn syncing_spec_version_to_the_observed_version_is_not_an_upgrade() {
        let ctx = test_ctx("t1", false);
        let mut old = cluster(
            json!({"metadata": {"name": "cls-i1"}, "spec": {"type": "Imported", "version": "1.30.0"},
            "status": {"phase": "Initializing", "version": "1.30.2", "addresses": [{"type": "Real", "host": "h", "port": 443}]}}),
        );
        old.spec.tenant_id = Some("t1".into());
        let mut new = old.clone();
        new.spec.version = Some("1.30.2".into());
        ClusterStrategy.prepare_for_update(&ctx, &mut new, &old).unwrap();
        assert_eq!(new.phase(), "Initializing");
        assert!(ClusterStrategy.validate_update(&ctx, &new, &old).is_empty());
    }

    #[test]
    fn machine_changes_scale_up_and_down() {
        let ctx = test_ctx("t1", false);
        let old = running(baremetal());
        let mut up = old.clone();
        up.spec.machines.as_mut().unwrap().push(ClusterMachine {
            ip: "10.0.0.2".into(),
            password: Some("cGFzcw==".into()),
            ..Default::default()
        });
        ClusterStrategy.prepare_for_update(&ctx, &mut up, &old).unwrap();
        assert_eq!(up.phase(), "Upscaling");
        let scaling: Vec<&str> = up.spec.scaling_machines.iter().flatten().map(|m| m.ip.as_str()).collect();
        assert_eq!(scaling, vec!["10.0.0.2"]);
        assert!(ClusterStrategy.validate_update(&ctx, &up, &old).is_empty());

        let mut grown = running(baremetal());
        grown.spec.machines = up.spec.machines.clone();
        let mut down = grown.clone();
        down.spec.machines.as_mut().unwrap().remove(1);
        ClusterStrategy.prepare_for_update(&ctx, &mut down, &grown).unwrap();
        assert_eq!(down.phase(), "Downscaling");
        let scaling: Vec<&str> = down.spec.scaling_machines.iter().flatten().map(|m| m.ip.as_str()).collect();
        assert_eq!(scaling, vec!["10.0.0.2"]);
        assert!(ClusterStrategy.validate_update(&ctx, &down, &grown).is_empty());

        // The first master stays, and stays first.
        let mut headless = grown.clone();
        headless.spec.machines.as_mut().unwrap().remove(0);
        ClusterStrategy.prepare_for_update(&ctx, &mut headless, &grown).unwrap();
        let errs = ClusterStrategy.validate_update(&ctx, &headless, &grown);
        assert!(errs.iter().any(|e| e.field == "spec.machines[0]" && e.detail.contains("10.0.0.1")), "{errs:?}");
        let mut before = old.clone();
        before.spec.machines.as_mut().unwrap().insert(
            0,
            ClusterMachine { ip: "10.0.0.9".into(), password: Some("cGFzcw==".into()), ..Default::default() },
        );
        ClusterStrategy.prepare_for_update(&ctx, &mut before, &old).unwrap();
        assert!(ClusterStrategy.validate_update(&ctx, &before, &old).iter().any(|e| e.field == "spec.machines[0]"));

        // Once the scaling is over (Running again), the next update forgets the scaled machines.
        let mut done = up.clone();
        done.status_mut().phase = Some("Running".into());
        let mut next = done.clone();
        ClusterStrategy.prepare_for_update(&ctx, &mut next, &done).unwrap();
        assert_eq!(next.spec.scaling_machines, None);
        let mut during = up.clone();
        ClusterStrategy.prepare_for_update(&ctx, &mut during, &up).unwrap();
        assert_eq!(during.spec.scaling_machines, up.spec.scaling_machines, "kept while Upscaling");

        let mut empty = old.clone();
        empty.spec.machines = Some(vec![]);
        ClusterStrategy.prepare_for_update(&ctx, &mut empty, &old).unwrap();
        let errs = ClusterStrategy.validate_update(&ctx, &empty, &old);
        assert!(
            errs.iter().any(|e| e.field == "spec.machines" && e.detail.contains("at least one master")),
            "{errs:?}"
        );
    }

    #[test]
    fn delete_keeps_the_cluster_terminating() {
        let c = running(baremetal());
        let kept = ClusterStrategy.prepare_for_delete(&test_ctx("t1", false), &c).expect("kept until finalized");
        assert_eq!(kept.phase(), "Terminating");
        assert_eq!(kept.spec.finalizers, Some(vec!["cluster".to_string()]));
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
