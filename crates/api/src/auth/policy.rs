//! `Policy` (`pol`, cluster-scoped): a statement that allows or denies actions on resources,
//! bound to users and groups (`status.users`, `status.groups`) for the whole platform or, through
//! ProjectPolicyBindings, inside projects. The policy controller turns it into Casbin `p` rows
//! (`p, <policy name>, *, <resource>, <action>, <effect>`). Created `Active` with the `policy`
//! finalizer; deleting it sets `Terminating` and keeps it until the controller has removed its
//! rows and cleared `spec.finalizers`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, Subject, meta_str, null_as_default};
#[cfg(feature = "server")]
use {
    super::common::{self, check_display_name, check_patterns, check_subjects, dedup_subjects, finalizer, phase},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

pub const KIND: &str = "Policy";
pub const GENERATE_NAME: &str = "pol-";

/// Whether a statement allows or denies (`spec.statement.effect`).
pub mod effect {
    pub const ALLOW: &str = "allow";
    /// A deny overrides every allow (the model's policy effect).
    pub const DENY: &str = "deny";
}
pub const EFFECTS: &[&str] = &[effect::ALLOW, effect::DENY];

/// Who made a policy (`spec.type`).
pub mod policy_type {
    /// Written by a user of the tenant.
    pub const CUSTOM: &str = "custom";
    /// Part of the catalogue the platform creates for every tenant (reference 3.3); only
    /// platform administrators may create one.
    pub const DEFAULT: &str = "default";
}
pub const POLICY_TYPES: &[&str] = &[policy_type::CUSTOM, policy_type::DEFAULT];

/// Where a policy applies (`spec.scope`).
pub mod scope {
    /// Bound to users and groups for the whole platform (domain `*`).
    pub const PLATFORM: &str = "platform";
    /// Bound inside projects through ProjectPolicyBindings (domain = the project).
    pub const PROJECT: &str = "project";
}
pub const SCOPES: &[&str] = &[scope::PLATFORM, scope::PROJECT];

/// A policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// `auth.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Policy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; names are generated with the prefix `pol-` when empty. The
    /// name is the policy's subject in Casbin rows.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// The policy.
    #[serde(default)]
    pub spec: PolicySpec,
    /// Phase and the subjects the policy is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<PolicyStatus>,
}

/// The desired policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicySpec {
    /// Finalizers that must be cleared (through `finalize`) before a deleted policy is removed.
    /// Set to `["policy"]` by the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finalizers: Option<Vec<String>>,
    /// Name shown in the console (required, at most 255 characters).
    #[serde(default)]
    pub display_name: String,
    /// Tenant owning the policy; set from the caller, cannot be changed.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Name of the Category the policy's actions belong to (`cluster`, `registry`, ...).
    #[serde(default)]
    pub category: String,
    /// `custom` (default) or `default` (the platform's catalogue). Cannot be changed.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// `platform` (default) or `project`.
    #[serde(default)]
    pub scope: String,
    /// User who created the policy; set from the caller on create.
    #[serde(default)]
    pub username: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// What the policy allows or denies.
    #[serde(default)]
    pub statement: Statement,
    /// Conditions of the statement, base64-encoded bytes as TKEStack stores them (kept, not
    /// evaluated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conditions: Option<String>,
}

/// Actions on resources, allowed or denied.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Statement {
    /// Action patterns: a verb and a resource kind (`createCluster`, `getClusterStatus`) where
    /// `*` matches anything (`get*`, `*Registry*`); matched case-insensitively.
    #[serde(default, deserialize_with = "null_as_default")]
    pub actions: Vec<String>,
    /// Resource patterns (`*`, `cluster:cls-a1b2`, `cluster:cls-a1b2/namespace:*`), where `*`
    /// matches anything and `/:x` one path segment.
    #[serde(default, deserialize_with = "null_as_default")]
    pub resources: Vec<String>,
    /// `allow` or `deny`.
    #[serde(default)]
    pub effect: String,
}

/// The observed state of a policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyStatus {
    /// `Active` or `Terminating`.
    #[serde(default)]
    pub phase: String,
    /// Users the policy applies to for the whole platform.
    #[serde(default, deserialize_with = "null_as_default")]
    pub users: Vec<Subject>,
    /// Groups the policy applies to for the whole platform.
    #[serde(default, deserialize_with = "null_as_default")]
    pub groups: Vec<Subject>,
}

impl Policy {
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

/// The create/update/delete rules of policies.
#[cfg(feature = "server")]
pub struct PolicyStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<Policy> for PolicyStrategy {
    fn prepare_for_create(&self, ctx: &Context, p: &mut Policy) -> Result<(), ApiError> {
        let s = &mut p.spec;
        if s.type_.is_empty() {
            s.type_ = policy_type::CUSTOM.into();
        }
        if s.type_ == policy_type::DEFAULT {
            // The catalogue is instantiated by the platform; a tenant's own copy would shadow it.
            common::require_admin(
                ctx,
                "policies",
                meta_str(&p.metadata, "name"),
                "policies of type \"default\" are the platform's catalogue;",
            )?;
        }
        s.tenant_id = Some(common::tenant_for_create(ctx, s.tenant_id.as_deref()));
        // The creator is the caller; administrators (and the controllers creating the
        // catalogue) may name another.
        if !ctx.user.is_admin() || s.username.is_empty() {
            s.username = ctx.user.name.clone();
        }
        if s.scope.is_empty() {
            s.scope = scope::PLATFORM.into();
        }
        s.finalizers = Some(vec![finalizer::POLICY.to_string()]);
        common::default_generate_name(&mut p.metadata, GENERATE_NAME);
        let mut status = p.status.take().unwrap_or_default();
        status.phase = phase::ACTIVE.into();
        dedup_subjects(&mut status.users);
        dedup_subjects(&mut status.groups);
        p.status = Some(status);
        Ok(())
    }

    fn validate(&self, _ctx: &Context, p: &Policy) -> Vec<FieldError> {
        let mut errs = vec![];
        let s = &p.spec;
        check_display_name("spec.displayName", &s.display_name, &mut errs);
        if !POLICY_TYPES.contains(&s.type_.as_str()) {
            errs.push(FieldError::not_supported("spec.type", &s.type_, POLICY_TYPES));
        }
        if !SCOPES.contains(&s.scope.as_str()) {
            errs.push(FieldError::not_supported("spec.scope", &s.scope, SCOPES));
        }
        common::check_optional_reference("spec.category", &s.category, &mut errs);
        check_patterns("spec.statement.actions", &s.statement.actions, "action", &mut errs);
        check_patterns("spec.statement.resources", &s.statement.resources, "resource", &mut errs);
        if s.statement.effect.is_empty() {
            errs.push(FieldError::required("spec.statement.effect", "\"allow\" or \"deny\""));
        } else if !EFFECTS.contains(&s.statement.effect.as_str()) {
            errs.push(FieldError::not_supported("spec.statement.effect", &s.statement.effect, EFFECTS));
        }
        if let Some(c) = s.conditions.as_deref()
            && common::decode_base64(c).is_none()
        {
            errs.push(FieldError::invalid("spec.conditions", "<bytes>", "must be base64-encoded"));
        }
        if let Some(st) = &p.status {
            check_subjects("status.users", &st.users, &mut errs);
            check_subjects("status.groups", &st.groups, &mut errs);
        }
        errs
    }

    fn prepare_for_update(&self, _ctx: &Context, new: &mut Policy, old: &Policy) -> Result<(), ApiError> {
        // Status is written through /status (and the binding subresources), finalizers through
        // /finalize.
        new.status = old.status.clone();
        new.spec.finalizers = old.spec.finalizers.clone();
        if new.spec.type_.is_empty() {
            new.spec.type_ = old.spec.type_.clone();
        }
        if new.spec.scope.is_empty() {
            new.spec.scope = old.spec.scope.clone();
        }
        if new.spec.username.is_empty() {
            new.spec.username = old.spec.username.clone();
        }
        Ok(())
    }

    fn validate_update(&self, ctx: &Context, new: &Policy, old: &Policy) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        let (n, o) = (&new.spec, &old.spec);
        common::check_tenant_unchanged("spec.tenantID", n.tenant_id.as_deref(), o.tenant_id.as_deref(), &mut errs);
        common::check_immutable("spec.type", &n.type_, &o.type_, &mut errs);
        errs
    }

    fn prepare_for_delete(&self, _ctx: &Context, p: &Policy) -> Option<Policy> {
        let mut kept = p.clone();
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
        plural: "policies",
        singular: "policy",
        short_names: &["pol"],
        categories: &["tkestack"],
        namespaced: false,
        verbs: Verbs::ALL,
        subresources: Subresources { status: true, finalize: true },
        columns: vec![
            Column::new("Display Name", "string", ".spec.displayName", "Name shown in the console."),
            Column::new("Scope", "string", ".spec.scope", "platform or project."),
            Column::new("Type", "string", ".spec.type", "custom, or default (the platform's catalogue)."),
            Column::new("Effect", "string", ".spec.statement.effect", "allow or deny."),
            Column::new("Category", "string", ".spec.category", "Category of the policy's actions.").wide(),
            Column::new("Status", "string", ".status.phase", "Active or Terminating.").wide(),
            Column::age(),
        ],
        field_selectors: &[
            "spec.tenantID",
            "spec.username",
            "spec.category",
            "spec.scope",
            "spec.type",
            "spec.displayName",
            "status.phase",
        ],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<Policy>,
        strategy: typed::<Policy, _>(PolicyStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::common::test_ctx;
    use serde_json::json;

    fn policy(v: Value) -> Policy {
        serde_json::from_value(v).unwrap()
    }

    fn fields(errs: Vec<FieldError>) -> Vec<String> {
        errs.into_iter().map(|e| e.field).collect()
    }

    fn cluster_admin() -> Value {
        json!({"spec": {"displayName": "Cluster admin", "category": "cluster",
            "statement": {"actions": ["*Cluster*"], "resources": ["*"], "effect": "allow"}}})
    }

    #[test]
    fn create_sets_tenant_creator_defaults_finalizer_and_phase() {
        let ctx = test_ctx("t1", false);
        let mut p = policy(cluster_admin());
        p.spec.tenant_id = Some("other".into());
        p.spec.username = "mallory".into();
        p.status = Some(PolicyStatus {
            phase: "Terminating".into(),
            users: vec![Subject::new("u1", "bob"), Subject::new("u1", "bob")],
            groups: vec![],
        });
        PolicyStrategy.prepare_for_create(&ctx, &mut p).unwrap();
        assert_eq!(
            (p.tenant(), p.spec.username.as_str(), p.spec.type_.as_str(), p.spec.scope.as_str(), p.phase()),
            ("t1", "alice", "custom", "platform", "Active")
        );
        assert_eq!(p.metadata["generateName"], "pol-");
        assert_eq!(p.spec.finalizers, Some(vec!["policy".to_string()]));
        assert_eq!(p.status.as_ref().unwrap().users, vec![Subject::new("u1", "bob")]);
        assert!(PolicyStrategy.validate(&ctx, &p).is_empty());

        // Administrators create the catalogue, for any tenant and creator.
        let admin = test_ctx("default", true);
        let mut d = policy(cluster_admin());
        d.spec.type_ = "default".into();
        d.spec.tenant_id = Some("t2".into());
        d.spec.username = "admin".into();
        PolicyStrategy.prepare_for_create(&admin, &mut d).unwrap();
        assert_eq!((d.tenant(), d.spec.username.as_str(), d.spec.type_.as_str()), ("t2", "admin", "default"));
    }

    #[test]
    fn only_administrators_create_default_policies() {
        let mut p = policy(cluster_admin());
        p.spec.type_ = "default".into();
        let e = PolicyStrategy.prepare_for_create(&test_ctx("t1", false), &mut p).unwrap_err();
        assert_eq!(e.reason, apimachinery::error::Reason::Forbidden);
        assert!(e.message.contains("default"), "{}", e.message);
    }

    #[test]
    fn validation_of_the_statement_and_enumerations() {
        let ctx = test_ctx("t1", false);
        let mut p = policy(json!({"spec": {"displayName": "", "type": "builtin", "scope": "cluster",
            "category": "Cluster!", "conditions": "not base64!",
            "statement": {"actions": ["createCluster", "list Clusters", ""], "resources": [], "effect": "permit"}},
            "status": {"users": [{"id": "", "name": ""}]}}));
        let errs = fields(PolicyStrategy.validate(&ctx, &p));
        assert_eq!(
            errs,
            vec![
                "spec.displayName",
                "spec.type",
                "spec.scope",
                "spec.category",
                "spec.statement.actions[1]",
                "spec.statement.actions[2]",
                "spec.statement.resources",
                "spec.statement.effect",
                "spec.conditions",
                "status.users[0].id",
            ]
        );
        p.spec.statement.effect.clear();
        assert!(fields(PolicyStrategy.validate(&ctx, &p)).contains(&"spec.statement.effect".to_string()));
    }

    #[test]
    fn update_keeps_status_finalizers_and_refuses_tenant_and_type_changes() {
        let ctx = test_ctx("t1", false);
        let mut old = policy(cluster_admin());
        PolicyStrategy.prepare_for_create(&ctx, &mut old).unwrap();
        old.status.as_mut().unwrap().users.push(Subject::new("u1", "bob"));
        let mut new = old.clone();
        new.status = None;
        new.spec.finalizers = None;
        new.spec.scope.clear();
        new.spec.username.clear();
        new.spec.description = "all of clusters".into();
        PolicyStrategy.prepare_for_update(&ctx, &mut new, &old).unwrap();
        assert_eq!(
            (new.status.as_ref(), new.spec.finalizers.as_ref()),
            (old.status.as_ref(), old.spec.finalizers.as_ref())
        );
        assert_eq!((new.spec.scope.as_str(), new.spec.username.as_str()), ("platform", "alice"));
        assert!(PolicyStrategy.validate_update(&ctx, &new, &old).is_empty());

        new.spec.tenant_id = Some("t2".into());
        new.spec.type_ = "default".into();
        assert_eq!(fields(PolicyStrategy.validate_update(&ctx, &new, &old)), vec!["spec.tenantID", "spec.type"]);
    }

    #[test]
    fn delete_keeps_the_policy_terminating() {
        let ctx = test_ctx("t1", false);
        let mut p = policy(cluster_admin());
        PolicyStrategy.prepare_for_create(&ctx, &mut p).unwrap();
        let kept = PolicyStrategy.prepare_for_delete(&ctx, &p).unwrap();
        assert_eq!(kept.phase(), "Terminating");
        assert_eq!(kept.spec.finalizers, Some(vec!["policy".to_string()]));
    }

    #[test]
    fn tkestack_catalogue_entries_decode() {
        // The shape of hack/auth/policy.json: empty scope, null subject lists.
        let p = policy(json!({"metadata": {"creationTimestamp": null}, "spec": {"displayName": "ReadOnlyAccess",
            "tenantID": "default", "category": "common", "type": "default", "scope": "", "username": "",
            "description": "", "statement": {"actions": ["get*", "list*"], "resources": ["*"], "effect": "allow"}},
            "status": {"phase": "", "users": null, "groups": null}}));
        assert_eq!(p.spec.statement.actions, vec!["get*", "list*"]);
        let d = definition();
        assert_eq!((d.plural, d.short_names, d.namespaced), ("policies", &["pol"][..], false));
        assert!(d.subresources.status && d.subresources.finalize);
    }
}
