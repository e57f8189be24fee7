//! `Prometheus` (`prom`): the monitoring add-on (Prometheus, Alertmanager, node-exporter,
//! kube-state-metrics) with remote storage and the alert webhook.

use std::collections::BTreeMap;

use apimachinery::FieldError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::addon::{AddonInfo, AddonSpec, AddonSpecFields, AddonStatus, LEVEL_ENHANCE, addon_object};
use super::common::{is_duration, is_http_url};

/// The catalogue entry of the Prometheus add-on.
pub const INFO: AddonInfo = AddonInfo {
    kind: "Prometheus",
    plural: "prometheuses",
    singular: "prometheus",
    short_names: &["prom"],
    generate_name: "prom-",
    level: LEVEL_ENHANCE,
    latest_version: "v1.0.0",
    description: "Monitors the cluster with Prometheus, node-exporter and kube-state-metrics, evaluates the platform's alarm policies with Alertmanager, and writes metrics to the configured long-term store.",
    compatible_cluster_types: &["Baremetal", "Imported", "Edge"],
};

/// The desired monitoring add-on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusSpec {
    #[serde(flatten)]
    pub addon: AddonSpec,
    /// Versions of individual components, by component name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_version: Option<BTreeMap<String, String>>,
    /// Remote write and read endpoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_address: Option<RemoteAddress>,
    /// Webhook Alertmanager sends alerts to; defaults to the platform's notify service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_webhook: Option<String>,
    /// Resource limits and requests of Prometheus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// How long Prometheus keeps samples (e.g. `15d`, the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<String>,
    /// Run Prometheus on a master node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_on_master: Option<bool>,
    /// How often a firing alert is sent again (e.g. `20m`); default `1200s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_repeat_interval: Option<String>,
    /// Also install node-problem-detector.
    #[serde(rename = "withNPD", skip_serializing_if = "Option::is_none")]
    pub with_npd: Option<bool>,
}

/// Remote storage endpoints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemoteAddress {
    /// Remote-write URLs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_addr: Option<Vec<String>>,
    /// Remote-read URLs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_addr: Option<Vec<String>>,
}

/// Compute resources (quantities by resource name).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceRequirements {
    /// Most resources the container may use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<BTreeMap<String, Value>>,
    /// Resources reserved for the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<BTreeMap<String, Value>>,
}

impl AddonSpecFields for PrometheusSpec {
    fn addon(&self) -> &AddonSpec {
        &self.addon
    }
    fn addon_mut(&mut self) -> &mut AddonSpec {
        &mut self.addon
    }
    fn validate_extra(&self, errs: &mut Vec<FieldError>) {
        if let Some(r) = &self.remote_address {
            for (name, list) in [("writeAddr", &r.write_addr), ("readAddr", &r.read_addr)] {
                for (i, url) in list.iter().flatten().enumerate() {
                    if !is_http_url(url) {
                        errs.push(FieldError::invalid(
                            format!("spec.remoteAddress.{name}[{i}]"),
                            url,
                            "must be an http:// or https:// URL",
                        ));
                    }
                }
            }
        }
        if let Some(w) = self.notify_webhook.as_deref().filter(|w| !w.is_empty())
            && !is_http_url(w)
        {
            errs.push(FieldError::invalid("spec.notifyWebhook", w, "must be an http:// or https:// URL"));
        }
        if let Some(d) = self.retention.as_deref().filter(|d| !d.is_empty())
            && !is_duration(d)
        {
            errs.push(FieldError::invalid("spec.retention", d, "must be a duration such as 15d or 12h"));
        }
        if let Some(d) = self.alert_repeat_interval.as_deref().filter(|d| !d.is_empty())
            && !is_duration(d)
        {
            errs.push(FieldError::invalid("spec.alertRepeatInterval", d, "must be a duration such as 20m or 1200s"));
        }
    }
}

addon_object!(
    /// The monitoring add-on of one cluster.
    Prometheus,
    PrometheusSpec,
    AddonStatus,
    INFO
);
