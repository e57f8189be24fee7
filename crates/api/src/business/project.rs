//! `Project` (`prj`, cluster-scoped): a team's slice of business clusters. `spec.clusters` gives
//! the hard quota per cluster; sub-projects (`spec.parentProjectName`) and namespaces take their
//! quotas out of it, and `status.clusters[].used` is what they have taken. `spec.members` are
//! made the project's owners.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, ResourceList, meta_str};
use crate::auth::common::null_as_default;
#[cfg(feature = "server")]
use {
    super::common::{self, finalizer, project_phase},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

pub const KIND: &str = "Project";
pub const GENERATE_NAME: &str = "prj-";

/// A project.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// `business.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Project`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; names are generated with the prefix `prj-` when empty. The
    /// name is the Kubernetes namespace of the project's business Namespaces.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    #[serde(default)]
    pub spec: ProjectSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ProjectStatus>,
}

/// The desired project.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSpec {
    /// Kept by the server: the project stays until its namespaces, sub-projects, image
    /// namespaces and chart groups are gone and its members unbound.
    #[serde(default, deserialize_with = "null_as_default")]
    pub finalizers: Vec<String>,
    /// Tenant owning the project; set from the caller, cannot be changed.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Name shown in the console (required).
    #[serde(default)]
    pub display_name: String,
    /// Users made owners of the project (names of the tenant's users).
    #[serde(default, deserialize_with = "null_as_default")]
    pub members: Vec<String>,
    /// The parent project, whose quota this one's comes out of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_project_name: Option<String>,
    /// Hard quota per business cluster (cluster name to quota); only these clusters may be used.
    #[serde(default, deserialize_with = "null_as_default")]
    pub clusters: BTreeMap<String, HardQuantity>,
}

/// A quota in one cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HardQuantity {
    #[serde(default, deserialize_with = "null_as_default")]
    pub hard: ResourceList,
}

/// What is taken of a quota in one cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UsedQuantity {
    #[serde(default, deserialize_with = "null_as_default")]
    pub used: ResourceList,
}

/// The observed project.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectStatus {
    /// A locked project refuses new namespaces and sub-projects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    /// `Pending`, `Active`, `Failed` or `Terminating`.
    #[serde(default)]
    pub phase: String,
    /// Quota taken per cluster: the sub-projects' hard quotas plus the namespaces' hard quotas
    /// plus the pending `reservations`. Written only by the business quota admission (which
    /// adds reservations) and its usage controller (which recomputes it from the objects).
    #[serde(default, deserialize_with = "null_as_default")]
    pub clusters: BTreeMap<String, UsedQuantity>,
    /// The sub-projects counted in `clusters`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub calculated_child_projects: Vec<String>,
    /// The namespaces counted in `clusters`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub calculated_namespaces: Vec<String>,
    /// Quota taken out of `clusters` for namespaces and sub-projects being written, before
    /// they are stored (so concurrent writes cannot together exceed the quota). Each is
    /// dropped once its object is stored (and counted) or after a short while if it never is.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub reservations: Vec<Reservation>,
    /// The `spec.clusters` last counted in the parent's usage.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "null_as_default")]
    pub cached_spec_clusters: BTreeMap<String, HardQuantity>,
    /// The parent last counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_parent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Quota reserved in one cluster of a project for an object about to be stored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Reservation {
    /// `namespaces/{name}` (a namespace of the project) or `projects/{name}` (a sub-project).
    #[serde(default)]
    pub object: String,
    /// The cluster whose quota it takes.
    #[serde(default)]
    pub cluster: String,
    /// The object's quota in the cluster once stored.
    #[serde(default, deserialize_with = "null_as_default")]
    pub hard: ResourceList,
    /// When it was made (RFC 3339).
    #[serde(default)]
    pub time: String,
}

impl Project {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    pub fn tenant(&self) -> &str {
        self.spec.tenant_id.as_deref().unwrap_or("")
    }
    pub fn parent(&self) -> Option<&str> {
        self.spec.parent_project_name.as_deref().filter(|p| !p.is_empty())
    }
    pub fn phase(&self) -> &str {
        self.status.as_ref().map_or("", |s| s.phase.as_str())
    }
    pub fn locked(&self) -> bool {
        self.status.as_ref().and_then(|s| s.locked).unwrap_or(false)
    }
}

/// The create/update rules of projects that need no other object (those that do, quotas and
/// ancestry, are the business component's admission).
impl crate::platform::common::TenantOwned for Project {
    fn tenant_id(&self) -> Option<&str> {
        self.spec.tenant_id.as_deref()
    }
}

#[cfg(feature = "server")]
pub struct ProjectStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<Project> for ProjectStrategy {
    fn prepare_for_create(&self, ctx: &Context, p: &mut Project) -> Result<(), ApiError> {
        p.spec.tenant_id = Some(common::tenant_for_create(ctx, p.spec.tenant_id.as_deref()));
        common::default_generate_name(&mut p.metadata, GENERATE_NAME);
        common::ensure_finalizer(&mut p.spec.finalizers, finalizer::PROJECT);
        p.status = Some(ProjectStatus { phase: project_phase::PENDING.into(), ..Default::default() });
        Ok(())
    }

    fn validate(&self, _ctx: &Context, p: &Project) -> Vec<FieldError> {
        let mut errs = vec![];
        if p.spec.display_name.trim().is_empty() {
            errs.push(FieldError::required("spec.displayName", "give the project a name to show"));
        }
        errs
    }

    fn validate_update(&self, ctx: &Context, new: &Project, old: &Project) -> Vec<FieldError> {
        crate::platform::common::validate_tenant_update(self, ctx, new, old)
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "projects",
        singular: "project",
        short_names: &["prj"],
        categories: &["tkestack"],
        namespaced: false,
        verbs: Verbs::ALL,
        subresources: Subresources { status: true, finalize: true },
        columns: vec![
            Column::new("Display Name", "string", ".spec.displayName", "Name shown in the console."),
            Column::new("Parent", "string", ".spec.parentProjectName", "The parent project."),
            Column::new("Status", "string", ".status.phase", "Lifecycle phase of the project."),
            Column::age(),
        ],
        field_selectors: &["spec.tenantID", "spec.parentProjectName", "status.phase"],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<Project>,
        strategy: typed::<Project, _>(ProjectStrategy),
    }
}
