//! `auth.tkestack.io/v1`: tenants (IdentityProvider), local users and groups, the IdP views
//! (User, Group), API keys and their signing keys, the policy model (Category, Policy, Role,
//! Rule, ProjectPolicyBinding, CustomPolicyBinding), OAuth clients (Client) and the auth view of
//! projects, compatible with TKEStack's tke-auth-api (names, short names, scopes, fields).

// Policy model.
pub mod category;
pub mod common;
pub mod custom_policy_binding;
pub mod policy;
pub mod project;
pub mod project_policy_binding;
pub mod role;
pub mod rule;

pub use category::Category;
pub use common::Subject;
pub use custom_policy_binding::CustomPolicyBinding;
pub use policy::Policy;
pub use project::Project;
pub use project_policy_binding::ProjectPolicyBinding;
pub use role::Role;
pub use rule::Rule;

/// The API group.
pub const GROUP: &str = "auth.tkestack.io";
/// The version of the group.
pub const VERSION: &str = "v1";
/// `apiVersion` of every object of the group.
pub const API_VERSION: &str = "auth.tkestack.io/v1";

/// Every resource of the group, in discovery order.
#[cfg(feature = "server")]
pub fn resources() -> Vec<apiserver::ResourceDef> {
    vec![
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
