//! `authz.tkestack.io/v1`: Kubernetes RBAC for business clusters managed from the platform
//! (Policy, Role, MultiClusterRoleBinding), compatible with TKEStack's tke-authz-api. Every
//! object is namespaced, and its namespace is its tenant.

pub mod common;
pub mod multi_cluster_role_binding;
pub mod policy;
pub mod role;

pub use multi_cluster_role_binding::MultiClusterRoleBinding;
pub use policy::Policy;
pub use role::Role;

/// The API group.
pub const GROUP: &str = "authz.tkestack.io";
/// The version of the group.
pub const VERSION: &str = "v1";
/// `apiVersion` of every object of the group.
pub const API_VERSION: &str = "authz.tkestack.io/v1";

/// Every resource of the group, in discovery order.
#[cfg(feature = "server")]
pub fn resources() -> Vec<apiserver::ResourceDef> {
    vec![policy::definition(), role::definition(), multi_cluster_role_binding::definition()]
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    #[test]
    fn the_openapi_document_describes_the_group() {
        let defs = super::resources();
        let docs = apiserver::openapi::build(&defs, "test");
        let doc: Value = serde_json::from_slice(docs.v2_json()).unwrap();
        let text = String::from_utf8_lossy(docs.v2_json()).to_string();
        for bad in ["\"anyOf\"", "\"oneOf\"", "\"nullable\"", "\"$defs\""] {
            assert!(!text.contains(bad), "{bad} in the v2 document");
        }
        let d = &doc["definitions"];
        let policy = &d["io.tkestack.authz.v1.Policy"];
        assert_eq!(policy["properties"]["rules"]["type"], "array", "{policy}");
        let rule_ref = policy["properties"]["rules"]["items"]["$ref"].as_str().unwrap_or_default();
        let rule = &d[rule_ref.trim_start_matches("#/definitions/")];
        assert_eq!(rule["properties"]["verbs"]["type"], "array", "{rule}");
        for kind in ["Role", "MultiClusterRoleBinding"] {
            assert!(d[format!("io.tkestack.authz.v1.{kind}")].is_object(), "{kind}");
        }
    }
}
