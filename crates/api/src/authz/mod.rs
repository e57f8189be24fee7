//! `authz.tkestack.io/v1`: Kubernetes RBAC for business clusters managed from the platform
//! (Policy, Role, MultiClusterRoleBinding), compatible with TKEStack's tke-authz-api.

/// The API group.
pub const GROUP: &str = "authz.tkestack.io";
/// The version of the group.
pub const VERSION: &str = "v1";
/// `apiVersion` of every object of the group.
pub const API_VERSION: &str = "authz.tkestack.io/v1";

/// Every resource of the group, in discovery order.
#[cfg(feature = "server")]
pub fn resources() -> Vec<apiserver::ResourceDef> {
    vec![]
}
