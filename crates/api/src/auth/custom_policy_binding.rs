//! `CustomPolicyBinding` (`cpb`, namespaced): a policy applied to users and groups on resources
//! of the binding's own choosing, in a Casbin domain of its own. Other components use it to grant
//! access to one object (the registry binds the chart-group policies in the namespace named after
//! the chart group). The binding controller writes the policy's actions on `spec.resources` as
//! rows of the role `{rulePrefix}{policyID}`, and `g` rows for the subjects in `spec.domain`.
//! Named after the policy when no name is given. Created `Active` with the
//! `custompolicybinding` finalizer; deleting it sets `Terminating` and keeps it until the
//! controller has removed its rows.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, Subject, meta_str, null_as_default};
pub use super::project_policy_binding::BindingStatus;
#[cfg(feature = "server")]
use {
    super::common::{self, check_patterns, check_subjects, dedup_subjects, finalizer, phase},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
    serde_json::json,
};

pub const KIND: &str = "CustomPolicyBinding";
pub const GENERATE_NAME: &str = "cpb-";

/// A binding of a policy on chosen resources.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomPolicyBinding {
    /// `auth.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `CustomPolicyBinding`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; the name is `spec.policyID` when empty.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// The binding.
    #[serde(default)]
    pub spec: CustomPolicyBindingSpec,
    /// The phase. TKEStack writes this field as `Status`; both spellings are read, `status` is
    /// written.
    #[serde(skip_serializing_if = "Option::is_none", alias = "Status")]
    pub status: Option<BindingStatus>,
}

/// The desired binding.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomPolicyBindingSpec {
    /// Finalizers that must be cleared (through `finalize`) before a deleted binding is removed.
    /// Set to `["custompolicybinding"]` by the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finalizers: Option<Vec<String>>,
    /// Tenant owning the binding; set from the caller, cannot be changed.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Casbin domain of the subjects' rows (`*` for the whole platform, or a project).
    #[serde(default)]
    pub domain: String,
    /// The previous domain, whose rows the controller removes; set by the server when
    /// `spec.domain` changes.
    #[serde(default)]
    pub last_domain: String,
    /// The policy whose actions are granted (required). Cannot be changed.
    #[serde(rename = "policyID", default)]
    pub policy_id: String,
    /// Resource patterns the policy's actions apply to (at least one).
    #[serde(default, deserialize_with = "null_as_default")]
    pub resources: Vec<String>,
    /// Prefix of the role the rows are written for, so that bindings of one policy for
    /// different objects do not share rows (required). Cannot be changed.
    #[serde(default)]
    pub rule_prefix: String,
    /// Users the binding applies to.
    #[serde(default, deserialize_with = "null_as_default")]
    pub users: Vec<Subject>,
    /// Groups the binding applies to.
    #[serde(default, deserialize_with = "null_as_default")]
    pub groups: Vec<Subject>,
}

impl CustomPolicyBinding {
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

/// The create/update/delete rules of custom policy bindings.
#[cfg(feature = "server")]
pub struct CustomPolicyBindingStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<CustomPolicyBinding> for CustomPolicyBindingStrategy {
    fn prepare_for_create(&self, ctx: &Context, b: &mut CustomPolicyBinding) -> Result<(), ApiError> {
        let s = &mut b.spec;
        s.tenant_id = Some(common::tenant_for_create(ctx, s.tenant_id.as_deref()));
        s.finalizers = Some(vec![finalizer::CUSTOM_POLICY_BINDING.to_string()]);
        dedup_subjects(&mut s.users);
        dedup_subjects(&mut s.groups);
        if !b.metadata.is_object() {
            b.metadata = json!({});
        }
        if meta_str(&b.metadata, "name").is_empty() && !s.policy_id.is_empty() {
            b.metadata["name"] = json!(s.policy_id);
        }
        common::default_generate_name(&mut b.metadata, GENERATE_NAME);
        b.status = Some(BindingStatus { phase: phase::ACTIVE.into() });
        Ok(())
    }

    fn validate(&self, _ctx: &Context, b: &CustomPolicyBinding) -> Vec<FieldError> {
        let mut errs = vec![];
        let s = &b.spec;
        common::check_reference("spec.policyID", &s.policy_id, "policy", &mut errs);
        for (field, value, what) in
            [("spec.domain", &s.domain, "a domain"), ("spec.rulePrefix", &s.rule_prefix, "a rule prefix")]
        {
            if value.is_empty() {
                errs.push(FieldError::required(field, format!("{what} is required")));
            } else if !common::is_pattern(value) {
                errs.push(FieldError::invalid(
                    field,
                    value.escape_debug(),
                    "must not contain whitespace or control characters",
                ));
            }
        }
        if !s.last_domain.is_empty() && !common::is_pattern(&s.last_domain) {
            errs.push(FieldError::invalid(
                "spec.lastDomain",
                s.last_domain.escape_debug(),
                "must not contain whitespace or control characters",
            ));
        }
        check_patterns("spec.resources", &s.resources, "resource", &mut errs);
        check_subjects("spec.users", &s.users, &mut errs);
        check_subjects("spec.groups", &s.groups, &mut errs);
        errs
    }

    fn prepare_for_update(
        &self,
        _ctx: &Context,
        new: &mut CustomPolicyBinding,
        old: &CustomPolicyBinding,
    ) -> Result<(), ApiError> {
        new.status = old.status.clone();
        new.spec.finalizers = old.spec.finalizers.clone();
        // The controller removes the rows of the domain the binding leaves.
        if new.spec.domain != old.spec.domain && new.spec.last_domain == old.spec.last_domain {
            new.spec.last_domain = old.spec.domain.clone();
        }
        dedup_subjects(&mut new.spec.users);
        dedup_subjects(&mut new.spec.groups);
        Ok(())
    }

    fn validate_update(&self, ctx: &Context, new: &CustomPolicyBinding, old: &CustomPolicyBinding) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        let (n, o) = (&new.spec, &old.spec);
        common::check_tenant_unchanged("spec.tenantID", n.tenant_id.as_deref(), o.tenant_id.as_deref(), &mut errs);
        common::check_immutable("spec.policyID", &n.policy_id, &o.policy_id, &mut errs);
        common::check_immutable("spec.rulePrefix", &n.rule_prefix, &o.rule_prefix, &mut errs);
        errs
    }

    fn prepare_for_delete(&self, _ctx: &Context, b: &CustomPolicyBinding) -> Option<CustomPolicyBinding> {
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
        plural: "custompolicybindings",
        singular: "custompolicybinding",
        short_names: &["cpb"],
        categories: &["tkestack"],
        namespaced: true,
        verbs: Verbs::ALL,
        subresources: Subresources { status: true, finalize: true },
        columns: vec![
            Column::new("Domain", "string", ".spec.domain", "Casbin domain of the binding's subjects."),
            Column::new("Policy", "string", ".spec.policyID", "The policy bound."),
            Column::new("Status", "string", ".status.phase", "Active or Terminating.").wide(),
            Column::age(),
        ],
        field_selectors: &["spec.tenantID", "spec.domain", "spec.policyID", "status.phase"],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<CustomPolicyBinding>,
        strategy: typed::<CustomPolicyBinding, _>(CustomPolicyBindingStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::common::test_ctx;

    fn binding(v: Value) -> CustomPolicyBinding {
        serde_json::from_value(v).unwrap()
    }

    fn fields(errs: Vec<FieldError>) -> Vec<String> {
        errs.into_iter().map(|e| e.field).collect()
    }

    fn chart_pull() -> Value {
        json!({"metadata": {"namespace": "cg-charts"}, "spec": {"domain": "*", "policyID": "pol-t1-chart-pull-fake",
            "rulePrefix": "cg-charts", "resources": ["chartgroup:charts/*"], "users": [{"id": "*", "name": "*"}]}})
    }

    #[test]
    fn create_names_the_binding_after_the_policy() {
        let ctx = test_ctx("t1", false);
        let mut b = binding(chart_pull());
        CustomPolicyBindingStrategy.prepare_for_create(&ctx, &mut b).unwrap();
        assert_eq!((b.name(), b.tenant(), b.phase()), ("pol-t1-chart-pull-fake", "t1", "Active"));
        assert_eq!(b.spec.finalizers, Some(vec!["custompolicybinding".to_string()]));
        assert!(b.metadata.get("generateName").is_none());
        assert!(CustomPolicyBindingStrategy.validate(&ctx, &b).is_empty());
        assert_eq!(CustomPolicyBindingStrategy.prepare_for_delete(&ctx, &b).unwrap().phase(), "Terminating");

        let mut unnamed = binding(json!({"spec": {}}));
        CustomPolicyBindingStrategy.prepare_for_create(&ctx, &mut unnamed).unwrap();
        assert_eq!(unnamed.metadata["generateName"], "cpb-");
        assert_eq!(
            fields(CustomPolicyBindingStrategy.validate(&ctx, &unnamed)),
            vec!["spec.policyID", "spec.domain", "spec.rulePrefix", "spec.resources"]
        );
    }

    #[test]
    fn a_domain_change_records_the_last_domain() {
        let ctx = test_ctx("t1", false);
        let mut old = binding(chart_pull());
        CustomPolicyBindingStrategy.prepare_for_create(&ctx, &mut old).unwrap();
        let mut new = old.clone();
        new.spec.domain = "prj-a".into();
        new.status = None;
        CustomPolicyBindingStrategy.prepare_for_update(&ctx, &mut new, &old).unwrap();
        assert_eq!((new.spec.last_domain.as_str(), new.phase()), ("*", "Active"));
        assert!(CustomPolicyBindingStrategy.validate_update(&ctx, &new, &old).is_empty());

        new.spec.rule_prefix = "other".into();
        new.spec.policy_id = "pol-x".into();
        new.spec.resources = vec!["a b".into()];
        assert_eq!(
            fields(CustomPolicyBindingStrategy.validate_update(&ctx, &new, &old)),
            vec!["spec.resources[0]", "spec.policyID", "spec.rulePrefix"]
        );
    }
}
