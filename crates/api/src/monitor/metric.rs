//! `Metric` (create-only, reference 7.3): a metrics query. `POST metrics` with a `query`
//! answers the same object with `jsonResult` filled (a JSON string holding the merged table
//! `{columns, data}`); nothing is stored. The monitor component answers it.

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

pub const KIND: &str = "Metric";

/// A query and, in the answer, its result.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    #[serde(default)]
    pub query: MetricQuery,
    /// The answer: `{"columns": [...], "data": [[...], ...]}` encoded as a string (TKEStack's shape).
    #[serde(default, rename = "jsonResult", skip_serializing_if = "String::is_empty")]
    pub json_result: String,
}

/// What to read: a table (`k8s_pod`, `k8s_node`...), a time range in milliseconds since the
/// epoch, the fields (metric names), conditions on labels, grouping, ordering and paging.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricQuery {
    #[serde(default)]
    pub table: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    #[serde(default)]
    pub fields: Vec<String>,
    #[serde(default)]
    pub conditions: Vec<MetricCondition>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub order_by: String,
    /// `asc` or `desc`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub order: String,
    /// Label names, and `timestamp(60s)` for the step.
    #[serde(default)]
    pub group_by: Vec<String>,
    #[serde(default)]
    pub limit: i32,
    #[serde(default)]
    pub offset: i32,
}

/// `key expr value`: `=`, `!=`, `in` (value a JSON array or comma list), `=~`, `!~`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetricCondition {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub expr: String,
    #[serde(default)]
    #[schemars(with = "Value")]
    pub value: Value,
}

/// Nothing of a query is stored: the monitor component answers `POST metrics` itself.
#[cfg(feature = "server")]
pub struct MetricStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<Metric> for MetricStrategy {
    fn prepare_for_create(&self, _ctx: &Context, _m: &mut Metric) -> Result<(), ApiError> {
        Err(ApiError::method_not_allowed("a Metric is a query answered by the monitor component; it is never stored"))
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "metrics",
        singular: "metric",
        short_names: &["metric"],
        categories: &[],
        namespaced: false,
        verbs: Verbs { create: true, ..Verbs::READ_ONLY },
        subresources: Subresources::default(),
        columns: vec![],
        field_selectors: &[],
        tenant_field: None,
        static_objects: None,
        schema: schema_of::<Metric>,
        strategy: typed::<Metric, _>(MetricStrategy),
    }
}
