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
    ]
}
