//! `platform.tkestack.io/v1`: clusters, their credentials and machines, image registries,
//! settings, the add-on catalogue and the add-on objects, compatible with TKEStack's
//! tke-platform-api (names, short names, scopes, fields, columns, selectable fields and the
//! create/update/delete rules of its registry strategies).

pub mod cluster;
pub mod common;

pub use cluster::Cluster;

/// The API group.
pub const GROUP: &str = "platform.tkestack.io";
/// The version of the group.
pub const VERSION: &str = "v1";
/// `apiVersion` of every object of the group.
pub const API_VERSION: &str = "platform.tkestack.io/v1";

/// Every resource of the group, in discovery order.
pub fn resources() -> Vec<apiserver::ResourceDef> {
    vec![cluster::definition()]
}
