//! `monitor.tkestack.io/v1` (reference 1.6 and 7).

pub mod cluster_overview;
pub mod metric;

pub use cluster_overview::ClusterOverview;
pub use metric::Metric;

/// The API group.
pub const GROUP: &str = "monitor.tkestack.io";
/// The version of the group.
pub const VERSION: &str = "v1";
/// `apiVersion` of every object of the group.
pub const API_VERSION: &str = "monitor.tkestack.io/v1";

/// Every resource of the group, in discovery order.
#[cfg(feature = "server")]
pub fn resources() -> Vec<apiserver::ResourceDef> {
    vec![metric::definition(), cluster_overview::definition()]
}
