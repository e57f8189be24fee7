//! `MultiClusterRoleBinding` (`mcrb`, namespaced): grants an authz Role to a user in business
//! clusters. The controller creates the role's ClusterRole and a ClusterRoleBinding for the user
//! in every listed cluster (`*`: every cluster of the tenant) and removes them from clusters
//! dropped from the list. Named `mcrb-{username}-{role}` when that is a valid name and no name is
//! given, so a role is granted to a user once. Created `Active` with the `rolebinding` finalizer
//! in `metadata.finalizers`; deleting it sets `Terminating` and keeps it until the controller
//! has cleaned the clusters.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, meta_str, null_as_default};
#[cfg(feature = "server")]
use {
    super::common::{self, finalizer},
    super::{GROUP, VERSION},
    crate::auth::common::phase,
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
    serde_json::json,
};

pub const KIND: &str = "MultiClusterRoleBinding";
pub const GENERATE_NAME: &str = "mcrb-";
/// `spec.clusters` entry meaning every cluster of the tenant, present and future.
pub const ALL_CLUSTERS: &str = "*";

/// A grant of a role in business clusters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MultiClusterRoleBinding {
    /// `authz.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `MultiClusterRoleBinding`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; the namespace is the tenant's; `finalizers` holds `rolebinding`
    /// until the controller has cleaned the clusters.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// The grant.
    #[serde(default)]
    pub spec: MultiClusterRoleBindingSpec,
    /// The phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<MultiClusterRoleBindingStatus>,
}

/// The desired grant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MultiClusterRoleBindingSpec {
    /// Tenant owning the binding: the object's namespace, set by the server.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The user granted the role (required). Cannot be changed.
    #[serde(default)]
    pub username: String,
    /// The role: `name` (a template in `default`) or `namespace/name`, where the namespace is
    /// `default` or the binding's own (required). Cannot be changed.
    #[serde(default)]
    pub role_name: String,
    /// Clusters to grant the role in (at least one), or `["*"]` for every cluster of the tenant.
    #[serde(default, deserialize_with = "null_as_default")]
    pub clusters: Vec<String>,
}

/// The observed state of a binding.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MultiClusterRoleBindingStatus {
    /// `Active` or `Terminating`.
    #[serde(default)]
    pub phase: String,
    /// One condition per business cluster the role is (or was, until removed) granted in,
    /// written by the controller: type `Granted`, status `True` once the cluster holds the
    /// ClusterRole and ClusterRoleBinding, else `False` with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub conditions: Vec<ClusterGrantCondition>,
}

/// Whether a business cluster holds the grant of a binding.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterGrantCondition {
    /// The business cluster.
    #[serde(default)]
    pub cluster: String,
    /// `Granted`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    #[serde(default)]
    pub status: String,
    /// A CamelCase word: `Granted`, `ClusterUnreachable`, `ClusterNotFound`, `RoleNotFound`,
    /// `NotManaged`, `Removing`...
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// What a person can act on.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When `status` last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

impl MultiClusterRoleBinding {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    pub fn namespace(&self) -> &str {
        meta_str(&self.metadata, "namespace")
    }
    pub fn tenant(&self) -> &str {
        self.spec.tenant_id.as_deref().unwrap_or("")
    }
    pub fn phase(&self) -> &str {
        self.status.as_ref().map_or("", |s| s.phase.as_str())
    }
    /// Whether the binding applies to every cluster of the tenant.
    pub fn all_clusters(&self) -> bool {
        self.spec.clusters.iter().any(|c| c == ALL_CLUSTERS)
    }
}

/// The name TKEStack gives a binding of `role_name` to `username`, when it is a valid object
/// name (user names may hold characters names cannot).
pub fn binding_name(username: &str, role_name: &str) -> Option<String> {
    let name = format!("{GENERATE_NAME}{username}-{}", role_name.replace('/', "-"));
    apimachinery::validation::is_dns1123_subdomain(&name).then_some(name)
}

/// The clusters as `kubectl get` shows them.
#[cfg(feature = "server")]
fn clusters_cell(obj: &Value) -> Value {
    let clusters: Vec<&str> = obj
        .pointer("/spec/clusters")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    json!(clusters.join(","))
}

/// The create/update/delete rules of multi-cluster role bindings.
#[cfg(feature = "server")]
pub struct MultiClusterRoleBindingStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<MultiClusterRoleBinding> for MultiClusterRoleBindingStrategy {
    fn prepare_for_create(&self, ctx: &Context, b: &mut MultiClusterRoleBinding) -> Result<(), ApiError> {
        let ns = common::namespace_of(ctx, &b.metadata).to_string();
        b.spec.tenant_id = Some(common::tenant_for_namespace(ctx, &ns, "multiclusterrolebindings", b.name())?);
        if !b.metadata.is_object() {
            b.metadata = json!({});
        }
        if meta_str(&b.metadata, "name").is_empty() && meta_str(&b.metadata, "generateName").is_empty() {
            match binding_name(&b.spec.username, &b.spec.role_name) {
                Some(name) if !b.spec.username.is_empty() && !b.spec.role_name.is_empty() => {
                    b.metadata["name"] = json!(name)
                }
                _ => b.metadata["generateName"] = json!(GENERATE_NAME),
            }
        }
        common::add_metadata_finalizer(&mut b.metadata, finalizer::MULTI_CLUSTER_ROLE_BINDING);
        b.status = Some(MultiClusterRoleBindingStatus { phase: phase::ACTIVE.into(), ..Default::default() });
        Ok(())
    }

    fn validate(&self, ctx: &Context, b: &MultiClusterRoleBinding) -> Vec<FieldError> {
        let mut errs = vec![];
        let s = &b.spec;
        let ns = common::namespace_of(ctx, &b.metadata);
        common::check_tenant_is_namespace("spec.tenantID", b.tenant(), ns, &mut errs);
        if s.username.trim().is_empty() {
            errs.push(FieldError::required("spec.username", "the user granted the role is required"));
        }
        common::check_reference("spec.roleName", &s.role_name, ns, "role", &mut errs);
        if s.clusters.is_empty() {
            errs.push(FieldError::required(
                "spec.clusters",
                "at least one cluster is required, or \"*\" for every cluster of the tenant",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, c) in s.clusters.iter().enumerate() {
            let field = format!("spec.clusters[{i}]");
            if c == ALL_CLUSTERS {
                if s.clusters.len() > 1 {
                    errs.push(FieldError::invalid(
                        field,
                        c,
                        "\"*\" (every cluster) cannot be combined with cluster names",
                    ));
                }
            } else if !crate::platform::common::is_cluster_name(c) {
                errs.push(FieldError::invalid(field, c, crate::platform::common::CLUSTER_NAME_RULE));
            } else if !seen.insert(c.as_str()) {
                errs.push(FieldError::duplicate(field, c));
            }
        }
        errs
    }

    fn prepare_for_update(
        &self,
        _ctx: &Context,
        new: &mut MultiClusterRoleBinding,
        old: &MultiClusterRoleBinding,
    ) -> Result<(), ApiError> {
        new.status = old.status.clone();
        Ok(())
    }

    fn validate_update(
        &self,
        ctx: &Context,
        new: &MultiClusterRoleBinding,
        old: &MultiClusterRoleBinding,
    ) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        let (n, o) = (&new.spec, &old.spec);
        common::check_tenant_unchanged("spec.tenantID", n.tenant_id.as_deref(), o.tenant_id.as_deref(), &mut errs);
        // The controller finds what it created in the clusters by user and role.
        common::check_immutable("spec.username", &n.username, &o.username, &mut errs);
        common::check_immutable("spec.roleName", &n.role_name, &o.role_name, &mut errs);
        errs
    }

    fn prepare_for_delete(&self, _ctx: &Context, b: &MultiClusterRoleBinding) -> Option<MultiClusterRoleBinding> {
        let mut kept = b.clone();
        let conditions = b.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
        kept.status = Some(MultiClusterRoleBindingStatus { phase: phase::TERMINATING.into(), conditions });
        Some(kept)
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "multiclusterrolebindings",
        singular: "multiclusterrolebinding",
        short_names: &["mcrb"],
        categories: &["tkestack"],
        namespaced: true,
        verbs: Verbs::NO_DELETE_COLLECTION,
        // As for roles: finalizers are `metadata.finalizers`, cleared by update or patch.
        subresources: Subresources { status: true, finalize: false },
        columns: vec![
            Column::new("Username", "string", ".spec.username", "The user granted the role."),
            Column::new("Role", "string", ".spec.roleName", "The role granted."),
            Column::computed("Clusters", "string", clusters_cell, "Clusters the role is granted in (* = all)."),
            Column::new("Status", "string", ".status.phase", "Active or Terminating."),
            Column::age(),
        ],
        field_selectors: &["spec.tenantID", "spec.username", "spec.roleName", "status.phase"],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<MultiClusterRoleBinding>,
        strategy: typed::<MultiClusterRoleBinding, _>(MultiClusterRoleBindingStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::common::test_ctx;

    fn binding(v: Value) -> MultiClusterRoleBinding {
        serde_json::from_value(v).unwrap()
    }

    fn fields(errs: Vec<FieldError>) -> Vec<String> {
        errs.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn create_names_the_binding_and_sets_finalizer_and_phase() {
        let ctx = test_ctx("t1", false, "t1");
        let mut b = binding(json!({"metadata": {"namespace": "t1"},
            "spec": {"username": "bob", "roleName": "default/rol-view", "clusters": ["cls-a1", "cls-b2"]}}));
        MultiClusterRoleBindingStrategy.prepare_for_create(&ctx, &mut b).unwrap();
        assert_eq!((b.name(), b.tenant(), b.phase()), ("mcrb-bob-default-rol-view", "t1", "Active"));
        assert_eq!(b.metadata["finalizers"], json!(["rolebinding"]));
        assert!(!b.all_clusters());
        assert!(MultiClusterRoleBindingStrategy.validate(&ctx, &b).is_empty());
        assert_eq!(clusters_cell(&serde_json::to_value(&b).unwrap()), json!("cls-a1,cls-b2"));
        assert_eq!(MultiClusterRoleBindingStrategy.prepare_for_delete(&ctx, &b).unwrap().phase(), "Terminating");

        // A user name that cannot be part of an object name gets a generated name.
        let mut odd = binding(json!({"spec": {"username": "Bob@Corp", "roleName": "rol-view", "clusters": ["*"]}}));
        MultiClusterRoleBindingStrategy.prepare_for_create(&ctx, &mut odd).unwrap();
        assert_eq!((odd.name(), odd.metadata["generateName"].as_str()), ("", Some("mcrb-")));
        assert!(odd.all_clusters());
        assert!(MultiClusterRoleBindingStrategy.validate(&ctx, &odd).is_empty());
    }

    #[test]
    fn validation() {
        let ctx = test_ctx("t1", false, "t1");
        let b = binding(json!({"metadata": {"namespace": "t1"}, "spec": {"tenantID": "t1", "username": " ",
            "roleName": "t2/rol-x", "clusters": ["*", "cls-a1", "prod", "cls-a1"]}}));
        assert_eq!(
            fields(MultiClusterRoleBindingStrategy.validate(&ctx, &b)),
            vec!["spec.username", "spec.roleName", "spec.clusters[0]", "spec.clusters[2]", "spec.clusters[3]"]
        );
        let empty = binding(json!({"metadata": {"namespace": "t1"}, "spec": {"tenantID": "t1", "username": "bob",
            "roleName": "rol-view", "clusters": null}}));
        assert_eq!(fields(MultiClusterRoleBindingStrategy.validate(&ctx, &empty)), vec!["spec.clusters"]);
    }

    #[test]
    fn user_and_role_are_immutable_and_status_is_kept() {
        let ctx = test_ctx("t1", false, "t1");
        let mut old = binding(json!({"metadata": {"namespace": "t1"},
            "spec": {"username": "bob", "roleName": "rol-view", "clusters": ["*"]}}));
        MultiClusterRoleBindingStrategy.prepare_for_create(&ctx, &mut old).unwrap();
        let mut new = old.clone();
        new.status = None;
        new.spec.clusters = vec!["cls-a1".into()];
        MultiClusterRoleBindingStrategy.prepare_for_update(&ctx, &mut new, &old).unwrap();
        assert_eq!(new.phase(), "Active");
        assert!(MultiClusterRoleBindingStrategy.validate_update(&ctx, &new, &old).is_empty());
        new.spec.username = "eve".into();
        new.spec.role_name = "t1/rol-admin".into();
        assert_eq!(
            fields(MultiClusterRoleBindingStrategy.validate_update(&ctx, &new, &old)),
            vec!["spec.username", "spec.roleName"]
        );
    }
}
