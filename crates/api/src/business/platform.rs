//! `Platform` (`plf`, cluster-scoped): a tenant's platform administrators, kept in step with the
//! tenant IdentityProvider's `spec.administrators` by the business controllers.

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
    apiserver::{Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

pub const KIND: &str = "Platform";
pub const GENERATE_NAME: &str = "plat-";

/// The administrators of a tenant's platform.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Platform {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    #[serde(default)]
    pub spec: PlatformSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformSpec {
    /// Tenant; set from the caller, cannot be changed.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// User names of the tenant's administrators.
    #[serde(default, deserialize_with = "null_as_default")]
    pub administrators: Vec<String>,
}

impl Platform {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    pub fn tenant(&self) -> &str {
        self.spec.tenant_id.as_deref().unwrap_or("")
    }
}

impl crate::platform::common::TenantOwned for Platform {
    fn tenant_id(&self) -> Option<&str> {
        self.spec.tenant_id.as_deref()
    }
}

#[cfg(feature = "server")]
pub struct PlatformStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<Platform> for PlatformStrategy {
    fn prepare_for_create(&self, ctx: &Context, p: &mut Platform) -> Result<(), ApiError> {
        crate::auth::common::require_admin(
            ctx,
            "platforms",
            p.name(),
            "tenant administrators are set by administrators;",
        )?;
        p.spec.tenant_id = Some(common::tenant_for_create(ctx, p.spec.tenant_id.as_deref()));
        common::default_generate_name(&mut p.metadata, GENERATE_NAME);
        Ok(())
    }

    fn validate(&self, _ctx: &Context, p: &Platform) -> Vec<FieldError> {
        let mut errs = vec![];
        for (i, a) in p.spec.administrators.iter().enumerate() {
            if a.trim().is_empty() {
                errs.push(FieldError::required(format!("spec.administrators[{i}]"), "an administrator's user name"));
            }
        }
        errs
    }

    fn prepare_for_update(&self, ctx: &Context, new: &mut Platform, _old: &Platform) -> Result<(), ApiError> {
        crate::auth::common::require_admin(
            ctx,
            "platforms",
            new.name(),
            "tenant administrators are set by administrators;",
        )
    }

    fn validate_update(&self, ctx: &Context, new: &Platform, old: &Platform) -> Vec<FieldError> {
        crate::platform::common::validate_tenant_update(self, ctx, new, old)
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "platforms",
        singular: "platform",
        short_names: &["plf"],
        categories: &["tkestack"],
        namespaced: false,
        verbs: Verbs::ALL,
        subresources: Subresources::default(),
        columns: vec![],
        field_selectors: &["spec.tenantID"],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<Platform>,
        strategy: typed::<Platform, _>(PlatformStrategy),
    }
}
