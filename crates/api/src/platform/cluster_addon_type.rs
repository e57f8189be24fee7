//! `ClusterAddonType` (`cat`): the static catalogue of add-on kinds a cluster can install
//! (`kubectl get clusteraddontypes`). Served read-only from [`super::addon::ADDONS`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::API_VERSION;
use super::addon::{ADDONS, AddonInfo};
use super::common::ObjectMeta;
#[cfg(feature = "server")]
use {
    super::{GROUP, VERSION},
    apiserver::{Column, ResourceDef, Subresources, Verbs, resource::schema_of},
};

pub const KIND: &str = "ClusterAddonType";

/// One kind of add-on that can be installed into a cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterAddonType {
    /// `platform.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `ClusterAddonType`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; the name is the lower-cased type (`persistentevent`).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// The add-on kind (`PersistentEvent`).
    #[serde(rename = "type", default)]
    pub type_: String,
    /// `Basic` (commonly needed) or `Enhance` (optional extras).
    #[serde(default)]
    pub level: String,
    /// The version installed when an add-on object names none.
    #[serde(default)]
    pub latest_version: String,
    /// What the add-on does (markdown).
    #[serde(default)]
    pub description: String,
    /// Cluster types (`Baremetal`, `Imported`, `Edge`) the add-on can be installed in.
    #[serde(default)]
    pub compatible_cluster_type: Vec<String>,
}

impl From<&AddonInfo> for ClusterAddonType {
    fn from(a: &AddonInfo) -> Self {
        ClusterAddonType {
            api_version: Some(API_VERSION.into()),
            kind: Some(KIND.into()),
            metadata: serde_json::json!({ "name": a.kind.to_ascii_lowercase() }),
            type_: a.kind.into(),
            level: a.level.into(),
            latest_version: a.latest_version.into(),
            description: a.description.into(),
            compatible_cluster_type: a.compatible_cluster_types.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// The catalogue as typed objects.
pub fn catalogue() -> Vec<ClusterAddonType> {
    ADDONS.iter().map(|a| ClusterAddonType::from(*a)).collect()
}

/// The catalogue as the server serves it.
pub fn static_objects() -> Vec<Value> {
    catalogue().iter().filter_map(|t| serde_json::to_value(t).ok()).collect()
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "clusteraddontypes",
        singular: "clusteraddontype",
        short_names: &["cat"],
        categories: &[],
        namespaced: false,
        verbs: Verbs::READ_ONLY,
        subresources: Subresources::default(),
        // The catalogue has no creation time, so the default CREATED AT column would be
        // empty; show what users pick an add-on by instead.
        columns: vec![
            Column::new("Type", "string", ".type", "The add-on kind."),
            Column::new("Level", "string", ".level", "Basic or Enhance."),
            Column::new("Latest Version", "string", ".latestVersion", "Version installed by default."),
        ],
        field_selectors: &["type", "level"],
        tenant_field: None,
        static_objects: Some(static_objects),
        schema: schema_of::<ClusterAddonType>,
        strategy: apiserver::typed::<ClusterAddonType, _>(apiserver::resource::DefaultStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eleven_entries_named_by_lowercased_type() {
        let objs = static_objects();
        assert_eq!(objs.len(), 11);
        let pe = objs.iter().find(|o| o["type"] == "PersistentEvent").unwrap();
        assert_eq!(pe["metadata"]["name"], "persistentevent");
        assert_eq!(pe["level"], "Enhance");
        assert_eq!(pe["kind"], "ClusterAddonType");
        assert_eq!(objs.iter().find(|o| o["type"] == "CSIOperator").unwrap()["level"], "Basic");
        for o in &objs {
            let t: ClusterAddonType = serde_json::from_value(o.clone()).unwrap();
            assert!(!t.latest_version.is_empty() && !t.description.is_empty() && !t.compatible_cluster_type.is_empty());
        }
    }
}
