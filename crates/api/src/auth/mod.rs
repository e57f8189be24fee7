//! `auth.tkestack.io/v1`: tenants (IdentityProvider), local users and groups, the IdP views
//! (User, Group), API keys and their signing keys, the policy model (Category, Policy, Role,
//! Rule, ProjectPolicyBinding, CustomPolicyBinding), OAuth clients (Client) and the auth view of
//! projects, compatible with TKEStack's tke-auth-api (names, short names, scopes, fields).

pub mod api_key;
pub mod api_signing_key;
pub mod client;
pub mod identity;
pub mod identity_provider;
pub mod local_group;
pub mod local_identity;

pub use api_key::APIKey;
pub use api_signing_key::APISigningKey;
pub use client::Client;
pub use identity_provider::IdentityProvider;
pub use local_group::LocalGroup;
pub use local_identity::LocalIdentity;

// Policy model.
pub mod category;
pub mod common;
pub mod custom_policy_binding;
pub mod policy;
pub mod project;
pub mod project_policy_binding;
pub mod requests;
pub mod role;
pub mod rule;
pub mod subject_access_review;

pub use category::Category;
pub use common::Subject;
pub use custom_policy_binding::CustomPolicyBinding;
pub use policy::Policy;
pub use project::Project;
pub use project_policy_binding::ProjectPolicyBinding;
pub use requests::{Binding, PasswordReq, PolicyBinding, ProjectPolicyBindingRequest};
pub use role::Role;
pub use rule::Rule;
pub use subject_access_review::SubjectAccessReview;

/// The API group.
pub const GROUP: &str = "auth.tkestack.io";
/// The version of the group.
pub const VERSION: &str = "v1";
/// `apiVersion` of every object of the group.
pub const API_VERSION: &str = "auth.tkestack.io/v1";

/// Every resource of the group, in discovery order. LocalIdentity refuses passwords here: the
/// auth component replaces its definition with one that hashes them.
#[cfg(feature = "server")]
pub fn resources() -> Vec<apiserver::ResourceDef> {
    vec![
        identity_provider::definition(),
        local_identity::definition(),
        local_group::definition(),
        api_key::definition(),
        api_signing_key::definition(),
        client::definition(),
        // Policy model.
        category::definition(),
        policy::definition(),
        role::definition(),
        rule::definition(),
        project_policy_binding::definition(),
        custom_policy_binding::definition(),
        project::definition(),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// `kubectl explain` reads these documents: lists read with `null_as_default` must still
    /// be documented as lists of their items.
    #[test]
    fn the_openapi_document_describes_the_policy_model() {
        let defs = super::resources();
        let docs = apiserver::openapi::build(&defs, "test");
        let doc: Value = serde_json::from_slice(docs.v2_json()).unwrap();
        let text = String::from_utf8_lossy(docs.v2_json()).to_string();
        for bad in ["\"anyOf\"", "\"oneOf\"", "\"nullable\"", "\"$defs\""] {
            assert!(!text.contains(bad), "{bad} in the v2 document");
        }
        let d = &doc["definitions"];
        let policy = &d["io.tkestack.auth.v1.Policy"];
        assert!(policy.is_object(), "{:?}", d.as_object().map(|m| m.keys().collect::<Vec<_>>()));
        let resolve = |v: &Value| -> Value {
            match v.get("$ref").and_then(Value::as_str) {
                Some(r) => d[r.trim_start_matches("#/definitions/")].clone(),
                None => v.clone(),
            }
        };
        let status = resolve(&policy["properties"]["status"]);
        assert_eq!(status["properties"]["users"]["type"], "array", "{status}");
        let spec = resolve(&policy["properties"]["spec"]);
        let statement = resolve(&spec["properties"]["statement"]);
        assert_eq!(statement["properties"]["actions"]["items"]["type"], "string", "{statement}");
        let project = &d["io.tkestack.auth.v1.Project"];
        assert_eq!(project["properties"]["members"]["type"], "object", "{project}");
        for kind in ["Category", "Role", "Rule", "ProjectPolicyBinding", "CustomPolicyBinding"] {
            assert!(d[format!("io.tkestack.auth.v1.{kind}")].is_object(), "{kind}");
        }
    }
}
