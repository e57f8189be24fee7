//! `Portal` (`pt`, virtual, get-only): what the console asks right after login — whether the
//! caller administers the platform (or their tenant), and the projects they belong to. Nothing
//! of it is stored; the business component answers `GET portal` per caller.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::ObjectMeta;
#[cfg(feature = "server")]
use {
    super::{GROUP, VERSION},
    apimachinery::ApiError,
    apiserver::{Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

pub const KIND: &str = "Portal";

/// The caller's view of the platform.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Portal {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// Whether the caller administers the platform or their tenant.
    #[serde(default)]
    pub administrator: bool,
    /// The caller's projects: id to display name.
    #[serde(default)]
    pub projects: BTreeMap<String, String>,
    /// More about each project: id to phase and parent.
    #[serde(default)]
    pub extension: BTreeMap<String, PortalProject>,
}

/// A project as the portal shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortalProject {
    #[serde(default)]
    pub phase: String,
    #[serde(default)]
    pub parent: String,
}

/// Nothing of the portal is written.
#[cfg(feature = "server")]
pub struct PortalStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<Portal> for PortalStrategy {
    fn prepare_for_create(&self, _ctx: &Context, _p: &mut Portal) -> Result<(), ApiError> {
        Err(ApiError::method_not_allowed("the portal is computed for each caller; it cannot be written"))
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "portal",
        singular: "portal",
        short_names: &["pt"],
        categories: &[],
        namespaced: false,
        verbs: Verbs::READ_ONLY,
        subresources: Subresources::default(),
        columns: vec![],
        field_selectors: &[],
        tenant_field: None,
        static_objects: None,
        schema: schema_of::<Portal>,
        strategy: typed::<Portal, _>(PortalStrategy),
    }
}
