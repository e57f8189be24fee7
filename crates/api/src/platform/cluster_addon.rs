//! `ClusterAddon`: the rows of `clusters/{name}/addons`, synthesized from the add-on objects
//! of a cluster (not a stored resource). Each row says which add-on kind is installed, its
//! catalogue level, the wanted version and the observed state.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::API_VERSION;
use super::addon::info;
use super::common::ObjectMeta;

pub const KIND: &str = "ClusterAddon";

/// An add-on installed in a cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterAddon {
    /// `platform.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `ClusterAddon`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Metadata of the add-on object the row stands for.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// What is installed.
    #[serde(default)]
    pub spec: ClusterAddonSpec,
    /// How the installation is doing.
    #[serde(default)]
    pub status: ClusterAddonStatus,
}

/// What is installed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterAddonSpec {
    /// The add-on kind (`PersistentEvent`).
    #[serde(rename = "type", default)]
    pub type_: String,
    /// `Basic` or `Enhance`.
    #[serde(default)]
    pub level: String,
    /// The wanted version.
    #[serde(default)]
    pub version: String,
}

/// How the installation is doing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterAddonStatus {
    /// The installed version.
    #[serde(default)]
    pub version: String,
    /// Phase of the add-on object.
    #[serde(default)]
    pub phase: String,
    /// Reason of the phase.
    #[serde(default)]
    pub reason: String,
}

/// The row for a stored add-on object of `kind`, or None if `kind` is not an add-on kind.
pub fn from_addon_object(kind: &str, obj: &Value) -> Option<ClusterAddon> {
    let info = info(kind)?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    let meta = obj.get("metadata");
    let mut metadata = json!({});
    for f in ["name", "uid", "creationTimestamp", "resourceVersion", "labels", "annotations"] {
        if let Some(v) = meta.and_then(|m| m.get(f)) {
            metadata[f] = v.clone();
        }
    }
    let spec = obj.get("spec");
    let status = obj.get("status");
    Some(ClusterAddon {
        api_version: Some(API_VERSION.into()),
        kind: Some(KIND.into()),
        metadata,
        spec: ClusterAddonSpec {
            type_: info.kind.into(),
            level: info.level.into(),
            version: text(spec.and_then(|s| s.get("version"))),
        },
        status: ClusterAddonStatus {
            version: text(status.and_then(|s| s.get("version"))),
            phase: text(status.and_then(|s| s.get("phase"))),
            reason: text(status.and_then(|s| s.get("reason"))),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_from_add_on_objects() {
        let pe = json!({"metadata": {"name": "pe-a", "uid": "u", "managedFields": []},
            "spec": {"clusterName": "cls-a", "version": "v1.0.0"}, "status": {"phase": "Failed", "reason": "Install error and retried max(5) times already."}});
        let row = from_addon_object("PersistentEvent", &pe).unwrap();
        assert_eq!(row.metadata, json!({"name": "pe-a", "uid": "u"}));
        assert_eq!(
            (row.spec.type_.as_str(), row.spec.level.as_str(), row.spec.version.as_str()),
            ("PersistentEvent", "Enhance", "v1.0.0")
        );
        assert_eq!(row.status.phase, "Failed");
        assert!(row.status.reason.contains("max(5)"));
        assert!(from_addon_object("Cluster", &pe).is_none());
    }
}
