//! The desired state of a cluster (`spec`): its provider and version, network, masters and how
//! to reach them over SSH, features (HA, upgrades, hooks, files, authorization webhook), and
//! etcd.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::common::{IntOrString, LocalObjectReference, Taint};

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

/// Where an update leaves out SSH credentials (password, private key, passphrase) that the
/// object had — as it does when the client read the object as a user who is not shown them —
/// the stored ones are kept. Credentials sent are taken as they are.
pub fn keep_ssh_credentials(new: [&mut Option<String>; 3], old: [&Option<String>; 3]) {
    if new.iter().all(|v| v.as_deref().unwrap_or("").is_empty()) {
        for (n, o) in new.into_iter().zip(old) {
            n.clone_from(o);
        }
    }
}

impl ClusterMachine {
    /// See [`keep_ssh_credentials`]; for the machine and for its proxy, if it is the same one.
    pub fn keep_credentials_of(&mut self, old: &ClusterMachine) {
        keep_ssh_credentials(
            [&mut self.password, &mut self.private_key, &mut self.pass_phrase],
            [&old.password, &old.private_key, &old.pass_phrase],
        );
        if let (Some(p), Some(o)) = (self.proxy.as_mut(), old.proxy.as_ref()) {
            p.keep_credentials_of(o);
        }
    }
}

impl MachineProxy {
    /// See [`keep_ssh_credentials`]; only for the same proxy.
    pub fn keep_credentials_of(&mut self, old: &MachineProxy) {
        if self.ip == old.ip {
            keep_ssh_credentials(
                [&mut self.password, &mut self.private_key, &mut self.pass_phrase],
                [&old.password, &old.private_key, &old.pass_phrase],
            );
        }
    }
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
    /// Send the cluster's kube-apiserver audit events to the platform's audit sink
    /// (`EnsureAuditConfig` writes the audit policy and webhook kubeconfig on the masters of
    /// Baremetal clusters; the platform must serve the audit component).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_audit: Option<bool>,
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
