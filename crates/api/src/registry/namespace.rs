//! `Namespace` (`rns`, cluster-scoped): a tenant's image namespace. Images are pushed as
//! `{namespace}/{repository}:{tag}` where `{namespace}` is `spec.name`; `spec.visibility` says
//! whether anyone may pull (`Public`) or only users of the tenant (`Private`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, meta_str};
#[cfg(feature = "server")]
use {
    super::common::{self, IMAGE_VISIBILITIES, visibility},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

pub const KIND: &str = "Namespace";
pub const GENERATE_NAME: &str = "rns-";

/// An image namespace of a tenant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Namespace {
    /// `registry.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Namespace`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; names are generated with the prefix `rns-` when empty. The
    /// object's name is the Kubernetes namespace of the namespace's Repository objects.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// The namespace.
    #[serde(default)]
    pub spec: NamespaceSpec,
    /// Counters kept by the registry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<NamespaceStatus>,
}

/// The desired namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSpec {
    /// The name in image paths (`{name}/{repository}`): a DNS label, unique in the tenant.
    /// Cannot be changed.
    #[serde(default)]
    pub name: String,
    /// Tenant owning the namespace; set from the caller, cannot be changed.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Name shown in the console.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `Public` (anyone may pull, also without logging in) or `Private` (only users of the
    /// tenant); defaults to `Private`.
    #[serde(default)]
    pub visibility: String,
}

/// The observed state of a namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceStatus {
    /// A locked namespace refuses pushes and pulls of everyone but administrators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    /// Number of repositories in the namespace.
    #[serde(default)]
    pub repo_count: i64,
}

impl Namespace {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    pub fn tenant(&self) -> &str {
        self.spec.tenant_id.as_deref().unwrap_or("")
    }
    pub fn locked(&self) -> bool {
        self.status.as_ref().and_then(|s| s.locked).unwrap_or(false)
    }
}

/// The create/update rules of namespaces.
#[cfg(feature = "server")]
pub struct NamespaceStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<Namespace> for NamespaceStrategy {
    fn prepare_for_create(&self, ctx: &Context, ns: &mut Namespace) -> Result<(), ApiError> {
        ns.spec.tenant_id = Some(common::tenant_for_create(ctx, ns.spec.tenant_id.as_deref()));
        common::default_generate_name(&mut ns.metadata, GENERATE_NAME);
        if ns.spec.visibility.is_empty() {
            ns.spec.visibility = visibility::PRIVATE.into();
        }
        // Counters are the registry's to keep.
        ns.status = Some(NamespaceStatus::default());
        Ok(())
    }

    fn validate(&self, _ctx: &Context, ns: &Namespace) -> Vec<FieldError> {
        let mut errs = vec![];
        common::check_label("spec.name", &ns.spec.name, "namespace", &mut errs);
        common::check_visibility("spec.visibility", &ns.spec.visibility, IMAGE_VISIBILITIES, &mut errs);
        errs
    }

    fn prepare_for_update(&self, _ctx: &Context, new: &mut Namespace, old: &Namespace) -> Result<(), ApiError> {
        if new.spec.visibility.is_empty() {
            new.spec.visibility = old.spec.visibility.clone();
        }
        Ok(())
    }

    fn validate_update(&self, ctx: &Context, new: &Namespace, old: &Namespace) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        common::check_tenant_unchanged(
            "spec.tenantID",
            new.spec.tenant_id.as_deref(),
            old.spec.tenant_id.as_deref(),
            &mut errs,
        );
        common::check_immutable("spec.name", &new.spec.name, &old.spec.name, &mut errs);
        errs
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "namespaces",
        singular: "namespace",
        short_names: &["rns"],
        categories: &["tkestack"],
        namespaced: false,
        verbs: Verbs::ALL,
        subresources: Subresources { status: true, finalize: false },
        columns: vec![],
        field_selectors: &["spec.tenantID", "spec.name", "spec.visibility"],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<Namespace>,
        strategy: typed::<Namespace, _>(NamespaceStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::common::test_ctx;
    use serde_json::json;

    #[test]
    fn create_defaults_and_validation() {
        let ctx = test_ctx("t1", false);
        let mut ns: Namespace =
            serde_json::from_value(json!({"spec": {"name": "team", "tenantID": "other"}, "status": {"repoCount": 9}}))
                .unwrap();
        NamespaceStrategy.prepare_for_create(&ctx, &mut ns).unwrap();
        assert_eq!(
            (ns.metadata["generateName"].as_str(), ns.tenant(), ns.spec.visibility.as_str()),
            (Some("rns-"), "t1", "Private")
        );
        assert_eq!(ns.status.as_ref().map(|s| s.repo_count), Some(0));
        assert!(NamespaceStrategy.validate(&ctx, &ns).is_empty());
        ns.spec.name = "Team_1".into();
        ns.spec.visibility = "Hidden".into();
        let fields: Vec<String> = NamespaceStrategy.validate(&ctx, &ns).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["spec.name", "spec.visibility"]);
    }

    #[test]
    fn name_and_tenant_are_immutable() {
        let ctx = test_ctx("t1", false);
        let mut old: Namespace =
            serde_json::from_value(json!({"spec": {"name": "team", "visibility": "Public"}})).unwrap();
        NamespaceStrategy.prepare_for_create(&ctx, &mut old).unwrap();
        let mut new = old.clone();
        new.spec.name = "other".into();
        new.spec.tenant_id = Some("t2".into());
        new.spec.visibility = String::new();
        NamespaceStrategy.prepare_for_update(&ctx, &mut new, &old).unwrap();
        assert_eq!(new.spec.visibility, "Public");
        let fields: Vec<String> =
            NamespaceStrategy.validate_update(&ctx, &new, &old).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["spec.tenantID", "spec.name"]);
    }
}
