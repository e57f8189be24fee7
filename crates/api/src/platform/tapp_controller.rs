//! `TappController` (`tc`): the add-on that runs TApp workloads. Spec and status are the common add-on
//! ones; the add-on controller installs it into `spec.clusterName`.

use super::addon::{AddonInfo, AddonSpec, AddonStatus, LEVEL_ENHANCE, addon_object};

/// The catalogue entry of the TappController add-on.
pub const INFO: AddonInfo = AddonInfo {
    kind: "TappController",
    plural: "tappcontrollers",
    singular: "tappcontroller",
    short_names: &["tc"],
    generate_name: "tc-",
    level: LEVEL_ENHANCE,
    latest_version: "v1.0.0",
    description: "Controller of the TApp workload: pods with stable identities that can be updated, restarted or killed one instance at a time, with in-place upgrades and gray releases.",
    compatible_cluster_types: &["Baremetal", "Imported", "Edge"],
};

addon_object!(
    /// The TappController add-on of one cluster: it runs TApp workloads.
    TappController,
    AddonSpec,
    AddonStatus,
    INFO
);
