//! `platform.tkestack.io/v1`: clusters, their credentials and machines, image registries,
//! settings, the add-on catalogue and the add-on objects, compatible with TKEStack's
//! tke-platform-api (names, short names, scopes, fields, columns, selectable fields and the
//! create/update/delete rules of its registry strategies).

pub mod addon;
pub mod cluster;
pub mod cluster_addon;
pub mod cluster_addon_type;
pub mod cluster_credential;
pub mod common;
pub mod config_map;
pub mod machine;
pub mod registry;

pub mod cron_hpa;
pub mod csi_operator;
pub mod gpu_manager;
pub mod helm;
pub mod ipam;
pub mod lbcf;
pub mod log_collector;
pub mod persistent_event;
pub mod prometheus;
pub mod tapp_controller;
pub mod volume_decorator;

pub use addon::{Addon, AddonSpec, AddonStatus};
pub use cluster::Cluster;
pub use cluster_addon::ClusterAddon;
pub use cluster_addon_type::ClusterAddonType;
pub use cluster_credential::ClusterCredential;
pub use config_map::ConfigMap;
pub use cron_hpa::CronHPA;
pub use csi_operator::CSIOperator;
pub use gpu_manager::GPUManager;
pub use helm::Helm;
pub use ipam::IPAM;
pub use lbcf::LBCF;
pub use log_collector::LogCollector;
pub use machine::Machine;
pub use persistent_event::PersistentEvent;
pub use prometheus::Prometheus;
pub use registry::Registry;
pub use tapp_controller::TappController;
pub use volume_decorator::VolumeDecorator;

/// The API group.
pub const GROUP: &str = "platform.tkestack.io";
/// The version of the group.
pub const VERSION: &str = "v1";
/// `apiVersion` of every object of the group.
pub const API_VERSION: &str = "platform.tkestack.io/v1";

/// Every resource of the group, in discovery order.
#[cfg(feature = "server")]
pub fn resources() -> Vec<apiserver::ResourceDef> {
    vec![
        cluster::definition(),
        cluster_credential::definition(),
        machine::definition(),
        registry::definition(),
        config_map::definition(),
        cluster_addon_type::definition(),
        cron_hpa::definition(),
        csi_operator::definition(),
        gpu_manager::definition(),
        helm::definition(),
        ipam::definition(),
        lbcf::definition(),
        log_collector::definition(),
        persistent_event::definition(),
        prometheus::definition(),
        tapp_controller::definition(),
        volume_decorator::definition(),
    ]
}
