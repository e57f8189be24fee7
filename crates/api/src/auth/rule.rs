//! `Rule` (`rul`, cluster-scoped): one row of the Casbin policy, persisted as an API object so
//! that every replica's enforcer converges through watches. `p` rows are
//! `p, <subject>, <domain>, <resource>, <action>, <allow|deny>`; `g` rows are
//! `g, <user or group key>, <policy or role>, <domain>` (reference 3.2). Rows are derived from
//! policies, roles and bindings by the auth controllers, which run as platform administrators:
//! nobody else may write them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, meta_str};
#[cfg(feature = "server")]
use {
    super::common,
    super::policy::EFFECTS,
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

pub const KIND: &str = "Rule";
pub const GENERATE_NAME: &str = "rul-";

/// Row types (`spec.ptype`).
pub mod ptype {
    /// A permission: subject, domain, resource, action, effect.
    pub const POLICY: &str = "p";
    /// A role assignment: member, role (policy or role name), domain.
    pub const GROUPING: &str = "g";
}
pub const PTYPES: &[&str] = &[ptype::POLICY, ptype::GROUPING];

/// A Casbin row.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// `auth.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Rule`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; names are generated with the prefix `rul-` when empty.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// The row.
    #[serde(default)]
    pub spec: RuleSpec,
}

/// The values of a Casbin row.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RuleSpec {
    /// `p` (5 values: v0..v4) or `g` (3 values: v0..v2).
    #[serde(default)]
    pub ptype: String,
    /// Subject: a policy or role name (`p`), a user or group key (`g`).
    #[serde(default)]
    pub v0: String,
    /// Domain (`p`: `*`); policy or role (`g`).
    #[serde(default)]
    pub v1: String,
    /// Resource pattern (`p`); domain (`g`: `*` or a project).
    #[serde(default)]
    pub v2: String,
    /// Action pattern (`p`).
    #[serde(default)]
    pub v3: String,
    /// Effect, `allow` or `deny` (`p`).
    #[serde(default)]
    pub v4: String,
    /// Unused by the model; must be empty.
    #[serde(default)]
    pub v5: String,
    /// Unused by the model; must be empty.
    #[serde(default)]
    pub v6: String,
    /// Tenant whose policy, role or binding produced the row (not in TKEStack's type): lets
    /// users of a tenant read their tenant's rows only, and controllers select them.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

impl RuleSpec {
    /// The values v0..v6 in order.
    pub fn values(&self) -> [&str; 7] {
        [&self.v0, &self.v1, &self.v2, &self.v3, &self.v4, &self.v5, &self.v6].map(String::as_str)
    }

    /// The row's values up to the model's arity (`p`: 5, `g`: 3), as the enforcer loads them.
    pub fn row(&self) -> Vec<String> {
        let arity = arity(&self.ptype).unwrap_or(7);
        self.values()[..arity].iter().map(|v| v.to_string()).collect()
    }
}

/// Number of values of a row type in the model (`p = sub, dom, obj, act, eft`; `g = _, _, _`).
pub fn arity(ptype: &str) -> Option<usize> {
    match ptype {
        ptype::POLICY => Some(5),
        ptype::GROUPING => Some(3),
        _ => None,
    }
}

impl Rule {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
}

/// The create/update rules of rules.
impl crate::platform::common::TenantOwned for Rule {
    fn tenant_id(&self) -> Option<&str> {
        self.spec.tenant_id.as_deref()
    }
}

#[cfg(feature = "server")]
pub struct RuleStrategy;

#[cfg(feature = "server")]
const WHO: &str = "Casbin rows are derived from policies, roles and bindings by the auth controllers;";

#[cfg(feature = "server")]
impl TypedStrategy<Rule> for RuleStrategy {
    fn prepare_for_create(&self, ctx: &Context, r: &mut Rule) -> Result<(), ApiError> {
        common::require_admin(ctx, "rules", r.name(), WHO)?;
        r.spec.tenant_id = Some(common::tenant_for_create(ctx, r.spec.tenant_id.as_deref()));
        common::default_generate_name(&mut r.metadata, GENERATE_NAME);
        Ok(())
    }

    fn validate(&self, _ctx: &Context, r: &Rule) -> Vec<FieldError> {
        let mut errs = vec![];
        let s = &r.spec;
        let Some(arity) = arity(&s.ptype) else {
            errs.push(FieldError::not_supported("spec.ptype", &s.ptype, PTYPES));
            return errs;
        };
        for (i, v) in s.values().iter().enumerate() {
            let field = format!("spec.v{i}");
            if i < arity && v.is_empty() {
                errs.push(FieldError::required(
                    field,
                    format!("a \"{}\" row has {arity} values (v0..v{})", s.ptype, arity - 1),
                ));
            } else if i >= arity && !v.is_empty() {
                errs.push(FieldError::invalid(field, v, format!("a \"{}\" row has only {arity} values", s.ptype)));
            }
        }
        if s.ptype == ptype::POLICY {
            for (field, v) in [("spec.v2", &s.v2), ("spec.v3", &s.v3)] {
                if !v.is_empty() && !common::is_pattern(v) {
                    errs.push(FieldError::invalid(
                        field,
                        v.escape_debug(),
                        "must not contain whitespace or control characters",
                    ));
                }
            }
            if !s.v4.is_empty() && !EFFECTS.contains(&s.v4.as_str()) {
                errs.push(FieldError::not_supported("spec.v4", &s.v4, EFFECTS));
            }
        }
        errs
    }

    fn prepare_for_update(&self, ctx: &Context, new: &mut Rule, _old: &Rule) -> Result<(), ApiError> {
        common::require_admin(ctx, "rules", new.name(), WHO)
    }

    fn validate_update(&self, ctx: &Context, new: &Rule, old: &Rule) -> Vec<FieldError> {
        crate::platform::common::validate_tenant_update(self, ctx, new, old)
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "rules",
        singular: "rule",
        short_names: &["rul"],
        categories: &["tkestack"],
        namespaced: false,
        verbs: Verbs::ALL,
        subresources: Subresources { status: false, finalize: false },
        columns: vec![
            Column::new("PType", "string", ".spec.ptype", "p (permission) or g (role assignment)."),
            Column::new("V0", "string", ".spec.v0", "Subject."),
            Column::new("V1", "string", ".spec.v1", "Domain (p) or role (g)."),
            Column::new("V2", "string", ".spec.v2", "Resource (p) or domain (g)."),
            Column::new("V3", "string", ".spec.v3", "Action (p)."),
            Column::new("V4", "string", ".spec.v4", "Effect (p)."),
        ],
        field_selectors: &[
            "spec.tenantID",
            "spec.ptype",
            "spec.v0",
            "spec.v1",
            "spec.v2",
            "spec.v3",
            "spec.v4",
            "spec.v5",
            "spec.v6",
        ],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<Rule>,
        strategy: typed::<Rule, _>(RuleStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::common::test_ctx;
    use serde_json::json;

    fn rule(v: Value) -> Rule {
        serde_json::from_value(v).unwrap()
    }

    fn fields(errs: Vec<FieldError>) -> Vec<String> {
        errs.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn rows_have_the_models_arity() {
        let admin = test_ctx("default", true);
        let mut p = rule(json!({"spec": {"ptype": "p", "v0": "pol-t1-administrator", "v1": "*", "v2": "*",
            "v3": "*", "v4": "allow", "tenantID": "t1"}}));
        RuleStrategy.prepare_for_create(&admin, &mut p).unwrap();
        assert_eq!((p.metadata["generateName"].as_str(), p.spec.tenant_id.as_deref()), (Some("rul-"), Some("t1")));
        assert!(RuleStrategy.validate(&admin, &p).is_empty());
        assert_eq!(p.spec.row(), vec!["pol-t1-administrator", "*", "*", "*", "allow"]);

        let g = rule(json!({"spec": {"ptype": "g", "v0": "t1##user##alice", "v1": "pol-t1-administrator", "v2": "*"}}));
        assert!(RuleStrategy.validate(&admin, &g).is_empty());
        assert_eq!(g.spec.row().len(), 3);

        let short_p =
            rule(json!({"spec": {"ptype": "p", "v0": "pol-a", "v1": "*", "v2": "*", "v3": "", "v4": "maybe"}}));
        assert_eq!(fields(RuleStrategy.validate(&admin, &short_p)), vec!["spec.v3", "spec.v4"]);
        let long_g = rule(json!({"spec": {"ptype": "g", "v0": "a", "v1": "b", "v2": "*", "v3": "x", "v6": "y"}}));
        assert_eq!(fields(RuleStrategy.validate(&admin, &long_g)), vec!["spec.v3", "spec.v6"]);
        let spaced = rule(
            json!({"spec": {"ptype": "p", "v0": "pol-a", "v1": "*", "v2": "cluster: a", "v3": "get*", "v4": "deny"}}),
        );
        assert_eq!(fields(RuleStrategy.validate(&admin, &spaced)), vec!["spec.v2"]);
        let other = rule(json!({"spec": {"ptype": "g2", "v0": "a"}}));
        assert_eq!(fields(RuleStrategy.validate(&admin, &other)), vec!["spec.ptype"]);
    }

    #[test]
    fn only_administrators_write_rules() {
        let user = test_ctx("t1", false);
        let mut r =
            rule(json!({"spec": {"ptype": "g", "v0": "t1##user##bob", "v1": "pol-t1-administrator", "v2": "*"}}));
        let e = RuleStrategy.prepare_for_create(&user, &mut r).unwrap_err();
        assert_eq!(e.reason, apimachinery::error::Reason::Forbidden);
        let old = r.clone();
        assert!(RuleStrategy.prepare_for_update(&user, &mut r, &old).is_err());
    }

    #[test]
    fn tkestack_rows_decode() {
        // A RestAdapter row as TKEStack stores it: every value present, unused ones empty.
        let r = rule(json!({"metadata": {"name": "rul-x"}, "spec": {"ptype": "g", "v0": "default##user##admin",
            "v1": "pol-default-administrator", "v2": "*", "v3": "", "v4": "", "v5": "", "v6": ""}}));
        assert!(RuleStrategy.validate(&test_ctx("default", true), &r).is_empty());
        assert!(serde_json::to_value(&r).unwrap()["spec"].get("tenantID").is_none());
    }
}
