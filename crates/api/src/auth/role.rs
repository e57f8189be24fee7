//! `Role` (`rol`, cluster-scoped): a named set of policies bound to users and groups as one
//! (`status.users`, `status.groups`); the role controller writes Casbin `g` rows from the role to
//! its policies and from its subjects to the role. Created `Active` with the `role` finalizer;
//! deleting it sets `Terminating` and keeps it until the controller has removed its rows and
//! cleared `spec.finalizers`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, Subject, meta_str, null_as_default};
#[cfg(feature = "server")]
use {
    super::common::{self, check_display_name, check_subjects, dedup_subjects, finalizer, phase},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
    serde_json::json,
};

pub const KIND: &str = "Role";
pub const GENERATE_NAME: &str = "rol-";

/// A role.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    /// `auth.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Role`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; names are generated with the prefix `rol-` when empty. The
    /// name is the role's subject in Casbin rows.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// The role.
    #[serde(default)]
    pub spec: RoleSpec,
    /// Phase and the subjects the role is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<RoleStatus>,
}

/// The desired role.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleSpec {
    /// Finalizers that must be cleared (through `finalize`) before a deleted role is removed.
    /// Set to `["role"]` by the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finalizers: Option<Vec<String>>,
    /// Name shown in the console (required, at most 255 characters).
    #[serde(default)]
    pub display_name: String,
    /// Tenant owning the role; set from the caller, cannot be changed.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The project the role belongs to, for project roles; empty for platform roles. Cannot be
    /// changed.
    #[serde(rename = "projectID", default)]
    pub project_id: String,
    /// User who created the role; set from the caller on create.
    #[serde(default)]
    pub username: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Names of the policies of the role (Policy objects of the same tenant).
    #[serde(default, deserialize_with = "null_as_default")]
    pub policies: Vec<String>,
}

/// The observed state of a role.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleStatus {
    /// `Active` or `Terminating`.
    #[serde(default)]
    pub phase: String,
    /// Users the role applies to.
    #[serde(default, deserialize_with = "null_as_default")]
    pub users: Vec<Subject>,
    /// Groups the role applies to.
    #[serde(default, deserialize_with = "null_as_default")]
    pub groups: Vec<Subject>,
}

impl Role {
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

/// Number of policies, for `kubectl get roles`.
#[cfg(feature = "server")]
fn policy_count(obj: &Value) -> Value {
    json!(obj.pointer("/spec/policies").and_then(Value::as_array).map_or(0, Vec::len))
}

/// The create/update/delete rules of roles.
#[cfg(feature = "server")]
pub struct RoleStrategy;

#[cfg(feature = "server")]
fn dedup(names: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
}

#[cfg(feature = "server")]
impl TypedStrategy<Role> for RoleStrategy {
    fn prepare_for_create(&self, ctx: &Context, r: &mut Role) -> Result<(), ApiError> {
        let s = &mut r.spec;
        s.tenant_id = Some(common::tenant_for_create(ctx, s.tenant_id.as_deref()));
        if !ctx.user.is_admin() || s.username.is_empty() {
            s.username = ctx.user.name.clone();
        }
        dedup(&mut s.policies);
        s.finalizers = Some(vec![finalizer::ROLE.to_string()]);
        common::default_generate_name(&mut r.metadata, GENERATE_NAME);
        let mut status = r.status.take().unwrap_or_default();
        status.phase = phase::ACTIVE.into();
        dedup_subjects(&mut status.users);
        dedup_subjects(&mut status.groups);
        r.status = Some(status);
        Ok(())
    }

    fn validate(&self, _ctx: &Context, r: &Role) -> Vec<FieldError> {
        let mut errs = vec![];
        let s = &r.spec;
        check_display_name("spec.displayName", &s.display_name, &mut errs);
        common::check_optional_reference("spec.projectID", &s.project_id, &mut errs);
        let mut seen = std::collections::HashSet::new();
        for (i, p) in s.policies.iter().enumerate() {
            let field = format!("spec.policies[{i}]");
            common::check_reference(&field, p, "policy", &mut errs);
            if !seen.insert(p.as_str()) {
                errs.push(FieldError::duplicate(field, p));
            }
        }
        if let Some(st) = &r.status {
            check_subjects("status.users", &st.users, &mut errs);
            check_subjects("status.groups", &st.groups, &mut errs);
        }
        errs
    }

    fn prepare_for_update(&self, _ctx: &Context, new: &mut Role, old: &Role) -> Result<(), ApiError> {
        new.status = old.status.clone();
        new.spec.finalizers = old.spec.finalizers.clone();
        if new.spec.username.is_empty() {
            new.spec.username = old.spec.username.clone();
        }
        dedup(&mut new.spec.policies);
        Ok(())
    }

    fn validate_update(&self, ctx: &Context, new: &Role, old: &Role) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        let (n, o) = (&new.spec, &old.spec);
        common::check_tenant_unchanged("spec.tenantID", n.tenant_id.as_deref(), o.tenant_id.as_deref(), &mut errs);
        // The project is the Casbin domain of the role's rows.
        common::check_immutable("spec.projectID", &n.project_id, &o.project_id, &mut errs);
        errs
    }

    fn prepare_for_delete(&self, _ctx: &Context, r: &Role) -> Option<Role> {
        let mut kept = r.clone();
        kept.status.get_or_insert_with(Default::default).phase = phase::TERMINATING.into();
        Some(kept)
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "roles",
        singular: "role",
        short_names: &["rol"],
        categories: &["tkestack"],
        namespaced: false,
        verbs: Verbs::ALL,
        subresources: Subresources { status: true, finalize: true },
        columns: vec![
            Column::new("Display Name", "string", ".spec.displayName", "Name shown in the console."),
            Column::new("Project", "string", ".spec.projectID", "Project of a project role."),
            Column::computed("Policies", "integer", policy_count, "Number of policies in the role."),
            Column::new("Status", "string", ".status.phase", "Active or Terminating.").wide(),
            Column::age(),
        ],
        field_selectors: &["spec.tenantID", "spec.username", "spec.displayName", "spec.projectID", "status.phase"],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<Role>,
        strategy: typed::<Role, _>(RoleStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::common::test_ctx;

    fn role(v: Value) -> Role {
        serde_json::from_value(v).unwrap()
    }

    fn fields(errs: Vec<FieldError>) -> Vec<String> {
        errs.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn create_sets_tenant_creator_finalizer_and_phase() {
        let ctx = test_ctx("t1", false);
        let mut r = role(json!({"spec": {"displayName": "Ops", "username": "mallory",
            "policies": ["pol-a", "pol-b", "pol-a"]}, "status": {"users": null, "groups": null}}));
        RoleStrategy.prepare_for_create(&ctx, &mut r).unwrap();
        assert_eq!((r.tenant(), r.spec.username.as_str(), r.phase()), ("t1", "alice", "Active"));
        assert_eq!(r.spec.policies, vec!["pol-a", "pol-b"]);
        assert_eq!(r.spec.finalizers, Some(vec!["role".to_string()]));
        assert_eq!(r.metadata["generateName"], "rol-");
        assert!(RoleStrategy.validate(&ctx, &r).is_empty());
        assert_eq!(policy_count(&serde_json::to_value(&r).unwrap()), json!(2));
        assert_eq!(RoleStrategy.prepare_for_delete(&ctx, &r).unwrap().phase(), "Terminating");
    }

    #[test]
    fn validation() {
        let ctx = test_ctx("t1", false);
        let r = role(json!({"spec": {"displayName": "", "projectID": "Prj_1",
            "policies": ["pol-a", "", "Pol A", "pol-a"]}, "status": {"users": [{"id": "a##b"}]}}));
        assert_eq!(
            fields(RoleStrategy.validate(&ctx, &r)),
            vec![
                "spec.displayName",
                "spec.projectID",
                "spec.policies[1]",
                "spec.policies[2]",
                "spec.policies[3]",
                "status.users[0].id"
            ]
        );
    }

    #[test]
    fn update_keeps_status_and_refuses_tenant_and_project_changes() {
        let ctx = test_ctx("t1", false);
        let mut old = role(json!({"spec": {"displayName": "Ops", "projectID": "prj-a", "policies": ["pol-a"]}}));
        RoleStrategy.prepare_for_create(&ctx, &mut old).unwrap();
        let mut new = old.clone();
        new.status =
            Some(RoleStatus { phase: "Active".into(), users: vec![Subject::new("u9", "eve")], groups: vec![] });
        new.spec.finalizers = Some(vec![]);
        new.spec.username.clear();
        RoleStrategy.prepare_for_update(&ctx, &mut new, &old).unwrap();
        assert_eq!(new.status, old.status);
        assert_eq!(new.spec.finalizers, old.spec.finalizers);
        assert_eq!(new.spec.username, "alice");
        new.spec.project_id = "prj-b".into();
        new.spec.tenant_id = Some("t2".into());
        assert_eq!(fields(RoleStrategy.validate_update(&ctx, &new, &old)), vec!["spec.tenantID", "spec.projectID"]);
    }
}
