//! Pieces shared by the `authz.tkestack.io/v1` resources: scopes, finalizer names, and the rule
//! that an object's namespace is its tenant — a tenant's policies, roles and bindings live in the
//! namespace named after the tenant, and the templates every tenant may use in `default` (the
//! default tenant's). References between objects are `namespace/name` or `name` (in `default`).

use apimachinery::FieldError;
use apimachinery::validation::{dns1123_label_errors, dns1123_subdomain_errors};

pub use crate::auth::common::{
    ObjectMeta, check_display_name, check_immutable, check_tenant_unchanged, meta_str, null_as_default,
};
#[cfg(feature = "server")]
use {apimachinery::ApiError, apiserver::Context};

/// The namespace of templates every tenant may use (and the default tenant's own).
pub const TEMPLATE_NAMESPACE: &str = "default";

/// Where a policy or role is meant to apply (`scope`).
pub mod scope {
    pub const PLATFORM: &str = "Platform";
    /// Fanned out to business clusters as ClusterRoles (the only scope the controller applies).
    pub const MULTI_CLUSTER: &str = "MultiCluster";
    pub const BUSINESS: &str = "Business";
}
pub const SCOPES: &[&str] = &[scope::PLATFORM, scope::MULTI_CLUSTER, scope::BUSINESS];

/// Finalizers (in `metadata.finalizers`, as TKEStack's authz objects keep them) that hold a
/// deleted object until the controller has removed what it created in the business clusters.
pub mod finalizer {
    pub const ROLE: &str = "role";
    pub const MULTI_CLUSTER_ROLE_BINDING: &str = "rolebinding";
}

/// Adds a finalizer to `metadata.finalizers` unless it is there.
pub fn add_metadata_finalizer(meta: &mut serde_json::Value, finalizer: &str) {
    if !meta.is_object() {
        *meta = serde_json::json!({});
    }
    let list = &mut meta["finalizers"];
    if !list.is_array() {
        *list = serde_json::json!([]);
    }
    if let Some(items) = list.as_array_mut()
        && !items.iter().any(|f| f == finalizer)
    {
        items.push(finalizer.into());
    }
}

/// Splits a reference `namespace/name` (or `name`, meaning the template namespace).
pub fn split_reference(reference: &str) -> (&str, &str) {
    match reference.split_once('/') {
        Some((ns, name)) => (ns, name),
        None => (TEMPLATE_NAMESPACE, reference),
    }
}

/// Checks a reference from an object in `own_namespace` to a `what` (policy, role): a name, or
/// `namespace/name` where the namespace is `default` (templates) or the object's own.
pub fn check_reference(field: &str, reference: &str, own_namespace: &str, what: &str, errs: &mut Vec<FieldError>) {
    if reference.is_empty() {
        errs.push(FieldError::required(field, format!("the {what} is required, as \"name\" or \"namespace/name\"")));
        return;
    }
    let (ns, name) = split_reference(reference);
    let mut problems = vec![];
    if name.contains('/') {
        problems.push(format!("must be \"name\" or \"namespace/name\" of a {what}"));
    } else {
        problems.extend(dns1123_label_errors(ns).into_iter().map(|e| format!("namespace: {e}")));
        problems.extend(dns1123_subdomain_errors(name).into_iter().map(|e| format!("name: {e}")));
        if problems.is_empty() && ns != TEMPLATE_NAMESPACE && ns != own_namespace {
            problems.push(format!(
                "a {what} must be in namespace \"{TEMPLATE_NAMESPACE}\" (templates) or in the object's own namespace \"{own_namespace}\""
            ));
        }
    }
    if !problems.is_empty() {
        errs.push(FieldError::invalid(field, reference, problems.join("; ")));
    }
}

/// The namespace of an object being written: `metadata.namespace` (the server sets it from the
/// request), else the request's.
#[cfg(feature = "server")]
pub fn namespace_of<'a>(ctx: &'a Context, meta: &'a serde_json::Value) -> &'a str {
    match meta_str(meta, "namespace") {
        "" => ctx.namespace.as_deref().unwrap_or(""),
        ns => ns,
    }
}

/// The tenant of an object created in `namespace`: the namespace itself. Administrators may
/// create in any namespace; a tenant's users only in their tenant's.
#[cfg(feature = "server")]
pub fn tenant_for_namespace(ctx: &Context, namespace: &str, resource: &str, name: &str) -> Result<String, ApiError> {
    if ctx.user.is_admin() {
        return Ok(namespace.to_string());
    }
    let tenant = ctx.user.tenant();
    if namespace == tenant {
        return Ok(tenant);
    }
    Err(ApiError::forbidden(
        super::GROUP,
        resource,
        name,
        &format!(
            "User \"{}\" of tenant \"{tenant}\" cannot create {resource} in namespace \"{namespace}\": a tenant's objects live in the namespace named after the tenant",
            ctx.user.name
        ),
    ))
}

/// Checks that the tenant of an object is its namespace.
pub fn check_tenant_is_namespace(field: &str, tenant: &str, namespace: &str, errs: &mut Vec<FieldError>) {
    if !namespace.is_empty() && tenant != namespace {
        errs.push(FieldError::invalid(field, tenant, format!("must be the object's namespace \"{namespace}\"")));
    }
}

/// A fresh context for tests: a user of the given tenant (or an administrator) writing in
/// `namespace`.
#[cfg(test)]
pub fn test_ctx(tenant: &str, admin: bool, namespace: &str) -> apiserver::Context {
    let mut ctx = crate::platform::common::test_ctx(tenant, admin);
    ctx.namespace = Some(namespace.to_string());
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references() {
        assert_eq!(split_reference("pol-admin"), ("default", "pol-admin"));
        assert_eq!(split_reference("t1/pol-a"), ("t1", "pol-a"));
        let mut errs = vec![];
        for ok in ["pol-admin", "default/pol-admin", "t1/pol-a"] {
            check_reference("policies[0]", ok, "t1", "policy", &mut errs);
        }
        assert!(errs.is_empty(), "{errs:?}");
        for bad in ["", "t2/pol-a", "a/b/c", "T1/pol", "t1/Pol_A", "/pol-a"] {
            check_reference("policies[0]", bad, "t1", "policy", &mut errs);
        }
        assert_eq!(errs.len(), 6, "{errs:?}");
        assert!(errs[1].detail.contains("\"default\""), "{}", errs[1].detail);
    }

    #[test]
    fn the_namespace_is_the_tenant() {
        assert_eq!(tenant_for_namespace(&test_ctx("t1", false, "t1"), "t1", "policies", "").unwrap(), "t1");
        let e = tenant_for_namespace(&test_ctx("t1", false, "t2"), "t2", "policies", "").unwrap_err();
        assert_eq!(e.reason, apimachinery::error::Reason::Forbidden);
        assert!(e.message.contains("namespace \"t2\""), "{}", e.message);
        assert_eq!(tenant_for_namespace(&test_ctx("default", true, "t2"), "t2", "policies", "").unwrap(), "t2");

        let mut errs = vec![];
        check_tenant_is_namespace("tenantID", "t1", "t1", &mut errs);
        check_tenant_is_namespace("tenantID", "t1", "t2", &mut errs);
        assert_eq!(errs.len(), 1);
    }

    #[test]
    fn finalizers_are_added_once() {
        let mut meta = json!({"name": "x", "finalizers": ["other"]});
        add_metadata_finalizer(&mut meta, "role");
        add_metadata_finalizer(&mut meta, "role");
        assert_eq!(meta["finalizers"], json!(["other", "role"]));
        let mut empty = serde_json::Value::Null;
        add_metadata_finalizer(&mut empty, "role");
        assert_eq!(empty, json!({"finalizers": ["role"]}));
    }
}
