//! Pieces shared by the business kinds: resource lists (quotas), phases, the labels put on the
//! Kubernetes namespaces of business clusters, finalizer names.

use std::collections::BTreeMap;

#[cfg(feature = "server")]
pub use crate::platform::common::tenant_for_create;
pub use crate::platform::common::{
    ObjectMeta, TenantOwned, check_immutable, check_tenant_unchanged, default_generate_name, meta_str,
};
#[cfg(feature = "server")]
pub use crate::platform::common::{tenant_scoped, validate_tenant_update};

/// Quantities by resource name (`cpu`, `memory`, `requests.cpu`, `pods`…), as in a Kubernetes
/// ResourceQuota's `hard` and `used`.
pub type ResourceList = BTreeMap<String, String>;

/// Label on a business cluster's namespace: the project it belongs to.
pub const PROJECT_LABEL: &str = "tkestack.io/projectName";
/// Label on a business cluster's namespace: the business Namespace object it is.
pub const NAMESPACE_LABEL: &str = "tkestack.io/namespaceName";

/// Annotation on a business Namespace that is moving to another project, set by the
/// emigration once the namespace's new object exists in the destination (value: the
/// destination project): from then on the quota is counted there and not in the old project.
pub const MOVED_TO_ANNOTATION: &str = "business.tkestack.io/moved-to";

/// Annotation on a business Namespace that is moving: the NsEmigration (`{project}/{name}`)
/// that locked it.
pub const EMIGRATION_ANNOTATION: &str = "business.tkestack.io/emigration";

/// Namespaces of a business cluster that are never handed to a project.
pub const RESERVED_NAMESPACES: &[&str] = &["kube-system", "kube-public", "kube-node-lease"];

/// `spec.finalizers` entries (TKEStack's names): the object stays until its controller has
/// undone what it did outside the object.
pub mod finalizer {
    pub const PROJECT: &str = "project";
    pub const NAMESPACE: &str = "namespace";
    pub const IMAGE_NAMESPACE: &str = "imagenamespace";
    pub const CHART_GROUP: &str = "chartgroup";
}

/// Phases of projects (`status.phase`).
pub mod project_phase {
    pub const PENDING: &str = "Pending";
    pub const ACTIVE: &str = "Active";
    pub const FAILED: &str = "Failed";
    pub const TERMINATING: &str = "Terminating";
}

/// Phases of namespaces, image namespaces and chart groups (`status.phase`).
pub mod phase {
    pub const PENDING: &str = "Pending";
    pub const AVAILABLE: &str = "Available";
    pub const LOCKED: &str = "Locked";
    pub const FAILED: &str = "Failed";
    pub const TERMINATING: &str = "Terminating";
}

/// Phases of namespace emigrations (`status.phase`), in the order they are passed.
pub mod emigration_phase {
    pub const PENDING: &str = "Pending";
    pub const OLD_ONE_LOCKED: &str = "OldOneLocked";
    pub const OLD_ONE_DETACHED: &str = "OldOneDetached";
    pub const NEW_ONE_CREATED: &str = "NewOneCreated";
    pub const OLD_ONE_TERMINATING: &str = "OldOneTerminating";
    pub const FINISHED: &str = "Finished";
    pub const FAILED: &str = "Failed";
}

/// Adds the finalizer to `spec.finalizers` unless it is there.
pub fn ensure_finalizer(finalizers: &mut Vec<String>, name: &str) {
    if !finalizers.iter().any(|f| f == name) {
        finalizers.push(name.to_string());
    }
}

#[cfg(all(test, feature = "server"))]
pub use crate::platform::common::test_ctx;

/// The spec of a project's image namespace or chart group.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectItemSpec {
    /// Kept by the server: the object stays until its registry counterpart is deleted.
    #[serde(default, deserialize_with = "crate::auth::common::null_as_default")]
    pub finalizers: Vec<String>,
    /// The name in the registry (a DNS label, unique in the tenant); cannot be changed.
    #[serde(default)]
    pub name: String,
    /// Tenant (the project's); cannot be changed.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub display_name: String,
}

/// The observed image namespace or chart group.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectItemStatus {
    /// `Pending`, `Available`, `Locked`, `Failed` or `Terminating`.
    #[serde(default)]
    pub phase: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The create/update rules shared by image namespaces and chart groups.
#[cfg(feature = "server")]
pub mod project_item {
    use apimachinery::{ApiError, FieldError};
    use apiserver::Context;

    use super::{ProjectItemSpec, ProjectItemStatus, ensure_finalizer, phase, tenant_for_create};

    pub fn prepare_for_create(
        ctx: &Context,
        spec: &mut ProjectItemSpec,
        status: &mut Option<ProjectItemStatus>,
        finalizer: &str,
    ) -> Result<(), ApiError> {
        spec.tenant_id = Some(tenant_for_create(ctx, spec.tenant_id.as_deref()));
        ensure_finalizer(&mut spec.finalizers, finalizer);
        *status = Some(ProjectItemStatus { phase: phase::PENDING.into(), ..Default::default() });
        Ok(())
    }

    pub fn validate(spec: &ProjectItemSpec, what: &str) -> Vec<FieldError> {
        let mut errs = vec![];
        crate::registry::common::check_label("spec.name", &spec.name, what, &mut errs);
        errs
    }

    pub fn validate_update(new: &ProjectItemSpec, old: &ProjectItemSpec, what: &str) -> Vec<FieldError> {
        let mut errs = validate(new, what);
        super::check_tenant_unchanged("spec.tenantID", new.tenant_id.as_deref(), old.tenant_id.as_deref(), &mut errs);
        super::check_immutable("spec.name", &new.name, &old.name, &mut errs);
        errs
    }
}
