//! `ImageNamespace` (`imagenamespaces`, in the Kubernetes namespace named after its project): a project's image namespace, mirrored as the registry Namespace of the same name in the project's tenant.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, ProjectItemSpec, ProjectItemStatus, meta_str};
#[cfg(feature = "server")]
use {
    super::common::{finalizer, project_item},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

pub const KIND: &str = "ImageNamespace";

/// A project's image namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageNamespace {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; the namespace is the project.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    #[serde(default)]
    pub spec: ProjectItemSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ProjectItemStatus>,
}

impl ImageNamespace {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    /// The project (the object's Kubernetes namespace).
    pub fn project(&self) -> &str {
        meta_str(&self.metadata, "namespace")
    }
    pub fn tenant(&self) -> &str {
        self.spec.tenant_id.as_deref().unwrap_or("")
    }
}

#[cfg(feature = "server")]
pub struct ImageNamespaceStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<ImageNamespace> for ImageNamespaceStrategy {
    fn prepare_for_create(&self, ctx: &Context, o: &mut ImageNamespace) -> Result<(), ApiError> {
        project_item::prepare_for_create(ctx, &mut o.spec, &mut o.status, finalizer::IMAGE_NAMESPACE)
    }

    fn validate(&self, _ctx: &Context, o: &ImageNamespace) -> Vec<FieldError> {
        project_item::validate(&o.spec, "image namespace")
    }

    fn validate_update(&self, _ctx: &Context, new: &ImageNamespace, old: &ImageNamespace) -> Vec<FieldError> {
        project_item::validate_update(&new.spec, &old.spec, "image namespace")
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "imagenamespaces",
        singular: "imagenamespace",
        short_names: &["ins"],
        categories: &["tkestack"],
        namespaced: true,
        verbs: Verbs::ALL,
        subresources: Subresources { status: true, finalize: true },
        columns: vec![
            Column::new("Registry Name", "string", ".spec.name", "The name in the registry."),
            Column::new("Status", "string", ".status.phase", "Lifecycle phase."),
            Column::age(),
        ],
        field_selectors: &["spec.tenantID", "spec.name"],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<ImageNamespace>,
        strategy: typed::<ImageNamespace, _>(ImageNamespaceStrategy),
    }
}
