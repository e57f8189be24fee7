//! `business.tkestack.io/v1` (reference 1.2 and 4): projects that hand slices of business
//! clusters (a hard quota per cluster) to a company's teams, the Kubernetes namespaces allocated
//! to a project in those clusters, the platform's administrators, the console's portal, a
//! project's image namespaces and chart groups, and the move of a namespace between projects.
//! Projects, namespaces and the rest live in the Kubernetes namespace named after their project.

pub mod chart_group;
pub mod common;
pub mod image_namespace;
pub mod namespace;
pub mod ns_emigration;
pub mod platform;
pub mod portal;
pub mod project;

pub use chart_group::ChartGroup;
pub use common::ResourceList;
pub use image_namespace::ImageNamespace;
pub use namespace::Namespace;
pub use ns_emigration::NsEmigration;
pub use platform::Platform;
pub use portal::Portal;
pub use project::Project;

/// The API group.
pub const GROUP: &str = "business.tkestack.io";
/// The version of the group.
pub const VERSION: &str = "v1";
/// `apiVersion` of every object of the group.
pub const API_VERSION: &str = "business.tkestack.io/v1";

/// Every resource of the group, in discovery order.
#[cfg(feature = "server")]
pub fn resources() -> Vec<apiserver::ResourceDef> {
    vec![
        project::definition(),
        namespace::definition(),
        platform::definition(),
        portal::definition(),
        image_namespace::definition(),
        chart_group::definition(),
        ns_emigration::definition(),
    ]
}
