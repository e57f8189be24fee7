//! `LocalGroup` (`grp`, cluster-scoped): a group of users of a `tke` tenant. Members are bound
//! through the `binding`/`unbinding` subresources and listed in `status.users`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::identity::{ObjectMeta, Subject, meta_str};
#[cfg(feature = "server")]
use {
    super::identity::{check_text, default_generate_name, phase, tenant_for_create},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

pub const KIND: &str = "LocalGroup";
pub const GENERATE_NAME: &str = "grp-";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalGroup {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; names are generated with the prefix `grp-` when empty.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    #[serde(default)]
    pub spec: LocalGroupSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<LocalGroupStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalGroupSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
    #[serde(default)]
    pub display_name: String,
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The user who created the group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalGroupStatus {
    /// `Active`, or `Terminating` while the group's bindings are removed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phase: String,
    /// The members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<Subject>,
}

impl LocalGroup {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    pub fn tenant(&self) -> &str {
        self.spec.tenant_id.as_deref().unwrap_or("")
    }
    pub fn members(&self) -> &[Subject] {
        self.status.as_ref().map(|s| s.users.as_slice()).unwrap_or_default()
    }
}

impl crate::platform::common::TenantOwned for LocalGroup {
    fn tenant_id(&self) -> Option<&str> {
        self.spec.tenant_id.as_deref()
    }
}

#[cfg(feature = "server")]
pub struct LocalGroupStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<LocalGroup> for LocalGroupStrategy {
    fn prepare_for_create(&self, ctx: &Context, g: &mut LocalGroup) -> Result<(), ApiError> {
        g.spec.tenant_id = Some(tenant_for_create(ctx, g.spec.tenant_id.as_deref()));
        default_generate_name(&mut g.metadata, GENERATE_NAME);
        if g.spec.username.is_empty() {
            g.spec.username = ctx.user.name.clone();
        }
        g.status = Some(LocalGroupStatus { phase: phase::ACTIVE.into(), users: vec![] });
        Ok(())
    }

    fn validate(&self, _ctx: &Context, g: &LocalGroup) -> Vec<FieldError> {
        let mut errs = vec![];
        if g.spec.display_name.trim().is_empty() {
            errs.push(FieldError::required("spec.displayName", "a group needs a display name"));
        }
        check_text("spec.displayName", &g.spec.display_name, 128, &mut errs);
        check_text("spec.description", &g.spec.description, 1024, &mut errs);
        errs
    }

    fn validate_update(&self, ctx: &Context, new: &LocalGroup, old: &LocalGroup) -> Vec<FieldError> {
        crate::platform::common::validate_tenant_update(self, ctx, new, old)
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "localgroups",
        singular: "localgroup",
        short_names: &["grp"],
        categories: &["tkestack"],
        namespaced: false,
        verbs: Verbs::ALL,
        subresources: Subresources { status: true, finalize: true },
        columns: vec![
            Column::new("Display Name", "string", ".spec.displayName", "The group's name."),
            Column::new("Tenant", "string", ".spec.tenantID", "The tenant of the group.").wide(),
            Column::new("Status", "string", ".status.phase", "Active or Terminating."),
            Column::age(),
        ],
        field_selectors: &["spec.tenantID", "spec.username"],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<LocalGroup>,
        strategy: typed::<LocalGroup, _>(LocalGroupStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::common::test_ctx;
    use serde_json::json;

    #[test]
    fn create_and_validate() {
        let ctx = test_ctx("t1", false);
        let mut g: LocalGroup = serde_json::from_value(json!({"spec": {"displayName": "Ops"}})).unwrap();
        LocalGroupStrategy.prepare_for_create(&ctx, &mut g).unwrap();
        assert_eq!((g.tenant(), g.spec.username.as_str()), ("t1", "alice"));
        assert_eq!(g.status.as_ref().map(|s| s.phase.as_str()), Some("Active"));
        assert!(LocalGroupStrategy.validate(&ctx, &g).is_empty());
        g.spec.display_name = " ".into();
        let fields: Vec<String> = LocalGroupStrategy.validate(&ctx, &g).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["spec.displayName"]);
    }
}
