//! `registry.tkestack.io/v1`: the image registry's namespaces and repositories and the chart
//! repository's chart groups and charts, compatible with TKEStack's tke-registry-api (names,
//! short names, scopes, fields and selectable fields). Repositories live in the Kubernetes
//! namespace named after their registry Namespace object, charts in the one named after their
//! ChartGroup object.

pub mod chart;
pub mod chart_group;
pub mod common;
pub mod namespace;
pub mod repository;

pub use chart::Chart;
pub use chart_group::ChartGroup;
pub use namespace::Namespace;
pub use repository::Repository;

/// The API group.
pub const GROUP: &str = "registry.tkestack.io";
/// The version of the group.
pub const VERSION: &str = "v1";
/// `apiVersion` of every object of the group.
pub const API_VERSION: &str = "registry.tkestack.io/v1";

/// Every resource of the group, in discovery order.
#[cfg(feature = "server")]
pub fn resources() -> Vec<apiserver::ResourceDef> {
    vec![
        namespace::definition(),
        repository::definition(),
        chart_group::definition(),
        chart::definition(),
        common::config_map_definition(),
    ]
}
