//! The observed state of a cluster (`status`), written by the cluster controller: phase,
//! conditions, addresses, resources and components.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::common::Condition;

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
