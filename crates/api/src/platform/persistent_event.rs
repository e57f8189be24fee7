//! `PersistentEvent` (`pe`): the add-on that keeps the cluster's events beyond their one-hour
//! life in Kubernetes, shipping them to Elasticsearch or a CLS log topic.

use apimachinery::FieldError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::addon::{AddonInfo, AddonSpec, AddonSpecFields, AddonStatus, LEVEL_ENHANCE, addon_object};
use super::common::check_port;

/// The catalogue entry of the PersistentEvent add-on.
pub const INFO: AddonInfo = AddonInfo {
    kind: "PersistentEvent",
    plural: "persistentevents",
    singular: "persistentevent",
    short_names: &["pe"],
    generate_name: "pe-",
    level: LEVEL_ENHANCE,
    latest_version: "v1.0.0",
    description: "Kubernetes keeps events for an hour only. This add-on ships every event of the cluster to Elasticsearch (or a CLS log topic) so that they can be searched later.",
    compatible_cluster_types: &["Baremetal", "Imported", "Edge"],
};

const SCHEMES: &[&str] = &["http", "https"];

/// The desired persistent-event add-on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PersistentEventSpec {
    #[serde(flatten)]
    pub addon: AddonSpec,
    /// Where events are stored: `es` or `cls`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistent_back_end: Option<PersistentBackEnd>,
}

/// The store of events; exactly one of `es` and `cls`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PersistentBackEnd {
    /// A CLS log topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cls: Option<StorageBackEndCls>,
    /// An Elasticsearch index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub es: Option<StorageBackEndEs>,
}

/// A CLS log topic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StorageBackEndCls {
    /// Log set id.
    #[serde(rename = "logSetID", default)]
    pub log_set_id: String,
    /// Topic id.
    #[serde(rename = "topicID", default)]
    pub topic_id: String,
}

/// An Elasticsearch index.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageBackEndEs {
    /// Host name or IP of Elasticsearch.
    #[serde(default)]
    pub ip: String,
    /// Port of Elasticsearch.
    #[serde(default)]
    pub port: i64,
    /// `http` or `https`.
    #[serde(default)]
    pub scheme: String,
    /// Index the events are written to.
    #[serde(default)]
    pub index_name: String,
    /// User for basic authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Password for basic authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Days events are kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserve_days: Option<i64>,
}

impl AddonSpecFields for PersistentEventSpec {
    fn addon(&self) -> &AddonSpec {
        &self.addon
    }
    fn addon_mut(&mut self) -> &mut AddonSpec {
        &mut self.addon
    }
    fn validate_extra(&self, errs: &mut Vec<FieldError>) {
        let Some(b) = &self.persistent_back_end else {
            errs.push(FieldError::required("spec.persistentBackEnd", "where to store events: es or cls"));
            return;
        };
        match (&b.es, &b.cls) {
            (None, None) => {
                errs.push(FieldError::required("spec.persistentBackEnd", "where to store events: es or cls"))
            }
            (Some(_), Some(_)) => {
                errs.push(FieldError::forbidden("spec.persistentBackEnd", "set either es or cls, not both"))
            }
            (Some(es), None) => {
                if es.ip.is_empty() {
                    errs.push(FieldError::required("spec.persistentBackEnd.es.ip", "the host of Elasticsearch"));
                }
                check_port("spec.persistentBackEnd.es.port", es.port, errs);
                if !SCHEMES.contains(&es.scheme.as_str()) {
                    errs.push(FieldError::not_supported("spec.persistentBackEnd.es.scheme", &es.scheme, SCHEMES));
                }
                if es.index_name.is_empty() {
                    errs.push(FieldError::required("spec.persistentBackEnd.es.indexName", ""));
                }
                if let Some(d) = es.reserve_days
                    && d < 1
                {
                    errs.push(FieldError::invalid("spec.persistentBackEnd.es.reserveDays", d, "must be at least 1"));
                }
            }
            (None, Some(cls)) => {
                if cls.log_set_id.is_empty() {
                    errs.push(FieldError::required("spec.persistentBackEnd.cls.logSetID", ""));
                }
                if cls.topic_id.is_empty() {
                    errs.push(FieldError::required("spec.persistentBackEnd.cls.topicID", ""));
                }
            }
        }
    }
}

addon_object!(
    /// The persistent-event add-on of one cluster.
    PersistentEvent,
    PersistentEventSpec,
    AddonStatus,
    INFO
);
