//! `Policy` (`pol`, namespaced): a Kubernetes RBAC template — the rules of a ClusterRole — that
//! roles gather and bindings fan out into business clusters. The namespace is the tenant's; the
//! templates every tenant may use live in `default`. As in TKEStack, the fields sit at the top
//! level of the object (no `spec`).

use apimachinery::FieldError;
use k8s_openapi::api::rbac::v1::PolicyRule;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, meta_str, null_as_default};
#[cfg(feature = "server")]
use {
    super::common::{self, SCOPES, scope},
    super::{GROUP, VERSION},
    apimachinery::ApiError,
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

pub const KIND: &str = "Policy";
pub const GENERATE_NAME: &str = "pol-";

/// An RBAC template.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// `authz.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Policy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; the namespace is the tenant's (`default` for templates), names
    /// are generated with the prefix `pol-` when empty.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// Name shown in the console (required, at most 255 characters).
    #[serde(default)]
    pub display_name: String,
    /// Tenant owning the policy: the object's namespace, set by the server.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// User who created the policy; set from the caller on create.
    #[serde(default)]
    pub username: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// `Platform`, `MultiCluster` (default; the scope fanned out to clusters) or `Business`.
    #[serde(default)]
    pub scope: String,
    /// The RBAC rules (at least one), as in a ClusterRole.
    #[serde(default, deserialize_with = "null_as_default")]
    pub rules: Vec<PolicyRule>,
}

impl Policy {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    pub fn namespace(&self) -> &str {
        meta_str(&self.metadata, "namespace")
    }
    pub fn tenant(&self) -> &str {
        self.tenant_id.as_deref().unwrap_or("")
    }
}

/// The core API group as people write it in YAML: `""`, or the quoted forms `"\"\""` and
/// `'""'` that survive some editors and the console; all mean the core group.
pub fn normalize_api_group(group: &str) -> &str {
    match group {
        "\"\"" | "'\"\"'" | "''" => "",
        g => g,
    }
}

/// Puts the API groups of the rules in canonical form (see [`normalize_api_group`]).
pub fn normalize_rules(rules: &mut [PolicyRule]) {
    for rule in rules {
        for g in rule.api_groups.iter_mut().flatten() {
            // The only rewriting there is: a quoted empty string to the empty string.
            if normalize_api_group(g).is_empty() {
                g.clear();
            }
        }
    }
}

/// Checks RBAC rules as Kubernetes checks a ClusterRole's: verbs are required; a rule names
/// either non-resource URLs or API groups and resources, not both.
pub fn check_rules(field: &str, rules: &[PolicyRule], errs: &mut Vec<FieldError>) {
    for (i, rule) in rules.iter().enumerate() {
        let path = format!("{field}[{i}]");
        if rule.verbs.is_empty() {
            errs.push(FieldError::required(format!("{path}.verbs"), "verbs must contain at least one value"));
        }
        for (j, v) in rule.verbs.iter().enumerate() {
            if v.is_empty() || v.chars().any(char::is_whitespace) {
                errs.push(FieldError::invalid(format!("{path}.verbs[{j}]"), v, "a verb is a word such as get or *"));
            }
        }
        let urls = rule.non_resource_urls.as_deref().unwrap_or_default();
        let groups = rule.api_groups.as_deref().unwrap_or_default();
        let resources = rule.resources.as_deref().unwrap_or_default();
        let names = rule.resource_names.as_deref().unwrap_or_default();
        if !urls.is_empty() {
            if !groups.is_empty() || !resources.is_empty() || !names.is_empty() {
                errs.push(FieldError::invalid(
                    format!("{path}.nonResourceURLs"),
                    urls.join(","),
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            for (j, u) in urls.iter().enumerate() {
                if u != "*" && !u.starts_with('/') {
                    errs.push(FieldError::invalid(
                        format!("{path}.nonResourceURLs[{j}]"),
                        u,
                        "a non-resource URL is a path starting with '/' (e.g. /healthz, /api*) or *",
                    ));
                }
            }
            continue;
        }
        if groups.is_empty() {
            errs.push(FieldError::required(
                format!("{path}.apiGroups"),
                "resource rules must supply at least one api group (\"\" for the core group)",
            ));
        }
        if resources.is_empty() {
            errs.push(FieldError::required(
                format!("{path}.resources"),
                "resource rules must supply at least one resource",
            ));
        }
    }
}

/// The create/update rules of authz policies.
#[cfg(feature = "server")]
pub struct PolicyStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<Policy> for PolicyStrategy {
    fn prepare_for_create(&self, ctx: &Context, p: &mut Policy) -> Result<(), ApiError> {
        let ns = common::namespace_of(ctx, &p.metadata).to_string();
        p.tenant_id = Some(common::tenant_for_namespace(ctx, &ns, "policies", p.name())?);
        if !ctx.user.is_admin() || p.username.is_empty() {
            p.username = ctx.user.name.clone();
        }
        if p.scope.is_empty() {
            p.scope = scope::MULTI_CLUSTER.into();
        }
        normalize_rules(&mut p.rules);
        crate::auth::common::default_generate_name(&mut p.metadata, GENERATE_NAME);
        Ok(())
    }

    fn validate(&self, ctx: &Context, p: &Policy) -> Vec<FieldError> {
        let mut errs = vec![];
        common::check_display_name("displayName", &p.display_name, &mut errs);
        common::check_tenant_is_namespace("tenantID", p.tenant(), common::namespace_of(ctx, &p.metadata), &mut errs);
        if !SCOPES.contains(&p.scope.as_str()) {
            errs.push(FieldError::not_supported("scope", &p.scope, SCOPES));
        }
        if p.rules.is_empty() {
            errs.push(FieldError::required("rules", "a policy needs at least one rule"));
        }
        check_rules("rules", &p.rules, &mut errs);
        errs
    }

    fn prepare_for_update(&self, _ctx: &Context, new: &mut Policy, old: &Policy) -> Result<(), ApiError> {
        if new.username.is_empty() {
            new.username = old.username.clone();
        }
        if new.scope.is_empty() {
            new.scope = old.scope.clone();
        }
        normalize_rules(&mut new.rules);
        Ok(())
    }

    fn validate_update(&self, ctx: &Context, new: &Policy, old: &Policy) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        common::check_tenant_unchanged("tenantID", new.tenant_id.as_deref(), old.tenant_id.as_deref(), &mut errs);
        errs
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
        namespaced: true,
        verbs: Verbs::NO_DELETE_COLLECTION,
        subresources: Subresources { status: false, finalize: false },
        columns: vec![
            Column::new("Display Name", "string", ".displayName", "Name shown in the console."),
            Column::new("Scope", "string", ".scope", "Platform, MultiCluster or Business."),
            Column::new("Username", "string", ".username", "Who created the policy.").wide(),
            Column::age(),
        ],
        field_selectors: &["tenantID", "username", "scope", "displayName"],
        tenant_field: Some("tenantID"),
        static_objects: None,
        schema: schema_of::<Policy>,
        strategy: typed::<Policy, _>(PolicyStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::common::test_ctx;
    use serde_json::json;

    fn policy(v: Value) -> Policy {
        serde_json::from_value(v).unwrap()
    }

    fn fields(errs: Vec<FieldError>) -> Vec<String> {
        errs.into_iter().map(|e| e.field).collect()
    }

    fn view() -> Value {
        json!({"metadata": {"namespace": "t1"}, "displayName": "view", "rules": [
            {"apiGroups": ["\"\""], "resources": ["pods", "services"], "verbs": ["get", "list", "watch"]},
            {"nonResourceURLs": ["/healthz", "*"], "verbs": ["get"]}]})
    }

    #[test]
    fn create_in_the_tenants_namespace() {
        let ctx = test_ctx("t1", false, "t1");
        let mut p = policy(view());
        p.username = "mallory".into();
        PolicyStrategy.prepare_for_create(&ctx, &mut p).unwrap();
        assert_eq!((p.tenant(), p.username.as_str(), p.scope.as_str()), ("t1", "alice", "MultiCluster"));
        assert_eq!(p.rules[0].api_groups, Some(vec![String::new()]));
        assert_eq!(p.metadata["generateName"], "pol-");
        assert!(PolicyStrategy.validate(&ctx, &p).is_empty());

        // Another tenant's namespace is refused; an administrator writes anywhere.
        let mut other = policy(view());
        other.metadata["namespace"] = json!("t2");
        assert!(PolicyStrategy.prepare_for_create(&test_ctx("t1", false, "t2"), &mut other).is_err());
        let admin = test_ctx("default", true, "t2");
        PolicyStrategy.prepare_for_create(&admin, &mut other).unwrap();
        assert_eq!(other.tenant(), "t2");
        assert!(PolicyStrategy.validate(&admin, &other).is_empty());
    }

    #[test]
    fn rules_are_checked_like_rbac() {
        let ctx = test_ctx("t1", false, "t1");
        let p = policy(json!({"metadata": {"namespace": "t1"}, "displayName": "bad", "tenantID": "t2",
            "scope": "Cluster", "rules": [
                {"verbs": []},
                {"nonResourceURLs": ["healthz"], "resources": ["pods"], "verbs": ["get", "a b"]},
                {"apiGroups": ["apps"], "resources": null, "verbs": ["*"]}]}));
        assert_eq!(
            fields(PolicyStrategy.validate(&ctx, &p)),
            vec![
                "tenantID",
                "scope",
                "rules[0].verbs",
                "rules[0].apiGroups",
                "rules[0].resources",
                "rules[1].verbs[1]",
                "rules[1].nonResourceURLs",
                "rules[1].nonResourceURLs[0]",
                "rules[2].resources",
            ]
        );
        let empty = policy(json!({"metadata": {"namespace": "t1"}, "displayName": "none", "tenantID": "t1",
            "scope": "Business", "rules": null}));
        assert_eq!(fields(PolicyStrategy.validate(&ctx, &empty)), vec!["rules"]);
    }

    #[test]
    fn update_keeps_creator_and_tenant() {
        let ctx = test_ctx("t1", false, "t1");
        let mut old = policy(view());
        PolicyStrategy.prepare_for_create(&ctx, &mut old).unwrap();
        let mut new = old.clone();
        new.username.clear();
        new.scope.clear();
        new.rules[0].api_groups = Some(vec!["'\"\"'".into(), "apps".into()]);
        PolicyStrategy.prepare_for_update(&ctx, &mut new, &old).unwrap();
        assert_eq!((new.username.as_str(), new.scope.as_str()), ("alice", "MultiCluster"));
        assert_eq!(new.rules[0].api_groups, Some(vec![String::new(), "apps".into()]));
        new.tenant_id = Some("t2".into());
        assert_eq!(fields(PolicyStrategy.validate_update(&ctx, &new, &old)), vec!["tenantID", "tenantID"]);
    }

    #[test]
    fn tkestack_templates_decode() {
        // As hack/authz/policies.json of TKEStack writes them.
        let p = policy(json!({"metadata": {"name": "pol-admin", "namespace": "default"}, "displayName": "admin",
            "scope": "MultiCluster", "tenantID": "default", "username": "admin",
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]}));
        assert!(PolicyStrategy.validate(&test_ctx("default", true, "default"), &p).is_empty());
        let d = definition();
        assert!(d.namespaced && !d.verbs.delete_collection);
    }
}
