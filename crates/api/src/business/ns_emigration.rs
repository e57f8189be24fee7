//! `NsEmigration` (`nse`, in the Kubernetes namespace of the project the namespace leaves): the
//! move of a business Namespace to another project, through the phases of reference 4.3. At
//! every moment the namespace belongs to exactly one project, or is `Locked` with the
//! emigration named.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, meta_str};
#[cfg(feature = "server")]
use {
    super::common::{self, emigration_phase},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

pub const KIND: &str = "NsEmigration";
pub const GENERATE_NAME: &str = "nse-";

/// A move of a namespace to another project.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NsEmigration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; the namespace is the project the namespace leaves.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    #[serde(default)]
    pub spec: NsEmigrationSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<NsEmigrationStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NsEmigrationSpec {
    /// Tenant; set from the caller, cannot be changed.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The business Namespace object that moves (`{cluster}-{namespace}`).
    #[serde(default)]
    pub namespace: String,
    /// The namespace's name in its cluster.
    #[serde(default)]
    pub ns_show_name: String,
    /// The project it moves to.
    #[serde(default)]
    pub destination: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NsEmigrationStatus {
    /// `Pending`, `OldOneLocked`, `OldOneDetached`, `NewOneCreated`, `OldOneTerminating`,
    /// `Finished` or `Failed`.
    #[serde(default)]
    pub phase: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl NsEmigration {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    /// The project the namespace leaves.
    pub fn source(&self) -> &str {
        meta_str(&self.metadata, "namespace")
    }
    pub fn tenant(&self) -> &str {
        self.spec.tenant_id.as_deref().unwrap_or("")
    }
    pub fn phase(&self) -> &str {
        self.status.as_ref().map_or("", |s| s.phase.as_str())
    }
}

#[cfg(feature = "server")]
pub struct NsEmigrationStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<NsEmigration> for NsEmigrationStrategy {
    fn prepare_for_create(&self, ctx: &Context, e: &mut NsEmigration) -> Result<(), ApiError> {
        e.spec.tenant_id = Some(common::tenant_for_create(ctx, e.spec.tenant_id.as_deref()));
        common::default_generate_name(&mut e.metadata, GENERATE_NAME);
        e.status = Some(NsEmigrationStatus { phase: emigration_phase::PENDING.into(), ..Default::default() });
        Ok(())
    }

    fn validate(&self, ctx: &Context, e: &NsEmigration) -> Vec<FieldError> {
        let mut errs = vec![];
        if e.spec.namespace.is_empty() {
            errs.push(FieldError::required(
                "spec.namespace",
                "name the business Namespace to move ({cluster}-{namespace})",
            ));
        }
        if e.spec.destination.is_empty() {
            errs.push(FieldError::required("spec.destination", "name the project to move the namespace to"));
        } else if ctx.namespace.as_deref() == Some(e.spec.destination.as_str()) {
            errs.push(FieldError::invalid(
                "spec.destination",
                &e.spec.destination,
                "is the project the namespace is in already; name another project",
            ));
        }
        errs
    }

    fn validate_update(&self, _ctx: &Context, new: &NsEmigration, old: &NsEmigration) -> Vec<FieldError> {
        let mut errs = vec![];
        common::check_tenant_unchanged(
            "spec.tenantID",
            new.spec.tenant_id.as_deref(),
            old.spec.tenant_id.as_deref(),
            &mut errs,
        );
        common::check_immutable("spec.namespace", &new.spec.namespace, &old.spec.namespace, &mut errs);
        common::check_immutable("spec.nsShowName", &new.spec.ns_show_name, &old.spec.ns_show_name, &mut errs);
        common::check_immutable("spec.destination", &new.spec.destination, &old.spec.destination, &mut errs);
        errs
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "nsemigrations",
        singular: "nsemigration",
        short_names: &["nse"],
        categories: &["tkestack"],
        namespaced: true,
        verbs: Verbs::ALL,
        subresources: Subresources { status: true, finalize: false },
        columns: vec![
            Column::new("Namespace", "string", ".spec.namespace", "The business Namespace that moves."),
            Column::new("Destination", "string", ".spec.destination", "The project it moves to."),
            Column::new("Status", "string", ".status.phase", "Phase of the move."),
            Column::age(),
        ],
        field_selectors: &["spec.tenantID", "spec.namespace", "spec.destination", "status.phase"],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<NsEmigration>,
        strategy: typed::<NsEmigration, _>(NsEmigrationStrategy),
    }
}
