//! `auth.tkestack.io/v1`: tenants (IdentityProvider), local users and groups, the IdP views
//! (User, Group), API keys and their signing keys, the policy model (Category, Policy, Role,
//! Rule, ProjectPolicyBinding, CustomPolicyBinding), OAuth clients (Client) and the auth view of
//! projects, compatible with TKEStack's tke-auth-api (names, short names, scopes, fields).

/// The API group.
pub const GROUP: &str = "auth.tkestack.io";
/// The version of the group.
pub const VERSION: &str = "v1";
/// `apiVersion` of every object of the group.
pub const API_VERSION: &str = "auth.tkestack.io/v1";

/// Every resource of the group, in discovery order.
#[cfg(feature = "server")]
pub fn resources() -> Vec<apiserver::ResourceDef> {
    vec![]
}
