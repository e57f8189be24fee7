//! `ReceiverGroup` (`recvgrp`, cluster-scoped, names `rg-…`): receivers addressed together.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, meta_str};
use crate::auth::common::null_as_default;
#[cfg(feature = "server")]
use {
    super::common,
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, TypedStrategy},
};

pub const KIND: &str = "ReceiverGroup";
pub const GENERATE_NAME: &str = "rg-";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverGroup {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    #[serde(default)]
    pub spec: ReceiverGroupSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverGroupSpec {
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub display_name: String,
    /// Names of receivers.
    #[serde(default, deserialize_with = "null_as_default")]
    pub receivers: Vec<String>,
}

impl ReceiverGroup {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    pub fn tenant(&self) -> &str {
        self.spec.tenant_id.as_deref().unwrap_or("")
    }
}

impl crate::platform::common::TenantOwned for ReceiverGroup {
    fn tenant_id(&self) -> Option<&str> {
        self.spec.tenant_id.as_deref()
    }
}

#[cfg(feature = "server")]
pub struct ReceiverGroupStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<ReceiverGroup> for ReceiverGroupStrategy {
    fn prepare_for_create(&self, ctx: &Context, g: &mut ReceiverGroup) -> Result<(), ApiError> {
        g.spec.tenant_id = Some(common::tenant_for_create(ctx, g.spec.tenant_id.as_deref()));
        common::default_generate_name(&mut g.metadata, GENERATE_NAME);
        Ok(())
    }

    fn validate(&self, _ctx: &Context, g: &ReceiverGroup) -> Vec<FieldError> {
        let mut errs = vec![];
        common::check_display_name(&g.spec.display_name, &mut errs);
        for (i, r) in g.spec.receivers.iter().enumerate() {
            if r.trim().is_empty() {
                errs.push(FieldError::required(format!("spec.receivers[{i}]"), "a receiver's name"));
            }
        }
        errs
    }

    fn validate_update(&self, ctx: &Context, new: &ReceiverGroup, old: &ReceiverGroup) -> Vec<FieldError> {
        crate::platform::common::validate_tenant_update(self, ctx, new, old)
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        short_names: &["recvgrp"],
        columns: vec![
            Column::new("Display Name", "string", ".spec.displayName", "Name shown in the console."),
            Column::age(),
        ],
        field_selectors: &["spec.tenantID"],
        ..common::tenant_scoped(GROUP, VERSION, KIND, "receivergroups", "receivergroup", ReceiverGroupStrategy)
    }
}
