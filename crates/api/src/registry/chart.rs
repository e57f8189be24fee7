//! `Chart` (`chart`): a Helm chart of a chart group, kept in the Kubernetes namespace named
//! after the ChartGroup object, with the versions uploaded so far and its pull count.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, meta_str};
#[cfg(feature = "server")]
use {
    super::common::{self, CHART_VISIBILITIES, visibility},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

pub const KIND: &str = "Chart";
pub const GENERATE_NAME: &str = "chart-";

/// A Helm chart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Chart {
    /// `registry.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Chart`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; `namespace` is the name of the ChartGroup object, names are
    /// generated with the prefix `chart-` when empty.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// The chart.
    #[serde(default)]
    pub spec: ChartSpec,
    /// Versions and counters kept by the registry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ChartStatus>,
}

/// The desired chart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChartSpec {
    /// The chart's name (`name` in its Chart.yaml). Cannot be changed.
    #[serde(default)]
    pub name: String,
    /// Tenant owning the chart; set from the caller, cannot be changed.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// `spec.name` of the chart group. Cannot be changed.
    #[serde(default)]
    pub chart_group_name: String,
    /// Name shown in the console.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// As the chart group's; defaults to `Private`.
    #[serde(default)]
    pub visibility: String,
    /// Finalizers that must be cleared (through `finalize`) before a deleted chart is removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finalizers: Option<Vec<String>>,
}

/// The observed state of a chart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChartStatus {
    /// A locked chart refuses uploads and downloads of everyone but administrators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    /// How many times a version of the chart was downloaded.
    #[serde(default)]
    pub pull_count: i64,
    /// The versions of the chart.
    #[serde(default)]
    pub versions: Vec<ChartVersion>,
    /// Lifecycle phase (`Available`, `Terminating`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// When the phase last changed (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// One-word reason of the current phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable details of the current phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One uploaded version of a chart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChartVersion {
    /// The chart version (SemVer).
    #[serde(default)]
    pub version: String,
    /// Size of the chart archive in bytes.
    #[serde(default)]
    pub chart_size: i64,
    /// When the version was uploaded (RFC 3339).
    #[serde(default)]
    pub time_created: String,
    /// `description` of the version's Chart.yaml.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `appVersion` of the version's Chart.yaml.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// `icon` of the version's Chart.yaml.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
}

impl Chart {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
}

/// Chart names as Helm accepts them: letters, digits, `-`, `_` and `.`, starting with a letter
/// or digit.
pub fn is_chart_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The create/update rules of charts.
#[cfg(feature = "server")]
pub struct ChartStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<Chart> for ChartStrategy {
    fn prepare_for_create(&self, ctx: &Context, c: &mut Chart) -> Result<(), ApiError> {
        c.spec.tenant_id = Some(common::tenant_for_create(ctx, c.spec.tenant_id.as_deref()));
        common::default_generate_name(&mut c.metadata, GENERATE_NAME);
        if c.spec.visibility.is_empty() {
            c.spec.visibility = visibility::PRIVATE.into();
        }
        Ok(())
    }

    fn validate(&self, _ctx: &Context, c: &Chart) -> Vec<FieldError> {
        let mut errs = vec![];
        if c.spec.name.is_empty() {
            errs.push(FieldError::required("spec.name", "the name of the chart is required"));
        } else if !is_chart_name(&c.spec.name) {
            errs.push(FieldError::invalid(
                "spec.name",
                &c.spec.name,
                "must consist of letters, digits, '-', '_' or '.', starting with a letter or digit",
            ));
        }
        common::check_label("spec.chartGroupName", &c.spec.chart_group_name, "chart group", &mut errs);
        common::check_visibility("spec.visibility", &c.spec.visibility, CHART_VISIBILITIES, &mut errs);
        errs
    }

    fn prepare_for_update(&self, _ctx: &Context, new: &mut Chart, old: &Chart) -> Result<(), ApiError> {
        new.spec.finalizers = old.spec.finalizers.clone();
        if new.spec.visibility.is_empty() {
            new.spec.visibility = old.spec.visibility.clone();
        }
        Ok(())
    }

    fn validate_update(&self, ctx: &Context, new: &Chart, old: &Chart) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        let (n, o) = (&new.spec, &old.spec);
        common::check_tenant_unchanged("spec.tenantID", n.tenant_id.as_deref(), o.tenant_id.as_deref(), &mut errs);
        common::check_immutable("spec.name", &n.name, &o.name, &mut errs);
        common::check_immutable("spec.chartGroupName", &n.chart_group_name, &o.chart_group_name, &mut errs);
        errs
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "charts",
        singular: "chart",
        short_names: &["chart"],
        categories: &["tkestack"],
        namespaced: true,
        verbs: Verbs::ALL,
        subresources: Subresources { status: true, finalize: true },
        columns: vec![],
        field_selectors: &["spec.tenantID", "spec.name", "spec.chartGroupName", "spec.visibility"],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<Chart>,
        strategy: typed::<Chart, _>(ChartStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::common::test_ctx;
    use serde_json::json;

    #[test]
    fn create_and_validate() {
        let ctx = test_ctx("t1", false);
        let mut c: Chart =
            serde_json::from_value(json!({"spec": {"name": "nginx-ingress", "chartGroupName": "charts"}})).unwrap();
        ChartStrategy.prepare_for_create(&ctx, &mut c).unwrap();
        assert_eq!((c.metadata["generateName"].as_str(), c.spec.visibility.as_str()), (Some("chart-"), "Private"));
        assert!(ChartStrategy.validate(&ctx, &c).is_empty());
        c.spec.name = "-bad".into();
        c.spec.visibility = "Everyone".into();
        let fields: Vec<String> = ChartStrategy.validate(&ctx, &c).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["spec.name", "spec.visibility"]);
    }
}
