//! `ClusterOverview` (create-only, reference 7.3): the dashboard's numbers over every cluster
//! the caller may see. `POST clusteroverviews` answers the object with `result` filled; nothing
//! is stored. The monitor component answers it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::platform::common::ObjectMeta;
#[cfg(feature = "server")]
use {
    super::{GROUP, VERSION},
    apimachinery::ApiError,
    apiserver::{Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

pub const KIND: &str = "ClusterOverview";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterOverview {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    #[serde(default)]
    pub spec: ClusterOverviewSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ClusterOverviewResult>,
}

/// Which tenants to cover (administrators only; others always get their own tenant).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterOverviewSpec {
    #[serde(default)]
    pub tenants: Vec<String>,
}

/// Totals over the clusters, then one line per cluster. CPU is in cores, memory in bytes,
/// rates in percent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterOverviewResult {
    pub cluster_count: i64,
    pub cluster_abnormal: i64,
    pub project_count: i64,
    pub project_abnormal: i64,
    pub node_count: i64,
    pub node_abnormal: i64,
    pub workload_count: i64,
    pub workload_abnormal: i64,
    pub cpu_capacity: f64,
    pub cpu_allocatable: f64,
    pub mem_capacity: f64,
    pub mem_allocatable: f64,
    pub pod_count: i64,
    pub clusters: Vec<ClusterStatistic>,
}

/// One cluster's line of the overview.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatistic {
    #[serde(rename = "clusterID")]
    pub cluster_id: String,
    pub display_name: String,
    pub tenant_id: String,
    pub cluster_phase: String,
    pub node_count: i64,
    pub node_abnormal: i64,
    pub workload_count: i64,
    pub workload_abnormal: i64,
    pub pod_count: i64,
    pub cpu_used: f64,
    pub cpu_request: f64,
    pub cpu_limit: f64,
    pub cpu_capacity: f64,
    pub cpu_allocatable: f64,
    pub cpu_request_rate: String,
    pub cpu_allocatable_rate: String,
    pub cpu_usage: String,
    pub mem_used: f64,
    pub mem_request: f64,
    pub mem_limit: f64,
    pub mem_capacity: f64,
    pub mem_allocatable: f64,
    pub mem_request_rate: String,
    pub mem_allocatable_rate: String,
    pub mem_usage: String,
    pub scheduler_healthy: bool,
    pub controller_manager_healthy: bool,
    pub etcd_healthy: bool,
    pub has_metric_server: bool,
    /// When the numbers were sampled (RFC 3339); empty when the cluster was never sampled.
    pub sampled_at: String,
}

#[cfg(feature = "server")]
pub struct ClusterOverviewStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<ClusterOverview> for ClusterOverviewStrategy {
    fn prepare_for_create(&self, _ctx: &Context, _o: &mut ClusterOverview) -> Result<(), ApiError> {
        Err(ApiError::method_not_allowed("a ClusterOverview is computed by the monitor component; it is never stored"))
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "clusteroverviews",
        singular: "clusteroverview",
        short_names: &[],
        categories: &[],
        namespaced: false,
        verbs: Verbs { create: true, ..Verbs::READ_ONLY },
        subresources: Subresources::default(),
        columns: vec![],
        field_selectors: &[],
        tenant_field: None,
        static_objects: None,
        schema: schema_of::<ClusterOverview>,
        strategy: typed::<ClusterOverview, _>(ClusterOverviewStrategy),
    }
}
