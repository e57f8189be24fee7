//! `ChartGroup` (cluster-scoped): a Helm chart repository of a tenant (`/chart/{tenant}/{name}`).
//! Created `Pending` with the `chartgroup` finalizer; deleting it sets `Terminating` and keeps
//! it until the registry has removed its charts and cleared `spec.finalizers`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, meta_str};
#[cfg(feature = "server")]
use {
    super::common::{self, CHART_VISIBILITIES, visibility},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

pub const KIND: &str = "ChartGroup";
pub const GENERATE_NAME: &str = "cg-";
pub const FINALIZER: &str = "chartgroup";

/// Kinds of chart groups (`spec.type`).
pub mod repo_type {
    /// Charts uploaded to this registry.
    pub const SELF_BUILT: &str = "SelfBuilt";
    /// An external chart repository (`spec.importedInfo`), indexed on `repoupdating`.
    pub const IMPORTED: &str = "Imported";
    /// Created by the platform for every tenant; always `Public`.
    pub const SYSTEM: &str = "System";
    /// Legacy project repository (migrated to `SelfBuilt`).
    pub const PROJECT: &str = "project";
    /// Legacy personal repository (migrated to `SelfBuilt`).
    pub const PERSONAL: &str = "personal";
}
pub const REPO_TYPES: &[&str] =
    &[repo_type::SELF_BUILT, repo_type::IMPORTED, repo_type::SYSTEM, repo_type::PROJECT, repo_type::PERSONAL];

/// Phases of a chart group (`status.phase`).
pub mod phase {
    pub const PENDING: &str = "Pending";
    pub const AVAILABLE: &str = "Available";
    pub const FAILED: &str = "Failed";
    pub const TERMINATING: &str = "Terminating";
}

/// A chart repository.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChartGroup {
    /// `registry.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `ChartGroup`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; names are generated with the prefix `cg-` when empty. The
    /// object's name is the Kubernetes namespace of the group's Chart objects.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// The chart group.
    #[serde(default)]
    pub spec: ChartGroupSpec,
    /// The observed state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ChartGroupStatus>,
}

/// The desired chart group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChartGroupSpec {
    /// The name in chart paths (`/chart/{tenant}/{name}`): a DNS label, unique in the tenant.
    /// Cannot be changed.
    #[serde(default)]
    pub name: String,
    /// Tenant owning the group; set from the caller, cannot be changed.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Name shown in the console.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `Public` (everyone), `User` (`spec.users`), `Project` (members of `spec.projects`) or
    /// `Private`; defaults to `Private`.
    #[serde(default)]
    pub visibility: String,
    /// `SelfBuilt`, `Imported` or `System` (legacy `project`, `personal`); defaults to
    /// `SelfBuilt`. Cannot be changed.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Projects whose members may use the group (visibility `Project`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projects: Option<Vec<String>>,
    /// Finalizers that must be cleared (through `finalize`) before a deleted group is removed.
    /// Set to `["chartgroup"]` by the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finalizers: Option<Vec<String>>,
    /// Users who may use the group (visibility `User`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<String>>,
    /// The external repository of an `Imported` group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imported_info: Option<ChartGroupImport>,
    /// User who created the group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
}

/// Where an imported chart repository is and how to log in.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChartGroupImport {
    /// URL of the repository (its `index.yaml` is under it).
    #[serde(default)]
    pub addr: String,
    /// User name for the repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password for the repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// The observed state of a chart group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChartGroupStatus {
    /// A locked group refuses uploads and downloads of everyone but administrators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    /// Number of charts in the group.
    #[serde(default)]
    pub chart_count: i64,
    /// `Pending`, `Available`, `Failed` or `Terminating`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// When the phase last changed (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// One-word reason of the current phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable details of the current phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ChartGroup {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    pub fn phase(&self) -> &str {
        self.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
    }
}

/// The create/update/delete rules of chart groups.
#[cfg(feature = "server")]
pub struct ChartGroupStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<ChartGroup> for ChartGroupStrategy {
    fn prepare_for_create(&self, ctx: &Context, g: &mut ChartGroup) -> Result<(), ApiError> {
        g.spec.tenant_id = Some(common::tenant_for_create(ctx, g.spec.tenant_id.as_deref()));
        common::default_generate_name(&mut g.metadata, GENERATE_NAME);
        if g.spec.type_.is_empty() {
            g.spec.type_ = repo_type::SELF_BUILT.into();
        }
        if g.spec.visibility.is_empty() {
            g.spec.visibility =
                if g.spec.type_ == repo_type::SYSTEM { visibility::PUBLIC } else { visibility::PRIVATE }.into();
        }
        if g.spec.creator.as_deref().unwrap_or("").is_empty() && !ctx.user.name.is_empty() {
            g.spec.creator = Some(ctx.user.name.clone());
        }
        g.spec.finalizers = Some(vec![FINALIZER.to_string()]);
        g.status = Some(ChartGroupStatus { phase: Some(phase::PENDING.into()), ..Default::default() });
        Ok(())
    }

    fn validate(&self, _ctx: &Context, g: &ChartGroup) -> Vec<FieldError> {
        let mut errs = vec![];
        let s = &g.spec;
        common::check_label("spec.name", &s.name, "chart group", &mut errs);
        common::check_visibility("spec.visibility", &s.visibility, CHART_VISIBILITIES, &mut errs);
        if !REPO_TYPES.contains(&s.type_.as_str()) {
            errs.push(FieldError::not_supported("spec.type", &s.type_, REPO_TYPES));
        }
        if s.type_ == repo_type::SYSTEM && s.visibility != visibility::PUBLIC {
            errs.push(FieldError::invalid("spec.visibility", &s.visibility, "a System chart group must be Public"));
        }
        if s.type_ == repo_type::IMPORTED {
            match &s.imported_info {
                Some(i) if crate::platform::common::is_http_url(&i.addr) => {}
                Some(i) if !i.addr.is_empty() => {
                    errs.push(FieldError::invalid("spec.importedInfo.addr", &i.addr, "must be an http(s):// URL"))
                }
                _ => errs.push(FieldError::required(
                    "spec.importedInfo.addr",
                    "an Imported chart group needs the URL of the repository",
                )),
            }
        }
        errs
    }

    fn prepare_for_update(&self, _ctx: &Context, new: &mut ChartGroup, old: &ChartGroup) -> Result<(), ApiError> {
        // Status is written through /status, finalizers through /finalize.
        new.status = old.status.clone();
        new.spec.finalizers = old.spec.finalizers.clone();
        Ok(())
    }

    fn validate_update(&self, ctx: &Context, new: &ChartGroup, old: &ChartGroup) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        let (n, o) = (&new.spec, &old.spec);
        common::check_tenant_unchanged("spec.tenantID", n.tenant_id.as_deref(), o.tenant_id.as_deref(), &mut errs);
        common::check_immutable("spec.name", &n.name, &o.name, &mut errs);
        common::check_immutable("spec.type", &n.type_, &o.type_, &mut errs);
        errs
    }

    fn prepare_for_delete(&self, _ctx: &Context, g: &ChartGroup) -> Option<ChartGroup> {
        let mut kept = g.clone();
        kept.status.get_or_insert_with(Default::default).phase = Some(phase::TERMINATING.into());
        Some(kept)
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "chartgroups",
        singular: "chartgroup",
        short_names: &[],
        categories: &["tkestack"],
        namespaced: false,
        verbs: Verbs::ALL,
        subresources: Subresources { status: true, finalize: true },
        columns: vec![],
        field_selectors: &["spec.tenantID", "spec.name", "spec.type", "spec.visibility", "status.phase"],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<ChartGroup>,
        strategy: typed::<ChartGroup, _>(ChartGroupStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::common::test_ctx;
    use serde_json::json;

    #[test]
    fn create_sets_type_visibility_finalizer_and_phase() {
        let ctx = test_ctx("t1", false);
        let mut g: ChartGroup = serde_json::from_value(json!({"spec": {"name": "charts"}})).unwrap();
        ChartGroupStrategy.prepare_for_create(&ctx, &mut g).unwrap();
        assert_eq!((g.spec.type_.as_str(), g.spec.visibility.as_str(), g.phase()), ("SelfBuilt", "Private", "Pending"));
        assert_eq!(g.spec.finalizers, Some(vec!["chartgroup".to_string()]));
        assert_eq!((g.spec.creator.as_deref(), g.spec.tenant_id.as_deref()), (Some("alice"), Some("t1")));
        assert!(ChartGroupStrategy.validate(&ctx, &g).is_empty());
        let kept = ChartGroupStrategy.prepare_for_delete(&ctx, &g).unwrap();
        assert_eq!(kept.phase(), "Terminating");
    }

    #[test]
    fn system_groups_are_public_and_imported_groups_need_an_address() {
        let ctx = test_ctx("t1", false);
        let g: ChartGroup =
            serde_json::from_value(json!({"spec": {"name": "sys", "type": "System", "visibility": "Private"}}))
                .unwrap();
        let errs = ChartGroupStrategy.validate(&ctx, &g);
        assert_eq!(errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), vec!["spec.visibility"]);
        let g: ChartGroup = serde_json::from_value(json!({"spec": {"name": "up", "type": "Imported", "visibility": "Public", "importedInfo": {"addr": "ftp://x"}}})).unwrap();
        let errs = ChartGroupStrategy.validate(&ctx, &g);
        assert_eq!(errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), vec!["spec.importedInfo.addr"]);
    }
}
