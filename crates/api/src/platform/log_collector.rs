//! `LogCollector` (`lc`): the add-on that collects container and node logs. Spec and status are the common add-on
//! ones; the add-on controller installs it into `spec.clusterName`.

use super::addon::{AddonInfo, AddonSpec, AddonStatus, LEVEL_ENHANCE, addon_object};

/// The catalogue entry of the LogCollector add-on.
pub const INFO: AddonInfo = AddonInfo {
    kind: "LogCollector",
    plural: "logcollectors",
    singular: "logcollector",
    short_names: &["lc"],
    generate_name: "lc-",
    level: LEVEL_ENHANCE,
    latest_version: "v1.0.0",
    description: "Collects the standard output of containers, files inside containers and files on the nodes, and ships them to Elasticsearch or Kafka.",
    compatible_cluster_types: &["Baremetal", "Imported", "Edge"],
};

addon_object!(
    /// The LogCollector add-on of one cluster: it collects container and node logs.
    LogCollector,
    AddonSpec,
    AddonStatus,
    INFO
);
