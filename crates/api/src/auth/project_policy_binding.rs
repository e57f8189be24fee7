//! `ProjectPolicyBinding` (`ppb`, cluster-scoped): the users and groups a project-scoped policy
//! applies to inside one project. Named `{projectID}-{policyID}` when no name is given, so a
//! policy is bound once per project. The binding controller writes Casbin `g` rows with the
//! project as domain. Created `Active` with the `projectpolicybinding` finalizer; deleting it
//! sets `Terminating` and keeps it until the controller has removed its rows.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, Subject, meta_str, null_as_default};
#[cfg(feature = "server")]
use {
    super::common::{self, check_subjects, dedup_subjects, finalizer, phase},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
    serde_json::json,
};

pub const KIND: &str = "ProjectPolicyBinding";

/// A binding of a policy inside a project.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectPolicyBinding {
    /// `auth.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `ProjectPolicyBinding`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; the name is `{projectID}-{policyID}` when empty.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// The binding.
    #[serde(default)]
    pub spec: ProjectPolicyBindingSpec,
    /// The phase. TKEStack writes this field as `Status` (its Go type has no JSON name); both
    /// spellings are read, `status` is written.
    #[serde(skip_serializing_if = "Option::is_none", alias = "Status")]
    pub status: Option<BindingStatus>,
}

/// The desired binding.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectPolicyBindingSpec {
    /// Finalizers that must be cleared (through `finalize`) before a deleted binding is removed.
    /// Set to `["projectpolicybinding"]` by the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finalizers: Option<Vec<String>>,
    /// Tenant owning the binding; set from the caller, cannot be changed.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The project (required). Cannot be changed.
    #[serde(rename = "projectID", default)]
    pub project_id: String,
    /// The policy, of scope `project` (required). Cannot be changed.
    #[serde(rename = "policyID", default)]
    pub policy_id: String,
    /// Users the policy applies to in the project.
    #[serde(default, deserialize_with = "null_as_default")]
    pub users: Vec<Subject>,
    /// Groups the policy applies to in the project.
    #[serde(default, deserialize_with = "null_as_default")]
    pub groups: Vec<Subject>,
}

/// The observed state of a binding.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BindingStatus {
    /// `Active` or `Terminating`.
    #[serde(default)]
    pub phase: String,
}

impl ProjectPolicyBinding {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    pub fn tenant(&self) -> &str {
        self.spec.tenant_id.as_deref().unwrap_or("")
    }
    pub fn phase(&self) -> &str {
        self.status.as_ref().map_or("", |s| s.phase.as_str())
    }
}

/// The name of the binding of `policy_id` in `project_id`, as TKEStack names it.
pub fn binding_name(project_id: &str, policy_id: &str) -> String {
    format!("{project_id}-{policy_id}")
}

/// The create/update/delete rules of project policy bindings.
#[cfg(feature = "server")]
pub struct ProjectPolicyBindingStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<ProjectPolicyBinding> for ProjectPolicyBindingStrategy {
    fn prepare_for_create(&self, ctx: &Context, b: &mut ProjectPolicyBinding) -> Result<(), ApiError> {
        let s = &mut b.spec;
        s.tenant_id = Some(common::tenant_for_create(ctx, s.tenant_id.as_deref()));
        s.finalizers = Some(vec![finalizer::PROJECT_POLICY_BINDING.to_string()]);
        dedup_subjects(&mut s.users);
        dedup_subjects(&mut s.groups);
        if !b.metadata.is_object() {
            b.metadata = json!({});
        }
        // Without both ids validation refuses the binding; a name is not needed for that.
        if meta_str(&b.metadata, "name").is_empty() && !s.project_id.is_empty() && !s.policy_id.is_empty() {
            b.metadata["name"] = json!(binding_name(&s.project_id, &s.policy_id));
        }
        b.status = Some(BindingStatus { phase: phase::ACTIVE.into() });
        Ok(())
    }

    fn validate(&self, _ctx: &Context, b: &ProjectPolicyBinding) -> Vec<FieldError> {
        let mut errs = vec![];
        let s = &b.spec;
        common::check_reference("spec.projectID", &s.project_id, "project", &mut errs);
        common::check_reference("spec.policyID", &s.policy_id, "policy", &mut errs);
        check_subjects("spec.users", &s.users, &mut errs);
        check_subjects("spec.groups", &s.groups, &mut errs);
        errs
    }

    fn prepare_for_update(
        &self,
        _ctx: &Context,
        new: &mut ProjectPolicyBinding,
        old: &ProjectPolicyBinding,
    ) -> Result<(), ApiError> {
        new.status = old.status.clone();
        new.spec.finalizers = old.spec.finalizers.clone();
        dedup_subjects(&mut new.spec.users);
        dedup_subjects(&mut new.spec.groups);
        Ok(())
    }

    fn validate_update(
        &self,
        ctx: &Context,
        new: &ProjectPolicyBinding,
        old: &ProjectPolicyBinding,
    ) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        let (n, o) = (&new.spec, &old.spec);
        common::check_tenant_unchanged("spec.tenantID", n.tenant_id.as_deref(), o.tenant_id.as_deref(), &mut errs);
        common::check_immutable("spec.projectID", &n.project_id, &o.project_id, &mut errs);
        common::check_immutable("spec.policyID", &n.policy_id, &o.policy_id, &mut errs);
        errs
    }

    fn prepare_for_delete(&self, _ctx: &Context, b: &ProjectPolicyBinding) -> Option<ProjectPolicyBinding> {
        let mut kept = b.clone();
        kept.status = Some(BindingStatus { phase: phase::TERMINATING.into() });
        Some(kept)
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "projectpolicybindings",
        singular: "projectpolicybinding",
        short_names: &["ppb"],
        categories: &["tkestack"],
        namespaced: false,
        verbs: Verbs::ALL,
        subresources: Subresources { status: true, finalize: true },
        columns: vec![
            Column::new("Project", "string", ".spec.projectID", "The project."),
            Column::new("Policy", "string", ".spec.policyID", "The policy bound in the project."),
            Column::new("Status", "string", ".status.phase", "Active or Terminating.").wide(),
            Column::age(),
        ],
        field_selectors: &["spec.tenantID", "spec.projectID", "spec.policyID", "status.phase"],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<ProjectPolicyBinding>,
        strategy: typed::<ProjectPolicyBinding, _>(ProjectPolicyBindingStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::common::test_ctx;

    fn binding(v: Value) -> ProjectPolicyBinding {
        serde_json::from_value(v).unwrap()
    }

    fn fields(errs: Vec<FieldError>) -> Vec<String> {
        errs.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn create_names_the_binding_after_project_and_policy() {
        let ctx = test_ctx("t1", false);
        let mut b = binding(json!({"spec": {"projectID": "prj-a", "policyID": "pol-t1-project-member",
            "users": [{"id": "u1", "name": "bob"}, {"id": "u1", "name": ""}], "groups": null}}));
        ProjectPolicyBindingStrategy.prepare_for_create(&ctx, &mut b).unwrap();
        assert_eq!((b.name(), b.tenant(), b.phase()), ("prj-a-pol-t1-project-member", "t1", "Active"));
        assert_eq!(b.spec.users, vec![Subject::new("u1", "bob")]);
        assert_eq!(b.spec.finalizers, Some(vec!["projectpolicybinding".to_string()]));
        assert!(ProjectPolicyBindingStrategy.validate(&ctx, &b).is_empty());
        assert_eq!(ProjectPolicyBindingStrategy.prepare_for_delete(&ctx, &b).unwrap().phase(), "Terminating");

        // A given name is kept.
        let mut named =
            binding(json!({"metadata": {"name": "mine"}, "spec": {"projectID": "prj-a", "policyID": "pol-b"}}));
        ProjectPolicyBindingStrategy.prepare_for_create(&ctx, &mut named).unwrap();
        assert_eq!(named.name(), "mine");
    }

    #[test]
    fn project_and_policy_are_required_and_immutable() {
        let ctx = test_ctx("t1", false);
        let mut b = binding(json!({"spec": {"users": [{"id": "", "name": ""}]}}));
        ProjectPolicyBindingStrategy.prepare_for_create(&ctx, &mut b).unwrap();
        assert_eq!(b.name(), "");
        assert_eq!(
            fields(ProjectPolicyBindingStrategy.validate(&ctx, &b)),
            vec!["spec.projectID", "spec.policyID", "spec.users[0].id"]
        );

        let mut old = binding(json!({"spec": {"projectID": "prj-a", "policyID": "pol-b"}}));
        ProjectPolicyBindingStrategy.prepare_for_create(&ctx, &mut old).unwrap();
        let mut new = old.clone();
        new.status = None;
        new.spec.project_id = "prj-b".into();
        new.spec.policy_id = "pol-c".into();
        new.spec.tenant_id = Some("t2".into());
        ProjectPolicyBindingStrategy.prepare_for_update(&ctx, &mut new, &old).unwrap();
        assert_eq!(new.status, old.status);
        assert_eq!(
            fields(ProjectPolicyBindingStrategy.validate_update(&ctx, &new, &old)),
            vec!["spec.tenantID", "spec.projectID", "spec.policyID"]
        );
    }

    #[test]
    fn tkestacks_capitalised_status_is_read() {
        let b = binding(json!({"spec": {"projectID": "prj-a", "policyID": "pol-b"}, "Status": {"phase": "Active"}}));
        assert_eq!(b.phase(), "Active");
        assert_eq!(serde_json::to_value(&b).unwrap()["status"]["phase"], "Active");
    }
}
