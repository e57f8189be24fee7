//! `Role` (`rol`, namespaced): a set of authz policies that MultiClusterRoleBindings grant in
//! business clusters (as one ClusterRole per role). A role may use the tenant's policies and the
//! templates in `default`. Created with the `role` finalizer in `metadata.finalizers`, so a deleted
//! role stays until the controller has removed its ClusterRoles from the clusters. As in
//! TKEStack, the fields sit at the top level of the object (no `spec`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, meta_str, null_as_default};
#[cfg(feature = "server")]
use {
    super::common::{self, SCOPES, finalizer, scope},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
    serde_json::json,
};

pub const KIND: &str = "Role";
pub const GENERATE_NAME: &str = "rol-";

/// A set of RBAC templates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    /// `authz.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Role`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; the namespace is the tenant's (`default` for templates), names
    /// are generated with the prefix `rol-` when empty; `finalizers` holds `role` until the
    /// controller has cleaned the clusters.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// Name shown in the console (required, at most 255 characters).
    #[serde(default)]
    pub display_name: String,
    /// Tenant owning the role: the object's namespace, set by the server.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// User who created the role; set from the caller on create.
    #[serde(default)]
    pub username: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// `MultiCluster` (the default and the only scope roles support).
    #[serde(default)]
    pub scope: String,
    /// The role's policies: `name` (a template in `default`) or `namespace/name`, where the
    /// namespace is `default` or the role's own.
    #[serde(default, deserialize_with = "null_as_default")]
    pub policies: Vec<String>,
}

impl Role {
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

/// Number of policies, for `kubectl get roles.authz.tkestack.io`.
#[cfg(feature = "server")]
fn policy_count(obj: &Value) -> Value {
    json!(obj.get("policies").and_then(Value::as_array).map_or(0, Vec::len))
}

/// The create/update rules of authz roles.
#[cfg(feature = "server")]
pub struct RoleStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<Role> for RoleStrategy {
    fn prepare_for_create(&self, ctx: &Context, r: &mut Role) -> Result<(), ApiError> {
        let ns = common::namespace_of(ctx, &r.metadata).to_string();
        r.tenant_id = Some(common::tenant_for_namespace(ctx, &ns, "roles", r.name())?);
        if !ctx.user.is_admin() || r.username.is_empty() {
            r.username = ctx.user.name.clone();
        }
        if r.scope.is_empty() {
            r.scope = scope::MULTI_CLUSTER.into();
        }
        crate::auth::common::default_generate_name(&mut r.metadata, GENERATE_NAME);
        common::add_metadata_finalizer(&mut r.metadata, finalizer::ROLE);
        Ok(())
    }

    fn validate(&self, ctx: &Context, r: &Role) -> Vec<FieldError> {
        let mut errs = vec![];
        let ns = common::namespace_of(ctx, &r.metadata);
        common::check_display_name("displayName", &r.display_name, &mut errs);
        common::check_tenant_is_namespace("tenantID", r.tenant(), ns, &mut errs);
        if !SCOPES.contains(&r.scope.as_str()) {
            errs.push(FieldError::not_supported("scope", &r.scope, SCOPES));
        } else if r.scope != scope::MULTI_CLUSTER {
            errs.push(FieldError::not_supported("scope", &r.scope, &[scope::MULTI_CLUSTER]));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, p) in r.policies.iter().enumerate() {
            let field = format!("policies[{i}]");
            common::check_reference(&field, p, ns, "policy", &mut errs);
            if !seen.insert(common::split_reference(p)) {
                errs.push(FieldError::duplicate(field, p));
            }
        }
        errs
    }

    fn prepare_for_update(&self, _ctx: &Context, new: &mut Role, old: &Role) -> Result<(), ApiError> {
        if new.username.is_empty() {
            new.username = old.username.clone();
        }
        if new.scope.is_empty() {
            new.scope = old.scope.clone();
        }
        Ok(())
    }

    fn validate_update(&self, ctx: &Context, new: &Role, old: &Role) -> Vec<FieldError> {
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
        plural: "roles",
        singular: "role",
        short_names: &["rol"],
        categories: &["tkestack"],
        namespaced: true,
        verbs: Verbs::NO_DELETE_COLLECTION,
        // TKEStack's `finalize` of authz objects rewrites `metadata.finalizers`, which a plain
        // update or patch does here (the generic `/finalize` edits `spec.finalizers`).
        subresources: Subresources { status: false, finalize: false },
        columns: vec![
            Column::new("Display Name", "string", ".displayName", "Name shown in the console."),
            Column::new("Scope", "string", ".scope", "MultiCluster."),
            Column::computed("Policies", "integer", policy_count, "Number of policies in the role."),
            Column::new("Username", "string", ".username", "Who created the role.").wide(),
            Column::age(),
        ],
        field_selectors: &["tenantID", "username", "scope", "displayName"],
        tenant_field: Some("tenantID"),
        static_objects: None,
        schema: schema_of::<Role>,
        strategy: typed::<Role, _>(RoleStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::common::test_ctx;

    fn role(v: Value) -> Role {
        serde_json::from_value(v).unwrap()
    }

    fn fields(errs: Vec<FieldError>) -> Vec<String> {
        errs.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn create_sets_tenant_creator_scope_and_finalizer() {
        let ctx = test_ctx("t1", false, "t1");
        let mut r = role(json!({"metadata": {"namespace": "t1"}, "displayName": "ops",
            "policies": ["pol-view", "default/pol-edit", "t1/pol-mine"]}));
        RoleStrategy.prepare_for_create(&ctx, &mut r).unwrap();
        assert_eq!((r.tenant(), r.username.as_str(), r.scope.as_str()), ("t1", "alice", "MultiCluster"));
        assert_eq!(r.metadata["finalizers"], json!(["role"]));
        assert_eq!(r.metadata["generateName"], "rol-");
        assert!(RoleStrategy.validate(&ctx, &r).is_empty());
        assert_eq!(policy_count(&serde_json::to_value(&r).unwrap()), json!(3));
        assert!(RoleStrategy.prepare_for_create(&test_ctx("t1", false, "t2"), &mut role(json!({}))).is_err());
    }

    #[test]
    fn validation() {
        let ctx = test_ctx("t1", false, "t1");
        let r = role(json!({"metadata": {"namespace": "t1"}, "displayName": "", "tenantID": "t1",
            "scope": "Business", "policies": ["t2/pol-a", "pol-view", "default/pol-view", ""]}));
        assert_eq!(
            fields(RoleStrategy.validate(&ctx, &r)),
            vec!["displayName", "scope", "policies[0]", "policies[2]", "policies[3]"]
        );
        let bad_scope =
            role(json!({"metadata": {"namespace": "t1"}, "displayName": "x", "tenantID": "t1", "scope": "Everywhere"}));
        assert_eq!(fields(RoleStrategy.validate(&ctx, &bad_scope)), vec!["scope"]);
    }

    #[test]
    fn update_keeps_creator_scope_and_tenant() {
        let ctx = test_ctx("t1", false, "t1");
        let mut old = role(json!({"metadata": {"namespace": "t1"}, "displayName": "ops", "policies": ["pol-view"]}));
        RoleStrategy.prepare_for_create(&ctx, &mut old).unwrap();
        let mut new = old.clone();
        new.username.clear();
        new.scope.clear();
        RoleStrategy.prepare_for_update(&ctx, &mut new, &old).unwrap();
        assert_eq!(new, old);
        new.tenant_id = Some("t2".into());
        assert!(fields(RoleStrategy.validate_update(&ctx, &new, &old)).contains(&"tenantID".to_string()));
    }
}
