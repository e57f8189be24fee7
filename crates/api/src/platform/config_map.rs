//! `ConfigMap` (`cm`, cluster-scoped): settings of the platform's own components, kept in the
//! platform API group rather than in any cluster.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::ObjectMeta;
#[cfg(feature = "server")]
use {
    super::common::check_base64,
    super::{GROUP, VERSION},
    apimachinery::FieldError,
    apiserver::{Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

pub const KIND: &str = "ConfigMap";

/// Key/value settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMap {
    /// `platform.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `ConfigMap`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// Text values by key. Keys consist of letters, digits, `-`, `_` and `.`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<BTreeMap<String, String>>,
    /// Binary values by key, base64-encoded. A key may not appear in both `data` and
    /// `binaryData`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary_data: Option<BTreeMap<String, String>>,
}

/// A ConfigMap key as Kubernetes allows it: letters, digits, `-`, `_` and `.`, at most 253
/// characters, not `.` or `..`.
pub fn is_config_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k != "."
        && k != ".."
        && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Validation of settings.
#[cfg(feature = "server")]
pub struct ConfigMapStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<ConfigMap> for ConfigMapStrategy {
    fn validate(&self, _ctx: &Context, cm: &ConfigMap) -> Vec<FieldError> {
        let mut errs = vec![];
        for k in cm.data.iter().flat_map(|d| d.keys()) {
            if !is_config_key(k) {
                errs.push(FieldError::invalid(
                    "data",
                    k,
                    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                ));
            }
        }
        for (k, v) in cm.binary_data.iter().flatten() {
            if !is_config_key(k) {
                errs.push(FieldError::invalid(
                    "binaryData",
                    k,
                    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                ));
            }
            if cm.data.as_ref().is_some_and(|d| d.contains_key(k)) {
                errs.push(FieldError::invalid("binaryData", k, "duplicate of key present in data"));
            }
            check_base64(&format!("binaryData[{k}]"), Some(v), &mut errs);
        }
        errs
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "configmaps",
        singular: "configmap",
        short_names: &["cm"],
        categories: &[],
        namespaced: false,
        verbs: Verbs::ALL,
        subresources: Subresources::default(),
        columns: vec![],
        field_selectors: &[],
        tenant_field: None,
        static_objects: None,
        schema: schema_of::<ConfigMap>,
        strategy: typed::<ConfigMap, _>(ConfigMapStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::common::test_ctx;
    use serde_json::json;

    #[test]
    fn keys_and_binary_data_are_checked() {
        let ctx = test_ctx("t1", false);
        let ok: ConfigMap =
            serde_json::from_value(json!({"data": {"a.conf": "x"}, "binaryData": {"b.bin": "AAE="}})).unwrap();
        assert!(ConfigMapStrategy.validate(&ctx, &ok).is_empty());
        let bad: ConfigMap =
            serde_json::from_value(json!({"data": {"a/b": "x", "k": "v"}, "binaryData": {"k": "AAE=", "z": "%%"}}))
                .unwrap();
        let errs = ConfigMapStrategy.validate(&ctx, &bad);
        assert_eq!(
            errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            vec!["data", "binaryData", "binaryData[z]"]
        );
    }
}
