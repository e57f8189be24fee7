//! `Helm` (`hm`): the add-on that runs the Helm release service in the cluster. Spec and status are the common add-on
//! ones; the add-on controller installs it into `spec.clusterName`.

use super::addon::{AddonInfo, AddonSpec, AddonStatus, LEVEL_ENHANCE, addon_object};

/// The catalogue entry of the Helm add-on.
pub const INFO: AddonInfo = AddonInfo {
    kind: "Helm",
    plural: "helms",
    singular: "helm",
    short_names: &["hm"],
    generate_name: "hm-",
    level: LEVEL_ENHANCE,
    latest_version: "v1.0.0",
    description: "Installs the Helm release service in the cluster so that charts can be installed, upgraded and rolled back from the platform.",
    compatible_cluster_types: &["Baremetal", "Imported", "Edge"],
};

addon_object!(
    /// The Helm add-on of one cluster: it runs the Helm release service in the cluster.
    Helm,
    AddonSpec,
    AddonStatus,
    INFO
);
